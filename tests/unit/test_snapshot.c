/* test_snapshot.c -- snapshots of real SQLite files in a scratch directory:
 * direct mode for a checkpointed WAL database, copy mode otherwise or when
 * asked; the bytes read back are a valid database holding exactly the rows
 * committed before the snapshot, even when writers commit and checkpoint
 * after it; missing, non-SQLite and oversized sources fail with their codes
 * and leave nothing in the temporary folder; the SQLite error classifier on a
 * table. */
#include "fixture.h"
#include "snapshot.h"
#include "sqlerr.h"

/* Reads the whole snapshot into path; returns the bytes read. */
static uint64_t drain(snapshot_info *s, const char *path)
{
    unsigned char buf[7000]; /* not a page multiple: reads cross page edges */
    uint64_t total = 0;
    ssize_t n;
    FILE *fp = fopen(path, "wb");
    if (!fp) return 0;
    while ((n = snapshot_read(s, buf, sizeof buf)) > 0) {
        if (fwrite(buf, 1, (size_t)n, fp) != (size_t)n) break;
        total += (uint64_t)n;
    }
    CHECK(n == 0);
    fclose(fp);
    return total;
}

/* Row count and integrity of the database at path. */
static void check_copy(const char *path, int64_t rows)
{
    sqlite3 *db = NULL;
    CHECK(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK);
    CHECK_INT(fx_sql_int(db, "SELECT count(*) FROM t"), rows);
    {
        sqlite3_stmt *st = NULL;
        const unsigned char *r = NULL;
        if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL) == SQLITE_OK &&
            sqlite3_step(st) == SQLITE_ROW)
            r = sqlite3_column_text(st, 0);
        CHECK_STR((const char *)r, "ok");
        sqlite3_finalize(st);
    }
    sqlite3_close(db);
}

/* Files in the temporary folder. */
static int tmp_files(fixture *f)
{
    int n = 0;
    DIR *d = opendir(f->cfg.tmp_dir);
    struct dirent *de;
    if (!d) return 0;
    while ((de = readdir(d)) != NULL)
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) n++;
    closedir(d);
    return n;
}

/* One database through one mode: the snapshot holds the rows before it,
 * whatever is committed (and checkpointed) while it is held. */
static void test_mode(fixture *f, const char *jm, bool allow_direct, bool want_direct)
{
    char name[64];
    snapshot_info s = {.fd = -1};
    sv_err e;
    int rows = (int)fx_range(f, 50, 3000);
    snprintf(name, sizeof name, "src-%s-%d.db", jm, allow_direct);
    char src[700];
    snprintf(src, sizeof src, "%s", fx_path(f, name)); /* fx_path's buffers rotate */
    sqlite3 *db = fx_make_db(f, src, jm, rows);
    if (strcmp(jm, "wal") == 0) fx_sql(db, "PRAGMA wal_checkpoint(TRUNCATE)");
    int64_t pages = fx_sql_int(db, "PRAGMA page_count"), psize = fx_sql_int(db, "PRAGMA page_size");

    sv_err_clear(&e);
    CHECK(snapshot_take(src, f->cfg.tmp_dir, &f->fc.clock, f->cfg.max_db_size, allow_direct, &s, &e) == 0);
    if (e.msg[0]) fprintf(stderr, "snapshot_take: %s\n", e.msg);
    CHECK_INT(s.direct, want_direct);
    CHECK_STR(s.journal_mode, jm);
    CHECK_INT(s.page_size, psize);
    CHECK_INT(s.page_count, pages);
    CHECK_INT(s.size, (uint64_t)(pages * psize));
    if (!want_direct) CHECK(s.fd >= 0);
    /* Writers go on: more rows, a checkpoint (WAL), new pages. */
    fx_sql(db, "BEGIN");
    for (int i = 0; i < 200; i++) fx_sql(db, "INSERT INTO t(v) VALUES (hex(randomblob(100)))");
    fx_sql(db, "COMMIT");
    if (strcmp(jm, "wal") == 0) fx_sql(db, "PRAGMA wal_checkpoint(PASSIVE)");
    CHECK_INT(fx_sql_int(db, "SELECT count(*) FROM t"), rows + 200);
    {
        char out[700];
        snprintf(out, sizeof out, "%s", fx_path(f, "out.db"));
        CHECK_INT(drain(&s, out), s.size);
        snapshot_release(&s);
        snapshot_release(&s); /* twice is safe */
        check_copy(out, rows);
        unlink(out);
    }
    CHECK_INT(tmp_files(f), 0);
    /* With the snapshot released, a full checkpoint goes through. */
    if (strcmp(jm, "wal") == 0) CHECK_INT(fx_sql_int(db, "PRAGMA wal_checkpoint(TRUNCATE)"), 0);
    sqlite3_close(db);
}

/* Failures: their codes, and nothing left behind. */
static void test_failures(fixture *f)
{
    snapshot_info s = {.fd = -1};
    sv_err e;
    /* no such database */
    CHECK(snapshot_take(fx_path(f, "none/livestore.db"), f->cfg.tmp_dir, &f->fc.clock, f->cfg.max_db_size, true,
                        &s, &e) == -1);
    CHECK_INT(e.code, SV_ENOTFOUND);
    snapshot_release(&s);
    /* random bytes are not SQLite */
    {
        unsigned char junk[8192];
        for (size_t i = 0; i < sizeof junk; i++) junk[i] = (unsigned char)fx_rand(f);
        CHECK(fx_write(fx_path(f, "junk.db"), junk, sizeof junk) == 0);
        CHECK(snapshot_take(fx_path(f, "junk.db"), f->cfg.tmp_dir, &f->fc.clock, f->cfg.max_db_size, true, &s, &e) ==
              -1);
        CHECK_INT(e.code, SV_ECORRUPT);
        snapshot_release(&s);
    }
    /* over the size cap, in both modes */
    for (int direct = 0; direct <= 1; direct++) {
        char p[700];
        snprintf(p, sizeof p, "%s", fx_path(f, direct ? "big-wal.db" : "big-del.db"));
        sqlite3 *db = fx_make_db(f, p, direct ? "wal" : "delete", 2000);
        if (direct) fx_sql(db, "PRAGMA wal_checkpoint(TRUNCATE)");
        CHECK(snapshot_take(p, f->cfg.tmp_dir, &f->fc.clock, 4096, direct, &s, &e) == -1);
        CHECK_INT(e.code, SV_ETOOBIG);
        snapshot_release(&s);
        sqlite3_close(db);
    }
    CHECK_INT(tmp_files(f), 0);
    /* the original junk file is untouched by the failed attempt */
    {
        size_t len = 0;
        char *back = fx_read(fx_path(f, "junk.db"), &len);
        CHECK(back != NULL && len == 8192);
        free(back);
    }
}

/* The one SQLite error classifier. */
static void test_classify(void)
{
    static const struct {
        int rc;
        sv_code want;
    } t[] = {
        {SQLITE_BUSY, SV_EBUSY},         {SQLITE_LOCKED, SV_EBUSY},          {SQLITE_BUSY_SNAPSHOT, SV_EBUSY},
        {SQLITE_FULL, SV_ENOSPC},        {SQLITE_NOTADB, SV_ECORRUPT},       {SQLITE_CORRUPT, SV_ECORRUPT},
        {SQLITE_CANTOPEN, SV_ENOTFOUND}, {SQLITE_IOERR, SV_EIO},             {SQLITE_IOERR_READ, SV_EIO},
        {SQLITE_ERROR, SV_EIO},          {SQLITE_NOMEM, SV_ENOMEM},          {SQLITE_TOOBIG, SV_ETOOBIG},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) CHECK_INT(sv_sqlite_classify(t[i].rc), t[i].want);
}

/* A fingerprint is a stat, and trusted only once the files' mtimes are older
 * than the coarse clock that stamps them could hide a commit in. */
static void test_fingerprint(fixture *f)
{
    const char *path = fx_path(f, "fp.db");
    struct timespec old[2];
    snapshot_fp a, b, c;
    sqlite3 *db = fx_make_db(f, path, "delete", 20);
    sqlite3_close(db);
    snapshot_fingerprint(path, &a);
    CHECK(!a.stable); /* just written */
    clock_gettime(CLOCK_REALTIME, &old[0]);
    old[0].tv_sec -= 10;
    old[1] = old[0];
    CHECK(utimensat(AT_FDCWD, path, old, 0) == 0);
    snapshot_fingerprint(path, &a);
    snapshot_fingerprint(path, &b);
    CHECK(a.stable && b.stable);
    CHECK_STR(a.text, b.text);
    /* a commit that keeps the size: the change counter and the mtime move */
    db = NULL;
    CHECK(sqlite3_open(path, &db) == SQLITE_OK);
    fx_sql(db, "UPDATE t SET v = 'x' WHERE id = 1");
    sqlite3_close(db);
    snapshot_fingerprint(path, &c);
    CHECK(strcmp(a.text, c.text) != 0);
    CHECK(!c.stable);
}

int main(void)
{
    fixture f;
    fx_init(&f, "test_snapshot", 1767225600000LL);
    test_mode(&f, "wal", true, true);     /* checkpointed WAL: the live file itself */
    test_mode(&f, "wal", false, false);   /* the copy, when asked */
    test_mode(&f, "delete", true, false); /* rollback journal: always the copy */
    test_failures(&f);
    test_fingerprint(&f);
    test_classify();
    fx_done(&f);
    TEST_DONE();
}
