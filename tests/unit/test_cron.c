/* test_cron.c -- cron_parse / cron_next / cron_prev against a table worked
 * out by hand from a calendar. Times are built here with an independent
 * day counter (a loop over years and months), not with util.h, so a bug in
 * the shared civil-date code cannot hide itself. */
#include <stdio.h>
#include <string.h>
#include "cron.h"
#include "err.h"
#include "testlib.h"

/* Days in month m of year y, by the Gregorian rule. */
static int mdays(int y, int m)
{
    static const int d[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : d[m - 1];
}

/* UTC ms of y-mo-d h:mi:s by counting days from 1970 (y >= 1970). */
static int64_t T(int y, int mo, int d, int h, int mi, int s)
{
    int64_t days = 0;
    for (int yy = 1970; yy < y; yy++) days += mdays(yy, 2) == 29 ? 366 : 365;
    for (int mm = 1; mm < mo; mm++) days += mdays(y, mm);
    days += d - 1;
    return ((days * 24 + h) * 60 + mi) * 60000LL + s * 1000LL;
}

typedef struct {
    const char *expr;
    int64_t after;
    int64_t want; /* -1: never */
} next_case;

int main(void)
{
    sv_err err;
    sv_cron c;

    /* Sanity of the helper itself: known epoch values. */
    CHECK_INT(T(1970, 1, 1, 0, 0, 0), 0);
    CHECK_INT(T(2000, 3, 1, 0, 0, 0), 951868800000LL);
    CHECK_INT(T(2025, 1, 1, 0, 0, 0), 1735689600000LL);

    const next_case cases[] = {
        /* every 15 minutes */
        {"*/15 * * * *", T(2025, 1, 1, 0, 0, 0), T(2025, 1, 1, 0, 15, 0)},
        {"*/15 * * * *", T(2025, 1, 1, 0, 7, 30), T(2025, 1, 1, 0, 15, 0)},
        {"*/15 * * * *", T(2025, 1, 1, 0, 44, 59) + 999, T(2025, 1, 1, 0, 45, 0)},
        {"*/15 * * * *", T(2025, 1, 1, 0, 45, 0), T(2025, 1, 1, 1, 0, 0)},
        {"*/15 * * * *", T(2024, 12, 31, 23, 59, 0), T(2025, 1, 1, 0, 0, 0)},
        /* every 6 hours: across a day, a leap day and a year */
        {"0 */6 * * *", T(2025, 1, 1, 0, 0, 0), T(2025, 1, 1, 6, 0, 0)},
        {"0 */6 * * *", T(2025, 1, 1, 18, 0, 0), T(2025, 1, 2, 0, 0, 0)},
        {"0 */6 * * *", T(2024, 2, 28, 23, 0, 0), T(2024, 2, 29, 0, 0, 0)},
        {"0 */6 * * *", T(2025, 12, 31, 18, 30, 0), T(2026, 1, 1, 0, 0, 0)},
        /* first of the month */
        {"0 0 1 * *", T(2025, 1, 31, 12, 0, 0), T(2025, 2, 1, 0, 0, 0)},
        {"0 0 1 * *", T(2025, 2, 1, 0, 0, 0), T(2025, 3, 1, 0, 0, 0)},
        {"0 0 1 * *", T(2025, 12, 15, 0, 0, 0), T(2026, 1, 1, 0, 0, 0)},
        /* weekdays at 9: 2025-01-01 is a Wednesday, 01-03 a Friday */
        {"0 9 * * 1-5", T(2025, 1, 3, 9, 0, 0), T(2025, 1, 6, 9, 0, 0)},
        {"0 9 * * 1-5", T(2025, 1, 4, 12, 0, 0), T(2025, 1, 6, 9, 0, 0)},
        {"0 9 * * 1-5", T(2025, 1, 6, 8, 59, 0), T(2025, 1, 6, 9, 0, 0)},
        {"0 9 * * 1-5", T(2025, 1, 1, 10, 0, 0), T(2025, 1, 2, 9, 0, 0)},
        {"0 9 * * MON-FRI", T(2025, 1, 3, 9, 0, 0), T(2025, 1, 6, 9, 0, 0)},
        /* Feb 29: leap years only, and 2100 is not one */
        {"30 2 29 2 *", T(2025, 3, 1, 0, 0, 0), T(2028, 2, 29, 2, 30, 0)},
        {"30 2 29 2 *", T(2024, 2, 29, 2, 30, 0), T(2028, 2, 29, 2, 30, 0)},
        {"30 2 29 2 *", T(2024, 1, 1, 0, 0, 0), T(2024, 2, 29, 2, 30, 0)},
        {"30 2 29 2 *", T(2096, 3, 1, 0, 0, 0), T(2104, 2, 29, 2, 30, 0)},
        /* month ends: the 31st skips short months, the 30th skips February */
        {"0 0 31 * *", T(2025, 1, 31, 0, 0, 0), T(2025, 3, 31, 0, 0, 0)},
        {"0 0 31 * *", T(2025, 3, 31, 0, 0, 0), T(2025, 5, 31, 0, 0, 0)},
        {"0 0 30 * *", T(2025, 1, 30, 0, 0, 0), T(2025, 3, 30, 0, 0, 0)},
        {"59 23 31 12 *", T(2025, 6, 1, 0, 0, 0), T(2025, 12, 31, 23, 59, 0)},
        /* OR rule: the 13th or a Friday (2025-06-01 is a Sunday) */
        {"0 0 13 * 5", T(2025, 6, 1, 0, 0, 0), T(2025, 6, 6, 0, 0, 0)},
        {"0 0 13 * 5", T(2025, 6, 6, 0, 0, 0), T(2025, 6, 13, 0, 0, 0)},
        {"0 0 13 * 5", T(2025, 6, 13, 0, 0, 0), T(2025, 6, 20, 0, 0, 0)},
        {"0 0 13 * 5", T(2025, 7, 11, 0, 0, 0), T(2025, 7, 13, 0, 0, 0)}, /* a Sunday */
        {"0 0 13 * 5", T(2025, 7, 13, 0, 0, 0), T(2025, 7, 18, 0, 0, 0)},
        {"0 0 1-7 * 1", T(2025, 6, 1, 0, 0, 0), T(2025, 6, 2, 0, 0, 0)},
        {"0 0 1-7 * 1", T(2025, 6, 7, 0, 0, 0), T(2025, 6, 9, 0, 0, 0)}, /* Monday, not 1-7 */
        /* a day field starting with * means AND: odd days that are Fridays (13th, 27th) */
        {"0 0 */2 * 5", T(2025, 6, 1, 0, 0, 0), T(2025, 6, 13, 0, 0, 0)},
        {"0 0 * * 5", T(2025, 6, 1, 0, 0, 0), T(2025, 6, 6, 0, 0, 0)},
        /* Sunday as 0, 7 and SUN; 5-7 is Fri, Sat, Sun */
        {"0 0 * * 0", T(2025, 6, 2, 0, 0, 0), T(2025, 6, 8, 0, 0, 0)},
        {"0 0 * * 7", T(2025, 6, 2, 0, 0, 0), T(2025, 6, 8, 0, 0, 0)},
        {"0 0 * * sun", T(2025, 6, 2, 0, 0, 0), T(2025, 6, 8, 0, 0, 0)},
        {"0 0 * * 5-7", T(2025, 6, 7, 0, 0, 0), T(2025, 6, 8, 0, 0, 0)},
        {"0 0 * * 5-7", T(2025, 6, 8, 0, 0, 0), T(2025, 6, 13, 0, 0, 0)},
        /* names, lists, ranges with steps */
        {"0 12 1 JAN,jul *", T(2025, 2, 1, 0, 0, 0), T(2025, 7, 1, 12, 0, 0)},
        {"5,10-12/2 * * * *", T(2025, 1, 1, 0, 5, 0), T(2025, 1, 1, 0, 10, 0)},
        {"5,10-12/2 * * * *", T(2025, 1, 1, 0, 10, 0), T(2025, 1, 1, 0, 12, 0)},
        {"5,10-12/2 * * * *", T(2025, 1, 1, 0, 12, 0), T(2025, 1, 1, 1, 5, 0)},
        {"30/10 * * * *", T(2025, 1, 1, 0, 55, 0), T(2025, 1, 1, 1, 30, 0)},
        {"@daily", T(2025, 1, 1, 0, 0, 0), T(2025, 1, 2, 0, 0, 0)},
        {"  0   */6 * *   *  ", T(2025, 1, 1, 1, 0, 0), T(2025, 1, 1, 6, 0, 0)},
        /* never */
        {"0 0 30 2 *", T(2025, 1, 1, 0, 0, 0), -1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sv_err_clear(&err);
        int rc = cron_parse(cases[i].expr, &c, &err);
        if (rc != 0) fprintf(stderr, "case %zu '%s': %s\n", i, cases[i].expr, err.msg);
        CHECK_INT(rc, 0);
        int64_t got = cron_next(&c, cases[i].after);
        if (got != cases[i].want)
            fprintf(stderr, "case %zu '%s': next got %lld want %lld\n", i, cases[i].expr,
                    (long long)got, (long long)cases[i].want);
        CHECK_INT(got, cases[i].want);
        if (got > 0) {
            CHECK(cron_matches(&c, got));
            CHECK_INT(cron_prev(&c, got), got);
            CHECK(cron_prev(&c, got - 1) < got);
        }
    }

    /* cron_prev: the tick a catch-up should run */
    CHECK_INT(cron_parse("0 */6 * * *", &c, &err), 0);
    CHECK_INT(cron_prev(&c, T(2025, 1, 1, 5, 59, 59)), T(2025, 1, 1, 0, 0, 0));
    CHECK_INT(cron_prev(&c, T(2025, 1, 1, 6, 0, 0)), T(2025, 1, 1, 6, 0, 0));
    CHECK_INT(cron_prev(&c, T(2025, 1, 1, 0, 0, 0) - 1), T(2024, 12, 31, 18, 0, 0));
    CHECK(!cron_matches(&c, T(2025, 1, 1, 6, 1, 0)));
    CHECK(cron_matches(&c, T(2025, 1, 1, 6, 0, 59)));
    CHECK_INT(cron_parse("30 2 29 2 *", &c, &err), 0);
    CHECK_INT(cron_prev(&c, T(2027, 6, 1, 0, 0, 0)), T(2024, 2, 29, 2, 30, 0));

    /* invalid expressions name the field */
    const struct { const char *expr, *msg; } bad[] = {
        {"61 * * * *", "invalid cron expression: minute field '61' out of range 0-59"},
        {"* 24 * * *", "invalid cron expression: hour field '24' out of range 0-23"},
        {"* * 0 * *", "invalid cron expression: day-of-month field '0' out of range 1-31"},
        {"* * 32 * *", "invalid cron expression: day-of-month field '32' out of range 1-31"},
        {"* * * 13 *", "invalid cron expression: month field '13' out of range 1-12"},
        {"* * * * 8", "invalid cron expression: day-of-week field '8' out of range 0-7"},
        {"1-61 * * * *", "invalid cron expression: minute field '61' out of range 0-59"},
        {"*/0 * * * *", "invalid cron expression: minute field step '0' out of range 1-59"},
        {"*/ * * * *", "invalid cron expression: minute field '*/' has an empty step"},
        {"5-1 * * * *", "invalid cron expression: minute field '5-1' is a backwards range"},
        {"* * * FOO *", "invalid cron expression: month field 'FOO' is not a number or a name"},
        {"a * * * *", "invalid cron expression: minute field 'a' is not a number"},
        {"1,,2 * * * *", "invalid cron expression: minute field has an empty value"},
        {"* * * * MON-", "invalid cron expression: day-of-week field has an empty value"},
        {"* * * *", "invalid cron expression '* * * *': expected 5 fields, got 4"},
        {"* * * * * *", "invalid cron expression '* * * * * *': expected 5 fields, got 6"},
        {"", "invalid cron expression '': expected 5 fields, got 0"},
        {"@often", "invalid cron expression: unknown macro '@often'"},
        {"* * * JAN-FOO *", "invalid cron expression: month field 'FOO' is not a number or a name"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        sv_err_clear(&err);
        CHECK_INT(cron_parse(bad[i].expr, &c, &err), -1);
        CHECK_INT(err.code, SV_EINVAL);
        CHECK_STR(err.msg, bad[i].msg);
    }
    TEST_DONE();
}
