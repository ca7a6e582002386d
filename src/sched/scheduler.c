/* scheduler.c -- cron ticks, leadership and tick evaluation.
 *
 * A tick enqueues, for every discovered workspace, one scheduled backup
 * (opts.tick: the tick, kept in metadata.json as tickTime; the job id makes a
 * duplicate the same job, which commits one backup), then the
 * prunes of the workspaces whose turn it is (each once a day) and the verifies
 * of a rotating sample (each at least once per SQLVAULT_VERIFY_EVERY). Job ids
 * derive from workspace and tick, and the queue's enqueue function dedups by
 * id, so ticks are idempotent: re-running one, or two schedulers running the
 * same one, enqueues nothing new. Enqueues go through the queue's shipped
 * function (queue_enqueue_many: FCALL sqlvault_enqueue pipelined 1000 at a
 * time), because one round trip per job cannot reach 100,000 in 5 s.
 * SQLVAULT_POOL may be a pool set "a,b,c": each workspace's jobs go to its
 * pool (queue_pool_base_for's function), enqueued and polled pool by pool.
 *
 * Leadership: PREFIX:{sched}:leader holds "owner|fence" with a PX lease; a new
 * leader INCRs the fence. The leader renews every lease/3; followers try every
 * min(lease/4, 1 s), so one takes over within about a lease of a leader's
 * death. The fence guards the one state the leader writes, last_tick: a
 * deposed leader cannot move it (its enqueues are harmless duplicates).
 * Catch-up: the loop runs cron_prev(now) when it is newer than last_tick, so
 * after any downtime exactly the latest missed tick runs, once.
 * The dirty set (src/sched/dirty.c): while leading, the loop also drains
 * the due marked workspaces on every poll, and polls at least every
 * min(INCREMENTAL_EVERY/8, SCHED_DIRTY_POLL_MAX_MS) (100 ms at the least)
 * while it is on; the cron ticks are the slower sweep that catches the
 * workspaces no one marked (their backups carry mode auto too).
 *
 * THREAD SAFETY NOTES: a sched_t is used by one thread; it owns one
 * queue_conn (the one Redis layer, include/queue_conn.h), which every
 * command here and in discovery.c goes through. */
#include <errno.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "log.h"
#include "replica.h"
#include "metrics/alert.h"
#include "sched_int.h"
#include "util.h"

#define PIPE_WINDOW 1000
#define POLL_MS 500
#define MS_PER_DAY 86400000LL

/* ACQUIRE/RENEW: KEYS leader, fence; ARGV owner, lease_ms. Returns our fence,
 * or 0 when someone else leads. */
static const char lua_acquire[] =
    "local v = redis.call('GET', KEYS[1])\n"
    "if v then\n"
    "  local o, f = string.match(v, '^(.*)|(%d+)$')\n"
    "  if o == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]); return tonumber(f) end\n"
    "  return 0\n"
    "end\n"
    "local f = redis.call('INCR', KEYS[2])\n"
    "redis.call('SET', KEYS[1], ARGV[1] .. '|' .. f, 'PX', ARGV[2])\n"
    "return f\n";

/* MARK: KEYS leader, last_tick; ARGV owner|fence ('' = unfenced), tick.
 * Returns 1, or -1 when the fence no longer holds. */
static const char lua_mark[] =
    "if ARGV[1] ~= '' and redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end\n"
    "local cur = tonumber(redis.call('GET', KEYS[2]) or '0')\n"
    "if tonumber(ARGV[2]) > cur then redis.call('SET', KEYS[2], ARGV[2]) end\n"
    "return 1\n";

/* RELEASE: KEYS leader; ARGV owner|fence. Deletes the lease if still ours. */
static const char lua_release[] =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end\n"
    "return 0\n";

/* Opens a scheduler; see scheduler.h. */
int sched_new(const sv_config *cfg, const sv_clock *clock, sched_t **out, sv_err *err)
{
    sched_t *s = calloc(1, sizeof *s);
    const char *p = cfg->redis_prefix ? cfg->redis_prefix : "sqlvault";
    char host[64] = "host";
    *out = NULL;
    if (!s) return sv_err_set(err, SV_ENOMEM, "out of memory");
    s->cfg = cfg;
    s->clock = clock;
    if (cron_parse(cfg->schedule ? cfg->schedule : "0 */6 * * *", &s->cron, err) != 0) {
        sv_err_wrap(err, "SQLVAULT_SCHEDULE");
        goto fail;
    }
    s->bases = queue_pool_bases(cfg, cfg->pool, &s->nbases); /* one pool, or a pool set */
    s->k_leader = sv_asprintf("%s:{sched}:leader", p);
    s->k_fence = sv_asprintf("%s:{sched}:fence", p);
    s->k_last = sv_asprintf("%s:{sched}:last_tick", p);
    s->k_result = sv_asprintf("%s:{sched}:last_result", p);
    s->k_ratio = sv_asprintf("%s:metrics:last_tick_failure_ratio", p);
    s->k_set = sv_asprintf("%s:workspaces", p);
    if (!s->bases || s->nbases == 0 || !s->k_leader || !s->k_fence || !s->k_last || !s->k_result || !s->k_ratio ||
        !s->k_set) {
        sv_err_set(err, SV_ENOMEM, "out of memory");
        goto fail;
    }
    gethostname(host, sizeof host - 1);
    host[sizeof host - 1] = 0;
    snprintf(s->owner, sizeof s->owner, "%.63s:%ld:%08" PRIx64, host, (long)getpid(),
             sv_rand64(clock) & 0xffffffffu);
    if (queue_conn_open(cfg, &s->qc, err) != 0) goto fail; /* loads the function library */
    *out = s;
    return 0;
fail:
    sched_free(s);
    return -1;
}

/* Forgets the last tick's jobs. */
static void jobs_clear(sched_t *s)
{
    for (size_t i = 0; i < s->njobs; i++) free(s->jobs[i].id);
    s->njobs = 0;
    s->tick_ms = 0;
}

/* Frees a scheduler; NULL is a no-op. */
void sched_free(sched_t *s)
{
    if (!s) return;
    jobs_clear(s);
    free(s->jobs);
    queue_conn_free(s->qc);
    queue_bases_free(s->bases);
    free(s->k_leader);
    free(s->k_fence);
    free(s->k_last);
    free(s->k_result);
    free(s->k_ratio);
    free(s->k_set);
    free(s);
}

/* YYYYMMDDTHHMMZ. */
void sched_tick_id(int64_t tick_ms, char out[16])
{
    char ts[SV_TS_LEN];
    sv_ts_format(tick_ms, ts);
    memcpy(out, ts, 13); /* YYYYMMDDTHHMM */
    out[13] = 'Z';
    out[14] = 0;
}

/* A workspace's place in a rotating sample: FNV-1a of the id, salted, then
 * murmur3's fmix64 so that ids differing in their last character spread
 * over every residue (plain FNV leaves the high bits nearly equal). */
static uint64_t ws_hash(const char *s, uint64_t salt)
{
    uint64_t h = 1469598103934665603ULL ^ salt;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

/* "{kind}-{ws}-{tick}", or with 32 hex of sha256(ws) when too long for an id. */
static char *job_id(const char *kind, const char *ws, const char *tick)
{
    char *id = sv_asprintf("%s-%s-%s", kind, ws, tick);
    if (id && strlen(id) > 128) {
        unsigned char md[32];
        char hex[65];
        unsigned int mdlen = 0;
        EVP_Digest(ws, strlen(ws), md, &mdlen, EVP_sha256(), NULL);
        sv_hex(md, 16, hex);
        free(id);
        id = sv_asprintf("%s-%s-%s", kind, hex, tick);
    }
    return id;
}

/* Adds a job of workspace ws to the tick's list, in ws's pool. */
static int jobs_add(sched_t *s, char type, char *id, const char *ws, sv_err *err)
{
    if (!id) return sv_err_set(err, SV_ENOMEM, "out of memory");
    if (s->njobs == s->capjobs) {
        size_t cap = s->capjobs ? s->capjobs * 2 : 1024;
        sched_job *nj = realloc(s->jobs, cap * sizeof *nj);
        if (!nj) {
            free(id);
            return sv_err_set(err, SV_ENOMEM, "out of memory");
        }
        s->jobs = nj;
        s->capjobs = cap;
    }
    sched_job *j = &s->jobs[s->njobs++];
    j->id = id;
    j->type = type;
    j->pool = queue_pool_hash(ws) % s->nbases;
    j->state[0] = 0;
    return 0;
}

/* used_memory from INFO memory, or -1. */
static long long redis_used_memory(sched_t *s)
{
    sv_err e;
    long long v = -1;
    redisReply *r = SCHED_CMD(s, &e, "INFO", "memory");
    if (!r) return -1;
    if (r->type == REDIS_REPLY_STRING) {
        const char *p = strstr(r->str, "used_memory:");
        if (p) v = strtoll(p + 12, NULL, 10);
    }
    freeReplyObject(r);
    return v;
}

typedef struct packed_opts {
    char *buf;
    size_t len;
} packed_opts;

/* How many jobs of each kind a tick planned, and what the enqueue found. */
typedef struct tick_counts {
    long long backups, prunes, verifies;
    size_t created, existing;
} tick_counts;

/* Plans the tick's jobs: a backup of every workspace, and the prunes and
 * verifies of the rotating samples (with a tick every `interval`, a
 * workspace is pruned every k_p-th tick and verified every k_v-th, chosen by
 * its hash and the slot). ws_of[i] gets job i's workspace. */
static int plan_tick(sched_t *s, int64_t tick_ms, const char *tick, const sched_ws_list *ws, size_t *ws_of,
                     tick_counts *n, char *drill_store, size_t cap, sv_err *err)
{
    int64_t next = cron_next(&s->cron, tick_ms);
    int64_t interval = next > tick_ms ? next - tick_ms : MS_PER_DAY;
    int64_t verify_every = s->cfg->verify_every_ms > 0 ? s->cfg->verify_every_ms : 7 * MS_PER_DAY;
    uint64_t k_p = (uint64_t)(SCHED_PRUNE_EVERY_MS / interval), k_v = (uint64_t)(verify_every / interval);
    uint64_t slot = (uint64_t)(tick_ms / interval);
    if (k_p < 1) k_p = 1;
    if (k_v < 1) k_v = 1;
    log_debug(NULL, NULL, "scheduler: interval %lld ms, prune every %llu ticks, verify every %llu ticks, slot %llu",
              (long long)interval, (unsigned long long)k_p, (unsigned long long)k_v, (unsigned long long)slot);
    /* Drills rotate over the stores (replica.h): each verify round (k_v
     * ticks, every workspace drilled once) drills the next store's copies,
     * the primary first. */
    drill_store[0] = '\0';
    if (s->cfg->replicas) {
        replica_set rs;
        if (replica_parse(s->cfg, &rs, err) != 0) return -1;
        uint64_t round = (slot / k_v) % (uint64_t)(rs.n + 1);
        if (round > 0) snprintf(drill_store, cap, "%s", rs.r[round - 1].name);
        replica_set_free(&rs);
    }
    for (size_t i = 0; i < ws->n; i++) {
        ws_of[s->njobs] = i;
        if (jobs_add(s, 'b', job_id("sched", ws->names[i], tick), ws->names[i], err) != 0) return -1;
        n->backups++;
    }
    for (size_t i = 0; i < ws->n; i++) {
        if ((ws_hash(ws->names[i], 1) + slot) % k_p != 0) continue;
        ws_of[s->njobs] = i;
        if (jobs_add(s, 'p', job_id("prune", ws->names[i], tick), ws->names[i], err) != 0) return -1;
        n->prunes++;
    }
    for (size_t i = 0; i < ws->n; i++) {
        if ((ws_hash(ws->names[i], 2) + slot) % k_v != 0) continue;
        ws_of[s->njobs] = i;
        if (jobs_add(s, 'v', job_id("verify", ws->names[i], tick), ws->names[i], err) != 0) return -1;
        n->verifies++;
    }
    return 0;
}

/* The options of the tick's backups (opts[0]: the tick, not a label: the
 * backup is labelled with its snapshot's time) and verifies (opts[2]);
 * prunes have none (opts[1]). */
static int pack_tick_opts(int64_t tick_ms, const char *drill_store, packed_opts opts[3], sv_err *err)
{
    /* mode auto: the backup side decides incremental, full or unchanged (an
     * unchanged workspace costs a stat), so the cron sweep is cheap */
    json_t *bo = json_pack("{s:I, s:s, s:s}", "tick", (json_int_t)tick_ms, "reason", "scheduled", "mode", "auto");
    json_t *vo = drill_store[0] ? json_pack("{s:s, s:s}", "at", "latest", "store", drill_store)
                                : json_pack("{s:s}", "at", "latest");
    int rc = (!bo || !vo) ? sv_err_set(err, SV_ENOMEM, "out of memory") : 0;
    if (rc == 0) rc = queue_opts_pack(bo, &opts[0].buf, &opts[0].len, err);
    if (rc == 0) rc = queue_opts_pack(vo, &opts[2].buf, &opts[2].len, err);
    json_decref(bo);
    json_decref(vo);
    return rc;
}

/* Enqueues the planned jobs through the queue's pipelined enqueue, pool by
 * pool of the pool set (a pipeline stays on one pool's master), a window at
 * a time (one round trip per window, because one per job cannot reach
 * 100,000 in 5 s). */
static int enqueue_tick(sched_t *s, const sched_ws_list *ws, const size_t *ws_of, const packed_opts opts[3],
                        tick_counts *n, sv_err *err)
{
    static const char *const type_name[] = {"backup", "prune", "verify"};
    queue_job_spec *specs = calloc(PIPE_WINDOW, sizeof *specs);
    int max_attempts = s->cfg->max_attempts > 0 ? s->cfg->max_attempts : 5;
    int rc = 0;
    if (!specs) return sv_err_set(err, SV_ENOMEM, "out of memory");
    for (size_t p = 0; rc == 0 && p < s->nbases; p++) {
        size_t i = 0;
        while (rc == 0 && i < s->njobs) {
            size_t m = 0, created = 0, existing = 0;
            for (; i < s->njobs && m < PIPE_WINDOW; i++) {
                const sched_job *j = &s->jobs[i];
                int t = j->type == 'b' ? 0 : j->type == 'p' ? 1 : 2;
                if (j->pool != p) continue;
                specs[m++] = (queue_job_spec){.id = j->id, .type = type_name[t], .workspace = ws->names[ws_of[i]],
                                              .priority = "scheduled", .max_attempts = max_attempts,
                                              .opts = opts[t].buf, .opts_len = opts[t].buf ? opts[t].len : 0,
                                              .reason = "scheduled"};
            }
            if (m == 0) break;
            rc = queue_enqueue_many(s->qc, s->bases[p], specs, m, &created, &existing, err);
            n->created += created;
            n->existing += existing;
        }
    }
    free(specs);
    return rc;
}

/* Runs one tick; see scheduler.h. */
int sched_run_tick(sched_t *s, int64_t tick_ms, const sched_ws_list *ws_in, json_t **summary,
                   sv_err *err)
{
    sched_ws_list found = {0};
    const sched_ws_list *ws = ws_in;
    size_t *ws_of = NULL;
    packed_opts opts[3] = {{0}};
    tick_counts n = {0};
    char drill_store[40];
    char tick[16], iso[SV_ISO_LEN];
    long long mem_before, mem_after;
    int64_t t0 = sv_mono_ms(s->clock), ms;
    int rc = -1;

    *summary = NULL;
    jobs_clear(s);
    s->tick_ms = tick_ms;
    sched_tick_id(tick_ms, tick);
    sv_iso_format(tick_ms, iso);
    if (!ws) {
        if (sched_discover(s, &found, err) != 0) goto fail;
        ws = &found;
    }
    mem_before = redis_used_memory(s);
    ws_of = malloc((ws->n * 3 + 1) * sizeof *ws_of);
    if (!ws_of) {
        sv_err_set(err, SV_ENOMEM, "out of memory");
        goto fail;
    }
    if (plan_tick(s, tick_ms, tick, ws, ws_of, &n, drill_store, sizeof drill_store, err) != 0) goto fail;
    if (pack_tick_opts(tick_ms, drill_store, opts, err) != 0) goto fail;
    if (enqueue_tick(s, ws, ws_of, opts, &n, err) != 0) {
        sv_err_wrap(err, "tick %s", tick);
        goto fail;
    }
    mem_after = redis_used_memory(s);
    ms = sv_mono_ms(s->clock) - t0;
    *summary = json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "tick", iso, "tick_ms",
                         (json_int_t)tick_ms, "workspaces", (json_int_t)ws->n, "enqueued", (json_int_t)n.created,
                         "existing", (json_int_t)n.existing, "backups", (json_int_t)n.backups, "prunes",
                         (json_int_t)n.prunes, "verifies", (json_int_t)n.verifies, "ms", (json_int_t)ms,
                         "redis_memory_before", (json_int_t)mem_before, "redis_memory_after", (json_int_t)mem_after);
    if (!*summary) {
        sv_err_set(err, SV_ENOMEM, "out of memory");
        goto fail;
    }
    if (s->cfg->replicas)
        json_object_set_new(*summary, "drill_store", json_string(drill_store[0] ? drill_store : "primary"));
    log_info(NULL, NULL,
             "scheduler: tick %s: %zu workspaces, %lld backups, %lld prunes, %lld verifies; "
             "%zu enqueued, %zu already there, in %lld ms",
             iso, ws->n, n.backups, n.prunes, n.verifies, n.created, n.existing, (long long)ms);
    rc = 0;
fail:
    free(opts[0].buf);
    free(opts[2].buf);
    free(ws_of);
    sched_ws_list_free(&found);
    return rc;
}

/* True for a state a job does not leave. */
static bool terminal(const char *st)
{
    return strcmp(st, "succeeded") == 0 || strcmp(st, "failed") == 0 ||
           strcmp(st, "cancelled") == 0 || strcmp(st, "gone") == 0;
}

/* Reads the state of every unfinished job of the tick (pipelined, pool by
 * pool: a pipeline stays on one pool's master). Returns the number still
 * unfinished, or -1. */
static long long poll_states(sched_t *s, sv_err *err)
{
    long long open = 0;
    for (size_t p = 0; p < s->nbases; p++) {
        size_t i = 0;
        while (i < s->njobs) {
            size_t sent[PIPE_WINDOW], n = 0;
            for (; i < s->njobs && n < PIPE_WINDOW; i++) {
                if (s->jobs[i].pool != p || (s->jobs[i].state[0] && terminal(s->jobs[i].state))) continue;
                char *key = sv_asprintf("%sjob:%s", s->bases[p], s->jobs[i].id);
                if (!key) return sv_err_set(err, SV_ENOMEM, "out of memory");
                const char *argv[3] = {"HGET", key, "state"};
                size_t lens[3] = {4, strlen(key), 5};
                int arc = qc_append(s->qc, 3, argv, lens, err);
                free(key);
                if (arc != 0) return -1;
                sent[n++] = i;
            }
            for (size_t k = 0; k < n; k++) {
                redisReply *r = qc_read(s->qc, err);
                if (!r) return sv_err_wrap(err, "polling the tick's jobs: ");
                sched_job *j = &s->jobs[sent[k]];
                if (r->type == REDIS_REPLY_STRING) snprintf(j->state, sizeof j->state, "%s", r->str);
                else if (r->type == REDIS_REPLY_NIL) snprintf(j->state, sizeof j->state, "gone");
                if (!terminal(j->state)) open++;
                freeReplyObject(r);
            }
        }
    }
    return open;
}

/* Counts outcomes, sets the metric and raises the alert; adds to summary. */
static int evaluate(sched_t *s, json_t *summary, bool timed_out, sv_err *err)
{
    const char *names[3] = {"backup", "prune", "verify"};
    long long cnt[3][5] = {{0}}; /* succeeded failed cancelled gone open */
    char iso[SV_ISO_LEN], ratio_s[32];
    for (size_t i = 0; i < s->njobs; i++) {
        int t = s->jobs[i].type == 'b' ? 0 : s->jobs[i].type == 'p' ? 1 : 2;
        const char *st = s->jobs[i].state;
        int o = strcmp(st, "succeeded") == 0 ? 0 : strcmp(st, "failed") == 0 ? 1
              : strcmp(st, "cancelled") == 0 ? 2 : strcmp(st, "gone") == 0 ? 3 : 4;
        cnt[t][o]++;
    }
    long long total = 0;
    for (int o = 0; o < 5; o++) total += cnt[0][o];
    double ratio = total ? (double)cnt[0][1] / (double)total : 0.0;
    bool alert = ratio > SCHED_ALERT_RATIO;
    sv_iso_format(s->tick_ms, iso);
    snprintf(ratio_s, sizeof ratio_s, "%.6f", ratio);

    json_t *res = json_object();
    for (int t = 0; t < 3; t++) {
        json_object_set_new(res, names[t],
                            json_pack("{s:I, s:I, s:I, s:I, s:I}", "succeeded", (json_int_t)cnt[t][0],
                                      "failed", (json_int_t)cnt[t][1], "cancelled",
                                      (json_int_t)cnt[t][2], "expired", (json_int_t)cnt[t][3],
                                      "unfinished", (json_int_t)cnt[t][4]));
    }
    json_object_set_new(summary, "results", res);
    json_object_set_new(summary, "failure_ratio", json_real(ratio));
    json_object_set_new(summary, "alert", json_boolean(alert));
    json_object_set_new(summary, "timed_out", json_boolean(timed_out));

    /* The metric, and the tick's record. */
    char fb[24], tb[24], tk[24];
    snprintf(fb, sizeof fb, "%lld", cnt[0][1]);
    snprintf(tb, sizeof tb, "%lld", total);
    snprintf(tk, sizeof tk, "%" PRId64, s->tick_ms);
    redisReply *r = SCHED_CMD(s, err, "SET", s->k_ratio, ratio_s);
    if (!r) return -1;
    freeReplyObject(r);
    r = SCHED_CMD(s, err, "HSET", s->k_result, "tick", iso, "tick_ms", tk, "backups", tb,
                                   "failed", fb, "ratio", ratio_s, "alert", alert ? "1" : "0");
    if (!r) return -1;
    freeReplyObject(r);

    if (alert) {
        log_error(NULL, NULL,
                  "scheduler: ALERT: %lld of %lld backups of tick %s failed (%.2f%% > %.0f%%)",
                  cnt[0][1], total, iso, ratio * 100, SCHED_ALERT_RATIO * 100);
        char *ek = sv_asprintf("%sevents", s->bases[0]); /* the set's first pool */
        char *msg = sv_asprintf("{\"event\":\"alert\",\"job\":\"\",\"tick\":\"%s\",\"failed\":%lld,"
                                "\"total\":%lld,\"ratio\":%s}",
                                iso, cnt[0][1], total, ratio_s);
        if (!ek || !msg) {
            free(ek);
            free(msg);
            return sv_err_set(err, SV_ENOMEM, "out of memory");
        }
        r = SCHED_CMD(s, err, "XADD", ek, "MAXLEN", "~", "10000", "*", "job", "", "event",
                                       "alert", "tick", iso, "failed", fb, "total", tb, "ratio",
                                       ratio_s);
        if (!r) {
            free(ek);
            free(msg);
            return -1;
        }
        freeReplyObject(r);
        r = SCHED_CMD(s, err, "PUBLISH", ek, msg);
        free(ek);
        free(msg);
        if (!r) return -1;
        freeReplyObject(r);
        {   /* SQLVAULT_ALERT_WEBHOOK: delivered in the background, never waited on here */
            alert_tick at = {iso, cnt[0][1], total, ratio, SCHED_ALERT_RATIO};
            sv_err we;
            if (alert_webhook_send(s->cfg, &at, &we) != 0) log_error(NULL, NULL, "alert webhook: %s", we.msg);
        }
    } else {
        log_info(NULL, NULL, "scheduler: tick %s: %lld of %lld backups failed (%.2f%%)", iso,
                 cnt[0][1], total, ratio * 100);
    }
    return 0;
}

/* Waits for the last tick's jobs; see scheduler.h. */
int sched_wait_tick(sched_t *s, int64_t timeout_ms, json_t *summary, sv_err *err)
{
    int64_t start = sv_mono_ms(s->clock);
    bool timed_out = false;
    for (;;) {
        long long open = poll_states(s, err);
        if (open < 0) return -1;
        if (open == 0) break;
        if (timeout_ms > 0 && sv_mono_ms(s->clock) - start >= timeout_ms) {
            timed_out = true;
            break;
        }
        sv_sleep_ms(s->clock, POLL_MS);
    }
    return evaluate(s, summary, timed_out, err);
}

/* Records the tick; see scheduler.h. */
int sched_mark_tick(sched_t *s, int64_t tick_ms, bool fenced, sv_err *err)
{
    char tk[24], holder[160] = "";
    snprintf(tk, sizeof tk, "%" PRId64, tick_ms);
    if (fenced) snprintf(holder, sizeof holder, "%s|%" PRId64, s->owner, s->fence);
    redisReply *r = SCHED_CMD(s, err, "EVAL", lua_mark, "2", s->k_leader, s->k_last, holder, tk);
    if (!r) return -1;
    long long v = r->type == REDIS_REPLY_INTEGER ? r->integer : 0;
    freeReplyObject(r);
    if (v != 1) return sv_err_set(err, SV_ELEASE, "this scheduler lost the lead (fence %" PRId64 ")", s->fence);
    return 0;
}

/* Takes or renews the lead; sets s->fence (0 when another leads). */
static int lead(sched_t *s, sv_err *err)
{
    char lease[24];
    snprintf(lease, sizeof lease, "%" PRId64, s->cfg->lease_ms > 0 ? s->cfg->lease_ms : 30000);
    redisReply *r = SCHED_CMD(s, err, "EVAL", lua_acquire, "2", s->k_leader, s->k_fence,
                                               s->owner, lease);
    if (!r) return -1;
    int64_t f = r->type == REDIS_REPLY_INTEGER ? r->integer : 0;
    freeReplyObject(r);
    if (f && !s->fence)
        log_info(NULL, NULL, "scheduler: %s leads (fence %" PRId64 ")", s->owner, f);
    else if (!f && s->fence)
        log_warn(NULL, NULL, "scheduler: %s lost the lead", s->owner);
    s->fence = f;
    return 0;
}

/* Gives up the lead if still ours. */
static void unlead(sched_t *s)
{
    char holder[160];
    sv_err e;
    if (!s->fence) return;
    snprintf(holder, sizeof holder, "%s|%" PRId64, s->owner, s->fence);
    redisReply *r = SCHED_CMD(s, &e, "EVAL", lua_release, "1", s->k_leader, holder);
    if (r) freeReplyObject(r);
    s->fence = 0;
}

/* last_tick from Redis (0 when none). */
static int last_tick(sched_t *s, int64_t *out, sv_err *err)
{
    redisReply *r = SCHED_CMD(s, err, "GET", s->k_last);
    if (!r) return -1;
    *out = r->type == REDIS_REPLY_STRING ? strtoll(r->str, NULL, 10) : 0;
    freeReplyObject(r);
    return 0;
}

/* Sleeps up to ms in short slices, returning early on stop. */
static void nap(sched_t *s, int64_t ms, volatile sig_atomic_t *stop)
{
    while (ms > 0 && !*stop) {
        int64_t step = ms < 100 ? ms : 100;
        sv_sleep_ms(s->clock, step);
        ms -= step;
    }
}

/* queue_conn_ensure's stop condition: the loop's stop flag. */
static bool stopped(void *ud) { return *(volatile sig_atomic_t *)ud != 0; }

/* The long-running loop; see scheduler.h. */
int sched_loop(sched_t *s, volatile sig_atomic_t *stop, sv_err *err)
{
    int64_t lease = s->cfg->lease_ms > 0 ? s->cfg->lease_ms : 30000;
    int64_t follow_every = lease / 4 < 1000 ? lease / 4 : 1000;
    int64_t next_poll = 0;
    int failures = 0;
    json_t *pending = NULL; /* summary of the tick being watched */
    int64_t dirty_poll = s->cfg->incremental_every_ms / 8; /* 0: the dirty set is off */
    bool dirty_more = false;
    if (dirty_poll > SCHED_DIRTY_POLL_MAX_MS) dirty_poll = SCHED_DIRTY_POLL_MAX_MS;
    if (s->cfg->incremental_every_ms > 0 && dirty_poll < 100) dirty_poll = 100;

    log_info(NULL, NULL, "scheduler: %s started, schedule '%s' (UTC), lease %" PRId64 " ms, dirty set %s",
             s->owner, s->cfg->schedule, lease, dirty_poll > 0 ? "on" : "off");
    while (!*stop) {
        sv_err e;
        sv_err_clear(&e);
        if (queue_conn_ensure(s->qc, 0, stopped, (void *)stop, &e) != 0) goto retry; /* backs off */
        if (lead(s, &e) != 0) goto retry;
        if (s->fence) {
            int64_t now = sv_now_ms(s->clock), last = 0;
            int64_t due = cron_prev(&s->cron, now);
            if (last_tick(s, &last, &e) != 0) goto retry;
            if (due > 0 && due > last) {
                json_t *sum = NULL;
                if (pending) {
                    long long open = poll_states(s, &e);
                    if (open < 0) goto retry;
                    if (open > 0)
                        log_warn(NULL, NULL, "scheduler: a new tick is due while %lld jobs of the "
                                             "previous one are unfinished; evaluating what ended", open);
                    if (evaluate(s, pending, open > 0, &e) != 0) goto retry;
                    json_decref(pending);
                    pending = NULL;
                }
                if (sched_run_tick(s, due, NULL, &sum, &e) != 0) goto retry;
                pending = sum;
                next_poll = sv_mono_ms(s->clock) + 5 * POLL_MS;
                if (sched_mark_tick(s, due, true, &e) != 0) {
                    log_warn(NULL, NULL, "scheduler: %s", e.msg);
                    s->fence = 0;
                }
            }
        }
        dirty_more = false;
        if (s->fence && dirty_poll > 0) { /* only the leader drains */
            sched_dirty_stats ds;
            if (sched_drain_dirty(s, sv_now_ms(s->clock), &ds, &e) != 0) goto retry;
            dirty_more = ds.more;
        }
        if (pending && sv_mono_ms(s->clock) >= next_poll) {
            long long open = poll_states(s, &e);
            if (open < 0) goto retry;
            if (open == 0) {
                if (evaluate(s, pending, false, &e) != 0) goto retry;
                json_decref(pending);
                pending = NULL;
                jobs_clear(s);
            }
            next_poll = sv_mono_ms(s->clock) + 5 * POLL_MS;
        }
        failures = 0;
        {
            int64_t now = sv_now_ms(s->clock);
            int64_t wait = s->fence ? lease / 3 : follow_every;
            int64_t next = cron_next(&s->cron, now);
            if (next > 0 && next - now < wait) wait = next - now;
            if (pending && wait > 5 * POLL_MS) wait = 5 * POLL_MS;
            if (s->fence && dirty_poll > 0 && wait > dirty_poll) wait = dirty_poll;
            if (dirty_more) wait = 0; /* more of the dirty set is due: drain on */
            nap(s, wait < 10 ? 10 : wait, stop);
        }
        continue;
    retry:
        failures++;
        log_warn(NULL, NULL, "scheduler: %s%s%s", e.msg, e.hint[0] ? "; HINT: " : "", e.hint);
        /* A lost connection is backed off by queue_conn_ensure; other errors
         * (a refused command, an unreadable DATA_DIR) are paced here. */
        if (!queue_conn_broken(s->qc))
            nap(s, sv_backoff_ms(s->clock, failures < 6 ? failures : 6, QC_BACKOFF_BASE_MS, QC_BACKOFF_MAX_MS), stop);
    }
    unlead(s);
    json_decref(pending);
    log_info(NULL, NULL, "scheduler: %s stopped", s->owner);
    (void)err;
    return 0;
}
