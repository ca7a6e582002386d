/* scheduler.h -- the scheduler: cron ticks that enqueue scheduled backups, prunes
 * and verifies for every known workspace, with one leader among many.
 *
 * Redis keys (PREFIX = SQLVAULT_REDIS_PREFIX; docs/PROTOCOL.md has the queue's):
 *   PREFIX:workspaces                   SET   workspaces the Node server adds (SADD)
 *   PREFIX:{sched}:leader               STRING "owner|fence", PX = SQLVAULT_LEASE
 *   PREFIX:{sched}:fence                STRING counter, INCR on every new leader
 *   PREFIX:{sched}:last_tick            STRING ms of the last tick fully enqueued
 *   PREFIX:{sched}:last_result          HASH  tick, backups, failed, ratio, alert, at
 *   PREFIX:metrics:last_tick_failure_ratio  STRING backup failure ratio of the last tick
 *   PREFIX:{pool}:dirty                 ZSET  workspace -> ms of its first mark since its
 *                                       last drain (ZADD NX; src/sched/dirty.c)
 *   PREFIX:{pool}:dirtyjobs             HASH  workspace -> its drained backup not ended yet
 * Job ids are deterministic: sched-{ws}-{tick}, prune-{ws}-{tick},
 * verify-{ws}-{tick} with tick = YYYYMMDDTHHMMZ (a workspace id too long for
 * the 128-character id limit is replaced by 32 hex digits of its sha256), so
 * a tick run twice, or by two schedulers, enqueues each job once. An alert is
 * an entry on the pool's events stream (PREFIX:{pool}:events) with
 * event=alert, also published on the channel of the same name. */
#ifndef SV_SCHEDULER_H
#define SV_SCHEDULER_H

#include <jansson.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "clock.h"
#include "config.h"
#include "err.h"

#define SCHED_ALERT_RATIO 0.01   /* alert when more than 1% of a tick's backups failed */
#define SCHED_PRUNE_EVERY_MS (24LL * 3600 * 1000) /* each workspace pruned once a day */

typedef struct sched sched_t;

/* A sorted, de-duplicated list of workspace ids (heap, owned). */
typedef struct sched_ws_list {
    char **names;
    size_t n, cap;
} sched_ws_list;
void sched_ws_list_free(sched_ws_list *l);

/* Opens the scheduler's Redis connection (and makes sure the queue's function
 * library is loaded). The config and clock must outlive it. */
int sched_new(const sv_config *cfg, const sv_clock *clock, sched_t **out, sv_err *err);
void sched_free(sched_t *s); /* NULL is a no-op */

/* Every workspace: DATA_DIR/ * /livestore.db, SQLVAULT_WORKSPACES and the Redis set. */
int sched_discover(sched_t *s, sched_ws_list *out, sv_err *err);

/* Enqueues tick tick_ms for the workspaces (discovered when ws is NULL).
 * *summary (new reference): tick, workspaces, enqueued, existing, backups,
 * prunes, verifies, ms, redis memory before/after. The tick's job ids are
 * kept in s for sched_wait_tick. */
int sched_run_tick(sched_t *s, int64_t tick_ms, const sched_ws_list *ws, json_t **summary,
                   sv_err *err);

/* Waits until every job of the last tick run has ended (or timeout_ms passed,
 * 0 = no limit), then evaluates it: counts by type and outcome, the backup
 * failure ratio, and the alert (log, event, metric) when above 1%. Adds
 * "results", "failure_ratio", "alert" and "timed_out" to summary. */
int sched_wait_tick(sched_t *s, int64_t timeout_ms, json_t *summary, sv_err *err);

/* Records tick_ms as done (never moves backwards). With fenced, only while
 * this scheduler holds the lead with its fencing token: SV_ELEASE otherwise. */
int sched_mark_tick(sched_t *s, int64_t tick_ms, bool fenced, sv_err *err);

/* The long-running loop: take or renew the lead, run the due tick once
 * (catch-up: only the latest missed one), evaluate finished ticks. Returns
 * when *stop becomes non-zero (giving up the lead) or on a fatal error. */
int sched_loop(sched_t *s, volatile sig_atomic_t *stop, sv_err *err);

/* ---- The dirty set (src/sched/dirty.c, docs/PROTOCOL.md "The dirty set") ---- */

#define SCHED_DIRTY_BATCH 500          /* workspaces one drain call takes at most */
#define SCHED_DIRTY_CALLS 20           /* drain calls per pool per poll, at most */
#define SCHED_DIRTY_POLL_MAX_MS 1000   /* the leader drains at least this often */

/* What one drain did, summed over the pools. */
typedef struct sched_dirty_stats {
    long long taken;      /* workspaces due, taken off the set */
    long long enqueued;   /* backups enqueued (reason dirty, mode auto) */
    long long coalesced;  /* due, but their previous dirty backup is still waiting */
    long long left;       /* workspaces still in the sets after the drain */
    bool more;            /* a pool hit the per-poll cap: more may be due now */
    int64_t ms;
} sched_dirty_stats;

/* Marks workspaces as written now (sv_clock): ZADD NX into their pool's
 * dirty set, and SADD PREFIX:workspaces. Every id is checked before any is
 * marked. *added counts the ones not already waiting. */
int sched_mark_dirty(sched_t *s, const char *const *ws, size_t n, size_t *added, sv_err *err);

/* Takes the workspaces marked at least SQLVAULT_INCREMENTAL_EVERY/2 before
 * now_ms off every pool's dirty set and enqueues their backups, in bounded
 * batches (sqlvault_dirty_drain). Does nothing when the setting is off. */
int sched_drain_dirty(sched_t *s, int64_t now_ms, sched_dirty_stats *out, sv_err *err);

/* Formats a tick for ids and messages: YYYYMMDDTHHMMZ (15 chars + NUL). */
void sched_tick_id(int64_t tick_ms, char out[16]);

#endif
