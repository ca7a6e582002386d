/* test_util.c -- the common module: sizes, durations, workspace ids,
 * timestamps, backoff, the bounded buffer, write_all, digests as hex. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include "buf.h"
#include "digest.h"
#include "clock.h"
#include "testlib.h"
#include "util.h"

/* The bounded buffer: appends, the cap, the sticky failure that frees. */
static void test_buf(void)
{
    sv_buf b;
    sv_buf_init(&b, 8);
    CHECK_INT(sv_buf_adds(&b, "abc"), SV_OK);
    CHECK_INT(sv_buf_addf(&b, "%d", 1234), SV_OK);
    CHECK_STR(b.p, "abc1234");
    CHECK_INT(b.len, 7);
    CHECK_INT(sv_buf_adds(&b, "x"), SV_OK);            /* exactly at the cap */
    CHECK_INT(sv_buf_adds(&b, "y"), SV_ETOOBIG);       /* past it: freed */
    CHECK(b.p == NULL);
    CHECK_INT(b.len, 0);
    CHECK_INT(sv_buf_failed(&b), SV_ETOOBIG);
    CHECK_INT(sv_buf_adds(&b, ""), SV_ETOOBIG);        /* sticky */
    CHECK(sv_buf_take(&b) == NULL);
    CHECK_INT(sv_buf_failed(&b), SV_OK);               /* take resets */
    char *e = sv_buf_take(&b);
    CHECK_STR(e, "");
    free(e);
    sv_buf_init(&b, 0);                                /* default cap; growth past 512 */
    for (int i = 0; i < 1000; i++) CHECK_INT(sv_buf_addf(&b, "%03d", i % 1000), SV_OK);
    CHECK_INT(b.len, 3000);
    CHECK(memcmp(b.p + 2997, "999", 4) == 0);
    char big[700];
    memset(big, 'z', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    CHECK_INT(sv_buf_addf(&b, "<%s>", big), SV_OK);   /* the vsnprintf second pass */
    CHECK_INT(b.len, 3000 + 701);
    sv_buf_free(&b);
    CHECK(b.p == NULL);
}

/* write_all through a pipe, and the digests against known answers. */
static void test_io_digest(void)
{
    int fds[2];
    char got[16] = {0};
    CHECK(pipe(fds) == 0);
    CHECK_INT(sv_write_all(fds[1], "hello world", 11), 0);
    close(fds[1]);
    CHECK_INT(read(fds[0], got, sizeof got), 11);
    CHECK_STR(got, "hello world");
    close(fds[0]);
    CHECK_INT(sv_write_all(-1, "x", 1), -1);
    char hex[SV_SHA256_HEX_LEN], sum[SV_CHECKSUM_LEN];
    sv_sha256_hex("abc", 3, hex);
    CHECK_STR(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    CHECK(md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1);
    EVP_DigestUpdate(md, "a", 1);
    EVP_DigestUpdate(md, "bc", 2);
    sv_digest_checksum(md, sum);
    CHECK_STR(sum, "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    EVP_MD_CTX_free(md);
}

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

    /* sizes for people: IEC, one decimal, bytes below 1 KiB */
    {
        char h[32];
        CHECK_STR(sv_human_size(0, h, sizeof h), "0 B");
        CHECK_STR(sv_human_size(1023, h, sizeof h), "1023 B");
        CHECK_STR(sv_human_size(1024, h, sizeof h), "1.0 KiB");
        CHECK_STR(sv_human_size(1536, h, sizeof h), "1.5 KiB");
        CHECK_STR(sv_human_size(8404992, h, sizeof h), "8.0 MiB");
        CHECK_STR(sv_human_size(1048575, h, sizeof h), "1.0 MiB"); /* not 1024.0 KiB */
        CHECK_STR(sv_human_size(1073741824ULL * 3 / 2, h, sizeof h), "1.5 GiB");
        CHECK_STR(sv_human_size(5ULL << 50, h, sizeof h), "5120.0 TiB");
    }

    /* absolute paths: as given, or the working directory joined */
    {
        char cwd[4096], want[4200], *a;
        CHECK(getcwd(cwd, sizeof cwd) != NULL);
        a = sv_abs_path("/srv/data");
        CHECK_STR(a, "/srv/data");
        free(a);
        snprintf(want, sizeof want, "%s/data", cwd);
        a = sv_abs_path("./data");
        CHECK_STR(a, want);
        free(a);
        a = sv_abs_path("data");
        CHECK_STR(a, want);
        free(a);
        a = sv_abs_path(".");
        CHECK_STR(a, cwd);
        free(a);
        CHECK(sv_abs_path(NULL) == NULL);
    }

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
    test_buf();
    test_io_digest();
    TEST_DONE();
}
