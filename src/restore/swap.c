/* swap.c -- putting a validated database onto the live file.
 *
 * The SQLite backup API copies the source into the live database as one
 * write transaction on an ordinary read-write connection. Other processes'
 * open connections therefore see the new content at their next transaction
 * (in WAL mode the copy goes through the WAL like any commit; readers in the
 * middle of a transaction finish on the old snapshot). A writer that holds
 * the lock makes the step return BUSY: we wait with backoff; a writer that
 * arrives during the copy waits on its own busy timeout and then carries on
 * against the new content. Nothing here renames or truncates a live file
 * under anyone's feet: restore_install_new renames only onto a name where no
 * database (nor a -wal, -shm or -journal of one) exists. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "internal.h"
#include "restore.h"
#include "sqlerr.h"
#include "util.h"

#define SWAP_BUSY_TOTAL_MS 30000

/* mkdir -p of path's directory. */
static int make_parent(const char *path, sv_err *err)
{
    char *dir = sv_strdup(path), *slash;
    int rc = 0;
    if (!dir) return sv_err_set(err, SV_ENOMEM, "out of memory");
    slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = '\0';
        rc = sv_mkdirs(dir, err);
    }
    free(dir);
    return rc;
}

/* Runs the backup from src to dst in one step, waiting out locks for up to
 * busy_ms (<= 0: SWAP_BUSY_TOTAL_MS; the tests set less, so a held write
 * lock fails fast). */
static int copy_all(sqlite3 *src, sqlite3 *dst, const sv_clock *clock, int64_t busy_ms, sv_err *err)
{
    int64_t t0 = sv_mono_ms(clock), total = busy_ms > 0 ? busy_ms : SWAP_BUSY_TOTAL_MS;
    for (int attempt = 0;; attempt++) {
        sqlite3_backup *bk = sqlite3_backup_init(dst, "main", src, "main");
        int rc, frc;
        if (!bk) return restore_sql_fail(dst, sqlite3_errcode(dst), "starting the copy onto the live database", err);
        rc = sqlite3_backup_step(bk, -1);
        frc = sqlite3_backup_finish(bk);
        if (rc == SQLITE_DONE && frc == SQLITE_OK) return 0;
        if (rc == SQLITE_DONE) rc = frc;
        if (sv_sqlite_busy(rc) && sv_mono_ms(clock) - t0 < total) {
            sv_sleep_ms(clock, sv_backoff_ms(clock, attempt < 10 ? attempt : 10, 20, 1000));
            continue;
        }
        if (sv_sqlite_busy(rc)) {
            sv_err_set(err, SV_EBUSY, "the live database stayed locked for %lld ms", (long long)total);
            return sv_err_hint(err, "another process holds a long write transaction; retry when it is done");
        }
        if (rc == SQLITE_READONLY)
            return sv_err_set(err, SV_EIO, "unable to write the live database: it is read-only, or in WAL mode "
                              "with a different page size than the restored file");
        sv_code c = sv_sqlite_classify(rc);
        return sv_err_set(err, c == SV_ENOTFOUND ? SV_EIO : c, "copying onto the live database failed: %s",
                          sqlite3_errstr(rc));
    }
}

/* Checks that dst holds what src holds: page count and schema size. */
static int check_copy(sqlite3 *src, sqlite3 *dst, sv_err *err)
{
    int64_t ps = 0, pd = 0, ss = 0, sd = 0;
    const char *q = "SELECT count(*) FROM sqlite_schema";
    if (restore_query_int(src, "PRAGMA page_count", &ps, err) != 0 ||
        restore_query_int(dst, "PRAGMA page_count", &pd, err) != 0 || restore_query_int(src, q, &ss, err) != 0 ||
        restore_query_int(dst, q, &sd, err) != 0)
        return sv_err_wrap(err, "checking the restored database");
    if (ps != pd || ss != sd)
        return sv_err_set(err, SV_EIO, "the restored database does not match its source (%lld/%lld pages, "
                          "%lld/%lld schema entries)", (long long)pd, (long long)ps, (long long)sd, (long long)ss);
    return 0;
}

/* Copies src_path onto dst_path (see restore.h). */
int restore_swap(const char *src_path, const char *dst_path, const sv_clock *clock, int64_t busy_ms, sv_err *err)
{
    sqlite3 *src = NULL, *dst = NULL;
    bool wal = false;
    int rc;

    if (make_parent(dst_path, err) != 0) return -1;
    if (restore_open_ro(src_path, &src, err) != 0) return -1;
    rc = sqlite3_open_v2(dst_path, &dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        sv_err_set(err, sv_sqlite_classify(rc) == SV_ENOSPC ? SV_ENOSPC : SV_EIO, "unable to open the live database "
                   "'%s': %s", dst_path, dst ? sqlite3_errmsg(dst) : sqlite3_errstr(rc));
        goto fail;
    }
    sqlite3_busy_timeout(dst, 5000);
    {
        /* In WAL mode the WAL is synced before the checkpoint below, so syncing
         * it at the copy's commit too (FULL) buys nothing but a second flush of
         * the whole database. Rollback-journal databases keep FULL. */
        sqlite3_stmt *st = NULL;
        if (sqlite3_prepare_v2(dst, "PRAGMA journal_mode", -1, &st, NULL) == SQLITE_OK &&
            sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
            wal = strcmp((const char *)sqlite3_column_text(st, 0), "wal") == 0;
        sqlite3_finalize(st);
        if (wal) sqlite3_exec(dst, "PRAGMA synchronous=NORMAL", NULL, NULL, NULL);
    }
    if (copy_all(src, dst, clock, busy_ms, err) != 0) goto fail;
    if (check_copy(src, dst, err) != 0) goto fail;
    /* Make the copy durable now, as far as readers on older snapshots allow;
     * the rest is checkpointed by whoever closes last, the WAL being synced. */
    if (wal) sqlite3_exec(dst, "PRAGMA wal_checkpoint(PASSIVE)", NULL, NULL, NULL);
    sqlite3_close(src);
    rc = sqlite3_close(dst);
    if (rc != SQLITE_OK) return sv_err_set(err, SV_EIO, "closing the live database: %s", sqlite3_errstr(rc));
    return 0;
fail:
    sqlite3_close(src);
    sqlite3_close(dst);
    return -1;
}

/* True if path exists (any type). */
static bool exists(const char *path, const char *suffix)
{
    struct stat sb;
    char *p = sv_asprintf("%s%s", path, suffix);
    bool yes = p && lstat(p, &sb) == 0;
    free(p);
    return yes;
}

/* Moves a validated file into place where there is no database yet (see restore.h). */
int restore_install_new(const char *src_path, const char *dst_path, sv_err *err)
{
    char *dir;
    int fd;
    if (make_parent(dst_path, err) != 0) return -1;
    if (exists(dst_path, "") || exists(dst_path, "-wal") || exists(dst_path, "-shm") || exists(dst_path, "-journal"))
        return 0;
    fd = open(src_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return sv_err_set(err, SV_EIO, "unable to open '%s': %s", src_path, strerror(errno));
    if (fchmod(fd, 0644) != 0 || fsync(fd) != 0) {
        int e = errno;
        close(fd);
        return sv_err_set(err, e == ENOSPC ? SV_ENOSPC : SV_EIO, "unable to sync '%s': %s", src_path, strerror(e));
    }
    close(fd);
    if (renameat2(AT_FDCWD, src_path, AT_FDCWD, dst_path, RENAME_NOREPLACE) != 0) {
        if (errno == EEXIST || errno == EXDEV || errno == EINVAL || errno == ENOSYS) return 0;
        return sv_err_set(err, SV_EIO, "unable to move the restored database to '%s': %s", dst_path, strerror(errno));
    }
    dir = sv_strdup(dst_path);
    if (dir && strrchr(dir, '/')) {
        *strrchr(dir, '/') = '\0';
        if (sv_fsync_dir(*dir ? dir : "/", err) != 0) {
            free(dir);
            return -1;
        }
    }
    free(dir);
    return 1;
}
