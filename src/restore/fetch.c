/* fetch.c -- a restore source streamed into a temporary file, checked as it
 * goes.
 *
 * Two threads overlap the work. The reader thread pulls the input (a store
 * GET, or read(2) of a local file), hashes it as stored (the object checksum)
 * and fills a ring of RING fixed-size buffers. The calling thread takes full
 * buffers, tells a zstd stream from a plain SQLite file by the first bytes,
 * decompresses with an output cap (a bomb stops at the cap, not at the end
 * of the disk), hashes the database bytes and writes them to the temporary
 * file. Memory is the ring plus zstd's window, whatever the size.
 *
 * THREAD SAFETY NOTES: the ring (head, count, eof, abort) is shared and only
 * touched under mu. A filled slot belongs to the consumer until it releases
 * it; the slot being filled belongs to the reader. The reader's error and
 * object hash are read by the consumer only after pthread_join. The store is
 * used by the reader thread alone while the fetch runs. */
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>
#include <zstd_errors.h>
#include "crypto.h"
#include "digest.h"
#include "log.h"
#include "metrics/metrics.h"
#include "restore.h"
#include "tmpsweep.h"
#include "util.h"

#define CHUNK (1024 * 1024)
#define RING 8
#define ZSTD_WINDOW_LOG_MAX 25 /* 32 MiB: refuse frames that want more memory */

typedef struct fetch_pipe {
    pthread_mutex_t mu;
    pthread_cond_t cv;      /* signalled on every change of count, eof, abort */
    unsigned char *buf[RING];
    size_t len[RING];
    int head, count;        /* filled slots: head .. head+count-1 */
    bool eof, abort;
    /* reader side */
    int wslot;              /* the slot being filled (== head+count mod RING) */
    const restore_fetch_opts *o;
    uint64_t in_bytes, in_cap;
    EVP_MD_CTX *md_obj;
    int rrc;
    sv_err rerr;
} fetch_pipe;

/* Hands the reader's current slot to the consumer and waits for a free one.
 * Returns -1 when the consumer gave up. */
static int ring_publish(fetch_pipe *p)
{
    int rc = 0;
    pthread_mutex_lock(&p->mu);
    p->count++;
    p->wslot = (p->wslot + 1) % RING;
    pthread_cond_broadcast(&p->cv);
    while (p->count == RING && !p->abort) pthread_cond_wait(&p->cv, &p->mu);
    if (p->abort) rc = -1;
    pthread_mutex_unlock(&p->mu);
    return rc;
}

/* The reader's sink: hash, cap, copy into the ring. */
static int reader_sink(void *ud, const void *data, size_t len, sv_err *err)
{
    fetch_pipe *p = ud;
    const unsigned char *d = data;
    p->in_bytes += len;
    if (p->in_bytes > p->in_cap) {
        char a[32];
        sv_err_set(err, SV_ETOOBIG, "the source is larger than the %s limit",
                   sv_human_size(p->o->max_size, a, sizeof a));
        return sv_err_hint(err, "raise SQLVAULT_MAX_DB_SIZE if a database this large is expected");
    }
    EVP_DigestUpdate(p->md_obj, d, len);
    while (len) {
        int slot = p->wslot;
        size_t room = CHUNK - p->len[slot], n = len < room ? len : room;
        memcpy(p->buf[slot] + p->len[slot], d, n);
        p->len[slot] += n;
        d += n;
        len -= n;
        if (p->len[slot] == CHUNK && ring_publish(p) != 0)
            return sv_err_set(err, SV_ECANCEL, "fetch stopped");
    }
    return 0;
}

/* Reads a local file into the sink. */
static int read_file(fetch_pipe *p, sv_err *err)
{
    int fd = open(p->o->path, O_RDONLY | O_CLOEXEC);
    unsigned char *b;
    int rc = 0;
    if (fd < 0)
        return sv_err_set(err, errno == ENOENT ? SV_ENOTFOUND : SV_EIO, "unable to open '%s': %s", p->o->path,
                          strerror(errno));
    posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    b = malloc(CHUNK);
    if (!b) {
        close(fd);
        return sv_err_set(err, SV_ENOMEM, "out of memory");
    }
    for (;;) {
        ssize_t n = read(fd, b, CHUNK);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            rc = sv_err_set(err, SV_EIO, "unable to read '%s': %s", p->o->path, strerror(errno));
            break;
        }
        if (n == 0) break;
        if ((rc = reader_sink(p, b, (size_t)n, err)) != 0) break;
    }
    free(b);
    close(fd);
    return rc;
}

/* The reader thread: input to the ring, then eof. */
static void *reader_main(void *arg)
{
    fetch_pipe *p = arg;
    sv_err_clear(&p->rerr);
    if (p->o->key) {
        p->rrc = store_get(p->o->store, p->o->key, 0, reader_sink, p, &p->rerr);
        metrics_bytes("downloaded", p->in_bytes);
    }
    else p->rrc = read_file(p, &p->rerr);
    pthread_mutex_lock(&p->mu);
    if (p->rrc == 0 && p->len[p->wslot] > 0) p->count++;
    p->eof = true;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* The consumer's state. */
typedef struct fetch_out {
    int fd;
    const char *path;
    uint64_t size, cap;
    EVP_MD_CTX *md_db;
    ZSTD_DCtx *z;
    unsigned char *zout;
    size_t zcap;
    size_t zlast;           /* last ZSTD_decompressStream hint: 0 = at a frame end */
    int mode;               /* 0 undecided, 1 plain, 2 zstd */
    bool durable;           /* start writeback every WRITEBACK bytes */
    int (*sink)(void *ud, const void *data, size_t n, sv_err *err); /* instead of fd (restore.h) */
    void *sink_ud;
    uint64_t flushed;       /* bytes handed to writeback so far */
} fetch_out;

#define WRITEBACK (8 * 1024 * 1024)

/* Hashes and writes database bytes, enforcing the cap. */
static int out_write(fetch_out *f, const unsigned char *d, size_t n, sv_err *err)
{
    f->size += n;
    if (f->size > f->cap) {
        char a[32];
        sv_err_set(err, SV_ETOOBIG, "the database is larger than the %s limit%s", sv_human_size(f->cap, a, sizeof a),
                   f->mode == 2 ? " once decompressed (stopped there: a zstd bomb or a database too large)" : "");
        return sv_err_hint(err, "raise SQLVAULT_MAX_DB_SIZE if a database this large is expected");
    }
    if (f->md_db) EVP_DigestUpdate(f->md_db, d, n);
    if (f->sink) return f->sink(f->sink_ud, d, n, err);
    if (sv_write_all(f->fd, d, n) != 0)
        return sv_err_set(err, errno == ENOSPC || errno == EDQUOT ? SV_ENOSPC : SV_EIO,
                          "unable to write the temporary file '%s': %s", f->path, strerror(errno));
    /* A file that will be renamed into place is synced before the swap:
     * writing it back now, while the check runs, makes that sync short. */
    if (f->durable && f->size - f->flushed >= WRITEBACK) {
        sync_file_range(f->fd, (off_t)f->flushed, (off_t)(f->size - f->flushed), SYNC_FILE_RANGE_WRITE);
        f->flushed = f->size;
    }
    return 0;
}

/* Feeds one input buffer through zstd into out_write. */
static int out_zstd(fetch_out *f, const unsigned char *d, size_t n, sv_err *err)
{
    ZSTD_inBuffer ib = {d, n, 0};
    while (ib.pos < ib.size) {
        ZSTD_outBuffer ob = {f->zout, f->zcap, 0};
        size_t r = ZSTD_decompressStream(f->z, &ob, &ib);
        if (ZSTD_isError(r)) {
            if (ZSTD_getErrorCode(r) == ZSTD_error_frameParameter_windowTooLarge) {
                sv_err_set(err, SV_ETOOBIG, "the zstd stream needs a window over %d MiB",
                           1 << (ZSTD_WINDOW_LOG_MAX - 20));
                return sv_err_hint(err, "recompress without --long or --ultra");
            }
            return sv_err_set(err, SV_ECORRUPT, "the zstd stream is corrupt: %s", ZSTD_getErrorName(r));
        }
        f->zlast = r;
        if (ob.pos && out_write(f, f->zout, ob.pos, err) != 0) return -1;
    }
    return 0;
}

/* Drains what zstd still holds at the end; a frame left open means the input
 * was cut short. */
static int out_zstd_end(fetch_out *f, sv_err *err)
{
    while (f->zlast != 0) {
        ZSTD_inBuffer ib = {NULL, 0, 0};
        ZSTD_outBuffer ob = {f->zout, f->zcap, 0};
        size_t r = ZSTD_decompressStream(f->z, &ob, &ib);
        if (ZSTD_isError(r))
            return sv_err_set(err, SV_ECORRUPT, "the zstd stream is corrupt: %s", ZSTD_getErrorName(r));
        if (ob.pos && out_write(f, f->zout, ob.pos, err) != 0) return -1;
        if (ob.pos == 0 && r != 0)
            return sv_err_set(err, SV_ECORRUPT, "the zstd stream is truncated (the object was cut short)");
        f->zlast = r;
    }
    return 0;
}

/* Decides the format from the first bytes. */
static int out_detect(fetch_out *f, const restore_fetch_opts *o, const unsigned char *d, size_t n, sv_err *err)
{
    static const unsigned char zmagic[4] = {0x28, 0xb5, 0x2f, 0xfd};
    static const char smagic[16] = "SQLite format 3";
    if (crypto_is_sealed(d, n)) {
        sv_err_set(err, SV_ECORRUPT, "the source is a sqlvault encrypted object but %s", o->expect_obj_sum ?
                   "its metadata.json does not say it is encrypted" : "it is not read as a backup");
        return sv_err_hint(err, "restore it through its backup (--from TIMESTAMP) with the workspace's key");
    }
    if (n >= 4 && memcmp(d, zmagic, 4) == 0) {
        unsigned long long fcs = ZSTD_getFrameContentSize(d, n);
        f->mode = 2;
        if (fcs != ZSTD_CONTENTSIZE_UNKNOWN && fcs != ZSTD_CONTENTSIZE_ERROR && fcs > f->cap) {
            char a[32], b[32];
            sv_err_set(err, SV_ETOOBIG, "the zstd stream says it holds %s, over the %s limit",
                       sv_human_size(fcs, a, sizeof a), sv_human_size(f->cap, b, sizeof b));
            return sv_err_hint(err, "raise SQLVAULT_MAX_DB_SIZE if a database this large is expected");
        }
        f->z = ZSTD_createDCtx();
        f->zcap = ZSTD_DStreamOutSize() * 8;
        f->zout = malloc(f->zcap);
        if (!f->z || !f->zout) return sv_err_set(err, SV_ENOMEM, "out of memory");
        ZSTD_DCtx_setParameter(f->z, ZSTD_d_windowLogMax, ZSTD_WINDOW_LOG_MAX);
        f->zlast = 1;
        return 0;
    }
    if (o->require_zstd)
        return sv_err_set(err, SV_ECORRUPT, "the backup object is not a zstd stream (bad magic bytes)");
    if (n >= 16 && memcmp(d, smagic, 16) == 0) {
        f->mode = 1;
        return 0;
    }
    sv_err_set(err, SV_ECORRUPT, "the source is neither a SQLite database nor a zstd stream (bad magic bytes)");
    return sv_err_hint(err, "upload a SQLite database file (.db) or a zstd-compressed one (.db.zst)");
}

/* The decrypted stream's consumer: format detection, then zstd or plain. */
typedef struct plain_in_ctx {
    fetch_out *f;
    const restore_fetch_opts *o;
} plain_in_ctx;

/* Consumes database-side input bytes (decrypted if the object was encrypted). */
static int plain_in(void *ud, const void *data, size_t n, sv_err *err)
{
    plain_in_ctx *pc = ud;
    const unsigned char *d = data;
    if (pc->f->mode == 0 && out_detect(pc->f, pc->o, d, n, err) != 0) return -1;
    return pc->f->mode == 2 ? out_zstd(pc->f, d, n, err) : out_write(pc->f, d, n, err);
}

/* Removes the temporary file (and the companions a check connection may
 * have left), then drops its liveness lock. */
void restore_fetched_remove(restore_fetched *f)
{
    if (!f) return;
    if (f->path) {
        sv_unlink_db(f->path);
        free(f->path);
        f->path = NULL;
    }
    if (f->lockfd1 > 0) close(f->lockfd1 - 1);
    f->lockfd1 = 0;
}

/* A new temporary file name in tmp_dir (heap): restore-RANDOM.db, a name
 * sv_tmp_sweep knows. */
char *restore_tmp_path(const char *tmp_dir, const sv_clock *clock)
{
    char id[33];
    sv_random_id(clock, id);
    return sv_asprintf("%s/restore-%.16s.db", tmp_dir, id);
}

/* Compares a computed "sha256:HEX" with an expected one (case-insensitive hex). */
static bool sum_matches(const char *got, const char *want)
{
    return strcasecmp(got, want) == 0;
}

/* One fetch's state, shared by its phases below. */
typedef struct fetch_run {
    job_ctx *ctx;
    const restore_fetch_opts *o;
    restore_fetched *out;
    fetch_pipe p;
    fetch_out f;
    plain_in_ctx pc;
    crypto_stream *dec;
    crypto_dk dk;           /* the workspace's data key when the object is encrypted (keyed checksums) */
    bool have_dk;
    pthread_t th;
    bool started;
    uint64_t total;         /* input bytes, known before reading */
} fetch_run;

/* Size first: refuse an oversized or truncated input before reading it. */
static int fetch_size(fetch_run *r, sv_err *err)
{
    const restore_fetch_opts *o = r->o;
    if (o->key) {
        store_stat st;
        if (store_stat_key(o->store, o->key, &st, err) != 0) {
            if (err->code == SV_ENOTFOUND) {
                sv_err_set(err, SV_ENOTFOUND, "no object '%s' in the store", o->key);
                sv_err_hint(err, "check the key (sqlvault import-url prints it) and SQLVAULT_STORE");
            }
            return -1;
        }
        r->total = st.size;
    } else {
        struct stat sb;
        if (stat(o->path, &sb) != 0)
            return sv_err_set(err, errno == ENOENT ? SV_ENOTFOUND : SV_EIO, "unable to open '%s': %s", o->path,
                              strerror(errno));
        if (!S_ISREG(sb.st_mode)) return sv_err_set(err, SV_EINVAL, "'%s' is not a regular file", o->path);
        r->total = (uint64_t)sb.st_size;
    }
    if (r->total > r->p.in_cap) {
        char a[32], b[32];
        sv_err_set(err, SV_ETOOBIG, "the source is %s, over the %s limit", sv_human_size(r->total, a, sizeof a),
                   sv_human_size(o->max_size, b, sizeof b));
        return sv_err_hint(err, "raise SQLVAULT_MAX_DB_SIZE if a database this large is expected");
    }
    if (o->expect_obj_size >= 0 && r->total != (uint64_t)o->expect_obj_size)
        return sv_err_set(err, SV_ECORRUPT, "the backup object is %llu bytes but metadata.json says %lld (truncated "
                          "or replaced)", (unsigned long long)r->total, (long long)o->expect_obj_size);
    return 0;
}

/* The ring's buffers, the two digests, the temporary file (with its
 * liveness lock) and the decrypting filter if the object is encrypted. */
static int fetch_setup(fetch_run *r, sv_err *err)
{
    const restore_fetch_opts *o = r->o;
    for (int i = 0; i < RING; i++)
        if (!(r->p.buf[i] = malloc(CHUNK))) return sv_err_set(err, SV_ENOMEM, "out of memory");
    r->p.md_obj = EVP_MD_CTX_new();
    if (!o->no_db_sum) r->f.md_db = EVP_MD_CTX_new();
    if (!r->p.md_obj || (!o->no_db_sum && !r->f.md_db)) return sv_err_set(err, SV_ENOMEM, "out of memory");
    EVP_DigestInit_ex(r->p.md_obj, EVP_sha256(), NULL);
    if (r->f.md_db) EVP_DigestInit_ex(r->f.md_db, EVP_sha256(), NULL);
    if (o->sink) goto filter; /* no temporary file: the bytes go to the sink */
    if (sv_mkdirs(o->tmp_dir, err) != 0) return -1;
    sv_tmp_sweep(o->tmp_dir, r->ctx->clock);
    r->out->path = restore_tmp_path(o->tmp_dir, r->ctx->clock);
    if (!r->out->path) return sv_err_set(err, SV_ENOMEM, "out of memory");
    r->f.path = r->out->path;
    r->f.fd = open(r->out->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (r->f.fd < 0) {
        sv_err_set(err, errno == ENOSPC ? SV_ENOSPC : SV_EIO, "unable to create '%s': %s", r->out->path,
                   strerror(errno));
        free(r->out->path);
        r->out->path = NULL;
        return -1;
    }
    {
        /* The liveness lock, on a descriptor of its own that lives as long as the file. */
        int lfd = open(r->out->path, O_RDONLY | O_CLOEXEC);
        if (lfd >= 0 && flock(lfd, LOCK_EX) == 0) r->out->lockfd1 = lfd + 1;
        else if (lfd >= 0) close(lfd);
    }
filter:
    if (o->encrypted) {
        /* The decrypting filter sits between the stored bytes and zstd. */
        int crc = crypto_for_restore(r->ctx->cfg, o->store, r->ctx->clock, r->ctx->workspace, &r->dk, err);
        if (crc == 0) {
            r->have_dk = true;
            crc = crypto_open_new(&r->dk, o->context ? o->context : o->key, plain_in, &r->pc, &r->dec, err);
        }
        if (crc != 0) return -1;
    }
    return 0;
}

/* The consumer loop: full ring slots through the decrypting filter (if
 * any), zstd and the writer, until the reader's eof; then joins it. */
static int fetch_pump(fetch_run *r, sv_err *err)
{
    fetch_pipe *p = &r->p;
    uint64_t consumed = 0;
    if (pthread_create(&r->th, NULL, reader_main, p) != 0)
        return sv_err_set(err, SV_ENOMEM, "unable to start the reader thread");
    r->started = true;
    job_progress(r->ctx, "download", 0, r->total);
    for (;;) {
        unsigned char *d;
        size_t n;
        int step = 0;
        pthread_mutex_lock(&p->mu);
        while (p->count == 0 && !p->eof) pthread_cond_wait(&p->cv, &p->mu);
        if (p->count == 0) {
            pthread_mutex_unlock(&p->mu);
            break;
        }
        d = p->buf[p->head];
        n = p->len[p->head];
        pthread_mutex_unlock(&p->mu);

        step = r->dec ? crypto_stream_write(r->dec, d, n, err) : plain_in(&r->pc, d, n, err);
        if (step == 0 && job_cancelled(r->ctx))
            step = sv_err_set(err, SV_ELEASE, "job cancelled: lease lost or shutting down");

        pthread_mutex_lock(&p->mu);
        p->len[p->head] = 0;
        p->head = (p->head + 1) % RING;
        p->count--;
        if (step != 0) p->abort = true;
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
        if (step != 0) return -1;
        consumed += n;
        job_progress(r->ctx, "download", consumed < r->total ? consumed : r->total, r->total);
    }
    pthread_join(r->th, NULL);
    r->started = false;
    if (p->rrc != 0) {
        *err = p->rerr;
        if (r->o->key) sv_err_wrap(err, "reading '%s'", r->o->key);
        return -1;
    }
    return 0;
}

/* The end of the stream: what zstd still holds, the digests, and every
 * size and checksum against what the metadata expects. */
static int fetch_check(fetch_run *r, sv_err *err)
{
    const restore_fetch_opts *o = r->o;
    restore_fetched *out = r->out;
    if (r->dec && crypto_stream_finish(r->dec, err) != 0) return -1;
    if (r->f.mode == 0) return sv_err_set(err, SV_ECORRUPT, "the source is empty");
    if (r->f.mode == 2 && out_zstd_end(&r->f, err) != 0) return -1;
    sv_digest_checksum(r->p.md_obj, out->obj_sum);
    if (r->f.md_db) sv_digest_checksum(r->f.md_db, out->sum);
    out->size = r->f.size;
    out->object_size = r->p.in_bytes;
    out->compressed = r->f.mode == 2;
    if (r->p.in_bytes != r->total)
        return sv_err_set(err, SV_ECORRUPT, "read %llu bytes of a %llu-byte source (it changed while reading)",
                          (unsigned long long)r->p.in_bytes, (unsigned long long)r->total);
    if (o->expect_obj_sum && !sum_matches(out->obj_sum, o->expect_obj_sum)) {
        sv_err_set(err, SV_ECHECKSUM, "checksum mismatch: the stored object is %s but metadata.json says %s",
                   out->obj_sum, o->expect_obj_sum);
        return sv_err_hint(err, "the backup object was damaged or replaced in the store; restore an older backup");
    }
    if (o->expect_size >= 0 && r->f.size != (uint64_t)o->expect_size)
        return sv_err_set(err, SV_ECHECKSUM, "size mismatch: the database is %llu bytes but metadata.json says %lld",
                          (unsigned long long)r->f.size, (long long)o->expect_size);
    if (o->expect_sum && crypto_sum_is_keyed(o->expect_sum) && r->f.md_db) {
        /* An encrypted backup's checksum is keyed (crypto.h): so is the
         * computed one from here on, in messages and records too. */
        char keyed[CRYPTO_SUM_LEN];
        if (!r->have_dk) {
            sv_err_set(err, SV_ECORRUPT, "metadata.json has a keyed checksum but does not say the backup is encrypted");
            return sv_err_hint(err, "the backup's metadata.json was modified; restore another backup");
        }
        if (crypto_sum_keyed(&r->dk, out->sum, keyed, err) != 0) return -1;
        memcpy(out->sum, keyed, sizeof out->sum);
    }
    if (o->expect_sum && !sum_matches(out->sum, o->expect_sum)) {
        /* A decrypted database's plain digest is never told (the message may
         * be recorded in the store, verify.json): its keyed form is. */
        char keyed[CRYPTO_SUM_LEN];
        if (r->have_dk && !crypto_sum_is_keyed(out->sum) && crypto_sum_keyed(&r->dk, out->sum, keyed, err) == 0)
            memcpy(out->sum, keyed, sizeof out->sum);
        sv_err_set(err, SV_ECHECKSUM, "checksum mismatch: the database is %s but metadata.json says %s", out->sum,
                   o->expect_sum);
        return sv_err_hint(err, "the backup or its metadata.json was damaged; restore an older backup");
    }
    if (r->f.fd >= 0 && close(r->f.fd) != 0) {
        r->f.fd = -1;
        return sv_err_set(err, SV_EIO, "unable to write the temporary file '%s': %s", out->path, strerror(errno));
    }
    r->f.fd = -1;
    return 0;
}

/* Streams, decompresses, hashes and stores the source (see restore.h). */
int restore_fetch(job_ctx *ctx, const restore_fetch_opts *o, restore_fetched *out, sv_err *err)
{
    fetch_run r = {.ctx = ctx, .o = o, .out = out, .f = {.fd = -1}};
    int64_t t0 = sv_mono_ms(ctx->clock);
    int rc = -1;

    memset(out, 0, sizeof *out);
    r.pc = (plain_in_ctx){&r.f, o};
    pthread_mutex_init(&r.p.mu, NULL);
    pthread_cond_init(&r.p.cv, NULL);
    r.p.o = o;
    /* zstd adds a little to incompressible data; a larger input cannot hold a capped database. */
    r.p.in_cap = o->max_size + o->max_size / 64 + 65536;
    r.f.cap = o->max_size;
    r.f.durable = o->durable;
    r.f.sink = o->sink;
    r.f.sink_ud = o->sink_ud;
    if (fetch_size(&r, err) != 0 || fetch_setup(&r, err) != 0 || fetch_pump(&r, err) != 0 ||
        fetch_check(&r, err) != 0)
        goto done;
    out->duration_ms = sv_mono_ms(ctx->clock) - t0;
    rc = 0;
done:
    if (r.started) {
        pthread_mutex_lock(&r.p.mu);
        r.p.abort = true;
        pthread_cond_broadcast(&r.p.cv);
        pthread_mutex_unlock(&r.p.mu);
        pthread_join(r.th, NULL);
    }
    if (r.f.fd >= 0) close(r.f.fd);
    if (rc != 0) restore_fetched_remove(out);
    for (int i = 0; i < RING; i++) free(r.p.buf[i]);
    EVP_MD_CTX_free(r.p.md_obj);
    EVP_MD_CTX_free(r.f.md_db);
    ZSTD_freeDCtx(r.f.z);
    crypto_stream_free(r.dec);
    crypto_dk_clear(&r.dk);
    free(r.f.zout);
    pthread_mutex_destroy(&r.p.mu);
    pthread_cond_destroy(&r.p.cv);
    return rc;
}
