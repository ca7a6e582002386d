/* store.c -- opening a store by URL, and helpers every driver shares. */
#include <stdlib.h>
#include <string.h>
#include "store.h"
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

typedef struct small_buf {
    char *data;
    size_t len, cap, max;
} small_buf;

/* Sink that appends to a bounded buffer. */
static int small_sink(void *ud, const void *data, size_t len, sv_err *err)
{
    small_buf *b = ud;
    if (b->len + len > b->max) return sv_err_set(err, SV_ETOOBIG, "object larger than %zu bytes", b->max);
    if (b->len + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + len + 1) cap *= 2;
        char *p = realloc(b->data, cap);
        if (!p) return sv_err_set(err, SV_ENOMEM, "out of memory");
        b->data = p;
        b->cap = cap;
    }
    memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
    return 0;
}

/* Reads a small object whole, NUL-terminated; SV_ETOOBIG past max. */
int store_get_small(store_t *s, const char *key, size_t max, char **out, size_t *len, sv_err *err)
{
    small_buf b = {NULL, 0, 0, max};
    *out = NULL;
    if (store_get(s, key, 0, small_sink, &b, err) != 0) {
        free(b.data);
        return -1;
    }
    if (!b.data) {
        b.data = calloc(1, 1);
        if (!b.data) return sv_err_set(err, SV_ENOMEM, "out of memory");
    }
    *out = b.data;
    if (len) *len = b.len;
    return 0;
}
