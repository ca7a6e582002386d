/* submit.c -- a job command through the queue: enqueue (deduped by id), then
 * wait for the end showing progress on a terminal, then print the result (or
 * the job as JSON). The wait polls the job (queue_job_progress, one HMGET
 * every 100-500 ms): a Redis that goes away meanwhile is retried with the
 * queue's backoff (queue_conn_ensure) for up to a minute before the command
 * gives up with exit 3. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "clock.h"
#include "job.h"
#include "queue.h"
#include "util.h"

#define WAIT_REDIS_MS 60000 /* how long a waiting command rides out a Redis outage */

/* Polls the job until it ends; *job gets its final JSON. */
static int wait_end(queue_conn *c, const char *base, const char *id, bool progress, json_t **job, sv_err *err)
{
    const sv_clock *clk = sv_clock_system();
    int64_t delay = 100;
    bool drew = false;
    int rc = -1;
    for (;;) {
        queue_progress_info p;
        if (queue_job_progress(c, base, id, &p, err) != 0) {
            if (err->code != SV_EUNREACH ||
                queue_conn_ensure(c, sv_mono_ms(clk) + WAIT_REDIS_MS, NULL, NULL, err) != 0)
                goto done;
            continue;
        }
        if (!p.exists) {
            sv_err_set(err, SV_ENOTFOUND, "job %s disappeared from redis", id);
            goto done;
        }
        if (queue_state_final(p.state)) break;
        if (progress) {
            cli_progress_line(id, p.state, p.stage, p.done, p.total);
            drew = true;
        }
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
    if (drew) cli_progress_clear();
    return rc;
}

/* Prints the end of a job the command waited for; returns the exit code. */
static int print_end(const cli_submit_req *q, const char *id, const char *base, json_t *job)
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
        fprintf(stderr, "HINT: sqlvault status %s shows the job; failed jobs are also in %sdead\n", id, base);
    }
    return ok ? 0 : 1;
}

/* Enqueue, wait and print; see cli.h. */
int cli_submit(const sv_config *cfg, const cli_submit_req *q)
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
    base = queue_pool_base_for(cfg, q->pool ? q->pool : cfg->pool, q->workspace); /* the pool set */
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
    rc = print_end(q, id, base, job);
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
