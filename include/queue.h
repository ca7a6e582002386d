/* queue.h -- the Redis job queue (owned by the queue module).
 *
 * The full protocol (keys, scripts, leases) is in docs/PROTOCOL.md; this
 * header is the part other modules call. */
#ifndef SV_QUEUE_H
#define SV_QUEUE_H

#include <jansson.h>
#include <stdbool.h>
#include "config.h"
#include "err.h"

/* ---- The protocol, for the worker pool, the scheduler and the CLI ----
 *
 * A queue_conn (include/queue_conn.h, the one Redis layer) is one Redis
 * connection with the sqlvault function library loaded; it is used by one
 * thread at a time.
 *
 * Every call returns 0 or -1 with err filled: SV_EUNREACH when Redis cannot
 * be reached or is loading (retry after queue_conn_ensure), SV_EINVAL for
 * a request the functions refuse, SV_EINTERNAL otherwise. "base" is a pool's
 * key prefix, "PREFIX:{pool}:" (queue_pool_base). */
#include <stddef.h>
#include <stdint.h>
#include "queue_conn.h"

/* "PREFIX:{pool}:" as a heap string the caller frees; NULL on OOM. */
char *queue_pool_base(const sv_config *cfg, const char *pool);
/* Splits cfg->pools ("a,b") into a NULL-terminated heap array of bases;
 * free with queue_bases_free. *n gets the count. */
char **queue_pool_bases(const sv_config *cfg, const char *pools, size_t *n);
void queue_bases_free(char **bases);

/* The pool set: SQLVAULT_POOL (and the Node client's `pool`) may be a list
 * "a,b,c"; a workspace then always goes to the same pool of it, so every
 * client (scheduler, CLI, Node) sends it where its lock lives. The list is
 * split on commas and spaces, empty items dropped and a repeated name kept
 * only at its first place (as queue_pool_bases); workspace WS goes to item
 * number queue_pool_hash(WS) % n (0-based), the hash being 32-bit FNV-1a
 * over the id's bytes (offset basis 2166136261, prime 16777619). A single
 * name is that pool for every workspace. */
uint32_t queue_pool_hash(const char *ws);
/* The base of ws's pool in the list pools (NULL/"" = "default"); heap, NULL on OOM. */
char *queue_pool_base_for(const sv_config *cfg, const char *pools, const char *ws);

/* Options <-> msgpack map. pack: opts may be NULL (empty map); *buf heap.
 * unpack: len 0 gives an empty object; *out is a new reference. */
int queue_opts_pack(json_t *opts, char **buf, size_t *len, sv_err *err);
int queue_opts_unpack(const char *buf, size_t len, json_t **out, sv_err *err);

/* What a producer asks for. */
typedef struct queue_job_spec {
    const char *id, *type, *workspace; /* workspace NULL or "" = none */
    const char *priority;              /* interactive | dirty | scheduled (claim order) */
    int max_attempts;
    const char *opts; size_t opts_len; /* msgpack map, may be empty */
    const char *reason;                /* may be NULL */
} queue_job_spec;
/* Enqueues (deduped by id). *created false when the id existed; state gets
 * the job's state (at least 16 bytes). */
int queue_enqueue(queue_conn *c, const char *base, const queue_job_spec *j, bool *created,
                  char *state, size_t state_cap, sv_err *err);

/* Enqueues n jobs pipelined (windows of QUEUE_ENQUEUE_WINDOW, one round
 * trip each), deduped by id like queue_enqueue. *created / *existing (may be
 * NULL) count the outcomes. A window that found the function library
 * missing is loaded and sent again (enqueue is idempotent). On failure err
 * names the first job refused; the others of its window still count. */
#define QUEUE_ENQUEUE_WINDOW 1000
int queue_enqueue_many(queue_conn *c, const char *base, const queue_job_spec *jobs, size_t n, size_t *created,
                       size_t *existing, sv_err *err);

/* A claimed job; queue_job_clear frees opts. */
typedef struct queue_job {
    char id[130], type[66], workspace[130], token[40];
    int attempt, max_attempts;
    int64_t ts;          /* fixed at the first claim (ms): the backup timestamp */
    int64_t fence;       /* workspace-lock fencing token */
    char *opts; size_t opts_len;
} queue_job;
void queue_job_clear(queue_job *j);
/* Claims the next runnable job of the pool (interactive first) under a lease
 * of lease_ms with the caller's token (j->token must be set). *got false when
 * nothing is runnable. */
int queue_claim(queue_conn *c, const char *base, const char *worker, int64_t lease_ms,
                queue_job *j, bool *got, sv_err *err);

typedef enum { QUEUE_DONE_OK, QUEUE_DONE_FAIL, QUEUE_DONE_CANCEL } queue_outcome;
/* Ends an attempt. payload: the result JSON (ok) or error message (fail);
 * code: sv_code_name of the error; retry_ms >= 0 asks for a retry after that
 * delay (the function fails the job when attempts are used up), -1 fails now.
 * rt: round trips this job cost. *accepted false: the lease was lost and
 * nothing was written. state (may be NULL, 16 bytes) gets the new state. */
int queue_complete(queue_conn *c, const char *base, const char *id, const char *token,
                   queue_outcome o, const char *payload, const char *code, int64_t retry_ms,
                   uint64_t rt, bool *accepted, char *state, sv_err *err);
/* Writes stage and bytes; *accepted false when the lease is lost. */
int queue_progress(queue_conn *c, const char *base, const char *id, const char *token,
                   const char *stage, uint64_t done, uint64_t total, bool *accepted, sv_err *err);
/* The job's commit record (sqlvault_commit): renews the lease, then reads
 * (record NULL) or stores record unless one exists. 0 with *accepted true
 * and *existing the record there is (heap, caller frees) or NULL; *accepted
 * false when the lease is lost. */
int queue_commit(queue_conn *c, const char *base, const char *id, const char *token, int64_t lease_ms,
                 const char *record, bool *accepted, char **existing, sv_err *err);
/* Takes (on) or releases a workspace's lock for a job that has none of its
 * own (sqlvault_wslock): *result 1 done, 0 held by another job, -1 lease lost. */
int queue_wslock(queue_conn *c, const char *base, const char *id, const char *token, const char *ws, bool on,
                 int *result, sv_err *err);
/* Renews one lease now (before a commit point); *accepted false when lost. */
int queue_renew(queue_conn *c, const char *base, const char *id, const char *token, int64_t lease_ms,
                bool *accepted, sv_err *err);
/* Gives a running job back (shutdown) without using an attempt. */
int queue_release(queue_conn *c, const char *base, const char *id, const char *token,
                  bool *accepted, sv_err *err);
/* Appends a job event (restore.started ...) with data (borrowed, may be NULL). */
int queue_emit(queue_conn *c, const char *base, const char *id, const char *token,
               const char *event, json_t *data, bool *accepted, sv_err *err);
/* Records value in the job's field (only "source") once: *out (heap) gets
 * the recorded value, the first attempt's. *accepted false (and *out NULL)
 * when token no longer holds the lease. */
int queue_pin(queue_conn *c, const char *base, const char *id, const char *token, const char *field,
              const char *value, char **out, bool *accepted, sv_err *err);
/* Cancels a job; state gets the state after the call ("" if no such job). */
int queue_cancel(queue_conn *c, const char *base, const char *id, char *state, size_t cap,
                 sv_err *err);

/* Housekeeping for one pool: marks the worker alive, renews the leases in
 * ids/tokens, requeues stalled jobs, promotes due retries. lost[i] / cancel[i]
 * (arrays of n, filled) say which of ids lost the lease / were asked to stop. */
int queue_tick(queue_conn *c, const char *base, const char *worker, int64_t lease_ms,
               uint64_t rt_overhead, const char *const *ids, const char *const *tokens, size_t n,
               bool *lost, bool *cancel, sv_err *err);
/* Removes a stopping worker from the pool's live workers. */
int queue_worker_gone(queue_conn *c, const char *base, const char *worker, sv_err *err);
/* Blocks up to timeout_ms for a wake token on any of the pools. */
int queue_wait_wake(queue_conn *c, char *const *bases, size_t n, int64_t timeout_ms, sv_err *err);

/* The restore pause (docs/PROTOCOL.md): the flag PREFIX:pause:{ws} holds
 * "JOB:FENCE:TOKEN" and belongs to that attempt. A stale attempt (lower
 * fence) can neither overwrite nor clear the flag of the attempt after it. */
typedef struct queue_pause_owner {
    const char *ws, *job_id, *token;
    int64_t fence;           /* the attempt's workspace-lock fence */
} queue_pause_owner;
/* Sets or renews the flag with a TTL; *owned false when a newer attempt
 * holds it (nothing changed). A flag set afresh starts with no acks. */
int queue_pause_set(queue_conn *c, const sv_config *cfg, const queue_pause_owner *o, int64_t ttl_ms, bool *owned,
                    sv_err *err);
/* Deletes the flag and the job's acks if o owns it; *cleared false when
 * another attempt owns it (left as is). An absent flag counts as cleared. */
int queue_pause_clear(queue_conn *c, const sv_config *cfg, const queue_pause_owner *o, bool *cleared, sv_err *err);
/* Extends the flag's TTL if o owns it (housekeeping, while the restore runs). */
int queue_pause_touch(queue_conn *c, const sv_config *cfg, const queue_pause_owner *o, int64_t ttl_ms, sv_err *err);
/* Live listeners of ws (PREFIX:listeners:{ws} members whose score is in the
 * future) and how many of them acked job_id (PREFIX:acks:{ws}:JOB). */
int queue_pause_acks(queue_conn *c, const sv_config *cfg, const char *ws, const char *job_id, int *live, int *acked,
                     sv_err *err);

/* The backup quiesce flag PREFIX:quiesce:{ws} (value: the job id, TTL as a
 * safety net); on=false deletes it only if it still holds job_id. */
int queue_set_quiesce(queue_conn *c, const sv_config *cfg, const char *ws, const char *job_id, bool on,
                      int64_t ttl_ms, sv_err *err);
/* Live listeners of ws (PREFIX:listeners:{ws} members scored > now_ms) and
 * how many of them are in PREFIX:acks:{ws}:job_id. */
int queue_listener_acks(queue_conn *c, const sv_config *cfg, const char *ws, const char *job_id, int64_t now_ms,
                        int *live, int *acked, sv_err *err);

/* One job hash as a JSON object (numbers as numbers, result parsed, opts
 * decoded); *out NULL when the job does not exist. */
int queue_job_get(queue_conn *c, const char *base, const char *id, json_t **out, sv_err *err);
/* A job's state and progress (one HMGET), what a waiting CLI draws. */
typedef struct queue_progress_info {
    bool exists;             /* false: no such job (expired or never enqueued) */
    char state[16];          /* queued, running, delayed, succeeded, failed, cancelled */
    char stage[64];          /* the job's last progress stage, "" if none */
    uint64_t done, total;    /* bytes; total 0 when unknown */
} queue_progress_info;
int queue_job_progress(queue_conn *c, const char *base, const char *id, queue_progress_info *out, sv_err *err);
/* True for a state a job does not leave: succeeded, failed, cancelled. */
bool queue_state_final(const char *state);
/* GET PREFIX:name (e.g. "metrics:last_tick_failure_ratio"); *out heap or NULL if absent. */
int queue_get_key(queue_conn *c, const sv_config *cfg, const char *name, char **out, sv_err *err);
/* Depths, counters and ratios of one pool as a JSON object. */
int queue_stats(queue_conn *c, const char *base, int64_t alive_ms, json_t **out, sv_err *err);
/* PREFIX:verified (src/queue/verified.c): the newest verified backup of each
 * workspace. note_verified moves a workspace's entry forward only; each calls
 * fn once per workspace. */
int queue_note_verified(queue_conn *c, const sv_config *cfg, const char *ws, int64_t backup_ms, sv_err *err);
/* PREFIX:{replica:NAME}:behind (src/queue/replica_lag.c): the workspaces a
 * replica store lacks backups of. mark after a backup committed in the
 * primary, done after a replicate job brought the replica up to upto_ms; lag
 * reads the age of the oldest backup not yet replicated (0 when none) and
 * how many workspaces are behind. */
int queue_replica_mark(queue_conn *c, const sv_config *cfg, const char *store, const char *ws, int64_t backup_ms,
                       sv_err *err);
int queue_replica_done(queue_conn *c, const sv_config *cfg, const char *store, const char *ws, int64_t upto_ms,
                       sv_err *err);
int queue_replica_lag(queue_conn *c, const sv_config *cfg, const char *store, int64_t now_ms, double *lag_s,
                      int64_t *behind, sv_err *err);
int queue_verified_each(queue_conn *c, const sv_config *cfg, void (*fn)(void *ud, const char *ws, int64_t ms),
                        void *ud, sv_err *err);
/* The newest jobs of one pool (newest first, up to limit), as an array. */
int queue_recent(queue_conn *c, const char *base, size_t scan, json_t **out, sv_err *err);

/* The embedded function library (src/queue/sqlvault.lua) and its version
 * (VERSION there): a connection loads the library when Redis has an older
 * one, so bump both on every change. */
#define QUEUE_LIBRARY_VERSION 10
extern const char queue_script_lua[];

#endif
