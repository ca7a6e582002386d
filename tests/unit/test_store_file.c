/* test_store_file.c -- the file:// driver: atomic writes, conditional put,
 * listing order and delimiters, deletes, streamed reads with offsets, and
 * nothing left behind by an aborted writer. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "fixture.h"
#include "store.h"
#include "testlib.h"
#include "util.h"

typedef struct acc { char buf[4096]; size_t n; } acc;
static int sink(void *ud, const void *d, size_t len, sv_err *e)
{
    acc *a = ud;
    (void)e;
    if (a->n + len > sizeof a->buf) return -1;
    memcpy(a->buf + a->n, d, len);
    a->n += len;
    return 0;
}
typedef struct names { char s[2048]; } names;
static int collect(void *ud, const store_entry *e, sv_err *err)
{
    names *n = ud;
    (void)err;
    strcat(n->s, e->key);
    strcat(n->s, e->is_prefix ? "(p)," : ",");
    return 0;
}
int main(void)
{
    char root[] = "/tmp/sv-test-store-XXXXXX";
    sv_config cfg = {0};
    store_t *s;
    sv_err e;
    acc a = {{0}, 0};
    names n = {{0}};
    store_stat st;
    store_writer_t *w;
    store_put_opts excl = {.if_none_match = true};

    CHECK(mkdtemp(root) != NULL);
    CHECK(store_file_new(&cfg, sv_clock_system(), root, &s, &e) == 0);
    CHECK(store_ping(s, &e) == 0);
    CHECK(store_put(s, "full/ws/20250101T000000.000Z/metadata.json", "{}", 2, NULL, &e) == 0);
    CHECK(store_put(s, "full/ws/20250101T000000.000Z/livestore.db.zst", "abcdef", 6, NULL, &e) == 0);
    CHECK(store_put(s, "full/ws/20250102T000000.000Z/livestore.db.zst", "x", 1, NULL, &e) == 0);
    CHECK(store_put(s, "full/ws2/20250102T000000.000Z/livestore.db.zst", "x", 1, NULL, &e) == 0);
    /* conditional put: refused on an existing key, content unchanged */
    CHECK(store_put(s, "full/ws/20250101T000000.000Z/metadata.json", "{\"x\":1}", 7, &excl, &e) != 0);
    CHECK(e.code == SV_ECONFLICT);
    CHECK(store_put(s, "new/key.json", "{}", 2, &excl, &e) == 0);
    CHECK(store_stat_key(s, "full/ws/20250101T000000.000Z/metadata.json", &st, &e) == 0 && st.size == 2);
    CHECK(store_stat_key(s, "nope", &st, &e) != 0 && e.code == SV_ENOTFOUND);
    /* streamed get with an offset */
    CHECK(store_get(s, "full/ws/20250101T000000.000Z/livestore.db.zst", 2, sink, &a, &e) == 0);
    CHECK(a.n == 4 && memcmp(a.buf, "cdef", 4) == 0);
    CHECK(store_get(s, "missing", 0, sink, &a, &e) != 0 && e.code == SV_ENOTFOUND);
    /* listing: sorted, prefix-filtered ("full/ws/" must not match ws2) */
    CHECK(store_list(s, "full/ws/", NULL, collect, &n, &e) == 0);
    CHECK_STR(n.s, "full/ws/20250101T000000.000Z/livestore.db.zst,full/ws/20250101T000000.000Z/metadata.json,"
                   "full/ws/20250102T000000.000Z/livestore.db.zst,");
    n.s[0] = '\0';
    CHECK(store_list(s, "full/", "/", collect, &n, &e) == 0);
    CHECK_STR(n.s, "full/ws/(p),full/ws2/(p),");
    n.s[0] = '\0';
    CHECK(store_list(s, "full/ws", "/", collect, &n, &e) == 0);
    CHECK_STR(n.s, "full/ws/(p),full/ws2/(p),");
    /* keys that would leave the root are refused */
    CHECK(store_put(s, "../evil", "x", 1, NULL, &e) != 0 && e.code == SV_EINVAL);
    CHECK(store_put(s, "/abs", "x", 1, NULL, &e) != 0);
    /* an aborted writer leaves nothing, a committed one is whole */
    int before = fx_count_files(root);
    CHECK(store_writer_open(s, "big/obj", NULL, &w, &e) == 0);
    CHECK(store_writer_write(s, w, "hello", 5, &e) == 0);
    CHECK(store_stat_key(s, "big/obj", &st, &e) != 0); /* not visible before commit */
    store_writer_abort(s, w);
    CHECK_INT(fx_count_files(root), before);
    CHECK(store_writer_open(s, "big/obj", NULL, &w, &e) == 0);
    CHECK(store_writer_write(s, w, "hello", 5, &e) == 0);
    CHECK(store_writer_write(s, w, " world", 6, &e) == 0);
    CHECK(store_writer_commit(s, w, &e) == 0);
    CHECK(store_stat_key(s, "big/obj", &st, &e) == 0 && st.size == 11);
    /* delete_many: missing keys are fine, empty folders go */
    {
        const char *keys[] = {"big/obj", "full/ws2/20250102T000000.000Z/livestore.db.zst", "never/was"};
        CHECK(store_delete_many(s, keys, 3, &e) == 0);
        CHECK(store_stat_key(s, "big/obj", &st, &e) != 0);
        char p[512];
        snprintf(p, sizeof p, "%s/full/ws2", root);
        CHECK(access(p, F_OK) != 0);
    }
    /* presign on a file store is the path */
    {
        char *url = NULL;
        CHECK(store_presign(s, "GET", "new/key.json", 60, NULL, &url, &e) == 0);
        CHECK(url && strncmp(url, root, strlen(root)) == 0);
        free(url);
    }
    store_free(s);
    {
        char cmd[600];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
        CHECK(system(cmd) == 0);
    }
    TEST_DONE();
}
