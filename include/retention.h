/* retention.h -- the retention policy (SQLVAULT_RETENTION), a pure function.
 *
 * A policy is a comma list of rule:window:
 *   all:30d      keep every backup younger than the window
 *   daily:365d   keep the newest backup of each UTC day within the window
 *   weekly:8w    the newest of each ISO week (Monday to Sunday, UTC)
 *   monthly:12m  the newest of each calendar month
 *   last:N       the N newest backups, whatever their age
 * Windows take the units h, d, w (7 days), m (calendar months, counted back
 * from now with the day clamped to the month's end) and y (12 months).
 * The default is "all:30d,daily:365d".
 *
 * Whatever the rules say, the newest backup and the newest verified backup
 * are kept. retention_apply decides from (backups, now) alone: no clock, no
 * store, no I/O, so it is tested on tables. */
#ifndef SV_RETENTION_H
#define SV_RETENTION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "err.h"

#define RETENTION_DEFAULT "all:30d,daily:365d"

typedef struct retention_policy retention_policy;

/* One committed backup. The caller fills ts_ms and verified; retention_apply
 * fills keep and reason (a rule such as "daily:365d", "newest", "newest
 * verified", or why it goes: "expired", "superseded (daily:365d)"). */
typedef struct retention_item {
    int64_t ts_ms;
    bool verified;
    bool keep;
    char reason[48];
} retention_item;

/* Parses spec (NULL or "" = the default). Errors name the rule:
 * "invalid retention rule 'daily:5x': unknown unit 'x'". *out owned by caller. */
int retention_parse(const char *spec, retention_policy **out, sv_err *err);
void retention_free(retention_policy *p); /* NULL is a no-op */
/* The policy in canonical form ("all:30d,daily:365d"), owned by p. */
const char *retention_describe(const retention_policy *p);

/* Decides keep/delete for each of items[0..n) given now. The items may come
 * in any order and are not reordered. Returns 0; -1 only when out of memory,
 * and then every item is kept (deleting nothing is the safe failure). */
int retention_apply(const retention_policy *p, retention_item *items, size_t n, int64_t now_ms);

#endif
