/* config.c -- configuration from the environment and flags (README.md, Configuration).
 *
 * Every variable has a flag of the same name. Problems are collected and
 * reported together, one line each, naming the variable; nothing secret is
 * ever echoed back (a bad secret is reported by name only). */
#include <ctype.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "config.h"
#include "util.h"

const sv_config_var sv_config_vars[] = {
    {"SQLVAULT_REDIS_URL", "redis-url", "redis://127.0.0.1:6379/0",
     "redis://[:password@]host:port/db; a cluster: any node, or a comma list host:port,host:port"},
    {"SQLVAULT_REDIS_PREFIX", "redis-prefix", "sqlvault", "prefix of every redis key"},
    {"SQLVAULT_STORE", "store", "file://./var/backups", "file:///path or s3://bucket/prefix/"},
    {"SQLVAULT_S3_ENDPOINT", "s3-endpoint", NULL, "S3 endpoint, e.g. https://ACCOUNT.r2.cloudflarestorage.com"},
    {"SQLVAULT_S3_REGION", "s3-region", "auto", "SigV4 region"},
    {"AWS_ACCESS_KEY_ID", "access-key-id", NULL, "S3 access key id (alias R2_ACCESS_KEY_ID)"},
    {"AWS_SECRET_ACCESS_KEY", "secret-access-key", NULL, "S3 secret key (alias R2_SECRET_ACCESS_KEY)"},
    {"SQLVAULT_DATA_DIR", "data-dir", "./data", "workspace files live at DATA_DIR/WS/livestore.db"},
    {"SQLVAULT_TMP_DIR", "tmp-dir", NULL, "temporary snapshots (default DATA_DIR/.sqlvault-tmp)"},
    {"SQLVAULT_WORKSPACES", "workspaces", NULL, "static comma list of workspaces"},
    {"SQLVAULT_SCHEDULE", "schedule", "0 */6 * * *", "5-field cron, UTC"},
    {"SQLVAULT_RETENTION", "retention", "all:30d,daily:365d", "retention rules"},
    {"SQLVAULT_THREADS", "threads", "4", "worker threads"},
    {"SQLVAULT_LEASE", "lease", "30s", "lease of a running job without heartbeat"},
    {"SQLVAULT_MAX_ATTEMPTS", "max-attempts", "5", "attempts before a job is failed"},
    {"SQLVAULT_ZSTD_LEVEL", "zstd-level", "3", "zstd compression level (1-19)"},
    {"SQLVAULT_PART_SIZE", "part-size", "16MiB", "multipart part size (5MiB-5GiB)"},
    {"SQLVAULT_UPLOAD_CONCURRENCY", "upload-concurrency", "2", "parts in flight per upload"},
    {"SQLVAULT_EXPORT_TTL", "export-ttl", "3600", "seconds a download URL lives"},
    {"SQLVAULT_MAX_DB_SIZE", "max-db-size", "32GiB", "largest database accepted"},
    {"SQLVAULT_METRICS_ADDR", "metrics-addr", NULL, "host:port serving /metrics, /healthz, /readyz"},
    {"SQLVAULT_LOG_FORMAT", "log-format", "json", "json or text"},
    {"SQLVAULT_VERIFY_EVERY", "verify-every", "7d", "every workspace verified at least this often"},
    {"SQLVAULT_GRACE", "grace", "30", "seconds running jobs get to finish on SIGTERM"},
    {"SQLVAULT_POOLS", "pools", "default", "pools a worker serves"},
    {"SQLVAULT_POOL", "pool", "default", "pool (or pool set a,b,c) job commands and the scheduler enqueue into"},
    {"SQLVAULT_ALERT_WEBHOOK", "alert-webhook", NULL, "URL that receives a JSON POST when the failure alert fires"},
    {"SQLVAULT_ALERT_FORMAT", "alert-format", "json", "body of the alert webhook: json, slack or sentry"},
    {"SQLVAULT_PAUSE_TIMEOUT", "pause-timeout", "10s", "how long a restore waits for listeners to ack its pause"},
    {"SQLVAULT_ENCRYPTION_KEY_FILE", "encryption-key-file", NULL,
     "key-encryption key file (32 bytes raw, hex or base64); set = backups encrypted"},
    {"SQLVAULT_ENCRYPTION_OLD_KEY_FILE", "encryption-old-key-file", NULL,
     "previous key-encryption key, still accepted while 'keys rotate' runs"},

    {"SQLVAULT_ALLOW_DIRS", "allow-dirs", NULL, "folders (colon list) queued jobs may read and write besides DATA_DIR/WS/"},
    {"SQLVAULT_REDIS_WAIT", "redis-wait", "1s",
     "how long an enqueue or completion waits for a replica's ack (WAIT 1) when the master has replicas; 0 = off"},
    {"SQLVAULT_SNAPSHOT_COPY", "snapshot-copy", NULL,
     "set: snapshot with the backup-API copy, never a checkpointed WAL file in place"},
    {"SQLVAULT_RETRY_BASE", "retry-base", "1s", "a failed job's first retry delay (doubles up to 5 minutes)"},
    {"SQLVAULT_STORE_COPY_TRIES", "store-copy-tries", "60", "optimistic copy tries of a LiveStore store before quiesce"},
    {"SQLVAULT_QUIESCE_TIMEOUT_MS", "quiesce-timeout-ms", "10000", "ms a store backup waits for its listeners' quiesce acks"},
    {"SQLVAULT_INCREMENTAL_EVERY", "incremental-every", "1m",
     "RPO target: a marked (dirty) workspace is backed up within this; off = no dirty-set backups"},
    {"SQLVAULT_DEBUG", "debug", NULL, "set: debug logs"},
    {"SQLVAULT_STATE_DIR", "state-dir", NULL,
     "local chain state of incremental backups (default DATA_DIR/.sqlvault-state)"},
    {"SQLVAULT_FULL_EVERY", "full-every", "24h",
     "a backup is a full when its chain's base is this old; 0 = every backup a full, no incrementals"},
    {"SQLVAULT_MAX_CHAIN", "max-chain", "1440", "a backup is a full when its chain has this many incrementals"},
    {"SQLVAULT_RESTORE_CONCURRENCY", "restore-concurrency", "8",
     "downloads in flight (each its own store connection) while a restore reads a chain's links"},
    {"SQLVAULT_RESTORE_DELTA", "restore-delta", "on",
     "on: a restore from a page-addressable backup rewrites only the pages that differ; off: always the full path"},
    {"SQLVAULT_QUERY_CACHE", "query-cache", "32MiB",
     "decompressed frames kept while query, inspect or a delta restore read a backup in place (4MiB-1GiB)"},
    {"SQLVAULT_BUCKET_LOCK", "bucket-lock", NULL,
     "the age of the store's bucket lock rule (R2) or Object Lock retention (S3), e.g. 7d: prune keeps younger "
     "backups without trying to delete them, and a dry run says so (a refused delete is handled either way)"},
    {"SQLVAULT_REPLICAS", "replicas", NULL,
     "further stores every committed backup is copied to: NAME=URL,... (file:// or s3://; "
     "SQLVAULT_REPLICA_<NAME>_S3_ENDPOINT, _S3_REGION, _ACCESS_KEY_ID, _SECRET_ACCESS_KEY, _RETENTION, default the primary's)"},
    /* Test knobs: environment only (no flag), not in --help (SV_CONFIG_TEST). */
    {"SQLVAULT_TEST_JOBS", NULL, NULL, "1: the sleep and fail job types"},
    {"SQLVAULT_TEST_FAIL_SWAP", NULL, NULL, "1: a restore's swap fails after copying (the rollback path)"},
    {"SQLVAULT_TEST_DELTA_KILL", NULL, NULL,
     "a delta restore's process exits at once: 1 after its journal is written, 2 mid-write, 3 before the journal goes"},
    {"SQLVAULT_TEST_SWAP_BUSY_MS", NULL, NULL, "ms the swap waits out other connections' locks (default 30 s)"},
    {"SQLVAULT_TEST_STORE_BUSY", NULL, NULL, "set: a store's optimistic copy fails as busy (the quiesce path)"},
    {"SQLVAULT_TEST_QUERY_LIMIT_MS", NULL, NULL, "ms a query may run before it is stopped (default 60 s)"},
    {"SQLVAULT_STORE_NO_QUIESCE", NULL, NULL, "set: a busy store fails instead of asking its listeners to quiesce"},
    {"SQLVAULT_TEST_ROTATE_KILL", NULL, NULL,
     "N:get or N:put: keys rotate kills itself (SIGKILL) at its Nth re-wrap, before or after the PUT"},
    {NULL, NULL, NULL, NULL},
};

enum { NVARS = sizeof sv_config_vars / sizeof sv_config_vars[0] - 1 };

/* Appends one problem line to the collected message. */
static void problem(char *buf, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void problem(char *buf, size_t cap, const char *fmt, ...)
{
    size_t n = strlen(buf);
    va_list ap;
    if (n + 2 >= cap) return;
    if (n) buf[n++] = '\n', buf[n] = '\0';
    va_start(ap, fmt);
    vsnprintf(buf + n, cap - n, fmt, ap);
    va_end(ap);
}

/* SQLVAULT_POOL: one pool name, or a pool set "a,b,c" (commas and spaces;
 * each workspace goes to one of them, queue_pool_base_for). */
static void check_pool_list(const char *pools, char *errs, size_t cap)
{
    char *copy = sv_strdup(pools ? pools : ""), *save = NULL, *tok;
    int n = 0;
    if (!copy) return;
    for (tok = strtok_r(copy, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save), n++)
        if (!sv_valid_id(tok)) problem(errs, cap, "SQLVAULT_POOL: '%s' is not a valid pool name", tok);
    if (n == 0) problem(errs, cap, "SQLVAULT_POOL: '%s' names no pool", pools ? pools : "");
    free(copy);
}

/* Overwrites s in place with '*' (argv storage: what /proc/PID/cmdline and
 * ps show of this process). */
static void scrub(char *s, size_t n)
{
    for (size_t i = 0; i < n && s[i]; i++) s[i] = '*';
}

/* scrub of a whole string. */
static void scrub_all(char *s)
{
    scrub(s, SIZE_MAX);
}

/* Masks the password of a redis://[user]:password@host URL in place. */
static void scrub_redis_password(char *u)
{
    if (strncmp(u, "redis://", 8) != 0) return;
    char *p = u + 8, *slash = strchr(p, '/'), *at = strchr(p, '@');
    if (!at || (slash && at > slash)) return;
    char *pc = memchr(p, ':', (size_t)(at - p));
    char *pw = pc ? pc + 1 : p;
    scrub(pw, (size_t)(at - pw));
}

/* Finds --flag or --flag=value in argv, removes it, returns the value (argv
 * storage) or NULL. A later occurrence wins; hide, when set, scrubs the
 * values of the earlier ones. */
static const char *take_flag(int *argc, char **argv, const char *flag, int *missing,
                             void (*hide)(char *))
{
    const char *val = NULL;
    size_t fl = strlen(flag);
    for (int i = 1; i < *argc;) {
        const char *a = argv[i];
        int used = 0;
        if (strcmp(a, "--") == 0) break;
        if (a[0] == '-' && a[1] == '-' && strncmp(a + 2, flag, fl) == 0) {
            if (val && hide && (a[2 + fl] == '=' || (a[2 + fl] == '\0' && i + 1 < *argc)))
                hide((char *)val);
            if (a[2 + fl] == '=') { val = a + 3 + fl; used = 1; }
            else if (a[2 + fl] == '\0') {
                if (i + 1 < *argc) { val = argv[i + 1]; used = 2; }
                else { *missing = 1; used = 1; }
            }
        }
        if (used) {
            memmove(&argv[i], &argv[i + used], sizeof(char *) * (size_t)(*argc - i - used + 1));
            *argc -= used;
        } else i++;
    }
    return val;
}

/* Parses redis://[[user]:password@]host[:port][/db]. */
static int parse_redis_url(sv_config *c, char *errs, size_t cap)
{
    const char *u = c->redis_url, *p, *at, *slash, *colon;
    char host[256];
    if (strncmp(u, "redis://", 8) != 0) goto bad;
    p = u + 8;
    slash = strchr(p, '/');
    at = strchr(p, '@');
    if (at && slash && at > slash) at = NULL;
    if (at) {
        const char *pc = memchr(p, ':', (size_t)(at - p));
        const char *pw = pc ? pc + 1 : p;
        c->redis_password = strndup(pw, (size_t)(at - pw));
        p = at + 1;
    }
    size_t hl = slash ? (size_t)(slash - p) : strlen(p);
    const char *comma = memchr(p, ',', hl);
    if (comma) hl = (size_t)(comma - p); /* seed list: the first node here, all of them in queue/cluster.c */
    if (hl == 0 || hl >= sizeof host) goto bad;
    memcpy(host, p, hl);
    host[hl] = '\0';
    colon = strrchr(host, ':');
    c->redis_port = 6379;
    if (colon) {
        char *end;
        long port = strtol(colon + 1, &end, 10);
        if (*end || port <= 0 || port > 65535) goto bad;
        c->redis_port = (int)port;
        host[colon - host] = '\0';
    }
    c->redis_host = strdup(host);
    c->redis_db = 0;
    if (slash && slash[1]) {
        char *end;
        long db = strtol(slash + 1, &end, 10);
        if (*end || db < 0 || db > 1000) goto bad;
        c->redis_db = (int)db;
    }
    return 0;
bad:
    problem(errs, cap, "SQLVAULT_REDIS_URL: invalid url (expected redis://[:password@]host:port[,host:port...]/db)");
    return -1;
}

/* The value of the variable named env among val (NULL when unset). */
static const char *value_of(const char *const *val, const char *env)
{
    for (int i = 0; i < NVARS; i++)
        if (strcmp(sv_config_vars[i].env, env) == 0) return val[i];
    return NULL;
}

/* Integer in [lo, hi]. */
static int parse_int(const char *name, const char *s, int lo, int hi, int *out, char *errs, size_t cap)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < lo || v > hi) {
        problem(errs, cap, "%s: '%s' is not an integer between %d and %d", name, s, lo, hi);
        return -1;
    }
    *out = (int)v;
    return 0;
}

/* SQLVAULT_REPLICAS: NAME=URL pairs, comma-separated; names are 1-32 of
 * a-z, 0-9, _ (their variables are SQLVAULT_REPLICA_<NAME>_...), unique, and
 * not "primary"; URLs are file:// or s3:// and differ from the primary's. */
static void check_replicas(const sv_config *c, char *errs, size_t cap)
{
    char *copy = sv_strdup(c->replicas ? c->replicas : ""), *save = NULL, *tok, seen[8][33];
    int n = 0;
    if (!copy) return;
    for (tok = strtok_r(copy, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
        char *eq = strchr(tok, '='), *url;
        size_t nl = eq ? (size_t)(eq - tok) : 0, i;
        bool ok = nl >= 1 && nl <= 32;
        for (i = 0; ok && i < nl; i++) ok = (tok[i] >= 'a' && tok[i] <= 'z') || (tok[i] >= '0' && tok[i] <= '9') || tok[i] == '_';
        if (!ok) {
            problem(errs, cap, "SQLVAULT_REPLICAS: '%s' is not NAME=URL with a name of 1-32 of a-z, 0-9, _", tok);
            continue;
        }
        *eq = '\0';
        url = eq + 1;
        if (strcmp(tok, "primary") == 0) problem(errs, cap, "SQLVAULT_REPLICAS: 'primary' names the main store");
        for (int k = 0; k < n && k < 8; k++)
            if (strcmp(seen[k], tok) == 0) problem(errs, cap, "SQLVAULT_REPLICAS: '%s' is named twice", tok);
        if (strncmp(url, "file:///", 8) != 0 && strncmp(url, "s3://", 5) != 0)
            problem(errs, cap, "SQLVAULT_REPLICAS: the store of '%s' is '%s', expected file:///path or s3://bucket/prefix/",
                    tok, url);
        else if (c->store_url && strcmp(url, c->store_url) == 0)
            problem(errs, cap, "SQLVAULT_REPLICAS: '%s' is the primary store itself (SQLVAULT_STORE)", tok);
        if (n < 8) snprintf(seen[n], sizeof seen[n], "%s", tok);
        n++;
    }
    if (n > 8) problem(errs, cap, "SQLVAULT_REPLICAS: %d stores named, at most 8", n);
    free(copy);
}

/* The tuning and test knobs (config.h), looked up by name. */
static void config_knobs(sv_config *c, const char *const *val, char *errs, size_t cap)
{
    const char *v;
    sv_err e;
    int n = 0;
    c->snapshot_copy = value_of(val, "SQLVAULT_SNAPSHOT_COPY") != NULL;
    c->debug = value_of(val, "SQLVAULT_DEBUG") != NULL;
    if (sv_parse_duration_ms(value_of(val, "SQLVAULT_RETRY_BASE"), &c->retry_base_ms, &e) != 0)
        problem(errs, cap, "SQLVAULT_RETRY_BASE: %s", e.msg);
    if (parse_int("SQLVAULT_STORE_COPY_TRIES", value_of(val, "SQLVAULT_STORE_COPY_TRIES"), 1, 1000000, &n, errs,
                  cap) == 0)
        c->store_copy_tries = n;
    if (parse_int("SQLVAULT_QUIESCE_TIMEOUT_MS", value_of(val, "SQLVAULT_QUIESCE_TIMEOUT_MS"), 1, 86400000, &n,
                  errs, cap) == 0)
        c->quiesce_timeout_ms = n;
    v = value_of(val, "SQLVAULT_STATE_DIR");
    c->state_dir = v && *v ? sv_abs_path(v) : sv_asprintf("%s/.sqlvault-state", c->data_dir);
    if (sv_parse_duration_ms(value_of(val, "SQLVAULT_FULL_EVERY"), &c->full_every_ms, &e) != 0)
        problem(errs, cap, "SQLVAULT_FULL_EVERY: %s", e.msg);
    if (parse_int("SQLVAULT_MAX_CHAIN", value_of(val, "SQLVAULT_MAX_CHAIN"), 1, 1000000, &n, errs, cap) == 0)
        c->max_chain = n;
    if (parse_int("SQLVAULT_RESTORE_CONCURRENCY", value_of(val, "SQLVAULT_RESTORE_CONCURRENCY"), 1, 64, &n, errs,
                  cap) == 0)
        c->restore_concurrency = n;
    v = value_of(val, "SQLVAULT_RESTORE_DELTA");
    if (strcmp(v, "on") == 0) c->restore_delta = true;
    else if (strcmp(v, "off") == 0) c->restore_delta = false;
    else problem(errs, cap, "SQLVAULT_RESTORE_DELTA: '%s' must be on or off", v);
    if (sv_parse_size(value_of(val, "SQLVAULT_QUERY_CACHE"), &c->query_cache, &e) != 0)
        problem(errs, cap, "SQLVAULT_QUERY_CACHE: %s", e.msg);
    else if (c->query_cache < 4 * 1048576ULL || c->query_cache > 1073741824ULL)
        problem(errs, cap, "SQLVAULT_QUERY_CACHE: %s is outside 4MiB-1GiB", value_of(val, "SQLVAULT_QUERY_CACHE"));
    v = value_of(val, "SQLVAULT_TEST_JOBS");
    c->test_jobs = v && strcmp(v, "1") == 0;
    v = value_of(val, "SQLVAULT_TEST_FAIL_SWAP");
    c->test_fail_swap = v && strcmp(v, "1") == 0;
    v = value_of(val, "SQLVAULT_TEST_DELTA_KILL");
    c->test_delta_kill = v ? atoi(v) : 0;
    v = value_of(val, "SQLVAULT_TEST_SWAP_BUSY_MS");
    c->test_swap_busy_ms = v && atoll(v) > 0 ? atoll(v) : 0;
    c->test_store_busy = value_of(val, "SQLVAULT_TEST_STORE_BUSY") != NULL;
    v = value_of(val, "SQLVAULT_TEST_QUERY_LIMIT_MS");
    c->test_query_limit_ms = v && atoll(v) > 0 ? atoll(v) : 0;
    c->store_no_quiesce = value_of(val, "SQLVAULT_STORE_NO_QUIESCE") != NULL;
    v = value_of(val, "SQLVAULT_BUCKET_LOCK");
    if (v && *v && strcmp(v, "0") != 0 && strcmp(v, "off") != 0) {
        if (sv_parse_duration_ms(v, &c->bucket_lock_ms, &e) != 0 || c->bucket_lock_ms <= 0)
            problem(errs, cap, "SQLVAULT_BUCKET_LOCK: '%s' is not a duration (e.g. 7d, 30d, 12h)", v);
        else
            c->bucket_lock = sv_strdup(v);
    }
    v = value_of(val, "SQLVAULT_REPLICAS");
    c->replicas = v && *v ? sv_strdup(v) : NULL;
    if (c->replicas) check_replicas(c, errs, cap);
    v = value_of(val, "SQLVAULT_TEST_ROTATE_KILL");
    if (v && *v) {
        char *end;
        long long nth = strtoll(v, &end, 10);
        if (nth > 0 && (strcmp(end, ":get") == 0 || strcmp(end, ":put") == 0)) {
            c->test_rotate_kill = nth;
            c->test_rotate_kill_put = strcmp(end, ":put") == 0;
        } else {
            problem(errs, cap, "SQLVAULT_TEST_ROTATE_KILL: '%s' must be N:get or N:put", v);
        }
    }
}

/* SQLVAULT_INCREMENTAL_EVERY: a duration (at least 1s), or off (0). */
static void config_incremental_every(sv_config *c, const char *const *val, char *errs, size_t cap)
{
    const char *v = value_of(val, "SQLVAULT_INCREMENTAL_EVERY");
    sv_err e;
    c->incremental_every_ms = 0;
    if (!v || strcmp(v, "off") == 0) return;
    if (sv_parse_duration_ms(v, &c->incremental_every_ms, &e) != 0 || c->incremental_every_ms < 1000) {
        problem(errs, cap, "SQLVAULT_INCREMENTAL_EVERY: '%s' is neither off nor a duration of at least 1s", v);
        c->incremental_every_ms = 0;
    }
}

/* --replica-NAME-WHAT VALUE (or =VALUE), the flags of a replica store's
 * SQLVAULT_REPLICA_<NAME>_<WHAT> variables (replica.h), WHAT one of
 * s3-endpoint, s3-region, access-key-id, secret-access-key, retention,
 * bucket-lock: each is set in the environment, where the replica reads it,
 * and removed from argv; a secret's value is scrubbed from argv's storage. */
static void replica_flags(int *argc, char **argv, char *errs, size_t cap)
{
    static const char *const what[] = {"s3-endpoint", "s3-region", "access-key-id", "secret-access-key", "retention",
                                       "bucket-lock"};
    for (int i = 1; i < *argc;) {
        const char *a = argv[i], *name = a + 10, *eq;
        size_t nl, used = 0;
        if (strcmp(a, "--") == 0) break;
        if (strncmp(a, "--replica-", 10) != 0) {
            i++;
            continue;
        }
        eq = strchr(a, '=');
        nl = eq ? (size_t)(eq - name) : strlen(name);
        for (size_t w = 0; w < sizeof what / sizeof what[0] && !used; w++) {
            size_t wl = strlen(what[w]);
            char var[128], *val;
            size_t k = 0, j;
            if (nl <= wl + 1 || name[nl - wl - 1] != '-' || strncmp(name + nl - wl, what[w], wl) != 0) continue;
            k = (size_t)snprintf(var, sizeof var, "SQLVAULT_REPLICA_");
            for (j = 0; j < nl - wl - 1 && k + 1 < sizeof var; j++) var[k++] = (char)toupper((unsigned char)name[j]);
            if (k + 1 < sizeof var) var[k++] = '_';
            for (j = 0; what[w][j] && k + 1 < sizeof var; j++) var[k++] = what[w][j] == '-' ? '_' : (char)toupper((unsigned char)what[w][j]);
            var[k] = '\0';
            if (eq) val = (char *)eq + 1, used = 1;
            else if (i + 1 < *argc) val = argv[i + 1], used = 2;
            else {
                problem(errs, cap, "%s: missing value", a);
                used = 1;
                break;
            }
            setenv(var, val, 1);
            if (w == 3) scrub(val, SIZE_MAX);
        }
        if (!used) {
            i++; /* not one of these (--replica NAME of `replicate`, say) */
            continue;
        }
        memmove(&argv[i], &argv[i + used], sizeof(char *) * (size_t)(*argc - i - (int)used + 1));
        *argc -= (int)used;
    }
}

/* Loads defaults, environment, flags; reports every problem at once. Secret
 * flag values (--secret-access-key, the password in --redis-url) are
 * overwritten in argv's storage once copied, so the process list does not
 * show them after start-up. */
int config_load(sv_config *c, int *argc, char **argv, sv_err *err)
{
    const char *val[NVARS], *flagval[NVARS];
    char errs[sizeof err->msg] = "";
    sv_err e;
    memset(c, 0, sizeof *c);
    replica_flags(argc, argv, errs, sizeof errs);
    for (int i = 0; i < NVARS; i++) {
        const sv_config_var *v = &sv_config_vars[i];
        const char *env = getenv(v->env);
        int missing = 0;
        const char *flag = SV_CONFIG_TEST(v) ? NULL
                           : take_flag(argc, argv, v->flag, &missing,
                                       i == 0 ? scrub_redis_password : i == 6 || i == 26 ? scrub_all : NULL);
        flagval[i] = flag;
        if (missing) problem(errs, sizeof errs, "--%s: missing value", v->flag);
        val[i] = flag ? flag : (env && *env) ? env : v->deflt;
    }
#define V(idx) val[idx]
    /* R2 aliases (the seed's names). */
    if (!V(3) && getenv("R2_ENDPOINT") && *getenv("R2_ENDPOINT")) V(3) = getenv("R2_ENDPOINT");
    if (!V(5) && getenv("R2_ACCESS_KEY_ID")) V(5) = getenv("R2_ACCESS_KEY_ID");
    if (!V(6) && getenv("R2_SECRET_ACCESS_KEY")) V(6) = getenv("R2_SECRET_ACCESS_KEY");
    const char *r2b = getenv("R2_BUCKET_NAME");
    int store_explicit = (getenv("SQLVAULT_STORE") && *getenv("SQLVAULT_STORE")) ||
                         V(2) != sv_config_vars[2].deflt;
    if (!store_explicit && r2b && *r2b) {
        c->store_url = sv_asprintf("s3://%s/backups/", r2b);
    } else c->store_url = sv_strdup(V(2));

    c->redis_url = sv_strdup(V(0));
    parse_redis_url(c, errs, sizeof errs);
    c->redis_prefix = sv_strdup(V(1));
    if (!sv_valid_id(c->redis_prefix) && !strchr(c->redis_prefix, ':'))
        problem(errs, sizeof errs, "SQLVAULT_REDIS_PREFIX: '%s' must be letters, digits, _ or -",
                c->redis_prefix);
    c->s3_endpoint = sv_strdup(V(3));
    c->s3_region = sv_strdup(V(4));
    c->access_key_id = sv_strdup(V(5));
    c->secret_access_key = sv_strdup(V(6));
    /* Absolute at load: job records name files under these folders, and the
     * workspace scope rule takes absolute paths only (a relative ./data made
     * the pre-restore backup a queued restore enqueues fail). */
    c->data_dir = sv_abs_path(V(7));
    c->tmp_dir = V(8) ? sv_abs_path(V(8)) : sv_asprintf("%s/.sqlvault-tmp", c->data_dir);
    c->workspaces = sv_strdup(V(9));
    c->schedule = sv_strdup(V(10));
    c->retention = sv_strdup(V(11));
    parse_int("SQLVAULT_THREADS", V(12), 1, 256, &c->threads, errs, sizeof errs);
    if (sv_parse_duration_ms(V(13), &c->lease_ms, &e) != 0 || c->lease_ms < 1000)
        problem(errs, sizeof errs, "SQLVAULT_LEASE: '%s' is not a duration of at least 1s", V(13));
    parse_int("SQLVAULT_MAX_ATTEMPTS", V(14), 1, 100, &c->max_attempts, errs, sizeof errs);
    parse_int("SQLVAULT_ZSTD_LEVEL", V(15), 1, 19, &c->zstd_level, errs, sizeof errs);
    if (sv_parse_size(V(16), &c->part_size, &e) != 0)
        problem(errs, sizeof errs, "SQLVAULT_PART_SIZE: %s", e.msg);
    else if (c->part_size < 5 * 1048576ULL || c->part_size > 5 * 1073741824ULL)
        problem(errs, sizeof errs, "SQLVAULT_PART_SIZE: %s is outside 5MiB-5GiB (R2 and S3 limits)", V(16));
    parse_int("SQLVAULT_UPLOAD_CONCURRENCY", V(17), 1, 16, &c->upload_concurrency, errs, sizeof errs);
    {
        int ttl = 0;
        if (parse_int("SQLVAULT_EXPORT_TTL", V(18), 1, 604800, &ttl, errs, sizeof errs) == 0)
            c->export_ttl_s = ttl;
    }
    if (sv_parse_size(V(19), &c->max_db_size, &e) != 0)
        problem(errs, sizeof errs, "SQLVAULT_MAX_DB_SIZE: %s", e.msg);
    c->metrics_addr = sv_strdup(V(20));
    if (c->metrics_addr && !strchr(c->metrics_addr, ':'))
        problem(errs, sizeof errs, "SQLVAULT_METRICS_ADDR: '%s' must be host:port", c->metrics_addr);
    if (strcmp(V(21), "json") == 0) c->log_json = true;
    else if (strcmp(V(21), "text") == 0) c->log_json = false;
    else problem(errs, sizeof errs, "SQLVAULT_LOG_FORMAT: '%s' must be json or text", V(21));
    if (sv_parse_duration_ms(V(22), &c->verify_every_ms, &e) != 0)
        problem(errs, sizeof errs, "SQLVAULT_VERIFY_EVERY: %s", e.msg);
    if (sv_parse_duration_ms(V(23), &c->grace_ms, &e) != 0)
        problem(errs, sizeof errs, "SQLVAULT_GRACE: %s", e.msg);
    c->pools = sv_strdup(V(24));
    c->pool = sv_strdup(V(25));
    /* The webhook URL is a secret (Slack and Sentry keys live in it): never echoed. */
    c->alert_webhook = V(26) && *V(26) ? sv_strdup(V(26)) : NULL;
    if (c->alert_webhook && strncmp(c->alert_webhook, "http://", 7) != 0 && strncmp(c->alert_webhook, "https://", 8) != 0)
        problem(errs, sizeof errs, "SQLVAULT_ALERT_WEBHOOK: must start with http:// or https://");
    c->alert_format = sv_strdup(V(27));
    if (strcmp(c->alert_format, "json") != 0 && strcmp(c->alert_format, "slack") != 0 &&
        strcmp(c->alert_format, "sentry") != 0)
        problem(errs, sizeof errs, "SQLVAULT_ALERT_FORMAT: '%s' must be json, slack or sentry", c->alert_format);
    check_pool_list(c->pool, errs, sizeof errs);
    if (sv_parse_duration_ms(V(28), &c->pause_timeout_ms, &e) != 0)
        problem(errs, sizeof errs, "SQLVAULT_PAUSE_TIMEOUT: %s", e.msg);
#undef V
    /* Everything is copied: no pointer into argv is kept past this point. */
    if (flagval[0]) scrub_redis_password((char *)flagval[0]);
    if (flagval[6]) scrub_all((char *)flagval[6]);
    if (flagval[26]) scrub_all((char *)flagval[26]); /* the alert webhook URL holds keys */
    /* Looked up by name, so rows added above do not renumber these. */
    for (int i = 0; i < NVARS; i++) {
        if (strcmp(sv_config_vars[i].env, "SQLVAULT_ENCRYPTION_KEY_FILE") == 0)
            c->encryption_key_file = sv_strdup(val[i]);
        else if (strcmp(sv_config_vars[i].env, "SQLVAULT_ENCRYPTION_OLD_KEY_FILE") == 0)
            c->encryption_old_key_file = sv_strdup(val[i]);
        else if (strcmp(sv_config_vars[i].env, "SQLVAULT_ALLOW_DIRS") == 0 && val[i] && *val[i])
            c->allow_dirs = sv_strdup(val[i]);
    }
    config_knobs(c, val, errs, sizeof errs);
    config_incremental_every(c, val, errs, sizeof errs);
    if (sv_parse_duration_ms(value_of(val, "SQLVAULT_REDIS_WAIT"), &c->redis_wait_ms, &e) != 0)
        problem(errs, sizeof errs, "SQLVAULT_REDIS_WAIT: %s", e.msg);
    if (c->encryption_key_file && access(c->encryption_key_file, R_OK) != 0)
        problem(errs, sizeof errs, "SQLVAULT_ENCRYPTION_KEY_FILE: unable to read '%s'", c->encryption_key_file);
    if (c->encryption_old_key_file && access(c->encryption_old_key_file, R_OK) != 0)
        problem(errs, sizeof errs, "SQLVAULT_ENCRYPTION_OLD_KEY_FILE: unable to read '%s'", c->encryption_old_key_file);

    /* The store URL. */
    if (strncmp(c->store_url, "file://", 7) == 0) {
        if (!c->store_url[7]) problem(errs, sizeof errs, "SQLVAULT_STORE: file:// needs a path");
    } else if (strncmp(c->store_url, "s3://", 5) == 0) {
        const char *b = c->store_url + 5;
        size_t bl = strcspn(b, "/");
        if (bl < 3 || bl > 63) problem(errs, sizeof errs, "SQLVAULT_STORE: '%s' has no valid bucket name", c->store_url);
        if (!c->access_key_id || !c->secret_access_key)
            problem(errs, sizeof errs, "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or R2_ACCESS_KEY_ID and "
                    "R2_SECRET_ACCESS_KEY) must be set for an s3:// store");
        if (c->s3_endpoint && strncmp(c->s3_endpoint, "http://", 7) != 0 &&
            strncmp(c->s3_endpoint, "https://", 8) != 0)
            problem(errs, sizeof errs, "SQLVAULT_S3_ENDPOINT: '%s' must start with http:// or https://", c->s3_endpoint);
    } else {
        problem(errs, sizeof errs, "SQLVAULT_STORE: '%s' must be file:///path or s3://bucket/prefix/", c->store_url);
    }
    if (errs[0]) {
        sv_err_set(err, SV_EINVAL, "%s", errs);
        return -1;
    }
    return 0;
}

/* Frees every string the config owns. */
void config_free(sv_config *c)
{
    char **strs[] = {&c->redis_url, &c->redis_host, &c->redis_password, &c->redis_prefix, &c->store_url,
                     &c->s3_endpoint, &c->s3_region, &c->access_key_id, &c->secret_access_key,
                     &c->data_dir, &c->tmp_dir, &c->workspaces, &c->schedule, &c->retention,
                     &c->metrics_addr, &c->pools, &c->pool, &c->alert_webhook, &c->alert_format,
                     &c->encryption_key_file, &c->encryption_old_key_file, &c->allow_dirs, &c->state_dir,
                     &c->replicas, &c->bucket_lock};
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) {
        free(*strs[i]);
        *strs[i] = NULL;
    }
}

/* DATA_DIR/WS/livestore.db */
char *config_db_path(const sv_config *c, const char *ws)
{
    return sv_asprintf("%s/%s/livestore.db", c->data_dir, ws);
}
