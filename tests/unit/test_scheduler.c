/* test_scheduler.c -- the scheduler's tick logic with an injected clock
 * against a real redis-server (SV_REDIS_URL; ctest starts one for it with tests/servers/with-servers.sh), under
 * a key prefix of its own.
 *
 *  - tick ids; a tick enqueues one backup per workspace, ids derived from
 *    workspace and tick (a 120-character id hashed), and running it again
 *    enqueues nothing new;
 *  - over 4 consecutive 6-hourly ticks every workspace is pruned exactly
 *    once (once a day), over 28 verified exactly once (SQLVAULT_VERIFY_EVERY
 *    7d), whatever the ids: a property of the sampling, not of its hash;
 *  - last_tick never moves backwards, and a fenced mark fails without the lead;
 *  - a tick whose jobs never finish times out on the fake clock; failed
 *    backups over 1% raise the alert, recorded in last_result;
 *  - the loop, on a clock that only moves when it sleeps: after downtime it
 *    runs only the latest missed tick, then the next one when it comes, and
 *    drains a dirty mark once it is half of SQLVAULT_INCREMENTAL_EVERY old;
 *  - the dirty set: marks keep their first time (NX), a drain takes a mark
 *    at exactly half the window and not a millisecond before, coalesces a
 *    mark into a backup still waiting and not into a running one, hashes a
 *    long workspace id into the job id, and does nothing when off. */
#include <hiredis/hiredis.h>
#include <openssl/evp.h>
#include <signal.h>
#include <stdarg.h>
#include "fixture.h"
#include "job.h"
#include "scheduler.h"

#define NWS 60
#define TICK0 1780012800000LL /* 2026-05-29T00:00:00Z, a 6-hourly tick */
#define SIX_H (6 * FX_H)

static redisContext *rc;      /* the test's own connection, for checks */
static char prefix[64];       /* PREFIX of this run */

/* A reply to a formatted command (the test fails on a lost connection). */
static redisReply *R(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(rc, fmt, ap);
    va_end(ap);
    if (!r) {
        fprintf(stderr, "redis: %s\n", rc->errstr);
        exit(1);
    }
    return r;
}

/* True when the job id exists in the default pool. */
static bool job_exists(const char *id)
{
    redisReply *r = R("EXISTS %s:{default}:job:%s", prefix, id);
    bool y = r->type == REDIS_REPLY_INTEGER && r->integer == 1;
    freeReplyObject(r);
    return y;
}

/* A field of a job's hash ("" when absent), in a static buffer. */
static const char *job_field(const char *id, const char *field)
{
    static char buf[256];
    redisReply *r = R("HGET %s:{default}:job:%s %s", prefix, id, field);
    snprintf(buf, sizeof buf, "%s", r->type == REDIS_REPLY_STRING ? r->str : "");
    freeReplyObject(r);
    return buf;
}

/* Sets a job's state by hand (no worker runs in this test). */
static void set_state(const char *id, const char *state)
{
    freeReplyObject(R("HSET %s:{default}:job:%s state %s", prefix, id, state));
}

/* The job id of kind for ws at tick id tid: "kind-ws-tid", or with 32 hex
 * digits of sha256(ws) in place of ws when that is over 128 characters. */
static const char *job_of(const char *kind, const char *ws, const char *tid)
{
    static char buf[2][300];
    static int n;
    char *id = buf[n = !n];
    snprintf(id, sizeof buf[0], "%s-%s-%s", kind, ws, tid);
    if (strlen(id) > 128) {
        unsigned char md[32];
        unsigned int len = 0;
        char hex[65];
        EVP_Digest(ws, strlen(ws), md, &len, EVP_sha256(), NULL);
        sv_hex(md, 16, hex);
        snprintf(id, sizeof buf[0], "%s-%s-%s", kind, hex, tid);
    }
    return id;
}

static int64_t jint(json_t *o, const char *k)
{
    return (int64_t)json_integer_value(json_object_get(o, k));
}

/* The id of the dirty backup of ws drained at stamp (sqlvault_dirty_drain):
 * dirty-WS-STAMP, or with 32 hex digits of sha1(WS) when over 128. */
static const char *dirty_id(const char *ws, int64_t stamp)
{
    static char buf[300];
    snprintf(buf, sizeof buf, "dirty-%s-%lld", ws, (long long)stamp);
    if (strlen(buf) > 128) {
        unsigned char md[20];
        unsigned int len = 0;
        char hex[41];
        EVP_Digest(ws, strlen(ws), md, &len, EVP_sha1(), NULL);
        sv_hex(md, 16, hex);
        snprintf(buf, sizeof buf, "dirty-%s-%lld", hex, (long long)stamp);
    }
    return buf;
}

/* ZSCORE of ws in the default pool's dirty set, -1 when absent. */
static int64_t dirty_score(const char *ws)
{
    redisReply *r = R("ZSCORE %s:{default}:dirty %s", prefix, ws);
    int64_t v = r->type == REDIS_REPLY_STRING ? strtoll(r->str, NULL, 10) : -1;
    freeReplyObject(r);
    return v;
}

/* The dirty set on the fake clock (INCREMENTAL_EVERY 1m: due at 30 s). */
static void test_dirty(fixture *f, const sv_config *cfg)
{
    sched_t *s = NULL;
    sched_dirty_stats ds;
    size_t added = 0;
    sv_err e;
    char longws[129];
    const char *two[] = {"dirty1", "dirty2"};
    int64_t t0 = f->fc.now;
    CHECK(sched_new(cfg, &f->fc.clock, &s, &e) == 0);
    if (!s) return;
    CHECK(sched_mark_dirty(s, two, 2, &added, &e) == 0);
    CHECK_INT(added, 2);
    f->fc.now += 5000;
    CHECK(sched_mark_dirty(s, two, 1, &added, &e) == 0);
    CHECK_INT(added, 0);
    CHECK_INT(dirty_score("dirty1"), t0); /* the first mark stays */
    {
        const char *bad[] = {"ok1", "not ok"};
        CHECK(sched_mark_dirty(s, bad, 2, &added, &e) == -1);
        CHECK_INT(e.code, SV_EINVAL);
        CHECK_INT(dirty_score("ok1"), -1); /* checked before any is marked */
    }
    CHECK(sched_drain_dirty(s, t0 + 29999, &ds, &e) == 0);
    CHECK_INT(ds.taken, 0);
    CHECK_INT(ds.left, 2);
    CHECK(sched_drain_dirty(s, t0 + 30000, &ds, &e) == 0);
    CHECK_INT(ds.taken, 2);
    CHECK_INT(ds.enqueued, 2);
    CHECK_INT(ds.left, 0);
    CHECK_INT(dirty_score("dirty1"), -1);
    char id1[300];
    snprintf(id1, sizeof id1, "%s", dirty_id("dirty1", t0 + 30000));
    CHECK(job_exists(id1));
    CHECK_STR(job_field(id1, "reason"), "dirty");
    CHECK_STR(job_field(id1, "priority"), "dirty"); /* behind user-facing work, ahead of the sweep */
    /* the same priority for a job made by hand for the dirty set; verify and
     * prune stay scheduled, the sweep's work is scheduled whatever its type */
    CHECK_STR(job_default_priority("backup", "dirty"), "dirty");
    CHECK_STR(job_default_priority("backup", "manual"), "interactive");
    CHECK_STR(job_default_priority("backup", NULL), "interactive");
    CHECK_STR(job_default_priority("backup", "scheduled"), "scheduled");
    CHECK_STR(job_default_priority("verify", "dirty"), "scheduled");
    {
        redisReply *r = R("XLEN %s:{default}:q:dirty", prefix);
        CHECK_INT(r->integer, 2);
        freeReplyObject(r);
        r = R("XLEN %s:{default}:q:interactive", prefix);
        CHECK_INT(r->integer, 0);
        freeReplyObject(r);
    }
    CHECK_STR(job_field(id1, "type"), "backup");
    /* a mark while the backup still waits: coalesced */
    f->fc.now = t0 + 31000;
    CHECK(sched_mark_dirty(s, two, 1, &added, &e) == 0);
    CHECK(sched_drain_dirty(s, t0 + 61000, &ds, &e) == 0);
    CHECK_INT(ds.taken, 1);
    CHECK_INT(ds.enqueued, 0);
    CHECK_INT(ds.coalesced, 1);
    /* a mark while it runs: another backup */
    set_state(id1, "active");
    f->fc.now = t0 + 62000;
    CHECK(sched_mark_dirty(s, two, 1, &added, &e) == 0);
    CHECK(sched_drain_dirty(s, t0 + 92000, &ds, &e) == 0);
    CHECK_INT(ds.enqueued, 1);
    CHECK(job_exists(dirty_id("dirty1", t0 + 92000)));
    /* a workspace id too long for the job id is hashed into it */
    memset(longws, 'w', 128);
    longws[128] = 0;
    {
        const char *lw[] = {longws};
        f->fc.now = t0 + 100000;
        CHECK(sched_mark_dirty(s, lw, 1, &added, &e) == 0);
        CHECK(sched_drain_dirty(s, t0 + 130000, &ds, &e) == 0);
        CHECK_INT(ds.enqueued, 1);
        CHECK(job_exists(dirty_id(longws, t0 + 130000)));
        CHECK_STR(job_field(dirty_id(longws, t0 + 130000), "workspace"), longws);
    }
    sched_free(s);
    /* off: nothing is drained */
    {
        sv_config off = *cfg;
        const char *o[] = {"dirtyoff"};
        off.incremental_every_ms = 0;
        CHECK(sched_new(&off, &f->fc.clock, &s, &e) == 0);
        if (!s) return;
        CHECK(sched_mark_dirty(s, o, 1, &added, &e) == 0);
        CHECK(sched_drain_dirty(s, f->fc.now + 86400000, &ds, &e) == 0);
        CHECK_INT(ds.taken, 0);
        CHECK(dirty_score("dirtyoff") > 0);
        freeReplyObject(R("ZREM %s:{default}:dirty dirtyoff", prefix));
        sched_free(s);
    }
}

static void test_tick_id(void)
{
    char id[16];
    sched_tick_id(TICK0, id);
    CHECK_STR(id, "20260529T0000Z");
    sched_tick_id(TICK0 + SIX_H + 59999, id); /* seconds are dropped */
    CHECK_STR(id, "20260529T0600Z");
}

/* Sorts names. */
static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The workspaces: random distinct ids, one 120 characters long. */
static void make_ws(fixture *f, sched_ws_list *l)
{
    l->names = calloc(NWS, sizeof *l->names);
    l->cap = NWS;
    for (int i = 0; i < NWS && l->names; i++) {
        char ws[130];
        int len = i == 0 ? 120 : (int)fx_range(f, 1, 12);
        for (int k = 0; k < len; k++) ws[k] = "abcdefghijklmnopqrstuvwxyz0123456789"[fx_range(f, 0, 35)];
        snprintf(ws + len, sizeof ws - (size_t)len, "-%d", i);
        l->names[l->n++] = strdup(ws);
    }
    qsort(l->names, l->n, sizeof *l->names, cmp_str);
    CHECK_INT(l->n, NWS);
}

/* With replica stores, each verify round drills the next store's copies:
 * primary, then each replica in turn (a round is verify_every / interval
 * ticks; 12 h with 6-hourly ticks: 2). */
static void test_drill_rotation(const sv_config *cfg, const sv_clock *clock)
{
    sv_config c2 = *cfg;
    sched_t *s = NULL;
    sched_ws_list one = {0};
    sv_err e;
    char *names[1] = {"rot-ws"};
    const char *seen[12];
    int64_t t1 = TICK0 + 4000 * SIX_H; /* far from test_ticks' ids */
    c2.replicas = "b2=file:///tmp/sv-rot-b2,eu=file:///tmp/sv-rot-eu";
    c2.verify_every_ms = 12 * FX_H;
    one.names = names;
    one.n = 1;
    CHECK(sched_new(&c2, clock, &s, &e) == 0);
    if (!s) return;
    for (int t = 0; t < 12; t++) {
        json_t *sum = NULL;
        CHECK(sched_run_tick(s, t1 + t * SIX_H, &one, &sum, &e) == 0);
        seen[t] = sum ? json_string_value(json_object_get(sum, "drill_store")) : NULL;
        seen[t] = seen[t] ? strdup(seen[t]) : strdup("?");
        json_decref(sum);
    }
    for (int t = 0; t < 12; t++) {
        uint64_t slot = (uint64_t)((t1 + t * SIX_H) / SIX_H), round = (slot / 2) % 3;
        const char *want = round == 0 ? "primary" : round == 1 ? "b2" : "eu";
        CHECK_STR(seen[t], want);
        free((char *)seen[t]);
    }
    sched_free(s);
}

/* Ticks, their idempotence and the prune/verify sampling. */
static void test_ticks(sched_t *s, const sched_ws_list *l)
{
    json_t *sum = NULL;
    sv_err e;
    int pruned[NWS] = {0}, verified[NWS] = {0};
    long long prunes = 0, verifies = 0;
    for (int t = 0; t < 28; t++) {
        int64_t tick = TICK0 + t * SIX_H;
        char tid[16];
        sched_tick_id(tick, tid);
        CHECK(sched_run_tick(s, tick, l, &sum, &e) == 0);
        if (!sum) {
            fprintf(stderr, "tick: %s\n", e.msg);
            return;
        }
        CHECK_INT(jint(sum, "workspaces"), NWS);
        CHECK_INT(jint(sum, "backups"), NWS);
        CHECK_INT(jint(sum, "existing"), 0);
        CHECK_INT(jint(sum, "enqueued"), NWS + jint(sum, "prunes") + jint(sum, "verifies"));
        prunes += jint(sum, "prunes");
        verifies += jint(sum, "verifies");
        json_decref(sum);
        for (size_t i = 0; i < l->n; i++) {
            const char *ws = l->names[i], *id = job_of("sched", ws, tid);
            CHECK(job_exists(id));
            if (t == 0) {
                CHECK_STR(job_field(id, "type"), "backup");
                CHECK_STR(job_field(id, "workspace"), ws);
                if (strlen(ws) > 100) CHECK(strlen(id) < 100); /* the hashed form */
            }
            pruned[i] += t < 4 && job_exists(job_of("prune", ws, tid));
            verified[i] += job_exists(job_of("verify", ws, tid));
        }
        if (t == 0) {
            /* the same tick again: nothing new */
            CHECK(sched_run_tick(s, tick, l, &sum, &e) == 0);
            CHECK_INT(jint(sum, "enqueued"), 0);
            CHECK_INT(jint(sum, "existing"), NWS + jint(sum, "prunes") + jint(sum, "verifies"));
            json_decref(sum);
        }
        if (t == 3) CHECK_INT(prunes, NWS); /* the first four ticks: each once */
    }
    for (size_t i = 0; i < l->n; i++) {
        CHECK_INT(pruned[i], 1);
        CHECK_INT(verified[i], 1);
    }
    CHECK_INT(prunes, 7 * NWS);
    CHECK_INT(verifies, NWS);
}

/* last_tick, fenced marks, the wait and the alert. */
static void test_mark_and_wait(sched_t *s, const sched_ws_list *l)
{
    json_t *sum = NULL;
    sv_err e;
    redisReply *r;
    CHECK(sched_mark_tick(s, TICK0 + SIX_H, false, &e) == 0);
    CHECK(sched_mark_tick(s, TICK0, false, &e) == 0); /* older: ignored */
    r = R("GET %s:{sched}:last_tick", prefix);
    CHECK(r->type == REDIS_REPLY_STRING && strtoll(r->str, NULL, 10) == TICK0 + SIX_H);
    freeReplyObject(r);
    CHECK(sched_mark_tick(s, TICK0 + 2 * SIX_H, true, &e) == -1); /* not leading */
    CHECK_INT(e.code, SV_ELEASE);

    /* A new tick; its jobs never run: the wait times out on the fake clock. */
    int64_t tick = TICK0 + 100 * SIX_H;
    char tid[16];
    sched_tick_id(tick, tid);
    CHECK(sched_run_tick(s, tick, l, &sum, &e) == 0);
    CHECK(sched_wait_tick(s, 5000, sum, &e) == 0);
    CHECK(json_is_true(json_object_get(sum, "timed_out")));
    CHECK(!json_is_true(json_object_get(sum, "alert")));
    CHECK_INT(jint(json_object_get(json_object_get(sum, "results"), "backup"), "unfinished"), NWS);
    json_decref(sum);

    /* Every backup ends; one fails (1/60 > 1%): the alert. */
    CHECK(sched_run_tick(s, tick, l, &sum, &e) == 0);
    for (size_t i = 0; i < l->n; i++) {
        const char *id = job_of("prune", l->names[i], tid);
        set_state(job_of("sched", l->names[i], tid), i == 1 ? "failed" : "succeeded");
        if (job_exists(id)) set_state(id, "succeeded");
        id = job_of("verify", l->names[i], tid);
        if (job_exists(id)) set_state(id, "cancelled");
    }
    CHECK(sched_wait_tick(s, 5000, sum, &e) == 0);
    CHECK(json_is_false(json_object_get(sum, "timed_out")));
    CHECK(json_is_true(json_object_get(sum, "alert")));
    {
        json_t *b = json_object_get(json_object_get(sum, "results"), "backup");
        CHECK_INT(jint(b, "failed"), 1);
        CHECK_INT(jint(b, "succeeded"), NWS - 1);
        CHECK_INT(jint(b, "unfinished"), 0);
    }
    json_decref(sum);
    r = R("HGET %s:{sched}:last_result alert", prefix);
    CHECK(r->type == REDIS_REPLY_STRING && strcmp(r->str, "1") == 0);
    freeReplyObject(r);
    {   /* the alert event on the pool's stream */
        bool seen = false;
        r = R("XREVRANGE %s:{default}:events + - COUNT 50", prefix);
        for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements && !seen; i++) {
            redisReply *fl = r->element[i]->element[1];
            for (size_t k = 0; k + 1 < fl->elements; k += 2)
                if (!strcmp(fl->element[k]->str, "event") && !strcmp(fl->element[k + 1]->str, "alert")) seen = true;
        }
        CHECK(seen);
        freeReplyObject(r);
    }
}

/* A clock that moves only when slept on, and stops the loop at a time. */
typedef struct loop_clock {
    sv_clock clock;
    sv_fake_clock *fc;
    int64_t stop_at;
    volatile sig_atomic_t *stop;
    long sleeps;
} loop_clock;

static int64_t lc_now(void *ud) { return ((loop_clock *)ud)->fc->now; }
static int64_t lc_mono(void *ud) { return ((loop_clock *)ud)->fc->mono; }
static uint64_t lc_rand(void *ud) { return sv_rand64(&((loop_clock *)ud)->fc->clock); }
static void lc_sleep(void *ud, int64_t ms)
{
    loop_clock *c = ud;
    c->sleeps++;
    c->fc->now += ms;
    c->fc->mono += ms;
    if (c->fc->now >= c->stop_at) *c->stop = 1;
}

/* The loop: catch-up runs the latest missed tick only, then the next. */
static void test_loop(fixture *f, const sv_config *cfg)
{
    static volatile sig_atomic_t stop;
    loop_clock lc = {.fc = &f->fc, .stop = &stop};
    sched_t *s = NULL;
    sv_err e;
    /* Down since 3 days before; it comes back 30 s before 06:00. */
    int64_t start = TICK0 + 200 * SIX_H - 30000;
    char tid[16];
    f->fc.now = start;
    lc.stop_at = start + 90000;
    lc.clock = (sv_clock){lc_now, lc_mono, lc_sleep, lc_rand, &lc};
    CHECK(sched_new(cfg, &lc.clock, &s, &e) == 0);
    if (!s) {
        fprintf(stderr, "sched_new: %s\n", e.msg);
        return;
    }
    CHECK(sched_mark_tick(s, start - 3 * FX_D, false, &e) == 0);
    {
        const char *lw[] = {"loopdirty"};
        size_t added = 0;
        CHECK(sched_mark_dirty(s, lw, 1, &added, &e) == 0);
    }
    CHECK(sched_loop(s, &stop, &e) == 0);
    CHECK(lc.sleeps > 0);
    /* the ticks at -6h (the latest missed) and +0 ran; -12h did not */
    const int64_t ticks[] = {start + 30000 - 2 * SIX_H, start + 30000 - SIX_H, start + 30000};
    const bool ran[] = {false, true, true};
    for (int t = 0; t < 3; t++) {
        sched_tick_id(ticks[t], tid);
        CHECK_INT(job_exists(job_of("sched", "static1", tid)), ran[t]);
        CHECK_INT(job_exists(job_of("sched", "disk1", tid)), ran[t]);
        CHECK_INT(job_exists(job_of("sched", "fromredis", tid)), ran[t]);
    }
    {
        redisReply *r = R("GET %s:{sched}:last_tick", prefix);
        CHECK(r->type == REDIS_REPLY_STRING && strtoll(r->str, NULL, 10) == start + 30000);
        freeReplyObject(r);
        /* the loop drained the mark at 30 s, within one poll (1 s) */
        r = R("KEYS %s:{default}:job:dirty-loopdirty-*", prefix);
        CHECK(r->type == REDIS_REPLY_ARRAY && r->elements == 1);
        if (r->type == REDIS_REPLY_ARRAY && r->elements == 1) {
            int64_t stamp = strtoll(strrchr(r->element[0]->str, '-') + 1, NULL, 10);
            CHECK(stamp >= start + 30000 && stamp <= start + 31000);
        }
        freeReplyObject(r);
        /* the lead is given up on stop */
        r = R("EXISTS %s:{sched}:leader", prefix);
        CHECK(r->type == REDIS_REPLY_INTEGER && r->integer == 0);
        freeReplyObject(r);
    }
    sched_free(s);
}

int main(void)
{
    fixture f;
    sv_config cfg;
    sv_err e;
    sched_t *s = NULL;
    sched_ws_list l = {0};
    const char *url = getenv("SV_REDIS_URL");
    char *argv[] = {"test_scheduler", NULL};
    int argc = 1;

    fx_init(&f, "test_scheduler", TICK0);
    if (!url || !*url) {
        fprintf(stderr, "test_scheduler: SV_REDIS_URL is not set (run it through scripts/test.sh)\n");
        fx_done(&f);
        return 1;
    }
    snprintf(prefix, sizeof prefix, "svtest%016llx", (unsigned long long)fx_rand(&f));
    setenv("SQLVAULT_REDIS_URL", url, 1);
    setenv("SQLVAULT_REDIS_PREFIX", prefix, 1);
    setenv("SQLVAULT_SCHEDULE", "0 */6 * * *", 1);
    setenv("SQLVAULT_VERIFY_EVERY", "7d", 1);
    setenv("SQLVAULT_WORKSPACES", "static1", 1);
    setenv("SQLVAULT_DATA_DIR", f.cfg.data_dir, 1);
    setenv("SQLVAULT_STORE", "file:///nonexistent", 1);
    setenv("SQLVAULT_LOG_FORMAT", "text", 1);
    if (config_load(&cfg, &argc, argv, &e) != 0) {
        fprintf(stderr, "config: %s\n", e.msg);
        return 1;
    }
    rc = redisConnect(cfg.redis_host, cfg.redis_port);
    if (!rc || rc->err) {
        fprintf(stderr, "test_scheduler: unable to connect to %s\n", url);
        return 1;
    }
    if (cfg.redis_db) freeReplyObject(R("SELECT %d", cfg.redis_db));
    /* discovery's sources for the loop: a database on disk and the Redis set */
    {
        char p[600];
        snprintf(p, sizeof p, "%s/disk1", f.cfg.data_dir);
        CHECK(sv_mkdirs(p, &e) == 0);
        snprintf(p, sizeof p, "%s/disk1/livestore.db", f.cfg.data_dir);
        sqlite3_close(fx_make_db(&f, p, "wal", 3));
        freeReplyObject(R("SADD %s:workspaces fromredis", prefix));
    }

    test_tick_id();
    make_ws(&f, &l);
    CHECK(sched_new(&cfg, &f.fc.clock, &s, &e) == 0);
    if (s) {
        test_ticks(s, &l);
        test_mark_and_wait(s, &l);
        sched_free(s);
    } else {
        fprintf(stderr, "sched_new: %s\n", e.msg);
    }
    test_drill_rotation(&cfg, &f.fc.clock);
    test_dirty(&f, &cfg);
    test_loop(&f, &cfg);

    /* Leave nothing of this run in Redis. */
    {
        redisReply *r = R("KEYS %s:*", prefix);
        for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++)
            freeReplyObject(R("UNLINK %s", r->element[i]->str));
        freeReplyObject(r);
    }
    redisFree(rc);
    sched_ws_list_free(&l);
    config_free(&cfg);
    fx_done(&f);
    TEST_DONE();
}
