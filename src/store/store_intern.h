/* store_intern.h -- the driver interface of the store (for drivers only).
 *
 * Callers use include/store.h; only src/store/ includes this file. A driver
 * is a const store_vt table; its store object starts with struct store and
 * its writer object starts with struct store_writer, both pointing at the
 * table, so a writer can be driven without its store.
 *
 * Required functions (every driver sets them; not checked at run time):
 *   put, writer_open, writer_write, writer_commit, writer_abort, get,
 *   get_range, stat, list, delete_many, presign, ping, free.
 * Optional functions (may be NULL; the store.c wrapper then fails with
 * SV_ENOTSUP, and so may the driver when its server lacks the call):
 *   list_uploads, abort_upload. */
#ifndef SV_STORE_INTERN_H
#define SV_STORE_INTERN_H

#include "store.h"

typedef struct store_vt {
    const char *scheme; /* "file" or "s3" */

    /* ---- required ---- */
    /* Small object from memory. */
    int (*put)(store_t *s, const char *key, const void *data, size_t len,
               const store_put_opts *o, sv_err *err);
    /* Streamed object: open, write any sizes, commit (or abort). Nothing is
     * visible under key before commit returns 0; abort removes every trace
     * (temporary file, multipart upload). commit/abort free the writer. The
     * driver sets the writer's vt before returning it. */
    int (*writer_open)(store_t *s, const char *key, const store_writer_opts *o,
                       store_writer_t **out, sv_err *err);
    int (*writer_write)(store_writer_t *w, const void *data, size_t len, sv_err *err);
    int (*writer_commit)(store_writer_t *w, sv_err *err);
    void (*writer_abort)(store_writer_t *w);
    /* Streamed GET from offset to the end. SV_ENOTFOUND if missing. */
    int (*get)(store_t *s, const char *key, uint64_t offset, store_sink_fn sink, void *ud,
               sv_err *err);
    /* Exactly bytes [offset, offset+len) to sink, each once (store.h has the
     * contract). The wrapper answers len 0 and an overflowing end itself, so
     * a driver sees len > 0 and offset + len <= UINT64_MAX. Past the end:
     * store_range_past_end's SV_ECORRUPT, before the sink gets a byte. */
    int (*get_range)(store_t *s, const char *key, uint64_t offset, uint64_t len,
                     store_sink_fn sink, void *ud, sv_err *err);
    /* Metadata of one object. SV_ENOTFOUND if missing. */
    int (*stat)(store_t *s, const char *key, store_stat *st, sv_err *err);
    /* Every key under prefix, in lexicographic order. With delimiter "/" the
     * keys one level down are reported, and deeper ones as prefixes. */
    int (*list)(store_t *s, const char *prefix, const char *delimiter, store_list_fn fn,
                void *ud, sv_err *err);
    /* Deletes up to any number of keys (the driver batches: S3 DeleteObjects
     * takes at most 1000). A key already gone is not an error. */
    int (*delete_many)(store_t *s, const char *const *keys, size_t n, sv_err *err);
    /* Optional: delete_many where a key a bucket lock or object lock refuses
     * is not an error but sets locked[i] (store_delete_locked). NULL: no
     * locks in this driver. */
    int (*delete_locked)(store_t *s, const char *const *keys, size_t n, bool *locked, sv_err *err);
    /* A URL a client can use without credentials: method "GET" or "PUT".
     * content_disposition (GET only) may be NULL. The file driver returns the
     * absolute path. *out is heap-allocated, caller frees. */
    int (*presign)(store_t *s, const char *method, const char *key, int64_t ttl_s,
                   const char *content_disposition, char **out, sv_err *err);
    /* Cheap reachability and credential check (for /readyz and start-up). */
    int (*ping)(store_t *s, sv_err *err);
    void (*free)(store_t *s);

    /* ---- optional (NULL = not supported) ---- */
    /* Unfinished uploads under prefix, and aborting one. list_uploads may
     * also fail with SV_ENOTSUP on a server without the call (s3rver); the
     * driver logs that once per process. */
    int (*list_uploads)(store_t *s, const char *prefix, store_upload_fn fn, void *ud,
                        sv_err *err);
    int (*abort_upload)(store_t *s, const char *key, const char *upload_id, sv_err *err);
} store_vt;

/* Every driver's store object starts with this header. */
struct store {
    const store_vt *vt;
    const sv_clock *clock;
};

/* Every driver's writer object starts with this header. */
struct store_writer {
    const store_vt *vt;
};

/* Helpers every driver shares (store.c). */

/* Fills err with the SV_ECORRUPT of a range read reaching past the end of
 * key (size bytes); returns -1. */
int store_range_past_end(sv_err *err, const char *key, uint64_t offset, uint64_t len, uint64_t size);

#endif
