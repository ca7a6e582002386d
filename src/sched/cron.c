/* cron.c -- parsing and evaluating 5-field cron expressions in UTC.
 *
 * Each field becomes a bit set; evaluation walks whole days (skipping months
 * that cannot match) and, on a matching day, picks the first matching hour and
 * minute. Days come from util.h's civil-date helpers, so there is no libc
 * time zone involved anywhere: the schedule is UTC by construction. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "cron.h"
#include "util.h"

#define MS_PER_MIN 60000LL
#define MS_PER_DAY 86400000LL
#define SEARCH_DAYS (400LL * 366LL)

typedef struct cron_field {
    const char *name;
    int min, max;
    const char *const *names; /* names[i] is value min+i's name, or NULL */
} cron_field;

static const char *const month_names[] = {
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC", NULL};
static const char *const dow_names[] = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN",
                                        NULL};

static const cron_field fields[5] = {
    {"minute", 0, 59, NULL},
    {"hour", 0, 23, NULL},
    {"day-of-month", 1, 31, NULL},
    {"month", 1, 12, month_names},
    {"day-of-week", 0, 7, dow_names},
};

/* Parses one value (number or name) of token [s, e) into *v. Returns 0, or -1
 * with err naming the field and the token. */
static int parse_value(const cron_field *f, const char *s, const char *e, int *v, sv_err *err)
{
    int len = (int)(e - s);
    if (len == 0)
        return sv_err_set(err, SV_EINVAL, "invalid cron expression: %s field has an empty value",
                          f->name);
    if (isdigit((unsigned char)*s)) {
        long n = 0;
        for (const char *p = s; p < e; p++) {
            if (!isdigit((unsigned char)*p))
                return sv_err_set(err, SV_EINVAL,
                                  "invalid cron expression: %s field '%.*s' is not a number",
                                  f->name, len, s);
            if (n < 100000) n = n * 10 + (*p - '0');
        }
        if (n < f->min || n > f->max)
            return sv_err_set(err, SV_EINVAL,
                              "invalid cron expression: %s field '%.*s' out of range %d-%d",
                              f->name, len, s, f->min, f->max);
        *v = (int)n;
        return 0;
    }
    if (f->names && len == 3) {
        for (int i = 0; f->names[i]; i++) {
            if (strncasecmp(f->names[i], s, 3) == 0) {
                *v = f->min + i;
                return 0;
            }
        }
    }
    return sv_err_set(err, SV_EINVAL, "invalid cron expression: %s field '%.*s' is not %s",
                      f->name, len, s, f->names ? "a number or a name" : "a number");
}

/* Parses one comma-separated item of field f ("*", "a", "a-b", any with
 * "/n") into the bit set *bits. */
static int parse_item(const cron_field *f, const char *s, const char *e, uint64_t *bits,
                      sv_err *err)
{
    const char *slash = memchr(s, '/', (size_t)(e - s));
    const char *base_end = slash ? slash : e;
    int lo, hi, step = 1;

    if (base_end - s == 1 && *s == '*') {
        lo = f->min;
        hi = f->max;
    } else {
        const char *dash = memchr(s, '-', (size_t)(base_end - s));
        if (parse_value(f, s, dash ? dash : base_end, &lo, err) < 0) return -1;
        if (dash) {
            if (parse_value(f, dash + 1, base_end, &hi, err) < 0) return -1;
            if (hi < lo)
                return sv_err_set(err, SV_EINVAL,
                                  "invalid cron expression: %s field '%.*s' is a backwards range",
                                  f->name, (int)(base_end - s), s);
        } else {
            hi = slash ? f->max : lo; /* "a/n" means "a-max/n" */
        }
    }
    if (slash) {
        long n = 0;
        const char *p = slash + 1;
        if (p == e)
            return sv_err_set(err, SV_EINVAL, "invalid cron expression: %s field '%.*s' has an empty step",
                              f->name, (int)(e - s), s);
        for (; p < e; p++) {
            if (!isdigit((unsigned char)*p))
                return sv_err_set(err, SV_EINVAL,
                                  "invalid cron expression: %s field step '%.*s' is not a number",
                                  f->name, (int)(e - slash - 1), slash + 1);
            if (n < 100000) n = n * 10 + (*p - '0');
        }
        if (n < 1 || n > f->max)
            return sv_err_set(err, SV_EINVAL,
                              "invalid cron expression: %s field step '%.*s' out of range 1-%d",
                              f->name, (int)(e - slash - 1), slash + 1, f->max);
        step = (int)n;
    }
    for (int v = lo; v <= hi; v += step) *bits |= 1ULL << v;
    return 0;
}

/* Parses a whole field [s, e) (comma list) into *bits. */
static int parse_field(const cron_field *f, const char *s, const char *e, uint64_t *bits,
                       sv_err *err)
{
    *bits = 0;
    const char *p = s;
    while (p <= e) {
        const char *comma = memchr(p, ',', (size_t)(e - p));
        const char *item_end = comma ? comma : e;
        if (parse_item(f, p, item_end, bits, err) < 0) return -1;
        if (!comma) break;
        p = comma + 1;
    }
    return 0;
}

/* Expands the @macros to their 5-field form; returns expr itself otherwise. */
static const char *expand_macro(const char *expr)
{
    static const struct { const char *name, *expr; } macros[] = {
        {"@yearly", "0 0 1 1 *"},  {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
        {"@weekly", "0 0 * * 0"},  {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
        {"@hourly", "0 * * * *"},
    };
    for (size_t i = 0; i < sizeof macros / sizeof macros[0]; i++)
        if (strcasecmp(expr, macros[i].name) == 0) return macros[i].expr;
    return expr;
}

/* Parses a cron expression; see cron.h. */
int cron_parse(const char *expr, sv_cron *out, sv_err *err)
{
    const char *starts[6], *ends[6];
    int n = 0;
    uint64_t bits[5];

    if (!expr)
        return sv_err_set(err, SV_EINVAL, "invalid cron expression: empty");
    while (isspace((unsigned char)*expr)) expr++;
    if (*expr == '@') {
        char word[16];
        size_t len = strcspn(expr, " \t\r\n");
        if (len >= sizeof word) len = sizeof word - 1;
        memcpy(word, expr, len);
        word[len] = 0;
        const char *x = expand_macro(word);
        if (x == word)
            return sv_err_set(err, SV_EINVAL, "invalid cron expression: unknown macro '%s'", word);
        expr = x;
    }
    for (const char *p = expr; *p;) {
        while (isspace((unsigned char)*p)) p++;
        if (!*p) break;
        const char *s = p;
        while (*p && !isspace((unsigned char)*p)) p++;
        if (n < 6) {
            starts[n] = s;
            ends[n] = p;
        }
        n++;
    }
    if (n != 5) {
        sv_err_set(err, SV_EINVAL,
                   "invalid cron expression '%.100s': expected 5 fields, got %d", expr, n);
        return sv_err_hint(err, "minute hour day-of-month month day-of-week, e.g. '0 */6 * * *'");
    }
    for (int i = 0; i < 5; i++)
        if (parse_field(&fields[i], starts[i], ends[i], &bits[i], err) < 0) return -1;

    memset(out, 0, sizeof *out);
    out->minute = bits[0];
    out->hour = (uint32_t)bits[1];
    out->dom = (uint32_t)bits[2];
    out->month = (uint16_t)bits[3];
    if (bits[4] & (1ULL << 7)) bits[4] |= 1; /* Sunday as 7 */
    out->dow = (uint8_t)(bits[4] & 0x7f);
    out->dom_star = *starts[2] == '*';
    out->dow_star = *starts[4] == '*';
    return 0;
}

/* Day of the week of a day number (days since 1970-01-01, a Thursday), Sunday = 0. */
static int weekday(int64_t days)
{
    int64_t w = (days + 4) % 7;
    return (int)(w < 0 ? w + 7 : w);
}

/* True when the whole day (days since the epoch) matches month, dom and dow. */
static bool day_matches(const sv_cron *c, int64_t days)
{
    int y;
    unsigned m, d;
    sv_civil_from_days(days, &y, &m, &d);
    if (!(c->month & (1u << m))) return false;
    bool dom_ok = (c->dom >> d) & 1u;
    bool dow_ok = (c->dow >> weekday(days)) & 1u;
    if (c->dom_star || c->dow_star) return dom_ok && dow_ok;
    return dom_ok || dow_ok;
}

/* Floor division for negative times. */
static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* True when the minute containing t_ms matches. */
bool cron_matches(const sv_cron *c, int64_t t_ms)
{
    int64_t min = floor_div(t_ms, MS_PER_MIN);
    int64_t days = floor_div(min, 1440);
    int mod = (int)(min - days * 1440);
    return day_matches(c, days) && ((c->hour >> (mod / 60)) & 1u) &&
           ((c->minute >> (mod % 60)) & 1u);
}

/* First matching minute of the day at or after minute-of-day from; -1 if none. */
static int first_minute_from(const sv_cron *c, int from)
{
    for (int h = from / 60; h < 24; h++) {
        if (!((c->hour >> h) & 1u)) continue;
        int m0 = h == from / 60 ? from % 60 : 0;
        for (int m = m0; m < 60; m++)
            if ((c->minute >> m) & 1u) return h * 60 + m;
    }
    return -1;
}

/* Last matching minute of the day at or before minute-of-day upto; -1 if none. */
static int last_minute_upto(const sv_cron *c, int upto)
{
    for (int h = upto / 60; h >= 0; h--) {
        if (!((c->hour >> h) & 1u)) continue;
        int m0 = h == upto / 60 ? upto % 60 : 59;
        for (int m = m0; m >= 0; m--)
            if ((c->minute >> m) & 1u) return h * 60 + m;
    }
    return -1;
}

/* The first fire time strictly after after_ms; see cron.h. */
int64_t cron_next(const sv_cron *c, int64_t after_ms)
{
    int64_t min = floor_div(after_ms, MS_PER_MIN) + 1;
    int64_t days = floor_div(min, 1440);
    int from = (int)(min - days * 1440);
    for (int64_t i = 0; i < SEARCH_DAYS; i++, days++, from = 0) {
        if (!day_matches(c, days)) continue;
        int m = first_minute_from(c, from);
        if (m >= 0) return (days * 1440 + m) * MS_PER_MIN;
    }
    return -1;
}

/* The latest fire time at or before at_ms; see cron.h. */
int64_t cron_prev(const sv_cron *c, int64_t at_ms)
{
    int64_t min = floor_div(at_ms, MS_PER_MIN);
    int64_t days = floor_div(min, 1440);
    int upto = (int)(min - days * 1440);
    for (int64_t i = 0; i < SEARCH_DAYS; i++, days--, upto = 1439) {
        if (!day_matches(c, days)) continue;
        int m = last_minute_upto(c, upto);
        if (m >= 0) return (days * 1440 + m) * MS_PER_MIN;
    }
    return -1;
}
