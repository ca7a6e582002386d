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
    /* By folder name and by ISO time: the newest committed backup at or
     * before it (itself when committed, an older one when not, none before
     * the oldest: not found, naming the oldest). exact: itself or nothing. */
    {
        int oldest = NF - 1;
        char ots[SV_TS_LEN];
        while (oldest >= 0 && !w[oldest].committed) oldest--;
        if (oldest >= 0) sv_ts_format(w[oldest].ts_ms, ots);
        for (int i = 0; i < NF; i++) {
            char ts[SV_TS_LEN], iso[SV_ISO_LEN], iso_s[SV_ISO_LEN];
            int k = i;
            size_t idx;
            while (k < NF && !w[k].committed) k++;
            sv_ts_format(w[i].ts_ms, ts);
            sv_iso_format(w[i].ts_ms, iso);
            sv_err_clear(&e);
            int rc1 = catalog_find(f.store, "ws", ts, &e1, &e);
            if (k < NF) {
                CHECK_INT(rc1, 0);
                CHECK_INT(e1.ts_ms, w[k].ts_ms);
                CHECK(e1.committed);
                CHECK(catalog_find(f.store, "ws", iso, &e1, &e) == 0 && e1.ts_ms == w[k].ts_ms);
                /* ISO without millis: the second holds this one (if its millis are 0) or is before it */
                memcpy(iso_s, iso, 19);
                strcpy(iso_s + 19, "Z");
                CHECK(catalog_find(f.store, "ws", iso_s, &e1, &e) == 0 || e.code == SV_ENOTFOUND);
            } else {
                CHECK_INT(rc1, -1);
                CHECK_INT(e.code, SV_ENOTFOUND);
                CHECK(strstr(e.msg, "at or before") != NULL);
                CHECK(strstr(e.msg, ots) != NULL);
                CHECK(strstr(e.hint, "sqlvault list ws") != NULL);
            }
            /* one ms later still finds the same one; one ms earlier never finds this one unless committed earlier */
            {
                char later[SV_TS_LEN];
                sv_ts_format(w[i].ts_ms + (i == 0 ? 1 : 0), later);
                if (k < NF) CHECK(catalog_find(f.store, "ws", later, &e1, &e) == 0 && e1.ts_ms == w[k].ts_ms);
            }
            catalog_entry *lv = NULL;
            size_t ln = 0;
            CHECK(catalog_list(f.store, "ws", &lv, &ln, &e) == 0);
            sv_err_clear(&e);
            rc1 = catalog_pick(lv, ln, "ws", ts, true, &idx, &e);
            if (w[i].committed) CHECK(rc1 == 0 && lv[idx].ts_ms == w[i].ts_ms);
            else {
                CHECK_INT(rc1, -1);
                CHECK_INT(e.code, SV_ENOTFOUND);
                CHECK(strstr(e.msg, ts) != NULL);
            }
            free(lv);
        }
        /* After the last: the newest committed. */
        {
            int k = 0;
            while (k < NF && !w[k].committed) k++;
            if (k < NF) {
                CHECK(catalog_find(f.store, "ws", "2099-01-01T00:00:00Z", &e1, &e) == 0);
                CHECK_INT(e1.ts_ms, w[k].ts_ms);
            }
        }
        /* Before the first: refused, naming the oldest. */
        if (oldest >= 0) {
            CHECK(catalog_find(f.store, "ws", "2025-06-01T00:00:00Z", &e1, &e) == -1);
            CHECK_INT(e.code, SV_ENOTFOUND);
            CHECK(strstr(e.msg, ots) != NULL);
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
    /* Chains from one listing (workspace "cw"): a full F, links L1..L3
     * (pages-PARENT.zst), a second chain G <- M1; a link whose parent folder
     * is gone, one without metadata.json, one whose parent has no object. */
    {
        const char *F = "20260301T000000.000Z", *L1 = "20260301T000100.000Z", *L2 = "20260301T000200.000Z",
                   *L3 = "20260301T000300.000Z", *G = "20260302T000000.000Z", *M1 = "20260302T000100.000Z",
                   *X = "20260303T000100.000Z", *Y = "20260303T000200.000Z", *Z = "20260303T000300.000Z",
                   *U = "20260303T000000.000Z";
        struct { const char *ts, *parent; bool meta, obj; } cw[] = {
            {F, NULL, true, true}, {L1, F, true, true}, {L2, L1, true, true}, {L3, L2, true, true},
            {G, NULL, true, true}, {M1, G, true, true},
            {X, "20260303T000000.500Z", true, true}, /* parent folder absent */
            {U, NULL, true, false},                   /* a full without its object */
            {Y, U, true, true},                       /* its parent lost its object */
            {Z, Y, false, true},                      /* uncommitted link */
        };
        catalog_entry *lv = NULL;
        size_t ln = 0, *ch = NULL, clen = 0, idx;
        char key[160];
        for (size_t i = 0; i < sizeof cw / sizeof cw[0]; i++) {
            if (cw[i].meta) {
                snprintf(key, sizeof key, "full/cw/%s/metadata.json", cw[i].ts);
                fx_put(&f, key, "{}");
            }
            if (cw[i].obj) {
                if (cw[i].parent) snprintf(key, sizeof key, "full/cw/%s/pages-%s.zst", cw[i].ts, cw[i].parent);
                else snprintf(key, sizeof key, "full/cw/%s/livestore.db.zst", cw[i].ts);
                fx_put(&f, key, "z");
            } else {
                snprintf(key, sizeof key, "full/cw/%s/notes.txt", cw[i].ts);
                fx_put(&f, key, "x");
            }
        }
        CHECK(catalog_list(f.store, "cw", &lv, &ln, &e) == 0);
        /* L3: F L1 L2 L3, base first; the listing knows each parent. */
        CHECK(catalog_pick(lv, ln, "cw", L3, true, &idx, &e) == 0);
        CHECK(lv[idx].incremental);
        CHECK_STR(lv[idx].parent, L2);
        CHECK(catalog_chain(lv, ln, idx, &ch, &clen, &e) == 0);
        CHECK_INT(clen, 4);
        if (clen == 4) {
            CHECK_STR(lv[ch[0]].ts, F);
            CHECK_STR(lv[ch[1]].ts, L1);
            CHECK_STR(lv[ch[2]].ts, L2);
            CHECK_STR(lv[ch[3]].ts, L3);
        }
        free(ch);
        /* A time between L1 and L2 picks L1; its chain is F L1. */
        CHECK(catalog_pick(lv, ln, "cw", "2026-03-01T00:01:30Z", false, &idx, &e) == 0);
        CHECK_STR(lv[idx].ts, L1);
        CHECK(catalog_chain(lv, ln, idx, &ch, &clen, &e) == 0 && clen == 2);
        free(ch);
        /* A full is its own chain. */
        CHECK(catalog_pick(lv, ln, "cw", G, true, &idx, &e) == 0);
        CHECK(catalog_chain(lv, ln, idx, &ch, &clen, &e) == 0 && clen == 1);
        free(ch);
        CHECK(catalog_pick(lv, ln, "cw", M1, true, &idx, &e) == 0);
        CHECK(catalog_chain(lv, ln, idx, &ch, &clen, &e) == 0 && clen == 2 && strcmp(lv[ch[0]].ts, G) == 0);
        free(ch);
        /* Refusals name the link. */
        CHECK(catalog_pick(lv, ln, "cw", X, true, &idx, &e) == 0);
        CHECK(catalog_chain(lv, ln, idx, &ch, &clen, &e) == -1 && ch == NULL);
        CHECK_INT(e.code, SV_ENOTFOUND);
        CHECK(strstr(e.msg, "20260303T000000.500Z") != NULL && strstr(e.msg, "no such backup folder") != NULL);
        CHECK(catalog_pick(lv, ln, "cw", Y, true, &idx, &e) == 0);
        CHECK(catalog_chain(lv, ln, idx, &ch, &clen, &e) == -1);
        CHECK(strstr(e.msg, U) != NULL && strstr(e.msg, "no object") != NULL);
        /* Z is uncommitted: picking it at its time gives Y (older, committed); a listing entry's chain refuses it. */
        CHECK(catalog_pick(lv, ln, "cw", Z, false, &idx, &e) == 0);
        CHECK_STR(lv[idx].ts, Y);
        for (idx = 0; idx < ln && strcmp(lv[idx].ts, Z) != 0; idx++) {}
        CHECK(idx < ln);
        if (idx < ln) {
            CHECK(catalog_chain(lv, ln, idx, &ch, &clen, &e) == -1);
            CHECK(strstr(e.msg, Z) != NULL && strstr(e.msg, "no metadata.json") != NULL);
        }
        free(lv);
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
