/* test_backup.c -- the backup pipeline into a file:// store with a fake clock
 * and fake runner callbacks (fence, cancel, commit record):
 *  - the object decompresses to the snapshot, whose sha256 is metadata.json's
 *    "checksum"; the stored bytes' sha256 is "compressedChecksum"; the
 *    folder is the clock's time; the restored rows are the source's;
 *  - an explicit label found committed is adopted, not redone;
 *  - with once, a later attempt adopts the job's commit record, and an
 *    attempt that loses the commit race drops its own objects;
 *  - a lost fence or a cancel commits nothing; a missing database fails
 *    with SV_ENOTFOUND and writes nothing;
 *  - export_plain writes the plain database beside the backup;
 *  - cfg.snapshot_copy (SQLVAULT_SNAPSHOT_COPY) forces the copy snapshot;
 *  - job_backup's result; metadata.json parsing and option times on tables;
 *  - a chain backup whose time is not after its head's (a clock that went
 *    back, an older label) is a full, and the chain after it restores. */
#include <openssl/evp.h>
#include <zstd.h>
#include "backup.h"
#include "catalog.h"
#include "fixture.h"

/* The runner as the test plays it. */
typedef struct runner {
    char *record;      /* the job's commit record (Redis in production) */
    bool lose_fence;   /* fence fails with SV_ELEASE */
    bool cancel;       /* cancelled() is true */
    int fences, commits;
} runner;

static int r_fence(void *ud, sv_err *err)
{
    runner *r = ud;
    r->fences++;
    return r->lose_fence ? sv_err_set(err, SV_ELEASE, "lease lost (test)") : 0;
}

static bool r_cancelled(void *ud)
{
    return ((runner *)ud)->cancel;
}

static int r_commit(void *ud, const char *record, char **existing, sv_err *err)
{
    runner *r = ud;
    (void)err;
    r->commits++;
    if (r->record) *existing = strdup(r->record);
    else if (record) r->record = strdup(record);
    return 0;
}

/* A job context over the fixture with runner r. */
static job_ctx make_ctx(fixture *f, runner *r, const char *job_id, int attempt, json_t *opts)
{
    job_ctx c;
    memset(&c, 0, sizeof c);
    c.cfg = &f->cfg;
    c.clock = &f->fc.clock;
    c.store = f->store;
    c.job_id = job_id;
    c.type = "backup";
    c.workspace = "ws";
    c.attempt = attempt;
    c.opts = opts;
    c.fence = r_fence;
    c.cancelled = r_cancelled;
    c.commit = r_commit;
    c.ud = r;
    return c;
}

/* "sha256:HEX" of n bytes. */
static void sha(const void *d, size_t n, char out[72])
{
    unsigned char md[32];
    unsigned int len = 0;
    memcpy(out, "sha256:", 7);
    EVP_Digest(d, n, md, &len, EVP_sha256(), NULL);
    sv_hex(md, 32, out + 7);
}

/* Decompresses a zstd frame (heap, *out_len), NULL on error. */
static unsigned char *unzstd(const char *in, size_t n, size_t *out_len)
{
    unsigned long long sz = ZSTD_getFrameContentSize(in, n);
    unsigned char *out;
    if (sz == ZSTD_CONTENTSIZE_ERROR || sz == ZSTD_CONTENTSIZE_UNKNOWN || sz > (1ULL << 30)) return NULL;
    out = malloc(sz ? sz : 1);
    if (!out) return NULL;
    size_t r = ZSTD_decompress(out, sz, in, n);
    if (ZSTD_isError(r) || r != sz) {
        free(out);
        return NULL;
    }
    *out_len = r;
    return out;
}

/* Checks a committed backup of ws at ts against the source's row count. */
static void check_backup(fixture *f, const char *ts, int64_t rows)
{
    char key[160];
    size_t mlen = 0, olen = 0, plen = 0;
    snprintf(key, sizeof key, "full/ws/%s/metadata.json", ts);
    char *mtext = fx_read(fx_key_path(f, key), &mlen);
    snprintf(key, sizeof key, "full/ws/%s/livestore.db.zst", ts);
    char *obj = fx_read(fx_key_path(f, key), &olen);
    json_t *m = NULL;
    sv_err e;
    CHECK(mtext && obj);
    if (!mtext || !obj) goto done;
    CHECK(backup_meta_parse(mtext, &m, &e) == 0);
    unsigned char *plain = unzstd(obj, olen, &plen);
    CHECK(plain != NULL);
    if (!plain || !m) goto done;
    char s1[72], s2[72];
    sha(plain, plen, s1);
    sha(obj, olen, s2);
    CHECK_STR(json_string_value(json_object_get(m, "checksum")), s1);
    CHECK_STR(json_string_value(json_object_get(m, "compressedChecksum")), s2);
    CHECK_INT(json_integer_value(json_object_get(m, "databaseSize")), plen);
    CHECK_INT(json_integer_value(json_object_get(m, "compressedSize")), olen);
    CHECK_STR(json_string_value(json_object_get(m, "object")), "livestore.db.zst");
    CHECK_STR(json_string_value(json_object_get(m, "instanceId")), "ws");
    {
        json_t *f0 = json_array_get(json_object_get(m, "files"), 0);
        CHECK_INT(json_array_size(json_object_get(m, "files")), 1);
        CHECK_STR(json_string_value(json_object_get(f0, "name")), "livestore.db");
        CHECK_STR(json_string_value(json_object_get(f0, "checksum")), s1);
    }
    {
        int64_t ts_ms = 0;
        char iso[SV_ISO_LEN];
        CHECK(sv_ts_parse(ts, &ts_ms) == 0);
        sv_iso_format(ts_ms, iso);
        CHECK_STR(json_string_value(json_object_get(m, "timestamp")), iso);
    }
    {
        char p[700];
        snprintf(p, sizeof p, "%s", fx_path(f, "restored.db"));
        sqlite3 *db = NULL;
        CHECK(fx_write(p, plain, plen) == 0);
        CHECK(sqlite3_open_v2(p, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK);
        CHECK_INT(fx_sql_int(db, "SELECT count(*) FROM t"), rows);
        sqlite3_close(db);
        unlink(p);
    }
    free(plain);
done:
    json_decref(m);
    free(mtext);
    free(obj);
}

/* Number of committed backups of ws. */
static int committed(fixture *f)
{
    catalog_entry *v = NULL;
    size_t n = 0;
    int k = 0;
    sv_err e;
    if (catalog_list(f->store, "ws", &v, &n, &e) != 0) return -1;
    for (size_t i = 0; i < n; i++) k += v[i].committed;
    free(v);
    return k;
}

/* A plain backup, then the label-adoption, the commit record and the race. */
static void test_pipeline(fixture *f)
{
    runner r = {0};
    json_t *opts = json_object();
    job_ctx c = make_ctx(f, &r, "job-1", 1, opts);
    backup_outcome out;
    sv_err e;
    int rows = (int)fx_range(f, 100, 5000);
    char db_path[700];
    snprintf(db_path, sizeof db_path, "%s", fx_path(f, "src.db")); /* fx_path's buffers rotate */
    sqlite3 *db = fx_make_db(f, db_path, "wal", rows);
    fx_sql(db, "PRAGMA wal_checkpoint(TRUNCATE)");
    backup_params bp = {.workspace = "ws", .db_path = db_path, .reason = "manual"};
    char want_ts[SV_TS_LEN];

    /* 1. the plain pipeline, labelled with the clock */
    sv_ts_format(sv_now_ms(&f->fc.clock), want_ts);
    CHECK(backup_take(&c, &bp, &out, &e) == 0);
    CHECK_STR(out.ts, want_ts);
    CHECK(!out.already_committed);
    CHECK_STR(out.snapshot, "direct");
    CHECK(out.metadata != NULL);
    CHECK_STR(json_string_value(json_object_get(out.metadata, "jobId")), "job-1");
    CHECK_STR(json_string_value(json_object_get(out.metadata, "reason")), "manual");
    CHECK(r.fences >= 2); /* the object's commit and the marker's */
    check_backup(f, out.ts, rows);
    backup_outcome_clear(&out);
    CHECK_INT(committed(f), 1);

    /* 2. an explicit label already committed is adopted as it is */
    sv_fake_clock_init(&f->fc, f->fc.now + 60000, fx_rand(f));
    bp.ts_ms = f->fc.now;
    CHECK(backup_take(&c, &bp, &out, &e) == 0);
    CHECK(!out.already_committed);
    char label[SV_TS_LEN];
    memcpy(label, out.ts, sizeof label);
    backup_outcome_clear(&out);
    fx_sql(db, "INSERT INTO t(v) VALUES ('later')");
    CHECK(backup_take(&c, &bp, &out, &e) == 0);
    CHECK(out.already_committed);
    CHECK_STR(out.ts, label);
    backup_outcome_clear(&out);
    check_backup(f, label, rows); /* still the first one's rows */
    bp.ts_ms = 0;
    rows++;
    CHECK_INT(committed(f), 2);

    /* 3. once: attempt 1 stores the record; attempt 2, later, adopts it */
    {
        runner r2 = {0};
        job_ctx c1 = make_ctx(f, &r2, "job-2", 1, opts);
        char ts1[SV_TS_LEN];
        bp.once = true;
        f->fc.now += 60000;
        CHECK(backup_take(&c1, &bp, &out, &e) == 0);
        CHECK(r2.record != NULL);
        memcpy(ts1, out.ts, sizeof ts1);
        backup_outcome_clear(&out);
        f->fc.now += 60000;
        job_ctx c2 = make_ctx(f, &r2, "job-2", 2, opts);
        CHECK(backup_take(&c2, &bp, &out, &e) == 0);
        CHECK(out.already_committed);
        CHECK_STR(out.ts, ts1);
        backup_outcome_clear(&out);
        CHECK_INT(committed(f), 3);
        free(r2.record);
    }
    /* 4. once: attempt 1 loses the race to a record made meanwhile; its own
     * object goes, the record's backup is committed */
    {
        runner r3 = {0};
        job_ctx c1 = make_ctx(f, &r3, "job-3", 1, opts);
        char other[SV_TS_LEN], mine[SV_TS_LEN], key[160];
        char *meta = NULL;
        f->fc.now += 60000;
        sv_ts_format(f->fc.now - 30000, other);
        sv_ts_format(f->fc.now, mine);
        /* the winner's metadata.json text, as its attempt recorded it */
        {
            json_t *m = json_pack("{s:s, s:s, s:s, s:s, s:s, s:i}", "version", "1.0", "timestamp", "t", "checksum",
                                  "sha256:aa", "object", "livestore.db.zst", "compression", "zstd", "databaseSize",
                                  4096);
            meta = json_dumps(m, JSON_COMPACT);
            json_t *rec = json_pack("{s:s, s:s}", "ts", other, "metadata", meta);
            r3.record = json_dumps(rec, JSON_COMPACT);
            json_decref(rec);
            json_decref(m);
        }
        CHECK(backup_take(&c1, &bp, &out, &e) == 0);
        CHECK(out.already_committed);
        CHECK_STR(out.ts, other);
        backup_outcome_clear(&out);
        snprintf(key, sizeof key, "full/ws/%s/metadata.json", other);
        {
            char *t = fx_read(fx_key_path(f, key), NULL);
            CHECK_STR(t, meta);
            free(t);
        }
        snprintf(key, sizeof key, "full/ws/%s/livestore.db.zst", mine);
        CHECK(!fx_exists(fx_key_path(f, key))); /* dropped */
        free(meta);
        free(r3.record);
        bp.once = false;
    }
    /* 5. a lost fence and a cancel commit nothing */
    {
        int before = committed(f);
        r.lose_fence = true;
        f->fc.now += 60000;
        CHECK(backup_take(&c, &bp, &out, &e) == -1);
        CHECK_INT(e.code, SV_ELEASE);
        r.lose_fence = false;
        r.cancel = true;
        f->fc.now += 60000;
        CHECK(backup_take(&c, &bp, &out, &e) == -1);
        CHECK_INT(e.code, SV_ELEASE);
        r.cancel = false;
        CHECK_INT(committed(f), before);
    }
    /* 6. export_plain: the plain database beside the backup; with
     * SQLVAULT_SNAPSHOT_COPY (cfg.snapshot_copy) through the copy */
    {
        bp.export_plain = true;
        f->cfg.snapshot_copy = true;
        f->fc.now += 60000;
        CHECK(backup_take(&c, &bp, &out, &e) == 0);
        CHECK_STR(out.snapshot, "copy");
        f->cfg.snapshot_copy = false;
        CHECK(out.export_key != NULL);
        if (out.export_key) {
            char want[160];
            snprintf(want, sizeof want, "exports/ws/job-1/ws-%s.db", out.ts);
            CHECK_STR(out.export_key, want);
            sqlite3 *x = NULL;
            CHECK(sqlite3_open_v2(fx_key_path(f, out.export_key), &x, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK);
            CHECK_INT(fx_sql_int(x, "SELECT count(*) FROM t"), rows);
            sqlite3_close(x);
        }
        backup_outcome_clear(&out);
        bp.export_plain = false;
    }
    /* 7. no database: SV_ENOTFOUND and nothing written */
    {
        int before = committed(f);
        char miss_path[700];
        snprintf(miss_path, sizeof miss_path, "%s", fx_path(f, "missing.db"));
        backup_params miss = {.workspace = "ws", .db_path = miss_path};
        f->fc.now += 60000;
        CHECK(backup_take(&c, &miss, &out, &e) == -1);
        CHECK_INT(e.code, SV_ENOTFOUND);
        CHECK_INT(committed(f), before);
        /* a bad workspace id is refused before anything */
        backup_params bad = {.workspace = "../x", .db_path = db_path};
        CHECK(backup_take(&c, &bad, &out, &e) == -1);
        CHECK_INT(e.code, SV_EINVAL);
    }
    sqlite3_close(db);
    json_decref(opts);
    free(r.record);
}

/* job_backup on DATA_DIR/WS/livestore.db: the result the queue records. */
static void test_job(fixture *f)
{
    runner r = {0};
    json_t *opts = json_pack("{s:s, s:s}", "reason", "scheduled", "tick", "2026-03-01T06:00:00.000Z");
    job_ctx c = make_ctx(f, &r, "sched-ws-1", 1, opts);
    json_t *res = NULL;
    sv_err e;
    char path[600], key[160];
    snprintf(path, sizeof path, "%s/ws2/livestore.db", f->cfg.data_dir);
    CHECK(sv_mkdirs(fx_path(f, "data/ws2"), &e) == 0);
    sqlite3 *db = fx_make_db(f, path, "delete", 321);
    c.workspace = "ws2";
    f->fc.now += 60000;
    CHECK(job_backup(&c, &res, &e) == 0);
    if (!res) fprintf(stderr, "job_backup: %s\n", e.msg);
    CHECK_STR(json_string_value(json_object_get(res, "workspace")), "ws2");
    CHECK_STR(json_string_value(json_object_get(res, "snapshot")), "copy");
    CHECK_STR(json_string_value(json_object_get(res, "shape")), "file");
    CHECK(json_is_false(json_object_get(res, "already_committed")));
    {
        const char *ts = json_string_value(json_object_get(res, "ts"));
        snprintf(key, sizeof key, "full/ws2/%s/livestore.db.zst", ts ? ts : "?");
        CHECK_STR(json_string_value(json_object_get(res, "key")), key);
        snprintf(key, sizeof key, "full/ws2/%s/metadata.json", ts ? ts : "?");
        char *t = fx_read(fx_key_path(f, key), NULL);
        json_t *m = t ? json_loads(t, 0, NULL) : NULL;
        CHECK_STR(json_string_value(json_object_get(m, "tickTime")), "2026-03-01T06:00:00.000Z");
        CHECK_STR(json_string_value(json_object_get(m, "reason")), "scheduled");
        CHECK(json_equal(json_object_get(m, "checksum"), json_object_get(res, "checksum")));
        json_decref(m);
        free(t);
    }
    json_decref(res);
    /* a bad tick option is refused */
    json_object_set_new(opts, "tick", json_string("soon"));
    CHECK(job_backup(&c, &res, &e) == -1);
    CHECK_INT(e.code, SV_EINVAL);
    sqlite3_close(db);
    json_decref(opts);
    free(r.record);
}

/* metadata.json checks and option times, on tables. */
static void test_parsers(void)
{
    static const struct {
        const char *text;
        int ok;
        const char *want;
    } t[] = {
        {"{\"version\":\"1.0\",\"timestamp\":\"t\",\"checksum\":\"c\",\"object\":\"o\",\"compression\":\"zstd\","
         "\"databaseSize\":1}", 1, NULL},
        {"{\"version\":\"1.7\",\"timestamp\":\"t\",\"checksum\":\"c\",\"object\":\"o\",\"compression\":\"zstd\","
         "\"databaseSize\":1,\"extra\":true}", 1, NULL},
        {"{\"version\":\"2.0\",\"timestamp\":\"t\",\"checksum\":\"c\",\"object\":\"o\",\"compression\":\"zstd\","
         "\"databaseSize\":1}", 0, "version '2.0'"},
        {"{\"timestamp\":\"t\"}", 0, "version '?'"},
        {"{\"version\":\"1.0\",\"timestamp\":\"t\",\"object\":\"o\",\"compression\":\"zstd\",\"databaseSize\":1}",
         0, "'checksum'"},
        {"{\"version\":\"1.0\",\"timestamp\":\"t\",\"checksum\":\"c\",\"object\":\"o\",\"compression\":\"zstd\"}", 0,
         "'databaseSize'"},
        {"not json", 0, "not valid json"},
        {"[1]", 0, "not valid json"},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        json_t *m = NULL;
        sv_err e;
        sv_err_clear(&e);
        int rc = backup_meta_parse(t[i].text, &m, &e);
        CHECK_INT(rc == 0, t[i].ok);
        CHECK_INT(m != NULL, t[i].ok);
        if (!t[i].ok) {
            CHECK_INT(e.code, SV_ECORRUPT);
            if (!strstr(e.msg, t[i].want)) fprintf(stderr, "meta case %zu: %s\n", i, e.msg);
            CHECK(strstr(e.msg, t[i].want) != NULL);
        }
        json_decref(m);
    }
    static const struct {
        const char *json;
        int ok;
        int64_t ms;
    } o[] = {
        {"{}", 1, 0},
        {"{\"ts\": null}", 1, 0},
        {"{\"ts\": 1767225600123}", 1, 1767225600123LL},
        {"{\"ts\": \"1767225600123\"}", 1, 1767225600123LL},
        {"{\"ts\": \"20260101T000000.123Z\"}", 1, 1767225600123LL},
        {"{\"ts\": \"2026-01-01T00:00:00.123Z\"}", 1, 1767225600123LL},
        {"{\"ts\": -5}", 0, 0},
        {"{\"ts\": \"\"}", 0, 0},
        {"{\"ts\": \"12abc\"}", 0, 0},
        {"{\"ts\": true}", 0, 0},
    };
    for (size_t i = 0; i < sizeof o / sizeof o[0]; i++) {
        json_t *j = json_loads(o[i].json, 0, NULL);
        int64_t ms = -1;
        sv_err e;
        int rc = backup_opts_ts(j, &ms, &e);
        CHECK_INT(rc == 0, o[i].ok);
        if (rc != 0) CHECK_INT(e.code, SV_EINVAL);
        if (o[i].ok) CHECK_INT(ms, o[i].ms);
        json_decref(j);
    }
    {
        char *k = backup_key("ws", "20260101T000000.000Z", "metadata.json");
        CHECK_STR(k, "full/ws/20260101T000000.000Z/metadata.json");
        free(k);
    }
}

/* One chain backup of wsc (mode auto) at the clock's now or label ms; the
 * metadata's backupType and parent are checked. */
static void chain_bk(fixture *f, job_ctx *c, backup_params *bp, int64_t now, int64_t label, const char *type,
                     const char *parent, char ts[SV_TS_LEN])
{
    backup_outcome out;
    sv_err e;
    f->fc.now = now;
    bp->ts_ms = label;
    CHECK(backup_take(c, bp, &out, &e) == 0);
    CHECK(!out.unchanged && !out.already_committed);
    CHECK_STR(json_string_value(json_object_get(out.metadata, "backupType")), type);
    if (parent) CHECK_STR(json_string_value(json_object_get(out.metadata, "parent")), parent);
    memcpy(ts, out.ts, SV_TS_LEN);
    backup_outcome_clear(&out);
    bp->ts_ms = 0;
}

/* A link must be newer than its parent: a restore walks a chain by strictly
 * older folders (catalog_chain), so a backup labelled at or before its
 * chain's head (the clock went back, an explicit older label) is a full; the
 * chain that follows it walks. */
static void test_chain_clock(fixture *f)
{
    runner r = {0};
    json_t *opts = json_object();
    job_ctx c = make_ctx(f, &r, "job-clock", 1, opts);
    backup_params bp = {.workspace = "wsc", .backup_type = "full", .mode = "auto"};
    char db_path[700], state_dir[700], full[SV_TS_LEN], link[SV_TS_LEN], back[SV_TS_LEN], next[SV_TS_LEN],
        old[SV_TS_LEN];
    int64_t t = f->fc.now + 3600000;
    catalog_entry *v = NULL;
    size_t n = 0, *chain = NULL, len = 0;
    sv_err e;
    snprintf(db_path, sizeof db_path, "%s", fx_path(f, "chain.db"));
    snprintf(state_dir, sizeof state_dir, "%s", fx_path(f, "state"));
    sqlite3 *db = fx_make_db(f, db_path, "wal", 200);
    c.workspace = "wsc";
    bp.db_path = db_path;
    f->cfg.full_every_ms = 86400000;
    f->cfg.max_chain = 1440;
    f->cfg.state_dir = state_dir;
    chain_bk(f, &c, &bp, t, 0, "full", NULL, full);
    fx_sql(db, "INSERT INTO t(v) VALUES ('link')");
    chain_bk(f, &c, &bp, t + 60000, 0, "incremental", full, link);
    /* the clock 30 s behind the head */
    fx_sql(db, "INSERT INTO t(v) VALUES ('behind')");
    chain_bk(f, &c, &bp, t + 30000, 0, "full", NULL, back);
    CHECK(strcmp(back, link) < 0);
    /* the clock recovered: a link of the full taken behind */
    fx_sql(db, "INSERT INTO t(v) VALUES ('recovered')");
    chain_bk(f, &c, &bp, t + 120000, 0, "incremental", back, next);
    /* an explicit label (backup --ts) older than the head */
    fx_sql(db, "INSERT INTO t(v) VALUES ('late tick')");
    chain_bk(f, &c, &bp, t + 180000, t + 90000, "full", NULL, old);
    CHECK(strcmp(old, next) < 0);
    /* every folder walks to its base */
    CHECK(catalog_list(f->store, "wsc", &v, &n, &e) == 0);
    CHECK_INT(n, 5);
    for (size_t i = 0; i < n; i++) {
        CHECK(catalog_chain(v, n, i, &chain, &len, &e) == 0);
        if (strcmp(v[i].ts, next) == 0) {
            CHECK_INT(len, 2);
            if (len == 2) CHECK_STR(v[chain[0]].ts, back);
        } else if (strcmp(v[i].ts, link) == 0) {
            CHECK_INT(len, 2);
        } else {
            CHECK_INT(len, 1);
        }
        free(chain);
        chain = NULL;
    }
    free(v);
    f->cfg.full_every_ms = 0;
    f->cfg.state_dir = NULL;
    sqlite3_close(db);
    json_decref(opts);
    free(r.record);
}

int main(void)
{
    fixture f;
    fx_init(&f, "test_backup", 1767225600000LL);
    test_pipeline(&f);
    test_job(&f);
    test_parsers();
    test_chain_clock(&f);
    fx_done(&f);
    TEST_DONE();
}
