/* pool.c -- the worker pool: job threads, the housekeeping thread, signals.
 *
 * Each job thread owns one Redis connection and one store. Its loop: claim a
 * job (one FCALL, interactive before scheduled), run the job body, complete
 * (one FCALL); when nothing is runnable it blocks on the pools' wake lists
 * (BLPOP, at most 1 s so a stop is noticed). The housekeeping thread sends one
 * tick per pool every min(lease/3, 1 s): it renews the leases of the jobs
 * running here, learns which of them were lost or asked to cancel, requeues
 * other workers' stalled jobs and promotes due retries.
 *
 * Losing Redis: every thread reconnects with backoff and carries on. A job
 * keeps running while its lease may still be valid; once no renewal has
 * succeeded for a whole lease the job is told to stop (another worker may own
 * it now), and it is handed back (release) when Redis returns. A finished
 * job's completion is retried until Redis answers.
 *
 * SIGTERM/SIGINT: stop claiming; running jobs get cfg->grace_ms to finish;
 * after that they are cancelled and released for another worker; exit 0.
 *
 * THREAD SAFETY NOTES: a job thread writes its slot's job fields under
 * wp->mu when a job starts and ends; the housekeeping thread copies them
 * under wp->mu and sends the tick without the lock, then applies the answer
 * under wp->mu again, only to slots still running the same job id with the
 * same lease token (never by slot position alone: the slot may have moved
 * on to the next job while the tick was in flight). lost, cancel_req and
 * renewed_mono are atomics written by housekeeping and read by the job
 * thread's cancelled() callback. Redis connections and stores are never
 * shared between threads. */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "log.h"
#include "replica.h"
#include "metrics/metrics.h"
#include "queue.h"
#include "store.h"
#include "util.h"
#include "worker/worker.h"

#define PROGRESS_EVERY_MS 1000
#define WSN(ws) ((ws)[0] ? (ws) : NULL) /* workspace for logs: NULL when none */

typedef struct worker_pool worker_pool;

typedef struct slot {
    worker_pool *wp;
    int idx;
    pthread_t th;
    queue_conn *conn;
    store_t *store;
    /* the running job: written under wp->mu */
    bool busy;
    char id[130], token[40], ws[130];
    int64_t fence;          /* the attempt's workspace-lock fence (owns the pause flag) */
    size_t pool;
    bool paused;
    /* set by housekeeping */
    _Atomic bool lost, cancel_req;
    _Atomic int64_t renewed_mono;
    /* progress rate limit (job thread only) */
    int64_t last_progress;
    uint64_t rt_start;
} slot;

struct worker_pool {
    const sv_config *cfg;
    const sv_clock *clock;
    char worker_id[128];
    char **bases;
    size_t nbases;
    int nthreads;
    slot *slots;
    pthread_t hk;
    queue_conn *hk_conn;  /* the housekeeping thread's */
    pthread_mutex_t mu;
    int running_jobs;     /* under mu */
    int threads_alive;    /* under mu */
    _Atomic bool stopping, past_grace, hk_stop;
    _Atomic uint64_t job_rt;  /* round trips attributed to jobs */
    int64_t retry_base_ms, retry_max_ms;
};

/* Sleeps up to ms in small steps, returning early once the pool stops. */
static void nap(worker_pool *wp, int64_t ms)
{
    while (ms > 0 && !atomic_load(&wp->stopping)) {
        int64_t step = ms < 100 ? ms : 100;
        sv_sleep_ms(wp->clock, step);
        ms -= step;
    }
}

/* queue_conn_ensure stop conditions: the pool stops claiming / is past
 * its grace period. */
static bool pool_stopping(void *ud) { return atomic_load(&((worker_pool *)ud)->stopping); }
static bool pool_past_grace(void *ud) { return atomic_load(&((worker_pool *)ud)->past_grace); }

/* Makes sure the slot's connection is up (queue_conn_ensure: reconnect with
 * the queue's backoff); -1 if the pool stops first, or with until_grace, once
 * the pool is past its grace period (a running job keeps trying until then). */
static int ensure_conn(worker_pool *wp, queue_conn *c, bool until_grace)
{
    sv_err err;
    return queue_conn_ensure(c, 0, until_grace ? pool_past_grace : pool_stopping, wp, &err);
}

/* job_ctx callback: progress, written to Redis at most once a second. */
static void cb_progress(void *ud, const char *stage, uint64_t done, uint64_t total)
{
    slot *s = ud;
    worker_pool *wp = s->wp;
    int64_t now = sv_mono_ms(wp->clock);
    bool ok;
    sv_err err;
    if (now - s->last_progress < PROGRESS_EVERY_MS) return;
    s->last_progress = now;
    if (queue_conn_broken(s->conn)) return;
    if (queue_progress(s->conn, wp->bases[s->pool], s->id, s->token, stage, done, total, &ok, &err) != 0)
        log_debug(s->id, s->ws, "progress not written: %s", err.msg);
    else if (!ok)
        atomic_store(&s->lost, true);
}

/* job_ctx callback: true when the job must stop now. */
static bool cb_cancelled(void *ud)
{
    slot *s = ud;
    worker_pool *wp = s->wp;
    if (atomic_load(&s->lost) || atomic_load(&s->cancel_req) || atomic_load(&wp->past_grace)) return true;
    /* No renewal for a whole lease: another worker may have taken the job. */
    return sv_mono_ms(wp->clock) - atomic_load(&s->renewed_mono) > wp->cfg->lease_ms;
}

/* The lease confirmed at a commit point: a renewal (commit false), or the
 * job's commit record read or stored once with the lease renewed in the
 * same call (commit true; *existing as queue_commit). SV_ELEASE if another
 * worker owns the job. */
static int lease_call(slot *s, bool commit, const char *record, char **existing, sv_err *err)
{
    worker_pool *wp = s->wp;
    int64_t sent = sv_mono_ms(wp->clock);
    bool ok = false;
    int r;
    if (ensure_conn(wp, s->conn, true) != 0)
        return sv_err_set(err, SV_EUNREACH, "redis unreachable: cannot confirm the lease before committing");
    if (commit)
        r = queue_commit(s->conn, wp->bases[s->pool], s->id, s->token, wp->cfg->lease_ms, record, &ok, existing, err);
    else
        r = queue_renew(s->conn, wp->bases[s->pool], s->id, s->token, wp->cfg->lease_ms, &ok, err);
    if (r != 0) return -1;
    if (!ok) {
        atomic_store(&s->lost, true);
        return sv_err_set(err, SV_ELEASE, "lease lost: another worker owns the job now");
    }
    atomic_store(&s->renewed_mono, sent);
    return 0;
}

/* job_ctx callback: renews the lease now, before a commit point. */
static int cb_fence(void *ud, sv_err *err) { return lease_call(ud, false, NULL, NULL, err); }

/* job_ctx callback: the job's commit record (read, or store once). */
static int cb_commit(void *ud, const char *record, char **existing, sv_err *err)
{
    *existing = NULL;
    return lease_call(ud, true, record, existing, err);
}

/* job_ctx callback: a workspace's lock for a job without a workspace. */
static int cb_ws_lock(void *ud, const char *ws, bool on, bool *got, sv_err *err)
{
    slot *s = ud;
    int r = 0;
    *got = false;
    if (ensure_conn(s->wp, s->conn, true) != 0)
        return sv_err_set(err, SV_EUNREACH, "redis unreachable: workspace lock of %s", ws);
    if (queue_wslock(s->conn, s->wp->bases[s->pool], s->id, s->token, ws, on, &r, err) != 0) return -1;
    if (r < 0) {
        atomic_store(&s->lost, true);
        return sv_err_set(err, SV_ELEASE, "lease lost: another worker owns the job now");
    }
    *got = r == 1;
    return 0;
}

/* job_ctx callback: emits a job event (refused without the lease). */
static int cb_emit(void *ud, const char *event, json_t *data, sv_err *err)
{
    slot *s = ud;
    bool ok;
    if (ensure_conn(s->wp, s->conn, true) != 0)
        return sv_err_set(err, SV_EUNREACH, "redis unreachable: event %s not sent", event);
    if (queue_emit(s->conn, s->wp->bases[s->pool], s->id, s->token, event, data, &ok, err) != 0) return -1;
    if (!ok) {
        atomic_store(&s->lost, true);
        return sv_err_set(err, SV_ELEASE, "lease lost: event %s not sent", event);
    }
    return 0;
}

/* The pause flag's TTL: a few leases, renewed by every housekeeping tick,
 * so a flag whose worker died lapses soon after its lease does. */
static int64_t pause_ttl_ms(const worker_pool *wp)
{
    return wp->cfg->lease_ms * 3 > 15000 ? wp->cfg->lease_ms * 3 : 15000;
}

/* job_ctx callback: sets or clears the workspace pause flag, owned by this
 * attempt (lease token + fence); SV_ELEASE when a newer attempt holds it. */
static int cb_set_pause(void *ud, bool on, sv_err *err)
{
    slot *s = ud;
    worker_pool *wp = s->wp;
    queue_pause_owner o = {.ws = s->ws, .job_id = s->id, .token = s->token, .fence = s->fence};
    bool ok = false;
    if (!s->ws[0]) return sv_err_set(err, SV_EINVAL, "job has no workspace to pause");
    if (ensure_conn(wp, s->conn, true) != 0)
        return sv_err_set(err, SV_EUNREACH, "redis unreachable: pause flag not changed");
    if (on ? queue_pause_set(s->conn, wp->cfg, &o, pause_ttl_ms(wp), &ok, err)
           : queue_pause_clear(s->conn, wp->cfg, &o, &ok, err))
        return -1;
    if (on || ok) {
        pthread_mutex_lock(&wp->mu);
        s->paused = on && ok;
        pthread_mutex_unlock(&wp->mu);
    }
    if (!ok) {
        atomic_store(&s->lost, true);
        return sv_err_set(err, SV_ELEASE, "the pause flag of workspace '%s' belongs to a newer attempt (this "
                          "worker lost the job)", s->ws);
    }
    return 0;
}

/* job_ctx callback: live listeners of the workspace and their acks. */
static int cb_pause_acks(void *ud, int *live, int *acked, sv_err *err)
{
    slot *s = ud;
    if (ensure_conn(s->wp, s->conn, true) != 0)
        return sv_err_set(err, SV_EUNREACH, "redis unreachable: pause acknowledgements unknown");
    return queue_pause_acks(s->conn, s->wp->cfg, s->ws, s->id, live, acked, err);
}

/* job_ctx callback: records a value on the job once (first attempt wins). */
static int cb_pin(void *ud, const char *name, const char *value, char **out, sv_err *err)
{
    slot *s = ud;
    bool ok = false;
    if (ensure_conn(s->wp, s->conn, true) != 0)
        return sv_err_set(err, SV_EUNREACH, "redis unreachable: cannot record the job's %s", name);
    if (queue_pin(s->conn, s->wp->bases[s->pool], s->id, s->token, name, value, out, &ok, err) != 0) return -1;
    if (!ok) {
        atomic_store(&s->lost, true);
        return sv_err_set(err, SV_ELEASE, "lease lost: the job's %s was not recorded", name);
    }
    return 0;
}

/* A replicate job's attempts: with SQLVAULT_RETRY_BASE doubling up to 5
 * minutes, about an hour of retries at the default 1 s, so a replica store
 * away for a while is caught up by the job itself, not only by the
 * workspace's next backup (which may be hours later). */
#define REPLICATE_ATTEMPTS 20

/* job_ctx callback: enqueues a follow-up job of the workspace into this
 * job's pool (job.h), deduped by id. */
static int cb_enqueue(void *ud, const char *type, const char *id, json_t *opts, sv_err *err)
{
    slot *s = ud;
    char *buf = NULL, state[16] = "";
    size_t len = 0;
    bool created = false;
    int rc;
    queue_job_spec spec = {.id = id, .type = type, .workspace = s->ws,
                           .priority = job_default_priority(type, json_string_value(json_object_get(opts, "reason"))),
                           .max_attempts = strcmp(type, "replicate") == 0 && s->wp->cfg->max_attempts < REPLICATE_ATTEMPTS
                                               ? REPLICATE_ATTEMPTS
                                               : s->wp->cfg->max_attempts,
                           .reason = json_string_value(json_object_get(opts, "reason"))};
    if (ensure_conn(s->wp, s->conn, true) != 0)
        return sv_err_set(err, SV_EUNREACH, "redis unreachable: job %s not enqueued", id);
    if (queue_opts_pack(opts, &buf, &len, err) != 0) return -1;
    spec.opts = buf;
    spec.opts_len = len;
    rc = queue_enqueue(s->conn, s->wp->bases[s->pool], &spec, &created, state, sizeof state, err);
    free(buf);
    if (rc == 0)
        log_info(s->id, WSN(s->ws), "follow-up %s job %s %s (%s)", type, id, created ? "enqueued" : "already enqueued",
                 state);
    return rc;
}

/* Waits until every live listener of the job's workspace acked this job (or
 * timeout_ms passed, or the job must stop): the backup quiesce's wait. */
static int cb_await_acks(void *ud, int64_t timeout_ms, int *listeners, bool *acked, sv_err *err)
{
    slot *s = ud;
    worker_pool *wp = s->wp;
    int live = 0, nack = 0;
    if (!s->ws[0]) return sv_err_set(err, SV_EINVAL, "job has no workspace");
    for (int64_t t0 = sv_mono_ms(wp->clock);;) {
        if (ensure_conn(wp, s->conn, true) != 0) return sv_err_set(err, SV_EUNREACH, "redis unreachable");
        if (queue_listener_acks(s->conn, wp->cfg, s->ws, s->id, sv_now_ms(wp->clock), &live, &nack, err) != 0)
            return -1;
        if (live == 0 || nack >= live || sv_mono_ms(wp->clock) - t0 >= timeout_ms || cb_cancelled(s)) break;
        sv_sleep_ms(wp->clock, 50);
    }
    if (listeners) *listeners = live;
    if (acked) *acked = live > 0 && nack >= live;
    return 0;
}

/* job_ctx callback: the backup quiesce of a LiveStore store (job.h). */
static int cb_quiesce(void *ud, bool on, int64_t timeout_ms, int *listeners, bool *acked, sv_err *err)
{
    slot *s = ud;
    worker_pool *wp = s->wp;
    json_t *data;
    int rc;
    if (!s->ws[0]) return sv_err_set(err, SV_EINVAL, "job has no workspace to quiesce");
    if (ensure_conn(wp, s->conn, true) != 0)
        return sv_err_set(err, SV_EUNREACH, "redis unreachable: quiesce flag not changed");
    if (queue_set_quiesce(s->conn, wp->cfg, s->ws, s->id, on, timeout_ms + 4 * wp->cfg->lease_ms, err) != 0)
        return -1;
    data = json_pack("{s:s, s:s}", "job", s->id, "workspace", s->ws);
    rc = cb_emit(s, on ? "backup.quiesce" : "backup.resume", data, err);
    json_decref(data);
    if (rc != 0 || !on) return rc;
    return cb_await_acks(s, timeout_ms, listeners, acked, err);
}

/* On a second or later attempt of a backup or export, aborts the multipart
 * uploads earlier attempts left (each wrote under its own snapshot-time
 * folder). Everything open under full/WS/ is an earlier attempt's: backups,
 * exports and restores of a workspace hold its lock exclusively, and the lock
 * belongs to the job across takeovers. */
static void abort_leftovers(slot *s, const queue_job *j);

typedef struct upload_list {
    store_t *st;
    int n;
} upload_list;

/* store_upload_fn: aborts one unfinished upload. */
static int abort_one(void *ud, const store_upload *u, sv_err *err)
{
    upload_list *l = ud;
    sv_err e2;
    (void)err;
    if (store_abort_upload(l->st, u->key, u->upload_id, &e2) == 0) l->n++;
    return 0;
}

static void abort_leftovers(slot *s, const queue_job *j)
{
    upload_list l = {s->store, 0};
    sv_err err;
    if (j->attempt < 2 || !j->workspace[0]) return;
    if (strcmp(j->type, "backup") != 0 && strcmp(j->type, "export") != 0) return;
    char *prefixes[2] = {sv_asprintf("full/%s/", j->workspace), sv_asprintf("exports/%s/%s/", j->workspace, j->id)};
    for (int i = 0; i < 2; i++) {
        if (!prefixes[i]) continue;
        if (store_list_uploads(s->store, prefixes[i], abort_one, &l, &err) != 0)
            log_debug(j->id, WSN(j->workspace), "listing earlier uploads: %s", err.msg);
    }
    if (l.n) log_info(j->id, WSN(j->workspace), "aborted %d unfinished upload(s) of an earlier attempt", l.n);
    free(prefixes[0]);
    free(prefixes[1]);
}

/* Looks up a job body: test jobs first (when enabled), then the real ones. */
static job_fn find_body(const sv_config *cfg, const char *type)
{
    job_fn fn = testjobs_lookup(cfg, type);
    return fn ? fn : job_lookup(type);
}

/* Runs the body of a claimed job; fills *result or err. */
static int run_body(slot *s, queue_job *j, json_t **result, sv_err *err)
{
    worker_pool *wp = s->wp;
    json_t *opts = NULL;
    job_fn fn = find_body(wp->cfg, j->type);
    job_ctx ctx = {0};
    int rc = -1;

    if (!fn) return sv_err_set(err, SV_EINVAL, "unknown job type '%s'", j->type);
    if (j->workspace[0] && sv_check_workspace(j->workspace, err) != 0) return -1;
    if (queue_opts_unpack(j->opts, j->opts_len, &opts, err) != 0) return -1;
    if (!s->store && store_open(wp->cfg, wp->clock, &s->store, err) != 0) goto done;
    abort_leftovers(s, j);
    ctx.cfg = wp->cfg;
    ctx.clock = wp->clock;
    ctx.store = s->store;
    ctx.job_id = j->id;
    ctx.type = j->type;
    ctx.workspace = j->workspace[0] ? j->workspace : NULL;
    ctx.attempt = j->attempt;
    ctx.opts = opts;
    ctx.queued = true;
    ctx.progress = cb_progress;
    ctx.cancelled = cb_cancelled;
    ctx.fence = cb_fence;
    ctx.commit = cb_commit;
    ctx.ws_lock = cb_ws_lock;
    ctx.emit = cb_emit;
    ctx.set_pause = cb_set_pause;
    ctx.pause_acks = cb_pause_acks;
    ctx.pin = cb_pin;
    ctx.quiesce = cb_quiesce;
    ctx.enqueue = cb_enqueue;
    ctx.ud = s;
    rc = fn(&ctx, result, err);
    if (rc == 0 && !*result) *result = json_object();
done:
    json_decref(opts);
    return rc;
}

/* What to do with a finished attempt. */
typedef enum { END_COMPLETE, END_RELEASE, END_DROP } end_kind;

/* After a verify succeeded: records the workspace's newest verified backup
 * for /metrics (best effort). */
static void note_verified(slot *s, const queue_job *j, json_t *result)
{
    int64_t ms;
    sv_err err;
    const char *ts = json_string_value(json_object_get(result, "ts"));
    if (strcmp(j->type, "verify") != 0 || !j->workspace[0] || !ts || sv_ts_parse(ts, &ms) != 0) return;
    if (queue_note_verified(s->conn, s->wp->cfg, j->workspace, ms, &err) != 0)
        log_debug(j->id, j->workspace, "verified backup not recorded: %s", err.msg);
}

/* With replica stores (replica.h): after a backup committed a new backup,
 * marks the workspace behind in each replica; after a replicate job, clears
 * what it brought each replica up to. For /metrics' replication lag (best
 * effort: a mark that fails only hides lag until the next backup's). */
static void note_replicas(slot *s, const queue_job *j, json_t *result)
{
    const sv_config *cfg = s->wp->cfg;
    sv_err err;
    if (!cfg->replicas || !j->workspace[0]) return;
    if (strcmp(j->type, "backup") == 0) {
        replica_set rs;
        int64_t ms;
        const char *ts = json_string_value(json_object_get(result, "ts"));
        if (json_is_true(json_object_get(result, "unchanged"))) return;
        if (!ts || sv_ts_parse(ts, &ms) != 0 || replica_parse(cfg, &rs, &err) != 0) return;
        for (size_t i = 0; i < rs.n; i++)
            if (queue_replica_mark(s->conn, cfg, rs.r[i].name, j->workspace, ms, &err) != 0)
                log_debug(j->id, j->workspace, "replica %s lag not recorded: %s", rs.r[i].name, err.msg);
        replica_set_free(&rs);
    } else if (strcmp(j->type, "replicate") == 0) {
        const char *name;
        json_t *o;
        json_object_foreach(json_object_get(result, "stores"), name, o) {
            int64_t ms;
            const char *upto = json_string_value(json_object_get(o, "upTo"));
            if (!upto || sv_ts_parse(upto, &ms) != 0) continue;
            if (queue_replica_done(s->conn, cfg, name, j->workspace, ms, &err) != 0)
                log_debug(j->id, j->workspace, "replica %s lag not cleared: %s", name, err.msg);
        }
    }
}

/* Reports an attempt's end, retrying across Redis outages. */
static void finish(slot *s, queue_job *j, int rc, json_t *result, sv_err *jerr, int64_t t0)
{
    worker_pool *wp = s->wp;
    char *payload = NULL, state[16] = "";
    queue_outcome o = QUEUE_DONE_OK;
    const char *code = "";
    int64_t retry_ms = -1;
    end_kind kind = END_COMPLETE;
    double secs = (double)(sv_mono_ms(wp->clock) - t0) / 1000.0;

    if (rc == 0) {
        payload = json_dumps(result, JSON_COMPACT);
    } else if (atomic_load(&s->lost)) {
        kind = END_DROP;
    } else if (atomic_load(&s->cancel_req)) {
        o = QUEUE_DONE_CANCEL;
        payload = sv_strdup("cancelled on request");
    } else if (jerr->code == SV_ELEASE || jerr->code == SV_ECANCEL || atomic_load(&wp->past_grace) ||
               cb_cancelled(s)) {
        kind = END_RELEASE;
    } else {
        o = QUEUE_DONE_FAIL;
        code = sv_code_name(jerr->code);
        payload = jerr->hint[0] ? sv_asprintf("%s (hint: %s)", jerr->msg, jerr->hint) : sv_strdup(jerr->msg);
        if (sv_code_retryable(jerr->code))
            retry_ms = sv_backoff_ms(wp->clock, j->attempt - 1, wp->retry_base_ms, wp->retry_max_ms);
    }
    if (kind == END_DROP) {
        log_warn(j->id, WSN(j->workspace), "lease lost: attempt %d abandoned (%s)", j->attempt,
                 rc == 0 ? "finished" : jerr->msg);
        metrics_job_done(j->type, "lease_lost", secs);
        goto done;
    }
    for (;;) {
        bool ok = false;
        sv_err err;
        int r;
        if (ensure_conn(wp, s->conn, true) != 0) {
            log_warn(j->id, WSN(j->workspace), "redis unreachable past the grace period: job left to be "
                                          "taken over after its lease");
            goto done;
        }
        if (kind == END_RELEASE) {
            r = queue_release(s->conn, wp->bases[s->pool], j->id, j->token, &ok, &err);
        } else {
            uint64_t rt = queue_conn_round_trips(s->conn) - s->rt_start + 1;
            r = queue_complete(s->conn, wp->bases[s->pool], j->id, j->token, o, payload, code, retry_ms,
                               rt, &ok, state, &err);
            if (r == 0) atomic_fetch_add(&wp->job_rt, rt);
        }
        if (r == 0) {
            if (!ok)
                log_warn(j->id, WSN(j->workspace), "%s refused: this worker lost the lease (attempt %d)",
                         kind == END_RELEASE ? "release" : "completion", j->attempt);
            else if (kind == END_RELEASE)
                log_info(j->id, WSN(j->workspace), "job released for another worker");
            else if (rc == 0)
                log_info(j->id, WSN(j->workspace), "job %s succeeded in %.3f s", j->type, secs);
            else
                log_warn(j->id, WSN(j->workspace), "job %s attempt %d/%d %s: %s", j->type, j->attempt,
                         j->max_attempts, state, payload ? payload : "");
            metrics_job_done(j->type, !ok ? "lease_lost" : kind == END_RELEASE ? "released" : state, secs);
            if (ok && kind == END_COMPLETE && rc == 0) {
                note_verified(s, j, result);
                note_replicas(s, j, result);
            }
            goto done;
        }
        if (err.code != SV_EUNREACH) {
            log_error(j->id, WSN(j->workspace), "completing the job: %s", err.msg);
            goto done;
        }
        /* the connection is broken now: ensure_conn backs off, then reconnects */
    }
done:
    free(payload);
}

/* Claims from each pool in order; 1 with a job, 0 with none, -1 on error. */
static int claim_any(slot *s, queue_job *j)
{
    worker_pool *wp = s->wp;
    for (size_t p = 0; p < wp->nbases; p++) {
        bool got = false;
        sv_err err;
        uint64_t before = queue_conn_round_trips(s->conn);
        sv_random_id(wp->clock, j->token);
        if (queue_claim(s->conn, wp->bases[p], wp->worker_id, wp->cfg->lease_ms, j, &got, &err) != 0) {
            if (err.code != SV_EUNREACH) log_error(NULL, NULL, "claiming a job: %s", err.msg);
            return -1;
        }
        if (got) {
            s->rt_start = before;
            s->pool = p;
            return 1;
        }
    }
    return 0;
}

/* A job thread. */
static void *job_thread(void *arg)
{
    slot *s = arg;
    worker_pool *wp = s->wp;
    queue_job j;
    memset(&j, 0, sizeof j);
    while (!atomic_load(&wp->stopping)) {
        json_t *result = NULL;
        sv_err err;
        int rc, got;
        int64_t t0;
        if (ensure_conn(wp, s->conn, false) != 0) break;
        got = claim_any(s, &j);
        if (got < 0) {
            nap(wp, 200);
            continue;
        }
        if (got == 0) {
            if (queue_wait_wake(s->conn, wp->bases, wp->nbases, 1000, &err) != 0 && err.code != SV_EUNREACH)
                nap(wp, 500);
            continue;
        }
        t0 = sv_mono_ms(wp->clock);
        s->last_progress = t0;
        pthread_mutex_lock(&wp->mu);
        /* Reset with the job fields, under wp->mu: housekeeping applies a
         * tick's answer only to the job (id + token) it asked about. */
        atomic_store(&s->lost, false);
        atomic_store(&s->cancel_req, false);
        atomic_store(&s->renewed_mono, t0);
        snprintf(s->id, sizeof s->id, "%s", j.id);
        snprintf(s->token, sizeof s->token, "%s", j.token);
        snprintf(s->ws, sizeof s->ws, "%s", j.workspace);
        s->fence = j.fence;
        s->paused = false;
        s->busy = true;
        wp->running_jobs++;
        pthread_mutex_unlock(&wp->mu);
        log_info(j.id, WSN(j.workspace), "job %s started (attempt %d/%d)", j.type, j.attempt, j.max_attempts);

        sv_err_clear(&err);
        rc = run_body(s, &j, &result, &err);
        if (s->paused) {  /* a body that failed with the flag set: clear it */
            sv_err e2;
            if (cb_set_pause(s, false, &e2) != 0) log_warn(j.id, WSN(j.workspace), "pause flag: %s", e2.msg);
        }
        finish(s, &j, rc, result, &err, t0);
        json_decref(result);

        pthread_mutex_lock(&wp->mu);
        s->busy = false;
        wp->running_jobs--;
        pthread_mutex_unlock(&wp->mu);
    }
    queue_job_clear(&j);
    pthread_mutex_lock(&wp->mu);
    wp->threads_alive--;
    pthread_mutex_unlock(&wp->mu);
    return NULL;
}

/* One housekeeping round for every pool. */
static void hk_round(worker_pool *wp, queue_conn *conn, uint64_t *overhead_sent)
{
    int n = wp->nthreads;
    const char **ids = calloc((size_t)n + 1, sizeof *ids), **toks = calloc((size_t)n + 1, sizeof *toks);
    char (*idbuf)[130] = calloc((size_t)n + 1, sizeof *idbuf), (*tokbuf)[40] = calloc((size_t)n + 1, sizeof *tokbuf);
    struct { char ws[130], id[130], token[40]; } *pausebuf = calloc((size_t)n + 1, sizeof *pausebuf);
    int *which = calloc((size_t)n + 1, sizeof *which);
    bool *lost = calloc((size_t)n + 1, sizeof *lost), *cancel = calloc((size_t)n + 1, sizeof *cancel);
    int npause = 0;
    if (!ids || !toks || !idbuf || !tokbuf || !pausebuf || !which || !lost || !cancel) goto done;
    for (size_t p = 0; p < wp->nbases; p++) {
        size_t k = 0;
        sv_err err;
        int64_t sent = sv_mono_ms(wp->clock);
        uint64_t total, overhead;
        pthread_mutex_lock(&wp->mu);
        for (int i = 0; i < n; i++) {
            slot *s = &wp->slots[i];
            if (!s->busy || s->pool != p) continue;
            memcpy(idbuf[k], s->id, sizeof idbuf[k]);
            memcpy(tokbuf[k], s->token, sizeof tokbuf[k]);
            ids[k] = idbuf[k];
            toks[k] = tokbuf[k];
            which[k++] = i;
            if (s->paused) {
                memcpy(pausebuf[npause].ws, s->ws, sizeof s->ws);
                memcpy(pausebuf[npause].id, s->id, sizeof s->id);
                memcpy(pausebuf[npause++].token, s->token, sizeof s->token);
            }
        }
        pthread_mutex_unlock(&wp->mu);
        total = queue_round_trips();
        overhead = total - atomic_load(&wp->job_rt);
        if (overhead < *overhead_sent) overhead = *overhead_sent;
        if (queue_tick(conn, wp->bases[p], wp->worker_id, wp->cfg->lease_ms, overhead - *overhead_sent + 1,
                       ids, toks, k, lost, cancel, &err) != 0) {
            log_warn(NULL, NULL, "housekeeping: %s", err.msg);
            goto done;
        }
        *overhead_sent = overhead + 1;
        /* The answers are about the jobs the tick named. A slot may have
         * finished that job and started another since: act only where the
         * slot still runs the same job id under the same lease token, and
         * decide that under wp->mu, which the job thread holds when it
         * switches jobs. */
        pthread_mutex_lock(&wp->mu);
        for (size_t i = 0; i < k; i++) {
            slot *s = &wp->slots[which[i]];
            bool warn = false;
            if (!s->busy || strcmp(s->id, ids[i]) != 0 || strcmp(s->token, toks[i]) != 0) continue;
            if (lost[i]) warn = !atomic_exchange(&s->lost, true);
            else atomic_store(&s->renewed_mono, sent);
            if (cancel[i]) atomic_store(&s->cancel_req, true);
            if (warn) log_warn(ids[i], NULL, "heartbeat refused: the lease was lost (another worker owns the job)");
        }
        pthread_mutex_unlock(&wp->mu);
    }
    metrics_redis_ok(); /* every pool ticked: /readyz sees Redis as reachable */
    for (int i = 0; i < npause; i++) {
        sv_err err;
        queue_pause_owner o = {.ws = pausebuf[i].ws, .job_id = pausebuf[i].id, .token = pausebuf[i].token};
        if (queue_pause_touch(conn, wp->cfg, &o, pause_ttl_ms(wp), &err) != 0)
            log_warn(pausebuf[i].id, pausebuf[i].ws, "extending the pause flag: %s", err.msg);
    }
done:
    free(ids); free(toks); free(idbuf); free(tokbuf); free(pausebuf); free(which); free(lost); free(cancel);
}

/* queue_conn_ensure stop condition of the housekeeping thread. */
static bool hk_stopping(void *ud) { return atomic_load(&((worker_pool *)ud)->hk_stop); }

/* The housekeeping thread. */
static void *hk_thread(void *arg)
{
    worker_pool *wp = arg;
    queue_conn *conn = wp->hk_conn;
    int64_t every = wp->cfg->lease_ms / 3 < 1000 ? wp->cfg->lease_ms / 3 : 1000;
    uint64_t overhead_sent = 0;
    while (!atomic_load(&wp->hk_stop)) {
        int64_t t0 = sv_mono_ms(wp->clock), left;
        sv_err err;
        if (queue_conn_ensure(conn, t0 + every, hk_stopping, wp, &err) != 0) continue;
        hk_round(wp, conn, &overhead_sent);
        left = every - (sv_mono_ms(wp->clock) - t0);
        while (left > 0 && !atomic_load(&wp->hk_stop)) {
            sv_sleep_ms(wp->clock, left < 50 ? left : 50);
            left -= 50;
        }
    }
    for (size_t p = 0; conn && !queue_conn_broken(conn) && p < wp->nbases; p++) {
        sv_err err;
        if (queue_worker_gone(conn, wp->bases[p], wp->worker_id, &err) != 0) break;
    }
    return NULL;
}

/* Prints an error and its hint to stderr; returns its exit code. */
static int print_fail(const sv_err *err)
{
    fprintf(stderr, "error: %s\n", err->msg);
    if (err->hint[0]) fprintf(stderr, "HINT: %s\n", err->hint);
    return sv_err_exit_code(err);
}

static void pool_free(worker_pool *wp, int started);

/* Snapshot of the pool for /metrics. */
static void probe(void *ud, metrics_pool_state *st)
{
    worker_pool *wp = ud;
    pthread_mutex_lock(&wp->mu);
    st->threads = wp->nthreads;
    st->running = wp->running_jobs;
    pthread_mutex_unlock(&wp->mu);
    st->round_trips = queue_round_trips();
}

/* Start-up: the pool's settings, bases and name, and a first connection
 * (a Redis that is not there at start-up fails fast with exit 3). Returns
 * 0, or the exit code with the error printed. */
static int pool_init(worker_pool *wp, const sv_config *cfg)
{
    char host[64] = "host", rnd[33];
    sv_err err;

    memset(wp, 0, sizeof *wp);
    wp->cfg = cfg;
    wp->clock = sv_clock_system();
    wp->nthreads = cfg->threads > 0 ? cfg->threads : 4;
    wp->retry_base_ms = cfg->retry_base_ms > 0 ? cfg->retry_base_ms : 1000; /* SQLVAULT_RETRY_BASE */
    wp->retry_max_ms = 300000;
    wp->bases = queue_pool_bases(cfg, cfg->pools, &wp->nbases);
    if (!wp->bases || wp->nbases == 0) {
        fprintf(stderr, "error: no pool to serve\nHINT: set SQLVAULT_POOLS or --pools a,b\n");
        queue_bases_free(wp->bases);
        return 2;
    }
    gethostname(host, sizeof host - 1);
    sv_random_id(wp->clock, rnd);
    snprintf(wp->worker_id, sizeof wp->worker_id, "%.60s:%d:%.6s", host, (int)getpid(), rnd);
    if (queue_conn_open(cfg, &wp->hk_conn, &err) != 0) {
        queue_bases_free(wp->bases);
        return print_fail(&err);
    }
    wp->slots = calloc((size_t)wp->nthreads, sizeof *wp->slots);
    for (int i = 0; wp->slots && i < wp->nthreads; i++) {
        wp->slots[i].wp = wp;
        wp->slots[i].idx = i;
        if (queue_conn_new(cfg, &wp->slots[i].conn, &err) != 0) break;
    }
    if (!wp->slots || !wp->slots[wp->nthreads - 1].conn) {
        fprintf(stderr, "error: out of memory\n");
        pool_free(wp, wp->nthreads);
        return 1;
    }
    pthread_mutex_init(&wp->mu, NULL);
    return 0;
}

/* Starts the housekeeping thread and the job threads; returns how many job
 * threads run. */
static int pool_start(worker_pool *wp)
{
    int started = 0;
    pthread_create(&wp->hk, NULL, hk_thread, wp);
    for (int i = 0; i < wp->nthreads; i++) {
        pthread_mutex_lock(&wp->mu);
        wp->threads_alive++;
        pthread_mutex_unlock(&wp->mu);
        if (pthread_create(&wp->slots[i].th, NULL, job_thread, &wp->slots[i]) != 0) {
            pthread_mutex_lock(&wp->mu);
            wp->threads_alive--;
            pthread_mutex_unlock(&wp->mu);
            break;
        }
        started++;
    }
    return started;
}

/* After the first signal: no new jobs; running jobs get the grace period,
 * then are cancelled (at once on a second signal) and handed back. Returns
 * when every job thread ended, or 10 s after the grace period. */
static void pool_drain(worker_pool *wp, sigset_t *set)
{
    struct timespec tick = {0, 100 * 1000 * 1000};
    int64_t deadline = sv_mono_ms(wp->clock) + wp->cfg->grace_ms;
    atomic_store(&wp->stopping, true);
    for (;;) {
        int alive, running;
        pthread_mutex_lock(&wp->mu);
        alive = wp->threads_alive;
        running = wp->running_jobs;
        pthread_mutex_unlock(&wp->mu);
        if (alive == 0) break;
        if (!atomic_load(&wp->past_grace) && (sv_mono_ms(wp->clock) >= deadline || running == 0)) {
            if (running) log_warn(NULL, NULL, "grace period over: cancelling %d running job(s)", running);
            atomic_store(&wp->past_grace, true);
            deadline = sv_mono_ms(wp->clock) + 10000; /* time to hand the jobs back */
        } else if (atomic_load(&wp->past_grace) && sv_mono_ms(wp->clock) >= deadline) {
            log_error(NULL, NULL, "%d thread(s) did not stop; exiting anyway", alive);
            break;
        }
        if (sigtimedwait(set, NULL, &tick) > 0 && !atomic_load(&wp->past_grace)) {
            log_warn(NULL, NULL, "second signal: cancelling running jobs now");
            deadline = 0;
        }
    }
}

/* Frees the slots (their connections and stores) and the bases; the
 * threads of the first `started` slots are joined first. */
static void pool_free(worker_pool *wp, int started)
{
    for (int i = 0; wp->slots && i < wp->nthreads; i++) {
        if (i < started) pthread_join(wp->slots[i].th, NULL);
        queue_conn_free(wp->slots[i].conn);
        store_free(wp->slots[i].store);
    }
    free(wp->slots);
    queue_conn_free(wp->hk_conn);
    queue_bases_free(wp->bases);
}

/* Runs the pool; see worker.h. */
int worker_run(const sv_config *cfg)
{
    worker_pool wp;
    sigset_t set;
    int started, rc, sig, alive;
    sv_err err;

    signal(SIGPIPE, SIG_IGN);
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    if ((rc = pool_init(&wp, cfg)) != 0) return rc;
    if (cfg->metrics_addr && metrics_start(cfg, probe, &wp, &err) != 0) {
        print_fail(&err);
        pool_free(&wp, 0);
        return 2;
    }
    started = pool_start(&wp);
    log_info(NULL, NULL, "worker %s started: %d thread(s), pools %s, lease %lld ms", wp.worker_id, started,
             cfg->pools ? cfg->pools : "default", (long long)cfg->lease_ms);

    do sig = sigwaitinfo(&set, NULL);
    while (sig < 0);
    log_info(NULL, NULL, "signal %d: no new jobs; running jobs get %lld ms to finish", sig,
             (long long)cfg->grace_ms);
    pool_drain(&wp, &set);
    atomic_store(&wp.hk_stop, true);
    pthread_join(wp.hk, NULL);
    pthread_mutex_lock(&wp.mu);
    alive = wp.threads_alive;
    pthread_mutex_unlock(&wp.mu);
    if (alive == 0) pool_free(&wp, started); /* else: threads still use it; the process exits */
    metrics_stop();
    log_info(NULL, NULL, "worker stopped");
    return 0;
}
