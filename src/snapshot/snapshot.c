/* snapshot.c -- online snapshot with the SQLite backup API.
 *
 * The source is opened read-only on a connection of its own; a read
 * transaction is held for the whole copy, and the copy is one step, so the
 * snapshot is one consistent state of the database whatever other processes
 * commit meanwhile. The destination is a fresh temporary file with no journal
 * and no syncs: it is a scratch copy, streamed out and removed right after. */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "snapshot.h"
#include "sqlerr.h"
#include "tmpsweep.h"
#include "util.h"

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

/* The main database file of src, as SQLite holds it open. Going through
 * SQLite's own handle matters: POSIX advisory locks belong to the process,
 * and closing any other descriptor of the database or its -shm file would
 * silently drop the read lock this snapshot depends on. */
static sqlite3_file *main_file(sqlite3 *src)
{
    sqlite3_file *f = NULL;
    if (sqlite3_file_control(src, "main", SQLITE_FCNTL_FILE_POINTER, &f) != SQLITE_OK) return NULL;
    return f && f->pMethods ? f : NULL;
}

/* Reads the wal-index header and checkpoint info through src's own mapping
 * of the -shm file (format: the SQLite WAL-index documentation): true when
 * the WAL holds no frame that is not yet in the main file (mxFrame ==
 * nBackfill). Both header copies must agree, else a writer is mid-update and
 * the answer is no. Called inside src's read transaction. */
static bool wal_fully_checkpointed(sqlite3 *src)
{
    sqlite3_file *f = main_file(src);
    volatile unsigned char *shm = NULL;
    unsigned char buf[136];
    uint32_t version, mx_frame, n_backfill;
    if (!f || f->pMethods->iVersion < 2 || !f->pMethods->xShmMap) return false;
    if (f->pMethods->xShmMap(f, 0, 32768, 0, (void volatile **)&shm) != SQLITE_OK || !shm) return false;
    for (int tries = 0; tries < 3; tries++) {
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        for (size_t i = 0; i < sizeof buf; i++) buf[i] = shm[i];
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        if (memcmp(buf, buf + 48, 48) != 0 || buf[12] != 1) continue; /* copies differ / not initialised */
        memcpy(&version, buf, 4);
        memcpy(&mx_frame, buf + 16, 4);
        memcpy(&n_backfill, buf + 96, 4);
        return version == 3007000 && mx_frame == n_backfill;
    }
    return false;
}

/* Reads up to n bytes of the snapshot at its current offset. */
ssize_t snapshot_read(snapshot_info *s, void *buf, size_t n)
{
    if (!s->direct) return read(s->fd, buf, n);
    sqlite3_file *f = main_file(s->hold);
    if (s->offset >= s->size) return 0;
    if (n > s->size - s->offset) n = (size_t)(s->size - s->offset);
    if (!f || f->pMethods->xRead(f, buf, (int)n, (sqlite3_int64)s->offset) != SQLITE_OK) {
        errno = EIO;
        return -1;
    }
    s->offset += n;
    return (ssize_t)n;
}

/* Reads exactly n bytes at off of the snapshot. */
int snapshot_pread(snapshot_info *s, void *buf, size_t n, uint64_t off)
{
    if (off > s->size || n > s->size - off) {
        errno = EINVAL;
        return -1;
    }
    if (s->direct) {
        sqlite3_file *f = main_file(s->hold);
        if (!f || f->pMethods->xRead(f, buf, (int)n, (sqlite3_int64)off) != SQLITE_OK) {
            errno = EIO;
            return -1;
        }
        return 0;
    }
    for (size_t done = 0; done < n;) {
        ssize_t r = pread(s->fd, (char *)buf + done, n - done, (off_t)(off + done));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            if (r == 0) errno = EIO;
            return -1;
        }
        done += (size_t)r;
    }
    return 0;
}

/* Back to the first byte. */
int snapshot_rewind(snapshot_info *s)
{
    if (s->direct) {
        s->offset = 0;
        return 0;
    }
    return lseek(s->fd, 0, SEEK_SET) == 0 ? 0 : -1;
}

/* What a fingerprint reads besides stat(): the database header's change
 * counter and the wal-index header (both copies), however they were read. */
typedef struct fp_raw {
    bool cc_ok;
    unsigned char cc[4];
    bool shm_present, shm_ok;
    unsigned char shm[96];
} fp_raw;

/* Appends to out (printf). */
static void fp_add(snapshot_fp *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fp_add(snapshot_fp *out, const char *fmt, ...)
{
    size_t n = strlen(out->text);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out->text + n, sizeof out->text - n, fmt, ap);
    va_end(ap);
}

/* Appends hex of n bytes, or "-". */
static void fp_hex(snapshot_fp *out, const unsigned char *b, size_t n, bool ok)
{
    if (!ok) {
        fp_add(out, "-");
        return;
    }
    for (size_t i = 0; i < n; i++) fp_add(out, "%02x", b[i]);
}

/* Appends "size:mtime_ns:inode" of path, or "-". With racy, an mtime less
 * than SNAPSHOT_FP_RACY_MS before now makes the fingerprint unstable: a file
 * system stamps mtimes from a coarse clock (a jiffy on ext4, a second or two
 * elsewhere), so a write in place right after this stat (a checkpoint into the
 * database file, which need not move its change counter in WAL mode) could
 * leave size and mtime as they are; as git does with its racily clean index
 * entries, such a fingerprint is not trusted, and the next backup reads the
 * pages instead. The -wal needs no such care: a commit grows it, and a WAL
 * that restarts from its first frame gets new salts. */
static void fp_stat(snapshot_fp *out, const char *path, bool racy)
{
    struct stat sb;
    struct timespec now;
    if (stat(path, &sb) != 0) {
        fp_add(out, "-");
        return;
    }
    if (racy && (clock_gettime(CLOCK_REALTIME, &now) != 0 ||
        (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000 -
                ((int64_t)sb.st_mtim.tv_sec * 1000 + sb.st_mtim.tv_nsec / 1000000) <
            SNAPSHOT_FP_RACY_MS))
        out->stable = false;
    fp_add(out, "%lld:%lld%09ld:%llu", (long long)sb.st_size, (long long)sb.st_mtim.tv_sec, sb.st_mtim.tv_nsec,
           (unsigned long long)sb.st_ino);
}

/* Reads exactly n bytes at off of path through a descriptor of our own. */
static bool fp_pread(const char *path, off_t off, void *buf, size_t n, bool *exists)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    bool ok;
    if (exists) *exists = fd >= 0;
    if (fd < 0) return false;
    ok = pread(fd, buf, n, off) == (ssize_t)n;
    close(fd);
    return ok;
}

/* Builds the fingerprint text from stat() of the files, the -wal's header
 * (read through our own descriptor: SQLite locks nothing in the -wal) and
 * what raw holds. */
static void fp_build(const char *db_path, const fp_raw *raw, snapshot_fp *out)
{
    char path[4096];
    unsigned char wal[12];
    bool ok;
    out->text[0] = '\0';
    out->stable = true;
    fp_add(out, "db=");
    fp_stat(out, db_path, true);
    fp_add(out, " cc=");
    fp_hex(out, raw->cc, 4, raw->cc_ok); /* the file change counter */
    snprintf(path, sizeof path, "%s-wal", db_path);
    fp_add(out, " wal=");
    fp_stat(out, path, false);
    fp_add(out, ":");
    ok = fp_pread(path, 12, wal, sizeof wal, NULL);
    fp_hex(out, wal, sizeof wal, ok); /* checkpoint sequence, salt-1, salt-2 */
    fp_add(out, " shm=");
    if (!raw->shm_present) {
        fp_add(out, "-");
    } else if (!raw->shm_ok) {
        fp_add(out, "short");
    } else {
        /* Both copies of the wal-index header agree, else a writer is mid-update. */
        if (memcmp(raw->shm, raw->shm + 48, 48) != 0) out->stable = false;
        fp_hex(out, raw->shm, 48, true); /* iVersion, iChange, isInit, mxFrame, nPage, checksums, salts */
    }
}

/* The fingerprint of db_path's files, read through descriptors of our own
 * (no connection of this process may be open: see snapshot.h). */
void snapshot_fingerprint(const char *db_path, snapshot_fp *out)
{
    char path[4096];
    fp_raw raw = {0};
    raw.cc_ok = fp_pread(db_path, 24, raw.cc, 4, NULL);
    snprintf(path, sizeof path, "%s-shm", db_path);
    raw.shm_ok = fp_pread(path, 0, raw.shm, sizeof raw.shm, &raw.shm_present);
    fp_build(db_path, &raw, out);
}

/* The same fingerprint while src is open (and not in a transaction): the
 * database header through src's own file handle and the wal-index header
 * through src's own mapping, because closing a descriptor of ours on either
 * file would drop src's POSIX locks. A -shm src has not mapped (rollback
 * mode) holds no lock of src's and is read as above. */
static void fingerprint_conn(sqlite3 *src, const char *db_path, snapshot_fp *out)
{
    sqlite3_file *f = main_file(src);
    volatile unsigned char *shm = NULL;
    fp_raw raw = {0};
    char path[4096];
    unsigned char hdr[28];
    bool wal = false;
    if (f && f->pMethods->xRead(f, hdr, sizeof hdr, 0) == SQLITE_OK) {
        raw.cc_ok = true;
        memcpy(raw.cc, hdr + 24, 4);
        wal = hdr[18] == 2; /* file format 2: WAL, so the first read mapped the -shm */
    }
    /* Only a WAL connection has the -shm mapped: xShmMap on another would
     * create one, and its mapping would never be released. */
    if (wal && f->pMethods->iVersion >= 2 && f->pMethods->xShmMap &&
        f->pMethods->xShmMap(f, 0, 32768, 0, (void volatile **)&shm) == SQLITE_OK && shm) {
        raw.shm_present = raw.shm_ok = true;
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        for (size_t i = 0; i < sizeof raw.shm; i++) raw.shm[i] = shm[i];
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
    } else {
        snprintf(path, sizeof path, "%s-shm", db_path);
        raw.shm_ok = fp_pread(path, 0, raw.shm, sizeof raw.shm, &raw.shm_present);
    }
    fp_build(db_path, &raw, out);
}

/* Backfills the WAL into the main file if no reader prevents it (what the
 * application's own auto-checkpoint would do), so a direct snapshot is
 * possible. Best effort: a read-only folder or a busy writer just means no. */
static void passive_checkpoint(const char *db_path)
{
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) == SQLITE_OK)
        sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    sqlite3_close(db);
}

/* Opens db_path read-only and begins a read transaction; fills page size,
 * count and journal mode. */
static int begin_read(const char *db_path, sqlite3 **out, int64_t *page_size, int64_t *page_count,
                      char journal_mode[16], snapshot_fp *fp, sv_err *err)
{
    sqlite3 *src = NULL;
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_open_v2(db_path, &src, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
    *out = NULL;
    if (rc != SQLITE_OK) {
        sv_err_set(err, sv_sqlite_classify(rc), "unable to open '%s': %s", db_path,
                   src ? sqlite3_errmsg(src) : sqlite3_errstr(rc));
        sqlite3_close(src);
        return -1;
    }
    sqlite3_busy_timeout(src, 10000);
    /* The fingerprint (snapshot.h) is taken before the read transaction
     * begins, so a commit in between is in the snapshot but not in the
     * fingerprint (the next backup looks at the pages: safe), never the
     * other way round. A first read before it lets this connection create
     * or attach the -wal and -shm, so the fingerprint sees the files as they
     * stay after the snapshot, and an idle workspace's next one matches. */
    sqlite3_exec(src, "PRAGMA schema_version", NULL, NULL, NULL);
    fingerprint_conn(src, db_path, fp);
    /* One read transaction for everything after: page count and bytes agree. */
    rc = sqlite3_exec(src, "BEGIN", NULL, NULL, NULL);
    if (rc == SQLITE_OK) rc = pragma_int(src, "PRAGMA page_size", page_size);
    if (rc == SQLITE_OK) rc = pragma_int(src, "PRAGMA page_count", page_count);
    if (rc != SQLITE_OK) {
        sv_code c = sv_sqlite_classify(rc);
        sv_err_set(err, c, "%s '%s': %s", c == SV_ECORRUPT ? "not a valid sqlite database:" : "unable to read",
                   db_path, sqlite3_errmsg(src));
        sqlite3_close(src);
        return -1;
    }
    journal_mode[0] = '\0';
    if (sqlite3_prepare_v2(src, "PRAGMA journal_mode", -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
        const char *m = (const char *)sqlite3_column_text(st, 0);
        snprintf(journal_mode, 16, "%s", m ? m : "");
    }
    sqlite3_finalize(st);
    *out = src;
    return 0;
}

/* Copies the state src's transaction sees into out->path with the backup API. */
static int copy_snapshot(sqlite3 *src, const char *db_path, const char *tmp_dir, const sv_clock *clock,
                         snapshot_info *out, sv_err *err)
{
    sqlite3 *dst = NULL;
    sqlite3_backup *bk = NULL;
    int rc, attempt;
    rc = sqlite3_open_v2(out->path, &dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        sv_err_set(err, sv_sqlite_classify(rc), "unable to create snapshot file in '%s': %s", tmp_dir,
                   dst ? sqlite3_errmsg(dst) : sqlite3_errstr(rc));
        goto fail;
    }
    sqlite3_exec(dst, "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF", NULL, NULL, NULL);
    bk = sqlite3_backup_init(dst, "main", src, "main");
    if (!bk) {
        sv_err_set(err, sv_sqlite_classify(sqlite3_errcode(dst)), "unable to start the snapshot: %s",
                   sqlite3_errmsg(dst));
        goto fail;
    }
    /* One step copies everything; BUSY/LOCKED is retried with backoff,
     * everything else is final. */
    for (attempt = 0;; attempt++) {
        rc = sqlite3_backup_step(bk, -1);
        if (rc == SQLITE_DONE) break;
        if (sv_sqlite_busy(rc) && attempt < 20) {
            sv_sleep_ms(clock, sv_backoff_ms(clock, attempt, 10, 1000));
            continue;
        }
        sv_code c = sv_sqlite_classify(rc);
        if (c == SV_ENOSPC) sv_err_set(err, c, "disk full while writing the snapshot in '%s'", tmp_dir);
        else if (c == SV_ECORRUPT) sv_err_set(err, c, "not a valid sqlite database: '%s': %s", db_path, sqlite3_errstr(rc));
        else sv_err_set(err, c, "snapshot of '%s' failed: %s", db_path, sqlite3_errstr(rc));
        goto fail;
    }
    rc = sqlite3_backup_finish(bk);
    bk = NULL;
    if (rc != SQLITE_OK) {
        sv_err_set(err, sv_sqlite_classify(rc), "snapshot of '%s' failed: %s", db_path, sqlite3_errmsg(dst));
        goto fail;
    }
    rc = sqlite3_close(dst);
    dst = NULL;
    if (rc != SQLITE_OK) {
        sv_err_set(err, sv_sqlite_classify(rc), "unable to close the snapshot: %s", sqlite3_errstr(rc));
        goto fail;
    }
    return 0;
fail:
    if (bk) sqlite3_backup_finish(bk);
    if (dst) sqlite3_close(dst);
    return -1;
}

/* Takes the snapshot (see snapshot.h). */
int snapshot_take(const char *db_path, const char *tmp_dir, const sv_clock *clock, uint64_t max_size,
                  bool allow_direct, snapshot_info *out, sv_err *err)
{
    sqlite3 *src = NULL;
    struct stat sb;
    char id[33];
    int64_t page_size = 0, page_count = 0;

    memset(out, 0, sizeof *out);
    out->fd = -1;
    if (stat(db_path, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        sv_err_set(err, SV_ENOTFOUND, "no database at '%s'", db_path);
        sv_err_hint(err, "check SQLVAULT_DATA_DIR or pass --db PATH");
        return -1;
    }
    sv_tmp_sweep(tmp_dir, clock);
    if (begin_read(db_path, &src, &page_size, &page_count, out->journal_mode, &out->fp, err) != 0) goto fail;
    if ((uint64_t)page_size * (uint64_t)page_count > max_size) {
        char a[32], b[32];
        sv_err_set(err, SV_ETOOBIG, "database '%s' is %s, over the %s limit", db_path,
                   sv_human_size((uint64_t)page_size * (uint64_t)page_count, a, sizeof a),
                   sv_human_size(max_size, b, sizeof b));
        sv_err_hint(err, "raise SQLVAULT_MAX_DB_SIZE if this size is expected");
        goto fail;
    }
    out->page_size = (int)page_size;
    out->page_count = page_count;
    out->size = (uint64_t)page_size * (uint64_t)page_count;

    /* Direct: only in WAL mode (in rollback mode the shared lock would hold
     * writers off for the whole upload; the copy holds it for less). The
     * check runs inside our read transaction: nBackfill can never pass our
     * read mark while we hold it, so "the WAL is fully backfilled" now means
     * the main file holds exactly our snapshot, and keeps holding it. */
    if (allow_direct && strcmp(out->journal_mode, "wal") == 0) {
        if (!wal_fully_checkpointed(src)) {
            sqlite3_exec(src, "COMMIT", NULL, NULL, NULL);
            sqlite3_close(src);
            src = NULL;
            passive_checkpoint(db_path);
            if (begin_read(db_path, &src, &page_size, &page_count, out->journal_mode, &out->fp, err) != 0)
                goto fail;
            out->page_size = (int)page_size;
            out->page_count = page_count;
            out->size = (uint64_t)page_size * (uint64_t)page_count;
        }
        sqlite3_file *f = main_file(src);
        sqlite3_int64 fsize = 0;
        if (strcmp(out->journal_mode, "wal") == 0 && wal_fully_checkpointed(src) && f &&
            f->pMethods->xFileSize(f, &fsize) == SQLITE_OK && (uint64_t)fsize >= out->size) {
            out->direct = true;
            out->hold = src;
            return 0;
        }
    }

    if (sv_mkdirs(tmp_dir, err) != 0) goto fail;
    sv_random_id(clock, id);
    out->path = sv_asprintf("%s/snap-%ld-%.16s.db", tmp_dir, (long)getpid(), id);
    if (!out->path) {
        sv_err_set(err, SV_ENOMEM, "out of memory");
        goto fail;
    }
    if (copy_snapshot(src, db_path, tmp_dir, clock, out, err) != 0) goto fail;
    sqlite3_exec(src, "COMMIT", NULL, NULL, NULL);
    sqlite3_close(src);
    src = NULL;
    out->fd = open(out->path, O_RDONLY | O_CLOEXEC);
    if (out->fd < 0 || fstat(out->fd, &sb) != 0) {
        sv_err_set(err, SV_EIO, "unable to open the snapshot: %s", strerror(errno));
        goto fail;
    }
    /* The file is ours alone; unlinking it now means no later path can leave it behind. */
    sv_unlink_db(out->path);
    free(out->path);
    out->path = NULL;
    out->size = (uint64_t)sb.st_size;
    out->page_count = (int64_t)(out->size / (uint64_t)page_size);
    return 0;
fail:
    if (src) sqlite3_close(src);
    snapshot_release(out);
    return -1;
}

/* Ends the read transaction, closes fd, removes any temporary file. */
void snapshot_release(snapshot_info *s)
{
    if (s->hold) {
        sqlite3_exec(s->hold, "COMMIT", NULL, NULL, NULL);
        sqlite3_close(s->hold);
        s->hold = NULL;
    }
    if (s->fd >= 0) close(s->fd);
    s->fd = -1;
    if (s->path) {
        sv_unlink_db(s->path);
        free(s->path);
        s->path = NULL;
    }
}
