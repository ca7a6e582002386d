/* snapshot.c -- online snapshot with the SQLite backup API.
 *
 * The source is opened read-only on a connection of its own; a read
 * transaction is held for the whole copy, and the copy is one step, so the
 * snapshot is one consistent state of the database whatever other processes
 * commit meanwhile. The destination is a fresh temporary file with no journal
 * and no syncs: it is a scratch copy, streamed out and removed right after. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "snapshot.h"
#include "util.h"

/* The one classification of SQLite result codes. */
sv_code snapshot_classify(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED: return SV_EBUSY;
    case SQLITE_FULL: return SV_ENOSPC;
    case SQLITE_NOTADB:
    case SQLITE_CORRUPT: return SV_ECORRUPT;
    case SQLITE_CANTOPEN: return SV_ENOTFOUND;
    case SQLITE_NOMEM: return SV_ENOMEM;
    case SQLITE_TOOBIG: return SV_ETOOBIG;
    default: return SV_EIO;
    }
}

/* Runs a pragma returning one integer. */
static int pragma_int(sqlite3 *db, const char *sql, int64_t *out)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        *out = sqlite3_column_int64(st, 0);
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    return rc;
}

/* Removes path and every side file SQLite may have made next to it. */
static void remove_db_files(const char *path)
{
    static const char *const sides[] = {"-journal", "-wal", "-shm"};
    unlink(path);
    for (size_t i = 0; i < sizeof sides / sizeof sides[0]; i++) {
        char *side = sv_asprintf("%s%s", path, sides[i]);
        if (side) unlink(side);
        free(side);
    }
}

#define STALE_MS (15 * 60 * 1000)

/* Removes snapshots a killed process left in tmp_dir. A live snapshot is
 * written continuously until it is unlinked (right after the copy), so one
 * untouched for 15 minutes belongs to nobody. */
static void sweep_stale(const char *tmp_dir, const sv_clock *clock)
{
    DIR *d = opendir(tmp_dir);
    struct dirent *de;
    int64_t now = sv_now_ms(clock);
    if (!d) return;
    while ((de = readdir(d)) != NULL) {
        struct stat sb;
        char *p;
        if (strncmp(de->d_name, "snap-", 5) != 0) continue;
        p = sv_asprintf("%s/%s", tmp_dir, de->d_name);
        if (p && stat(p, &sb) == 0 && now - (int64_t)sb.st_mtime * 1000 > STALE_MS) unlink(p);
        free(p);
    }
    closedir(d);
}

/* Takes the snapshot (see snapshot.h). */
int snapshot_take(const char *db_path, const char *tmp_dir, const sv_clock *clock, uint64_t max_size,
                  snapshot_info *out, sv_err *err)
{
    sqlite3 *src = NULL, *dst = NULL;
    sqlite3_backup *bk = NULL;
    sqlite3_stmt *st = NULL;
    struct stat sb;
    char id[33];
    int64_t page_size = 0, page_count = 0;
    int rc, attempt;

    memset(out, 0, sizeof *out);
    if (stat(db_path, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        sv_err_set(err, SV_ENOTFOUND, "no database at '%s'", db_path);
        sv_err_hint(err, "check SQLVAULT_DATA_DIR or pass --db PATH");
        return -1;
    }
    if (sv_mkdirs(tmp_dir, err) != 0) return -1;
    sweep_stale(tmp_dir, clock);
    sv_random_id(clock, id);
    out->path = sv_asprintf("%s/snap-%.16s.db", tmp_dir, id);
    if (!out->path) return sv_err_set(err, SV_ENOMEM, "out of memory");

    rc = sqlite3_open_v2(db_path, &src, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        sv_err_set(err, snapshot_classify(rc), "unable to open '%s': %s", db_path,
                   src ? sqlite3_errmsg(src) : sqlite3_errstr(rc));
        goto fail;
    }
    sqlite3_busy_timeout(src, 10000);
    /* One read transaction for everything below: page count and copy agree. */
    rc = sqlite3_exec(src, "BEGIN", NULL, NULL, NULL);
    if (rc == SQLITE_OK) rc = pragma_int(src, "PRAGMA page_size", &page_size);
    if (rc == SQLITE_OK) rc = pragma_int(src, "PRAGMA page_count", &page_count);
    if (rc != SQLITE_OK) {
        sv_code c = snapshot_classify(rc);
        sv_err_set(err, c, "%s '%s': %s", c == SV_ECORRUPT ? "not a valid sqlite database:" : "unable to read",
                   db_path, sqlite3_errmsg(src));
        goto fail;
    }
    if ((uint64_t)page_size * (uint64_t)page_count > max_size) {
        char a[32], b[32];
        sv_err_set(err, SV_ETOOBIG, "database '%s' is %s, over the %s limit", db_path,
                   sv_human_size((uint64_t)page_size * (uint64_t)page_count, a, sizeof a),
                   sv_human_size(max_size, b, sizeof b));
        sv_err_hint(err, "raise SQLVAULT_MAX_DB_SIZE if this size is expected");
        goto fail;
    }
    if (sqlite3_prepare_v2(src, "PRAGMA journal_mode", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW) {
        const char *m = (const char *)sqlite3_column_text(st, 0);
        snprintf(out->journal_mode, sizeof out->journal_mode, "%s", m ? m : "");
    }
    sqlite3_finalize(st);
    st = NULL;

    rc = sqlite3_open_v2(out->path, &dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        sv_err_set(err, snapshot_classify(rc), "unable to create snapshot file in '%s': %s", tmp_dir,
                   dst ? sqlite3_errmsg(dst) : sqlite3_errstr(rc));
        goto fail;
    }
    sqlite3_exec(dst, "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF", NULL, NULL, NULL);
    bk = sqlite3_backup_init(dst, "main", src, "main");
    if (!bk) {
        sv_err_set(err, snapshot_classify(sqlite3_errcode(dst)), "unable to start the snapshot: %s",
                   sqlite3_errmsg(dst));
        goto fail;
    }
    /* One step copies everything; BUSY/LOCKED (a writer holding the lock in
     * rollback mode) is retried with backoff, everything else is final. */
    for (attempt = 0;; attempt++) {
        rc = sqlite3_backup_step(bk, -1);
        if (rc == SQLITE_DONE) break;
        if ((rc == SQLITE_BUSY || rc == SQLITE_LOCKED) && attempt < 20) {
            sv_sleep_ms(clock, sv_backoff_ms(clock, attempt, 10, 1000));
            continue;
        }
        sv_code c = snapshot_classify(rc);
        if (c == SV_ENOSPC) sv_err_set(err, c, "disk full while writing the snapshot in '%s'", tmp_dir);
        else if (c == SV_ECORRUPT) sv_err_set(err, c, "not a valid sqlite database: '%s': %s", db_path, sqlite3_errstr(rc));
        else sv_err_set(err, c, "snapshot of '%s' failed: %s", db_path, sqlite3_errstr(rc));
        goto fail;
    }
    rc = sqlite3_backup_finish(bk);
    bk = NULL;
    if (rc != SQLITE_OK) {
        sv_err_set(err, snapshot_classify(rc), "snapshot of '%s' failed: %s", db_path, sqlite3_errmsg(dst));
        goto fail;
    }
    rc = sqlite3_close(dst);
    dst = NULL;
    if (rc != SQLITE_OK) {
        sv_err_set(err, snapshot_classify(rc), "unable to close the snapshot: %s", sqlite3_errstr(rc));
        goto fail;
    }
    sqlite3_exec(src, "COMMIT", NULL, NULL, NULL);
    sqlite3_close(src);
    src = NULL;
    if (stat(out->path, &sb) != 0) {
        sv_err_set(err, SV_EIO, "snapshot file vanished: %s", strerror(errno));
        goto fail;
    }
    out->size = (uint64_t)sb.st_size;
    out->page_size = (int)page_size;
    out->page_count = out->size / (uint64_t)page_size;
    return 0;
fail:
    sqlite3_finalize(st);
    if (bk) sqlite3_backup_finish(bk);
    if (dst) sqlite3_close(dst);
    if (src) sqlite3_close(src);
    snapshot_remove(out);
    return -1;
}

/* Deletes the temporary file. */
void snapshot_remove(snapshot_info *s)
{
    if (!s->path) return;
    remove_db_files(s->path);
    free(s->path);
    s->path = NULL;
}
