/* dirty.c -- the dirty set: the one-minute RPO schedule.
 *
 * Writers mark a workspace after writing to it (the Node client's
 * markDirty, `sqlvault dirty WS...`, or ZADD from any client):
 *   ZADD PREFIX:{POOL}:dirty NX <now_ms> WS
 * in the workspace's pool of the pool set, so the member's score is the
 * time of the FIRST mark since the workspace was last drained (a burst of
 * writes is one entry). The leading scheduler drains it on every poll
 * (sched_loop, at most every SCHED_DIRTY_POLL_MAX_MS): the Redis Function
 * sqlvault_dirty_drain takes the workspaces marked at least
 * SQLVAULT_INCREMENTAL_EVERY/2 ago off the set and enqueues a backup of each
 * (reason "dirty", option mode "auto") in the same atomic step, skipping a
 * workspace whose previous dirty backup is still waiting to take its
 * snapshot. A change thus waits at most half the window before its backup
 * is queued, leaving the other half for the queue and the job. Each call
 * takes at most SCHED_DIRTY_BATCH workspaces and a poll at most
 * SCHED_DIRTY_CALLS calls per pool, so a huge set never stalls a poll (the
 * loop comes back at once while more is due).
 *
 * Times are the callers' clocks (sv_clock here, SQLVAULT_FAKE_NOW in tests;
 * Date.now() in Node): the hosts that mark and the scheduler's must agree
 * to well under the window (NTP).
 *
 * THREAD SAFETY NOTES: as scheduler.c (one thread per sched_t). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "log.h"
#include "sched_int.h"
#include "util.h"

/* Marks workspaces dirty now; see scheduler.h. */
int sched_mark_dirty(sched_t *s, const char *const *ws, size_t n, size_t *added, sv_err *err)
{
    char now[24];
    *added = 0;
    for (size_t i = 0; i < n; i++)
        if (sv_check_workspace(ws[i], err) != 0) return -1;
    snprintf(now, sizeof now, "%" PRId64, sv_now_ms(s->clock));
    for (size_t i = 0; i < n; i++) {
        char *key = sv_asprintf("%sdirty", s->bases[queue_pool_hash(ws[i]) % s->nbases]);
        if (!key) return sv_err_set(err, SV_ENOMEM, "out of memory");
        redisReply *r = SCHED_CMD(s, err, "ZADD", key, "NX", now, ws[i]);
        free(key);
        if (!r) return sv_err_wrap(err, "marking %s dirty", ws[i]);
        if (r->type == REDIS_REPLY_INTEGER) *added += (size_t)r->integer;
        freeReplyObject(r);
        r = SCHED_CMD(s, err, "SADD", s->k_set, ws[i]); /* discovery knows it, as markDirty does */
        if (!r) return sv_err_wrap(err, "marking %s dirty", ws[i]);
        freeReplyObject(r);
    }
    return 0;
}

/* The options of a dirty backup, packed once per drain. */
static int dirty_opts(char **buf, size_t *len, sv_err *err)
{
    json_t *o = json_pack("{s:s, s:s}", "mode", "auto", "reason", "dirty");
    int rc = o ? queue_opts_pack(o, buf, len, err) : sv_err_set(err, SV_ENOMEM, "out of memory");
    json_decref(o);
    return rc;
}

/* Drains the due part of every pool's dirty set; see scheduler.h. */
int sched_drain_dirty(sched_t *s, int64_t now_ms, sched_dirty_stats *out, sv_err *err)
{
    int64_t every = s->cfg->incremental_every_ms;
    char cutoff[24], limit[16], maxa[16], stamp[24];
    char *opts = NULL;
    size_t opts_len = 0;
    int64_t t0 = sv_mono_ms(s->clock);
    int rc = -1;

    memset(out, 0, sizeof *out);
    if (every <= 0) return 0; /* SQLVAULT_INCREMENTAL_EVERY=off */
    if (dirty_opts(&opts, &opts_len, err) != 0) return -1;
    snprintf(cutoff, sizeof cutoff, "%" PRId64, now_ms - every / 2);
    snprintf(limit, sizeof limit, "%d", SCHED_DIRTY_BATCH);
    snprintf(maxa, sizeof maxa, "%d", s->cfg->max_attempts > 0 ? s->cfg->max_attempts : 5);
    snprintf(stamp, sizeof stamp, "%" PRId64, now_ms);
    for (size_t p = 0; p < s->nbases; p++) {
        for (int call = 0; call < SCHED_DIRTY_CALLS; call++) {
            const char *argv[9] = {"FCALL", "sqlvault_dirty_drain", "1", s->bases[p], cutoff, limit, maxa, opts,
                                   stamp};
            size_t lens[9];
            for (int k = 0; k < 9; k++) lens[k] = k == 7 ? opts_len : strlen(argv[k]);
            redisReply *r = qc_call(s->qc, 9, argv, lens, err);
            if (!r) {
                sv_err_wrap(err, "draining the dirty set of %s", s->bases[p]);
                goto fail;
            }
            if (r->type != REDIS_REPLY_ARRAY || r->elements != 4) {
                freeReplyObject(r);
                sv_err_set(err, SV_EINTERNAL, "unexpected reply from sqlvault_dirty_drain");
                goto fail;
            }
            long long taken = r->element[0]->integer;
            out->taken += taken;
            out->enqueued += r->element[1]->integer;
            out->coalesced += r->element[2]->integer;
            if (call + 1 == SCHED_DIRTY_CALLS || taken < SCHED_DIRTY_BATCH) out->left += r->element[3]->integer;
            freeReplyObject(r);
            if (taken < SCHED_DIRTY_BATCH) break;
            if (call + 1 == SCHED_DIRTY_CALLS) out->more = true; /* more may be due: the loop comes back at once */
        }
    }
    out->ms = sv_mono_ms(s->clock) - t0;
    if (out->taken)
        log_info(NULL, NULL,
                 "scheduler: dirty set: %lld workspaces due, %lld backups enqueued, %lld already waiting; "
                 "%lld left in the set; %lld ms",
                 out->taken, out->enqueued, out->coalesced, out->left, (long long)out->ms);
    rc = 0;
fail:
    free(opts);
    return rc;
}
