/* backup.h -- the backup pipeline and metadata.json.
 *
 * backup_take: snapshot -> sha256 -> zstd (checksum flag, worker threads) ->
 * store writer, streamed in fixed-size chunks (memory does not grow with the
 * database), then metadata.json written last with If-None-Match as the commit
 * marker. Used by the backup job, by export (which also tees the plain .db to
 * an export key) and by restore (the pre-restore safety backup). */
#ifndef SV_BACKUP_H
#define SV_BACKUP_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include "job.h"
#include "util.h"

#define BACKUP_META_VERSION "1.0"
#define BACKUP_OBJECT "livestore.db.zst"

typedef struct backup_params {
    const char *workspace;
    const char *db_path;      /* the live database */
    int64_t ts_ms;            /* backup folder time; <= 0 = now */
    const char *backup_type;  /* "full" (default) or "pre-restore" */
    const char *reason;       /* "manual", "scheduled", "export", "pre-restore" */
    const char *user_id;      /* may be NULL */
    const char *export_key;   /* also write the plain snapshot here; NULL = no */
} backup_params;

typedef struct backup_outcome {
    char ts[SV_TS_LEN];       /* folder name */
    json_t *metadata;         /* new reference: the committed metadata.json */
    bool already_committed;   /* an earlier attempt had committed this backup */
    const char *snapshot;     /* "direct" or "copy" (snapshot.h); NULL if already committed */
    int64_t duration_ms;
} backup_outcome;

/* Runs the pipeline (see above). out->metadata is owned by the caller. */
int backup_take(job_ctx *ctx, const backup_params *p, backup_outcome *out, sv_err *err);

/* Key helpers: full/WS/TS/NAME, heap strings. */
char *backup_key(const char *ws, const char *ts, const char *name);

/* Parses and checks a metadata.json text: refuses an unknown major version
 * and missing required fields (SV_ECORRUPT). *out is a new reference. */
int backup_meta_parse(const char *text, json_t **out, sv_err *err);

/* Decodes opts "ts" (a folder timestamp, an ISO time, or ms) into ms; 0 if absent. */
int backup_opts_ts(json_t *opts, int64_t *ms, sv_err *err);

#endif
