/* test_store_file.c -- the file:// driver: atomic writes, conditional put,
 * listing order and delimiters, deletes, streamed reads with offsets, range
 * reads (start, middle, end, across the read buffer, len 0, past the end,
 * missing key), and nothing left behind by an aborted writer. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "fixture.h"
#include "store.h"
#include "testlib.h"
#include "util.h"

typedef struct acc { char buf[4096]; size_t n; } acc;
static int sink(void *ud, const void *d, size_t len, sv_err *e)
{
    acc *a = ud;
    (void)e;
    if (a->n + len > sizeof a->buf) return -1;
    memcpy(a->buf + a->n, d, len);
    a->n += len;
    return 0;
}
typedef struct names { char s[2048]; } names;
static int collect(void *ud, const store_entry *e, sv_err *err)
{
    names *n = ud;
    (void)err;
    strcat(n->s, e->key);
    strcat(n->s, e->is_prefix ? "(p)," : ",");
    return 0;
}
/* Range reads check their bytes against a pattern as they arrive. */
#define BIG_SIZE (600 * 1024 + 17) /* more than two of the driver's 256 KiB reads */
static unsigned char pattern_at(uint64_t i) { return (unsigned char)(i * 131 + i / 7919); }
typedef struct range_check { uint64_t at; uint64_t n; int chunks; int bad; } range_check;
static int range_sink(void *ud, const void *d, size_t len, sv_err *e)
{
    range_check *c = ud;
    const unsigned char *p = d;
    (void)e;
    for (size_t i = 0; i < len; i++)
        if (p[i] != pattern_at(c->at + c->n + i)) c->bad++;
    c->n += len;
    c->chunks++;
    return 0;
}
static int failing_sink(void *ud, const void *d, size_t len, sv_err *e)
{
    (void)ud, (void)d, (void)len;
    return sv_err_set(e, SV_EIO, "sink says no");
}

/* store_get_range on the file driver. */
static void test_ranges(store_t *s)
{
    unsigned char *big = malloc(BIG_SIZE);
    sv_err e;
    struct { uint64_t off, len; const char *what; } ok[] = {
        {0, 1, "first byte"},
        {0, 4096, "start"},
        {12345, 5000, "middle"},
        {BIG_SIZE - 3000, 3000, "end"},
        {BIG_SIZE - 1, 1, "last byte"},
        {100, BIG_SIZE - 200, "across several reads"},
        {0, BIG_SIZE, "whole object"},
    };
    CHECK(big != NULL);
    if (!big) return;
    for (uint64_t i = 0; i < BIG_SIZE; i++) big[i] = pattern_at(i);
    CHECK_INT(store_put(s, "range/obj", big, BIG_SIZE, NULL, &e), 0);
    free(big);
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        range_check c = {.at = ok[i].off};
        int rc = store_get_range(s, "range/obj", ok[i].off, ok[i].len, range_sink, &c, &e);
        if (rc != 0) fprintf(stderr, "  %s: %s\n", ok[i].what, e.msg);
        CHECK_INT(rc, 0);
        CHECK_INT(c.n, ok[i].len);
        CHECK_INT(c.bad, 0);
    }
    {
        range_check c = {.at = 100};
        CHECK_INT(store_get_range(s, "range/obj", 100, BIG_SIZE - 200, range_sink, &c, &e), 0);
        CHECK(c.chunks >= 3); /* the buffer is bounded: several reads */
    }
    /* len 0: a no-op, even on a key that does not exist */
    {
        range_check c = {0};
        sv_err_clear(&e);
        CHECK_INT(store_get_range(s, "range/obj", 5, 0, range_sink, &c, &e), 0);
        CHECK_INT(store_get_range(s, "range/none", 0, 0, range_sink, &c, &e), 0);
        CHECK_INT(store_get_range(s, "range/obj", BIG_SIZE + 10, 0, range_sink, &c, &e), 0);
        CHECK_INT(c.chunks, 0);
    }
    /* past the end: SV_ECORRUPT naming key, range and size; nothing delivered */
    {
        struct { uint64_t off, len; const char *range; } bad[] = {
            {BIG_SIZE - 10, 11, "bytes 614407-614417 (11 bytes)"},
            {BIG_SIZE, 1, "bytes 614417-614417 (1 bytes)"},
            {BIG_SIZE + 1000, 5, "bytes 615417-615421 (5 bytes)"},
            {0, BIG_SIZE + 1, "bytes 0-614417 (614418 bytes)"},
        };
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            range_check c = {.at = bad[i].off};
            sv_err_clear(&e);
            CHECK_INT(store_get_range(s, "range/obj", bad[i].off, bad[i].len, range_sink, &c, &e), -1);
            CHECK_INT(e.code, SV_ECORRUPT);
            CHECK_INT(c.n, 0);
            CHECK(strstr(e.msg, "'range/obj'") != NULL);
            CHECK(strstr(e.msg, bad[i].range) != NULL);
            CHECK(strstr(e.msg, "(614417 bytes)") != NULL);
            if (!strstr(e.msg, bad[i].range)) fprintf(stderr, "  message: %s\n", e.msg);
        }
    }
    /* an end that overflows 64 bits: a bad argument */
    sv_err_clear(&e);
    CHECK_INT(store_get_range(s, "range/obj", UINT64_MAX - 5, 10, range_sink, &(range_check){0}, &e), -1);
    CHECK_INT(e.code, SV_EINVAL);
    /* missing key, a directory, a key leaving the root */
    sv_err_clear(&e);
    CHECK_INT(store_get_range(s, "range/none", 0, 10, range_sink, &(range_check){0}, &e), -1);
    CHECK_INT(e.code, SV_ENOTFOUND);
    CHECK(strstr(e.msg, "range/none") != NULL);
    sv_err_clear(&e);
    CHECK_INT(store_get_range(s, "range/obj/below", 0, 10, range_sink, &(range_check){0}, &e), -1);
    CHECK_INT(e.code, SV_ENOTFOUND);
    sv_err_clear(&e);
    CHECK_INT(store_get_range(s, "range", 0, 10, range_sink, &(range_check){0}, &e), -1);
    CHECK_INT(e.code, SV_ENOTFOUND);
    sv_err_clear(&e);
    CHECK_INT(store_get_range(s, "../range/obj", 0, 10, range_sink, &(range_check){0}, &e), -1);
    CHECK_INT(e.code, SV_EINVAL);
    /* the sink's error stops the read and is the answer */
    sv_err_clear(&e);
    CHECK_INT(store_get_range(s, "range/obj", 0, 10, failing_sink, NULL, &e), -1);
    CHECK_INT(e.code, SV_EIO);
    CHECK_STR(e.msg, "sink says no");
}

int main(void)
{
    char root[] = "/tmp/sv-test-store-XXXXXX";
    sv_config cfg = {0};
    store_t *s;
    sv_err e;
    acc a = {{0}, 0};
    names n = {{0}};
    store_stat st;
    store_writer_t *w;
    store_put_opts excl = {.if_none_match = true};

    CHECK(mkdtemp(root) != NULL);
    CHECK(store_file_new(&cfg, sv_clock_system(), root, &s, &e) == 0);
    CHECK(store_ping(s, &e) == 0);
    CHECK(store_put(s, "full/ws/20250101T000000.000Z/metadata.json", "{}", 2, NULL, &e) == 0);
    CHECK(store_put(s, "full/ws/20250101T000000.000Z/livestore.db.zst", "abcdef", 6, NULL, &e) == 0);
    CHECK(store_put(s, "full/ws/20250102T000000.000Z/livestore.db.zst", "x", 1, NULL, &e) == 0);
    CHECK(store_put(s, "full/ws2/20250102T000000.000Z/livestore.db.zst", "x", 1, NULL, &e) == 0);
    /* conditional put: refused on an existing key, content unchanged */
    CHECK(store_put(s, "full/ws/20250101T000000.000Z/metadata.json", "{\"x\":1}", 7, &excl, &e) != 0);
    CHECK(e.code == SV_ECONFLICT);
    CHECK(store_put(s, "new/key.json", "{}", 2, &excl, &e) == 0);
    CHECK(store_stat_key(s, "full/ws/20250101T000000.000Z/metadata.json", &st, &e) == 0 && st.size == 2);
    CHECK(store_stat_key(s, "nope", &st, &e) != 0 && e.code == SV_ENOTFOUND);
    /* streamed get with an offset */
    CHECK(store_get(s, "full/ws/20250101T000000.000Z/livestore.db.zst", 2, sink, &a, &e) == 0);
    CHECK(a.n == 4 && memcmp(a.buf, "cdef", 4) == 0);
    CHECK(store_get(s, "missing", 0, sink, &a, &e) != 0 && e.code == SV_ENOTFOUND);
    /* listing: sorted, prefix-filtered ("full/ws/" must not match ws2) */
    CHECK(store_list(s, "full/ws/", NULL, collect, &n, &e) == 0);
    CHECK_STR(n.s, "full/ws/20250101T000000.000Z/livestore.db.zst,full/ws/20250101T000000.000Z/metadata.json,"
                   "full/ws/20250102T000000.000Z/livestore.db.zst,");
    n.s[0] = '\0';
    CHECK(store_list(s, "full/", "/", collect, &n, &e) == 0);
    CHECK_STR(n.s, "full/ws/(p),full/ws2/(p),");
    n.s[0] = '\0';
    CHECK(store_list(s, "full/ws", "/", collect, &n, &e) == 0);
    CHECK_STR(n.s, "full/ws/(p),full/ws2/(p),");
    /* keys that would leave the root are refused */
    CHECK(store_put(s, "../evil", "x", 1, NULL, &e) != 0 && e.code == SV_EINVAL);
    CHECK(store_put(s, "/abs", "x", 1, NULL, &e) != 0);
    /* an aborted writer leaves nothing, a committed one is whole */
    int before = fx_count_files(root);
    CHECK(store_writer_open(s, "big/obj", NULL, &w, &e) == 0);
    CHECK(store_writer_write(s, w, "hello", 5, &e) == 0);
    CHECK(store_stat_key(s, "big/obj", &st, &e) != 0); /* not visible before commit */
    store_writer_abort(s, w);
    CHECK_INT(fx_count_files(root), before);
    CHECK(store_writer_open(s, "big/obj", NULL, &w, &e) == 0);
    CHECK(store_writer_write(s, w, "hello", 5, &e) == 0);
    CHECK(store_writer_write(s, w, " world", 6, &e) == 0);
    CHECK(store_writer_commit(s, w, &e) == 0);
    CHECK(store_stat_key(s, "big/obj", &st, &e) == 0 && st.size == 11);
    /* delete_many: missing keys are fine, empty folders go */
    {
        const char *keys[] = {"big/obj", "full/ws2/20250102T000000.000Z/livestore.db.zst", "never/was"};
        CHECK(store_delete_many(s, keys, 3, &e) == 0);
        CHECK(store_stat_key(s, "big/obj", &st, &e) != 0);
        char p[512];
        snprintf(p, sizeof p, "%s/full/ws2", root);
        CHECK(access(p, F_OK) != 0);
    }
    /* presign on a file store is the path */
    {
        char *url = NULL;
        CHECK(store_presign(s, "GET", "new/key.json", 60, NULL, &url, &e) == 0);
        CHECK(url && strncmp(url, root, strlen(root)) == 0);
        free(url);
    }
    test_ranges(s);
    store_free(s);
    {
        char cmd[600];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
        CHECK(system(cmd) == 0);
    }
    TEST_DONE();
}
