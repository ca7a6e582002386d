/* delta.c -- delta restore (issue 26): rewrite only the pages that differ.
 *
 * When the live file is a sound single-file database of the target's page
 * size and the target backup is page-addressable (seek.h), a restore reads
 * the target in place (travel.h) instead of downloading all of it:
 *  1. Before the pause: the target's page hash prefixes (one range GET of
 *     the base's hashes, one per link) into an unlinked temporary file.
 *  2. In the pause: the WAL is checkpointed into the file; the pre-restore
 *     backup is taken at once (an incremental on the chain's head: the
 *     safety copy, committed before anything is written), and its chain
 *     state gives the live file's page hashes (XXH3-128) without another
 *     read of the file. Pages whose hash prefix differs from the target's,
 *     and pages past the live file's end, are fetched (one range GET per
 *     frame holding them), each checked against the target's hash, into a
 *     patch file. The result's state checksum (the live hashes of the kept
 *     pages, the fetched pages' own) must equal the target's stateChecksum
 *     before the live file is touched.
 *  3. The write is SQLite's own atomic commit: the old content of every page
 *     rewritten or cut off goes to a rollback journal (DB-journal, SQLite's
 *     format, synced) before the file is written, synced, and the journal
 *     deleted. A process killed in between leaves a hot journal, which the
 *     next opener of the database -- SQLite anywhere, sqlvault included --
 *     rolls back: the database is the old one whole, or the new one whole.
 *     SQLite's lock bytes are held while the file is written. When the
 *     new page 1 would leave the file's change counter as it was, it is
 *     moved on, as a commit moves it (new_page1): the only bytes that then
 *     differ from the target's, so that an idle rollback-mode connection
 *     elsewhere drops its cache.
 * Anything that does not fit (no page index, another page size, a damaged
 * or missing live file, a WAL that does not checkpoint, another process
 * having the file open -- in WAL mode every open connection holds a shared
 * lock, and its page cache would not see pages written under it -- or the
 * file written after its hashes were taken, a backup that cannot be read
 * in place: a damaged frame, a page that is not its hash) takes the full
 * path, the live file untouched; so do `restore --no-delta` and
 * `--require-table`. A chain state that is not
 * the live file's only means the file is hashed.
 * Memory: the frames cache (SQLVAULT_QUERY_CACHE), the differing pages'
 * numbers and hashes (20 bytes each), bounded buffers. */
#include <errno.h>
#include <fcntl.h>
#include <openssl/rand.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "backup.h"
#include "chain.h"
#include "crypto.h"
#include "internal.h"
#include "log.h"
#include "metrics/metrics.h"
#include "restore.h"
#include "snapshot.h"
#include "travel.h"
#include "util.h"

#define LOCK_FIRST 0x40000000 /* SQLite's pending byte; reserved and shared bytes follow */
#define LOCK_LEN 512
#define JOURNAL_SECTOR 512
#define IO_CHUNK (1024 * 1024)

static const unsigned char JOURNAL_MAGIC[8] = {0xd9, 0xd5, 0x05, 0xf9, 0x20, 0xa1, 0x63, 0xd7};

/* What says the live file was not written: its stat and its header's file
 * change counter (a rollback-mode commit moves it; a WAL-mode commit grows
 * the -wal instead, which must stay empty). */
typedef struct live_sig {
    uint64_t size, ino;
    int64_t mtime_ns;
    unsigned char cc[4];
} live_sig;

typedef struct delta_run {
    job_ctx *ctx;
    const char *live;
    travel_point *tp;
    uint32_t ps, nt, nl;      /* page size, target and live page counts */
    int hfd;                  /* the target's hash prefixes, 8 bytes per page */
    uint32_t *pg;             /* pages to write, ascending */
    unsigned char *h16;       /* their new hashes, 16 bytes each */
    size_t n, cap;
    int pfd;                  /* the patch: the new pages, in pg's order */
    uint64_t fetched_before_req, fetched_before_bytes;
    const backup_outcome *bo; /* the pre-restore backup, taken in the pause */
    unsigned char *p1;        /* page 1 as written when its change counter was moved (new_page1) */
    live_sig sig;             /* the live file when its hashes were taken */
} delta_run;

/* ---- small I/O helpers -------------------------------------------------- */

static int pwrite_all(int fd, const void *buf, size_t n, uint64_t off, sv_err *err)
{
    const unsigned char *p = buf;
    while (n > 0) {
        ssize_t w = pwrite(fd, p, n, (off_t)off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return sv_err_set(err, errno == ENOSPC ? SV_ENOSPC : SV_EIO, "write: %s", strerror(errno));
        p += w;
        n -= (size_t)w;
        off += (uint64_t)w;
    }
    return 0;
}

static int pread_all(int fd, void *buf, size_t n, uint64_t off, sv_err *err)
{
    unsigned char *p = buf;
    while (n > 0) {
        ssize_t r = pread(fd, p, n, (off_t)off);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return sv_err_set(err, SV_EIO, "read: %s", r < 0 ? strerror(errno) : "short file");
        p += r;
        n -= (size_t)r;
        off += (uint64_t)r;
    }
    return 0;
}

static int tmpfile_in(const char *dir, int *fd, sv_err *err)
{
    if (sv_mkdirs(dir, err) != 0) return -1;
    *fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (*fd < 0) return sv_err_set(err, SV_EIO, "unable to make a temporary file in %s: %s", dir, strerror(errno));
    return 0;
}

/* The folder of path (heap). */
static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? sv_asprintf("%.*s", (int)(slash - path), path) : sv_strdup(".");
}

/* The signature of the file open as fd. */
static int sig_of_fd(int fd, live_sig *out)
{
    struct stat sb;
    if (fstat(fd, &sb) != 0 || pread(fd, out->cc, sizeof out->cc, 24) != (ssize_t)sizeof out->cc) return -1;
    out->size = (uint64_t)sb.st_size;
    out->ino = (uint64_t)sb.st_ino;
    out->mtime_ns = (int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec;
    return 0;
}

static bool sig_eq(const live_sig *a, const live_sig *b)
{
    return a->size == b->size && a->ino == b->ino && a->mtime_ns == b->mtime_ns && memcmp(a->cc, b->cc, 4) == 0;
}

/* The signature of the file at path (opened and closed: only while this
 * process holds no lock on it and no SQLite connection to it). */
static int sig_of_path(const char *path, live_sig *out)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC), rc;
    if (fd < 0) return -1;
    rc = sig_of_fd(fd, out);
    close(fd);
    return rc;
}

/* True when path's -wal is missing or empty: the file alone is the database. */
static bool wal_empty(const char *path)
{
    char *wal = sv_asprintf("%s-wal", path);
    struct stat sb;
    bool empty = wal && (stat(wal, &sb) != 0 ? errno == ENOENT : sb.st_size == 0);
    free(wal);
    return empty;
}

/* True when some other process holds a SQLite lock on the file, as every
 * connection in WAL mode does as long as it is open (a shared lock): its
 * page cache would not see pages written under it. Only while this process
 * holds no lock on it and no SQLite connection to it (the descriptor is
 * closed). */
static bool locked_elsewhere(const char *path)
{
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = LOCK_FIRST, .l_len = LOCK_LEN};
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    bool held;
    if (fd < 0) return false; /* the header was read a moment ago: the write's own checks answer */
    held = fcntl(fd, F_GETLK, &fl) != 0 || fl.l_type != F_UNLCK;
    close(fd);
    return held;
}

/* ---- phase 1: the target's hashes ------------------------------------- */

typedef struct hash_out {
    int fd;
    unsigned char buf[64 * 1024];
    size_t len;
    uint64_t off;
} hash_out;

static int hash_flush(hash_out *o, sv_err *err)
{
    if (pwrite_all(o->fd, o->buf, o->len, o->off, err) != 0) return -1;
    o->off += o->len;
    o->len = 0;
    return 0;
}

static int hash_sink(void *ud, uint32_t pgno, const unsigned char *h, sv_err *err)
{
    hash_out *o = ud;
    (void)pgno;
    if (o->len + SEEK_HASH_LEN > sizeof o->buf && hash_flush(o, err) != 0) return -1;
    memcpy(o->buf + o->len, h, SEEK_HASH_LEN);
    o->len += SEEK_HASH_LEN;
    return 0;
}

/* ---- the live file ------------------------------------------------------ */

/* The live file's page size from its header, 0 when it is no database. */
static uint32_t header_page_size(const char *path, uint64_t *size)
{
    unsigned char h[100];
    struct stat sb;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    uint32_t ps = 0;
    if (fd < 0) return 0;
    if (fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) && pread(fd, h, sizeof h, 0) == (ssize_t)sizeof h &&
        memcmp(h, "SQLite format 3", 16) == 0) {
        ps = (uint32_t)h[16] << 8 | h[17];
        if (ps == 1) ps = 65536;
        if (!chain_page_size_ok(ps) || (uint64_t)sb.st_size % ps) ps = 0;
        *size = (uint64_t)sb.st_size;
    }
    close(fd);
    return ps;
}

/* Rolls back a hot journal a killed delta left, and checkpoints the WAL
 * into the file: 0 when the file alone holds the database now. */
static int settle_live(const char *live, sv_err *err)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_open_v2(live, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL), busy = 1, logn = -1;
    if (rc == SQLITE_OK) sqlite3_busy_timeout(db, 2000);
    if (rc == SQLITE_OK) rc = sqlite3_exec(db, "SELECT count(*) FROM sqlite_schema", NULL, NULL, NULL);
    if (rc == SQLITE_OK) rc = sqlite3_prepare_v2(db, "PRAGMA wal_checkpoint(TRUNCATE)", -1, &st, NULL);
    if (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
        busy = sqlite3_column_int(st, 0);
        logn = sqlite3_column_int(st, 1);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_OK || busy != 0 || logn > 0) {
        sv_err_set(err, SV_EBUSY, "the live database's WAL does not checkpoint (%s)",
                   rc != SQLITE_OK ? sqlite3_errmsg(db) : "busy");
        sqlite3_close(db);
        return -1;
    }
    sqlite3_close(db);
    return 0;
}

int restore_settle_journal(job_ctx *ctx, const char *live)
{
    char *j = sv_asprintf("%s-journal", live);
    struct stat sb;
    sqlite3 *db = NULL;
    int rc = 0;
    if (!j) return -1;
    if (stat(j, &sb) == 0 && sb.st_size > 0 && stat(live, &sb) == 0) {
        /* SQLite rolls a hot journal back when it first reads the database */
        if (sqlite3_open_v2(live, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) == SQLITE_OK) {
            sqlite3_busy_timeout(db, 2000);
            rc = sqlite3_exec(db, "SELECT count(*) FROM sqlite_schema", NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
        } else {
            rc = -1;
        }
        sqlite3_close(db);
        log_info(ctx->job_id, ctx->workspace, "a journal was beside the live database (%s): %s", j,
                 rc == 0 && stat(j, &sb) != 0 ? "rolled back" : "left as it is");
    }
    free(j);
    return rc;
}

/* ---- phase 2: what differs ---------------------------------------------- */

static int add_page(delta_run *d, uint32_t pg, sv_err *err)
{
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 1024;
        uint32_t *p = realloc(d->pg, cap * sizeof *p);
        if (!p) return sv_err_set(err, SV_ENOMEM, "out of memory");
        d->pg = p;
        d->cap = cap;
    }
    d->pg[d->n++] = pg;
    return 0;
}

/* The live file's page hashes, in order: the chain state the pre-restore
 * backup just wrote, when it is the live file's (fingerprint), else NULL:
 * the file is hashed. */
typedef struct live_hashes {
    chain_state st;
    chain_hashes *h;
    int fd;                  /* hashing the file itself */
    unsigned char *buf;
    uint32_t ps;
} live_hashes;

/* True when a fingerprint's text (snapshot.c) shows no -wal, or an empty one. */
static bool fp_wal_empty(const char *fp)
{
    return strstr(fp, " wal=-:") || strstr(fp, " wal=0:");
}

static int live_open(delta_run *d, live_hashes *lh, bool *from_state, sv_err *err)
{
    const sv_config *cfg = d->ctx->cfg;
    char store_id[CHAIN_STORE_ID_LEN], *path = cfg->state_dir ? chain_state_path(cfg->state_dir, d->ctx->workspace) : NULL;
    snapshot_fp fp;
    sv_err e;
    memset(lh, 0, sizeof *lh);
    lh->fd = -1;
    lh->ps = d->ps;
    *from_state = false;
    chain_store_id(cfg->store_url ? cfg->store_url : "", store_id);
    snapshot_fingerprint(d->live, &fp);
    /* The state's hashes are the live file's when its fingerprint is the
     * file's now (a stable one), or when it is the state the pre-restore
     * backup just taken in the pause saved itself (state_saved: not an older
     * state of the same folder time, as a backup that found its folder
     * already committed leaves) and the file's fingerprint is still the one
     * of that backup's snapshot: the checkpoint that settled the WAL
     * wrote the file a moment before, so that fingerprint is not stable
     * (snapshot.h), but no commit came since -- a rollback-mode commit moves
     * the change counter, a WAL-mode one the -wal and the wal-index, and a
     * checkpoint needs frames in the -wal -- and the write checks again under
     * its lock (write_pages). Either way the -wal is empty: the pages hashed
     * are the file's. */
    if (path && chain_state_load(path, store_id, d->ctx->workspace, &lh->st, &e) == 0 && fp_wal_empty(fp.text) &&
        ((fp.stable && strcmp(fp.text, lh->st.fingerprint) == 0) ||
         (d->bo && d->bo->state_saved && d->bo->snapshot_fp[0] && strcmp(fp.text, d->bo->snapshot_fp) == 0 &&
          strcmp(lh->st.head, d->bo->ts) == 0)) &&
        lh->st.page_size == d->ps && lh->st.page_count == d->nl && chain_hashes_open(path, &lh->st, &lh->h, &e) == 0)
        *from_state = true;
    free(path);
    if (*from_state) return 0;
    lh->fd = open(d->live, O_RDONLY | O_CLOEXEC);
    lh->buf = malloc(d->ps);
    if (lh->fd < 0 || !lh->buf) return sv_err_set(err, SV_EIO, "unable to read the live database: %s", strerror(errno));
    posix_fadvise(lh->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    return 0;
}

/* The next live page's hash (pages 1.. in order). */
static int live_next(live_hashes *lh, uint32_t pg, unsigned char out[CHAIN_HASH_LEN], sv_err *err)
{
    if (lh->h) {
        int r = chain_hashes_next(lh->h, out, err);
        if (r != 1) return r == 0 ? sv_err_set(err, SV_ECORRUPT, "the chain state ends early") : -1;
        return 0;
    }
    if (pread_all(lh->fd, lh->buf, lh->ps, (uint64_t)(pg - 1) * lh->ps, err) != 0) return -1;
    chain_page_hash(lh->buf, lh->ps, out);
    return 0;
}

static void live_close(live_hashes *lh)
{
    chain_hashes_close(lh->h);
    if (lh->fd >= 0) close(lh->fd);
    free(lh->buf);
}

/* The pages to write: every target page whose hash prefix differs from the
 * live page's, and every one past the live file's end. */
static int diff_pages(delta_run *d, bool *from_state, sv_err *err)
{
    live_hashes lh;
    unsigned char lhash[CHAIN_HASH_LEN], t[64 * 1024];
    uint32_t tn = 0, toff = 0;
    int rc = -1;
    if (live_open(d, &lh, from_state, err) != 0) goto done;
    for (uint32_t pg = 1; pg <= d->nt; pg++) {
        if (toff == tn) { /* the next window of the target's hashes */
            uint32_t left = d->nt - pg + 1, k = left < sizeof t / SEEK_HASH_LEN ? left : (uint32_t)(sizeof t / SEEK_HASH_LEN);
            if (pread_all(d->hfd, t, (size_t)k * SEEK_HASH_LEN, (uint64_t)(pg - 1) * SEEK_HASH_LEN, err) != 0) goto done;
            tn = k;
            toff = 0;
        }
        if (pg <= d->nl) {
            if (live_next(&lh, pg, lhash, err) != 0) goto done;
            if (memcmp(lhash, t + (size_t)toff * SEEK_HASH_LEN, SEEK_HASH_LEN) != 0 && add_page(d, pg, err) != 0) goto done;
        } else if (add_page(d, pg, err) != 0) {
            goto done;
        }
        toff++;
    }
    rc = 0;
done:
    live_close(&lh);
    return rc;
}

/* Fetches the differing pages into the patch, each checked against the
 * target's hash prefix. */
static int fetch_pages(delta_run *d, sv_err *err)
{
    unsigned char *page = malloc(d->ps), th[SEEK_HASH_LEN];
    int rc = -1;
    d->h16 = malloc(d->n ? d->n * CHAIN_HASH_LEN : 1);
    if (!page || !d->h16) {
        sv_err_set(err, SV_ENOMEM, "out of memory");
        goto done;
    }
    if (tmpfile_in(d->ctx->cfg->tmp_dir, &d->pfd, err) != 0) goto done;
    for (size_t i = 0; i < d->n; i++) {
        if (travel_read(d->tp, d->pg[i], page, err) != 0) goto done;
        chain_page_hash(page, d->ps, d->h16 + i * CHAIN_HASH_LEN);
        if (pread_all(d->hfd, th, SEEK_HASH_LEN, (uint64_t)(d->pg[i] - 1) * SEEK_HASH_LEN, err) != 0) goto done;
        if (memcmp(th, d->h16 + i * CHAIN_HASH_LEN, SEEK_HASH_LEN) != 0) {
            sv_err_set(err, SV_ECORRUPT, "backup %s: page %u does not match its page hash", travel_ts(d->tp), d->pg[i]);
            goto done;
        }
        if (pwrite_all(d->pfd, page, d->ps, (uint64_t)i * d->ps, err) != 0) goto done;
        if (i % 256 == 255) {
            job_progress(d->ctx, "fetch", i + 1, d->n);
            if (job_cancelled(d->ctx)) {
                sv_err_set(err, SV_ELEASE, "job cancelled: lease lost or shutting down");
                goto done;
            }
        }
    }
    rc = 0;
done:
    free(page);
    return rc;
}

/* The result's state checksum: the live hashes of the pages kept, the
 * fetched pages' own; it must be the target's stateChecksum. */
static int prove(delta_run *d, char out[72], sv_err *err)
{
    live_hashes lh;
    bool from_state;
    unsigned char h[CHAIN_HASH_LEN];
    chain_state_sum *sum = chain_state_sum_new();
    size_t k = 0;
    int rc = -1;
    if (!sum) return sv_err_set(err, SV_ENOMEM, "out of memory");
    if (live_open(d, &lh, &from_state, err) != 0) goto done;
    for (uint32_t pg = 1; pg <= d->nt; pg++) {
        bool patched = k < d->n && d->pg[k] == pg;
        if (pg <= d->nl && live_next(&lh, pg, h, err) != 0) goto done;
        chain_state_sum_hash(sum, patched ? d->h16 + k * CHAIN_HASH_LEN : h);
        if (patched) k++;
    }
    chain_state_sum_finish(sum, out);
    sum = NULL;
    rc = 0;
done:
    chain_state_sum_free(sum);
    live_close(&lh);
    return rc;
}

/* ---- phase 3: the atomic write -------------------------------------------- */

static uint32_t be32(const unsigned char *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }

static void put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* SQLite's journal checksum of a page (pager.c, pager_cksum). */
static uint32_t journal_cksum(uint32_t init, const unsigned char *page, uint32_t ps)
{
    uint32_t c = init;
    for (int i = (int)ps - 200; i > 0; i -= 200) c += page[i];
    return c;
}

/* Holds SQLite's pending, reserved and shared lock bytes of the file
 * (an exclusive lock, as a writer in the middle of a commit): no SQLite
 * connection reads it meanwhile. */
static int lock_bytes(int fd, short type)
{
    struct flock fl = {.l_type = type, .l_whence = SEEK_SET, .l_start = LOCK_FIRST, .l_len = LOCK_LEN};
    return fcntl(fd, F_SETLK, &fl);
}

/* Appends page pg's old content (from fd) to the journal as SQLite's
 * pager does: its number, its bytes, their checksum. */
static int journal_page(delta_run *d, int fd, int jfd, uint32_t pg, uint32_t nonce, unsigned char *rec,
                        uint64_t *joff, uint32_t *nrec, sv_err *err)
{
    put_be32(rec, pg);
    if (pread_all(fd, rec + 4, d->ps, (uint64_t)(pg - 1) * d->ps, err) != 0) return -1;
    put_be32(rec + 4 + d->ps, journal_cksum(nonce, rec + 4, d->ps));
    if (pwrite_all(jfd, rec, (size_t)d->ps + 8, *joff, err) != 0) return -1;
    *joff += d->ps + 8;
    (*nrec)++;
    return 0;
}

/* A rollback-mode connection of another process may be open (idle, it
 * holds no lock) with pages in its cache, which it keeps as long as the
 * 16 bytes at offset 24 of the file (change counter, page count, free
 * list) are what it saw. When the new page 1 leaves them as they are --
 * say the target's change counter is the live file's (one commit after a
 * backup taken by copy, which moves the copy's) -- its change counter is
 * moved on as a SQLite commit moves it, and page 1 is written (d->p1, heap),
 * so such a cache is dropped. Not in WAL mode: no other connection can be
 * open (each holds a lock as long as it is, and the lock was taken). */
static int new_page1(delta_run *d, int fd, sv_err *err)
{
    unsigned char old[100], *p1 = malloc(d->ps);
    uint32_t cc;
    if (!p1) return sv_err_set(err, SV_ENOMEM, "out of memory");
    if (pread_all(fd, old, sizeof old, 0, err) != 0 ||
        pread_all(d->pg[0] == 1 ? d->pfd : fd, p1, d->ps, 0, err) != 0) {
        free(p1);
        return -1;
    }
    if (old[18] == 2 || memcmp(old + 24, p1 + 24, 16) != 0) {
        free(p1);
        return 0;
    }
    cc = be32(old + 24) + 1;
    if (be32(p1 + 92) == be32(p1 + 24)) put_be32(p1 + 92, cc); /* version-valid-for: the in-header size stays valid */
    put_be32(p1 + 24, cc);
    d->p1 = p1;
    return 0;
}

/* True when the journal open as fd is no transaction's: empty, or its
 * header zeroed -- journal_mode TRUNCATE and PERSIST keep the file between
 * transactions. (A hot journal was rolled back by settle_live's open, and
 * under the lock no other connection begins a transaction.) */
static bool journal_idle(int fd)
{
    unsigned char h[28];
    struct stat sb;
    ssize_t r;
    if (fstat(fd, &sb) != 0) return false;
    if (sb.st_size == 0) return true;
    r = pread(fd, h, sizeof h, 0);
    if (r <= 0) return false;
    for (ssize_t i = 0; i < r; i++)
        if (h[i]) return false;
    return true;
}

/* Writes the rollback journal, then the pages, then deletes the journal.
 * 1: not possible, nothing written (why says so): another process has the
 * file open, it was written since its hashes were taken, or a journal
 * beside it is in use. */
static int write_pages(delta_run *d, bool *wrote, char *why, size_t why_cap, sv_err *err)
{
    live_sig now;
    char *jpath = sv_asprintf("%s-journal", d->live), *dir = dir_of(d->live);
    unsigned char hdr[JOURNAL_SECTOR] = {0}, *page = malloc((size_t)d->ps + 8);
    uint32_t nonce = 0, nrec = 0;
    uint64_t joff = JOURNAL_SECTOR;
    int fd = -1, jfd = -1, rc = -1;
    *wrote = false;
    if (!jpath || !dir || !page) {
        sv_err_set(err, SV_ENOMEM, "out of memory");
        goto done;
    }
    fd = open(d->live, O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        sv_err_set(err, SV_EIO, "unable to open the live database for writing: %s", strerror(errno));
        goto done;
    }
    if (lock_bytes(fd, F_WRLCK) != 0) {
        snprintf(why, why_cap, "another process has the live database open");
        rc = 1;
        goto done;
    }
    /* Under the lock no SQLite connection commits: the file must still be
     * the one whose hashes were compared, and the -wal still empty. */
    if (sig_of_fd(fd, &now) != 0 || !sig_eq(&now, &d->sig) || !wal_empty(d->live)) {
        snprintf(why, why_cap, "the live database was written during the restore");
        rc = 1;
        goto done;
    }
    jfd = open(jpath, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (jfd < 0 && errno == EEXIST && (jfd = open(jpath, O_RDWR | O_CLOEXEC)) >= 0 &&
        (!journal_idle(jfd) || ftruncate(jfd, 0) != 0)) {
        close(jfd);
        jfd = -1;
    }
    if (jfd < 0) {
        snprintf(why, why_cap, "a journal beside the live database is in use");
        rc = 1;
        goto done;
    }
    if (d->n > 0 && new_page1(d, fd, err) != 0) goto done;
    if (RAND_bytes((unsigned char *)&nonce, sizeof nonce) != 1) nonce = 0x5a17u;
    /* the old content of every page written or cut off, before any is written */
    if (d->p1 && d->pg[0] != 1 && journal_page(d, fd, jfd, 1, nonce, page, &joff, &nrec, err) != 0) goto done;
    for (size_t i = 0; i < d->n && d->pg[i] <= d->nl; i++) /* past the end (growth): the rollback truncates */
        if (journal_page(d, fd, jfd, d->pg[i], nonce, page, &joff, &nrec, err) != 0) goto done;
    for (uint32_t pg = d->nt + 1; pg <= d->nl; pg++) /* a shrink: the pages cut off */
        if (journal_page(d, fd, jfd, pg, nonce, page, &joff, &nrec, err) != 0) goto done;
    memcpy(hdr, JOURNAL_MAGIC, sizeof JOURNAL_MAGIC);
    put_be32(hdr + 8, nrec);
    put_be32(hdr + 12, nonce);
    put_be32(hdr + 16, d->nl);
    put_be32(hdr + 20, JOURNAL_SECTOR);
    put_be32(hdr + 24, d->ps);
    if (pwrite_all(jfd, hdr, sizeof hdr, 0, err) != 0) goto done;
    if (fdatasync(jfd) != 0 || sv_fsync_dir(dir, err) != 0) {
        if (err->code == SV_OK) sv_err_set(err, SV_EIO, "fsync of the journal: %s", strerror(errno));
        goto done;
    }
    if (d->ctx->cfg->test_delta_kill == 1) _exit(137); /* test-only: killed with the journal written */
    if (job_fence(d->ctx, err) != 0) goto done;
    /* the new pages */
    *wrote = true;
    if (d->p1 && pwrite_all(fd, d->p1, d->ps, 0, err) != 0) goto done;
    for (size_t i = 0; i < d->n; i++) {
        if (d->pg[i] == 1 && d->p1) continue;
        if (pread_all(d->pfd, page, d->ps, (uint64_t)i * d->ps, err) != 0) goto done;
        if (pwrite_all(fd, page, d->ps, (uint64_t)(d->pg[i] - 1) * d->ps, err) != 0) goto done;
        if (d->ctx->cfg->test_delta_kill == 2 && i == d->n / 2) _exit(137); /* test-only: killed mid-write */
    }
    if (ftruncate(fd, (off_t)d->nt * d->ps) != 0 || fdatasync(fd) != 0) {
        sv_err_set(err, SV_EIO, "writing the live database: %s", strerror(errno));
        goto done;
    }
    if (d->ctx->cfg->test_delta_kill == 3) _exit(137); /* test-only: killed before the journal is deleted */
    if (d->ctx->cfg->test_fail_swap) { /* test-only: proves the put-back below */
        sv_err_set(err, SV_EIO, "injected swap failure (SQLVAULT_TEST_FAIL_SWAP)");
        goto done;
    }
    /* the commit: the journal goes */
    if (unlink(jpath) != 0 || sv_fsync_dir(dir, err) != 0) {
        if (err->code == SV_OK) sv_err_set(err, SV_EIO, "deleting the journal: %s", strerror(errno));
        goto done;
    }
    close(jfd);
    jfd = -1;
    *wrote = false;
    rc = 0;
done:
    if (rc != 0 && jfd >= 0 && *wrote) {
        /* put the old pages back from the journal, then drop it */
        sv_err e;
        bool back = true;
        for (uint64_t o = JOURNAL_SECTOR; o < joff && back; o += d->ps + 8)
            back = pread_all(jfd, page, (size_t)d->ps + 8, o, &e) == 0 &&
                   pwrite_all(fd, page + 4, d->ps, (uint64_t)(be32(page) - 1) * d->ps, &e) == 0;
        if (back && ftruncate(fd, (off_t)d->nl * d->ps) == 0 && fdatasync(fd) == 0) {
            unlink(jpath);
            *wrote = false;
            sv_err_wrap(err, "swap failed, the previous database was put back");
        } else {
            log_error(d->ctx->job_id, d->ctx->workspace, "the old pages could not be put back: the journal %s is "
                      "left for SQLite to roll back on the next open", jpath);
            sv_err_wrap(err, "swap failed and putting the previous database back failed too");
            sv_err_hint(err, "the journal %s holds the previous pages: the next open of the database (sqlite3, "
                        "or sqlvault) rolls it back", jpath);
        }
    } else if (rc != 0 && jfd >= 0) {
        unlink(jpath); /* nothing written: the journal is not needed */
    }
    if (jfd >= 0) close(jfd);
    if (fd >= 0) {
        lock_bytes(fd, F_UNLCK);
        close(fd);
    }
    free(page);
    free(jpath);
    free(dir);
    return rc;
}

/* ---- the delta restore ------------------------------------------------------- */

/* Errors of the backup or of the store holding it (not of this host). */
static bool backup_error(sv_code c)
{
    return c == SV_ECORRUPT || c == SV_ECHECKSUM || c == SV_ENOTFOUND || c == SV_EUNREACH || c == SV_EAUTH ||
           c == SV_EREMOTE || c == SV_ETRANSIENT;
}

int restore_delta(job_ctx *ctx, const char *live, const char *ts, const char *from, const char *rec,
                  json_t **result, restore_held_pause *hold, char *why, size_t why_cap, sv_err *err)
{
    travel_opts to = {.cfg = ctx->cfg, .clock = ctx->clock, .store = ctx->store, .ws = ctx->workspace, .at = ts,
                      .exact = true};
    delta_run d = {.ctx = ctx, .live = live, .hfd = -1, .pfd = -1};
    const char *tsum;
    char got[72], as[CRYPTO_SUM_LEN];
    uint64_t lsize = 0, req = 0, bytes = 0;
    int64_t t0 = sv_mono_ms(ctx->clock), t_pause = 0, t_wait = 0, t_write = 0, t_backup = 0;
    bool paused = false, acked = true, wrote = false, from_state = false, enc;
    int listeners = 0, rc = -1;
    backup_outcome bo = {0};
    sv_err e;
    *result = NULL;
    why[0] = '\0';
    if (json_is_true(json_object_get(ctx->opts, "no_delta")) || !ctx->cfg->restore_delta) {
        snprintf(why, why_cap, "%s", ctx->cfg->restore_delta ? "--no-delta" : "SQLVAULT_RESTORE_DELTA=off");
        return 0;
    }
    {
        const char *req_t = json_string_value(json_object_get(ctx->opts, "require_table"));
        if (req_t && *req_t) { /* the full path's validation checks the tables */
            snprintf(why, why_cap, "--require-table");
            return 0;
        }
    }
    d.ps = header_page_size(live, &lsize);
    if (!d.ps) {
        snprintf(why, why_cap, "the live file is missing or not a database");
        return 0;
    }
    d.nl = (uint32_t)(lsize / d.ps);
    sv_err_clear(&e);
    if (travel_open(&to, &d.tp, &e) != 0) {
        snprintf(why, why_cap, "the backup cannot be read in place: %s", e.msg);
        goto not_applicable;
    }
    if (travel_page_size(d.tp) != d.ps) {
        snprintf(why, why_cap, "the backup has %u-byte pages, the live file %u", travel_page_size(d.tp), d.ps);
        goto not_applicable;
    }
    d.nt = travel_page_count(d.tp);
    tsum = json_string_value(json_object_get(travel_meta(d.tp), "stateChecksum"));
    if (!tsum) {
        snprintf(why, why_cap, "the backup has no stateChecksum");
        goto not_applicable;
    }
    /* phase 1: the target's hashes, before the pause */
    {
        hash_out *ho = malloc(sizeof *ho);
        int hr;
        if (!ho) {
            sv_err_set(err, SV_ENOMEM, "out of memory");
            goto fail;
        }
        if (tmpfile_in(ctx->cfg->tmp_dir, &d.hfd, err) != 0) {
            free(ho);
            goto fail;
        }
        ho->fd = d.hfd;
        ho->len = 0;
        ho->off = 0;
        hr = travel_hashes(d.tp, hash_sink, ho, &e) != 0 || hash_flush(ho, &e) != 0 ? -1 : 0;
        free(ho);
        if (hr != 0) {
            snprintf(why, why_cap, "the backup's page hashes cannot be read: %s", e.msg);
            goto not_applicable;
        }
    }
    /* phase 2: in the pause */
    if (restore_pause_begin(ctx, &paused, err) != 0) goto fail;
    t_pause = sv_mono_ms(ctx->clock);
    {
        json_t *ev = json_pack("{s:s, s:s, s:s, s:s}", "workspace", ctx->workspace, "job", ctx->job_id, "from", from,
                               "backup", ts);
        restore_emit(ctx, "restore.started", ev);
        json_decref(ev);
    }
    if (restore_wait_acks(ctx, ctx->cfg->pause_timeout_ms, &acked, &listeners, err) != 0) goto fail;
    t_wait = sv_mono_ms(ctx->clock) - t_pause;
    if (settle_live(live, &e) != 0) {
        snprintf(why, why_cap, "%s", e.msg);
        goto not_applicable;
    }
    d.ps = header_page_size(live, &lsize);
    if (d.ps != travel_page_size(d.tp)) {
        snprintf(why, why_cap, "the live file changed page size");
        goto not_applicable;
    }
    if (locked_elsewhere(live)) {
        snprintf(why, why_cap, "another process has the live database open");
        goto not_applicable;
    }
    d.nl = (uint32_t)(lsize / d.ps);
    /* the safety copy: the pre-restore backup, committed before any write */
    {
        backup_params bp = {.workspace = ctx->workspace, .db_path = live, .backup_type = "pre-restore",
                            .reason = "pre-restore", .mode = "auto"};
        int64_t tb = sv_mono_ms(ctx->clock);
        job_progress(ctx, "safety", 0, 0);
        if (backup_take(ctx, &bp, &bo, err) != 0) {
            sv_err_wrap(err, "the pre-restore backup");
            goto fail;
        }
        t_backup = sv_mono_ms(ctx->clock) - tb;
    }
    d.bo = &bo;
    travel_counters(d.tp, &d.fetched_before_req, &d.fetched_before_bytes);
    if (sig_of_path(live, &d.sig) != 0) {
        sv_err_set(err, SV_EIO, "unable to read the live database: %s", strerror(errno));
        goto fail;
    }
    if (diff_pages(&d, &from_state, err) != 0 || fetch_pages(&d, err) != 0 || prove(&d, got, err) != 0)
        goto unreadable;
    enc = json_is_object(json_object_get(travel_meta(d.tp), "encryption"));
    if (enc && crypto_sum_is_keyed(tsum)) {
        crypto_dk dk;
        int krc = crypto_for_restore(ctx->cfg, ctx->store, ctx->clock, ctx->workspace, &dk, err);
        if (krc == 0) krc = crypto_sum_keyed(&dk, got, as, err);
        crypto_dk_clear(&dk);
        if (krc != 0) goto unreadable;
    } else {
        snprintf(as, sizeof as, "%s", got);
    }
    if (strcasecmp(as, tsum) != 0) {
        sv_err_set(err, SV_ECHECKSUM, "the delta restore's result would not be backup %s: its state checksum is %s, "
                   "metadata.json says %s", ts, as, tsum);
        goto unreadable;
    }
    /* phase 3: the write (a commit point) */
    if (job_fence(ctx, err) != 0) goto fail;
    job_progress(ctx, "swap", 0, d.n);
    t_write = sv_mono_ms(ctx->clock);
    {
        int wr = write_pages(&d, &wrote, why, why_cap, err);
        if (wr == 1) goto not_applicable;
        if (wr != 0) goto fail;
    }
    t_write = sv_mono_ms(ctx->clock) - t_write;
    if (paused) {
        restore_unpause(ctx);
        paused = false;
    }
    travel_counters(d.tp, &req, &bytes);
    {
        json_t *ev = json_pack("{s:s, s:s, s:s, s:s, s:s, s:b}", "workspace", ctx->workspace, "job", ctx->job_id,
                               "from", from, "backup", ts, "checksum", tsum, "delta", 1);
        restore_emit(ctx, "restore.completed", ev);
        json_decref(ev);
    }
    *result = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:i, s:I, s:s, s:s, s:s}", "workspace", ctx->workspace,
                        "from", from, "source", rec, "db", live, "checksum", tsum, "backup", ts, "size",
                        (json_int_t)((uint64_t)d.nt * d.ps), "page_size", (int)d.ps, "page_count", (json_int_t)d.nt,
                        "swap", "delta", "safety_backup", bo.ts, "integrity_check",
                        "not run: every page proven equal to the backup's (stateChecksum)");
    if (!*result) {
        sv_err_set(err, SV_ENOMEM, "out of memory");
        goto fail;
    }
    json_object_set_new(*result, "delta",
                        json_pack("{s:I, s:I, s:b, s:I, s:I, s:I, s:b, s:I, s:I}", "pages_fetched", (json_int_t)d.n,
                                  "pages_rewritten", (json_int_t)(d.n + (d.p1 && d.pg[0] != 1)),
                                  "change_counter_moved", d.p1 != NULL, "pages_cut",
                                  (json_int_t)(d.nl > d.nt ? d.nl - d.nt : 0), "requests", (json_int_t)req, "bytes",
                                  (json_int_t)bytes, "live_hashes_from_state", from_state, "backup_ms",
                                  (json_int_t)t_backup, "write_ms", (json_int_t)t_write));
    {
        const char *base = json_string_value(json_object_get(travel_meta(d.tp), "base"));
        json_object_set_new(*result, "chain", json_pack("{s:s, s:i, s:s}", "base", base ? base : travel_ts(d.tp),
                                                        "links", (int)travel_chain_length(d.tp), "state_checksum",
                                                        tsum));
    }
    json_object_set_new(*result, "pause_ms", json_integer((json_int_t)(sv_mono_ms(ctx->clock) - t_pause)));
    json_object_set_new(*result, "pause_acked", json_boolean(acked));
    json_object_set_new(*result, "pause_listeners", json_integer(listeners));
    json_object_set_new(*result, "durationMs", json_integer((json_int_t)(sv_mono_ms(ctx->clock) - t0)));
    json_object_set_new(*result, "safety_source", json_string("the pre-restore backup, taken in the pause"));
    metrics_restore_kind("delta");
    {
        char sz[32];
        log_info(ctx->job_id, ctx->workspace, "restored %s by delta: %zu pages rewritten (%s fetched in %llu requests), "
                 "pre-restore backup %s", rec, d.n, sv_human_size(bytes, sz, sizeof sz), (unsigned long long)req, bo.ts);
    }
    rc = 1;
    goto done;
unreadable:
    /* The backup could not be read in place (a damaged frame, a page that
     * is not its hash, a store that fails): nothing was written, and the
     * full path reads and checks all of it -- and fails over to a replica
     * store when it cannot -- with its own errors. */
    if (!backup_error(err->code)) goto fail;
    snprintf(why, why_cap, "the backup could not be read in place: %s", err->msg);
    sv_err_clear(err);
    log_warn(ctx->job_id, ctx->workspace, "delta restore not possible (%s): restoring in full", why);
    rc = 0;
    goto done;
not_applicable:
    log_info(ctx->job_id, ctx->workspace, "delta restore not possible (%s): restoring in full", why);
    rc = 0;
    goto done;
fail:
    rc = -1;
done:
    if (paused && rc == 0 && hold) { /* the full path goes on in this pause */
        *hold = (restore_held_pause){
            .held = true, .acked = acked, .listeners = listeners, .t_pause = t_pause, .wait_ms = t_wait};
        paused = false;
    }
    if (paused) {
        restore_unpause(ctx);
        if (rc != 1) {
            json_t *ev = json_pack("{s:s, s:s, s:s, s:b}", "workspace", ctx->workspace, "job", ctx->job_id, "error",
                                   rc < 0 ? err->msg : why, "swapped", false);
            if (rc < 0) restore_emit(ctx, "restore.failed", ev);
            json_decref(ev);
        }
    }
    json_decref(bo.metadata);
    json_decref(bo.head);
    free(bo.export_key);
    travel_close(d.tp);
    if (d.hfd >= 0) close(d.hfd);
    if (d.pfd >= 0) close(d.pfd);
    free(d.pg);
    free(d.h16);
    free(d.p1);
    return rc;
}
