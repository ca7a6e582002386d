/* store.c -- opening a store by URL, and helpers every driver shares. */
#include <stdlib.h>
#include <string.h>
#include "buf.h"
#include "store.h"
#include "store/store_intern.h"
#include "util.h"

/* Opens file:///path or s3://bucket/prefix/ as named by cfg->store_url. */
int store_open(const sv_config *cfg, const sv_clock *clock, store_t **out, sv_err *err)
{
    const char *u = cfg->store_url;
    *out = NULL;
    if (strncmp(u, "file://", 7) == 0) return store_file_new(cfg, clock, u + 7, out, err);
    if (strncmp(u, "s3://", 5) == 0) {
        const char *b = u + 5, *slash = strchr(b, '/');
        char *bucket = slash ? strndup(b, (size_t)(slash - b)) : strdup(b);
        char *prefix = NULL;
        int rc;
        if (!bucket) return sv_err_set(err, SV_ENOMEM, "out of memory");
        if (slash && slash[1]) {
            size_t n = strlen(slash + 1);
            prefix = slash[n] == '/' ? strdup(slash + 1) : sv_asprintf("%s/", slash + 1);
        } else prefix = strdup("");
        rc = prefix ? store_s3_new(cfg, clock, bucket, prefix, out, err)
                    : sv_err_set(err, SV_ENOMEM, "out of memory");
        free(bucket);
        free(prefix);
        return rc;
    }
    return sv_err_set(err, SV_EINVAL, "unsupported store '%s'", u);
}

/* Frees a store of any kind; NULL is a no-op. */
void store_free(store_t *s)
{
    if (s) s->vt->free(s);
}

/* ---- The calls of store.h, through the driver's table. ---- */

int store_put(store_t *s, const char *key, const void *data, size_t len, const store_put_opts *o,
              sv_err *err)
{
    return s->vt->put(s, key, data, len, o, err);
}

int store_writer_open(store_t *s, const char *key, const store_writer_opts *o, store_writer_t **w,
                      sv_err *err)
{
    return s->vt->writer_open(s, key, o, w, err);
}

int store_writer_write(store_t *s, store_writer_t *w, const void *data, size_t len, sv_err *err)
{
    (void)s;
    return w->vt->writer_write(w, data, len, err);
}

int store_writer_commit(store_t *s, store_writer_t *w, sv_err *err)
{
    (void)s;
    return w->vt->writer_commit(w, err);
}

void store_writer_abort(store_t *s, store_writer_t *w)
{
    (void)s;
    if (w) w->vt->writer_abort(w);
}

int store_get(store_t *s, const char *key, uint64_t offset, store_sink_fn sink, void *ud, sv_err *err)
{
    return s->vt->get(s, key, offset, sink, ud, err);
}

int store_get_range(store_t *s, const char *key, uint64_t offset, uint64_t len, store_sink_fn sink,
                    void *ud, sv_err *err)
{
    if (len == 0)
        return 0;
    if (offset > UINT64_MAX - len)
        return sv_err_set(err, SV_EINVAL, "range read of '%s': offset %llu + length %llu overflows", key,
                          (unsigned long long)offset, (unsigned long long)len);
    return s->vt->get_range(s, key, offset, len, sink, ud, err);
}

/* The one message of a range past the end, the same for every driver. */
int store_range_past_end(sv_err *err, const char *key, uint64_t offset, uint64_t len, uint64_t size)
{
    return sv_err_set(err, SV_ECORRUPT,
                      "range read of '%s': bytes %llu-%llu (%llu bytes) reach past the end of the "
                      "object (%llu bytes): it is damaged or not the object the index describes",
                      key, (unsigned long long)offset, (unsigned long long)(offset + len - 1),
                      (unsigned long long)len, (unsigned long long)size);
}

int store_stat_key(store_t *s, const char *key, store_stat *st, sv_err *err)
{
    return s->vt->stat(s, key, st, err);
}

int store_list(store_t *s, const char *prefix, const char *delimiter, store_list_fn fn, void *ud,
               sv_err *err)
{
    return s->vt->list(s, prefix, delimiter, fn, ud, err);
}

int store_delete_many(store_t *s, const char *const *keys, size_t n, sv_err *err)
{
    return s->vt->delete_many(s, keys, n, err);
}

int store_delete_locked(store_t *s, const char *const *keys, size_t n, bool *locked, size_t *nlocked, sv_err *err)
{
    int rc;
    memset(locked, 0, n * sizeof *locked);
    *nlocked = 0;
    rc = s->vt->delete_locked ? s->vt->delete_locked(s, keys, n, locked, err) : s->vt->delete_many(s, keys, n, err);
    for (size_t i = 0; i < n; i++) *nlocked += locked[i];
    return rc;
}

int store_presign(store_t *s, const char *method, const char *key, int64_t ttl_s,
                  const char *content_disposition, char **out, sv_err *err)
{
    return s->vt->presign(s, method, key, ttl_s, content_disposition, out, err);
}

int store_ping(store_t *s, sv_err *err) { return s->vt->ping(s, err); }

const char *store_scheme(const store_t *s) { return s->vt->scheme; }

/* Optional: SV_ENOTSUP when the driver has no such call. */
int store_list_uploads(store_t *s, const char *prefix, store_upload_fn fn, void *ud, sv_err *err)
{
    if (!s->vt->list_uploads)
        return sv_err_set(err, SV_ENOTSUP, "the %s store cannot list unfinished uploads", s->vt->scheme);
    return s->vt->list_uploads(s, prefix, fn, ud, err);
}

/* Optional: SV_ENOTSUP when the driver has no such call. */
int store_abort_upload(store_t *s, const char *key, const char *upload_id, sv_err *err)
{
    if (!s->vt->abort_upload)
        return sv_err_set(err, SV_ENOTSUP, "the %s store cannot abort uploads", s->vt->scheme);
    return s->vt->abort_upload(s, key, upload_id, err);
}

/* Sink that appends to a bounded buffer. */
static int small_sink(void *ud, const void *data, size_t len, sv_err *err)
{
    sv_buf *b = ud;
    sv_code rc = sv_buf_add(b, data, len);
    if (rc == SV_ETOOBIG) return sv_err_set(err, SV_ETOOBIG, "object larger than %zu bytes", b->max);
    if (rc != SV_OK) return sv_err_set(err, SV_ENOMEM, "out of memory");
    return 0;
}

/* Reads a small object whole, NUL-terminated; SV_ETOOBIG past max. */
int store_get_small(store_t *s, const char *key, size_t max, char **out, size_t *len, sv_err *err)
{
    sv_buf b;
    size_t n;
    sv_buf_init(&b, max);
    *out = NULL;
    if (store_get(s, key, 0, small_sink, &b, err) != 0) {
        sv_buf_free(&b);
        return -1;
    }
    n = b.len;
    *out = sv_buf_take(&b);
    if (!*out) return sv_err_set(err, SV_ENOMEM, "out of memory");
    if (len) *len = n;
    return 0;
}
