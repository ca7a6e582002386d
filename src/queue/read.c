/* read.c -- reading the queue for people and dashboards: one job as JSON,
 * a pool's statistics, the recent jobs. Nothing here writes to Redis. */
#include <stdlib.h>
#include <string.h>
#include "queue/internal.h"
#include "util.h"

/* Fields holding integers (ms times, counts) in the job hash. */
static bool int_field(const char *f)
{
    static const char *const names[] = {"attempt", "max_attempts", "bytes_done", "bytes_total",
                                        "created_at", "started_at", "finished_at", "ts", "fence",
                                        "retry_at", "lease_until", NULL};
    for (int i = 0; names[i]; i++)
        if (strcmp(f, names[i]) == 0) return true;
    return false;
}

/* Builds the JSON form of an HGETALL reply; NULL if the reply is empty. */
static json_t *job_json(const char *id, const redisReply *r)
{
    json_t *o;
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements == 0) return NULL;
    o = json_object();
    if (!o) return NULL;
    json_object_set_new(o, "id", json_string(id));
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        const redisReply *k = r->element[i], *v = r->element[i + 1];
        json_t *x = NULL;
        if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING) continue;
        if (strcmp(k->str, "lease") == 0 || strcmp(k->str, "done_by") == 0) continue;
        if (int_field(k->str)) {
            x = json_integer(strtoll(v->str, NULL, 10));
        } else if (strcmp(k->str, "result") == 0) {
            x = json_loadb(v->str, v->len, 0, NULL);
            if (!x) x = json_stringn_nocheck(v->str, v->len);
        } else if (strcmp(k->str, "opts") == 0) {
            sv_err e;
            if (queue_opts_unpack(v->str, v->len, &x, &e) != 0) x = json_null();
        } else {
            x = json_stringn_nocheck(v->str, v->len);
        }
        if (x) json_object_set_new(o, k->str, x);
    }
    return o;
}

/* One job as JSON; see queue.h. */
int queue_job_get(queue_conn *c, const char *base, const char *id, json_t **out, sv_err *err)
{
    char *key = sv_asprintf("%sjob:%s", base, id);
    redisReply *r;
    *out = NULL;
    if (!key) return sv_err_set(err, SV_ENOMEM, "out of memory");
    r = qc_callv(c, err, 2, (const char *[]){"HGETALL", key});
    free(key);
    if (!r) return -1;
    *out = job_json(id, r);
    freeReplyObject(r);
    return 0;
}

/* True for a final state; see queue.h. */
bool queue_state_final(const char *st)
{
    return st && (!strcmp(st, "succeeded") || !strcmp(st, "failed") || !strcmp(st, "cancelled"));
}

/* Copies a string reply into dst, "" when it is not one. */
static void copy_str(const redisReply *r, char *dst, size_t cap)
{
    size_t n = r && r->type == REDIS_REPLY_STRING ? (r->len < cap - 1 ? r->len : cap - 1) : 0;
    if (n) memcpy(dst, r->str, n);
    dst[n] = '\0';
}

/* A job's state and progress; see queue.h. */
int queue_job_progress(queue_conn *c, const char *base, const char *id, queue_progress_info *out, sv_err *err)
{
    char *key = sv_asprintf("%sjob:%s", base, id);
    redisReply *r;
    memset(out, 0, sizeof *out);
    if (!key) return sv_err_set(err, SV_ENOMEM, "out of memory");
    r = QC_CMD(c, err, "HMGET", key, "state", "stage", "bytes_done", "bytes_total");
    free(key);
    if (!r) return -1;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 4 && r->element[0]->type == REDIS_REPLY_STRING) {
        out->exists = true;
        copy_str(r->element[0], out->state, sizeof out->state);
        copy_str(r->element[1], out->stage, sizeof out->stage);
        if (r->element[2]->type == REDIS_REPLY_STRING) out->done = strtoull(r->element[2]->str, NULL, 10);
        if (r->element[3]->type == REDIS_REPLY_STRING) out->total = strtoull(r->element[3]->str, NULL, 10);
    }
    freeReplyObject(r);
    return 0;
}

/* Statistics of one pool; see queue.h. */
int queue_stats(queue_conn *c, const char *base, int64_t alive_ms, json_t **out, sv_err *err)
{
    char alive[24];
    redisReply *r;
    json_t *o;
    long long succeeded = 0, failed = 0, cancelled = 0, enq = 0, rtj = 0, rto = 0;
    *out = NULL;
    snprintf(alive, sizeof alive, "%lld", (long long)alive_ms);
    r = qc_callv(c, err, 5, (const char *[]){"FCALL_RO", "sqlvault_stats", "1", base, alive});
    if (!r) return -1;
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 6) {
        freeReplyObject(r);
        return sv_err_set(err, SV_EINTERNAL, "unexpected reply from sqlvault_stats");
    }
    o = json_object();
    {
        const char *pool = strchr(base, '{');
        json_object_set_new(o, "pool", json_stringn(pool ? pool + 1 : base,
                                                    pool ? strcspn(pool + 1, "}") : strlen(base)));
    }
    json_object_set_new(o, "queued_interactive", json_integer(r->element[0]->integer));
    json_object_set_new(o, "queued_scheduled", json_integer(r->element[1]->integer));
    /* library 10: the dirty set's backups waiting (q:dirty), last in the
     * reply so that readers by position keep working */
    json_object_set_new(o, "queued_dirty", json_integer(r->elements > 7 ? r->element[7]->integer : 0));
    json_object_set_new(o, "delayed", json_integer(r->element[2]->integer));
    json_object_set_new(o, "active", json_integer(r->element[3]->integer));
    json_object_set_new(o, "workers_alive", json_integer(r->element[4]->integer));
    /* library 9: the dirty workspaces waiting for the scheduler */
    json_object_set_new(o, "dirty", json_integer(r->elements > 6 ? r->element[6]->integer : 0));
    for (size_t i = 0; i + 1 < r->element[5]->elements; i += 2) {
        const char *k = r->element[5]->element[i]->str;
        long long v = strtoll(r->element[5]->element[i + 1]->str, NULL, 10);
        json_object_set_new(o, k, json_integer(v));
        if (strcmp(k, "succeeded") == 0) succeeded = v;
        else if (strcmp(k, "failed") == 0) failed = v;
        else if (strcmp(k, "cancelled") == 0) cancelled = v;
        else if (strcmp(k, "enqueued") == 0) enq = v;
        else if (strcmp(k, "rt_jobs") == 0) rtj = v;
        else if (strcmp(k, "rt_overhead") == 0) rto = v;
    }
    freeReplyObject(r);
    {
        static const char *const zero[] = {"enqueued", "succeeded", "failed", "retried", "stalled",
                                           "cancelled", "rt_jobs", "rt_overhead", "dirty_enqueued",
                                           "dirty_coalesced", NULL};
        for (int i = 0; zero[i]; i++)
            if (!json_object_get(o, zero[i])) json_object_set_new(o, zero[i], json_integer(0));
    }
    json_object_set_new(o, "finished", json_integer(succeeded + failed + cancelled));
    json_object_set_new(o, "failure_ratio",
                        json_real(succeeded + failed ? (double)failed / (double)(succeeded + failed) : 0.0));
    /* Round trips per finished job: enqueue (1) + the worker's own calls
     * (claim, progress, complete); the _all figure adds housekeeping and
     * idle waiting spread over the jobs. */
    {
        long long fin = succeeded + failed + cancelled;
        json_object_set_new(o, "round_trips_per_job",
                            json_real(fin ? (double)(rtj + (enq < fin ? enq : fin)) / (double)fin : 0.0));
        json_object_set_new(o, "round_trips_per_job_all",
                            json_real(fin ? (double)(rtj + rto + (enq < fin ? enq : fin)) / (double)fin : 0.0));
    }
    *out = o;
    return 0;
}

/* Recent jobs, newest first; see queue.h. Reads the ids then pipelines one
 * HGETALL per job (one round trip). Jobs whose hash expired are skipped. */
int queue_recent(queue_conn *c, const char *base, size_t scan, json_t **out, sv_err *err)
{
    char *key = sv_asprintf("%srecent", base), stop[24];
    redisReply *ids = NULL;
    json_t *arr = NULL;
    int rc = -1;
    *out = NULL;
    if (!key) return sv_err_set(err, SV_ENOMEM, "out of memory");
    snprintf(stop, sizeof stop, "%zu", scan ? scan - 1 : 0);
    ids = qc_callv(c, err, 4, (const char *[]){"ZREVRANGE", key, "0", stop});
    if (!ids) goto done;
    arr = json_array();
    if (ids->type != REDIS_REPLY_ARRAY || ids->elements == 0) {
        rc = 0;
        goto done;
    }
    for (size_t i = 0; i < ids->elements; i++) {
        char *jk = sv_asprintf("%sjob:%s", base, ids->element[i]->str);
        redisAppendCommand(c->rc, "HGETALL %s", jk ? jk : "");
        free(jk);
    }
    c->rt++;
    for (size_t i = 0; i < ids->elements; i++) {
        void *rep = NULL;
        json_t *j;
        if (redisGetReply(c->rc, &rep) != REDIS_OK || !rep) {
            c->broken = true;
            sv_err_set(err, SV_EUNREACH, "redis connection lost: %s", c->rc->errstr);
            goto done;
        }
        j = job_json(ids->element[i]->str, rep);
        freeReplyObject(rep);
        if (j) json_array_append_new(arr, j);
    }
    rc = 0;
done:
    free(key);
    if (ids) freeReplyObject(ids);
    if (rc == 0) *out = arr;
    else json_decref(arr);
    return rc;
}
