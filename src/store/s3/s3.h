/* s3.h -- internals shared by the S3 driver's files (not a public header).
 *
 *   store.c    the store_vt table: put, get, range get, stat, list, delete, presign,
 *              multipart listing/abort, ping
 *   write.c    the streamed writer: single PUT or multipart with parts
 *              spooled to temporary files and uploaded by background threads
 *   request.c  one signed request (s3_request) and the classification of
 *              S3 replies into sv_code
 *   sigv4.c    the signer; xml.c the reply parser
 *
 * Addressing is path-style: ORIGIN/BUCKET/KEY, where KEY is the store's
 * prefix plus the caller's key, URI-encoded per SigV4 with '/' kept. */
#ifndef SV_S3_INTERNAL_H
#define SV_S3_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "http/http.h"
#include "store.h"
#include "store/store_intern.h"
#include "store/s3/sigv4.h"

typedef struct s3_store s3_store;

/* What one thread needs to talk to S3: a signer (with its cached key) and a
 * keep-alive connection. The store has one; each upload thread makes its own. */
typedef struct s3_client {
    const s3_store *s;
    sigv4_signer signer;
    http_conn *http;
} s3_client;

struct s3_store {
    store_t base;         /* must be first */
    const sv_config *cfg; /* borrowed */
    char *bucket;
    char *prefix;         /* "" or ends with '/' */
    char *origin;         /* scheme://host[:port], no trailing slash */
    char *host;           /* host[:port], the signed Host header */
    const char *region;   /* borrowed from cfg, or "auto" */
    uint64_t part_size;
    int concurrency;
    char *tmp_dir;
    http_opts http;       /* retry policy for every client of this store */
    s3_client main;
};

/* One S3 request. key is the full object key (prefix included) or NULL for
 * a bucket-level request. Extra headers are sent and signed. */
typedef struct s3_req {
    const char *method;
    const char *key;
    const sigv4_pair *query;
    size_t nq;
    const sigv4_pair *headers;
    size_t nh;
    const void *body;       /* memory body, or */
    bool body_from_fd;      /* a file region body: body_len bytes of body_fd at body_off */
    int body_fd;
    uint64_t body_off;
    uint64_t body_len;
    const char *payload_hash; /* hex sha256 of the body; NULL = hash the memory body */
    store_sink_fn sink;     /* 2xx body stream, or NULL to collect it */
    void *sink_ud;
    size_t body_cap;        /* 0 = 1 MiB */
    /* Streamed GET resume: when *range_from > 0 each attempt asks for
     * "Range: bytes=N-" and, when if_match is non-empty, If-Match. */
    const uint64_t *range_from;
    const char *if_match;
    /* Bounded range GET (with range_from): every attempt asks for
     * "Range: bytes=*range_from-(*range_end - 1)", and If-Match when if_match
     * is non-empty; an attempt with *range_from >= *range_end fails. */
    const uint64_t *range_end;
    bool (*retry_response)(void *ud, const http_response *resp);
    const char *what;       /* "put full/ws/x" -- for messages */
} s3_req;

/* Makes a client for s (its own connection and signer copy). */
int s3_client_init(s3_client *c, const s3_store *s, sv_err *err);
void s3_client_fini(s3_client *c);

/* Runs r with retries (in http_do). 0 on a 2xx reply (resp holds it); -1
 * with err classified otherwise (resp->status tells which reply, 0 when
 * none). The caller clears resp either way. */
int s3_request(s3_client *c, const s3_req *r, http_response *resp, sv_err *err);

/* Classifies a final non-2xx reply into err (see request.c). */
int s3_classify(const s3_store *s, const char *what, const http_response *resp, sv_err *err);

/* The time to sign with (x-amz-date), ms since the epoch: the injected
 * clock's now, except that the process clock is read without its
 * SQLVAULT_FAKE_NOW offset -- that variable fakes the business "now"
 * (backup timestamps, retention) while the server compares x-amz-date with
 * its real clock (15 minutes of skew at most). */
int64_t s3_sign_now(const s3_store *s);

/* The full key of a caller's key (prefix + key), heap. */
char *s3_full_key(const s3_store *s, const char *key);

/* ISO 8601 time ("2026-01-15T10:30:00.000Z", millis optional) -> ms, 0 if bad. */
int64_t s3_parse_time(const char *s);

/* Writer entry points (write.c). */
int s3_writer_open(store_t *st, const char *key, const store_writer_opts *o, store_writer_t **out,
                   sv_err *err);
int s3_writer_write(store_writer_t *w, const void *data, size_t len, sv_err *err);
int s3_writer_commit(store_writer_t *w, sv_err *err);
void s3_writer_abort(store_writer_t *w);

#endif
