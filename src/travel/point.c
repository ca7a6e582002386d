/* point.c -- a point of a workspace's backups, read in place (travel.h). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>
#include <openssl/evp.h>
#include "backup.h"
#include "catalog.h"
#include "crypto.h"
#include "digest.h"
#include "log.h"
#include "travel.h"
#include "util.h"

#define DEFAULT_CACHE (32u * 1024 * 1024)
#define HASH_CHUNK (256u * 1024)
#define MAX_READERS 8 /* a chain's metadata, indexes and hashes read at once */

/* One backup of the chain: its object and page index. */
typedef struct member {
    char ts[SV_TS_LEN];
    json_t *meta;           /* owned */
    char *key;              /* the object's store key */
    bool sealed;
    crypto_stream *rnd;     /* sealed: random access to its chunks */
    uint32_t chunk;
    uint64_t stored;        /* the stored object's size */
    uint64_t nchunks;
    seek_index ix;
    uint64_t hashes_off, hashes_size;
    const char *hashes_sum; /* in meta */
} member;

/* What reads the store: its connection, buffers and counters. The point has
 * one; opening a chain and reading its hashes run a few more, one per thread. */
typedef struct reader {
    store_t *store;
    unsigned char *cbuf;    /* compressed bytes (sealed: whole chunks) */
    size_t ccap;
    unsigned char *chunkbuf; /* a sealed chunk's plaintext */
    size_t chunkcap;
    uint64_t requests, bytes;
} reader;

typedef struct frame_slot {
    int m;                  /* member, -1: empty */
    uint32_t f;
    unsigned char *buf;
    uint32_t len;
    uint64_t used;
} frame_slot;

struct travel_point {
    const sv_config *cfg;
    const sv_clock *clock;
    reader rd;              /* the caller's store, the caller's thread */
    char *ws;
    member *m;
    size_t n;               /* members, base first */
    json_t *files;          /* the point's metadata "files" (borrowed from its meta) */
    uint32_t page_size, page_count;
    crypto_dk dk;
    bool have_dk;
    frame_slot *cache;
    size_t ncache;
    uint64_t tick;
    ZSTD_DCtx *dctx;
    unsigned char *fbuf;    /* sealed: a frame's compressed bytes, decrypted */
    size_t fcap;
};

/* ---- the store: range reads (through the chunks of a sealed object) ----- */

typedef struct grab {
    unsigned char *dst;
    size_t cap, n;
} grab;

static int grab_sink(void *ud, const void *data, size_t len, sv_err *err)
{
    grab *g = ud;
    if (len > g->cap - g->n) return sv_err_set(err, SV_ECORRUPT, "the store sent more bytes than asked for");
    memcpy(g->dst + g->n, data, len);
    g->n += len;
    return 0;
}

/* Raw bytes [off, off+len) of the stored object into dst. */
static int raw_range(reader *r, const member *m, uint64_t off, size_t len, unsigned char *dst, sv_err *err)
{
    grab g = {dst, len, 0};
    if (off + len > m->stored)
        return sv_err_set(err, SV_ECORRUPT, "backup %s: its index points past the end of its object (%llu of %llu bytes)",
                          m->ts, (unsigned long long)(off + len), (unsigned long long)m->stored);
    r->requests++;
    if (store_get_range(r->store, m->key, off, len, grab_sink, &g, err) != 0) {
        sv_err_wrap(err, "backup %s", m->ts);
        return -1;
    }
    r->bytes += g.n;
    if (g.n != len)
        return sv_err_set(err, SV_ECORRUPT, "backup %s: a range of its object is short (%zu of %zu bytes)", m->ts, g.n, len);
    return 0;
}

static int ensure(unsigned char **buf, size_t *cap, size_t need, sv_err *err)
{
    if (need <= *cap) return 0;
    unsigned char *b = realloc(*buf, need);
    if (!b) return sv_err_set(err, SV_ENOMEM, "out of memory");
    *buf = b;
    *cap = need;
    return 0;
}

/* Bytes [off, off+len) of the member's compressed stream (the plaintext of a
 * sealed object) into dst. */
static int stream_range(reader *r, member *m, uint64_t off, size_t len, unsigned char *dst, sv_err *err)
{
    uint64_t c0, c1, slen, soff;
    size_t step, done = 0;
    if (!m->sealed) return raw_range(r, m, off, len, dst, err);
    if (len == 0) return 0;
    step = (size_t)m->chunk + CRYPTO_TAG_LEN;
    c0 = off / m->chunk;
    c1 = (off + len - 1) / m->chunk;
    if (c1 >= m->nchunks)
        return sv_err_set(err, SV_ECORRUPT, "backup %s: its index points past the end of its encrypted object", m->ts);
    soff = CRYPTO_HDR_LEN + c0 * step;
    slen = (c1 - c0 + 1) * step;
    if (soff + slen > m->stored) slen = m->stored - soff;
    if (ensure(&r->cbuf, &r->ccap, (size_t)slen, err) != 0 || ensure(&r->chunkbuf, &r->chunkcap, m->chunk, err) != 0)
        return -1;
    if (raw_range(r, m, soff, (size_t)slen, r->cbuf, err) != 0) return -1;
    for (uint64_t c = c0; c <= c1; c++) {
        size_t at = (size_t)((c - c0) * step), clen = (size_t)(slen - at < step ? slen - at : step), n = 0;
        uint64_t pstart = c * m->chunk, from, to;
        if (crypto_random_chunk(m->rnd, c, c == m->nchunks - 1, r->cbuf + at, clen, r->chunkbuf, &n, err) != 0) {
            sv_err_wrap(err, "backup %s", m->ts);
            return -1;
        }
        from = off > pstart ? off - pstart : 0;
        to = off + len - pstart < n ? off + len - pstart : n;
        if (to <= from) return sv_err_set(err, SV_ECORRUPT, "backup %s: an encrypted chunk is short", m->ts);
        memcpy(dst + done, r->chunkbuf + from, (size_t)(to - from));
        done += (size_t)(to - from);
    }
    if (done != len) return sv_err_set(err, SV_ECORRUPT, "backup %s: its encrypted object is short", m->ts);
    return 0;
}

static void reader_free(reader *r)
{
    free(r->cbuf);
    free(r->chunkbuf);
}

/* ---- members read a few at a time ------------------------------------------- */

/* Work on member i through reader r (its own store connection when run in a
 * thread of par_members); 0 or -1 with err. */
typedef int (*member_fn)(travel_point *p, reader *r, size_t i, void *ud, sv_err *err);

typedef struct par_run {
    travel_point *p;
    member_fn fn;
    void *ud;
    size_t next, end;
    bool stop;
    pthread_mutex_t mu;
    sv_err *errs;   /* one per member of [first, end) */
    size_t first;
    size_t failed;  /* the lowest member that failed; end: none */
} par_run;

typedef struct par_worker {
    par_run *pr;
    reader rd;
    pthread_t th;
} par_worker;

/* Runs members until none is left or one failed (members not begun then are
 * skipped: every member below the lowest failure was begun and ended, so
 * the error reported is the one a reading in order would have met first). */
static void par_loop(par_run *pr, reader *rd)
{
    for (;;) {
        size_t i;
        pthread_mutex_lock(&pr->mu);
        if (pr->stop || pr->next >= pr->end) {
            pthread_mutex_unlock(&pr->mu);
            return;
        }
        i = pr->next++;
        pthread_mutex_unlock(&pr->mu);
        sv_err_clear(&pr->errs[i - pr->first]);
        if (pr->fn(pr->p, rd, i, pr->ud, &pr->errs[i - pr->first]) != 0) {
            pthread_mutex_lock(&pr->mu);
            pr->stop = true;
            if (i < pr->failed) pr->failed = i;
            pthread_mutex_unlock(&pr->mu);
        }
    }
}

static void *par_main(void *arg)
{
    par_worker *w = arg;
    par_loop(w->pr, &w->rd);
    return NULL;
}

/* fn on members [first, end): with a configuration, up to
 * SQLVAULT_RESTORE_CONCURRENCY (at most MAX_READERS) at once, each thread on a
 * store connection of its own, so a chain's sixty links cost a few round
 * trips, not sixty; without one (or when no thread starts), one at a time on
 * the point's own. */
static int par_members(travel_point *p, size_t first, size_t end, member_fn fn, void *ud, sv_err *err)
{
    par_run pr = {.p = p, .fn = fn, .ud = ud, .next = first, .end = end, .first = first, .failed = end};
    par_worker w[MAX_READERS];
    size_t nw = 0, want = 1, started = 0;
    if (end <= first) return 0;
    if (p->cfg && p->cfg->restore_concurrency > 1)
        want = (size_t)p->cfg->restore_concurrency < MAX_READERS ? (size_t)p->cfg->restore_concurrency : MAX_READERS;
    if (want > end - first) want = end - first;
    pr.errs = calloc(end - first, sizeof *pr.errs);
    if (!pr.errs) return sv_err_set(err, SV_ENOMEM, "out of memory");
    pthread_mutex_init(&pr.mu, NULL);
    memset(w, 0, sizeof w);
    for (; want > 1 && nw < want; nw++) {
        sv_err e;
        sv_err_clear(&e);
        w[nw].pr = &pr;
        if (store_open(p->cfg, p->clock, &w[nw].rd.store, &e) != 0) {
            log_debug(NULL, p->ws, "reading a chain: store connection %zu not opened (%s): fewer at once", nw, e.msg);
            break;
        }
    }
    for (size_t k = 0; k < nw; k++)
        if (pthread_create(&w[k].th, NULL, par_main, &w[k]) == 0) started = k + 1;
        else break;
    if (started == 0) par_loop(&pr, &p->rd); /* one at a time, on the point's connection */
    for (size_t k = 0; k < started; k++) pthread_join(w[k].th, NULL);
    for (size_t k = 0; k < nw; k++) {
        p->rd.requests += w[k].rd.requests;
        p->rd.bytes += w[k].rd.bytes;
        store_free(w[k].rd.store);
        reader_free(&w[k].rd);
    }
    pthread_mutex_destroy(&pr.mu);
    if (pr.failed < end) *err = pr.errs[pr.failed - first];
    free(pr.errs);
    return pr.failed < end ? -1 : 0;
}

/* ---- opening ---------------------------------------------------------------- */

static const json_t *pick_file(json_t *meta, const char *want, sv_err *err)
{
    json_t *files = json_object_get(meta, "files"), *f;
    size_t i;
    if (!json_is_array(files) || json_array_size(files) == 0) return meta; /* the top level describes the one file */
    if (!want) return json_array_get(files, 0);
    json_array_foreach(files, i, f) {
        const char *name = json_string_value(json_object_get(f, "name"));
        if (name && (strcmp(name, want) == 0 || (strncmp(name, want, strlen(want)) == 0 &&
                                                 (strcmp(want, "eventlog") == 0 || strcmp(want, "state") == 0))))
            return f;
    }
    sv_err_set(err, SV_ENOTFOUND, "the backup has no file '%s'", want);
    sv_err_hint(err, "its files are named in 'sqlvault list --json' (files[].name)");
    return NULL;
}

static int64_t jint(const json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : -1;
}

/* Reads member i's page index (one range GET), proven by its checksum. */
static int load_index(travel_point *p, reader *r, member *m, const json_t *file, sv_err *err)
{
    const json_t *sk = json_object_get(file, "seekable");
    const char *obj = json_string_value(json_object_get(file, "object"));
    const char *isum = json_string_value(json_object_get(sk, "indexChecksum"));
    int64_t ioff = jint(sk, "indexOffset"), isz = jint(sk, "indexSize");
    unsigned char *buf = NULL;
    char got[72], as[CRYPTO_SUM_LEN];
    int rc = -1;
    if (!obj) obj = json_string_value(json_object_get(m->meta, "object"));
    if (!sk) {
        sv_err_set(err, SV_ENOTSUP, "backup %s was written before backups were page-addressable: it cannot be read in "
                   "place", m->ts);
        return sv_err_hint(err, "restore it (sqlvault restore --from TIME), or query a newer backup");
    }
    if (!obj || !*obj || strchr(obj, '/') || strstr(obj, "..") || ioff < 0 || isz <= 0 || isz > 64 * 1024 * 1024 ||
        !isum || jint(sk, "version") != 1)
        return sv_err_set(err, SV_ECORRUPT, "backup %s: metadata.json's \"seekable\" is invalid", m->ts);
    m->key = backup_key(p->ws, m->ts, obj);
    m->stored = (uint64_t)jint(file, "compressedSize");
    if (!m->key) return sv_err_set(err, SV_ENOMEM, "out of memory");
    if (jint(file, "compressedSize") <= 0)
        return sv_err_set(err, SV_ECORRUPT, "backup %s: metadata.json gives no object size", m->ts);
    m->sealed = json_object_get(m->meta, "encryption") && !json_is_null(json_object_get(m->meta, "encryption"));
    if (m->sealed) {
        unsigned char hdr[CRYPTO_HDR_LEN];
        if (!p->have_dk) return sv_err_set(err, SV_EINTERNAL, "backup %s is sealed and no data key was fetched", m->ts);
        if (raw_range(r, m, 0, CRYPTO_HDR_LEN, hdr, err) != 0) return -1;
        if (crypto_random_new(&p->dk, m->key, hdr, &m->rnd, err) != 0) {
            sv_err_wrap(err, "backup %s", m->ts);
            return -1;
        }
        m->chunk = crypto_stream_chunk(m->rnd);
        m->nchunks = (m->stored - CRYPTO_HDR_LEN + m->chunk + CRYPTO_TAG_LEN - 1) / (m->chunk + CRYPTO_TAG_LEN);
    }
    buf = malloc((size_t)isz);
    if (!buf) return sv_err_set(err, SV_ENOMEM, "out of memory");
    if (stream_range(r, m, (uint64_t)ioff, (size_t)isz, buf, err) != 0) goto done;
    {
        EVP_MD_CTX *md = EVP_MD_CTX_new();
        if (!md) {
            sv_err_set(err, SV_ENOMEM, "out of memory");
            goto done;
        }
        EVP_DigestInit_ex(md, EVP_sha256(), NULL);
        EVP_DigestUpdate(md, buf, (size_t)isz);
        sv_digest_checksum(md, got);
        EVP_MD_CTX_free(md);
    }
    if (m->sealed ? crypto_sum_as(&p->dk, isum, got, as, err) != 0 : (snprintf(as, sizeof as, "%s", got), 0)) goto done;
    if (strcmp(as, isum) != 0) {
        sv_err_set(err, SV_ECHECKSUM, "backup %s: its page index does not match its checksum (damaged or replaced)",
                   m->ts);
        sv_err_hint(err, "the object is not what sqlvault wrote; read or restore another backup");
        goto done;
    }
    if (seek_index_parse(buf, (size_t)isz, (uint64_t)ioff, &m->ix, err) != 0) {
        sv_err_wrap(err, "backup %s", m->ts);
        goto done;
    }
    m->hashes_off = (uint64_t)jint(sk, "hashesOffset");
    m->hashes_size = (uint64_t)jint(sk, "hashesSize");
    m->hashes_sum = json_string_value(json_object_get(sk, "hashesChecksum"));
    rc = 0;
done:
    free(buf);
    return rc;
}

/* Each link names the member before it, with its state checksum. */
static int check_links(travel_point *p, sv_err *err)
{
    for (size_t i = 0; i < p->n; i++) {
        json_t *mt = p->m[i].meta;
        const char *inst = json_string_value(json_object_get(mt, "instanceId"));
        const char *type = json_string_value(json_object_get(mt, "backupType"));
        bool link = type && strcmp(type, "incremental") == 0;
        if (!inst || strcmp(inst, p->ws) != 0)
            return sv_err_set(err, SV_ECORRUPT, "backup %s: metadata.json is of workspace '%s', not '%s'", p->m[i].ts,
                              inst ? inst : "?", p->ws);
        if (link != (i > 0))
            return sv_err_set(err, SV_ECORRUPT, "backup %s: a %s where the chain needs a%s", p->m[i].ts,
                              link ? "link" : "full", i > 0 ? " link" : " full");
        if (i > 0) {
            const char *par = json_string_value(json_object_get(mt, "parent"));
            const char *psum = json_string_value(json_object_get(mt, "parentStateChecksum"));
            const char *prev = json_string_value(json_object_get(p->m[i - 1].meta, "stateChecksum"));
            if (!par || strcmp(par, p->m[i - 1].ts) != 0 || !psum || !prev || strcmp(psum, prev) != 0)
                return sv_err_set(err, SV_ECORRUPT, "backup %s: its parent is not %s as the chain says (or its state "
                                  "checksum differs)", p->m[i].ts, p->m[i - 1].ts);
            if (p->m[i].ix.kind != SEEK_KIND_STREAM || p->m[i].ix.page_size != p->m[0].ix.page_size)
                return sv_err_set(err, SV_ECORRUPT, "backup %s: its page index is not a link's of page size %u",
                                  p->m[i].ts, p->m[0].ix.page_size);
        } else if (p->m[0].ix.kind != SEEK_KIND_FILE) {
            return sv_err_set(err, SV_ECORRUPT, "backup %s: its page index is not a full's", p->m[0].ts);
        }
    }
    return 0;
}

/* par_members' bodies: member i's metadata.json, then its page index
 * (ud: the file of each member's metadata that holds it). */
static int read_meta(travel_point *p, reader *r, size_t i, void *ud, sv_err *err)
{
    (void)ud;
    return catalog_read_meta(r->store, p->ws, p->m[i].ts, &p->m[i].meta, err);
}

static int read_index(travel_point *p, reader *r, size_t i, void *ud, sv_err *err)
{
    const json_t **files = ud;
    return load_index(p, r, &p->m[i], files[i], err);
}

int travel_open(const travel_opts *o, travel_point **out, sv_err *err)
{
    travel_point *p = calloc(1, sizeof *p);
    const json_t **fpick = NULL;
    catalog_entry *v = NULL;
    size_t nv = 0, idx = 0, *chain = NULL, len = 0;
    uint64_t cache = o->cache ? o->cache : (o->cfg && o->cfg->query_cache ? o->cfg->query_cache : DEFAULT_CACHE);
    *out = NULL;
    if (!p) return sv_err_set(err, SV_ENOMEM, "out of memory");
    p->cfg = o->cfg;
    p->clock = o->clock;
    p->rd.store = o->store;
    p->ws = sv_strdup(o->ws);
    p->dctx = ZSTD_createDCtx();
    if (!p->ws || !p->dctx) {
        sv_err_set(err, SV_ENOMEM, "out of memory");
        goto fail;
    }
    ZSTD_DCtx_setParameter(p->dctx, ZSTD_d_windowLogMax, 23);
    p->rd.requests++; /* the listing */
    if (catalog_list(o->store, o->ws, &v, &nv, err) != 0) goto fail;
    if (catalog_pick(v, nv, o->ws, o->at ? o->at : "latest", o->exact, &idx, err) != 0) goto fail;
    if (v[idx].incremental) {
        if (catalog_chain(v, nv, idx, &chain, &len, err) != 0) goto fail;
    } else { /* a full is its own chain: a LiveStore store's has no livestore.db.zst (its files are objects of their
              * own), and a missing object is the range read's to report */
        if (!(chain = malloc(sizeof *chain))) {
            sv_err_set(err, SV_ENOMEM, "out of memory");
            goto fail;
        }
        chain[0] = idx;
        len = 1;
    }
    p->m = calloc(len, sizeof *p->m);
    if (!p->m) {
        sv_err_set(err, SV_ENOMEM, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < len; i++) memcpy(p->m[i].ts, v[chain[i]].ts, sizeof p->m[i].ts);
    p->n = len;
    /* every member's metadata.json, a few at once */
    if (par_members(p, 0, len, read_meta, NULL, err) != 0) goto fail;
    p->rd.requests += len;
    fpick = calloc(len, sizeof *fpick);
    if (!fpick) {
        sv_err_set(err, SV_ENOMEM, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < len; i++) {
        member *m = &p->m[i];
        if (i > 0 && o->file) {
            sv_err_set(err, SV_EINVAL, "backup %s is a link of a single-file chain: it has no file '%s'", m->ts, o->file);
            goto fail;
        }
        fpick[i] = i == 0 && len == 1 ? pick_file(m->meta, o->file, err) : pick_file(m->meta, NULL, err);
        if (!fpick[i]) goto fail;
        if (i == len - 1 && json_is_array(json_object_get(m->meta, "files"))) p->files = json_object_get(m->meta, "files");
        if (!p->have_dk && json_object_get(m->meta, "encryption") && !json_is_null(json_object_get(m->meta, "encryption"))) {
            /* the data key once, before the indexes are read in threads */
            if (crypto_for_restore(p->cfg, p->rd.store, p->clock, p->ws, &p->dk, err) != 0) goto fail;
            p->have_dk = true;
        }
    }
    /* then every member's page index */
    if (par_members(p, 0, len, read_index, fpick, err) != 0) goto fail;
    if (check_links(p, err) != 0) goto fail;
    p->page_size = p->m[0].ix.page_size;
    p->page_count = p->m[p->n - 1].ix.page_count;
    if (!p->page_size) {
        sv_err_set(err, SV_ECORRUPT, "backup %s: its page index holds no pages", p->m[0].ts);
        goto fail;
    }
    p->ncache = (size_t)(cache / SEEK_FRAME_SIZE);
    if (p->ncache < 4) p->ncache = 4;
    p->cache = calloc(p->ncache, sizeof *p->cache);
    if (!p->cache) {
        sv_err_set(err, SV_ENOMEM, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < p->ncache; i++) p->cache[i].m = -1;
    free(fpick);
    free(v);
    free(chain);
    *out = p;
    return 0;
fail:
    free(fpick);
    free(v);
    free(chain);
    travel_close(p);
    return -1;
}

void travel_close(travel_point *p)
{
    if (!p) return;
    for (size_t i = 0; i < p->n; i++) {
        json_decref(p->m[i].meta);
        free(p->m[i].key);
        crypto_stream_free(p->m[i].rnd);
        seek_index_free(&p->m[i].ix);
    }
    free(p->m);
    for (size_t i = 0; p->cache && i < p->ncache; i++) free(p->cache[i].buf);
    free(p->cache);
    ZSTD_freeDCtx(p->dctx);
    reader_free(&p->rd);
    free(p->fbuf);
    crypto_dk_clear(&p->dk);
    free(p->ws);
    free(p);
}

uint32_t travel_page_size(const travel_point *p) { return p->page_size; }
uint32_t travel_page_count(const travel_point *p) { return p->page_count; }
const char *travel_ts(const travel_point *p) { return p->m[p->n - 1].ts; }
const char *travel_base(const travel_point *p) { return p->m[0].ts; }
json_t *travel_meta(const travel_point *p) { return p->m[p->n - 1].meta; }
size_t travel_chain_length(const travel_point *p) { return p->n - 1; }
json_t *travel_files(const travel_point *p) { return p->files; }

void travel_counters(const travel_point *p, uint64_t *requests, uint64_t *bytes)
{
    if (requests) *requests = p->rd.requests;
    if (bytes) *bytes = p->rd.bytes;
}

/* ---- frames ------------------------------------------------------------------ */

/* Frame f of member mi, decompressed, from the cache or the store. */
static int frame_get(travel_point *p, int mi, uint32_t f, const unsigned char **data, uint32_t *len, sv_err *err)
{
    member *m = &p->m[mi];
    const seek_frame *fr = &m->ix.frame[f];
    frame_slot *victim = &p->cache[0];
    size_t r;
    for (size_t i = 0; i < p->ncache; i++) {
        frame_slot *s = &p->cache[i];
        if (s->m == mi && s->f == f) {
            s->used = ++p->tick;
            *data = s->buf;
            *len = s->len;
            return 0;
        }
        if (s->m < 0 || s->used < victim->used) victim = s;
    }
    if (!victim->buf && !(victim->buf = malloc(SEEK_FRAME_SIZE + 64))) return sv_err_set(err, SV_ENOMEM, "out of memory");
    victim->m = -1;
    if (fr->dsize > SEEK_FRAME_SIZE + 64)
        return sv_err_set(err, SV_ECORRUPT, "backup %s: frame %u is too big", m->ts, f);
    {
        unsigned char *cb;
        if (m->sealed) {
            /* stream_range uses cbuf for the sealed chunks; the frame goes in a buffer of its own */
            if (ensure(&p->fbuf, &p->fcap, fr->csize, err) != 0) return -1;
            cb = p->fbuf;
        } else {
            if (ensure(&p->rd.cbuf, &p->rd.ccap, fr->csize, err) != 0) return -1;
            cb = p->rd.cbuf;
        }
        if (stream_range(&p->rd, m, fr->offset, fr->csize, cb, err) != 0) return -1;
        if (ZSTD_findFrameCompressedSize(cb, fr->csize) != fr->csize ||
            ZSTD_getFrameContentSize(cb, fr->csize) != fr->dsize)
            return sv_err_set(err, SV_ECORRUPT, "backup %s: frame %u is not the one zstd frame its index says", m->ts, f);
        r = ZSTD_decompressDCtx(p->dctx, victim->buf, fr->dsize, cb, fr->csize);
    }
    if (ZSTD_isError(r) || r != fr->dsize) {
        sv_err_set(err, SV_ECORRUPT, "backup %s: frame %u is damaged (%s)", m->ts, f,
                   ZSTD_isError(r) ? ZSTD_getErrorName(r) : "wrong size");
        return sv_err_hint(err, "the object is not what sqlvault wrote; read or restore another backup");
    }
    victim->m = mi;
    victim->f = f;
    victim->len = fr->dsize;
    victim->used = ++p->tick;
    *data = victim->buf;
    *len = victim->len;
    return 0;
}

/* Which member holds pgno, and its record there. */
static int locate(travel_point *p, uint32_t pgno, int *mi, uint32_t *rec, sv_err *err)
{
    if (pgno == 0 || pgno > p->page_count)
        return sv_err_set(err, SV_ECORRUPT, "page %u is outside the point's %u pages", pgno, p->page_count);
    for (size_t i = p->n; i-- > 1;) {
        int64_t r = seek_index_find(&p->m[i].ix, pgno);
        if (r >= 0) {
            *mi = (int)i;
            *rec = (uint32_t)r;
            return 0;
        }
    }
    if (pgno > p->m[0].ix.records)
        return sv_err_set(err, SV_ECORRUPT, "page %u is in no link and past the base's %u pages", pgno,
                          p->m[0].ix.records);
    *mi = 0;
    *rec = pgno - 1;
    return 0;
}

int travel_read(travel_point *p, uint32_t pgno, void *page, sv_err *err)
{
    int mi;
    uint32_t rec, f, off, len;
    const unsigned char *data;
    if (locate(p, pgno, &mi, &rec, err) != 0) return -1;
    if (seek_index_locate(&p->m[mi].ix, rec, &f, &off, err) != 0) return -1;
    if (frame_get(p, mi, f, &data, &len, err) != 0) return -1;
    if ((uint64_t)off + p->page_size > len) return sv_err_set(err, SV_ECORRUPT, "page %u lies past its frame", pgno);
    if (p->m[mi].ix.kind == SEEK_KIND_STREAM) {
        uint32_t at = data[off - 4] | (uint32_t)data[off - 3] << 8 | (uint32_t)data[off - 2] << 16 |
                      (uint32_t)data[off - 1] << 24;
        if (at != pgno)
            return sv_err_set(err, SV_ECORRUPT, "backup %s: its frame %u holds page %u where its index says %u",
                              p->m[mi].ts, f, at, pgno);
    }
    memcpy(page, data + off, p->page_size);
    return 0;
}

int travel_prefetch(travel_point *p, uint32_t pgno, sv_err *err)
{
    int mi;
    uint32_t rec, f, off, len;
    const unsigned char *data;
    if (locate(p, pgno, &mi, &rec, err) != 0) return -1;
    if (seek_index_locate(&p->m[mi].ix, rec, &f, &off, err) != 0) return -1;
    return frame_get(p, mi, f, &data, &len, err);
}

/* ---- page hashes ------------------------------------------------------------- */

/* A member's hash section, all of it (a link's: one per changed page). */
static int link_hashes(travel_point *p, reader *r, member *m, unsigned char **out, sv_err *err)
{
    size_t n = (size_t)m->ix.records * SEEK_HASH_LEN;
    char got[72], as[CRYPTO_SUM_LEN];
    EVP_MD_CTX *md;
    *out = NULL;
    if (m->hashes_size != n || !m->hashes_sum)
        return sv_err_set(err, SV_ECORRUPT, "backup %s: its hashes are %llu bytes, its index says %zu", m->ts,
                          (unsigned long long)m->hashes_size, n);
    *out = malloc(n ? n : 1);
    if (!*out) return sv_err_set(err, SV_ENOMEM, "out of memory");
    if (n && stream_range(r, m, m->hashes_off, n, *out, err) != 0) return -1;
    md = EVP_MD_CTX_new();
    if (!md) return sv_err_set(err, SV_ENOMEM, "out of memory");
    EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    EVP_DigestUpdate(md, *out, n);
    sv_digest_checksum(md, got);
    EVP_MD_CTX_free(md);
    if (m->sealed ? crypto_sum_as(&p->dk, m->hashes_sum, got, as, err) != 0 : (snprintf(as, sizeof as, "%s", got), 0))
        return -1;
    if (strcmp(as, m->hashes_sum) != 0)
        return sv_err_set(err, SV_ECHECKSUM, "backup %s: its page hashes do not match their checksum", m->ts);
    return 0;
}

/* par_members' body: link i's hashes into ((unsigned char **)ud)[i]. */
static int read_link_hashes(travel_point *p, reader *r, size_t i, void *ud, sv_err *err)
{
    unsigned char **lh = ud;
    return link_hashes(p, r, &p->m[i], &lh[i], err);
}

int travel_hashes(travel_point *p, travel_hash_fn fn, void *ud, sv_err *err)
{
    member *b = &p->m[0];
    unsigned char **lh = calloc(p->n, sizeof *lh), *win = malloc(HASH_CHUNK);
    uint32_t *cur = calloc(p->n, sizeof *cur);
    uint64_t base_n = b->ix.records, win_first = 0, win_n = 0;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    char got[72], as[CRYPTO_SUM_LEN];
    int rc = -1;
    if (!lh || !win || !cur || !md) {
        sv_err_set(err, SV_ENOMEM, "out of memory");
        goto done;
    }
    if (b->hashes_size != base_n * SEEK_HASH_LEN || !b->hashes_sum) {
        sv_err_set(err, SV_ECORRUPT, "backup %s: its hashes are %llu bytes for %llu pages", b->ts,
                   (unsigned long long)b->hashes_size, (unsigned long long)base_n);
        goto done;
    }
    if (par_members(p, 1, p->n, read_link_hashes, lh, err) != 0) goto done;
    EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    for (uint32_t pg = 1; pg <= p->page_count; pg++) {
        const unsigned char *h = NULL;
        for (size_t i = p->n; i-- > 1 && !h;) {
            seek_index *ix = &p->m[i].ix;
            while (cur[i] < ix->records && ix->pgno[cur[i]] < pg) cur[i]++;
            if (cur[i] < ix->records && ix->pgno[cur[i]] == pg) h = lh[i] + (size_t)cur[i] * SEEK_HASH_LEN;
        }
        if (!h) {
            if (pg > base_n) {
                sv_err_set(err, SV_ECORRUPT, "page %u is in no link and past the base's %llu pages", pg,
                           (unsigned long long)base_n);
                goto done;
            }
            while (pg - 1 >= win_first + win_n) { /* the next window of the base's hashes, in order */
                uint64_t left;
                win_first += win_n;
                left = base_n - win_first;
                win_n = left < HASH_CHUNK / SEEK_HASH_LEN ? left : HASH_CHUNK / SEEK_HASH_LEN;
                if (stream_range(&p->rd, b, b->hashes_off + win_first * SEEK_HASH_LEN, (size_t)(win_n * SEEK_HASH_LEN), win,
                                 err) != 0)
                    goto done;
                EVP_DigestUpdate(md, win, (size_t)(win_n * SEEK_HASH_LEN));
            }
            h = win + (size_t)(pg - 1 - win_first) * SEEK_HASH_LEN;
        }
        if (fn(ud, pg, h, err) != 0) goto done;
    }
    /* the base's hashes not read yet (pages past the point's count) still count for the checksum */
    while (win_first + win_n < base_n) {
        uint64_t left = base_n - (win_first + win_n);
        win_first += win_n;
        win_n = left < HASH_CHUNK / SEEK_HASH_LEN ? left : HASH_CHUNK / SEEK_HASH_LEN;
        if (stream_range(&p->rd, b, b->hashes_off + win_first * SEEK_HASH_LEN, (size_t)(win_n * SEEK_HASH_LEN), win, err) != 0)
            goto done;
        EVP_DigestUpdate(md, win, (size_t)(win_n * SEEK_HASH_LEN));
    }
    sv_digest_checksum(md, got);
    if (b->sealed ? crypto_sum_as(&p->dk, b->hashes_sum, got, as, err) != 0 : (snprintf(as, sizeof as, "%s", got), 0))
        goto done;
    if (strcmp(as, b->hashes_sum) != 0) {
        sv_err_set(err, SV_ECHECKSUM, "backup %s: its page hashes do not match their checksum", b->ts);
        goto done;
    }
    rc = 0;
done:
    for (size_t i = 0; lh && i < p->n; i++) free(lh[i]);
    free(lh);
    free(win);
    free(cur);
    EVP_MD_CTX_free(md);
    return rc;
}
