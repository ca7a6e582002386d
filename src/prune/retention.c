/* retention.c -- SQLVAULT_RETENTION: parsing the rules and deciding, for a
 * list of committed backups and a "now", which ones to keep and why.
 *
 * Decision order for each backup: the first rule (in the order written) that
 * keeps it gives the reason; if none does, the two pins (newest, newest
 * verified) may still keep it; otherwise it is deleted as "expired" (outside
 * every window) or "superseded (rule)" (inside a bucket rule's window but not
 * the newest of its bucket). Bucket rules look at backups newest first, so the
 * first backup seen in a day/week/month is the newest of it. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "retention.h"
#include "timefmt.h"
#include "util.h"

#define MAX_RULES 16
#define MS_PER_HOUR 3600000LL
#define MS_PER_DAY 86400000LL

typedef enum { RULE_ALL, RULE_DAILY, RULE_WEEKLY, RULE_MONTHLY, RULE_LAST } rule_kind;

static const char *const rule_names[] = {"all", "daily", "weekly", "monthly", "last"};

typedef struct rule {
    rule_kind kind;
    int64_t count;     /* last:N, or the window's number */
    char unit;         /* h d w m y; 0 for last */
    char text[32];     /* canonical "daily:365d" */
} rule;

struct retention_policy {
    rule rules[MAX_RULES];
    int n;
    char desc[MAX_RULES * 33];
};

/* Parses one "kind:window" token [s, s+len) into *r. */
static int parse_rule(const char *s, size_t len, rule *r, sv_err *err)
{
    const char *colon = memchr(s, ':', len);
    int ilen = (int)len;
    memset(r, 0, sizeof *r);
    if (!colon) {
        sv_err_set(err, SV_EINVAL, "invalid retention rule '%.*s': expected rule:window", ilen, s);
        return sv_err_hint(err, "e.g. SQLVAULT_RETENTION=all:30d,daily:365d,weekly:8w,monthly:12m,last:3");
    }
    size_t klen = (size_t)(colon - s);
    int kind = -1;
    for (int i = 0; i < 5; i++)
        if (strlen(rule_names[i]) == klen && strncasecmp(rule_names[i], s, klen) == 0) kind = i;
    if (kind < 0) {
        sv_err_set(err, SV_EINVAL,
                   "invalid retention rule '%.*s': unknown rule '%.*s' (all, daily, weekly, monthly, last)",
                   ilen, s, (int)klen, s);
        return -1;
    }
    r->kind = (rule_kind)kind;
    const char *p = colon + 1, *e = s + len;
    if (p == e || !isdigit((unsigned char)*p))
        return sv_err_set(err, SV_EINVAL, "invalid retention rule '%.*s': expected %s after ':'",
                          ilen, s, kind == RULE_LAST ? "a count" : "a window such as 30d");
    int64_t n = 0;
    for (; p < e && isdigit((unsigned char)*p); p++) {
        n = n * 10 + (*p - '0');
        if (n > 1000000)
            return sv_err_set(err, SV_EINVAL, "invalid retention rule '%.*s': number too large",
                              ilen, s);
    }
    if (n == 0)
        return sv_err_set(err, SV_EINVAL, "invalid retention rule '%.*s': must be at least 1",
                          ilen, s);
    r->count = n;
    if (kind == RULE_LAST) {
        if (p != e)
            return sv_err_set(err, SV_EINVAL, "invalid retention rule '%.*s': expected a count",
                              ilen, s);
        snprintf(r->text, sizeof r->text, "last:%lld", (long long)n);
        return 0;
    }
    if (p == e)
        return sv_err_set(err, SV_EINVAL,
                          "invalid retention rule '%.*s': missing unit (h, d, w, m or y)", ilen, s);
    if (e - p != 1 || !strchr("hdwmy", tolower((unsigned char)*p)))
        return sv_err_set(err, SV_EINVAL,
                          "invalid retention rule '%.*s': unknown unit '%.*s' (h, d, w, m or y)",
                          ilen, s, (int)(e - p), p);
    r->unit = (char)tolower((unsigned char)*p);
    snprintf(r->text, sizeof r->text, "%s:%lld%c", rule_names[kind], (long long)n, r->unit);
    return 0;
}

/* Parses SQLVAULT_RETENTION; see retention.h. */
int retention_parse(const char *spec, retention_policy **out, sv_err *err)
{
    retention_policy *p = NULL;
    *out = NULL;
    if (!spec || !*spec) spec = RETENTION_DEFAULT;
    p = calloc(1, sizeof *p);
    if (!p) return sv_err_set(err, SV_ENOMEM, "out of memory");
    const char *s = spec;
    while (*s) {
        while (*s == ' ' || *s == '\t' || *s == ',') s++;
        if (!*s) break;
        const char *e = s;
        while (*e && *e != ',') e++;
        size_t len = (size_t)(e - s);
        while (len && (s[len - 1] == ' ' || s[len - 1] == '\t')) len--;
        if (p->n == MAX_RULES) {
            sv_err_set(err, SV_EINVAL, "invalid retention policy: more than %d rules", MAX_RULES);
            goto fail;
        }
        if (parse_rule(s, len, &p->rules[p->n], err) < 0) goto fail;
        p->n++;
        s = e;
    }
    if (p->n == 0) {
        sv_err_set(err, SV_EINVAL, "invalid retention policy '%s': no rules", spec);
        goto fail;
    }
    for (int i = 0; i < p->n; i++) {
        if (i) strcat(p->desc, ",");
        strcat(p->desc, p->rules[i].text);
    }
    *out = p;
    return 0;
fail:
    free(p);
    return -1;
}

/* Frees a policy; NULL is a no-op. */
void retention_free(retention_policy *p)
{
    free(p);
}

/* The canonical rule list. */
const char *retention_describe(const retention_policy *p)
{
    return p->desc;
}

/* Floor division for times before the epoch. */
static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* now minus n calendar months, the day clamped to the month's last day. */
static int64_t months_back(int64_t now_ms, int64_t n)
{
    int64_t days = floor_div(now_ms, MS_PER_DAY);
    int64_t tod = now_ms - days * MS_PER_DAY;
    int y;
    unsigned m, d;
    sv_civil_from_days(days, &y, &m, &d);
    int64_t mi = (int64_t)y * 12 + (m - 1) - n;
    int ny = (int)floor_div(mi, 12);
    unsigned nm = (unsigned)(mi - (int64_t)ny * 12) + 1;
    unsigned last = (unsigned)(sv_days_from_civil(nm == 12 ? ny + 1 : ny, nm == 12 ? 1 : nm + 1, 1) -
                               sv_days_from_civil(ny, nm, 1));
    if (d > last) d = last;
    return sv_days_from_civil(ny, nm, d) * MS_PER_DAY + tod;
}

/* The oldest instant still outside a rule's window: a backup is inside when ts > cutoff. */
static int64_t rule_cutoff(const rule *r, int64_t now_ms)
{
    switch (r->unit) {
    case 'h': return now_ms - r->count * MS_PER_HOUR;
    case 'd': return now_ms - r->count * MS_PER_DAY;
    case 'w': return now_ms - r->count * 7 * MS_PER_DAY;
    case 'm': return months_back(now_ms, r->count);
    case 'y': return months_back(now_ms, r->count * 12);
    default: return INT64_MIN;
    }
}

/* The bucket (UTC day, ISO week, month) a time falls into for a bucket rule. */
static int64_t bucket_of(rule_kind k, int64_t ts)
{
    int64_t days = floor_div(ts, MS_PER_DAY);
    if (k == RULE_DAILY) return days;
    if (k == RULE_WEEKLY) return floor_div(days + 3, 7); /* 1970-01-01 was a Thursday */
    int y;
    unsigned m, d;
    sv_civil_from_days(days, &y, &m, &d);
    return (int64_t)y * 12 + (m - 1);
}

/* qsort_r comparator over positions: newest first, ties by position. */
static int cmp_newest(const void *a, const void *b, void *base)
{
    const retention_item *items = base;
    size_t ia = *(const size_t *)a, ib = *(const size_t *)b;
    int64_t ta = items[ia].ts_ms, tb = items[ib].ts_ms;
    if (ta != tb) return ta > tb ? -1 : 1;
    return ia < ib ? -1 : ia > ib;
}

/* Decides keep/delete for every item; see retention.h. */
int retention_apply(const retention_policy *p, retention_item *items, size_t n, int64_t now_ms)
{
    size_t *order = NULL;
    for (size_t i = 0; i < n; i++) {
        items[i].keep = false;
        items[i].reason[0] = 0;
    }
    if (n == 0) return 0;
    order = malloc(n * sizeof *order);
    if (!order) {
        for (size_t i = 0; i < n; i++) {
            items[i].keep = true;
            snprintf(items[i].reason, sizeof items[i].reason, "kept: out of memory");
        }
        return -1;
    }
    for (size_t i = 0; i < n; i++) order[i] = i;
    qsort_r(order, n, sizeof *order, cmp_newest, items);

    for (int r = 0; r < p->n; r++) {
        const rule *ru = &p->rules[r];
        int64_t cutoff = rule_cutoff(ru, now_ms);
        int64_t last_bucket = 0;
        bool have_bucket = false;
        for (size_t k = 0; k < n; k++) {
            retention_item *it = &items[order[k]];
            bool keep = false;
            if (ru->kind == RULE_LAST) {
                keep = (int64_t)k < ru->count;
            } else if (it->ts_ms > cutoff) {
                if (ru->kind == RULE_ALL) {
                    keep = true;
                } else {
                    int64_t b = bucket_of(ru->kind, it->ts_ms);
                    keep = !have_bucket || b != last_bucket;
                    have_bucket = true;
                    last_bucket = b;
                    if (!keep && !it->keep && !it->reason[0])
                        snprintf(it->reason, sizeof it->reason, "superseded (%s)", ru->text);
                }
            }
            if (keep && !it->keep) {
                it->keep = true;
                snprintf(it->reason, sizeof it->reason, "%s", ru->text);
            }
        }
    }
    /* The pins: the newest, and the newest verified. */
    retention_item *newest = &items[order[0]];
    if (!newest->keep) {
        newest->keep = true;
        snprintf(newest->reason, sizeof newest->reason, "newest");
    }
    for (size_t k = 0; k < n; k++) {
        retention_item *it = &items[order[k]];
        if (!it->verified) continue;
        if (!it->keep) {
            it->keep = true;
            snprintf(it->reason, sizeof it->reason, "newest verified");
        }
        break;
    }
    for (size_t i = 0; i < n; i++)
        if (!items[i].keep && !items[i].reason[0])
            snprintf(items[i].reason, sizeof items[i].reason, "expired");
    free(order);
    return 0;
}
