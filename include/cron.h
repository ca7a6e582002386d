/* cron.h -- standard 5-field cron expressions, evaluated in UTC.
 *
 * "minute hour day-of-month month day-of-week", each field a list of values,
 * ranges (a-b) and steps (*, a-b/n, a/n), month and weekday names (JAN, MON)
 * accepted, Sunday as 0 or 7. When both day-of-month and day-of-week are
 * restricted (neither starts with '*'), a day matches if EITHER matches
 * (Vixie cron's OR rule); otherwise both must. The macros @yearly, @annually,
 * @monthly, @weekly, @daily, @midnight and @hourly are accepted too.
 *
 * sv_cron is a small value type (bit sets, no heap): copy it freely. */
#ifndef SV_CRON_H
#define SV_CRON_H

#include <stdbool.h>
#include <stdint.h>
#include "err.h"

typedef struct sv_cron {
    uint64_t minute;  /* bit m set: minute m (0-59) matches */
    uint32_t hour;    /* bits 0-23 */
    uint32_t dom;     /* bits 1-31 */
    uint16_t month;   /* bits 1-12 */
    uint8_t dow;      /* bits 0-6, Sunday = 0 */
    bool dom_star;    /* the day-of-month field started with '*' */
    bool dow_star;    /* the day-of-week field started with '*' */
} sv_cron;

/* Parses expr into *out. On error returns -1 with SV_EINVAL and a message
 * naming the field: "invalid cron expression: minute field '61' out of range 0-59". */
int cron_parse(const char *expr, sv_cron *out, sv_err *err);

/* The first fire time strictly after after_ms (ms since the epoch, UTC),
 * aligned to a whole minute. -1 when the expression never fires (0 0 30 2 *)
 * within the next 400 years. */
int64_t cron_next(const sv_cron *c, int64_t after_ms);

/* The latest fire time at or before at_ms, -1 if none in the last 400 years.
 * The scheduler uses it to find the tick a catch-up should run. */
int64_t cron_prev(const sv_cron *c, int64_t at_ms);

/* True when the minute containing t_ms matches. */
bool cron_matches(const sv_cron *c, int64_t t_ms);

#endif
