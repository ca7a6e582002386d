/* store.c -- a consistent copy of a LiveStore store for the backup pipeline.
 *
 * First the optimistic copy (livestore_copy_take: no locks, a try is kept
 * only when it provably is one moment of the store). A store written too
 * often for that gets the quiesce protocol (docs/PROTOCOL.md "Backup
 * quiesce"): the job sets PREFIX:quiesce:{WS}, emits backup.quiesce, waits
 * until every live listener (the Node server's onBackup) has acked that it
 * holds the store's writes, copies, clears the flag and emits backup.resume,
 * whatever happened. The report says which way was taken and the tries. */
#include <stdlib.h>
#include <string.h>
#include "backup.h"
#include "livestore.h"
#include "log.h"

#define DEFAULT_TRIES 60
#define DEFAULT_QUIESCE_TIMEOUT_MS 10000

/* The copy options for this job. */
static ls_copy_opts copy_opts(job_ctx *ctx)
{
    ls_copy_opts o = {
        .clock = ctx->clock,
        .max_size = ctx->cfg->max_db_size,
        .max_tries = ctx->cfg->store_copy_tries > 0 ? ctx->cfg->store_copy_tries : DEFAULT_TRIES,
        .backoff_ms = 5,
        .backoff_max_ms = 200,
        .cancelled = ctx->cancelled,
        .ud = ctx->ud,
    };
    return o;
}

/* See backup.h. */
int backup_store_copy(job_ctx *ctx, const char *dir, ls_copy *out, json_t **report, sv_err *err)
{
    ls_copy_opts o = copy_opts(ctx);
    int64_t t0 = sv_mono_ms(ctx->clock), qms = 0;
    int first_tries, listeners = 0, rc;
    bool acked = false, quiesced = false;
    *report = NULL;

    if (ctx->cfg->test_store_busy) {
        /* Test-only: the optimistic phase fails as for a store written without
         * pause, so the quiesce path runs deterministically. Never set it in production. */
        memset(out, 0, sizeof *out);
        for (int i = 0; i < LS_MAX_FILES; i++) out->snap[i].fd = -1;
        rc = sv_err_set(err, SV_EBUSY, "store busy (injected by SQLVAULT_TEST_STORE_BUSY)");
        sv_err_hint(err, "the store is written too often for an optimistic copy: register onBackup in the Node "
                         "server so sqlvault can quiesce it");
    } else {
        rc = livestore_copy_take(dir, ctx->cfg->tmp_dir, &o, out, err);
    }
    first_tries = out->tries;
    if (rc != 0 && err->code == SV_EBUSY && ctx->quiesce && ctx->workspace &&
        !ctx->cfg->store_no_quiesce) {
        sv_err first = *err;
        int64_t q0 = sv_mono_ms(ctx->clock);
        sv_err_clear(err);
        log_info(ctx->job_id, ctx->workspace, "store busy after %d optimistic tries: asking its listeners to quiesce",
                 first_tries);
        int64_t qtimeout = ctx->cfg->quiesce_timeout_ms > 0 ? ctx->cfg->quiesce_timeout_ms : DEFAULT_QUIESCE_TIMEOUT_MS;
        if (ctx->quiesce(ctx->ud, true, qtimeout,
                         &listeners, &acked, err) != 0) {
            sv_err e2;
            ctx->quiesce(ctx->ud, false, 0, NULL, NULL, &e2);
            return -1;
        }
        quiesced = true;
        if (listeners == 0) {
            *err = first;
            sv_err_hint(err, "no Node server listens for this workspace (PREFIX:listeners:{WS}): register onBackup "
                             "so sqlvault can quiesce a busy store");
        } else {
            livestore_copy_release(out);
            rc = livestore_copy_take(dir, ctx->cfg->tmp_dir, &o, out, err);
        }
        {
            sv_err e2;
            if (ctx->quiesce(ctx->ud, false, 0, NULL, NULL, &e2) != 0)
                log_warn(ctx->job_id, ctx->workspace, "clearing the quiesce flag: %s", e2.msg);
        }
        qms = sv_mono_ms(ctx->clock) - q0;
        if (listeners == 0) rc = -1;
    }
    if (rc != 0) return -1;
    *report = json_pack("{s:s, s:i, s:i, s:i, s:i, s:i, s:I, s:I, s:I, s:i, s:I}", "method",
                        quiesced ? "quiesce" : "optimistic", "tries", first_tries + (quiesced ? out->tries : 0),
                        "optimisticTries", first_tries, "journalSeen", out->journal_seen, "changed", out->changed,
                        "unpaired", out->unpaired, "events", (json_int_t)out->events, "eventlogHead",
                        (json_int_t)out->eventlog_head, "stateHead", (json_int_t)out->state_head, "staleStateFiles",
                        out->n_stale, "snapshotMs", (json_int_t)(sv_mono_ms(ctx->clock) - t0));
    if (*report && out->cold_journals) json_object_set_new(*report, "coldJournalIgnored", json_true());
    if (*report && quiesced)
        json_object_update_new(*report, json_pack("{s:i, s:b, s:I}", "listeners", listeners, "quiesceAcked", acked,
                                                  "quiesceMs", (json_int_t)qms));
    if (!*report) return sv_err_set(err, SV_ENOMEM, "out of memory");
    return 0;
}
