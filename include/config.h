/* config.h -- configuration from the environment, each variable overridable by
 * the flag of the same name (SQLVAULT_ZSTD_LEVEL -> --zstd-level).
 *
 * config_load collects every problem before failing, so the user sees them all
 * at once, each naming its variable. The struct owns its strings; config_free
 * releases them. Secrets live only here and in the S3 driver's signer. */
#ifndef SV_CONFIG_H
#define SV_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include "err.h"

typedef struct sv_config {
    char *redis_url;       /* redis://[:password@]host:port[,host:port...]/db */
    char *redis_host;      /* parsed from redis_url */
    int redis_port;
    int redis_db;
    char *redis_password;  /* secret, may be NULL */
    char *redis_prefix;    /* "sqlvault" */
    char *store_url;       /* file:///path or s3://bucket/prefix/ */
    char *s3_endpoint;     /* https://ACCOUNT.r2.cloudflarestorage.com; NULL = AWS */
    char *s3_region;       /* "auto" */
    char *access_key_id;   /* secret-ish: never logged */
    char *secret_access_key; /* secret */
    char *data_dir;        /* ./data */
    char *tmp_dir;         /* SQLVAULT_TMP_DIR, default DATA_DIR/.sqlvault-tmp */
    char *workspaces;      /* static comma list, may be NULL */
    char *schedule;        /* 5-field cron */
    char *retention;       /* all:30d,daily:365d */
    int threads;
    int64_t lease_ms;
    int max_attempts;
    int zstd_level;
    uint64_t part_size;
    int upload_concurrency;
    int64_t export_ttl_s;
    uint64_t max_db_size;
    char *metrics_addr;    /* NULL = off */
    bool log_json;
    int64_t verify_every_ms; /* SQLVAULT_VERIFY_EVERY, default 7d */
    int64_t grace_ms;      /* --grace, default 30s */
    char *pools;           /* "default" */
    char *pool;            /* pool a job command enqueues into */
    char *alert_webhook;   /* SQLVAULT_ALERT_WEBHOOK, NULL = off; secret (never logged) */
    char *alert_format;    /* json, slack or sentry */
    int64_t pause_timeout_ms; /* SQLVAULT_PAUSE_TIMEOUT: a restore's wait for pause acks, default 10s */
    char *encryption_key_file;     /* KEK file (crypto.h); NULL = encryption off */
    char *encryption_old_key_file; /* previous KEK during a rotation, unwrap only */

    int64_t redis_wait_ms; /* SQLVAULT_REDIS_WAIT: WAIT 1 timeout after enqueues and completions, 0 = off */
    char *allow_dirs;      /* SQLVAULT_ALLOW_DIRS: colon list of folders queued jobs may use besides DATA_DIR/WS/; NULL */

    /* Tuning knobs, read like every other variable (README lists them). */
    bool snapshot_copy;         /* SQLVAULT_SNAPSHOT_COPY: never snapshot a checkpointed WAL file in place */
    int64_t retry_base_ms;      /* SQLVAULT_RETRY_BASE: a failed job's first retry delay (doubles), 1s */
    int store_copy_tries;       /* SQLVAULT_STORE_COPY_TRIES: optimistic copies of a LiveStore store, 60 */
    int64_t quiesce_timeout_ms; /* SQLVAULT_QUIESCE_TIMEOUT_MS: a store backup's wait for quiesce acks, 10000 */
    bool debug;                 /* SQLVAULT_DEBUG: debug logs */
    int64_t incremental_every_ms; /* SQLVAULT_INCREMENTAL_EVERY: the dirty set's RPO target, 1m; 0 = off */
    char *state_dir;            /* SQLVAULT_STATE_DIR: local chain states (chain.h), default DATA_DIR/.sqlvault-state */
    int64_t full_every_ms;      /* SQLVAULT_FULL_EVERY: a chain's base older than this makes a full, 24h; 0 = no incrementals */
    int max_chain;              /* SQLVAULT_MAX_CHAIN: incrementals after a full before the next full, 1440 */
    bool restore_delta;         /* SQLVAULT_RESTORE_DELTA: delta restores (delta.c), on */
    uint64_t query_cache;       /* SQLVAULT_QUERY_CACHE: frames kept while reading a backup in place, 32MiB */
    int restore_concurrency;    /* SQLVAULT_RESTORE_CONCURRENCY: a chain restore's downloads in flight, 8 */
    char *bucket_lock;          /* SQLVAULT_BUCKET_LOCK: the store's lock age as given ("7d"), NULL = none known */
    int64_t bucket_lock_ms;     /* the same in ms, 0 = none known */
    char *replicas;             /* SQLVAULT_REPLICAS: NAME=URL,... further stores (replica.h); NULL = none */
    /* Test knobs (SV_CONFIG_TEST rows: environment only, never in --help or
     * the README's table; never set them in production). */
    bool test_jobs;             /* SQLVAULT_TEST_JOBS=1: the sleep and fail job types (worker/testjobs.c) */
    int test_delta_kill;        /* SQLVAULT_TEST_DELTA_KILL: a delta restore exits at a point (delta.c) */
    bool test_fail_swap;        /* SQLVAULT_TEST_FAIL_SWAP=1: a restore's swap fails after copying */
    int64_t test_swap_busy_ms;  /* SQLVAULT_TEST_SWAP_BUSY_MS: the swap's wait on locks (0 = 30 s) */
    bool test_store_busy;       /* SQLVAULT_TEST_STORE_BUSY: a store's optimistic copy fails as busy */
    int64_t test_query_limit_ms; /* SQLVAULT_TEST_QUERY_LIMIT_MS: how long a query may run (0 = 60 s) */
    bool store_no_quiesce;      /* SQLVAULT_STORE_NO_QUIESCE: a busy store fails instead of quiescing */
    int64_t test_rotate_kill;   /* SQLVAULT_TEST_ROTATE_KILL=N:get|put: keys rotate SIGKILLs itself at its Nth re-wrap */
    bool test_rotate_kill_put;  /* ... after that re-wrap's PUT (else after its GET, before the PUT) */
} sv_config;

/* One configuration variable, for --help and the README. */
typedef struct sv_config_var {
    const char *env;     /* SQLVAULT_ZSTD_LEVEL */
    const char *flag;    /* zstd-level; NULL for a test knob (environment only) */
    const char *deflt;   /* "3" or NULL */
    const char *help;
} sv_config_var;
/* A test knob's row has no flag and is left out of --help. */
#define SV_CONFIG_TEST(v) ((v)->flag == NULL)
extern const sv_config_var sv_config_vars[];

/* Loads defaults, then the environment, then flags found in argv (--name value
 * or --name=value for any variable's flag; consumed flags are removed from
 * argv, *argc updated). Returns -1 with every problem listed in err->msg
 * (one per line), code SV_EINVAL. */
int config_load(sv_config *c, int *argc, char **argv, sv_err *err);
void config_free(sv_config *c);
/* DATA_DIR/WS/livestore.db, heap string owned by caller. */
char *config_db_path(const sv_config *c, const char *ws);

#endif
