/* test_restore.c -- the restore module's pieces on their own: the header
 * check (table-driven), --from parsing, the fetch pipeline on local files
 * (plain, zstd, truncated, bomb with and without a declared size, checksum
 * and size mismatches), validation (integrity, required tables), the swap and
 * the install-by-rename of a new database. */
#include <fcntl.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>
#include "restore.h"
#include "testlib.h"
#include "util.h"

static char dir[256];

/* path under the scratch dir (static buffer rotation). */
static const char *P(const char *name)
{
    static char buf[8][512];
    static int i;
    i = (i + 1) % 8;
    snprintf(buf[i], sizeof buf[i], "%s/%s", dir, name);
    return buf[i];
}

/* A 100-byte header with the given page size field and page count. */
static void mkhdr(unsigned char h[100], unsigned ps_field, uint32_t count, int valid_count)
{
    memset(h, 0, 100);
    memcpy(h, "SQLite format 3", 16);
    h[16] = (unsigned char)(ps_field >> 8);
    h[17] = (unsigned char)ps_field;
    h[18] = h[19] = 1;
    h[21] = 64, h[22] = 32, h[23] = 32;
    h[24 + 3] = 7;                       /* change counter 7 */
    h[28] = (unsigned char)(count >> 24), h[29] = (unsigned char)(count >> 16);
    h[30] = (unsigned char)(count >> 8), h[31] = (unsigned char)count;
    h[92 + 3] = valid_count ? 7 : 6;     /* version-valid-for */
}

static void test_header(void)
{
    static const struct {
        unsigned ps_field;
        uint32_t count;
        int valid;
        uint64_t size;
        int ok;
        const char *want;
    } t[] = {
        {4096, 3, 1, 3 * 4096, 1, NULL},
        {1, 2, 1, 2 * 65536, 1, NULL},               /* 1 means 65536 */
        {512, 1, 1, 512, 1, NULL},
        {4096, 99, 0, 3 * 4096, 1, NULL},            /* stale count is ignored */
        {768, 1, 1, 768, 0, "page size 768"},
        {256, 1, 1, 256, 0, "page size 256"},
        {4096, 3, 1, 3 * 4096 + 1, 0, "whole number"},
        {4096, 4, 1, 3 * 4096, 0, "header says 4 pages"},
        {4096, 3, 1, 50, 0, "bad header magic"},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        unsigned char h[100];
        restore_header rh;
        sv_err e;
        sv_err_clear(&e);
        mkhdr(h, t[i].ps_field, t[i].count, t[i].valid);
        int rc = restore_check_header(h, 100, t[i].size, &rh, &e);
        CHECK_INT(rc == 0, t[i].ok);
        if (!t[i].ok) {
            CHECK_INT(e.code, SV_ECORRUPT);
            if (!strstr(e.msg, t[i].want)) fprintf(stderr, "case %zu: %s\n", i, e.msg);
            CHECK(strstr(e.msg, t[i].want) != NULL);
        }
    }
    unsigned char h[100];
    restore_header rh;
    sv_err e;
    mkhdr(h, 4096, 1, 1);
    memcpy(h, "SQLite format 4", 16);
    CHECK(restore_check_header(h, 100, 4096, &rh, &e) != 0);
}

static void test_parse_from(void)
{
    static const struct {
        const char *from;
        int ok;
        restore_src_kind kind;
        const char *ref;
    } t[] = {
        {"latest", 1, RESTORE_SRC_BACKUP, "latest"},
        {"20260115T103000.000Z", 1, RESTORE_SRC_BACKUP, "20260115T103000.000Z"},
        {"2026-01-15T10:30:00.000Z", 1, RESTORE_SRC_BACKUP, "2026-01-15T10:30:00.000Z"},
        {"object:uploads/ws/abc.db", 1, RESTORE_SRC_OBJECT, "uploads/ws/abc.db"},
        {"file:/tmp/x.db", 1, RESTORE_SRC_FILE, "/tmp/x.db"},
        {"object:../x", 0, 0, NULL},
        {"object:/etc/passwd", 0, 0, NULL},
        {"object:a//b", 0, 0, NULL},
        {"object:a b", 0, 0, NULL},
        {"object:", 0, 0, NULL},
        {"file:", 0, 0, NULL},
        {"yesterday", 0, 0, NULL},
        {"", 0, 0, NULL},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        restore_source s;
        sv_err e;
        sv_err_clear(&e);
        int rc = restore_parse_from(t[i].from, &s, &e);
        CHECK_INT(rc == 0, t[i].ok);
        if (t[i].ok) {
            CHECK_INT(s.kind, t[i].kind);
            CHECK_STR(s.ref, t[i].ref);
        } else CHECK_INT(e.code, SV_EINVAL);
    }
}

/* Makes a small database with n rows. */
static void make_db(const char *path, int n)
{
    sqlite3 *db;
    char sql[512];
    unlink(path);
    CHECK(sqlite3_open(path, &db) == SQLITE_OK);
    snprintf(sql, sizeof sql,
             "CREATE TABLE eventlog(seq INTEGER PRIMARY KEY, args TEXT);"
             "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c WHERE i<%d)"
             " INSERT INTO eventlog(args) SELECT hex(randomblob(40)) FROM c;", n);
    CHECK(sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(db);
}

/* zstd-compresses src into dst; with_size=0 hides the content size (like a pipe). */
static void zcompress_file(const char *src, const char *dst, int with_size, uint64_t zeros)
{
    FILE *in = zeros ? NULL : fopen(src, "rb"), *out = fopen(dst, "wb");
    ZSTD_CCtx *z = ZSTD_createCCtx();
    static unsigned char ib[65536], ob[1 << 17];
    struct stat sb;
    uint64_t left = zeros;
    if (in && with_size && stat(src, &sb) == 0) ZSTD_CCtx_setPledgedSrcSize(z, (unsigned long long)sb.st_size);
    if (!in && with_size) ZSTD_CCtx_setPledgedSrcSize(z, zeros);
    ZSTD_CCtx_setParameter(z, ZSTD_c_checksumFlag, 1);
    ZSTD_CCtx_setParameter(z, ZSTD_c_contentSizeFlag, with_size);
    for (;;) {
        size_t n;
        if (in) n = fread(ib, 1, sizeof ib, in);
        else {
            n = left < sizeof ib ? (size_t)left : sizeof ib;
            memset(ib, 0, n);
            left -= n;
        }
        ZSTD_EndDirective mode = n < sizeof ib ? ZSTD_e_end : ZSTD_e_continue;
        ZSTD_inBuffer i = {ib, n, 0};
        size_t r;
        do {
            ZSTD_outBuffer o = {ob, sizeof ob, 0};
            r = ZSTD_compressStream2(z, &o, &i, mode);
            fwrite(ob, 1, o.pos, out);
        } while (mode == ZSTD_e_end ? r != 0 : i.pos < i.size);
        if (mode == ZSTD_e_end) break;
    }
    ZSTD_freeCCtx(z);
    if (in) fclose(in);
    fclose(out);
}

/* Copies the first n bytes of src to dst. */
static void truncate_copy(const char *src, const char *dst, long n)
{
    FILE *in = fopen(src, "rb"), *out = fopen(dst, "wb");
    for (long i = 0; i < n; i++) {
        int c = fgetc(in);
        if (c == EOF) break;
        fputc(c, out);
    }
    fclose(in);
    fclose(out);
}

/* Counts files in the tmp dir (a failed fetch leaves nothing). */
static int count_tmp(void)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "ls -A %s/tmp | wc -l", dir);
    FILE *p = popen(cmd, "r");
    int n = -1;
    if (p) {
        if (fscanf(p, "%d", &n) != 1) n = -1;
        pclose(p);
    }
    return n;
}

static sv_config cfg;
static job_ctx ctx;

/* One fetch of a local file. */
static int fetch(const char *path, uint64_t cap, const char *sum, int64_t size, restore_fetched *f, sv_err *e)
{
    restore_fetch_opts o = {.path = path, .tmp_dir = P("tmp"), .max_size = cap, .expect_sum = sum,
                            .expect_size = size, .expect_obj_size = -1};
    sv_err_clear(e);
    return restore_fetch(&ctx, &o, f, e);
}

static void test_fetch(void)
{
    restore_fetched f, g;
    sv_err e;
    char want[72];
    make_db(P("a.db"), 2000);
    /* plain */
    CHECK(fetch(P("a.db"), 1 << 30, NULL, -1, &f, &e) == 0);
    CHECK(!f.compressed);
    struct stat sb;
    stat(P("a.db"), &sb);
    CHECK_INT(f.size, sb.st_size);
    CHECK_STR(f.sum, f.obj_sum);
    memcpy(want, f.sum, sizeof want);
    restore_fetched_remove(&f);
    restore_fetched_remove(&f); /* twice is fine */
    /* zstd: same database checksum, different object checksum */
    zcompress_file(P("a.db"), P("a.zst"), 1, 0);
    CHECK(fetch(P("a.zst"), 1 << 30, want, sb.st_size, &g, &e) == 0);
    CHECK(g.compressed);
    CHECK_STR(g.sum, want);
    CHECK(strcmp(g.obj_sum, want) != 0);
    restore_validated v;
    CHECK(restore_validate(g.path, "eventlog", &v, &e) == 0);
    CHECK_INT(v.hdr.page_size, 4096);
    CHECK_INT(v.page_count * 4096, sb.st_size);
    CHECK(restore_validate(g.path, "eventlog, missing", &v, &e) != 0);
    CHECK(strstr(e.msg, "no table 'missing'") != NULL);
    /* the swap onto a new file in a new folder */
    sv_err_clear(&e);
    CHECK(restore_swap(g.path, P("live/x/live.db"), sv_clock_system(), 0, &e) == 0);
    {
        restore_validated lv;
        CHECK(restore_validate(P("live/x/live.db"), "eventlog", &lv, &e) == 0);
        CHECK_INT(lv.page_count, v.page_count);
    }
    /* install-by-rename where no database exists; not over an existing one */
    CHECK_INT(restore_install_new(g.path, P("live/y/new.db"), &e), 1);
    CHECK(access(g.path, F_OK) != 0);
    {
        restore_fetched h;
        CHECK(fetch(P("live/y/new.db"), 1 << 30, want, -1, &h, &e) == 0);
        CHECK_INT(restore_install_new(h.path, P("live/x/live.db"), &e), 0);
        CHECK(access(h.path, F_OK) == 0);
        restore_fetched_remove(&h);
    }
    restore_fetched_remove(&g);
    /* checksum and size mismatches */
    CHECK(fetch(P("a.zst"), 1 << 30, "sha256:00", -1, &f, &e) != 0);
    CHECK_INT(e.code, SV_ECHECKSUM);
    CHECK(fetch(P("a.zst"), 1 << 30, NULL, 12, &f, &e) != 0);
    CHECK_INT(e.code, SV_ECHECKSUM);
    /* truncated zstd */
    truncate_copy(P("a.zst"), P("t.zst"), (long)(sb.st_size / 8));
    CHECK(fetch(P("t.zst"), 1 << 30, NULL, -1, &f, &e) != 0);
    CHECK_INT(e.code, SV_ECORRUPT);
    /* caps: plain over the cap, zstd declaring too much, a bomb without a declared size */
    CHECK(fetch(P("a.db"), 4096, NULL, -1, &f, &e) != 0);
    CHECK_INT(e.code, SV_ETOOBIG);
    zcompress_file(NULL, P("bomb1.zst"), 1, 64u << 20);
    CHECK(fetch(P("bomb1.zst"), 1 << 20, NULL, -1, &f, &e) != 0);
    CHECK_INT(e.code, SV_ETOOBIG);
    CHECK(strstr(e.msg, "says it holds") != NULL);
    zcompress_file(NULL, P("bomb2.zst"), 0, 64u << 20);
    CHECK(fetch(P("bomb2.zst"), 1 << 20, NULL, -1, &f, &e) != 0);
    CHECK_INT(e.code, SV_ETOOBIG);
    CHECK(strstr(e.msg, "once decompressed") != NULL);
    /* not sqlite, empty, missing */
    FILE *t = fopen(P("text.db"), "w");
    fputs("just some text, not a database at all\n", t);
    fclose(t);
    CHECK(fetch(P("text.db"), 1 << 30, NULL, -1, &f, &e) != 0);
    CHECK_INT(e.code, SV_ECORRUPT);
    fclose(fopen(P("empty.db"), "w"));
    CHECK(fetch(P("empty.db"), 1 << 30, NULL, -1, &f, &e) != 0);
    CHECK_INT(e.code, SV_ECORRUPT);
    CHECK(fetch(P("missing.db"), 1 << 30, NULL, -1, &f, &e) != 0);
    CHECK_INT(e.code, SV_ENOTFOUND);
    CHECK_INT(count_tmp(), 0);
}

static void test_integrity(void)
{
    sqlite3 *db;
    int64_t root = 0;
    sqlite3_stmt *st;
    restore_validated v;
    sv_err e;
    make_db(P("c.db"), 5000);
    CHECK(sqlite3_open(P("c.db"), &db) == SQLITE_OK);
    CHECK(sqlite3_prepare_v2(db, "SELECT rootpage FROM sqlite_schema WHERE name='eventlog'", -1, &st, NULL) == 0);
    if (sqlite3_step(st) == SQLITE_ROW) root = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    /* scribble over the interior root page's cell pointers */
    int fd = open(P("c.db"), O_WRONLY);
    unsigned char junk[80];
    for (int i = 0; i < 80; i += 2) junk[i] = 0, junk[i + 1] = 7;
    CHECK(pwrite(fd, junk, sizeof junk, (off_t)(root - 1) * 4096 + 12) == (ssize_t)sizeof junk);
    close(fd);
    sv_err_clear(&e);
    CHECK(restore_validate(P("c.db"), NULL, &v, &e) != 0);
    CHECK_INT(e.code, SV_ECORRUPT);
    CHECK(strstr(e.msg, "integrity check: On tree page") != NULL);
    fprintf(stderr, "integrity failure reads: %s\n", e.msg);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/test_restore.%d", (int)getpid());
    mkdir(dir, 0700);
    cfg.max_db_size = 1 << 30;
    ctx.cfg = &cfg;
    ctx.clock = sv_clock_system();
    ctx.job_id = "test";
    test_header();
    test_parse_from();
    test_fetch();
    test_integrity();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (!tl_failures && system(cmd) != 0) fprintf(stderr, "cleanup failed\n");
    TEST_DONE();
}
