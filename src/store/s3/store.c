/* store.c -- the s3:// store driver: the store_vt table and every operation
 * but the streamed writer (write.c).
 *
 * Path-style addressing (ORIGIN/BUCKET/PREFIX+KEY) works on R2, MinIO,
 * s3rver and AWS alike. Every request goes through s3_request (request.c),
 * which signs it and lets the HTTP layer retry what is transient; this file
 * builds the requests and reads the replies.
 *
 * Streamed GET: the sink gets bytes in order, exactly once. When a transfer
 * breaks mid-body the HTTP layer retries, and each new attempt asks for
 * "Range: bytes=DELIVERED-" with If-Match on the first reply's ETag, so a
 * resumed download never mixes two versions of an object. A range GET
 * (store_get_range) is the same request with "Range: bytes=A-B" on every
 * attempt, A moving past what was delivered; it wants 206 with exactly the
 * rest of the range, and refuses a 200 (a server ignoring Range) rather than
 * reading the whole object through to the range. */
#include "store/s3/s3.h"

#include <openssl/evp.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "store/s3/xml.h"
#include "util.h"

#define S3_DELETE_BATCH 1000
#define S3_PRESIGN_MAX_S (7 * 24 * 3600)

/* The s3_store behind a store_t. */
static s3_store *S(store_t *st)
{
    return (s3_store *)st;
}

/* ---- put ---- */

/* Small object from memory: one signed PUT, optionally If-None-Match: *. */
static int s3_put(store_t *st, const char *key, const void *data, size_t len,
                  const store_put_opts *o, sv_err *err)
{
    s3_store *s = S(st);
    http_response resp = {0};
    sigv4_pair h[2];
    size_t nh = 0;
    int rc = -1;
    char *full = s3_full_key(s, key);
    char *what = sv_asprintf("put %s", key);
    if (!full || !what) {
        sv_err_set(err, SV_ENOMEM, "out of memory");
        goto fail;
    }
    h[nh++] = (sigv4_pair){"Content-Type",
                           o && o->content_type ? o->content_type : "application/octet-stream"};
    if (o && o->if_none_match)
        h[nh++] = (sigv4_pair){"If-None-Match", "*"};
    s3_req r = {.method = "PUT", .key = full, .headers = h, .nh = nh, .body = data ? data : "",
                .body_len = len, .what = what};
    if (s3_request(&s->main, &r, &resp, err) != 0) {
        if (err->code == SV_ECONFLICT)
            sv_err_set(err, SV_ECONFLICT, "%s: the object already exists", what);
        goto fail;
    }
    rc = 0;
fail:
    http_response_clear(&resp);
    free(full);
    free(what);
    return rc;
}

/* ---- get ---- */

/* A streamed GET's progress across attempts. */
typedef struct get_state {
    store_sink_fn sink;
    void *ud;
    uint64_t offset;     /* where the caller asked to start */
    uint64_t delivered;  /* bytes handed to the sink */
    uint64_t range_from; /* offset + delivered, read by each attempt's prepare */
    char etag[128];      /* first reply's ETag, for If-Match on resumes */
    const http_response *resp;
} get_state;

/* Passes body bytes to the caller's sink, checking on an attempt's first
 * chunk that a resumed request really got the range it asked for. */
static int get_sink(void *ud, const void *data, size_t len, sv_err *err)
{
    get_state *g = ud;
    if (g->resp->received == 0) {
        uint64_t asked = g->offset + g->delivered;
        if (asked > 0 && g->resp->status != 206)
            return sv_err_set(err, SV_EREMOTE,
                              "s3 ignored a range request (http %ld): cannot resume a download",
                              g->resp->status);
        if (!g->etag[0])
            snprintf(g->etag, sizeof g->etag, "%s", g->resp->etag);
    }
    if (g->sink(g->ud, data, len, err) != 0)
        return -1;
    g->delivered += len;
    g->range_from = g->offset + g->delivered;
    return 0;
}

/* Streams key from offset to the end into sink. */
static int s3_get(store_t *st, const char *key, uint64_t offset, store_sink_fn sink, void *ud,
                  sv_err *err)
{
    s3_store *s = S(st);
    http_response resp = {0};
    int rc = -1;
    get_state g = {.sink = sink, .ud = ud, .offset = offset, .range_from = offset, .resp = &resp};
    char *full = s3_full_key(s, key);
    char *what = sv_asprintf("get %s", key);
    if (!full || !what) {
        sv_err_set(err, SV_ENOMEM, "out of memory");
        goto fail;
    }
    s3_req r = {.method = "GET", .key = full, .sink = get_sink, .sink_ud = &g,
                .range_from = &g.range_from, .if_match = g.etag, .what = what};
    if (s3_request(&s->main, &r, &resp, err) != 0) {
        /* A range starting at the end: nothing left to deliver. */
        if (resp.status == 416 && g.range_from > 0) {
            sv_err_clear(err);
            rc = 0;
        } else if (resp.status == 412) {
            sv_err_set(err, SV_ETRANSIENT, "%s: the object changed during the download", what);
        }
        goto fail;
    }
    rc = 0;
fail:
    http_response_clear(&resp);
    free(full);
    free(what);
    return rc;
}

/* ---- stat ---- */

/* HEAD: size, mtime and ETag (without quotes). */
static int s3_stat(store_t *st, const char *key, store_stat *out, sv_err *err)
{
    s3_store *s = S(st);
    http_response resp = {0};
    int rc = -1;
    char *full = s3_full_key(s, key);
    char *what = sv_asprintf("stat %s", key);
    if (!full || !what) {
        sv_err_set(err, SV_ENOMEM, "out of memory");
        goto fail;
    }
    s3_req r = {.method = "HEAD", .key = full, .what = what};
    if (s3_request(&s->main, &r, &resp, err) != 0)
        goto fail;
    memset(out, 0, sizeof *out);
    out->size = resp.content_length > 0 ? (uint64_t)resp.content_length : 0;
    out->mtime_ms = resp.last_modified_ms;
    const char *e = resp.etag;
    size_t el = strlen(e);
    if (el >= 2 && e[0] == '"' && e[el - 1] == '"') {
        e++;
        el -= 2;
    }
    if (el >= sizeof out->etag)
        el = sizeof out->etag - 1;
    memcpy(out->etag, e, el);
    out->etag[el] = '\0';
    rc = 0;
fail:
    http_response_clear(&resp);
    free(full);
    free(what);
    return rc;
}

/* ---- range get ---- */

/* A bounded range GET's progress across attempts. */
typedef struct range_state {
    const s3_store *s;
    store_sink_fn sink;
    void *ud;
    uint64_t offset, len;
    uint64_t delivered;  /* bytes handed to the sink */
    uint64_t range_from; /* offset + delivered, read by each attempt's prepare */
    uint64_t range_end;  /* offset + len */
    char etag[128];      /* first reply's ETag, for If-Match on resumes */
    bool short_reply;    /* a 206 shorter than asked: the object ends early */
    bool refused;        /* this file's own check or the caller's sink failed */
    const http_response *resp;
    const char *what;
} range_state;

/* Checks, on each attempt's first chunk, that the reply is 206 with exactly
 * the rest of the range and the first reply's ETag; then passes the bytes on. */
static int range_sink(void *ud, const void *data, size_t len, sv_err *err)
{
    range_state *g = ud;
    const http_response *resp = g->resp;
    uint64_t want = g->len - g->delivered;
    if (resp->received == 0) {
        if (resp->status != 206) {
            char whole[64] = "";
            g->refused = true;
            if (resp->content_length >= 0)
                snprintf(whole, sizeof whole, ", the whole object of %lld bytes",
                         (long long)resp->content_length);
            sv_err_set(err, SV_EREMOTE, "s3 at %s ignored the Range header (http %ld%s): not reading "
                       "through to the range", g->s->origin, resp->status, whole);
            return sv_err_hint(err, "range reads need a server that honours Range (S3, R2 and MinIO do)");
        }
        if (resp->content_length >= 0 && (uint64_t)resp->content_length < want) {
            g->refused = g->short_reply = true;
            return sv_err_set(err, SV_ECORRUPT, "a short range");
        }
        if (resp->content_length >= 0 && (uint64_t)resp->content_length > want) {
            g->refused = true;
            return sv_err_set(err, SV_EREMOTE, "s3 at %s answered %lld bytes for a range of %llu",
                              g->s->origin, (long long)resp->content_length, (unsigned long long)want);
        }
        if (!g->etag[0]) {
            snprintf(g->etag, sizeof g->etag, "%s", resp->etag);
        } else if (strcmp(g->etag, resp->etag) != 0) {
            g->refused = true;
            return sv_err_set(err, SV_ETRANSIENT, "the object changed during the read (ETag %s, then %s)",
                              g->etag, resp->etag);
        }
    }
    if (len > want) {
        g->refused = true;
        return sv_err_set(err, SV_EREMOTE, "s3 at %s sent more bytes than the range holds", g->s->origin);
    }
    if (g->sink(g->ud, data, len, err) != 0) {
        g->refused = true;
        return -1;
    }
    g->delivered += len;
    g->range_from = g->offset + g->delivered;
    return 0;
}

/* After a 416 or a short 206: the object's size decides the error (a HEAD,
 * on the error path only): past the end, missing, or a server that answered
 * short although the bytes are there. */
static int range_explain(store_t *st, const char *key, const range_state *g, sv_err *err)
{
    store_stat ss;
    sv_err e2 = {0};
    if (s3_stat(st, key, &ss, &e2) != 0) {
        if (e2.code == SV_ENOTFOUND)
            return sv_err_set(err, SV_ENOTFOUND, "%s: not found (gone during the read)", g->what);
        return sv_err_set(err, SV_ECORRUPT, "%s: the range reaches past the end of the object (its size "
                          "is unknown: %s)", g->what, e2.msg);
    }
    if (g->offset + g->len > ss.size)
        return store_range_past_end(err, key, g->offset, g->len, ss.size);
    return sv_err_set(err, SV_ETRANSIENT, "%s: s3 at %s answered a short range although the object has "
                      "%llu bytes (changed during the read?)", g->what, g->s->origin,
                      (unsigned long long)ss.size);
}

/* Streams exactly [offset, offset+len) of key (store.h). One request through
 * the retry layer; a cut transfer resumes at the first byte not delivered,
 * with If-Match on the first reply's ETag. A 200 (Range ignored) is refused
 * at its first chunk, before the sink sees a byte. */
static int s3_get_range(store_t *st, const char *key, uint64_t offset, uint64_t len,
                        store_sink_fn sink, void *ud, sv_err *err)
{
    s3_store *s = S(st);
    http_response resp = {0};
    int rc = -1;
    range_state g = {.s = s, .sink = sink, .ud = ud, .offset = offset, .len = len,
                     .range_from = offset, .range_end = offset + len, .resp = &resp};
    char *full = s3_full_key(s, key);
    char *what = sv_asprintf("get %s bytes %llu-%llu", key, (unsigned long long)offset,
                             (unsigned long long)(offset + len - 1));
    if (!full || !what) {
        sv_err_set(err, SV_ENOMEM, "out of memory");
        goto fail;
    }
    g.what = what;
    s3_req r = {.method = "GET", .key = full, .sink = range_sink, .sink_ud = &g,
                .range_from = &g.range_from, .range_end = &g.range_end, .if_match = g.etag,
                .what = what};
    if (s3_request(&s->main, &r, &resp, err) != 0) {
        if (g.short_reply || resp.status == 416) {
            http_response_clear(&resp);
            range_explain(st, key, &g, err);
        } else if (resp.status == 412) {
            sv_err_set(err, SV_ETRANSIENT, "%s: the object changed during the read", what);
        } else if (g.delivered == len && !g.refused) {
            sv_err_clear(err); /* every byte arrived before the transport failed */
            rc = 0;
        }
        goto fail;
    }
    if (g.delivered != len) {
        sv_err_set(err, SV_EREMOTE, "%s: s3 at %s answered %llu of %llu bytes", what, s->origin,
                   (unsigned long long)g.delivered, (unsigned long long)len);
        goto fail;
    }
    rc = 0;
fail:
    http_response_clear(&resp);
    free(full);
    free(what);
    return rc;
}

/* ---- list ---- */

/* One listed entry, owned by the page. */
typedef struct list_item {
    char *key;
    uint64_t size;
    int64_t mtime_ms;
    bool is_prefix;
} list_item;

/* One ListObjectsV2 page being parsed. */
typedef struct list_page {
    list_item *items;
    size_t n, cap;
    list_item cur;       /* the record being read */
    bool truncated;
    char *token;         /* NextContinuationToken */
} list_page;

/* Frees a page's items and token. */
static void page_clear(list_page *p)
{
    for (size_t i = 0; i < p->n; i++)
        free(p->items[i].key);
    free(p->items);
    free(p->cur.key);
    free(p->token);
    memset(p, 0, sizeof *p);
}

/* Moves the current record into the page. */
static int page_push(list_page *p, sv_err *err)
{
    if (!p->cur.key)
        return 0;
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 64;
        list_item *it = realloc(p->items, cap * sizeof *it);
        if (!it)
            return sv_err_set(err, SV_ENOMEM, "out of memory listing");
        p->items = it;
        p->cap = cap;
    }
    p->items[p->n++] = p->cur;
    memset(&p->cur, 0, sizeof p->cur);
    return 0;
}

/* Reads ListBucketResult elements into the page. */
static int list_cb(void *ud, const char *path, const char *text, sv_err *err)
{
    list_page *p = ud;
    if (strncmp(path, "ListBucketResult/", 17) != 0)
        return 0;
    path += 17;
    if (strcmp(path, "Contents/Key") == 0 || strcmp(path, "CommonPrefixes/Prefix") == 0) {
        free(p->cur.key);
        p->cur.key = sv_strdup(text);
        p->cur.is_prefix = path[0] == 'C' && path[1] == 'o' && path[2] == 'm';
        if (!p->cur.key)
            return sv_err_set(err, SV_ENOMEM, "out of memory listing");
    } else if (strcmp(path, "Contents/Size") == 0) {
        p->cur.size = strtoull(text, NULL, 10);
    } else if (strcmp(path, "Contents/LastModified") == 0) {
        p->cur.mtime_ms = s3_parse_time(text);
    } else if (strcmp(path, "Contents") == 0 || strcmp(path, "CommonPrefixes") == 0) {
        return page_push(p, err);
    } else if (strcmp(path, "IsTruncated") == 0) {
        p->truncated = strcmp(text, "true") == 0;
    } else if (strcmp(path, "NextContinuationToken") == 0) {
        free(p->token);
        p->token = sv_strdup(text);
        if (!p->token)
            return sv_err_set(err, SV_ENOMEM, "out of memory listing");
    }
    return 0;
}

/* Orders a page's entries by key (files and prefixes interleaved). */
static int item_cmp(const void *a, const void *b)
{
    return strcmp(((const list_item *)a)->key, ((const list_item *)b)->key);
}

/* ListObjectsV2 over every page (continuation tokens), entries in key order. */
static int s3_list(store_t *st, const char *prefix, const char *delimiter, store_list_fn fn,
                   void *ud, sv_err *err)
{
    s3_store *s = S(st);
    http_response resp = {0};
    list_page page = {0};
    char *token = NULL;
    int rc = -1;
    size_t plen = strlen(s->prefix);
    char *full = s3_full_key(s, prefix ? prefix : "");
    char *what = sv_asprintf("list %s", prefix ? prefix : "");
    if (!full || !what) {
        sv_err_set(err, SV_ENOMEM, "out of memory");
        goto fail;
    }
    for (;;) {
        sigv4_pair q[5];
        size_t nq = 0;
        q[nq++] = (sigv4_pair){"list-type", "2"};
        q[nq++] = (sigv4_pair){"max-keys", "1000"};
        q[nq++] = (sigv4_pair){"prefix", full};
        if (delimiter && delimiter[0])
            q[nq++] = (sigv4_pair){"delimiter", delimiter};
        if (token)
            q[nq++] = (sigv4_pair){"continuation-token", token};
        s3_req r = {.method = "GET", .query = q, .nq = nq, .body_cap = 16u << 20, .what = what};
        if (s3_request(&s->main, &r, &resp, err) != 0)
            goto fail;
        if (s3_xml_walk(resp.body, resp.body_len, list_cb, &page, err) != 0) {
            sv_err_wrap(err, "%s", what);
            goto fail;
        }
        if (page.n)
            qsort(page.items, page.n, sizeof *page.items, item_cmp);
        for (size_t i = 0; i < page.n; i++) {
            const list_item *it = &page.items[i];
            if (strncmp(it->key, s->prefix, plen) != 0)
                continue; /* not ours: cannot happen with a prefix listing */
            store_entry e = {.key = it->key + plen, .size = it->size, .mtime_ms = it->mtime_ms,
                             .is_prefix = it->is_prefix};
            if (fn(ud, &e, err) != 0)
                goto fail;
        }
        if (!page.truncated)
            break;
        if (!page.token || !page.token[0]) {
            sv_err_set(err, SV_EREMOTE, "%s: truncated listing without a continuation token",
                       what);
            goto fail;
        }
        free(token);
        token = page.token;
        page.token = NULL;
        page_clear(&page);
        http_response_clear(&resp);
    }
    rc = 0;
fail:
    page_clear(&page);
    http_response_clear(&resp);
    free(token);
    free(full);
    free(what);
    return rc;
}

/* ---- delete ---- */

/* The per-key outcome of a DeleteObjects reply. */
typedef struct del_state {
    char key[1100];
    char code[96];
    char msg[200];
    size_t failed;
    char first[512];
    /* locks (store_delete_locked): the batch's keys, the store prefix */
    const char *const *keys;
    size_t n;
    const char *prefix;
    bool *locked;
} del_state;

/* True when a DeleteObjects error entry is a lock's refusal: R2's bucket
 * lock rules, or S3 Object Lock's AccessDenied for a retained object. */
static bool del_is_lock(const char *code, const char *msg)
{
    return strcmp(code, "ObjectLockedByBucketPolicy") == 0 ||
           (strcmp(code, "AccessDenied") == 0 && (strcasestr(msg, "object lock") || strcasestr(msg, "retention") ||
                                                  strcasestr(msg, "locked")));
}

/* Marks the batch's key named full (prefix included) locked: true if found. */
static bool del_mark_locked(del_state *d, const char *full)
{
    size_t pl = strlen(d->prefix);
    if (!d->locked || strncmp(full, d->prefix, pl) != 0) return false;
    for (size_t i = 0; i < d->n; i++)
        if (strcmp(d->keys[i], full + pl) == 0) {
            d->locked[i] = true;
            return true;
        }
    return false;
}

/* Reads DeleteResult/Error entries; a key already gone is not an error. */
static int del_cb(void *ud, const char *path, const char *text, sv_err *err)
{
    (void)err;
    del_state *d = ud;
    if (strcmp(path, "DeleteResult/Error/Key") == 0) {
        snprintf(d->key, sizeof d->key, "%s", text);
    } else if (strcmp(path, "DeleteResult/Error/Code") == 0) {
        snprintf(d->code, sizeof d->code, "%s", text);
    } else if (strcmp(path, "DeleteResult/Error/Message") == 0) {
        snprintf(d->msg, sizeof d->msg, "%s", text);
    } else if (strcmp(path, "DeleteResult/Error") == 0) {
        if (del_is_lock(d->code, d->msg) && del_mark_locked(d, d->key)) {
            /* kept by a lock: not a failure */
        } else if (strcmp(d->code, "NoSuchKey") != 0) {
            if (!d->failed)
                snprintf(d->first, sizeof d->first, "%.200s: %.95s %.150s", d->key, d->code, d->msg);
            d->failed++;
        }
        d->key[0] = d->code[0] = d->msg[0] = '\0';
    }
    return 0;
}

/* base64 of the md5 of a buffer (Content-MD5, which DeleteObjects requires). */
static void md5_b64(const void *data, size_t len, char out[32])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_Digest(data, len, md, &n, EVP_md5(), NULL);
    EVP_EncodeBlock((unsigned char *)out, md, (int)n);
}

/* One DeleteObjects request of at most 1000 keys. */
static int delete_batch(s3_store *s, const char *const *keys, size_t n, bool *locked, sv_err *err)
{
    sv_buf b;
    http_response resp = {0};
    del_state *d = NULL;
    char md5[32];
    int rc = -1;
    sv_buf_init(&b, 0);
    if (sv_buf_adds(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Delete><Quiet>true</Quiet>") != 0)
        goto oom;
    for (size_t i = 0; i < n; i++) {
        if (sv_buf_adds(&b, "<Object><Key>") != 0 || s3_xml_escape(&b, s->prefix) != 0 ||
            s3_xml_escape(&b, keys[i]) != 0 || sv_buf_adds(&b, "</Key></Object>") != 0)
            goto oom;
    }
    if (sv_buf_adds(&b, "</Delete>") != 0)
        goto oom;
    md5_b64(b.p, b.len, md5);
    sigv4_pair h[] = {{"Content-MD5", md5}, {"Content-Type", "application/xml"}};
    sigv4_pair q[] = {{"delete", ""}};
    char what[64];
    snprintf(what, sizeof what, "delete %zu keys", n);
    s3_req r = {.method = "POST", .query = q, .nq = 1, .headers = h, .nh = 2, .body = b.p,
                .body_len = b.len, .body_cap = 16u << 20, .what = what};
    if (s3_request(&s->main, &r, &resp, err) != 0)
        goto fail;
    d = calloc(1, sizeof *d);
    if (!d)
        goto oom;
    d->keys = keys;
    d->n = n;
    d->prefix = s->prefix ? s->prefix : "";
    d->locked = locked;
    if (s3_xml_walk(resp.body, resp.body_len, del_cb, d, err) != 0) {
        sv_err_wrap(err, "%s", what);
        goto fail;
    }
    if (d->failed) {
        sv_err_set(err, SV_EREMOTE, "%s: %zu could not be deleted, first: %s", what, d->failed,
                   d->first);
        goto fail;
    }
    rc = 0;
    goto fail;
oom:
    sv_err_set(err, SV_ENOMEM, "out of memory deleting objects");
fail:
    free(d);
    sv_buf_free(&b);
    http_response_clear(&resp);
    return rc;
}

/* Deletes any number of keys, 1000 per DeleteObjects request. */
static int s3_delete_many(store_t *st, const char *const *keys, size_t n, sv_err *err)
{
    for (size_t i = 0; i < n; i += S3_DELETE_BATCH) {
        size_t k = n - i < S3_DELETE_BATCH ? n - i : S3_DELETE_BATCH;
        if (delete_batch(S(st), keys + i, k, NULL, err) != 0)
            return -1;
    }
    return 0;
}

/* The same; a key a lock refuses sets locked[i] instead of failing. */
static int s3_delete_locked(store_t *st, const char *const *keys, size_t n, bool *locked, sv_err *err)
{
    for (size_t i = 0; i < n; i += S3_DELETE_BATCH) {
        size_t k = n - i < S3_DELETE_BATCH ? n - i : S3_DELETE_BATCH;
        if (delete_batch(S(st), keys + i, k, locked + i, err) != 0)
            return -1;
    }
    return 0;
}

/* ---- presign ---- */

/* A SigV4 query-signed URL for GET (optionally with an attachment name) or PUT. */
static int s3_presign(store_t *st, const char *method, const char *key, int64_t ttl_s,
                      const char *content_disposition, char **out, sv_err *err)
{
    s3_store *s = S(st);
    char *full = NULL, *ekey = NULL, *uri = NULL, *qs = NULL;
    char date[SIGV4_DATE_LEN];
    sigv4_pair q[1];
    size_t nq = 0;
    int rc = -1;
    *out = NULL;
    if (strcmp(method, "GET") != 0 && strcmp(method, "PUT") != 0)
        return sv_err_set(err, SV_EINVAL, "presign: method %s not supported (GET or PUT)", method);
    if (ttl_s < 1 || ttl_s > S3_PRESIGN_MAX_S)
        return sv_err_set(err, SV_EINVAL, "presign: ttl %lld s out of range (1 s to 7 days)",
                          (long long)ttl_s);
    if (content_disposition && strcmp(method, "GET") == 0)
        q[nq++] = (sigv4_pair){"response-content-disposition", content_disposition};
    full = s3_full_key(s, key);
    ekey = full ? sigv4_uri_encode(full, true) : NULL;
    uri = ekey ? sv_asprintf("/%s/%s", s->bucket, ekey) : NULL;
    if (!uri)
        goto oom;
    sigv4_amz_date(s3_sign_now(s), date);
    /* A local signer copy: presigning must not disturb the main client's cache. */
    sigv4_signer sg = s->main.signer;
    if (sigv4_presign_query(&sg, method, s->host, uri, q, nq, ttl_s, date, &qs, err) != 0)
        goto fail;
    *out = sv_asprintf("%s%s?%s", s->origin, uri, qs);
    if (!*out)
        goto oom;
    rc = 0;
    goto fail;
oom:
    sv_err_set(err, SV_ENOMEM, "out of memory presigning");
fail:
    free(full);
    free(ekey);
    free(uri);
    free(qs);
    return rc;
}

/* ---- multipart uploads ---- */

/* One ListMultipartUploads page being parsed. */
typedef struct up_page {
    const s3_store *s;
    store_upload_fn fn;
    void *ud;
    char *key, *id, *next_key, *next_id;
    int64_t initiated;
    bool truncated;
    bool stopped;
} up_page;

/* Replaces *dst with a copy of text. */
static int set_str(char **dst, const char *text, sv_err *err)
{
    free(*dst);
    *dst = sv_strdup(text);
    return *dst ? 0 : sv_err_set(err, SV_ENOMEM, "out of memory");
}

/* Reads ListMultipartUploadsResult, reporting each upload as it ends. */
static int up_cb(void *ud, const char *path, const char *text, sv_err *err)
{
    up_page *p = ud;
    const char *root = "ListMultipartUploadsResult/";
    if (strncmp(path, root, strlen(root)) != 0)
        return 0;
    path += strlen(root);
    if (strcmp(path, "Upload/Key") == 0)
        return set_str(&p->key, text, err);
    if (strcmp(path, "Upload/UploadId") == 0)
        return set_str(&p->id, text, err);
    if (strcmp(path, "Upload/Initiated") == 0)
        p->initiated = s3_parse_time(text);
    else if (strcmp(path, "NextKeyMarker") == 0)
        return set_str(&p->next_key, text, err);
    else if (strcmp(path, "NextUploadIdMarker") == 0)
        return set_str(&p->next_id, text, err);
    else if (strcmp(path, "IsTruncated") == 0)
        p->truncated = strcmp(text, "true") == 0;
    else if (strcmp(path, "Upload") == 0 && p->key && p->id) {
        size_t plen = strlen(p->s->prefix);
        if (strncmp(p->key, p->s->prefix, plen) == 0) {
            store_upload u = {.key = p->key + plen, .upload_id = p->id,
                              .initiated_ms = p->initiated};
            if (p->fn(p->ud, &u, err) != 0) {
                p->stopped = true;
                return -1;
            }
        }
        free(p->key);
        free(p->id);
        p->key = p->id = NULL;
        p->initiated = 0;
    }
    return 0;
}

/* Set once a store answered ListMultipartUploads with 501: optional, and a
 * store that lacks it (s3rver) will not grow it while this process runs. */
static _Atomic bool list_uploads_missing;

/* Unfinished multipart uploads under prefix, every page. SV_ENOTSUP when the
 * store lacks the call: logged once per process, and asked only once. */
static int s3_list_uploads(store_t *st, const char *prefix, store_upload_fn fn, void *ud,
                           sv_err *err)
{
    s3_store *s = S(st);
    if (atomic_load(&list_uploads_missing))
        return sv_err_set(err, SV_ENOTSUP, "s3 at %s does not list multipart uploads", s->origin);
    http_response resp = {0};
    up_page p = {.s = s, .fn = fn, .ud = ud};
    char *key_marker = NULL, *id_marker = NULL;
    int rc = -1;
    char *full = s3_full_key(s, prefix ? prefix : "");
    char *what = sv_asprintf("list uploads %s", prefix ? prefix : "");
    if (!full || !what) {
        sv_err_set(err, SV_ENOMEM, "out of memory");
        goto fail;
    }
    for (;;) {
        sigv4_pair q[5];
        size_t nq = 0;
        q[nq++] = (sigv4_pair){"uploads", ""};
        q[nq++] = (sigv4_pair){"prefix", full};
        q[nq++] = (sigv4_pair){"max-uploads", "1000"};
        if (key_marker)
            q[nq++] = (sigv4_pair){"key-marker", key_marker};
        if (id_marker)
            q[nq++] = (sigv4_pair){"upload-id-marker", id_marker};
        s3_req r = {.method = "GET", .query = q, .nq = nq, .body_cap = 16u << 20, .what = what};
        if (s3_request(&s->main, &r, &resp, err) != 0) {
            if (err->code == SV_ENOTSUP && !atomic_exchange(&list_uploads_missing, true))
                log_warn(NULL, NULL, "s3 at %s does not implement ListMultipartUploads: unfinished "
                                     "multipart uploads are not swept by sqlvault (set a lifecycle "
                                     "rule on the bucket to abort them)", s->origin);
            goto fail;
        }
        p.truncated = false;
        if (s3_xml_walk(resp.body, resp.body_len, up_cb, &p, err) != 0) {
            if (!p.stopped)
                sv_err_wrap(err, "%s", what);
            goto fail;
        }
        if (!p.truncated)
            break;
        if (!p.next_key) {
            sv_err_set(err, SV_EREMOTE, "%s: truncated listing without a marker", what);
            goto fail;
        }
        free(key_marker);
        free(id_marker);
        key_marker = p.next_key;
        id_marker = p.next_id;
        p.next_key = p.next_id = NULL;
        http_response_clear(&resp);
    }
    rc = 0;
fail:
    free(p.key);
    free(p.id);
    free(p.next_key);
    free(p.next_id);
    free(key_marker);
    free(id_marker);
    http_response_clear(&resp);
    free(full);
    free(what);
    return rc;
}

/* AbortMultipartUpload; an upload already gone counts as aborted. */
static int s3_abort_upload(store_t *st, const char *key, const char *upload_id, sv_err *err)
{
    s3_store *s = S(st);
    http_response resp = {0};
    int rc = -1;
    char *full = s3_full_key(s, key);
    char *what = sv_asprintf("abort upload of %s", key);
    if (!full || !what) {
        sv_err_set(err, SV_ENOMEM, "out of memory");
        goto fail;
    }
    sigv4_pair q[] = {{"uploadId", upload_id}};
    s3_req r = {.method = "DELETE", .key = full, .query = q, .nq = 1, .what = what};
    if (s3_request(&s->main, &r, &resp, err) != 0) {
        if (err->code != SV_ENOTFOUND)
            goto fail;
        sv_err_clear(err);
    }
    rc = 0;
fail:
    http_response_clear(&resp);
    free(full);
    free(what);
    return rc;
}

/* ---- ping, free, construction ---- */

/* A one-key listing under the prefix: proves endpoint, bucket and credentials. */
static int s3_ping(store_t *st, sv_err *err)
{
    s3_store *s = S(st);
    http_response resp = {0};
    sigv4_pair q[] = {{"list-type", "2"}, {"max-keys", "1"}, {"prefix", s->prefix}};
    char what[300];
    snprintf(what, sizeof what, "checking bucket %s", s->bucket);
    s3_req r = {.method = "GET", .query = q, .nq = 3, .what = what};
    int rc = s3_request(&s->main, &r, &resp, err);
    http_response_clear(&resp);
    return rc;
}

/* Frees the store and its connection. */
static void s3_free(store_t *st)
{
    if (!st)
        return;
    s3_store *s = S(st);
    s3_client_fini(&s->main);
    free(s->bucket);
    free(s->prefix);
    free(s->origin);
    free(s->host);
    free(s->tmp_dir);
    free(s);
}

static const store_vt s3_vt = {
    .scheme = "s3",
    .put = s3_put,
    .writer_open = s3_writer_open,
    .writer_write = s3_writer_write,
    .writer_commit = s3_writer_commit,
    .writer_abort = s3_writer_abort,
    .get = s3_get,
    .get_range = s3_get_range,
    .stat = s3_stat,
    .list = s3_list,
    .delete_many = s3_delete_many,
    .delete_locked = s3_delete_locked,
    .presign = s3_presign,
    .list_uploads = s3_list_uploads,
    .abort_upload = s3_abort_upload,
    .ping = s3_ping,
    .free = s3_free,
};

/* Splits an endpoint into origin ("scheme://host[:port]") and host[:port]. */
static int parse_endpoint(s3_store *s, const char *endpoint, sv_err *err)
{
    const char *scheme = "https";
    const char *rest = endpoint;
    const char *sep = strstr(endpoint, "://");
    if (sep) {
        if (strncmp(endpoint, "http://", 7) == 0)
            scheme = "http";
        else if (strncmp(endpoint, "https://", 8) != 0)
            goto bad;
        rest = sep + 3;
    }
    size_t hl = strcspn(rest, "/?#");
    if (hl == 0 || memchr(rest, '@', hl))
        goto bad;
    s->host = strndup(rest, hl);
    s->origin = s->host ? sv_asprintf("%s://%s", scheme, s->host) : NULL;
    if (!s->origin)
        return sv_err_set(err, SV_ENOMEM, "out of memory");
    return 0;
bad:
    sv_err_set(err, SV_EINVAL, "bad s3 endpoint \"%s\": want http(s)://host[:port]", endpoint);
    return sv_err_hint(err, "check SQLVAULT_S3_ENDPOINT (or R2_ENDPOINT)");
}

/* Opens an s3:// store on bucket/prefix (see store.h). */
int store_s3_new(const sv_config *cfg, const sv_clock *clock, const char *bucket,
                 const char *prefix, store_t **out, sv_err *err)
{
    s3_store *s = NULL;
    char *aws = NULL;
    *out = NULL;
    if (!bucket || !bucket[0] || strchr(bucket, '/'))
        return sv_err_set(err, SV_EINVAL, "bad s3 bucket name \"%s\"", bucket ? bucket : "");
    if (!cfg->access_key_id || !cfg->access_key_id[0] || !cfg->secret_access_key ||
        !cfg->secret_access_key[0]) {
        sv_err_set(err, SV_EINVAL, "s3 credentials are missing");
        return sv_err_hint(err, "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or "
                                "R2_ACCESS_KEY_ID and R2_SECRET_ACCESS_KEY)");
    }
    s = calloc(1, sizeof *s);
    if (!s)
        goto oom;
    s->base.vt = &s3_vt;
    s->base.clock = clock;
    s->cfg = cfg;
    s->region = cfg->s3_region && cfg->s3_region[0] ? cfg->s3_region : "auto";
    s->part_size = cfg->part_size ? cfg->part_size : (16u << 20);
    s->concurrency = cfg->upload_concurrency > 0 ? cfg->upload_concurrency : 2;
    http_opts_default(&s->http);
    s->bucket = sv_strdup(bucket);
    while (prefix && *prefix == '/')
        prefix++;
    size_t pl = prefix ? strlen(prefix) : 0;
    s->prefix = pl && prefix[pl - 1] != '/' ? sv_asprintf("%s/", prefix) : sv_strdup(pl ? prefix : "");
    const char *tmp = cfg->tmp_dir && cfg->tmp_dir[0] ? cfg->tmp_dir : getenv("TMPDIR");
    s->tmp_dir = sv_strdup(tmp && tmp[0] ? tmp : "/tmp");
    if (!s->bucket || !s->prefix || !s->tmp_dir)
        goto oom;
    if (cfg->s3_endpoint && cfg->s3_endpoint[0]) {
        if (parse_endpoint(s, cfg->s3_endpoint, err) != 0)
            goto fail;
    } else {
        /* AWS: region "auto" is an R2 notion; AWS wants a real one. */
        const char *r = strcmp(s->region, "auto") == 0 ? "us-east-1" : s->region;
        if (strcmp(s->region, "auto") == 0)
            s->region = "us-east-1";
        aws = sv_asprintf("https://s3.%s.amazonaws.com", r);
        if (!aws || parse_endpoint(s, aws, err) != 0)
            goto fail;
    }
    if (s3_client_init(&s->main, s, err) != 0)
        goto fail;
    free(aws);
    *out = &s->base;
    return 0;
oom:
    sv_err_set(err, SV_ENOMEM, "out of memory opening the s3 store");
fail:
    free(aws);
    if (s)
        s3_free(&s->base);
    return -1;
}
