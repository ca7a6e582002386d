/* test_catalog.c -- the catalog over a file:// store: one listing tells every
 * backup folder, newest first, with its committed, verified and object
 * flags; "latest" and an explicit time find only committed backups; a
 * folder whose name is not a timestamp and another workspace that shares the
 * name's prefix are not mixed in; metadata.json is checked on read. The
 * folders are a seeded random set; expectations come from the set itself. */
#include "catalog.h"
#include "fixture.h"

#define NF 40

typedef struct want {
    int64_t ts_ms;
    bool committed, verified, has_object;
    uint64_t size;
} want;

/* A valid metadata.json text for ts. */
static char *meta_text(int64_t ts_ms)
{
    char iso[SV_ISO_LEN];
    sv_iso_format(ts_ms, iso);
    return sv_asprintf("{\"version\": \"1.0\", \"timestamp\": \"%s\", \"checksum\": \"sha256:00\", \"object\": "
                       "\"livestore.db.zst\", \"compression\": \"zstd\", \"databaseSize\": 4096}",
                       iso);
}

/* Newest first, by timestamp. */
static int cmp_want(const void *a, const void *b)
{
    int64_t x = ((const want *)a)->ts_ms, y = ((const want *)b)->ts_ms;
    return x > y ? -1 : x < y;
}

int main(void)
{
    fixture f;
    want w[NF];
    catalog_entry *v = NULL, e1;
    size_t n = 0;
    sv_err e;
    int64_t t0 = 1767225600000LL; /* 2026-01-01T00:00:00Z */
    int ncommitted = 0;

    fx_init(&f, "test_catalog", t0 + 400 * FX_D);
    sv_err_clear(&e);

    /* Distinct random timestamps: a random day offset in minutes plus i ms. */
    for (int i = 0; i < NF; i++) {
        char ts[SV_TS_LEN], key[128];
        w[i].ts_ms = t0 + fx_range(&f, 0, 365 * 24 * 60) * 60000LL + i;
        w[i].committed = fx_range(&f, 0, 3) != 0;
        w[i].verified = fx_range(&f, 0, 2) == 0;
        w[i].has_object = fx_range(&f, 0, 5) != 0;
        w[i].size = (uint64_t)fx_range(&f, 1, 300);
        ncommitted += w[i].committed;
        sv_ts_format(w[i].ts_ms, ts);
        if (w[i].committed) {
            char *m = meta_text(w[i].ts_ms);
            snprintf(key, sizeof key, "full/ws/%s/metadata.json", ts);
            fx_put(&f, key, m);
            free(m);
        }
        if (w[i].verified) {
            snprintf(key, sizeof key, "full/ws/%s/verify.json", ts);
            fx_put(&f, key, "{\"ok\": true}");
        }
        if (w[i].has_object) {
            char *obj = calloc(1, w[i].size + 1);
            memset(obj, 'z', w[i].size);
            snprintf(key, sizeof key, "full/ws/%s/livestore.db.zst", ts);
            fx_put(&f, key, obj);
            free(obj);
        }
        /* an object every folder has, so that none is empty */
        snprintf(key, sizeof key, "full/ws/%s/notes.txt", ts);
        fx_put(&f, key, "x");
    }
    /* Noise: not a timestamp, a workspace sharing the prefix, a stray object. */
    fx_put(&f, "full/ws/not-a-time/metadata.json", "{}");
    fx_put(&f, "full/ws/README", "stray");
    fx_put(&f, "full/ws2/20990101T000000.000Z/metadata.json", "{}");
    qsort(w, NF, sizeof w[0], cmp_want);

    /* The listing: every folder once, newest first, flags as written. */
    CHECK(catalog_list(f.store, "ws", &v, &n, &e) == 0);
    CHECK_INT(n, NF);
    for (size_t i = 0; i < n && i < NF; i++) {
        char ts[SV_TS_LEN];
        sv_ts_format(w[i].ts_ms, ts);
        CHECK_STR(v[i].ts, ts);
        CHECK_INT(v[i].ts_ms, w[i].ts_ms);
        CHECK_INT(v[i].committed, w[i].committed);
        CHECK_INT(v[i].verified, w[i].verified);
        CHECK_INT(v[i].has_object, w[i].has_object);
        CHECK_INT(v[i].object_size, w[i].has_object ? w[i].size : 0);
        CHECK(v[i].mtime_ms > 0);
    }
    free(v);
    v = NULL;

    /* An empty workspace lists nothing, and that is not an error. */
    CHECK(catalog_list(f.store, "nobody", &v, &n, &e) == 0);
    CHECK_INT(n, 0);
    free(v);

    /* latest: the newest committed one, skipping newer uncommitted folders. */
    {
        int k = 0;
        while (k < NF && !w[k].committed) k++;
        if (k < NF) {
            CHECK(catalog_find(f.store, "ws", "latest", &e1, &e) == 0);
            CHECK_INT(e1.ts_ms, w[k].ts_ms);
            CHECK(e1.committed);
            CHECK(catalog_find(f.store, "ws", NULL, &e1, &e) == 0);
            CHECK_INT(e1.ts_ms, w[k].ts_ms);
        }
    }
    /* By folder name and by ISO time; an uncommitted one is not found. */
    for (int i = 0; i < NF; i++) {
        char ts[SV_TS_LEN], iso[SV_ISO_LEN];
        sv_ts_format(w[i].ts_ms, ts);
        sv_iso_format(w[i].ts_ms, iso);
        sv_err_clear(&e);
        int rc1 = catalog_find(f.store, "ws", ts, &e1, &e);
        if (w[i].committed) {
            CHECK_INT(rc1, 0);
            CHECK_STR(e1.ts, ts);
            CHECK(catalog_find(f.store, "ws", iso, &e1, &e) == 0 && e1.ts_ms == w[i].ts_ms);
        } else {
            CHECK_INT(rc1, -1);
            CHECK_INT(e.code, SV_ENOTFOUND);
            CHECK(strstr(e.msg, ts) != NULL);
            CHECK(strstr(e.hint, "sqlvault list ws") != NULL);
        }
    }
    /* No committed backup at all: not found, with the hint to back up first. */
    CHECK(catalog_find(f.store, "nobody", "latest", &e1, &e) == -1);
    CHECK_INT(e.code, SV_ENOTFOUND);
    CHECK(strstr(e.hint, "sqlvault backup nobody") != NULL);
    /* A time that is neither form is a usage error. */
    CHECK(catalog_find(f.store, "ws", "yesterday", &e1, &e) == -1);
    CHECK_INT(e.code, SV_EINVAL);

    /* metadata.json: read and checked; a bad version or a missing one fails. */
    {
        json_t *m = NULL;
        char ts[SV_TS_LEN], iso[SV_ISO_LEN];
        int k = 0;
        while (k < NF && !w[k].committed) k++;
        if (k < NF) {
            sv_ts_format(w[k].ts_ms, ts);
            sv_iso_format(w[k].ts_ms, iso);
            CHECK(catalog_read_meta(f.store, "ws", ts, &m, &e) == 0);
            CHECK_STR(json_string_value(json_object_get(m, "timestamp")), iso);
            json_decref(m);
        }
        fx_put(&f, "full/ws/20270101T000000.000Z/metadata.json",
               "{\"version\": \"2.0\", \"timestamp\": \"x\", \"checksum\": \"x\", \"object\": \"x\", "
               "\"compression\": \"zstd\", \"databaseSize\": 1}");
        CHECK(catalog_read_meta(f.store, "ws", "20270101T000000.000Z", &m, &e) == -1);
        CHECK_INT(e.code, SV_ECORRUPT);
        CHECK(strstr(e.msg, "backup 20270101T000000.000Z of 'ws'") != NULL);
        CHECK(m == NULL);
        CHECK(catalog_read_meta(f.store, "ws", "20270202T000000.000Z", &m, &e) == -1);
        CHECK_INT(e.code, SV_ENOTFOUND);
    }
    /* verify.json: absent is no error and NULL; present is parsed. */
    for (int i = 0; i < NF; i++) {
        json_t *vj = NULL;
        char ts[SV_TS_LEN];
        sv_ts_format(w[i].ts_ms, ts);
        CHECK(catalog_read_verify(f.store, "ws", ts, &vj, &e) == 0);
        CHECK_INT(vj != NULL, w[i].verified);
        if (vj) CHECK(json_is_true(json_object_get(vj, "ok")));
        json_decref(vj);
    }
    printf("%d committed of %d folders\n", ncommitted, NF);
    fx_done(&f);
    TEST_DONE();
}
