/* write.c -- the S3 streamed writer: one PUT for small objects, otherwise a
 * multipart upload whose parts go up from background threads.
 *
 * Data written is cut into parts of exactly part_size bytes (every part but
 * the last has that size: R2's rule). A part is "sealed" only when the next
 * byte arrives, so an object of at most one part goes as a single PUT at
 * commit and never creates a multipart upload.
 *
 * Memory: parts are spooled to unlinked temporary files in the store's
 * tmp_dir (O_TMPFILE where the filesystem has it), not held in RAM. At most
 * `concurrency` sealed parts are queued or uploading plus the one being
 * filled, so the writer needs about (concurrency + 1) x part_size of disk and
 * a constant few hundred KiB of RAM (a hash buffer per thread plus curl's
 * buffers), whatever the object size. The file pages live in the page cache,
 * not in the process's resident set.
 *
 * Each upload thread hashes its part (sha256 for x-amz-content-sha256; no
 * Content-MD5, which would cost a second pass for nothing: S3 already checks
 * the signed sha256 of the payload) and PUTs it with its own keep-alive
 * connection; retries happen in the HTTP layer. The first failure stops the
 * writer: write and commit then fail, and commit or abort aborts the
 * multipart upload so nothing is left behind.
 *
 * THREAD SAFETY NOTES: the caller's thread and the upload threads share only
 * the job queue, the ETag table, the byte counter and the failure slot, all
 * under w->mu (the ETag table's growth too: a realloc outside the lock once
 * let an upload thread store into the freed block). Each upload thread has its own s3_client (connection and
 * signer). on_progress is called from the caller's thread only. */
#include "store/s3/s3.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "store/s3/xml.h"
#include "digest.h"
#include "util.h"

#define S3_MAX_PARTS 10000
#define HASH_BUF (256 * 1024)

/* A sealed part waiting for (or in) upload. */
typedef struct part_job {
    int part_no;
    int fd;
    uint64_t len;
} part_job;

typedef struct s3_writer {
    store_writer_t base;  /* must be first */
    s3_store *s;
    char *key;            /* the caller's key, for messages */
    char *full;           /* prefix + key */
    char *content_type;
    store_writer_opts o;

    int cur_fd;           /* the part being filled, -1 if none */
    uint64_t cur_len;
    uint64_t total;
    int nparts;           /* parts sealed */
    char *upload_id;      /* NULL until the object needs more than one part */
    int64_t opened_ms;    /* wall clock at open */

    pthread_mutex_t mu;
    pthread_cond_t cv;
    part_job *queue;      /* ring of capacity concurrency */
    size_t qhead, qlen;
    int busy;             /* queued + uploading */
    char **etags;         /* etags[part_no - 1] */
    size_t etags_cap;
    uint64_t uploaded;    /* bytes of parts uploaded */
    uint64_t reported;    /* bytes last passed to on_progress */
    bool failed;
    sv_err fail_err;
    bool stop;
    pthread_t *threads;
    int nthreads;
} s3_writer;

/* An unlinked temporary file in dir for one part. */
static int spool_open(const char *dir, sv_err *err)
{
    int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0)
        return fd;
    if (errno == ENOENT) {
        if (sv_mkdirs(dir, err) != 0)
            return -1;
        fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
        if (fd >= 0)
            return fd;
    }
    char *path = sv_asprintf("%s/.sqlvault-part-XXXXXX", dir);
    if (!path)
        return sv_err_set(err, SV_ENOMEM, "out of memory");
    fd = mkstemp(path);
    if (fd >= 0)
        unlink(path);
    free(path);
    if (fd < 0) {
        sv_err_set(err, errno == ENOSPC ? SV_ENOSPC : SV_EIO,
                   "cannot create a spool file in %s: %s", dir, strerror(errno));
        return sv_err_hint(err, "check SQLVAULT_TMP_DIR: it must be a writable directory");
    }
    return fd;
}

/* sha256 hex of the first len bytes of fd. */
static int hash_fd(int fd, uint64_t len, char out[SIGV4_HASH_LEN], sv_err *err)
{
    int rc = -1;
    unsigned char *buf = malloc(HASH_BUF);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!buf || !ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
        sv_err_set(err, SV_ENOMEM, "out of memory hashing a part");
        goto fail;
    }
    for (uint64_t off = 0; off < len;) {
        size_t want = len - off < HASH_BUF ? (size_t)(len - off) : HASH_BUF;
        ssize_t n = pread(fd, buf, want, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            sv_err_set(err, SV_EIO, "reading a spool file: %s", n < 0 ? strerror(errno) : "short");
            goto fail;
        }
        EVP_DigestUpdate(ctx, buf, (size_t)n);
        off += (uint64_t)n;
    }
    sv_digest_hex(ctx, out);
    rc = 0;
fail:
    EVP_MD_CTX_free(ctx);
    free(buf);
    return rc;
}

/* Records the first failure and wakes everyone. Caller holds w->mu. */
static void fail_locked(s3_writer *w, const sv_err *err)
{
    if (!w->failed) {
        w->failed = true;
        w->fail_err = *err;
    }
    pthread_cond_broadcast(&w->cv);
}

/* Uploads one part with the thread's client; fills etag (heap). */
static int upload_part(s3_writer *w, s3_client *c, const part_job *j, char **etag,
                       sv_err *err)
{
    char hash[SIGV4_HASH_LEN];
    char num[16], what[1200];
    http_response resp = {0};
    int rc = -1;
    *etag = NULL;
    if (hash_fd(j->fd, j->len, hash, err) != 0)
        return -1;
    snprintf(num, sizeof num, "%d", j->part_no);
    snprintf(what, sizeof what, "upload part %d of %.1100s", j->part_no, w->key);
    sigv4_pair q[] = {{"partNumber", num}, {"uploadId", w->upload_id}};
    s3_req r = {.method = "PUT", .key = w->full, .query = q, .nq = 2, .body_from_fd = true,
                .body_fd = j->fd, .body_len = j->len, .payload_hash = hash, .what = what};
    if (s3_request(c, &r, &resp, err) != 0)
        goto fail;
    if (!resp.etag[0]) {
        sv_err_set(err, SV_EREMOTE, "%s: s3 answered without an ETag", what);
        goto fail;
    }
    *etag = sv_strdup(resp.etag);
    if (!*etag) {
        sv_err_set(err, SV_ENOMEM, "out of memory");
        goto fail;
    }
    rc = 0;
fail:
    http_response_clear(&resp);
    return rc;
}

/* An upload thread: takes sealed parts off the queue until told to stop. */
static void *upload_thread(void *arg)
{
    s3_writer *w = arg;
    s3_client c = {0};
    sv_err err = {0};
    bool client_ok = s3_client_init(&c, w->s, &err) == 0;

    pthread_mutex_lock(&w->mu);
    if (!client_ok)
        fail_locked(w, &err);
    for (;;) {
        while (w->qlen == 0 && !w->stop)
            pthread_cond_wait(&w->cv, &w->mu);
        if (w->qlen == 0)
            break;
        part_job j = w->queue[w->qhead];
        w->qhead = (w->qhead + 1) % (size_t)w->s->concurrency;
        w->qlen--;
        bool skip = w->failed || w->stop;
        pthread_mutex_unlock(&w->mu);

        char *etag = NULL;
        int rc = skip ? -1 : upload_part(w, &c, &j, &etag, &err);
        close(j.fd);

        pthread_mutex_lock(&w->mu);
        if (rc == 0) {
            w->etags[j.part_no - 1] = etag;
            w->uploaded += j.len;
        } else if (!skip) {
            fail_locked(w, &err);
        }
        w->busy--;
        pthread_cond_broadcast(&w->cv);
    }
    pthread_mutex_unlock(&w->mu);
    s3_client_fini(&c);
    return NULL;
}

/* Calls on_progress when more bytes were uploaded since last time. */
static void report_progress(s3_writer *w)
{
    if (!w->o.on_progress)
        return;
    pthread_mutex_lock(&w->mu);
    uint64_t up = w->uploaded;
    pthread_mutex_unlock(&w->mu);
    if (up != w->reported) {
        w->reported = up;
        w->o.on_progress(w->o.progress_ud, up);
    }
}

/* CreateMultipartUpload, and the upload threads. */
static int start_multipart(s3_writer *w, sv_err *err)
{
    s3_store *s = w->s;
    http_response resp = {0};
    int rc = -1;
    char what[1200];
    snprintf(what, sizeof what, "create multipart upload of %.1100s", w->key);
    sigv4_pair q[] = {{"uploads", ""}};
    sigv4_pair h[] = {{"Content-Type", w->content_type}};
    s3_req r = {.method = "POST", .key = w->full, .query = q, .nq = 1, .headers = h, .nh = 1,
                .what = what};
    if (s3_request(&s->main, &r, &resp, err) != 0)
        goto fail;
    w->upload_id = s3_xml_find(resp.body, resp.body_len, "InitiateMultipartUploadResult/UploadId");
    if (!w->upload_id || !w->upload_id[0]) {
        free(w->upload_id);
        w->upload_id = NULL;
        sv_err_set(err, SV_EREMOTE, "%s: s3 answered without an UploadId", what);
        goto fail;
    }
    w->threads = calloc((size_t)s->concurrency, sizeof *w->threads);
    if (!w->threads) {
        sv_err_set(err, SV_ENOMEM, "out of memory");
        goto fail;
    }
    for (int i = 0; i < s->concurrency; i++) {
        if (pthread_create(&w->threads[i], NULL, upload_thread, w) != 0) {
            sv_err_set(err, SV_EINTERNAL, "cannot start an upload thread");
            goto fail;
        }
        w->nthreads++;
    }
    rc = 0;
fail:
    http_response_clear(&resp);
    return rc;
}

/* Hands the filled part to the upload threads (starting the multipart upload
 * on the first one), waiting while `concurrency` parts are in flight. */
static int seal_part(s3_writer *w, sv_err *err)
{
    if (w->nparts >= S3_MAX_PARTS)
        return sv_err_set(err, SV_ETOOBIG,
                          "upload of %s: more than %d parts of %llu bytes", w->key, S3_MAX_PARTS,
                          (unsigned long long)w->s->part_size);
    if (!w->upload_id && start_multipart(w, err) != 0)
        return -1;
    pthread_mutex_lock(&w->mu);
    /* The table grows under w->mu: upload threads store ETags into it under
     * the same lock, so none can write into the block realloc moves away. */
    if ((size_t)w->nparts >= w->etags_cap) {
        size_t cap = w->etags_cap ? w->etags_cap * 2 : 64;
        char **e = realloc(w->etags, cap * sizeof *e);
        if (!e) {
            pthread_mutex_unlock(&w->mu);
            return sv_err_set(err, SV_ENOMEM, "out of memory");
        }
        memset(e + w->etags_cap, 0, (cap - w->etags_cap) * sizeof *e);
        w->etags = e;
        w->etags_cap = cap;
    }
    while (w->busy >= w->s->concurrency && !w->failed)
        pthread_cond_wait(&w->cv, &w->mu);
    if (w->failed) {
        *err = w->fail_err;
        pthread_mutex_unlock(&w->mu);
        return -1;
    }
    size_t tail = (w->qhead + w->qlen) % (size_t)w->s->concurrency;
    w->queue[tail] = (part_job){.part_no = ++w->nparts, .fd = w->cur_fd, .len = w->cur_len};
    w->qlen++;
    w->busy++;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    w->cur_fd = -1;
    w->cur_len = 0;
    report_progress(w);
    w->cur_fd = spool_open(w->s->tmp_dir, err);
    return w->cur_fd < 0 ? -1 : 0;
}

/* Opens a writer (see store.h); nothing is sent before the first part fills. */
int s3_writer_open(store_t *st, const char *key, const store_writer_opts *o, store_writer_t **out,
                   sv_err *err)
{
    s3_store *s = (s3_store *)st;
    s3_writer *w = calloc(1, sizeof *w);
    *out = NULL;
    if (!w)
        return sv_err_set(err, SV_ENOMEM, "out of memory");
    w->base.vt = st->vt;
    w->s = s;
    w->cur_fd = -1;
    w->opened_ms = s3_sign_now(s); /* compared with the server's Last-Modified */
    if (o)
        w->o = *o;
    w->key = sv_strdup(key);
    w->full = s3_full_key(s, key);
    w->content_type = sv_strdup(o && o->content_type ? o->content_type : "application/octet-stream");
    w->queue = calloc((size_t)s->concurrency, sizeof *w->queue);
    if (!w->key || !w->full || !w->content_type || !w->queue) {
        sv_err_set(err, SV_ENOMEM, "out of memory");
        goto fail;
    }
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    w->cur_fd = spool_open(s->tmp_dir, err);
    if (w->cur_fd < 0)
        goto fail_sync;
    *out = &w->base;
    return 0;
fail_sync:
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
fail:
    free(w->key);
    free(w->full);
    free(w->content_type);
    free(w->queue);
    free(w);
    return -1;
}

/* Appends data, sealing a part each time one is full and more data follows. */
int s3_writer_write(store_writer_t *wb, const void *data, size_t len, sv_err *err)
{
    s3_writer *w = (s3_writer *)wb;
    const char *p = data;
    pthread_mutex_lock(&w->mu);
    bool failed = w->failed;
    if (failed)
        *err = w->fail_err;
    pthread_mutex_unlock(&w->mu);
    if (failed)
        return -1;
    while (len) {
        if (w->cur_len == w->s->part_size && seal_part(w, err) != 0)
            return -1;
        uint64_t room = w->s->part_size - w->cur_len;
        size_t n = len < room ? len : (size_t)room;
        if (sv_write_all(w->cur_fd, p, n) != 0)
            return sv_err_set(err, errno == ENOSPC || errno == EDQUOT ? SV_ENOSPC : SV_EIO,
                              "writing a spool file in %s: %s", w->s->tmp_dir, strerror(errno));
        w->cur_len += n;
        w->total += n;
        p += n;
        len -= n;
    }
    return 0;
}

/* Stops and joins the upload threads; closes queued parts' files. */
static void stop_threads(s3_writer *w)
{
    pthread_mutex_lock(&w->mu);
    w->stop = true;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    for (int i = 0; i < w->nthreads; i++)
        pthread_join(w->threads[i], NULL);
    w->nthreads = 0;
    while (w->qlen) { /* only left when no thread ever ran */
        close(w->queue[w->qhead].fd);
        w->qhead = (w->qhead + 1) % (size_t)w->s->concurrency;
        w->qlen--;
    }
}

/* Frees the writer and everything it holds (threads must be stopped). */
static void writer_free(s3_writer *w)
{
    if (w->cur_fd >= 0)
        close(w->cur_fd);
    for (size_t i = 0; i < w->etags_cap; i++)
        free(w->etags[i]);
    free(w->etags);
    free(w->threads);
    free(w->queue);
    free(w->upload_id);
    free(w->key);
    free(w->full);
    free(w->content_type);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    free(w);
}

/* Aborts the multipart upload, if any, keeping err as it is. */
static void abort_multipart(s3_writer *w)
{
    if (!w->upload_id)
        return;
    sv_err e2 = {0};
    /* abort_upload wants the caller's key, which it prefixes again. */
    if (store_abort_upload(&w->s->base, w->key, w->upload_id, &e2) != 0)
        log_warn(NULL, NULL, "could not abort the multipart upload of %s: %s", w->key, e2.msg);
}

/* Single PUT of the spooled object (at most one part). */
static int put_single(s3_writer *w, sv_err *err)
{
    char hash[SIGV4_HASH_LEN];
    http_response resp = {0};
    int rc = -1;
    char *what = sv_asprintf("put %s", w->key);
    if (!what)
        return sv_err_set(err, SV_ENOMEM, "out of memory");
    if (hash_fd(w->cur_fd, w->cur_len, hash, err) != 0)
        goto fail;
    sigv4_pair h[] = {{"Content-Type", w->content_type}};
    s3_req r = {.method = "PUT", .key = w->full, .headers = h, .nh = 1, .body_from_fd = true,
                .body_fd = w->cur_fd, .body_len = w->cur_len, .payload_hash = hash, .what = what};
    if (s3_request(&w->s->main, &r, &resp, err) != 0)
        goto fail;
    rc = 0;
fail:
    http_response_clear(&resp);
    free(what);
    return rc;
}

/* Retry a 200 whose body is a transient <Error> (S3's Complete may do this). */
static bool complete_retry(void *ud, const http_response *resp)
{
    (void)ud;
    char *code = s3_xml_find(resp->body, resp->body_len, "Error/Code");
    bool again = code && (strcmp(code, "InternalError") == 0 || strcmp(code, "SlowDown") == 0 ||
                          strcmp(code, "ServiceUnavailable") == 0);
    free(code);
    return again;
}

/* After a Complete that could not be confirmed (the reply was lost, then the
 * retry found no upload), checks whether the object is there with our size
 * and either a multipart ETag of our part count (AWS, R2) or a modification
 * time after this writer opened (servers without "-N" ETags). */
static bool completed_anyway(s3_writer *w)
{
    store_stat st;
    sv_err e2;
    char suffix[16];
    if (store_stat_key(&w->s->base, w->key, &st, &e2) != 0 || st.size != w->total)
        return false;
    snprintf(suffix, sizeof suffix, "-%d", w->nparts);
    size_t el = strlen(st.etag), sl = strlen(suffix);
    if (el > sl && strcmp(st.etag + el - sl, suffix) == 0)
        return true;
    /* Last-Modified has 1 s resolution: allow for the truncation. */
    return st.mtime_ms >= w->opened_ms - 1000;
}

/* CompleteMultipartUpload with every part's ETag, in order. */
static int complete_multipart(s3_writer *w, sv_err *err)
{
    sv_buf b;
    http_response resp = {0};
    int rc = -1;
    char *etag = NULL, *ecode = NULL, *emsg = NULL;
    char what[1200];
    snprintf(what, sizeof what, "complete multipart upload of %.1100s", w->key);
    sv_buf_init(&b, 0);
    if (sv_buf_adds(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CompleteMultipartUpload>") != 0)
        goto oom;
    for (int i = 0; i < w->nparts; i++) {
        if (!w->etags[i]) {
            sv_err_set(err, SV_EINTERNAL, "upload of %s: part %d has no etag", w->key, i + 1);
            goto fail;
        }
        if (sv_buf_addf(&b, "<Part><PartNumber>%d</PartNumber><ETag>", i + 1) != 0 ||
            s3_xml_escape(&b, w->etags[i]) != 0 || sv_buf_adds(&b, "</ETag></Part>") != 0)
            goto oom;
    }
    if (sv_buf_adds(&b, "</CompleteMultipartUpload>") != 0)
        goto oom;
    sigv4_pair q[] = {{"uploadId", w->upload_id}};
    sigv4_pair h[] = {{"Content-Type", "application/xml"}};
    s3_req r = {.method = "POST", .key = w->full, .query = q, .nq = 1, .headers = h, .nh = 1,
                .body = b.p, .body_len = b.len, .retry_response = complete_retry, .what = what};
    if (s3_request(&w->s->main, &r, &resp, err) != 0) {
        if (err->code == SV_ENOTFOUND && resp.attempts > 1 && completed_anyway(w)) {
            sv_err_clear(err);
            rc = 0;
        }
        goto fail;
    }
    ecode = s3_xml_find(resp.body, resp.body_len, "Error/Code");
    if (ecode) {
        emsg = s3_xml_find(resp.body, resp.body_len, "Error/Message");
        sv_err_set(err, SV_EREMOTE, "%s: s3 answered 200 with an error: %s %s", what, ecode,
                   emsg ? emsg : "");
        goto fail;
    }
    etag = s3_xml_find(resp.body, resp.body_len, "CompleteMultipartUploadResult/ETag");
    if (!etag || !etag[0]) {
        sv_err_set(err, SV_EREMOTE, "%s: s3 answered without an ETag", what);
        goto fail;
    }
    rc = 0;
    goto fail;
oom:
    sv_err_set(err, SV_ENOMEM, "out of memory");
fail:
    free(etag);
    free(ecode);
    free(emsg);
    sv_buf_free(&b);
    http_response_clear(&resp);
    return rc;
}

/* Finishes the object: single PUT, or last part + Complete. Frees w. */
int s3_writer_commit(store_writer_t *wb, sv_err *err)
{
    s3_writer *w = (s3_writer *)wb;
    int rc = -1;
    if (!w->upload_id) {
        rc = put_single(w, err);
        if (rc == 0 && w->o.on_progress)
            w->o.on_progress(w->o.progress_ud, w->total);
        writer_free(w);
        return rc;
    }
    if (w->cur_len > 0 && seal_part(w, err) != 0)
        goto fail;
    pthread_mutex_lock(&w->mu);
    while (w->busy > 0) {
        pthread_mutex_unlock(&w->mu);
        report_progress(w);
        pthread_mutex_lock(&w->mu);
        if (w->busy > 0)
            pthread_cond_wait(&w->cv, &w->mu);
    }
    bool failed = w->failed;
    if (failed)
        *err = w->fail_err;
    pthread_mutex_unlock(&w->mu);
    if (failed)
        goto fail;
    report_progress(w);
    stop_threads(w);
    if (complete_multipart(w, err) != 0)
        goto fail;
    writer_free(w);
    return 0;
fail:
    stop_threads(w);
    abort_multipart(w);
    writer_free(w);
    return -1;
}

/* Drops everything: threads, spool files, the multipart upload. Frees w. */
void s3_writer_abort(store_writer_t *wb)
{
    s3_writer *w = (s3_writer *)wb;
    if (!w)
        return;
    stop_threads(w);
    abort_multipart(w);
    writer_free(w);
}
