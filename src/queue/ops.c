/* ops.c -- the protocol's operations as C calls: one FCALL each.
 *
 * Each wraps one function of sqlvault.lua (see there and docs/PROTOCOL.md
 * for what it does atomically) and turns the reply into C values. A worker's
 * job costs two round trips when nothing goes wrong: claim and complete. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include "log.h"
#include "queue/internal.h"
#include "util.h"

/* Copies a reply element's string into dst (truncating), "" if not a string. */
static void reply_str(const redisReply *r, char *dst, size_t cap)
{
    size_t n = 0;
    if (r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS)) {
        n = r->len < cap - 1 ? r->len : cap - 1;
        memcpy(dst, r->str, n);
    } else if (r && r->type == REDIS_REPLY_INTEGER) {
        n = (size_t)snprintf(dst, cap, "%lld", r->integer);
        if (n >= cap) n = cap - 1;
    }
    dst[n] = '\0';
}

/* A reply element as an integer (integer or numeric string). */
static long long reply_int(const redisReply *r)
{
    if (!r) return 0;
    if (r->type == REDIS_REPLY_INTEGER) return r->integer;
    if (r->type == REDIS_REPLY_STRING) return strtoll(r->str, NULL, 10);
    return 0;
}

/* Fails with SV_EINTERNAL on an unexpected reply shape. */
static int bad_reply(redisReply *r, const char *what, sv_err *err)
{
    freeReplyObject(r);
    return sv_err_set(err, SV_EINTERNAL, "unexpected reply from %s", what);
}

/* The FCALL sqlvault_enqueue of one job; maxa is its buffer for max_attempts. */
static void enqueue_argv(const char *base, const queue_job_spec *j, char maxa[16], const char *argv[11],
                         size_t lens[11])
{
    snprintf(maxa, 16, "%d", j->max_attempts > 0 ? j->max_attempts : 5);
    argv[0] = "FCALL"; argv[1] = "sqlvault_enqueue"; argv[2] = "1"; argv[3] = base;
    argv[4] = j->id; argv[5] = j->type; argv[6] = j->workspace ? j->workspace : "";
    argv[7] = j->priority ? j->priority : "interactive"; argv[8] = maxa;
    argv[9] = j->opts ? j->opts : ""; argv[10] = j->reason ? j->reason : "";
    for (int i = 0; i < 11; i++) lens[i] = strlen(argv[i]);
    lens[9] = j->opts ? j->opts_len : 0;
}

/* Enqueue; see queue.h. */
int queue_enqueue(queue_conn *c, const char *base, const queue_job_spec *j, bool *created,
                  char *state, size_t state_cap, sv_err *err)
{
    char maxa[16];
    const char *argv[11];
    size_t lens[11];
    redisReply *r;
    enqueue_argv(base, j, maxa, argv, lens);
    r = qc_call(c, 11, argv, lens, err);
    if (!r) return -1;
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2) return bad_reply(r, "sqlvault_enqueue", err);
    *created = reply_int(r->element[0]) == 1;
    reply_str(r->element[1], state, state_cap);
    freeReplyObject(r);
    /* an enqueue that returned survives a failover (issue 13): a replica has it */
    return qc_wait_replica(c, "the enqueue", err);
}

/* One pipelined window of enqueues: 0, 1 when the library was missing (load
 * and send again), -1 with err. */
static int enqueue_window(queue_conn *c, const char *base, const queue_job_spec *jobs, size_t n, size_t *created,
                          size_t *existing, sv_err *err)
{
    size_t ok = 0, dup = 0;
    int rc = 0;
    bool nofn = false;
    for (size_t i = 0; i < n; i++) {
        char maxa[16];
        const char *argv[11];
        size_t lens[11];
        enqueue_argv(base, &jobs[i], maxa, argv, lens);
        if (qc_append(c, 11, argv, lens, err) != 0) return -1;
    }
    for (size_t i = 0; i < n; i++) {
        redisReply *r = qc_read(c, err);
        if (!r) return -1;
        if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 && r->element[0]->type == REDIS_REPLY_INTEGER) {
            if (r->element[0]->integer == 1) ok++;
            else dup++;
        } else if (r->type == REDIS_REPLY_ERROR && queue_conn_classify(r->str) == QC_ERR_NO_FUNCTION) {
            nofn = true;
        } else if (rc == 0) {
            rc = -1;
            if (r->type == REDIS_REPLY_ERROR) {
                qc_errclass k = queue_conn_classify(r->str);
                sv_err_set(err, queue_conn_err_code(k), "enqueueing %s: %.200s", jobs[i].id, r->str);
            } else {
                sv_err_set(err, SV_EINTERNAL, "enqueueing %s: unexpected reply", jobs[i].id);
            }
        }
        freeReplyObject(r);
    }
    if (created) *created += ok;
    if (existing) *existing += dup;
    if (rc == 0 && nofn) return 1;
    return rc;
}

/* Pipelined enqueue; see queue.h. */
int queue_enqueue_many(queue_conn *c, const char *base, const queue_job_spec *jobs, size_t n, size_t *created,
                       size_t *existing, sv_err *err)
{
    if (created) *created = 0;
    if (existing) *existing = 0;
    for (size_t from = 0; from < n; from += QUEUE_ENQUEUE_WINDOW) {
        size_t m = n - from < QUEUE_ENQUEUE_WINDOW ? n - from : QUEUE_ENQUEUE_WINDOW;
        int r = enqueue_window(c, base, jobs + from, m, created, existing, err);
        if (r == 1) { /* a Redis restarted without its functions: load them, send the window again */
            if (qc_load_functions(c, err) != 0) return -1;
            r = enqueue_window(c, base, jobs + from, m, created, existing, err);
        }
        if (r != 0) return r < 0 ? -1 : sv_err_set(err, SV_EINTERNAL, "the function library vanished twice");
    }
    /* one WAIT covers every write this connection made (issue 13) */
    return n ? qc_wait_replica(c, "the enqueues", err) : 0;
}

/* Frees a claimed job's buffers. */
void queue_job_clear(queue_job *j)
{
    if (!j) return;
    free(j->opts);
    j->opts = NULL;
    j->opts_len = 0;
}

/* Claim; see queue.h. */
int queue_claim(queue_conn *c, const char *base, const char *worker, int64_t lease_ms,
                queue_job *j, bool *got, sv_err *err)
{
    char lease[24];
    redisReply *r, *e;
    snprintf(lease, sizeof lease, "%" PRId64, lease_ms);
    *got = false;
    r = qc_callv(c, err, 7, (const char *[]){"FCALL", "sqlvault_claim", "1", base, worker, j->token, lease});
    if (!r) return -1;
    if (r->type == REDIS_REPLY_NIL) {
        freeReplyObject(r);
        return 0;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 8) return bad_reply(r, "sqlvault_claim", err);
    reply_str(r->element[0], j->id, sizeof j->id);
    reply_str(r->element[1], j->type, sizeof j->type);
    reply_str(r->element[2], j->workspace, sizeof j->workspace);
    j->attempt = (int)reply_int(r->element[3]);
    j->max_attempts = (int)reply_int(r->element[4]);
    e = r->element[5];
    free(j->opts);
    j->opts = NULL;
    j->opts_len = 0;
    if (e->type == REDIS_REPLY_STRING && e->len > 0) {
        j->opts = malloc(e->len);
        if (!j->opts) {
            freeReplyObject(r);
            return sv_err_set(err, SV_ENOMEM, "out of memory");
        }
        memcpy(j->opts, e->str, e->len);
        j->opts_len = e->len;
    }
    j->ts = reply_int(r->element[6]);
    j->fence = reply_int(r->element[7]);
    freeReplyObject(r);
    *got = true;
    return 0;
}

/* Complete; see queue.h. */
int queue_complete(queue_conn *c, const char *base, const char *id, const char *token,
                   queue_outcome o, const char *payload, const char *code, int64_t retry_ms,
                   uint64_t rt, bool *accepted, char *state, sv_err *err)
{
    char retry[24], rts[24];
    const char *outcome = o == QUEUE_DONE_OK ? "ok" : o == QUEUE_DONE_CANCEL ? "cancel" : "fail";
    redisReply *r;
    snprintf(retry, sizeof retry, "%" PRId64, retry_ms);
    snprintf(rts, sizeof rts, "%" PRIu64, rt);
    *accepted = false;
    r = qc_callv(c, err, 11, (const char *[]){"FCALL", "sqlvault_complete", "1", base, id, token, outcome,
                                              payload ? payload : "", code ? code : "", retry, rts});
    if (!r) return -1;
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2) return bad_reply(r, "sqlvault_complete", err);
    *accepted = reply_int(r->element[0]) == 1;
    if (state) reply_str(r->element[1], state, 16);
    freeReplyObject(r);
    if (*accepted && qc_wait_replica(c, "the completion", err) != 0) {
        /* written on the master; lost only if it fails before replicating,
         * and then the lease lapses and the job runs again (idempotent) */
        log_warn(id, NULL, "%s", err->msg);
        sv_err_clear(err);
    }
    return 0;
}

/* Sends a function that answers 1 (done) or 0 (lease lost). */
static int call_flag(queue_conn *c, int argc, const char **argv, bool *accepted, sv_err *err)
{
    redisReply *r = qc_callv(c, err, argc, argv);
    if (!r) return -1;
    *accepted = reply_int(r) == 1;
    freeReplyObject(r);
    return 0;
}

/* Progress; see queue.h. */
int queue_progress(queue_conn *c, const char *base, const char *id, const char *token,
                   const char *stage, uint64_t done, uint64_t total, bool *accepted, sv_err *err)
{
    char d[24], t[24];
    snprintf(d, sizeof d, "%" PRIu64, done);
    snprintf(t, sizeof t, "%" PRIu64, total);
    return call_flag(c, 9, (const char *[]){"FCALL", "sqlvault_progress", "1", base, id, token,
                                            stage ? stage : "", d, t}, accepted, err);
}

/* Renew; see queue.h. */
int queue_renew(queue_conn *c, const char *base, const char *id, const char *token, int64_t lease_ms,
                bool *accepted, sv_err *err)
{
    char lease[24];
    snprintf(lease, sizeof lease, "%" PRId64, lease_ms);
    return call_flag(c, 7, (const char *[]){"FCALL", "sqlvault_renew", "1", base, id, token, lease},
                     accepted, err);
}

/* Commit record; see queue.h. */
int queue_commit(queue_conn *c, const char *base, const char *id, const char *token, int64_t lease_ms,
                 const char *record, bool *accepted, char **existing, sv_err *err)
{
    char lease[24];
    redisReply *r;
    long long flag;
    *accepted = false;
    *existing = NULL;
    snprintf(lease, sizeof lease, "%" PRId64, lease_ms);
    r = qc_callv(c, err, 8, (const char *[]){"FCALL", "sqlvault_commit", "1", base, id, token, lease,
                                             record ? record : ""});
    if (!r) return -1;
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2) return bad_reply(r, "sqlvault_commit", err);
    flag = reply_int(r->element[0]);
    *accepted = flag != 0;
    if (flag == 2 && r->element[1]->type == REDIS_REPLY_STRING) {
        *existing = strndup(r->element[1]->str, r->element[1]->len);
        if (!*existing) {
            freeReplyObject(r);
            return sv_err_set(err, SV_ENOMEM, "out of memory");
        }
    }
    freeReplyObject(r);
    return 0;
}

/* Workspace lock of a job without a workspace; see queue.h. */
int queue_wslock(queue_conn *c, const char *base, const char *id, const char *token, const char *ws, bool on,
                 int *result, sv_err *err)
{
    redisReply *r = qc_callv(c, err, 8, (const char *[]){"FCALL", "sqlvault_wslock", "1", base, id, token, ws,
                                                         on ? "on" : "off"});
    if (!r) return -1;
    if (r->type != REDIS_REPLY_INTEGER) return bad_reply(r, "sqlvault_wslock", err);
    *result = (int)r->integer;
    freeReplyObject(r);
    return 0;
}

/* Release; see queue.h. */
int queue_release(queue_conn *c, const char *base, const char *id, const char *token,
                  bool *accepted, sv_err *err)
{
    return call_flag(c, 6, (const char *[]){"FCALL", "sqlvault_release", "1", base, id, token},
                     accepted, err);
}

/* Emit; see queue.h. */
int queue_emit(queue_conn *c, const char *base, const char *id, const char *token,
               const char *event, json_t *data, bool *accepted, sv_err *err)
{
    char *js = data ? json_dumps(data, JSON_COMPACT) : NULL;
    int rc = call_flag(c, 8, (const char *[]){"FCALL", "sqlvault_emit", "1", base, id, token, event,
                                              js ? js : "{}"}, accepted, err);
    free(js);
    return rc;
}

/* Cancel; see queue.h. */
int queue_cancel(queue_conn *c, const char *base, const char *id, char *state, size_t cap,
                 sv_err *err)
{
    redisReply *r = qc_callv(c, err, 5, (const char *[]){"FCALL", "sqlvault_cancel", "1", base, id});
    if (!r) return -1;
    reply_str(r, state, cap);
    freeReplyObject(r);
    return 0;
}

/* Marks ids that appear in a reply array. */
static void mark(const redisReply *arr, const char *const *ids, size_t n, bool *flags)
{
    for (size_t i = 0; i < n; i++) flags[i] = false;
    if (!arr || arr->type != REDIS_REPLY_ARRAY) return;
    for (size_t k = 0; k < arr->elements; k++)
        for (size_t i = 0; i < n; i++)
            if (arr->element[k]->type == REDIS_REPLY_STRING && strcmp(arr->element[k]->str, ids[i]) == 0)
                flags[i] = true;
}

/* Tick; see queue.h. */
int queue_tick(queue_conn *c, const char *base, const char *worker, int64_t lease_ms,
               uint64_t rt_overhead, const char *const *ids, const char *const *tokens, size_t n,
               bool *lost, bool *cancel, sv_err *err)
{
    char lease[24], rts[24];
    const char **argv = calloc(7 + 2 * n, sizeof *argv);
    redisReply *r;
    if (!argv) return sv_err_set(err, SV_ENOMEM, "out of memory");
    snprintf(lease, sizeof lease, "%" PRId64, lease_ms);
    snprintf(rts, sizeof rts, "%" PRIu64, rt_overhead);
    argv[0] = "FCALL"; argv[1] = "sqlvault_tick"; argv[2] = "1"; argv[3] = base;
    argv[4] = worker; argv[5] = lease; argv[6] = rts;
    for (size_t i = 0; i < n; i++) {
        argv[7 + 2 * i] = ids[i];
        argv[8 + 2 * i] = tokens[i];
    }
    {
        size_t *lens = calloc(7 + 2 * n, sizeof *lens);
        if (!lens) {
            free(argv);
            return sv_err_set(err, SV_ENOMEM, "out of memory");
        }
        for (size_t i = 0; i < 7 + 2 * n; i++) lens[i] = strlen(argv[i]);
        r = qc_call(c, (int)(7 + 2 * n), argv, lens, err);
        free(lens);
    }
    free(argv);
    if (!r) return -1;
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2) return bad_reply(r, "sqlvault_tick", err);
    mark(r->element[0], ids, n, lost);
    mark(r->element[1], ids, n, cancel);
    freeReplyObject(r);
    return 0;
}

/* ZREM of the worker from PREFIX:{POOL}:workers. */
int queue_worker_gone(queue_conn *c, const char *base, const char *worker, sv_err *err)
{
    char *key = sv_asprintf("%sworkers", base);
    redisReply *r;
    if (!key) return sv_err_set(err, SV_ENOMEM, "out of memory");
    r = qc_callv(c, err, 3, (const char *[]){"ZREM", key, worker});
    free(key);
    if (!r) return -1;
    freeReplyObject(r);
    return 0;
}

/* BLPOP on the pools' wake lists. */
int queue_wait_wake(queue_conn *c, char *const *bases, size_t n, int64_t timeout_ms, sv_err *err)
{
    const char *argv[18];
    size_t lens[18];
    char tmo[24];
    char *keys[16];
    size_t k = 0;
    redisReply *r;
    argv[0] = "BLPOP";
    for (; k < n && k < 16; k++) {
        keys[k] = sv_asprintf("%swake", bases[k]);
        if (!keys[k]) break;
        argv[1 + k] = keys[k];
    }
    if (queue_conn_is_cluster(c) && k > 1) {
        /* the pools' wake lists live in different slots (one BLPOP cannot
         * span them): block on each in turn for a share of the time */
        int64_t slice = timeout_ms / (int64_t)k > 50 ? timeout_ms / (int64_t)k : 50;
        int rc = 0;
        snprintf(tmo, sizeof tmo, "%.3f", (double)slice / 1000.0);
        for (size_t i = 0; i < k; i++) {
            r = qc_callv(c, err, 3, (const char *[]){"BLPOP", keys[i], tmo});
            if (!r) {
                rc = -1;
                break;
            }
            bool woke = r->type == REDIS_REPLY_ARRAY;
            freeReplyObject(r);
            if (woke) break;
        }
        for (size_t i = 0; i < k; i++) free(keys[i]);
        return rc;
    }
    snprintf(tmo, sizeof tmo, "%.3f", (double)timeout_ms / 1000.0);
    argv[1 + k] = tmo;
    for (size_t i = 0; i < k + 2; i++) lens[i] = strlen(argv[i]);
    r = qc_call(c, (int)(k + 2), argv, lens, err);
    for (size_t i = 0; i < k; i++) free(keys[i]);
    if (!r) return -1;
    freeReplyObject(r);
    return 0;
}

/* Pin; see queue.h. */
int queue_pin(queue_conn *c, const char *base, const char *id, const char *token, const char *field,
              const char *value, char **out, bool *accepted, sv_err *err)
{
    redisReply *r = qc_callv(c, err, 8, (const char *[]){"FCALL", "sqlvault_pin", "1", base, id, token, field, value});
    *out = NULL;
    if (!r) return -1;
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 || r->element[1]->type != REDIS_REPLY_STRING)
        return bad_reply(r, "sqlvault_pin", err);
    *accepted = reply_int(r->element[0]) == 1;
    if (*accepted && !(*out = strndup(r->element[1]->str, r->element[1]->len))) {
        freeReplyObject(r);
        return sv_err_set(err, SV_ENOMEM, "out of memory");
    }
    freeReplyObject(r);
    return 0;
}

/* PREFIX:pause:{ws}, PREFIX:acks:{ws}:job, PREFIX:listeners:{ws} (heap; NULL on OOM). */
static int pause_keys(const sv_config *cfg, const char *ws, const char *job_id, char *keys[3], sv_err *err)
{
    keys[0] = sv_asprintf("%s:pause:{%s}", cfg->redis_prefix, ws);
    keys[1] = sv_asprintf("%s:acks:{%s}:%s", cfg->redis_prefix, ws, job_id ? job_id : "");
    keys[2] = sv_asprintf("%s:listeners:{%s}", cfg->redis_prefix, ws);
    if (keys[0] && keys[1] && keys[2]) return 0;
    for (int i = 0; i < 3; i++) free(keys[i]);
    return sv_err_set(err, SV_ENOMEM, "out of memory");
}

/* Calls one pause function; *out gets its integer answer. */
static int pause_call(queue_conn *c, const char *fn, int nkeys, char *keys[3], int nargs, const char **args,
                      long long *out, sv_err *err)
{
    const char *argv[12];
    char nk[4];
    int argc = 0;
    redisReply *r;
    snprintf(nk, sizeof nk, "%d", nkeys);
    argv[argc++] = strcmp(fn, "sqlvault_pause_acks") == 0 ? "FCALL_RO" : "FCALL";
    argv[argc++] = fn;
    argv[argc++] = nk;
    for (int i = 0; i < nkeys; i++) argv[argc++] = keys[i];
    for (int i = 0; i < nargs && argc < 12; i++) argv[argc++] = args[i];
    r = qc_callv(c, err, argc, argv);
    for (int i = 0; i < 3; i++) free(keys[i]);
    if (!r) return -1;
    if (r->type == REDIS_REPLY_INTEGER) {
        out[0] = r->integer;
    } else if (r->type == REDIS_REPLY_ARRAY && r->elements == 2) {
        out[0] = reply_int(r->element[0]);
        out[1] = reply_int(r->element[1]);
    } else {
        return bad_reply(r, fn, err);
    }
    freeReplyObject(r);
    return 0;
}

/* Pause flag; see queue.h. */
int queue_pause_set(queue_conn *c, const sv_config *cfg, const queue_pause_owner *o, int64_t ttl_ms, bool *owned,
                    sv_err *err)
{
    char *keys[3], fence[24], ttl[24];
    long long v[2] = {0, 0};
    if (pause_keys(cfg, o->ws, o->job_id, keys, err) != 0) return -1;
    snprintf(fence, sizeof fence, "%" PRId64, o->fence);
    snprintf(ttl, sizeof ttl, "%" PRId64, ttl_ms > 0 ? ttl_ms : 60000);
    if (pause_call(c, "sqlvault_pause_set", 2, keys, 4, (const char *[]){o->job_id, o->token, fence, ttl}, v,
                   err) != 0)
        return -1;
    *owned = v[0] == 1;
    return 0;
}

/* See queue.h. */
int queue_pause_clear(queue_conn *c, const sv_config *cfg, const queue_pause_owner *o, bool *cleared, sv_err *err)
{
    char *keys[3];
    long long v[2] = {0, 0};
    if (pause_keys(cfg, o->ws, o->job_id, keys, err) != 0) return -1;
    if (pause_call(c, "sqlvault_pause_clear", 2, keys, 2, (const char *[]){o->job_id, o->token}, v, err) != 0)
        return -1;
    *cleared = v[0] == 1;
    return 0;
}

/* See queue.h. */
int queue_pause_touch(queue_conn *c, const sv_config *cfg, const queue_pause_owner *o, int64_t ttl_ms, sv_err *err)
{
    char *keys[3], ttl[24];
    long long v[2] = {0, 0};
    if (pause_keys(cfg, o->ws, o->job_id, keys, err) != 0) return -1;
    snprintf(ttl, sizeof ttl, "%" PRId64, ttl_ms);
    return pause_call(c, "sqlvault_pause_touch", 1, keys, 3, (const char *[]){o->job_id, o->token, ttl}, v, err);
}

/* See queue.h. */
int queue_pause_acks(queue_conn *c, const sv_config *cfg, const char *ws, const char *job_id, int *live, int *acked,
                     sv_err *err)
{
    char *keys[3];
    long long v[2] = {0, 0};
    if (pause_keys(cfg, ws, job_id, keys, err) != 0) return -1;
    if (pause_call(c, "sqlvault_pause_acks", 3, keys, 0, NULL, v, err) != 0) return -1;
    *live = (int)v[0];
    *acked = (int)v[1];
    return 0;
}

/* GET of one key under the prefix (PREFIX:name); *out is a heap string or
 * NULL when the key is absent. */
int queue_get_key(queue_conn *c, const sv_config *cfg, const char *name, char **out, sv_err *err)
{
    char *key = sv_asprintf("%s:%s", cfg->redis_prefix, name);
    redisReply *r;
    *out = NULL;
    if (!key) return sv_err_set(err, SV_ENOMEM, "out of memory");
    r = qc_callv(c, err, 2, (const char *[]){"GET", key});
    free(key);
    if (!r) return -1;
    if (r->type == REDIS_REPLY_STRING) *out = strndup(r->str, r->len);
    freeReplyObject(r);
    return 0;
}
