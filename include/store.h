/* store.h -- one interface, two drivers: file:// and s3://.
 *
 * backup, restore, prune, verify and export talk to a store_t and never ask
 * which kind it is. Each driver is a const table of function pointers
 * (store_vt); the inline wrappers below call through it.
 *
 * Keys are relative to the store's root ("full/ws/ts/metadata.json").
 *
 * THREAD SAFETY NOTES: a store_t is used by one thread at a time; each worker
 * thread opens its own (store_open). A writer may run its own upload threads
 * internally; they share nothing with other store_t objects. */
#ifndef SV_STORE_H
#define SV_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "clock.h"
#include "config.h"
#include "err.h"

typedef struct store store_t;
typedef struct store_writer store_writer_t;

typedef struct store_stat {
    uint64_t size;
    int64_t mtime_ms;   /* last modified, 0 if unknown */
    char etag[80];
} store_stat;

/* Options of a small PUT. */
typedef struct store_put_opts {
    bool if_none_match;        /* fail with SV_ECONFLICT if the key exists */
    const char *content_type;  /* NULL = application/octet-stream */
} store_put_opts;

/* Options of a streamed writer. */
typedef struct store_writer_opts {
    uint64_t size_hint;        /* 0 = unknown; used to choose single PUT vs multipart */
    const char *content_type;
    /* Called after each part is durably uploaded (bytes uploaded so far). May be NULL. */
    void (*on_progress)(void *ud, uint64_t bytes_uploaded);
    void *progress_ud;
} store_writer_opts;

/* Sink of a streamed GET: called with each chunk in order; return 0 to go on,
 * -1 (with err filled) to stop. On a retried transfer the driver resumes at the
 * offset already delivered, so the sink never sees a byte twice. */
typedef int (*store_sink_fn)(void *ud, const void *data, size_t len, sv_err *err);

/* One listing entry. is_prefix: a common prefix ("folder") when listing with a
 * delimiter; then size/mtime are 0. Return 0 to go on, -1 to stop (err filled). */
typedef struct store_entry {
    const char *key;
    uint64_t size;
    int64_t mtime_ms;
    bool is_prefix;
} store_entry;
typedef int (*store_list_fn)(void *ud, const store_entry *e, sv_err *err);

/* An unfinished multipart upload (S3) or a leftover temporary file (file). */
typedef struct store_upload {
    const char *key;
    const char *upload_id;
    int64_t initiated_ms;
} store_upload;
typedef int (*store_upload_fn)(void *ud, const store_upload *u, sv_err *err);

typedef struct store_vt {
    const char *scheme; /* "file" or "s3" */
    /* Small object from memory. */
    int (*put)(store_t *s, const char *key, const void *data, size_t len,
               const store_put_opts *o, sv_err *err);
    /* Streamed object: open, write any sizes, commit (or abort). Nothing is
     * visible under key before commit returns 0; abort removes every trace
     * (temporary file, multipart upload). commit/abort free the writer. */
    int (*writer_open)(store_t *s, const char *key, const store_writer_opts *o,
                       store_writer_t **out, sv_err *err);
    int (*writer_write)(store_writer_t *w, const void *data, size_t len, sv_err *err);
    int (*writer_commit)(store_writer_t *w, sv_err *err);
    void (*writer_abort)(store_writer_t *w);
    /* Streamed GET from offset to the end. SV_ENOTFOUND if missing. */
    int (*get)(store_t *s, const char *key, uint64_t offset, store_sink_fn sink, void *ud,
               sv_err *err);
    /* Metadata of one object. SV_ENOTFOUND if missing. */
    int (*stat)(store_t *s, const char *key, store_stat *st, sv_err *err);
    /* Every key under prefix, in lexicographic order. With delimiter "/" the
     * keys one level down are reported, and deeper ones as prefixes. */
    int (*list)(store_t *s, const char *prefix, const char *delimiter, store_list_fn fn,
                void *ud, sv_err *err);
    /* Deletes up to any number of keys (the driver batches: S3 DeleteObjects
     * takes at most 1000). A key already gone is not an error. */
    int (*delete_many)(store_t *s, const char *const *keys, size_t n, sv_err *err);
    /* A URL a client can use without credentials: method "GET" or "PUT".
     * content_disposition (GET only) may be NULL. The file driver returns the
     * absolute path. *out is heap-allocated, caller frees. */
    int (*presign)(store_t *s, const char *method, const char *key, int64_t ttl_s,
                   const char *content_disposition, char **out, sv_err *err);
    /* Unfinished uploads under prefix, and aborting one. list_uploads fails
     * with SV_ENOTSUP on a store without the call (s3rver): callers skip
     * the sweep; the driver logs that once per process. */
    int (*list_uploads)(store_t *s, const char *prefix, store_upload_fn fn, void *ud,
                        sv_err *err);
    int (*abort_upload)(store_t *s, const char *key, const char *upload_id, sv_err *err);
    /* Cheap reachability and credential check (for /readyz and start-up). */
    int (*ping)(store_t *s, sv_err *err);
    void (*free)(store_t *s);
} store_vt;

/* Every driver's object starts with this header. */
struct store {
    const store_vt *vt;
    const sv_clock *clock;
};

/* Opens the store named by cfg->store_url. The store keeps pointers into cfg
 * and clock, which must outlive it. */
int store_open(const sv_config *cfg, const sv_clock *clock, store_t **out, sv_err *err);
void store_free(store_t *s); /* NULL is a no-op */

/* Driver constructors (store_open dispatches on the scheme). */
int store_file_new(const sv_config *cfg, const sv_clock *clock, const char *root, store_t **out,
                   sv_err *err);
int store_s3_new(const sv_config *cfg, const sv_clock *clock, const char *bucket,
                 const char *prefix, store_t **out, sv_err *err);

static inline int store_put(store_t *s, const char *key, const void *d, size_t n,
                            const store_put_opts *o, sv_err *e)
{ return s->vt->put(s, key, d, n, o, e); }
static inline int store_writer_open(store_t *s, const char *key, const store_writer_opts *o,
                                    store_writer_t **w, sv_err *e)
{ return s->vt->writer_open(s, key, o, w, e); }
static inline int store_writer_write(store_t *s, store_writer_t *w, const void *d, size_t n, sv_err *e)
{ return s->vt->writer_write(w, d, n, e); }
static inline int store_writer_commit(store_t *s, store_writer_t *w, sv_err *e)
{ return s->vt->writer_commit(w, e); }
static inline void store_writer_abort(store_t *s, store_writer_t *w)
{ if (w) s->vt->writer_abort(w); }
static inline int store_get(store_t *s, const char *key, uint64_t off, store_sink_fn f, void *ud, sv_err *e)
{ return s->vt->get(s, key, off, f, ud, e); }
static inline int store_stat_key(store_t *s, const char *key, store_stat *st, sv_err *e)
{ return s->vt->stat(s, key, st, e); }
static inline int store_list(store_t *s, const char *prefix, const char *delim, store_list_fn f, void *ud, sv_err *e)
{ return s->vt->list(s, prefix, delim, f, ud, e); }
static inline int store_delete_many(store_t *s, const char *const *keys, size_t n, sv_err *e)
{ return s->vt->delete_many(s, keys, n, e); }
static inline int store_presign(store_t *s, const char *method, const char *key, int64_t ttl,
                                const char *cd, char **out, sv_err *e)
{ return s->vt->presign(s, method, key, ttl, cd, out, e); }
static inline int store_ping(store_t *s, sv_err *e) { return s->vt->ping(s, e); }

/* Reads a small object (metadata.json) into a heap buffer, NUL-terminated,
 * failing with SV_ETOOBIG past max bytes. Caller frees *out. */
int store_get_small(store_t *s, const char *key, size_t max, char **out, size_t *len, sv_err *err);

#endif
