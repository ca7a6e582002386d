/* fixture.h -- what the module tests share: a scratch directory removed at
 * the end, a seeded PRNG whose seed is printed first (SV_TEST_SEED=N replays
 * a run), a fake clock, a file:// store rooted in the scratch directory, and
 * small file and SQLite helpers. Header-only; everything is static inline so
 * a test that does not use a helper gets no warning. */
#ifndef SV_FIXTURE_H
#define SV_FIXTURE_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "clock.h"
#include "config.h"
#include "store.h"
#include "testlib.h"
#include "util.h"

#define FX_H 3600000LL
#define FX_D (24 * FX_H)

typedef struct fixture {
    char dir[256];          /* scratch directory, removed by fx_done */
    char store_root[300];   /* DIR/store: the file:// store's root */
    uint64_t rng;           /* xorshift64* state */
    sv_fake_clock fc;
    sv_config cfg;          /* data_dir DIR/data, tmp_dir DIR/tmp, the rest zero */
    store_t *store;
} fixture;

/* Seeds the PRNG from SV_TEST_SEED or the time and prints the seed. */
static inline uint64_t fx_seed(fixture *f, const char *test)
{
    const char *s = getenv("SV_TEST_SEED");
    uint64_t seed = s && *s ? strtoull(s, NULL, 10) : (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 20);
    printf("%s: seed %llu (replay with SV_TEST_SEED=%llu)\n", test, (unsigned long long)seed,
           (unsigned long long)seed);
    fflush(stdout);
    f->rng = seed ? seed : 0x9e3779b97f4a7c15ULL;
    return seed;
}

/* The next pseudo-random number (xorshift64*). */
static inline uint64_t fx_rand(fixture *f)
{
    f->rng ^= f->rng >> 12;
    f->rng ^= f->rng << 25;
    f->rng ^= f->rng >> 27;
    return f->rng * 2685821657736338717ULL;
}

/* A number in [lo, hi]. */
static inline int64_t fx_range(fixture *f, int64_t lo, int64_t hi)
{
    return lo + (int64_t)(fx_rand(f) % (uint64_t)(hi - lo + 1));
}

/* root/rel in one of eight rotating static buffers (shared by fx_path and
 * fx_key_path: copy a result that must outlive a few more calls). */
static inline const char *fx_join(const char *root, const char *rel)
{
    static char buf[8][700];
    static int i;
    i = (i + 1) % 8;
    snprintf(buf[i], sizeof buf[i], "%s/%s", root, rel);
    return buf[i];
}

/* DIR/rel (fx_join). */
static inline const char *fx_path(const fixture *f, const char *rel)
{
    return fx_join(f->dir, rel);
}

/* Files below dir, recursively, hidden ones included. */
static inline int fx_count_files(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int n = 0;
    if (!d) return 0;
    while ((de = readdir(d)) != NULL) {
        char p[900];
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        if (snprintf(p, sizeof p, "%s/%s", dir, de->d_name) >= (int)sizeof p) continue;
        if (de->d_type == DT_DIR) n += fx_count_files(p);
        else n++;
    }
    closedir(d);
    return n;
}

/* Writes a whole file, making its parent folders. */
static inline int fx_write(const char *path, const void *data, size_t n)
{
    char dir[600];
    sv_err e;
    const char *slash = strrchr(path, '/');
    int fd;
    ssize_t w;
    snprintf(dir, sizeof dir, "%.*s", (int)(slash ? slash - path : 0), path);
    if (dir[0] && sv_mkdirs(dir, &e) != 0) return -1;
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return -1;
    w = write(fd, data, n);
    close(fd);
    return w == (ssize_t)n ? 0 : -1;
}

/* Reads a whole file into a heap buffer (NUL-terminated); NULL if missing. */
static inline char *fx_read(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    char *buf = NULL;
    long n;
    if (!fp) return NULL;
    if (fseek(fp, 0, SEEK_END) == 0 && (n = ftell(fp)) >= 0 && fseek(fp, 0, SEEK_SET) == 0 &&
        (buf = malloc((size_t)n + 1)) != NULL) {
        if (fread(buf, 1, (size_t)n, fp) != (size_t)n) {
            free(buf);
            buf = NULL;
        } else {
            buf[n] = '\0';
            if (len) *len = (size_t)n;
        }
    }
    fclose(fp);
    return buf;
}

/* True when path exists. */
static inline bool fx_exists(const char *path)
{
    return access(path, F_OK) == 0;
}

/* Sets a file's mtime (ms since the epoch). */
static inline int fx_set_mtime(const char *path, int64_t ms)
{
    struct timespec ts[2];
    ts[0].tv_sec = ts[1].tv_sec = (time_t)(ms / 1000);
    ts[0].tv_nsec = ts[1].tv_nsec = (long)(ms % 1000) * 1000000L;
    return utimensat(AT_FDCWD, path, ts, 0);
}

/* Makes the scratch directory, the fake clock at now_ms and the file store. */
static inline void fx_init(fixture *f, const char *test, int64_t now_ms)
{
    sv_err e;
    memset(f, 0, sizeof *f);
    fx_seed(f, test);
    snprintf(f->dir, sizeof f->dir, "/tmp/sv-%s-XXXXXX", test);
    if (!mkdtemp(f->dir)) {
        fprintf(stderr, "%s: mkdtemp: %s\n", test, strerror(errno));
        exit(1);
    }
    snprintf(f->store_root, sizeof f->store_root, "%s/store", f->dir);
    sv_fake_clock_init(&f->fc, now_ms, fx_rand(f));
    f->cfg.data_dir = strdup(fx_path(f, "data"));
    f->cfg.tmp_dir = strdup(fx_path(f, "tmp"));
    f->cfg.zstd_level = 3;
    f->cfg.max_db_size = 1ULL << 30;
    f->cfg.retention = strdup("all:30d,daily:365d");
    f->cfg.max_attempts = 5;
    if (sv_mkdirs(f->cfg.data_dir, &e) != 0 || sv_mkdirs(f->cfg.tmp_dir, &e) != 0 ||
        sv_mkdirs(f->store_root, &e) != 0 || store_file_new(&f->cfg, &f->fc.clock, f->store_root, &f->store, &e) != 0) {
        fprintf(stderr, "%s: fixture: %s\n", test, e.msg);
        exit(1);
    }
}

/* nftw callback of fx_done. */
static inline int fx_rm(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(p);
}

/* Frees the store and the config strings and removes the scratch directory. */
static inline void fx_done(fixture *f)
{
    store_free(f->store);
    f->store = NULL;
    free(f->cfg.data_dir);
    free(f->cfg.tmp_dir);
    free(f->cfg.retention);
    f->cfg.data_dir = f->cfg.tmp_dir = f->cfg.retention = NULL;
    if (f->dir[0]) nftw(f->dir, fx_rm, 16, FTW_DEPTH | FTW_PHYS);
}

/* Path of a key in the file store (fx_join). */
static inline const char *fx_key_path(const fixture *f, const char *key)
{
    return fx_join(f->store_root, key);
}

/* Puts a small object (text) into the store; the test fails if it cannot. */
static inline void fx_put(fixture *f, const char *key, const char *text)
{
    sv_err e;
    if (store_put(f->store, key, text, strlen(text), NULL, &e) != 0) {
        fprintf(stderr, "fx_put %s: %s\n", key, e.msg);
        CHECK(0);
    }
}

/* Runs SQL on db; the test fails on an error. */
static inline void fx_sql(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        fprintf(stderr, "sql '%s': %s\n", sql, msg ? msg : "?");
        CHECK(0);
    }
    sqlite3_free(msg);
}

/* One integer from a query (-1 on error). */
static inline int64_t fx_sql_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    int64_t v = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* Creates a database at path in journal mode jm ("wal" or "delete") with
 * table t(id INTEGER PRIMARY KEY, v TEXT) holding rows rows of seeded random
 * text; returns the open connection (caller closes). */
static inline sqlite3 *fx_make_db(fixture *f, const char *path, const char *jm, int rows)
{
    sqlite3 *db = NULL;
    char sql[128];
    if (sqlite3_open(path, &db) != SQLITE_OK) {
        fprintf(stderr, "open %s: %s\n", path, sqlite3_errmsg(db));
        exit(1);
    }
    snprintf(sql, sizeof sql, "PRAGMA journal_mode=%s", jm);
    fx_sql(db, sql);
    fx_sql(db, "CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, v TEXT)");
    fx_sql(db, "BEGIN");
    for (int i = 0; i < rows; i++) {
        sqlite3_stmt *st = NULL;
        char v[64];
        int len = (int)fx_range(f, 1, (int64_t)sizeof v - 1);
        for (int k = 0; k < len; k++) v[k] = (char)('a' + fx_range(f, 0, 25));
        sqlite3_prepare_v2(db, "INSERT INTO t(v) VALUES (?)", -1, &st, NULL);
        sqlite3_bind_text(st, 1, v, len, SQLITE_TRANSIENT);
        if (sqlite3_step(st) != SQLITE_DONE) CHECK(0);
        sqlite3_finalize(st);
    }
    fx_sql(db, "COMMIT");
    return db;
}

#endif
