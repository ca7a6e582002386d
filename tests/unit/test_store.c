/* test_store.c -- the store interface itself (src/store/store.c), against a
 * minimal driver made here from store_intern.h: the calls of store.h reach
 * the driver's table, a writer is driven through its own table (no store
 * needed), the optional calls answer SV_ENOTSUP cleanly when a driver lacks
 * them, store_get_range answers len 0 and an overflowing end itself, and
 * store_get_small stops at its cap. Then the file driver's optional
 * calls: a leftover temporary file is an unfinished upload, and aborting it
 * removes it. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "buf.h"
#include "store.h"
#include "store/store_intern.h"
#include "testlib.h"
#include "util.h"

/* ---- a driver with the required calls only ---- */

typedef struct mini_store {
    store_t base;
    const char *object; /* what get answers */
    int puts, writes, commits, aborts, ranges;
} mini_store;

typedef struct mini_writer {
    store_writer_t base;
    mini_store *s;
    size_t n;
} mini_writer;

static int m_put(store_t *s, const char *key, const void *d, size_t n, const store_put_opts *o, sv_err *e)
{
    (void)key, (void)d, (void)n, (void)o, (void)e;
    ((mini_store *)s)->puts++;
    return 0;
}
static int m_writer_open(store_t *s, const char *key, const store_writer_opts *o, store_writer_t **out,
                         sv_err *e)
{
    (void)key, (void)o;
    mini_writer *w = calloc(1, sizeof *w);
    if (!w) return sv_err_set(e, SV_ENOMEM, "out of memory");
    w->base.vt = s->vt;
    w->s = (mini_store *)s;
    *out = &w->base;
    return 0;
}
static int m_writer_write(store_writer_t *wb, const void *d, size_t n, sv_err *e)
{
    (void)d, (void)e;
    mini_writer *w = (mini_writer *)wb;
    w->n += n;
    w->s->writes++;
    return 0;
}
static int m_writer_commit(store_writer_t *wb, sv_err *e)
{
    (void)e;
    mini_writer *w = (mini_writer *)wb;
    w->s->commits++;
    free(w);
    return 0;
}
static void m_writer_abort(store_writer_t *wb)
{
    mini_writer *w = (mini_writer *)wb;
    w->s->aborts++;
    free(w);
}
static int m_get(store_t *s, const char *key, uint64_t off, store_sink_fn sink, void *ud, sv_err *e)
{
    (void)key;
    const char *obj = ((mini_store *)s)->object;
    size_t n = strlen(obj);
    if (off > n) return sv_err_set(e, SV_EINVAL, "offset past the end");
    /* in two chunks, as a driver streams */
    size_t half = (n - (size_t)off) / 2;
    if (sink(ud, obj + off, half, e) != 0) return -1;
    return sink(ud, obj + off + half, n - (size_t)off - half, e);
}
static int m_get_range(store_t *s, const char *key, uint64_t off, uint64_t len, store_sink_fn sink, void *ud,
                       sv_err *e)
{
    (void)key;
    mini_store *m = (mini_store *)s;
    m->ranges++;
    if (off + len > strlen(m->object)) return store_range_past_end(e, key, off, len, strlen(m->object));
    return sink(ud, m->object + off, (size_t)len, e);
}
static int m_stat(store_t *s, const char *key, store_stat *st, sv_err *e)
{
    (void)s, (void)key, (void)st;
    return sv_err_set(e, SV_ENOTFOUND, "no such object");
}
static int m_list(store_t *s, const char *p, const char *d, store_list_fn fn, void *ud, sv_err *e)
{
    (void)s, (void)p, (void)d, (void)fn, (void)ud, (void)e;
    return 0;
}
static int m_delete_many(store_t *s, const char *const *k, size_t n, sv_err *e)
{
    (void)s, (void)k, (void)n, (void)e;
    return 0;
}
static int m_presign(store_t *s, const char *m, const char *k, int64_t t, const char *cd, char **out, sv_err *e)
{
    (void)s, (void)m, (void)t, (void)cd, (void)e;
    *out = sv_strdup(k);
    return 0;
}
static int m_ping(store_t *s, sv_err *e)
{
    (void)s, (void)e;
    return 0;
}
static void m_free(store_t *s) { (void)s; }

static const store_vt mini_vt = {
    .scheme = "mini",
    .put = m_put,
    .writer_open = m_writer_open,
    .writer_write = m_writer_write,
    .writer_commit = m_writer_commit,
    .writer_abort = m_writer_abort,
    .get = m_get,
    .get_range = m_get_range,
    .stat = m_stat,
    .list = m_list,
    .delete_many = m_delete_many,
    .presign = m_presign,
    .ping = m_ping,
    .free = m_free,
    /* list_uploads, abort_upload: not supported */
};

static int small_collect(void *ud, const void *d, size_t n, sv_err *e)
{
    return sv_buf_add(ud, d, n) == SV_OK ? 0 : sv_err_set(e, SV_ENOMEM, "too much");
}

static int count_upload(void *ud, const store_upload *u, sv_err *e)
{
    (void)e;
    int *n = ud;
    (*n)++;
    CHECK(u->key && u->upload_id);
    return 0;
}

static void test_interface(void)
{
    mini_store m = {.base = {.vt = &mini_vt, .clock = sv_clock_system()}, .object = "0123456789"};
    store_t *s = &m.base;
    store_writer_t *w = NULL;
    sv_err e;
    char *text = NULL, *url = NULL;
    size_t len = 0;
    int n = 0;

    CHECK_STR(store_scheme(s), "mini");
    CHECK_INT(store_put(s, "k", "x", 1, NULL, &e), 0);
    CHECK_INT(m.puts, 1);
    CHECK_INT(store_ping(s, &e), 0);
    CHECK(store_stat_key(s, "k", &(store_stat){0}, &e) != 0 && e.code == SV_ENOTFOUND);
    CHECK_INT(store_presign(s, "GET", "k", 60, NULL, &url, &e), 0);
    CHECK_STR(url, "k");
    free(url);

    /* the writer carries its table: no store is needed to drive it */
    CHECK_INT(store_writer_open(s, "w", NULL, &w, &e), 0);
    CHECK_INT(store_writer_write(NULL, w, "abc", 3, &e), 0);
    CHECK_INT(store_writer_commit(NULL, w, &e), 0);
    CHECK_INT(m.writes, 1);
    CHECK_INT(m.commits, 1);
    CHECK_INT(store_writer_open(s, "w", NULL, &w, &e), 0);
    store_writer_abort(NULL, w);
    store_writer_abort(NULL, NULL); /* a no-op */
    CHECK_INT(m.aborts, 1);

    /* store_get_range: the wrapper answers len 0 and an overflowing end
     * itself; the rest reaches the driver */
    {
        sv_buf b;
        sv_buf_init(&b, 64);
        CHECK_INT(store_get_range(s, "k", 3, 4, small_collect, &b, &e), 0);
        CHECK_INT(b.len, 4);
        CHECK(b.len == 4 && memcmp(b.p, "3456", 4) == 0);
        CHECK_INT(m.ranges, 1);
        CHECK_INT(store_get_range(s, "k", 99, 0, small_collect, &b, &e), 0);
        CHECK_INT(m.ranges, 1);
        sv_err_clear(&e);
        CHECK_INT(store_get_range(s, "k", UINT64_MAX, 1, small_collect, &b, &e), -1);
        CHECK_INT(e.code, SV_EINVAL);
        CHECK(strstr(e.msg, "overflows") != NULL);
        CHECK_INT(m.ranges, 1);
        CHECK_INT(store_get_range(s, "k", 8, 3, small_collect, &b, &e), -1);
        CHECK_INT(e.code, SV_ECORRUPT);
        CHECK_STR(e.msg, "range read of 'k': bytes 8-10 (3 bytes) reach past the end of the object "
                         "(10 bytes): it is damaged or not the object the index describes");
        CHECK_INT(b.len, 4);
        sv_buf_free(&b);
    }

    /* the optional calls: a clean "not supported" */
    sv_err_clear(&e);
    CHECK_INT(store_list_uploads(s, "full/", count_upload, &n, &e), -1);
    CHECK_INT(e.code, SV_ENOTSUP);
    CHECK(strstr(e.msg, "mini") != NULL);
    sv_err_clear(&e);
    CHECK_INT(store_abort_upload(s, "k", "id", &e), -1);
    CHECK_INT(e.code, SV_ENOTSUP);
    CHECK_INT(n, 0);

    /* store_get_small: whole, NUL-terminated; SV_ETOOBIG past the cap */
    CHECK_INT(store_get_small(s, "k", 10, &text, &len, &e), 0);
    CHECK_STR(text, "0123456789");
    CHECK_INT(len, 10);
    free(text);
    text = NULL;
    CHECK_INT(store_get_small(s, "k", 9, &text, &len, &e), -1);
    CHECK_INT(e.code, SV_ETOOBIG);
    CHECK(text == NULL);
    m.object = "";
    CHECK_INT(store_get_small(s, "k", 9, &text, &len, &e), 0);
    CHECK_STR(text, "");
    CHECK_INT(len, 0);
    free(text);
}

/* Keeps the first unfinished upload's key and id. */
typedef struct first_upload { char key[512], id[512]; int n; } first_upload;
static int keep_first(void *ud, const store_upload *u, sv_err *e)
{
    (void)e;
    first_upload *f = ud;
    if (f->n++ == 0) {
        snprintf(f->key, sizeof f->key, "%s", u->key);
        snprintf(f->id, sizeof f->id, "%s", u->upload_id);
    }
    return 0;
}

/* The file driver's optional calls: a leftover temporary file is an
 * unfinished upload, and aborting it removes it. */
static void test_file_uploads(void)
{
    char root[] = "/tmp/sv-test-store-XXXXXX", path[600];
    sv_config cfg = {0};
    store_t *s = NULL;
    sv_err e;
    first_upload f = {{0}, {0}, 0};

    CHECK(mkdtemp(root) != NULL);
    CHECK_INT(store_file_new(&cfg, sv_clock_system(), root, &s, &e), 0);
    CHECK_STR(store_scheme(s), "file");
    CHECK_INT(store_put(s, "full/ws/a/metadata.json", "{}", 2, NULL, &e), 0);
    /* what a writer killed before its commit leaves */
    snprintf(path, sizeof path, "%s/full/ws/a/.livestore.db.zst.tmp-0123456789abcdef", root);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
    CHECK(fd >= 0);
    if (fd >= 0) close(fd);
    CHECK_INT(store_list_uploads(s, "full/ws/", keep_first, &f, &e), 0);
    CHECK_INT(f.n, 1);
    CHECK_INT(store_abort_upload(s, f.key, f.id, &e), 0);
    CHECK(access(path, F_OK) != 0);
    f.n = 0;
    CHECK_INT(store_list_uploads(s, "full/ws/", keep_first, &f, &e), 0);
    CHECK_INT(f.n, 0);
    CHECK_INT(store_stat_key(s, "full/ws/a/metadata.json", &(store_stat){0}, &e), 0); /* untouched */
    store_free(s);
    snprintf(path, sizeof path, "rm -rf '%s'", root);
    CHECK(system(path) == 0);
}

int main(void)
{
    test_interface();
    test_file_uploads();
    TEST_DONE();
}
