/* test_util.c -- sizes, durations, workspace ids, timestamps, backoff. */
#include <stdint.h>
#include "clock.h"
#include "testlib.h"
#include "util.h"

int main(void)
{
    sv_err e;
    uint64_t sz;
    int64_t ms;
    char ts[SV_TS_LEN], iso[SV_ISO_LEN];

    /* sizes */
    CHECK(sv_parse_size("16MiB", &sz, &e) == 0 && sz == 16777216);
    CHECK(sv_parse_size("5MB", &sz, &e) == 0 && sz == 5000000);
    CHECK(sv_parse_size("32GiB", &sz, &e) == 0 && sz == 34359738368ULL);
    CHECK(sv_parse_size("1024", &sz, &e) == 0 && sz == 1024);
    CHECK(sv_parse_size("12XB", &sz, &e) != 0 && e.code == SV_EINVAL);
    CHECK(sv_parse_size("-1", &sz, &e) != 0);
    CHECK(sv_parse_size("99999999999TiB", &sz, &e) != 0);

    /* durations */
    CHECK(sv_parse_duration_ms("30s", &ms, &e) == 0 && ms == 30000);
    CHECK(sv_parse_duration_ms("30", &ms, &e) == 0 && ms == 30000);
    CHECK(sv_parse_duration_ms("1500ms", &ms, &e) == 0 && ms == 1500);
    CHECK(sv_parse_duration_ms("7d", &ms, &e) == 0 && ms == 7 * 86400000LL);
    CHECK(sv_parse_duration_ms("2x", &ms, &e) != 0);

    /* workspace ids: refused before any path or key is built */
    CHECK(sv_check_workspace("3f0c1a2b-aaaa-4bbb-8ccc-123456789abc", &e) == 0);
    CHECK(sv_check_workspace("ws_1", &e) == 0);
    CHECK(sv_check_workspace("../x", &e) != 0 && e.code == SV_EINVAL && e.hint[0]);
    CHECK(sv_check_workspace("a/b", &e) != 0);
    CHECK(sv_check_workspace("", &e) != 0);
    CHECK(sv_check_workspace("-lead", &e) != 0);
    CHECK(sv_check_workspace("a b", &e) != 0);
    CHECK(sv_check_workspace("a\nb", &e) != 0);
    CHECK(sv_check_workspace("x{pool}", &e) != 0);
    {
        char long_id[130];
        memset(long_id, 'a', 128);
        long_id[128] = '\0';
        CHECK(sv_check_workspace(long_id, &e) == 0);
        long_id[128] = 'a';
        long_id[129] = '\0';
        CHECK(sv_check_workspace(long_id, &e) != 0);
    }

    /* timestamps */
    sv_ts_format(1736937000123LL, ts);
    CHECK_STR(ts, "20250115T103000.123Z");
    CHECK(sv_ts_parse("20250115T103000.123Z", &ms) == 0 && ms == 1736937000123LL);
    CHECK(sv_ts_parse("20250230T103000.123Z", &ms) != 0); /* 30 February */
    CHECK(sv_ts_parse("20240229T000000.000Z", &ms) == 0); /* leap day */
    CHECK(sv_ts_parse("20230229T000000.000Z", &ms) != 0);
    CHECK(sv_ts_parse("20250115T103000Z", &ms) != 0);
    sv_iso_format(1736937000123LL, iso);
    CHECK_STR(iso, "2025-01-15T10:30:00.123Z");
    CHECK(sv_iso_parse("2025-01-15T10:30:00Z", &ms) == 0 && ms == 1736937000000LL);
    CHECK(sv_iso_parse("2025-01-15T10:30:00.5Z", &ms) == 0 && ms == 1736937000500LL);
    CHECK(sv_iso_parse("2025-01-15 10:30:00Z", &ms) != 0);
    sv_ts_format(0, ts);
    CHECK_STR(ts, "19700101T000000.000Z");

    /* civil dates round trip over 400 years */
    {
        int ok = 1;
        for (int64_t d = -1000; d < 146097 + 1000 && ok; d += 7) {
            int y;
            unsigned m, dd;
            sv_civil_from_days(d, &y, &m, &dd);
            if (sv_days_from_civil(y, m, dd) != d) ok = 0;
        }
        CHECK(ok);
    }

    /* backoff: exponential, capped, jittered within [cap/2, cap] */
    {
        sv_fake_clock fc;
        sv_fake_clock_init(&fc, 0, 42);
        for (int a = 0; a < 12; a++) {
            int64_t cap = 100LL << a;
            if (cap > 5000) cap = 5000;
            int64_t d = sv_backoff_ms(&fc.clock, a, 100, 5000);
            CHECK(d >= cap / 2 && d <= cap);
        }
        sv_fake_clock f2;
        sv_fake_clock_init(&f2, 0, 42);
        sv_fake_clock_init(&fc, 0, 42);
        CHECK(sv_backoff_ms(&fc.clock, 5, 100, 100000) == sv_backoff_ms(&f2.clock, 5, 100, 100000));
    }

    /* error classification */
    CHECK(sv_code_retryable(SV_ETRANSIENT));
    CHECK(sv_code_retryable(SV_EUNREACH));
    CHECK(!sv_code_retryable(SV_ECORRUPT));
    CHECK(!sv_code_retryable(SV_ECHECKSUM));
    CHECK(!sv_code_retryable(SV_EINVAL));
    CHECK(!sv_code_retryable(SV_EAUTH));
    CHECK(sv_code_from_name(sv_code_name(SV_ECHECKSUM)) == SV_ECHECKSUM);
    sv_err_set(&e, SV_EUNREACH, "x");
    CHECK_INT(sv_err_exit_code(&e), 3);
    sv_err_set(&e, SV_EINVAL, "x");
    CHECK_INT(sv_err_exit_code(&e), 2);
    sv_err_set(&e, SV_ECORRUPT, "inner");
    sv_err_wrap(&e, "outer %d", 1);
    CHECK_STR(e.msg, "outer 1: inner");
    CHECK(!sv_code_retryable(SV_ENOTSUP));
    CHECK_STR(sv_code_name(SV_ENOTSUP), "not_supported");
    /* UTF-8: well-formed text passes; stray, overlong, surrogate, truncated, too high fail. */
    CHECK(sv_utf8_valid(""));
    CHECK(sv_utf8_valid("plain ascii"));
    CHECK(sv_utf8_valid("caf\xc3\xa9 \xe2\x9c\x93 \xf0\x9f\x98\x80"));
    CHECK(!sv_utf8_valid("a\xff"));
    CHECK(!sv_utf8_valid("\xc0\xaf"));
    CHECK(!sv_utf8_valid("\xe0\x80\xaf"));
    CHECK(!sv_utf8_valid("\xed\xa0\x80"));
    CHECK(!sv_utf8_valid("\xe2\x82"));
    CHECK(!sv_utf8_valid("\xf4\x90\x80\x80"));
    CHECK(!sv_utf8_valid("\x80"));
    TEST_DONE();
}
