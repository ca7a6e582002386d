/* safety.c -- the pre-restore safety backup, run in a thread of its own.
 *
 * An inline restore (no queue) uploads its safety copy as a "pre-restore"
 * backup (the undo) in this thread, beside the swap (backup-API copy) or
 * after it (the file linked aside). A queued restore hands that upload to a
 * follow-up backup job instead (restore.c, run_followup).
 *
 * THREAD SAFETY NOTES: the thread gets a job context of its own (plain
 * fields copied, its own store, its own fence and cancelled callbacks; the
 * runner's callbacks are not safe to call from a second thread). The
 * cancel flag is shared and only touched under mu. The main thread reads
 * the outcome only after restore_safety_join. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "backup.h"
#include "internal.h"
#include "log.h"
#include "util.h"

struct restore_safety {
    job_ctx ctx;
    char *db;
    pthread_t th;
    bool running;
    pthread_mutex_t mu;
    bool cancel;            /* set by restore_safety_free: the restore stopped */
    backup_outcome out;
    int rc;
    sv_err err;
    int64_t ms;
};

/* The thread's cancellation: the restore stopped. */
static bool safety_cancelled(void *ud)
{
    restore_safety *s = ud;
    bool c;
    pthread_mutex_lock(&s->mu);
    c = s->cancel;
    pthread_mutex_unlock(&s->mu);
    return c;
}

/* The thread's fence (before the object's upload completes): only a
 * cancel stops it. */
static int safety_fence(void *ud, sv_err *err)
{
    return safety_cancelled(ud) ? sv_err_set(err, SV_ELEASE, "pre-restore backup cancelled: the restore stopped") : 0;
}

/* The thread's commit point (right before metadata.json, backup_take with
 * once). Reading the record (record NULL) finds none: this thread's backup
 * is its own. */
static int safety_commit(void *ud, const char *record, char **existing, sv_err *err)
{
    *existing = NULL;
    if (!record) return 0;
    return safety_fence(ud, err);
}

/* The backup itself. */
static void *safety_main(void *arg)
{
    restore_safety *s = arg;
    backup_params bp = {.workspace = s->ctx.workspace, .backup_type = "pre-restore", .reason = "pre-restore",
                        .db_path = s->db, .once = true};
    int64_t t0 = sv_mono_ms(s->ctx.clock);
    sv_err_clear(&s->err);
    s->rc = backup_take(&s->ctx, &bp, &s->out, &s->err);
    if (s->rc != 0 && s->out.ts[0] && safety_cancelled(s)) {
        /* Cancelled at its commit point: the object may be complete; without
         * metadata.json nothing lists it, and it goes now (else prune would). */
        char *key = backup_key(s->ctx.workspace, s->out.ts, BACKUP_OBJECT);
        sv_err e;
        if (key) store_delete_many(s->ctx.store, (const char *const *)&key, 1, &e);
        free(key);
    }
    if (s->rc != 0) sv_err_wrap(&s->err, "pre-restore backup");
    else log_info(s->ctx.job_id, s->ctx.workspace, "pre-restore backup %s of %s committed", s->out.ts, s->db);
    s->ms = sv_mono_ms(s->ctx.clock) - t0;
    return NULL;
}

/* Starts the backup of db (see internal.h). */
int restore_safety_start(job_ctx *ctx, const char *db, restore_safety **out, sv_err *err)
{
    restore_safety *s = calloc(1, sizeof *s);
    *out = NULL;
    if (!s || !(s->db = sv_strdup(db))) {
        free(s);
        return sv_err_set(err, SV_ENOMEM, "out of memory");
    }
    pthread_mutex_init(&s->mu, NULL);
    s->ctx.cfg = ctx->cfg;
    s->ctx.clock = ctx->clock;
    s->ctx.job_id = ctx->job_id;
    s->ctx.type = ctx->type;
    s->ctx.workspace = ctx->workspace;
    s->ctx.attempt = ctx->attempt;
    s->ctx.opts = ctx->opts;
    s->ctx.fence = safety_fence;
    s->ctx.commit = safety_commit;
    s->ctx.cancelled = safety_cancelled;
    s->ctx.ud = s;
    if (store_open(ctx->cfg, ctx->clock, &s->ctx.store, err) != 0) goto fail;
    if (pthread_create(&s->th, NULL, safety_main, s) != 0) {
        sv_err_set(err, SV_ENOMEM, "unable to start the safety backup thread");
        goto fail;
    }
    s->running = true;
    *out = s;
    return 0;
fail:
    restore_safety_free(s);
    return -1;
}

/* Waits for the thread (see internal.h). */
int restore_safety_join(restore_safety *s)
{
    if (!s) return -1;
    if (s->running) {
        pthread_join(s->th, NULL);
        s->running = false;
    }
    return s->rc;
}

const char *restore_safety_ts(const restore_safety *s) { return s && !s->running && s->rc == 0 ? s->out.ts : NULL; }

const char *restore_safety_error(const restore_safety *s) { return s && s->rc != 0 ? s->err.msg : NULL; }

int64_t restore_safety_ms(const restore_safety *s) { return s ? s->ms : 0; }

/* Cancels, joins and frees (see internal.h). */
void restore_safety_free(restore_safety *s)
{
    if (!s) return;
    if (s->running) {
        pthread_mutex_lock(&s->mu);
        s->cancel = true;
        pthread_mutex_unlock(&s->mu);
        restore_safety_join(s);
    }
    backup_outcome_clear(&s->out);
    store_free(s->ctx.store);
    pthread_mutex_destroy(&s->mu);
    free(s->db);
    free(s);
}
