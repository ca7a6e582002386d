/* retention.h -- the retention policy (SQLVAULT_RETENTION), a pure function.
 *
 * A policy is a comma list of rule:window:
 *   all:30d      keep every backup younger than the window
 *   daily:365d   keep one point of each UTC day within the window: the
 *                newest full of the day, else the newest backup of the day
 *   weekly:8w    the same per ISO week (Monday to Sunday, UTC)
 *   monthly:12m  the same per calendar month
 *   last:N       the N newest backups, whatever their age
 * Windows take the units h, d, w (7 days), m (calendar months, counted back
 * from now with the day clamped to the month's end) and y (12 months).
 * The default is "all:30d,daily:365d".
 *
 * CHAINS (chain.h). A backup is a full or an incremental naming its parent;
 * a backup is restorable when it is a full or its parent is restorable.
 *   - Every rule counts restorable backups only. all: keeps every one in its
 *     window; a bucket rule (daily/weekly/monthly) keeps, per bucket, the
 *     newest FULL in the bucket when there is one, else the newest restorable
 *     backup of the bucket; last:N keeps the N newest restorable ones.
 *   - The pins: the newest backup (whatever it is: the backup side builds the
 *     next link on it), the newest verified one, and, when the newest is not
 *     restorable, the newest restorable one.
 *   - Then the closure: every ancestor of a kept backup is kept ("base of TS"
 *     for its full, "link of TS" for an incremental), so deleting never
 *     breaks a kept chain.
 *   - A BROKEN incremental (an ancestor missing from the items, i.e. absent
 *     or uncommitted in the listing, or a parent not older than itself) can
 *     never be restored: it satisfies no rule, and is kept only while it is
 *     inside some rule's time window (its pages may help a manual salvage),
 *     then deleted. Its own ancestors are kept by the closure while it is.
 * retention_apply decides from (backups, now) alone: no clock, no store, no
 * I/O, so it is tested on tables. O(n log n) time, O(n) memory.
 * docs/RETENTION.md has the reasoning (why the newest full of a bucket). */
#ifndef SV_RETENTION_H
#define SV_RETENTION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "err.h"

#define RETENTION_DEFAULT "all:30d,daily:365d"

typedef struct retention_policy retention_policy;

/* One committed backup. The caller fills ts_ms, verified, incremental and
 * (for an incremental) parent_ts_ms, the ts_ms of the backup it builds on
 * (INT64_MIN when unknown: the chain is broken). retention_apply fills keep,
 * broken and reason: a rule such as "daily:365d", "newest", "newest
 * verified", "newest restorable", "base of 20261130T101500.000Z", "link of
 * 20261130T101500.000Z", or why it goes: "expired", "superseded
 * (daily:365d)"; a broken incremental's reason starts "broken chain
 * (20261129T230000.000Z missing)" and ends with the window that keeps it or
 * "expired". */
#define RETENTION_REASON_LEN 96
typedef struct retention_item {
    int64_t ts_ms;
    int64_t parent_ts_ms;
    bool verified;
    bool incremental;
    bool keep;
    bool broken;
    char reason[RETENTION_REASON_LEN];
} retention_item;

/* Parses spec (NULL or "" = the default). Errors name the rule:
 * "invalid retention rule 'daily:5x': unknown unit 'x'". *out owned by caller. */
int retention_parse(const char *spec, retention_policy **out, sv_err *err);
void retention_free(retention_policy *p); /* NULL is a no-op */
/* The policy in canonical form ("all:30d,daily:365d"), owned by p. */
const char *retention_describe(const retention_policy *p);

/* Decides keep/delete for each of items[0..n) given now. The items may come
 * in any order and are not reordered; timestamps are distinct. Returns 0; -1 only when out of memory,
 * and then every item is kept (deleting nothing is the safe failure). */
int retention_apply(const retention_policy *p, retention_item *items, size_t n, int64_t now_ms);

#endif
