/* internal.h -- helpers shared by the files of src/restore/ only. */
#ifndef SV_RESTORE_INTERNAL_H
#define SV_RESTORE_INTERNAL_H

#include <sqlite3.h>
#include <jansson.h>
#include "err.h"
#include "restore.h"
#include "util.h"

/* Opens a database file we own read-only, immutable (no locks, no -wal or
 * -shm files), hardened for untrusted content. */
int restore_open_ro(const char *path, sqlite3 **out, sv_err *err);

/* Fills err from a SQLite failure (classified by snapshot_classify; corrupt
 * and can't-open both mean "not a valid database" here). Returns -1. */
int restore_sql_fail(sqlite3 *db, int rc, const char *what, sv_err *err);

/* Runs a query returning one integer into *out. */
int restore_query_int(sqlite3 *db, const char *sql, int64_t *out, sv_err *err);

/* Phase 1 of a restore or a verify: the source streamed into a temporary
 * file and validated. For a backup source ts and *meta (new reference) are
 * filled; otherwise ts is "" and *meta NULL. On failure nothing is left. */
int restore_prepare(job_ctx *ctx, const restore_source *src, const char *require_tables, restore_fetched *f,
                    restore_validated *val, char ts[SV_TS_LEN], json_t **meta, int64_t *validate_ms, sv_err *err);

/* The chain of a backup (links.c): its members base first (ts[n-1] is the
 * backup asked for; n is 1 for a full) with their metadata.json. */
typedef struct chain_prefetch chain_prefetch;
typedef struct chain_proof chain_proof;
typedef struct restore_chain {
    const char *ws;           /* whose backups (points into the caller's string) */
    size_t n;
    char (*ts)[SV_TS_LEN];    /* heap */
    json_t **meta;            /* heap, one reference each (a link's trimmed to what a restore reads) */
    uint64_t *obj_size;       /* heap: each member's object size in the listing */
    chain_prefetch *pf;       /* the links' download ahead of their application (links.c) */
    chain_proof *proof;       /* the result's state checksum, summed in a thread (links.c) */
} restore_chain;

/* Picks the backup named by at from one listing of ws (exact: that time
 * only, see catalog_pick) and walks its chain to the base (catalog_chain):
 * refused naming a missing link. Reads the base's metadata.json (checked
 * against the workspace for a chain). For a chain, a pool of fetcher
 * threads (SQLVAULT_RESTORE_CONCURRENCY, each with its own store
 * connection) starts reading the links' metadata.json and downloading their
 * objects into flocked temporary files, while the base is fetched;
 * restore_chain_free stops them and removes their files.
 * *out is empty on failure. */
int restore_chain_resolve(job_ctx *ctx, const char *ws, const char *at, bool exact, restore_chain *out, sv_err *err);
/* Waits for the links' metadata and cross-checks every link (workspace,
 * type, parent, parent state checksum against the parent's stateChecksum,
 * base, chain length, object name): refused naming the link. Call before
 * restore_chain_apply; a no-op for a full. */
int restore_chain_check(restore_chain *c, sv_err *err);
/* Applies the links of c (after the base) onto f's temporary file, which
 * holds the fetched base: each link streamed, checked (object checksum,
 * page stream checksum) and fed to chain_apply. Then starts the proof of
 * the result, its state checksum, in a thread of its own, so that it reads
 * the file while the caller runs integrity_check on it; restore_chain_prove
 * must follow before the file is used. Fills f's chain fields and size.
 * Each link's metadata (but the target's) is released once it is applied.
 * A no-op (but chain_base) for a full. */
int restore_chain_apply(job_ctx *ctx, restore_chain *c, restore_fetched *f, sv_err *err);
/* Waits for the proof: the result's state checksum must equal the target's
 * stateChecksum (SV_ECHECKSUM naming the chain when not). Fills f->state_sum
 * and f->sum (the state checksum: the result's sha256 is not computed). A
 * no-op for a full. */
int restore_chain_prove(job_ctx *ctx, restore_chain *c, restore_fetched *f, sv_err *err);
void restore_chain_free(restore_chain *c); /* safe on a zeroed chain and twice */

/* LiveStore stores (store.c): true when this restore goes to a store (the
 * workspace is one, or the source is a store backup or a bare event log
 * file and the workspace is not a single file), and the store restore. */
/* Emits an event if the runner has a channel (failures logged). */
void restore_emit(job_ctx *ctx, const char *event, json_t *data);
/* Clears the pause flag (retried; a newer attempt's flag is left alone). */
bool restore_unpause(job_ctx *ctx);
/* The pause a delta restore hands to the full path when it gives way after
 * pausing: the listeners stay paused, one restore.started, one end event. */
typedef struct restore_held_pause {
    bool held, acked;
    int listeners;
    int64_t t_pause, wait_ms;
} restore_held_pause;
/* A delta restore (delta.c): 1 done (*result set), 0 not applicable (the
 * live file untouched: the full path follows; why says so; *hold says
 * whether the pause is still on), -1 failed with the live file whole (its
 * old content). */
int restore_delta(job_ctx *ctx, const char *live, const char *ts, const char *from, const char *rec,
                  json_t **result, restore_held_pause *hold, char *why, size_t why_cap, sv_err *err);
/* Rolls back a hot journal beside the live file (a killed delta restore's,
 * or the application's own), as SQLite's next open would: before any swap. */
int restore_settle_journal(job_ctx *ctx, const char *live);
/* The commit point before a swap: renews the lease (job_fence), then sets
 * the workspace's pause flag, *paused true once it is set. */
int restore_pause_begin(job_ctx *ctx, bool *paused, sv_err *err);

/* Waits until every live listener acked the pause flag just set, or
 * timeout_ms passed; *acked is false on a timeout, *listeners gets the live
 * listener count. Fails only when the job is cancelled meanwhile. */
int restore_wait_acks(job_ctx *ctx, int64_t timeout_ms, bool *acked, int *listeners, sv_err *err);

bool restore_is_store(job_ctx *ctx, const restore_source *src);
int restore_store(job_ctx *ctx, const restore_source *src, json_t **result, sv_err *err);

/* The pre-restore safety backup in a thread of its own (safety.c), for an
 * inline restore (a queued one hands it to a follow-up job). restore_safety_free
 * cancels it (nothing is committed after). The accessors read the outcome
 * after restore_safety_join: ts of the committed backup (NULL if it failed),
 * the error, its duration. */
typedef struct restore_safety restore_safety;
int restore_safety_start(job_ctx *ctx, const char *db, restore_safety **out, sv_err *err);
int restore_safety_join(restore_safety *s);
const char *restore_safety_ts(const restore_safety *s);
const char *restore_safety_error(const restore_safety *s);
int64_t restore_safety_ms(const restore_safety *s);
void restore_safety_free(restore_safety *s); /* cancels and joins a running one; NULL ok */

/* The swap by rename (rename.c). restore_live_quiet: live is a WAL
 * database with no WAL content that no other process has open. */
bool restore_live_quiet(const char *live);

typedef struct restore_rename {
    const char *tmp;          /* the validated file (durable once swapped) */
    const char *live;
    uint32_t page_size;       /* the validated file's */
    bool replaced;            /* out: the live page size differed (the old file is kept aside) */
    char *copy;               /* out (heap): where the old live file now is (LIVE.pre-restore-TS or .replaced-TS) */
} restore_rename;

/* When live is quiet (see above) and on tmp's filesystem: makes tmp
 * durable (keeping WAL mode and the live file's mode), renews the fence, then under SQLite's locks links live to
 * r->copy and renames tmp onto live. 1 when swapped, 0 when not applicable
 * (nothing changed: use restore_swap), -1 on error (nothing changed). */
int restore_swap_rename(job_ctx *ctx, restore_rename *r, sv_err *err);
/* Moves r->copy back onto r->live (a swap that must be undone). */
int restore_rename_undo(const restore_rename *r, sv_err *err);

#endif
