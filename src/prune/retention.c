/* retention.c -- SQLVAULT_RETENTION: parsing the rules and deciding, for a
 * list of committed backups (fulls and incrementals) and a "now", which ones
 * to keep and why.
 *
 * Decision order (retention_apply): sort newest first; resolve each
 * incremental's parent (binary search) and mark broken chains, oldest first;
 * apply the rules in the order written, to restorable backups only (the
 * first rule that keeps a backup gives the reason; a bucket rule keeps the
 * newest full of each bucket, else its newest restorable backup, and marks
 * the rest of the bucket "superseded (rule)"); the pins; broken incrementals
 * (kept while inside a window); then the closure over parents, so every
 * ancestor of a kept backup is kept; what is left is "expired". Every step
 * is one pass over the sorted positions: O(n log n) in all. */
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

#define NO_ITEM ((size_t)-1)
/* "broken chain (parent 20261130T101500.000Z not older)" and a NUL */
#define BROKEN_WHY_LEN 56

/* The scratch arrays of one retention_apply (one owner: ra_free). */
typedef struct ra_work {
    retention_item *items;
    size_t n;
    size_t *order;        /* positions, newest first */
    size_t *parent;       /* each item's parent's position, NO_ITEM for none/missing */
    size_t *root;         /* a broken item: the item whose parent is missing */
    unsigned char *closed; /* the closure walked through it */
} ra_work;

/* Frees the scratch arrays (NULL ones too). */
static void ra_free(ra_work *w)
{
    free(w->order);
    free(w->parent);
    free(w->root);
    free(w->closed);
}

/* The position of the item whose ts is ts (binary search over order), or NO_ITEM. */
static size_t ra_find(const ra_work *w, int64_t ts)
{
    size_t lo = 0, hi = w->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int64_t t = w->items[w->order[mid]].ts_ms;
        if (t == ts) return w->order[mid];
        if (t > ts) lo = mid + 1;
        else hi = mid;
    }
    return NO_ITEM;
}

/* Resolves parents, oldest first, and marks broken incrementals: an
 * incremental is broken when its parent is missing, not older than itself,
 * or broken. A parent is always older, so the walk has no cycles. */
static void ra_chains(ra_work *w)
{
    for (size_t k = w->n; k-- > 0;) {
        size_t i = w->order[k];
        retention_item *it = &w->items[i];
        w->parent[i] = NO_ITEM;
        w->root[i] = NO_ITEM;
        if (!it->incremental) continue;
        size_t p = it->parent_ts_ms < it->ts_ms ? ra_find(w, it->parent_ts_ms) : NO_ITEM;
        w->parent[i] = p;
        if (p == NO_ITEM) {
            it->broken = true;
            w->root[i] = i;
        } else if (w->items[p].broken) {
            it->broken = true;
            w->root[i] = w->root[p];
        }
    }
}

/* Writes why item i's chain is broken into buf ("broken chain (TS missing)"). */
static void broken_why(const ra_work *w, size_t i, char *buf, size_t cap)
{
    const retention_item *r = &w->items[w->root[i]];
    char ts[SV_TS_LEN];
    if (r->parent_ts_ms == INT64_MIN) {
        snprintf(buf, cap, "broken chain (parent unknown)");
        return;
    }
    sv_ts_format(r->parent_ts_ms, ts);
    if (r->parent_ts_ms >= r->ts_ms) snprintf(buf, cap, "broken chain (parent %s not older)", ts);
    else snprintf(buf, cap, "broken chain (%s missing)", ts);
}

/* Keeps it with reason, unless it is kept already. */
static void keep_as(retention_item *it, const char *reason)
{
    if (it->keep) return;
    it->keep = true;
    snprintf(it->reason, sizeof it->reason, "%s", reason);
}

/* A bucket rule over the group order[k0..k1) of one bucket: keeps the
 * newest full of the bucket, else its newest restorable backup. */
static void ra_bucket(ra_work *w, const rule *ru, size_t k0, size_t k1)
{
    size_t full = NO_ITEM, any = NO_ITEM;
    for (size_t k = k0; k < k1 && full == NO_ITEM; k++) {
        const retention_item *it = &w->items[w->order[k]];
        if (it->broken) continue;
        if (any == NO_ITEM) any = w->order[k];
        if (!it->incremental) full = w->order[k];
    }
    size_t pick = full != NO_ITEM ? full : any;
    if (pick != NO_ITEM) keep_as(&w->items[pick], ru->text);
    for (size_t k = k0; k < k1; k++) {
        retention_item *it = &w->items[w->order[k]];
        if (!it->keep && !it->broken && !it->reason[0])
            snprintf(it->reason, sizeof it->reason, "superseded (%s)", ru->text);
    }
}

/* Applies one rule, newest first. */
static void ra_rule(ra_work *w, const rule *ru, int64_t now_ms)
{
    if (ru->kind == RULE_LAST) {
        int64_t left = ru->count;
        for (size_t k = 0; k < w->n && left > 0; k++) {
            retention_item *it = &w->items[w->order[k]];
            if (it->broken) continue;
            keep_as(it, ru->text);
            left--;
        }
        return;
    }
    int64_t cutoff = rule_cutoff(ru, now_ms);
    size_t end = 0; /* order[0..end) is inside the window */
    while (end < w->n && w->items[w->order[end]].ts_ms > cutoff) end++;
    if (ru->kind == RULE_ALL) {
        for (size_t k = 0; k < end; k++)
            if (!w->items[w->order[k]].broken) keep_as(&w->items[w->order[k]], ru->text);
        return;
    }
    for (size_t k0 = 0; k0 < end;) {
        int64_t b = bucket_of(ru->kind, w->items[w->order[k0]].ts_ms);
        size_t k1 = k0 + 1;
        while (k1 < end && bucket_of(ru->kind, w->items[w->order[k1]].ts_ms) == b) k1++;
        ra_bucket(w, ru, k0, k1);
        k0 = k1;
    }
}

/* The pins: the newest, the newest restorable when the newest is broken,
 * and the newest verified. */
static void ra_pins(ra_work *w)
{
    retention_item *newest = &w->items[w->order[0]];
    keep_as(newest, "newest");
    if (newest->broken) {
        for (size_t k = 1; k < w->n; k++) {
            retention_item *it = &w->items[w->order[k]];
            if (it->broken) continue;
            keep_as(it, "newest restorable");
            break;
        }
    }
    for (size_t k = 0; k < w->n; k++) {
        retention_item *it = &w->items[w->order[k]];
        if (!it->verified) continue;
        keep_as(it, "newest verified");
        break;
    }
}

/* Broken incrementals: kept while inside some rule's time window, with the
 * reason saying so; otherwise marked expired. Their reason names the gap. */
static void ra_broken(ra_work *w, const retention_policy *p, int64_t now_ms)
{
    int64_t cut[MAX_RULES];
    for (int r = 0; r < p->n; r++) /* last:N has no time window */
        cut[r] = p->rules[r].kind == RULE_LAST ? INT64_MAX : rule_cutoff(&p->rules[r], now_ms);
    for (size_t i = 0; i < w->n; i++) {
        retention_item *it = &w->items[i];
        if (!it->broken) continue;
        char why[BROKEN_WHY_LEN];
        broken_why(w, i, why, sizeof why);
        if (it->keep) { /* a pin: "newest", "newest verified" */
            char out[RETENTION_REASON_LEN];
            snprintf(out, sizeof out, "%s, %.20s", why, it->reason);
            memcpy(it->reason, out, sizeof out);
            continue;
        }
        int in = -1;
        for (int r = 0; r < p->n && in < 0; r++)
            if (it->ts_ms > cut[r]) in = r;
        it->keep = in >= 0;
        snprintf(it->reason, sizeof it->reason, "%s, %s%s", why, in >= 0 ? "in " : "expired",
                 in >= 0 ? p->rules[in].text : "");
    }
}

/* The closure over parents: every ancestor of a kept item is kept, named
 * after its nearest kept descendant (kept items are walked oldest first, and
 * a walk stops at an item a walk already passed, so the whole is O(n)). */
static void ra_closure(ra_work *w)
{
    for (size_t k = w->n; k-- > 0;) {
        size_t i = w->order[k];
        if (!w->items[i].keep) continue;
        w->closed[i] = 1;
        char ts[SV_TS_LEN];
        sv_ts_format(w->items[i].ts_ms, ts);
        for (size_t c = w->parent[i]; c != NO_ITEM && !w->closed[c]; c = w->parent[c]) {
            retention_item *a = &w->items[c];
            w->closed[c] = 1;
            if (a->keep) continue;
            a->keep = true;
            if (a->broken) {
                char why[BROKEN_WHY_LEN];
                broken_why(w, c, why, sizeof why);
                snprintf(a->reason, sizeof a->reason, "%s, link of %s", why, ts);
            } else {
                snprintf(a->reason, sizeof a->reason, "%s of %s", a->incremental ? "link" : "base", ts);
            }
        }
    }
}

/* Decides keep/delete for every item; see retention.h. */
int retention_apply(const retention_policy *p, retention_item *items, size_t n, int64_t now_ms)
{
    ra_work w = {.items = items, .n = n};
    for (size_t i = 0; i < n; i++) {
        items[i].keep = false;
        items[i].broken = false;
        items[i].reason[0] = 0;
    }
    if (n == 0) return 0;
    w.order = malloc(n * sizeof *w.order);
    w.parent = malloc(n * sizeof *w.parent);
    w.root = malloc(n * sizeof *w.root);
    w.closed = calloc(n, 1);
    if (!w.order || !w.parent || !w.root || !w.closed) {
        for (size_t i = 0; i < n; i++) {
            items[i].keep = true;
            snprintf(items[i].reason, sizeof items[i].reason, "kept: out of memory");
        }
        ra_free(&w);
        return -1;
    }
    for (size_t i = 0; i < n; i++) w.order[i] = i;
    qsort_r(w.order, n, sizeof *w.order, cmp_newest, items);

    ra_chains(&w);
    for (int r = 0; r < p->n; r++) ra_rule(&w, &p->rules[r], now_ms);
    ra_pins(&w);
    ra_broken(&w, p, now_ms);
    ra_closure(&w);
    for (size_t i = 0; i < n; i++)
        if (!items[i].keep && !items[i].reason[0])
            snprintf(items[i].reason, sizeof items[i].reason, "expired");
    ra_free(&w);
    return 0;
}
