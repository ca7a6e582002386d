/* test_retention.c -- the retention policy against tables with an injected
 * "now". Expectations are computed independently: by hand-counted totals and
 * by a brute-force O(n^2) restatement of the rules, never by calling the code
 * under test twice. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "retention.h"
#include "testlib.h"

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

int main(void)
{
    test_default_400_days();
    test_last();
    test_pins();
    test_buckets();
    test_parse();
    TEST_DONE();
}
