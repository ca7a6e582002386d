/* seek.c -- page-addressable objects (seek.h): the writer, which compresses
 * independent frames on a few threads and writes them in order, and the
 * index's parser.
 *
 * Memory: the frames in flight (threads + 2 slots of one frame's plaintext
 * and its compressed bound), a zstd context per thread; the index's page
 * numbers and hashes wait in two unlinked temporary files, so a writer's
 * memory does not grow with the object. */
#include "seek.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zstd.h>
#include "digest.h"
#include "util.h"

#define MAX_THREADS 8
#define SPILL_BUF (64 * 1024)
#define SLACK 64 /* a page stream's trailer after its last record */

/* ---- a growing section of the index, in an unlinked file ---------------- */

typedef struct spill {
    int fd;
    unsigned char *buf;
    size_t len;
    uint64_t total;
} spill;

static int spill_open(spill *s, const char *dir, sv_err *err)
{
    if (dir && *dir && sv_mkdirs(dir, err) != 0) return -1;
    s->fd = open(dir && *dir ? dir : "/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (s->fd < 0) return sv_err_set(err, SV_EIO, "unable to make a temporary file in %s: %s", dir ? dir : "/tmp",
                                      strerror(errno));
    s->buf = malloc(SPILL_BUF);
    if (!s->buf) return sv_err_set(err, SV_ENOMEM, "out of memory");
    return 0;
}

static int spill_flush(spill *s, sv_err *err)
{
    size_t done = 0;
    while (done < s->len) {
        ssize_t n = write(s->fd, s->buf + done, s->len - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return sv_err_set(err, SV_EIO, "unable to write a temporary file: %s", strerror(errno));
        done += (size_t)n;
    }
    s->len = 0;
    return 0;
}

static int spill_add(spill *s, const void *d, size_t n, sv_err *err)
{
    if (s->len + n > SPILL_BUF && spill_flush(s, err) != 0) return -1;
    memcpy(s->buf + s->len, d, n);
    s->len += n;
    s->total += n;
    return 0;
}

/* Replays the section into fn, hashing it too. */
static int spill_replay(spill *s, EVP_MD_CTX *md, seek_out_fn fn, void *ud, sv_err *err)
{
    if (spill_flush(s, err) != 0) return -1;
    if (lseek(s->fd, 0, SEEK_SET) < 0) return sv_err_set(err, SV_EIO, "lseek: %s", strerror(errno));
    for (uint64_t left = s->total; left > 0;) {
        ssize_t n = read(s->fd, s->buf, left < SPILL_BUF ? (size_t)left : SPILL_BUF);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return sv_err_set(err, SV_EIO, "unable to read a temporary file: %s", n < 0 ? strerror(errno) : "short");
        EVP_DigestUpdate(md, s->buf, (size_t)n);
        if (fn(ud, s->buf, (size_t)n, err) != 0) return -1;
        left -= (uint64_t)n;
    }
    return 0;
}

static void spill_close(spill *s)
{
    if (s->fd >= 0) close(s->fd);
    s->fd = -1;
    free(s->buf);
    s->buf = NULL;
}

/* ---- the writer ----------------------------------------------------------- */

enum { SLOT_FREE, SLOT_FILLING, SLOT_QUEUED, SLOT_BUSY, SLOT_DONE };

typedef struct slot {
    unsigned char *in, *out;
    size_t in_len, out_cap, out_len;
    uint32_t first;
    int state;
    size_t zrc; /* ZSTD result (an error code when ZSTD_isError) */
} slot;

typedef struct frame_ent {
    uint32_t csize, dsize, first;
} frame_ent;

struct seek_writer {
    seek_opts o;
    seek_out_fn out;
    void *ud;
    slot *slots;
    int nslots;
    uint64_t fill_seq, drain_seq; /* the slot being filled; the next to write out */
    pthread_t th[MAX_THREADS];
    int nth;
    ZSTD_CCtx *inline_z;
    pthread_mutex_t mu;
    pthread_cond_t cv_work, cv_done;
    bool stop, sync_ok;
    frame_ent *fr;
    size_t nfr, frcap;
    uint64_t written;   /* compressed bytes out */
    uint64_t plain;     /* plaintext bytes in */
    uint32_t records;
    spill pg, hs;
    int level;
};

static void set_params(ZSTD_CCtx *z, int level)
{
    ZSTD_CCtx_setParameter(z, ZSTD_c_compressionLevel, level);
    ZSTD_CCtx_setParameter(z, ZSTD_c_checksumFlag, 1);
}

static void compress_slot(ZSTD_CCtx *z, slot *s)
{
    s->zrc = ZSTD_compress2(z, s->out, s->out_cap, s->in, s->in_len);
    s->out_len = ZSTD_isError(s->zrc) ? 0 : s->zrc;
}

static void *worker(void *arg)
{
    seek_writer *w = arg;
    ZSTD_CCtx *z = ZSTD_createCCtx();
    if (z) set_params(z, w->level);
    pthread_mutex_lock(&w->mu);
    for (;;) {
        slot *s = NULL;
        for (int i = 0; i < w->nslots && !s; i++)
            if (w->slots[i].state == SLOT_QUEUED) s = &w->slots[i];
        if (!s) {
            if (w->stop) break;
            pthread_cond_wait(&w->cv_work, &w->mu);
            continue;
        }
        s->state = SLOT_BUSY;
        pthread_mutex_unlock(&w->mu);
        if (z) compress_slot(z, s);
        else s->zrc = (size_t)-1, s->out_len = 0;
        pthread_mutex_lock(&w->mu);
        s->state = SLOT_DONE;
        pthread_cond_broadcast(&w->cv_done);
    }
    pthread_mutex_unlock(&w->mu);
    ZSTD_freeCCtx(z);
    return NULL;
}

int seek_writer_new(const seek_opts *o, seek_out_fn out, void *ud, seek_writer **wp, sv_err *err)
{
    seek_writer *w = calloc(1, sizeof *w);
    *wp = NULL;
    if (!w) return sv_err_set(err, SV_ENOMEM, "out of memory");
    w->o = *o;
    w->out = out;
    w->ud = ud;
    w->level = o->level;
    w->pg.fd = w->hs.fd = -1;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv_work, NULL);
    pthread_cond_init(&w->cv_done, NULL);
    w->sync_ok = true;
    w->nth = o->threads > 1 ? (o->threads > MAX_THREADS ? MAX_THREADS : o->threads) : 0;
    w->nslots = w->nth ? w->nth + 2 : 1;
    w->slots = calloc((size_t)w->nslots, sizeof *w->slots);
    if (!w->slots) goto oom;
    for (int i = 0; i < w->nslots; i++) {
        slot *s = &w->slots[i];
        s->out_cap = ZSTD_compressBound(SEEK_FRAME_SIZE + SLACK);
        s->in = malloc(SEEK_FRAME_SIZE + SLACK);
        s->out = malloc(s->out_cap);
        if (!s->in || !s->out) goto oom;
    }
    if (o->page_size && (spill_open(&w->hs, o->tmp_dir, err) != 0 ||
                         (o->kind == SEEK_KIND_STREAM && spill_open(&w->pg, o->tmp_dir, err) != 0))) {
        seek_writer_free(w);
        return -1;
    }
    if (!w->nth) {
        w->inline_z = ZSTD_createCCtx();
        if (!w->inline_z) goto oom;
        set_params(w->inline_z, w->level);
    }
    for (int i = 0; i < w->nth; i++) {
        if (pthread_create(&w->th[i], NULL, worker, w) != 0) {
            w->nth = i;
            seek_writer_free(w);
            return sv_err_set(err, SV_EINTERNAL, "unable to start a compression thread");
        }
    }
    w->slots[0].state = SLOT_FILLING;
    *wp = w;
    return 0;
oom:
    seek_writer_free(w);
    return sv_err_set(err, SV_ENOMEM, "out of memory");
}

static slot *cur(seek_writer *w) { return &w->slots[w->fill_seq % (uint64_t)w->nslots]; }

/* Writes out the oldest queued frame once compressed. */
static int drain_one(seek_writer *w, sv_err *err)
{
    slot *s = &w->slots[w->drain_seq % (uint64_t)w->nslots];
    pthread_mutex_lock(&w->mu);
    while (s->state != SLOT_DONE) pthread_cond_wait(&w->cv_done, &w->mu);
    pthread_mutex_unlock(&w->mu);
    if (ZSTD_isError(s->zrc))
        return sv_err_set(err, SV_EINTERNAL, "zstd: %s", ZSTD_getErrorName(s->zrc));
    if (w->nfr == w->frcap) {
        size_t cap = w->frcap ? w->frcap * 2 : 64;
        frame_ent *f = realloc(w->fr, cap * sizeof *f);
        if (!f) return sv_err_set(err, SV_ENOMEM, "out of memory");
        w->fr = f;
        w->frcap = cap;
    }
    if (s->out_len > UINT32_MAX) return sv_err_set(err, SV_EINTERNAL, "a frame is too big");
    w->fr[w->nfr++] = (frame_ent){(uint32_t)s->out_len, (uint32_t)s->in_len, s->first};
    if (w->out(w->ud, s->out, s->out_len, err) != 0) return -1;
    w->written += s->out_len;
    s->state = SLOT_FREE;
    s->in_len = 0;
    w->drain_seq++;
    return 0;
}

/* Ends the frame being filled and starts the next. */
static int submit(seek_writer *w, sv_err *err)
{
    slot *s = cur(w);
    if (w->nth) {
        pthread_mutex_lock(&w->mu);
        s->state = SLOT_QUEUED;
        pthread_cond_signal(&w->cv_work);
        pthread_mutex_unlock(&w->mu);
    } else {
        compress_slot(w->inline_z, s);
        s->state = SLOT_DONE;
    }
    w->fill_seq++;
    /* the next slot must be free before it is filled */
    while (w->fill_seq - w->drain_seq >= (uint64_t)w->nslots || (!w->nth && w->drain_seq < w->fill_seq))
        if (drain_one(w, err) != 0) return -1;
    s = cur(w);
    s->state = SLOT_FILLING;
    s->in_len = 0;
    if (w->o.kind == SEEK_KIND_STREAM) s->first = w->records;
    else s->first = w->o.page_size ? (uint32_t)(w->plain / w->o.page_size) : 0;
    return 0;
}

int seek_write(seek_writer *w, const void *data, size_t len, sv_err *err)
{
    const unsigned char *p = data;
    while (len > 0) {
        slot *s = cur(w);
        size_t room, n;
        if (w->o.kind == SEEK_KIND_FILE) {
            room = SEEK_FRAME_SIZE - s->in_len;
            n = len < room ? len : room;
        } else {
            room = SEEK_FRAME_SIZE + SLACK - s->in_len;
            if (len > room) return sv_err_set(err, SV_EINTERNAL, "a page record does not fit its frame");
            n = len;
        }
        memcpy(s->in + s->in_len, p, n);
        s->in_len += n;
        w->plain += n;
        p += n;
        len -= n;
        if (w->o.kind == SEEK_KIND_FILE && s->in_len == SEEK_FRAME_SIZE && submit(w, err) != 0) return -1;
    }
    return 0;
}

int seek_page(seek_writer *w, uint32_t pgno, const unsigned char *hash, sv_err *err)
{
    if (!w->o.page_size) return 0;
    if (w->records == UINT32_MAX) return sv_err_set(err, SV_EINTERNAL, "too many pages");
    if (spill_add(&w->hs, hash, SEEK_HASH_LEN, err) != 0) return -1;
    w->records++;
    if (w->o.kind != SEEK_KIND_STREAM) return 0;
    {
        unsigned char le[4] = {(unsigned char)pgno, (unsigned char)(pgno >> 8), (unsigned char)(pgno >> 16),
                               (unsigned char)(pgno >> 24)};
        if (spill_add(&w->pg, le, 4, err) != 0) return -1;
    }
    /* the next record (4 + page) must fit whole in the frame */
    if (cur(w)->in_len + 4 + w->o.page_size > SEEK_FRAME_SIZE) return submit(w, err);
    return 0;
}

static void put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}

static uint32_t get32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int out_hashed(seek_writer *w, EVP_MD_CTX *md, const void *d, size_t n, sv_err *err)
{
    EVP_DigestUpdate(md, d, n);
    if (w->out(w->ud, d, n, err) != 0) return -1;
    w->written += n;
    return 0;
}

static int out_counted(void *ud, const void *d, size_t n, sv_err *err)
{
    seek_writer *w = ud;
    if (w->out(w->ud, d, n, err) != 0) return -1;
    w->written += n;
    return 0;
}

int seek_writer_finish(seek_writer *w, uint32_t page_count, json_t **meta, sv_err *err)
{
    EVP_MD_CTX *mi = EVP_MD_CTX_new(), *mh = EVP_MD_CTX_new();
    unsigned char head[SEEK_INDEX_HEAD], e[12], *tab = NULL;
    uint64_t index_off, content, index_size;
    char isum[72], hsum[72];
    int rc = -1;
    *meta = NULL;
    if (!mi || !mh) {
        sv_err_set(err, SV_ENOMEM, "out of memory");
        goto done;
    }
    EVP_DigestInit_ex(mi, EVP_sha256(), NULL);
    EVP_DigestInit_ex(mh, EVP_sha256(), NULL);
    /* the last frame (an empty object still gets one, so zstd -d reads it) */
    if (cur(w)->in_len > 0 || w->nfr + (w->fill_seq - w->drain_seq) == 0) {
        if (submit(w, err) != 0) goto done;
    }
    while (w->drain_seq < w->fill_seq)
        if (drain_one(w, err) != 0) goto done;
    index_off = w->written;
    content = SEEK_INDEX_HEAD + 4 - 8 + (uint64_t)w->nfr * 12 + w->pg.total + w->hs.total;
    if (content > UINT32_MAX) {
        sv_err_set(err, SV_ETOOBIG, "the page index would exceed 4 GiB");
        goto done;
    }
    put32(head, SEEK_INDEX_MAGIC);
    put32(head + 4, (uint32_t)content);
    memcpy(head + 8, "SVSEEK1\0", 8);
    put32(head + 16, w->o.kind);
    put32(head + 20, w->o.page_size);
    put32(head + 24, page_count);
    put32(head + 28, w->records);
    put32(head + 32, SEEK_FRAME_SIZE);
    put32(head + 36, (uint32_t)w->nfr);
    put32(head + 40, w->o.page_size ? SEEK_HASH_LEN : 0);
    /* head_len is not in the fixed head: it is the first frame's first record offset */
    if (out_hashed(w, mi, head, sizeof head, err) != 0) goto done;
    {
        unsigned char hl[4];
        put32(hl, w->o.head_len);
        if (out_hashed(w, mi, hl, 4, err) != 0) goto done;
    }
    for (size_t i = 0; i < w->nfr; i++) {
        put32(e, w->fr[i].csize);
        put32(e + 4, w->fr[i].dsize);
        put32(e + 8, w->fr[i].first);
        if (out_hashed(w, mi, e, 12, err) != 0) goto done;
    }
    if (w->pg.fd >= 0 && spill_replay(&w->pg, mi, out_counted, w, err) != 0) goto done;
    index_size = w->written - index_off;
    if (w->hs.fd >= 0 && spill_replay(&w->hs, mh, out_counted, w, err) != 0) goto done;
    /* the seek table, as the zstd seekable format has it */
    tab = malloc(8 + (size_t)w->nfr * 8 + 9);
    if (!tab) {
        sv_err_set(err, SV_ENOMEM, "out of memory");
        goto done;
    }
    put32(tab, SEEK_TABLE_MAGIC);
    put32(tab + 4, (uint32_t)(w->nfr * 8 + 9));
    for (size_t i = 0; i < w->nfr; i++) {
        put32(tab + 8 + i * 8, w->fr[i].csize);
        put32(tab + 12 + i * 8, w->fr[i].dsize);
    }
    put32(tab + 8 + w->nfr * 8, (uint32_t)w->nfr);
    tab[12 + w->nfr * 8] = 0;
    put32(tab + 13 + w->nfr * 8, SEEK_FOOTER_MAGIC);
    if (out_counted(w, tab, 8 + w->nfr * 8 + 9, err) != 0) goto done;
    sv_digest_checksum(mi, isum);
    sv_digest_checksum(mh, hsum);
    *meta = json_pack("{s:i, s:I, s:i, s:I, s:I, s:s, s:I, s:I, s:s}", "version", 1, "frames", (json_int_t)w->nfr,
                      "frameSize", (int)SEEK_FRAME_SIZE, "indexOffset", (json_int_t)index_off, "indexSize",
                      (json_int_t)index_size, "indexChecksum", isum, "hashesOffset",
                      (json_int_t)(index_off + index_size), "hashesSize", (json_int_t)w->hs.total,
                      "hashesChecksum", hsum);
    if (!*meta) {
        sv_err_set(err, SV_ENOMEM, "out of memory");
        goto done;
    }
    rc = 0;
done:
    free(tab);
    EVP_MD_CTX_free(mi);
    EVP_MD_CTX_free(mh);
    return rc;
}

void seek_writer_free(seek_writer *w)
{
    if (!w) return;
    pthread_mutex_lock(&w->mu);
    w->stop = true;
    pthread_cond_broadcast(&w->cv_work);
    pthread_mutex_unlock(&w->mu);
    for (int i = 0; i < w->nth; i++) pthread_join(w->th[i], NULL);
    for (int i = 0; w->slots && i < w->nslots; i++) {
        free(w->slots[i].in);
        free(w->slots[i].out);
    }
    free(w->slots);
    ZSTD_freeCCtx(w->inline_z);
    spill_close(&w->pg);
    spill_close(&w->hs);
    free(w->fr);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv_work);
    pthread_cond_destroy(&w->cv_done);
    free(w);
}

/* ---- the index's parser ------------------------------------------------------ */

int seek_index_parse(const void *data, size_t len, uint64_t index_offset, seek_index *ix, sv_err *err)
{
    const unsigned char *p = data;
    uint64_t need, off = 0, first_prev = 0;
    memset(ix, 0, sizeof *ix);
    if (len < SEEK_INDEX_HEAD + 4 || get32(p) != SEEK_INDEX_MAGIC || memcmp(p + 8, "SVSEEK1\0", 8) != 0)
        return sv_err_set(err, SV_ECORRUPT, "the page index is not one (bad magic or too short: %zu bytes)", len);
    ix->kind = get32(p + 16);
    ix->page_size = get32(p + 20);
    ix->page_count = get32(p + 24);
    ix->records = get32(p + 28);
    ix->frame_size = get32(p + 32);
    ix->frames = get32(p + 36);
    ix->head_len = get32(p + SEEK_INDEX_HEAD);
    if (ix->kind > SEEK_KIND_STREAM) return sv_err_set(err, SV_ECORRUPT, "the page index has an unknown kind %u", ix->kind);
    if (ix->page_size && (ix->page_size < 512 || ix->page_size > 65536 || (ix->page_size & (ix->page_size - 1))))
        return sv_err_set(err, SV_ECORRUPT, "the page index gives an impossible page size %u", ix->page_size);
    if (ix->frame_size == 0 || ix->frame_size > 64u * 1024 * 1024 || ix->frames == 0)
        return sv_err_set(err, SV_ECORRUPT, "the page index gives %u frames of %u bytes", ix->frames, ix->frame_size);
    if (ix->head_len > 4096) return sv_err_set(err, SV_ECORRUPT, "the page index gives a header of %u bytes", ix->head_len);
    if (get32(p + 40) != (ix->page_size ? SEEK_HASH_LEN : 0))
        return sv_err_set(err, SV_ECORRUPT, "the page index has hashes of %u bytes", get32(p + 40));
    need = SEEK_INDEX_HEAD + 4 + (uint64_t)ix->frames * 12 + (ix->kind == SEEK_KIND_STREAM ? (uint64_t)ix->records * 4 : 0);
    if (need != len)
        return sv_err_set(err, SV_ECORRUPT, "the page index is %zu bytes, its counts say %llu", len,
                          (unsigned long long)need);
    ix->frame = calloc(ix->frames, sizeof *ix->frame);
    if (ix->kind == SEEK_KIND_STREAM && ix->records) ix->pgno = malloc((size_t)ix->records * 4);
    if (!ix->frame || (ix->kind == SEEK_KIND_STREAM && ix->records && !ix->pgno)) {
        seek_index_free(ix);
        return sv_err_set(err, SV_ENOMEM, "out of memory");
    }
    for (uint32_t i = 0; i < ix->frames; i++) {
        const unsigned char *e = p + SEEK_INDEX_HEAD + 4 + (size_t)i * 12;
        seek_frame *f = &ix->frame[i];
        f->offset = off;
        f->csize = get32(e);
        f->dsize = get32(e + 4);
        f->first = get32(e + 8);
        if (f->csize == 0 || f->dsize > ix->frame_size + SLACK || f->first < first_prev ||
            (ix->records && f->first > ix->records)) {
            seek_index_free(ix);
            return sv_err_set(err, SV_ECORRUPT, "the page index's frame %u is impossible (%u -> %u bytes, first %u)", i,
                              f->csize, f->dsize, f->first);
        }
        first_prev = f->first;
        off += f->csize;
    }
    if (off != index_offset) {
        seek_index_free(ix);
        return sv_err_set(err, SV_ECORRUPT, "the page index's frames end at %llu, the index is at %llu",
                          (unsigned long long)off, (unsigned long long)index_offset);
    }
    if (ix->kind == SEEK_KIND_FILE && ix->page_size) {
        uint64_t total = 0;
        for (uint32_t i = 0; i < ix->frames; i++) {
            if (ix->frame[i].first != total / ix->page_size || ix->frame[i].dsize % ix->page_size) {
                seek_index_free(ix);
                return sv_err_set(err, SV_ECORRUPT, "the page index's frame %u does not hold whole pages", i);
            }
            total += ix->frame[i].dsize;
        }
        if (total != (uint64_t)ix->records * ix->page_size || ix->records != ix->page_count) {
            seek_index_free(ix);
            return sv_err_set(err, SV_ECORRUPT, "the page index's frames hold %llu bytes, not %u pages",
                              (unsigned long long)total, ix->records);
        }
    }
    if (ix->kind == SEEK_KIND_STREAM) {
        const unsigned char *q = p + SEEK_INDEX_HEAD + 4 + (size_t)ix->frames * 12;
        for (uint32_t i = 0; i < ix->records; i++) {
            ix->pgno[i] = get32(q + (size_t)i * 4);
            if (ix->pgno[i] == 0 || ix->pgno[i] > ix->page_count || (i && ix->pgno[i] <= ix->pgno[i - 1])) {
                seek_index_free(ix);
                return sv_err_set(err, SV_ECORRUPT, "the page index's record %u names page %u (of %u, after %u)", i,
                                  ix->pgno[i], ix->page_count, i ? ix->pgno[i - 1] : 0);
            }
        }
        if (ix->frame[0].first != 0) {
            seek_index_free(ix);
            return sv_err_set(err, SV_ECORRUPT, "the page index's first frame starts at record %u", ix->frame[0].first);
        }
    }
    return 0;
}

void seek_index_free(seek_index *ix)
{
    free(ix->frame);
    free(ix->pgno);
    memset(ix, 0, sizeof *ix);
}

int seek_index_locate(const seek_index *ix, uint32_t r, uint32_t *frame, uint32_t *offset, sv_err *err)
{
    uint32_t lo = 0, hi = ix->frames, rec = ix->kind == SEEK_KIND_STREAM ? 4 + ix->page_size : ix->page_size;
    uint64_t o;
    if (r >= ix->records || !ix->page_size) return sv_err_set(err, SV_ECORRUPT, "record %u is not in the index", r);
    while (hi - lo > 1) { /* the last frame whose first <= r */
        uint32_t mid = lo + (hi - lo) / 2;
        if (ix->frame[mid].first <= r) lo = mid;
        else hi = mid;
    }
    o = (uint64_t)(r - ix->frame[lo].first) * rec + (lo == 0 ? ix->head_len : 0);
    if (ix->kind == SEEK_KIND_STREAM) o += 4;
    if (o + ix->page_size > ix->frame[lo].dsize)
        return sv_err_set(err, SV_ECORRUPT, "record %u lies past the end of frame %u", r, lo);
    *frame = lo;
    *offset = (uint32_t)o;
    return 0;
}

int64_t seek_index_find(const seek_index *ix, uint32_t pgno)
{
    uint32_t lo = 0, hi = ix->records;
    if (ix->kind == SEEK_KIND_FILE) return pgno >= 1 && pgno <= ix->records ? (int64_t)pgno - 1 : -1;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (ix->pgno[mid] < pgno) lo = mid + 1;
        else hi = mid;
    }
    return lo < ix->records && ix->pgno[lo] == pgno ? (int64_t)lo : -1;
}
