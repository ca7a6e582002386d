/* store.h -- one interface, two drivers: file:// and s3://.
 *
 * backup, restore, prune, verify and export talk to a store_t and never ask
 * which kind it is. store_t and store_writer_t are opaque: each driver is a
 * const table of function pointers (store_vt) declared in the drivers'
 * internal header src/store/store_intern.h, and the functions below, defined
 * in src/store/store.c, are the only way to reach it.
 *
 * Keys are relative to the store's root ("full/ws/ts/metadata.json").
 *
 * THREAD SAFETY NOTES: a store_t is used by one thread at a time; each worker
 * thread opens its own (store_open). A writer may run its own upload threads
 * internally; they share nothing with other store_t objects. (The S3 store
 * holds one keep-alive connection and a signer with a cached key, neither
 * locked: to have several GETs in flight, open a store_t per thread; opening
 * one costs no request.) */
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

/* Opens the store named by cfg->store_url. The store keeps pointers into cfg
 * and clock, which must outlive it. */
int store_open(const sv_config *cfg, const sv_clock *clock, store_t **out, sv_err *err);
void store_free(store_t *s); /* NULL is a no-op */

/* Driver constructors (store_open dispatches on the scheme). */
int store_file_new(const sv_config *cfg, const sv_clock *clock, const char *root, store_t **out,
                   sv_err *err);
int store_s3_new(const sv_config *cfg, const sv_clock *clock, const char *bucket,
                 const char *prefix, store_t **out, sv_err *err);

/* The calls every store answers (see store_intern.h for what each does). */
int store_put(store_t *s, const char *key, const void *data, size_t len, const store_put_opts *o,
              sv_err *err);
/* A streamed object: open, write any sizes, commit (or abort). Nothing is
 * visible under key before commit returns 0; abort removes every trace.
 * commit and abort free the writer (abort of NULL is a no-op). The writer
 * carries its own driver table; the store argument of write/commit/abort is
 * kept for the callers' symmetry and must be the store that opened it. */
int store_writer_open(store_t *s, const char *key, const store_writer_opts *o, store_writer_t **w,
                      sv_err *err);
int store_writer_write(store_t *s, store_writer_t *w, const void *data, size_t len, sv_err *err);
int store_writer_commit(store_t *s, store_writer_t *w, sv_err *err);
void store_writer_abort(store_t *s, store_writer_t *w);
/* Streamed GET from offset to the end. SV_ENOTFOUND if missing. */
int store_get(store_t *s, const char *key, uint64_t offset, store_sink_fn sink, void *ud, sv_err *err);
/* Streamed GET of exactly the bytes [offset, offset+len) of key, in order and
 * each once (a transfer cut mid-range resumes inside the range, as store_get
 * does). len 0 is a no-op success: nothing is asked of the store, so a
 * missing key goes unnoticed. SV_ENOTFOUND if missing. A range reaching past
 * the object's end is SV_ECORRUPT, naming the key, the range and the
 * object's size (the caller's index said the bytes were there: the object is
 * damaged or not the one the index describes), found before the sink gets
 * a byte; a range whose end overflows 64 bits is SV_EINVAL. After any other
 * error the sink may have got part of the range (discard it). The S3 driver sends
 * "Range: bytes=A-B" and wants 206 Partial Content for exactly that range: a
 * server that ignores Range (200 with the whole object) is SV_EREMOTE, never
 * read through to the range. */
int store_get_range(store_t *s, const char *key, uint64_t offset, uint64_t len, store_sink_fn sink,
                    void *ud, sv_err *err);
/* Metadata of one object. SV_ENOTFOUND if missing. */
int store_stat_key(store_t *s, const char *key, store_stat *st, sv_err *err);
/* Every key under prefix, in lexicographic order; with delimiter "/" the keys
 * one level down, and deeper ones as prefixes. */
int store_list(store_t *s, const char *prefix, const char *delimiter, store_list_fn fn, void *ud,
               sv_err *err);
/* Deletes any number of keys; a key already gone is not an error. */
int store_delete_many(store_t *s, const char *const *keys, size_t n, sv_err *err);
/* The same, where a key that a bucket lock rule (R2: ObjectLockedByBucketPolicy)
 * or S3 Object Lock refuses to delete is kept and not an error: locked[i]
 * (n entries, the caller's) is set for it, *nlocked counts them. Classified
 * once, here: a lock is not retried as a transient failure. A driver
 * without locks (file://) deletes them all. */
int store_delete_locked(store_t *s, const char *const *keys, size_t n, bool *locked, size_t *nlocked, sv_err *err);
/* A URL usable without credentials ("GET" or "PUT"); the file store answers
 * the absolute path. *out is heap-allocated, caller frees. */
int store_presign(store_t *s, const char *method, const char *key, int64_t ttl_s,
                  const char *content_disposition, char **out, sv_err *err);
/* Cheap reachability and credential check (for /readyz and start-up). */
int store_ping(store_t *s, sv_err *err);
/* The scheme of the store's driver: "file" or "s3". */
const char *store_scheme(const store_t *s);

/* Optional calls: a driver without them (or a server that refuses them, as
 * s3rver does for ListMultipartUploads) fails with SV_ENOTSUP, and callers
 * skip what needed them. store_list_uploads reports unfinished uploads under
 * prefix (S3 multipart uploads, leftover temporary files of the file store);
 * store_abort_upload removes one (SV_ENOTFOUND if already gone). */
int store_list_uploads(store_t *s, const char *prefix, store_upload_fn fn, void *ud, sv_err *err);
int store_abort_upload(store_t *s, const char *key, const char *upload_id, sv_err *err);

/* Reads a small object (metadata.json) into a heap buffer, NUL-terminated,
 * failing with SV_ETOOBIG past max bytes. Caller frees *out. */
int store_get_small(store_t *s, const char *key, size_t max, char **out, size_t *len, sv_err *err);

#endif
