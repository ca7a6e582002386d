/* backup.h -- the backup pipeline and metadata.json.
 *
 * backup_take: snapshot -> sha256 -> zstd (checksum flag, worker threads) ->
 * store writer, streamed in fixed-size chunks (memory does not grow with the
 * database), then metadata.json written last with If-None-Match as the commit
 * marker. Used by the backup job, by export (which also tees the plain .db to
 * an export key) and by restore (the pre-restore safety backup).
 *
 * The backup is labelled with its snapshot's time (folder, metadata
 * timestamp), so every attempt of a job writes its own keys and a stale
 * attempt can never overwrite another's object. With once set, exactly one
 * backup per job is committed: the first attempt to reach its commit point
 * stores a commit record (its folder and metadata.json text) through
 * job_commit, fenced by its lease; every later attempt, and any attempt that
 * finds a record, writes that same metadata.json (If-None-Match) instead of
 * its own. See docs/DESIGN.md. */
#ifndef SV_BACKUP_H
#define SV_BACKUP_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include "job.h"
#include "snapshot.h"
#include "util.h"

#define BACKUP_META_VERSION "1.0"
#define BACKUP_OBJECT "livestore.db.zst"
/* A LiveStore store's backup: the event log and the state file (metadata.json
 * "files" names the store's own file names). */
#define BACKUP_EVENTLOG_OBJECT "eventlog.db.zst"
#define BACKUP_STATE_OBJECT "state.db.zst"

typedef struct backup_params {
    const char *workspace;
    const char *db_path;      /* the live database */
    int64_t ts_ms;            /* explicit label (tests, imports); <= 0 = the snapshot's time */
    int64_t tick_ms;          /* the scheduler's tick, kept as metadata "tickTime"; 0 = none */
    bool once;                /* one committed backup per job (job_commit); backup and export */
    const char *store_dir;    /* non-NULL: a LiveStore store directory (livestore.h), db_path unused */
    const char *backup_type;  /* "full" (default) or "pre-restore" */
    const char *reason;       /* "manual", "scheduled", "export", "pre-restore" */
    const char *user_id;      /* may be NULL */
    bool export_plain;        /* also write the plain snapshot at backup_export_key */
    const char *mode;         /* a backup job's: "auto" (an incremental when the chain allows, unchanged
                               * skipped) or "full" (a full that starts a chain); NULL: a full outside
                               * any chain (export, pre-restore). See chain.h and docs/DESIGN.md */
} backup_params;

typedef struct backup_outcome {
    char ts[SV_TS_LEN];       /* folder name */
    json_t *metadata;         /* new reference: the committed metadata.json */
    bool already_committed;   /* an earlier attempt had committed this backup */
    const char *snapshot;     /* "direct", "copy" (snapshot.h) or "store"; NULL if already committed */
    int64_t duration_ms;
    char *export_key;         /* with export_plain: the plain copy's key (heap) */
    bool unchanged;           /* nothing changed since the chain's head: nothing written, ts names the head */
    json_t *head;             /* with unchanged: the head's backupType, stateChecksum, base, chainLength (new ref) */
    const char *full_reason;  /* a chain's backup taken as a full: why (static string), else NULL */
    char db_sum[72];          /* this attempt's own commit: the first file's plain sha256 ("" otherwise;
                               * an encrypted backup's metadata holds it keyed, crypto.h) */
    char snapshot_fp[SNAPSHOT_FP_LEN]; /* the database's fingerprint when its snapshot was taken, stable
                               * or not ("" without a snapshot): a caller that knows no commit came since
                               * compares it itself (a delta restore, in its pause; delta.c) */
    bool state_saved;         /* this attempt saved the chain state: its page hashes are this snapshot's */
} backup_outcome;

/* Runs the pipeline (see above). out->metadata is owned by the caller. */
int backup_take(job_ctx *ctx, const backup_params *p, backup_outcome *out, sv_err *err);

/* Copies the LiveStore store in dir consistently (store.c): optimistic tries
 * first, then, when the job can reach the store's Node server, the quiesce
 * protocol (docs/PROTOCOL.md). *report (new reference) says which way was
 * taken and how many tries it needed; out is released by the caller. */
struct ls_copy;
int backup_store_copy(job_ctx *ctx, const char *dir, struct ls_copy *out, json_t **report, sv_err *err);

/* Key helpers: full/WS/TS/NAME, heap strings. */
char *backup_key(const char *ws, const char *ts, const char *name);
/* exports/WS/JOB/WS-TS.db: the plain copy an export writes beside its backup. */
char *backup_export_key(const char *ws, const char *job_id, const char *ts);
/* Frees what an outcome holds. */
void backup_outcome_clear(backup_outcome *out);

/* Parses and checks a metadata.json text: refuses an unknown major version
 * and missing required fields (SV_ECORRUPT). *out is a new reference. */
int backup_meta_parse(const char *text, json_t **out, sv_err *err);

/* Decodes opts[name] ("ts": an explicit label; "tick": the scheduler's tick)
 * (a folder timestamp, an ISO time, or ms) into ms; 0 if absent. */
int backup_opts_time(json_t *opts, const char *name, int64_t *ms, sv_err *err);
#define backup_opts_ts(opts, ms, err) backup_opts_time((opts), "ts", (ms), (err))

#endif
