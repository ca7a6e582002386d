/* client.c -- what a job command does through the queue: enqueue (deduped by
 * id), then wait for the end showing progress on a terminal, then print the
 * result (or the job as JSON). The wait polls the job hash (one HMGET every
 * 100-500 ms): a Redis that goes away meanwhile is retried with backoff for
 * up to a minute before the command gives up with exit 3. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "clock.h"
#include "job.h"
#include "queue/internal.h"
#include "util.h"

/* Reconnects with backoff for up to limit_ms; 0 when connected again. */
static int reconnect_for(queue_conn *c, const sv_clock *clk, int64_t limit_ms, sv_err *err)
{
    int64_t start = sv_mono_ms(clk);
    for (int attempt = 0;; attempt++) {
        if (queue_conn_reconnect(c, err) == 0) return 0;
        if (sv_mono_ms(clk) - start > limit_ms) return -1;
        sv_sleep_ms(clk, sv_backoff_ms(clk, attempt, 100, 2000));
    }
}

/* Draws the progress line of a running job. */
static void draw(const char *id, const char *state, const char *stage, uint64_t done, uint64_t total)
{
    char a[32], b[32];
    if (total)
        fprintf(stderr, "\r%.12s %-9s %-10s %s / %s (%d%%)   ", id, state, stage,
                sv_human_size(done, a, sizeof a), sv_human_size(total, b, sizeof b),
                (int)(done * 100 / total));
    else
        fprintf(stderr, "\r%.12s %-9s %-10s %s   ", id, state, stage, done ? sv_human_size(done, a, sizeof a) : "");
}

/* Polls the job until it ends; *job gets its final JSON. */
static int wait_end(queue_conn *c, const char *base, const char *id, bool progress, json_t **job,
                    sv_err *err)
{
    const sv_clock *clk = sv_clock_system();
    char *key = sv_asprintf("%sjob:%s", base, id);
    int64_t delay = 100;
    bool drew = false;
    int rc = -1;
    if (!key) return sv_err_set(err, SV_ENOMEM, "out of memory");
    for (;;) {
        redisReply *r = qc_callv(c, err, 6, (const char *[]){"HMGET", key, "state", "stage", "bytes_done",
                                                             "bytes_total"});
        if (!r) {
            if (err->code != SV_EUNREACH || reconnect_for(c, clk, 60000, err) != 0) goto done;
            continue;
        }
        if (r->type == REDIS_REPLY_ARRAY && r->elements == 4) {
            const char *st = r->element[0]->type == REDIS_REPLY_STRING ? r->element[0]->str : NULL;
            if (!st) {
                freeReplyObject(r);
                sv_err_set(err, SV_ENOTFOUND, "job %s disappeared from redis", id);
                goto done;
            }
            if (!strcmp(st, "succeeded") || !strcmp(st, "failed") || !strcmp(st, "cancelled")) {
                freeReplyObject(r);
                break;
            }
            if (progress) {
                draw(id, st, r->element[1]->str ? r->element[1]->str : "",
                     r->element[2]->str ? strtoull(r->element[2]->str, NULL, 10) : 0,
                     r->element[3]->str ? strtoull(r->element[3]->str, NULL, 10) : 0);
                drew = true;
            }
        }
        freeReplyObject(r);
        sv_sleep_ms(clk, delay);
        if (delay < 500) delay += 50;
    }
    if (queue_job_get(c, base, id, job, err) != 0) goto done;
    if (!*job) {
        sv_err_set(err, SV_ENOTFOUND, "job %s disappeared from redis", id);
        goto done;
    }
    rc = 0;
done:
    if (drew) fprintf(stderr, "\r%78s\r", "");
    free(key);
    return rc;
}

/* Enqueue, wait and print; see queue.h. */
int queue_cli_submit(const sv_config *cfg, const queue_submit *q)
{
    const sv_clock *clk = sv_clock_system();
    queue_conn *c = NULL;
    char id[130], state[32], *base = NULL, *opts = NULL;
    size_t opts_len = 0;
    bool created = false;
    json_t *job = NULL;
    sv_err err;
    int rc = 1;

    sv_err_clear(&err);
    if (q->job_id) snprintf(id, sizeof id, "%s", q->job_id);
    else sv_random_id(clk, id);
    base = queue_pool_base(cfg, q->pool ? q->pool : cfg->pool);
    if (!base) return cli_fail(&(sv_err){SV_ENOMEM, "out of memory", ""});
    if (queue_opts_pack(q->opts, &opts, &opts_len, &err) != 0) goto fail;
    if (queue_conn_open(cfg, &c, &err) != 0) goto fail;
    {
        queue_job_spec spec = {
            .id = id, .type = q->type, .workspace = q->workspace,
            .priority = q->priority ? q->priority : job_default_priority(q->type, NULL),
            .max_attempts = q->max_attempts > 0 ? q->max_attempts : cfg->max_attempts,
            .opts = opts, .opts_len = opts_len,
            .reason = json_string_value(json_object_get(q->opts, "reason")),
        };
        if (queue_enqueue(c, base, &spec, &created, state, sizeof state, &err) != 0) goto fail;
    }
    if (!created) fprintf(stderr, "note: job %s already exists (%s); not enqueued again\n", id, state);
    if (!q->wait) {
        if (q->json) printf("{\"id\": \"%s\", \"state\": \"%s\"}\n", id, state);
        else printf("%s\n", id);
        rc = 0;
        goto done;
    }
    if (wait_end(c, base, id, q->progress, &job, &err) != 0) goto fail;
    {
        const char *st = json_string_value(json_object_get(job, "state"));
        bool ok = st && strcmp(st, "succeeded") == 0;
        if (q->json) {
            char *s = json_dumps(job, JSON_INDENT(2));
            if (s) printf("%s\n", s);
            free(s);
        } else if (ok) {
            cli_print_job_result(stdout, q->type, json_object_get(job, "result"));
        }
        if (!ok) {
            const char *e = json_string_value(json_object_get(job, "error"));
            fprintf(stderr, "error: job %s %s after %lld attempt(s): %s\n", id, st ? st : "ended",
                    (long long)json_integer_value(json_object_get(job, "attempt")), e ? e : "(no error)");
            fprintf(stderr, "HINT: sqlvault status %s shows the job; failed jobs are also in %sdead\n",
                    id, base);
        }
        rc = ok ? 0 : 1;
    }
    goto done;
fail:
    rc = cli_fail(&err);
done:
    json_decref(job);
    queue_conn_free(c);
    free(opts);
    free(base);
    return rc;
}
