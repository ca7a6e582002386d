/* job.h -- the seam between job bodies and whatever runs them.
 *
 * A job body (backup, export, restore, verify, prune, import-url) is a
 * function of a job_ctx. The worker pool runs it with callbacks that write
 * progress to Redis and check the lease; the CLI's --inline mode runs it with
 * callbacks that draw a progress line and never cancel. The body never knows
 * which.
 *
 * Options and results are jansson objects. Options come from the job's msgpack
 * map (queue) or the command line (inline); ownership: ctx->opts is borrowed,
 * *result is a new reference the caller owns. */
#ifndef SV_JOB_H
#define SV_JOB_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include "clock.h"
#include "config.h"
#include "err.h"
#include "store.h"

typedef struct job_ctx {
    const sv_config *cfg;
    const sv_clock *clock;
    store_t *store;          /* opened by the runner, borrowed */
    const char *job_id;      /* never NULL; inline runs make one up */
    const char *type;
    const char *workspace;   /* validated by the runner; NULL for prune-all */
    int attempt;             /* 1-based */
    json_t *opts;            /* borrowed, never NULL (may be empty) */
    /* True when the job came through the queue: paths and object keys in its
     * options are held to its workspace (restore_scope_key/_path). False for
     * --inline, which keeps every path the operator gives it. */
    bool queued;

    /* Progress: stage name ("snapshot", "upload", ...), bytes done and total
     * (0 if unknown). Cheap to call often: the runner rate-limits. May be NULL. */
    void (*progress)(void *ud, const char *stage, uint64_t done, uint64_t total);
    /* True when the job must stop now: the lease was lost or the process is
     * past its grace period. Checked between stages and before every commit
     * point. May be NULL. */
    bool (*cancelled)(void *ud);
    /* Before each commit point (completing an upload, writing the commit
     * marker, swapping a database) the body calls fence: the runner renews
     * the lease synchronously and fails with SV_ELEASE if another worker has
     * taken the job over. A freshly renewed lease cannot lapse in the few
     * milliseconds the commit takes, so a stalled worker that wakes up after
     * a takeover never overwrites the new owner's objects. May be NULL. */
    int (*fence)(void *ud, sv_err *err);
    /* The job's commit record, kept by the runner across attempts (Redis):
     * with record NULL, reads it; otherwise stores it unless one exists.
     * Renews the lease in the same step (SV_ELEASE when lost). *existing is
     * the record there is (heap, caller frees) or NULL. NULL callback (inline
     * runs): no record, nothing stored. See backup_take. */
    int (*commit)(void *ud, const char *record, char **existing, sv_err *err);
    /* For a job without a workspace of its own (prune of every workspace):
     * takes (on) or releases the lock of workspace ws, exclusively. *got
     * false when another job holds it (skip it). SV_ELEASE when the lease is
     * lost. NULL callback (inline runs): always got. */
    int (*ws_lock)(void *ud, const char *ws, bool on, bool *got, sv_err *err);
    /* Emits an event (restore.started, restore.completed, restore.failed) with
     * a data object (borrowed). May be NULL (inline without redis). */
    int (*emit)(void *ud, const char *event, json_t *data, sv_err *err);
    /* Sets or clears the workspace's pause flag (docs/PROTOCOL.md), owned by
     * this attempt: SV_ELEASE when a newer attempt of the job holds it. May
     * be NULL (inline: nobody to pause). */
    int (*set_pause)(void *ud, bool on, sv_err *err);
    /* While paused: the workspace's live listeners and how many of them have
     * acknowledged this job's pause. May be NULL (nobody to wait for). */
    int (*pause_acks)(void *ud, int *live, int *acked, sv_err *err);
    /* Records value under name on the job, once: the first attempt's value
     * wins, and *out (heap, caller frees) gets the recorded one, so every
     * attempt and takeover works from the same record. May be NULL (inline:
     * one attempt, *out is a copy of value). */
    int (*pin)(void *ud, const char *name, const char *value, char **out, sv_err *err);
    /* Backup quiesce of a LiveStore store (docs/PROTOCOL.md): on=true sets
     * PREFIX:quiesce:{WS}, emits backup.quiesce and waits up to timeout_ms
     * until every live listener acked; *listeners and *acked say how it went.
     * on=false clears the flag and emits backup.resume (pointers may be NULL).
     * May be NULL (inline runs: no Node server to ask). */
    int (*quiesce)(void *ud, bool on, int64_t timeout_ms, int *listeners, bool *acked, sv_err *err);
    /* Enqueues a follow-up job of this job's workspace into the same pool
     * (deduped by id: an attempt run again enqueues it once), before the job
     * reports success, so the follow-up is at least once. May be NULL
     * (inline runs: no queue; the body does the work itself). */
    int (*enqueue)(void *ud, const char *type, const char *id, json_t *opts, sv_err *err);
    void *ud;
} job_ctx;

static inline void job_progress(job_ctx *c, const char *stage, uint64_t done, uint64_t total)
{ if (c->progress) c->progress(c->ud, stage, done, total); }
static inline bool job_cancelled(job_ctx *c) { return c->cancelled && c->cancelled(c->ud); }
/* 0 if this worker still owns the job (lease renewed), -1 with SV_ELEASE if not. */
static inline int job_fence(job_ctx *c, sv_err *err)
{
    if (job_cancelled(c)) return sv_err_set(err, SV_ELEASE, "job cancelled: lease lost or shutting down");
    return c->fence ? c->fence(c->ud, err) : 0;
}

/* See job_ctx.commit: 0 with *existing set or NULL; -1 with SV_ELEASE if lost. */
static inline int job_commit(job_ctx *c, const char *record, char **existing, sv_err *err)
{
    *existing = NULL;
    if (job_cancelled(c)) return sv_err_set(err, SV_ELEASE, "job cancelled: lease lost or shutting down");
    return c->commit ? c->commit(c->ud, record, existing, err) : 0;
}

/* See job_ctx.ws_lock. */
static inline int job_ws_lock(job_ctx *c, const char *ws, bool on, bool *got, sv_err *err)
{
    *got = true;
    return c->ws_lock ? c->ws_lock(c->ud, ws, on, got, err) : 0;
}

typedef int (*job_fn)(job_ctx *ctx, json_t **result, sv_err *err);

/* Job bodies. */
int job_backup(job_ctx *ctx, json_t **result, sv_err *err);
int job_export(job_ctx *ctx, json_t **result, sv_err *err);
int job_restore(job_ctx *ctx, json_t **result, sv_err *err);
int job_verify(job_ctx *ctx, json_t **result, sv_err *err);
/* src/travel/job_inspect.c: what a point of the backups, the live workspace or an upload holds. */
int job_inspect(job_ctx *ctx, json_t **result, sv_err *err);
int job_prune(job_ctx *ctx, json_t **result, sv_err *err);
int job_import_url(job_ctx *ctx, json_t **result, sv_err *err);

/* Looks a job type up ("backup", "import-url", ...). NULL if unknown. */
job_fn job_lookup(const char *type);
/* (Which types lock their workspace, and how, is the LOCKS table of
 * src/queue/sqlvault.lua: the claim takes the lock, nothing in C decides.) */
/* Default priority of a type when enqueued by hand: "interactive" or
 * "scheduled", or by the reason it is enqueued for ("scheduled", "dirty"). */
const char *job_default_priority(const char *type, const char *reason);

#endif
