/* test_retention.c -- the retention policy against tables with an injected
 * "now". Expectations are computed independently: by hand-counted totals and
 * by a brute-force O(n^2) restatement of the rules, never by calling the code
 * under test twice. The chain tests (incrementals naming their parent) run
 * 400 days of hourly fulls and minute-level links (576,616 backups) and
 * small tables: broken chains, pins with chains, a day without a full. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "retention.h"
#include "testlib.h"
#include "timefmt.h"

#define H 3600000LL
#define D (24 * H)

/* Days in month m of year y. */
static int mdays(int y, int m)
{
    static const int d[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : d[m - 1];
}

/* UTC ms of y-mo-d h:00 by counting days from 1970. */
static int64_t T(int y, int mo, int d, int h)
{
    int64_t days = 0;
    for (int yy = 1970; yy < y; yy++) days += mdays(yy, 2) == 29 ? 366 : 365;
    for (int mm = 1; mm < mo; mm++) days += mdays(y, mm);
    days += d - 1;
    return (days * 24 + h) * H;
}

/* Number of kept items. */
static int count_kept(const retention_item *it, size_t n)
{
    int k = 0;
    for (size_t i = 0; i < n; i++) k += it[i].keep;
    return k;
}

/* Parses spec, failing the test if it does not parse. */
static retention_policy *policy(const char *spec)
{
    retention_policy *p = NULL;
    sv_err err;
    sv_err_clear(&err);
    if (retention_parse(spec, &p, &err) != 0) {
        fprintf(stderr, "parse '%s': %s\n", spec, err.msg);
        exit(1);
    }
    return p;
}

/* Default policy over 400 days of 6-hourly backups. */
static void test_default_400_days(void)
{
    enum { N = 1600 };
    static retention_item it[N];
    int64_t d0 = T(2026, 1, 1, 0);
    int64_t now = d0 + 1 * H;
    for (int i = 0; i < N; i++) {
        memset(&it[i], 0, sizeof it[i]);
        it[i].ts_ms = d0 - (int64_t)i * 6 * H;
    }
    retention_policy *p = policy(NULL);
    CHECK_STR(retention_describe(p), "all:30d,daily:365d");
    CHECK_INT(retention_apply(p, it, N, now), 0);

    /* By hand: all:30d keeps i = 0..119 (120 = 30 days x 4). daily:365d keeps
     * 2026-01-01 00:00 plus the 18:00 backup of each of the 365 days of 2025
     * (366), of which 31 are already inside the 30 days: 120 + 366 - 31. */
    CHECK_INT(count_kept(it, N), 455);

    /* Brute force: kept iff younger than 30 days, or younger than 365 days and
     * no other backup of the same UTC day is newer. */
    int mismatches = 0;
    for (int i = 0; i < N; i++) {
        int64_t age = now - it[i].ts_ms;
        bool newest_of_day = true;
        for (int j = 0; j < N; j++)
            if (it[j].ts_ms / D == it[i].ts_ms / D && it[j].ts_ms > it[i].ts_ms) newest_of_day = false;
        bool want = age < 30 * D || (age < 365 * D && newest_of_day);
        if (want != it[i].keep) mismatches++;
    }
    CHECK_INT(mismatches, 0);

    CHECK_STR(it[0].reason, "all:30d");
    CHECK_STR(it[119].reason, "all:30d");            /* 2025-12-02 06:00 */
    CHECK_INT(it[120].ts_ms, T(2025, 12, 2, 0));
    CHECK_STR(it[120].reason, "superseded (daily:365d)");
    CHECK_STR(it[121].reason, "daily:365d");         /* 2025-12-01 18:00 */
    CHECK_STR(it[122].reason, "superseded (daily:365d)");
    CHECK(it[1457].keep);                            /* 2025-01-01 18:00 */
    CHECK_INT(it[1457].ts_ms, T(2025, 1, 1, 18));
    CHECK_STR(it[1457].reason, "daily:365d");
    CHECK_INT(it[1461].ts_ms, T(2024, 12, 31, 18));
    CHECK_STR(it[1461].reason, "expired");
    CHECK_STR(it[N - 1].reason, "expired");
    retention_free(p);
}

/* last:N keeps the N newest whatever their age, with other rules or alone. */
static void test_last(void)
{
    retention_item it[10];
    int64_t now = T(2025, 6, 1, 0);
    for (int i = 0; i < 10; i++) {
        memset(&it[i], 0, sizeof it[i]);
        it[i].ts_ms = now - (100 + i) * D; /* all far older than any window */
    }
    retention_policy *p = policy("last:3");
    retention_apply(p, it, 10, now);
    CHECK_INT(count_kept(it, 10), 3);
    for (int i = 0; i < 10; i++) {
        CHECK_INT(it[i].keep, i < 3);
        CHECK_STR(it[i].reason, i < 3 ? "last:3" : "expired");
    }
    retention_free(p);

    /* all:1d with last:5: the newest two are young, last:5 adds three more. */
    it[0].ts_ms = now - 1 * H;
    it[1].ts_ms = now - 2 * H;
    p = policy("all:1d,last:5");
    retention_apply(p, it, 10, now);
    CHECK_INT(count_kept(it, 10), 5);
    CHECK_STR(it[0].reason, "all:1d");
    CHECK_STR(it[1].reason, "all:1d");
    CHECK_STR(it[2].reason, "last:5");
    CHECK_STR(it[4].reason, "last:5");
    CHECK_STR(it[5].reason, "expired");
    retention_free(p);

    /* more rules than backups: everything is kept */
    p = policy("last:50");
    retention_apply(p, it, 10, now);
    CHECK_INT(count_kept(it, 10), 10);
    retention_free(p);
}

/* The newest and the newest verified survive every window. */
static void test_pins(void)
{
    retention_item it[11];
    int64_t now = T(2025, 6, 1, 0);
    for (int i = 0; i < 11; i++) {
        memset(&it[i], 0, sizeof it[i]);
        it[i].ts_ms = now - (50 + i) * D;
    }
    it[8].verified = true;
    it[10].verified = true; /* older verified one: not pinned */
    retention_policy *p = policy("all:30d,daily:40d,weekly:6w,monthly:1m");
    retention_apply(p, it, 11, now);
    CHECK_INT(count_kept(it, 11), 2);
    CHECK(it[0].keep);
    CHECK_STR(it[0].reason, "newest");
    CHECK(it[8].keep);
    CHECK_STR(it[8].reason, "newest verified");
    CHECK(!it[10].keep);
    CHECK_STR(it[5].reason, "expired");
    retention_free(p);

    /* the newest is also the newest verified: one backup kept */
    it[8].verified = false;
    it[10].verified = false;
    it[0].verified = true;
    p = policy("all:1h");
    retention_apply(p, it, 11, now);
    CHECK_INT(count_kept(it, 11), 1);
    CHECK_STR(it[0].reason, "newest");
    retention_free(p);

    /* last:2 keeps two; the newest verified further back is still kept */
    it[0].verified = false;
    it[6].verified = true;
    p = policy("last:2");
    retention_apply(p, it, 11, now);
    CHECK_INT(count_kept(it, 11), 3);
    CHECK_STR(it[0].reason, "last:2");
    CHECK_STR(it[6].reason, "newest verified");
    retention_free(p);

    /* a single backup, years old, is never deleted (default policy) */
    it[0].ts_ms = T(2015, 1, 1, 0);
    it[0].verified = false;
    p = policy(NULL);
    retention_apply(p, it, 1, now);
    CHECK(it[0].keep);
    CHECK_STR(it[0].reason, "newest");
    retention_free(p);

    /* empty list */
    p = policy(NULL);
    CHECK_INT(retention_apply(p, it, 0, now), 0);
    retention_free(p);
}

/* weekly and monthly buckets, worked out on a calendar. */
static void test_buckets(void)
{
    retention_item it[200];
    size_t n = 0;
    /* daily backups at 00:00 from 2025-04-01 to 2025-06-11 (a Wednesday) */
    for (int64_t t = T(2025, 4, 1, 0); t <= T(2025, 6, 11, 0); t += D) {
        memset(&it[n], 0, sizeof it[n]);
        it[n++].ts_ms = t;
    }
    retention_policy *p = policy("weekly:4w");
    retention_apply(p, it, n, T(2025, 6, 11, 12));
    /* window from 2025-05-14 12:00: ISO weeks (Mon-Sun) keep Jun 11, Sun Jun 8,
     * Sun Jun 1, Sun May 25, Sun May 18 */
    CHECK_INT(count_kept(it, n), 5);
    int64_t want[] = {T(2025, 6, 11, 0), T(2025, 6, 8, 0), T(2025, 6, 1, 0), T(2025, 5, 25, 0),
                      T(2025, 5, 18, 0)};
    for (size_t i = 0; i < n; i++) {
        bool w = false;
        for (size_t j = 0; j < 5; j++) w |= it[i].ts_ms == want[j];
        CHECK_INT(it[i].keep, w);
    }
    retention_free(p);

    /* monthly:3m at 2025-05-31 12:00: the window starts 2025-02-28 12:00 (the
     * 31st clamped to February's end), so a backup at Feb 28 18:00 counts */
    n = 0;
    for (int64_t t = T(2025, 1, 1, 0); t <= T(2025, 5, 31, 0); t += D) {
        memset(&it[n], 0, sizeof it[n]);
        it[n++].ts_ms = t;
    }
    memset(&it[n], 0, sizeof it[n]);
    it[n++].ts_ms = T(2025, 2, 28, 18);
    p = policy("monthly:3m");
    retention_apply(p, it, n, T(2025, 5, 31, 12));
    CHECK_INT(count_kept(it, n), 4);
    CHECK(it[n - 1].keep);
    CHECK_STR(it[n - 1].reason, "monthly:3m");
    retention_free(p);

    /* order of the input does not matter: reverse it and compare */
    retention_item rev[200];
    for (size_t i = 0; i < n; i++) rev[i] = it[n - 1 - i];
    p = policy("monthly:3m");
    retention_apply(p, rev, n, T(2025, 5, 31, 12));
    int diff = 0;
    for (size_t i = 0; i < n; i++)
        diff += rev[i].keep != it[n - 1 - i].keep || strcmp(rev[i].reason, it[n - 1 - i].reason);
    CHECK_INT(diff, 0);
    retention_free(p);
}

/* Parse errors name the rule; canonical descriptions. */
static void test_parse(void)
{
    const struct { const char *spec, *msg; } bad[] = {
        {"daily:5x", "invalid retention rule 'daily:5x': unknown unit 'x' (h, d, w, m or y)"},
        {"hourly:5d", "invalid retention rule 'hourly:5d': unknown rule 'hourly' (all, daily, weekly, monthly, last)"},
        {"last:abc", "invalid retention rule 'last:abc': expected a count after ':'"},
        {"last:3d", "invalid retention rule 'last:3d': expected a count"},
        {"all:30d,daily", "invalid retention rule 'daily': expected rule:window"},
        {"all:30", "invalid retention rule 'all:30': missing unit (h, d, w, m or y)"},
        {"weekly:0w", "invalid retention rule 'weekly:0w': must be at least 1"},
        {"all:", "invalid retention rule 'all:': expected a window such as 30d after ':'"},
        {" , ", "invalid retention policy ' , ': no rules"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        retention_policy *p = (retention_policy *)1;
        sv_err err;
        sv_err_clear(&err);
        CHECK_INT(retention_parse(bad[i].spec, &p, &err), -1);
        CHECK(p == NULL);
        CHECK_INT(err.code, SV_EINVAL);
        CHECK_STR(err.msg, bad[i].msg);
    }
    retention_policy *p = policy(" all:30d , DAILY:365D,weekly:8w,monthly:12m,last:3 ");
    CHECK_STR(retention_describe(p), "all:30d,daily:365d,weekly:8w,monthly:12m,last:3");
    retention_free(p);
    p = policy("");
    CHECK_STR(retention_describe(p), RETENTION_DEFAULT);
    retention_free(p);
    retention_free(NULL);
}


#define MIN 60000LL

/* "20261130T101500.000Z" for ms, in a static buffer (one use per statement). */
static const char *tsn(int64_t ms)
{
    static char buf[4][SV_TS_LEN];
    static int k;
    k = (k + 1) % 4;
    sv_ts_format(ms, buf[k]);
    return buf[k];
}

/* A full at ts. */
static retention_item full_at(int64_t ts)
{
    retention_item it;
    memset(&it, 0, sizeof it);
    it.ts_ms = ts;
    return it;
}

/* An incremental at ts whose parent is at parent. */
static retention_item link_at(int64_t ts, int64_t parent)
{
    retention_item it = full_at(ts);
    it.incremental = true;
    it.parent_ts_ms = parent;
    return it;
}

/* Days of the 400-day run, for the independent statement of the buckets. */
typedef struct day_info {
    int y, m, d;
    int wd; /* 0 = Monday */
} day_info;

/* The newest full of an item's day, ISO week and month in the 400-day run:
 * a full every hour on the hour, so the bucket's last day at 23:00, unless
 * the run ends before (then the last full of the run). */
static int64_t newest_full_of(int64_t last_day, int64_t last_full)
{
    int64_t t = last_day * D + 23 * H;
    return t < last_full ? t : last_full;
}

/* Checks that every kept incremental's parent (the previous backup: items
 * are in time order, one a minute) is kept: whole chains only. */
static int broken_kept_chains(const retention_item *it, size_t n)
{
    int bad = 0;
    for (size_t i = 0; i < n; i++)
        if (it[i].keep && it[i].incremental && (i == 0 || !it[i - 1].keep)) bad++;
    return bad;
}

/* 400 days of hourly fulls with an incremental every minute in between
 * (each naming the previous backup), with the default policy and a
 * weekly/monthly one: exactly the expected points stay restorable. */
static void test_chains_400_days(void)
{
    int64_t first = T(2025, 10, 26, 0);
    int64_t last = T(2026, 11, 30, 10) + 15 * MIN; /* a Monday */
    int64_t now = last + 30000;
    size_t n = (size_t)((last - first) / MIN) + 1;
    CHECK_INT(n, 400 * 1440 + 10 * 60 + 16);
    retention_item *it = calloc(n, sizeof *it);
    int64_t day0 = first / D, ndays = last / D - day0 + 1;
    day_info *days = calloc((size_t)ndays, sizeof *days);
    if (!it || !days) exit(1);
    /* the calendar, walked day by day */
    int y = 2025, m = 10, d = 26;
    for (int64_t j = 0; j < ndays; j++) {
        days[j] = (day_info){y, m, d, (int)((day0 + j + 3) % 7)};
        if (++d > mdays(y, m)) d = 1, m++;
        if (m > 12) m = 1, y++;
    }
    CHECK_INT(days[ndays - 1].y * 10000 + days[ndays - 1].m * 100 + days[ndays - 1].d, 20261130);
    CHECK_INT(days[ndays - 1].wd, 0);
    for (size_t i = 0; i < n; i++) {
        int64_t ts = first + (int64_t)i * MIN;
        it[i] = ts % H == 0 ? full_at(ts) : link_at(ts, ts - MIN);
    }
    int64_t last_full = last / H * H;

    /* The default policy: all:30d,daily:365d. */
    retention_policy *p = policy(NULL);
    CHECK_INT(retention_apply(p, it, n, now), 0);
    int64_t cut30 = now - 30 * D, cut365 = now - 365 * D;
    /* By hand: 30 days of minutes (from 2026-10-31 10:16) and the 16 backups
     * of that hour before the cutoff (their chain: the 10:00 full and 15
     * links), then the 23:00 full of each day from 2025-11-30 (23:00 is
     * inside 365 days) to 2026-10-30: 1+31+31+28+31+30+31+30+31+31+30+30. */
    CHECK_INT(count_kept(it, n), 30 * 1440 + 16 + 335);
    size_t mism = 0, first_mism = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t ts = it[i].ts_ms;
        int64_t dd = ts / D;
        bool want = ts > cut30 || (ts >= cut30 / H * H) ||
                    (!it[i].incremental && ts == newest_full_of(dd, last_full) && ts > cut365);
        if (want != it[i].keep && mism++ == 0) first_mism = i;
    }
    CHECK_INT(mism, 0);
    if (mism) fprintf(stderr, "first mismatch at %s: %s\n", tsn(it[first_mism].ts_ms), it[first_mism].reason);
    CHECK_INT(broken_kept_chains(it, n), 0);
    /* Past the all: window: one restorable point per whole day (the day's
     * newest full, with no chain) within 365 days, none before. */
    {
        int bad_days = 0, one_days = 0;
        size_t i = 0;
        for (int64_t j = 0; j < ndays; j++) {
            int64_t dstart = (day0 + j) * D, dend = dstart + D;
            int kept = 0, kept_links = 0;
            for (; i < n && it[i].ts_ms < dend; i++) {
                kept += it[i].keep;
                kept_links += it[i].keep && it[i].incremental;
            }
            if (dend - 1 > cut30) continue;
            bool in365 = dstart + 23 * H > cut365;
            if (kept != (in365 ? 1 : 0) || kept_links) bad_days++;
            one_days += kept == 1;
        }
        CHECK_INT(bad_days, 0);
        CHECK_INT(one_days, 335);
    }
    /* Reasons. */
    size_t i_1016 = (size_t)((T(2026, 10, 31, 10) + 16 * MIN - first) / MIN);
    CHECK_STR(it[i_1016].reason, "all:30d");
    CHECK_STR(it[i_1016 - 1].reason, "link of 20261031T101600.000Z");
    CHECK_STR(it[i_1016 - 16].reason, "base of 20261031T101600.000Z");
    CHECK(!it[i_1016 - 16].incremental);
    CHECK_STR(it[i_1016 - 17].reason, "superseded (daily:365d)");
    size_t i_jan1 = (size_t)((T(2026, 1, 1, 23) - first) / MIN);
    CHECK_STR(it[i_jan1].reason, "daily:365d");
    CHECK_STR(it[i_jan1 + 1].reason, "superseded (daily:365d)"); /* 23:01, a link */
    CHECK_STR(it[i_jan1 + 59].reason, "superseded (daily:365d)");
    CHECK_STR(it[i_jan1 - 60].reason, "superseded (daily:365d)"); /* 22:00, a full */
    CHECK_STR(it[0].reason, "expired");
    CHECK_STR(it[n - 1].reason, "all:30d");
    retention_free(p);

    /* all:7d,weekly:8w,monthly:12m: the Sunday 23:00 full of each ISO week
     * for 8 weeks, the 23:00 full of each month's last day for 12 months. */
    p = policy("all:7d,weekly:8w,monthly:12m");
    CHECK_INT(retention_apply(p, it, n, now), 0);
    int64_t cut7 = now - 7 * D, cut56 = now - 56 * D, cut12m = T(2025, 11, 30, 10) + 15 * MIN + 30000;
    mism = 0;
    int weekly = 0, monthly = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t ts = it[i].ts_ms;
        const day_info *di = &days[ts / D - day0];
        int64_t sunday = ts / D + (6 - di->wd), month_end = ts / D + (mdays(di->y, di->m) - di->d);
        bool full = !it[i].incremental;
        bool wk = full && ts == newest_full_of(sunday, last_full) && ts > cut56;
        bool mo = full && ts == newest_full_of(month_end, last_full) && ts > cut12m;
        bool want = ts > cut7 || ts >= cut7 / H * H || wk || mo;
        if (want != it[i].keep && mism++ == 0) first_mism = i;
        if (ts <= cut7) weekly += wk, monthly += mo && !wk;
    }
    CHECK_INT(mism, 0);
    if (mism) fprintf(stderr, "first mismatch at %s: %s\n", tsn(it[first_mism].ts_ms), it[first_mism].reason);
    CHECK_INT(broken_kept_chains(it, n), 0);
    /* by hand: Sundays Oct 11 .. Nov 22 (7; Nov 29 is inside all:7d), month
     * ends Nov 30 2025 .. Oct 31 2026 (12; Oct 31 is a Saturday) */
    CHECK_INT(weekly, 7);
    CHECK_INT(monthly, 12);
    CHECK_INT(count_kept(it, n), 7 * 1440 + 16 + 7 + 12);
    CHECK_STR(it[(size_t)((T(2026, 11, 22, 23) - first) / MIN)].reason, "weekly:8w");
    CHECK_STR(it[(size_t)((T(2026, 10, 31, 23) - first) / MIN)].reason, "monthly:12m");
    CHECK_STR(it[(size_t)((T(2025, 11, 30, 23) - first) / MIN)].reason, "monthly:12m");
    CHECK_STR(it[(size_t)((T(2026, 11, 22, 22) - first) / MIN)].reason, "superseded (weekly:8w)");
    retention_free(p);
    free(it);
    free(days);
}

/* The index in it[0..n) of the item at ts. */
static size_t at(const retention_item *it, size_t n, int64_t ts)
{
    for (size_t i = 0; i < n; i++)
        if (it[i].ts_ms == ts) return i;
    fprintf(stderr, "no item at %s\n", tsn(ts));
    exit(1);
}

/* A day with no full keeps its newest backup with the whole chain behind
 * it (into the day before); a day with a full keeps the full alone. */
static void test_day_without_full(void)
{
    retention_item it[64];
    size_t n = 0;
    int64_t f1 = T(2026, 3, 2, 20);
    it[n++] = full_at(f1);
    for (int64_t t = f1 + H; t <= T(2026, 3, 3, 17); t += H) it[n++] = link_at(t, t - H);
    int64_t f3 = T(2026, 3, 4, 9);
    it[n++] = full_at(f3);
    it[n++] = link_at(f3 + 30 * MIN, f3);
    it[n++] = link_at(f3 + 60 * MIN, f3 + 30 * MIN);
    retention_policy *p = policy("daily:30d");
    retention_apply(p, it, n, T(2026, 3, 10, 0));
    /* Mar 2: the 20:00 full (daily); Mar 3: 17:00 with its 17 links and base
     * (the links of Mar 2 21:00..23:00 too); Mar 4: the 09:00 full, and the
     * 10:00 link is the newest backup (pinned, its chain: 09:30 and 09:00). */
    CHECK_INT(count_kept(it, n), 1 + 21 + 3);
    CHECK_STR(it[0].reason, "daily:30d");
    size_t i17 = at(it, n, T(2026, 3, 3, 17));
    CHECK_STR(it[i17].reason, "daily:30d");
    CHECK_STR(it[at(it, n, T(2026, 3, 3, 0))].reason, "link of 20260303T170000.000Z");
    CHECK_STR(it[at(it, n, T(2026, 3, 2, 21))].reason, "link of 20260303T170000.000Z");
    CHECK_STR(it[at(it, n, f3)].reason, "daily:30d");
    CHECK_STR(it[at(it, n, f3 + 30 * MIN)].reason, "link of 20260304T100000.000Z");
    CHECK_STR(it[at(it, n, f3 + 60 * MIN)].reason, "newest");
    CHECK_INT(broken_kept_chains(it, n), 0);
    retention_free(p);

    /* The same past the window, with a newer full as the newest: nothing of
     * those days stays, and the order of the input does not matter. */
    it[n++] = full_at(T(2026, 6, 1, 0));
    for (size_t i = 0; i < n / 2; i++) {
        retention_item t = it[i];
        it[i] = it[n - 1 - i];
        it[n - 1 - i] = t;
    }
    p = policy("daily:30d");
    retention_apply(p, it, n, T(2026, 6, 2, 0));
    CHECK_INT(count_kept(it, n), 1);
    CHECK_STR(it[0].reason, "daily:30d");
    CHECK_STR(it[1].reason, "expired");
    retention_free(p);
}

/* Broken chains: an incremental whose parent is missing (or not older)
 * satisfies no rule, is kept only inside a window, and never makes a kept
 * backup's ancestor go. */
static void test_broken_chains(void)
{
    retention_item it[16];
    size_t n = 0;
    int64_t d = T(2026, 5, 10, 0);
    it[n++] = full_at(d + 8 * H);                    /* 0 F0 */
    it[n++] = link_at(d + 9 * H, d + 8 * H);         /* 1 L1 */
    it[n++] = link_at(d + 10 * H, d + 9 * H);        /* 2 L2 */
    it[n++] = link_at(d + 12 * H, d + 11 * H);       /* 3 L4: L3 (11:00) missing */
    it[n++] = link_at(d + 13 * H, d + 12 * H);       /* 4 L5 */
    it[n++] = full_at(d + 2 * D);                    /* 5 a newer full */
    retention_policy *p = policy("daily:10d");
    retention_apply(p, it, n, d + 3 * D);
    /* Day 10: its newest full F0 (the broken L5 is newer but cannot be
     * restored); L1, L2 superseded; L4, L5 inside the window, kept as broken. */
    CHECK(it[0].keep);
    CHECK_STR(it[0].reason, "daily:10d");
    CHECK(!it[1].keep);
    CHECK_STR(it[1].reason, "superseded (daily:10d)");
    CHECK(!it[2].keep);
    CHECK(it[3].keep && it[3].broken);
    CHECK_STR(it[3].reason, "broken chain (20260510T110000.000Z missing), in daily:10d");
    CHECK(it[4].keep && it[4].broken);
    CHECK_STR(it[4].reason, "broken chain (20260510T110000.000Z missing), in daily:10d");
    CHECK(!it[0].broken && !it[1].broken && !it[2].broken);
    CHECK_STR(it[5].reason, "daily:10d");
    retention_free(p);

    /* Without a full that day, the day's point is L2 (the newest
     * restorable) with its chain (a base the day before); the broken links
     * do not take the bucket. */
    it[0] = link_at(d + 8 * H, d + 7 * H); /* now itself broken: 07:00 missing */
    it[1] = full_at(d - H);
    it[2] = link_at(d + 10 * H, d - H);
    p = policy("daily:10d");
    retention_apply(p, it, n, d + 3 * D);
    CHECK_STR(it[2].reason, "daily:10d");
    CHECK_STR(it[1].reason, "daily:10d"); /* the newest full of May 9 */
    CHECK_STR(it[0].reason, "broken chain (20260510T070000.000Z missing), in daily:10d");
    CHECK_INT(count_kept(it, n), 6);
    retention_free(p);
    p = policy("daily:10d");
    retention_apply(p, it, n, d + 10 * D + 5 * H); /* May 9 is out of the window now */
    CHECK_STR(it[2].reason, "daily:10d");
    CHECK_STR(it[1].reason, "base of 20260510T100000.000Z");
    CHECK_INT(count_kept(it, n), 6);
    retention_free(p);

    /* Past every window the broken ones go, and so does what only they
     * would have needed; the newest stays. */
    p = policy("daily:10d");
    retention_apply(p, it, n, d + 30 * D);
    CHECK_INT(count_kept(it, n), 1);
    CHECK_STR(it[3].reason, "broken chain (20260510T110000.000Z missing), expired");
    CHECK_STR(it[5].reason, "newest");
    retention_free(p);

    /* last:N counts restorable backups only. */
    p = policy("last:2");
    retention_apply(p, it, n, d + 30 * D);
    CHECK_STR(it[5].reason, "last:2");
    CHECK_STR(it[2].reason, "last:2");
    CHECK_STR(it[1].reason, "base of 20260510T100000.000Z");
    CHECK(!it[3].keep && !it[4].keep && !it[0].keep);
    retention_free(p);

    /* The newest is broken: pinned all the same (the next link builds on
     * it), and the newest restorable backup is pinned with its chain. A
     * parent not older than its child, or unknown, breaks the chain. */
    n = 0;
    it[n++] = full_at(d);
    it[n++] = link_at(d + H, d);
    it[n++] = link_at(d + 2 * H, d + 90 * MIN);     /* missing parent */
    it[n++] = link_at(d + 3 * H, d + 3 * H);        /* itself */
    it[n++] = link_at(d + 4 * H, INT64_MIN);        /* unknown */
    it[n++] = link_at(d + 5 * H, d + 6 * H);        /* newer: the newest, broken */
    p = policy("all:1h");
    retention_apply(p, it, n, d + 20 * D);
    CHECK_STR(it[5].reason, "broken chain (parent 20260510T060000.000Z not older), newest");
    CHECK(it[5].broken);
    CHECK_STR(it[1].reason, "newest restorable");
    CHECK_STR(it[0].reason, "base of 20260510T010000.000Z");
    CHECK_STR(it[2].reason, "broken chain (20260510T013000.000Z missing), expired");
    CHECK_STR(it[3].reason, "broken chain (parent 20260510T030000.000Z not older), expired");
    CHECK_STR(it[4].reason, "broken chain (parent unknown), expired");
    CHECK_INT(count_kept(it, n), 3);
    retention_free(p);

    /* A kept broken link keeps the part of its chain that exists. */
    n = 0;
    it[n++] = full_at(d);                            /* 0 */
    it[n++] = link_at(d + H, d);                     /* 1 */
    it[n++] = link_at(d + 3 * H, d + 2 * H);         /* 2: 02:00 missing */
    it[n++] = link_at(d + 4 * H, d + 3 * H);         /* 3 */
    it[n++] = link_at(d + 5 * H, d + 4 * H);         /* 4 */
    p = policy("all:1d");
    retention_apply(p, it, n, d + 4 * H + 30 * MIN);
    /* inside all:1d: 0 and 1 restorable (all:1d), 2 and 3 broken (in all:1d),
     * 4 broken and newest */
    CHECK_INT(count_kept(it, n), 5);
    CHECK_STR(it[4].reason, "broken chain (20260510T020000.000Z missing), newest");
    CHECK_STR(it[3].reason, "broken chain (20260510T020000.000Z missing), in all:1d");
    CHECK_STR(it[1].reason, "all:1d");
    p = (retention_free(p), policy("all:1h"));
    retention_apply(p, it, n, d + 5 * H + 30 * MIN);
    /* only the newest (broken, pinned) is inside: its existing chain
     * stays, and the newest restorable (1) with its base */
    CHECK_INT(count_kept(it, n), 5);
    CHECK_STR(it[4].reason, "broken chain (20260510T020000.000Z missing), newest");
    CHECK_STR(it[3].reason, "broken chain (20260510T020000.000Z missing), link of 20260510T050000.000Z");
    CHECK_STR(it[1].reason, "newest restorable");
    CHECK_STR(it[0].reason, "base of 20260510T010000.000Z");
    retention_free(p);
}

/* The pins keep their chains: the newest verified backup deep in an old
 * chain keeps every link back to its base. */
static void test_pins_with_chains(void)
{
    retention_item it[40];
    size_t n = 0;
    int64_t d = T(2026, 2, 1, 0);
    it[n++] = full_at(d);
    for (int k = 1; k < 10; k++) it[n++] = link_at(d + k * H, d + (k - 1) * H);
    it[n++] = full_at(d + 10 * D);
    for (int k = 1; k < 6; k++) it[n++] = link_at(d + 10 * D + k * H, d + 10 * D + (k - 1) * H);
    it[6].verified = true;  /* 06:00 of Feb 1 */
    it[3].verified = true;  /* older: not pinned */
    retention_policy *p = policy("all:1h");
    retention_apply(p, it, n, d + 40 * D);
    /* the newest (Feb 11 05:00) with 5 links back to its base; the newest
     * verified (Feb 1 06:00) with 6 back to its base */
    CHECK_INT(count_kept(it, n), 6 + 7);
    CHECK_STR(it[n - 1].reason, "newest");
    CHECK_STR(it[10].reason, "base of 20260211T050000.000Z");
    CHECK_STR(it[n - 2].reason, "link of 20260211T050000.000Z");
    CHECK_STR(it[6].reason, "newest verified");
    CHECK_STR(it[5].reason, "link of 20260201T060000.000Z");
    CHECK_STR(it[0].reason, "base of 20260201T060000.000Z");
    CHECK(!it[7].keep);
    CHECK_STR(it[7].reason, "expired");
    CHECK_INT(broken_kept_chains(it, n), 0);
    retention_free(p);
}

int main(void)
{
    test_default_400_days();
    test_last();
    test_pins();
    test_buckets();
    test_parse();
    test_day_without_full();
    test_broken_chains();
    test_pins_with_chains();
    test_chains_400_days();
    TEST_DONE();
}
