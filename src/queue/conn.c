/* conn.c -- the one Redis layer (include/queue_conn.h): connect, AUTH,
 * SELECT, load the function library, reconnect with backoff, classify
 * errors, and send every command (one at a time or pipelined) through
 * route(), counting round trips.
 *
 * Errors are classified once, in queue_conn_classify: an i/o error or a
 * reply that says the server is loading, busy or failing over is SV_EUNREACH
 * (retry after queue_conn_ensure and a backoff); a function that is missing
 * is loaded and the call sent again; any other error reply is SV_EINTERNAL,
 * or SV_EINVAL for a request a function refused. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include "clock.h"
#include "log.h"
#include "queue/internal.h"
#include "util.h"

#define QC_VERSION QUEUE_LIBRARY_VERSION

static _Atomic uint64_t qc_total_rt;

/* Round trips of the whole process. */
uint64_t queue_round_trips(void) { return atomic_load(&qc_total_rt); }

/* Round trips of one connection. */
uint64_t queue_conn_round_trips(const queue_conn *c) { return c ? c->rt : 0; }

/* True after an i/o error or before the first connect. */
bool queue_conn_broken(const queue_conn *c) { return !c || c->broken || (!c->rc && !c->cl); }

/* True on a Redis Cluster; see queue_conn.h. */
bool queue_conn_is_cluster(const queue_conn *c) { return c && c->cl; }

/* The class of an error reply; see queue_conn.h. */
qc_errclass queue_conn_classify(const char *s)
{
    static const char *const not_ready[] = {"LOADING", "BUSY", "MASTERDOWN", "READONLY", "TRYAGAIN",
                                            "CLUSTERDOWN", NULL};
    if (!s) return QC_ERR_IO;
    for (int i = 0; not_ready[i]; i++)
        if (strncmp(s, not_ready[i], strlen(not_ready[i])) == 0) return QC_ERR_NOT_READY;
    if (strncmp(s, "NOSCRIPT", 8) == 0 || strstr(s, "Function not found")) return QC_ERR_NO_FUNCTION;
    if (strncmp(s, "MOVED ", 6) == 0) return QC_ERR_MOVED;
    if (strncmp(s, "ASK ", 4) == 0) return QC_ERR_ASK;
    if (strncmp(s, "ERR invalid", 11) == 0 || strncmp(s, "ERR priority", 12) == 0 || strncmp(s, "ERR opts", 8) == 0)
        return QC_ERR_REFUSED;
    return QC_ERR_OTHER;
}

/* The sv_err code of a class. */
sv_code queue_conn_err_code(qc_errclass k)
{
    switch (k) {
    case QC_ERR_IO: case QC_ERR_NOT_READY: case QC_ERR_MOVED: case QC_ERR_ASK: return SV_EUNREACH;
    case QC_ERR_REFUSED: return SV_EINVAL;
    default: return SV_EINTERNAL;
    }
}

/* Fills err for an error reply s of command cmd. */
static int reply_error(queue_conn *c, const char *cmd, const char *s, sv_err *err)
{
    qc_errclass k = c->last_class = queue_conn_classify(s);
    switch (k) {
    case QC_ERR_NOT_READY: return sv_err_set(err, SV_EUNREACH, "redis is not ready: %.200s", s);
    case QC_ERR_REFUSED: return sv_err_set(err, SV_EINVAL, "%.200s", s + 4);
    default: return sv_err_set(err, queue_conn_err_code(k), "redis %s: %.300s", cmd, s);
    }
}

/* Marks the connection broken and fills err for an i/o failure. */
static int io_error(queue_conn *c, sv_err *err)
{
    c->broken = true;
    c->failures++;
    c->last_class = QC_ERR_IO;
    sv_err_set(err, SV_EUNREACH, "redis at %s:%d: %s", c->cfg->redis_host, c->cfg->redis_port,
               c->rc && c->rc->errstr[0] ? c->rc->errstr : "connection lost");
    return sv_err_hint(err, "is redis-server running? set SQLVAULT_REDIS_URL");
}

/* After a reply that says "not now" (LOADING, BUSY, READONLY, MOVED...):
 * the connection counts as broken, so the caller's queue_conn_ensure
 * reconnects after a backoff (never a busy loop). Inside a pipeline this
 * waits until its last reply is read. */
static void note_unreachable(queue_conn *c)
{
    c->failures++;
    if (c->pending) c->unready = true;
    else c->broken = true;
}

/* The key a command targets; see queue_conn.h. */
const char *queue_command_key(int argc, const char **argv, const size_t *lens, size_t *len)
{
    static const char *const keyless[] = {"INFO", "PING", "AUTH", "SELECT", "FUNCTION", "SCRIPT", "CLUSTER",
                                          "WAIT", "HELLO", "CLIENT", "CONFIG", "DBSIZE", "TIME", NULL};
    *len = 0;
    if (argc < 2) return NULL;
    if (!strcasecmp(argv[0], "FCALL") || !strcasecmp(argv[0], "FCALL_RO") || !strcasecmp(argv[0], "EVAL") ||
        !strcasecmp(argv[0], "EVALSHA") || !strcasecmp(argv[0], "EVAL_RO") || !strcasecmp(argv[0], "EVALSHA_RO")) {
        if (argc < 4 || atoi(argv[2]) < 1) return NULL;
        *len = lens ? lens[3] : strlen(argv[3]);
        return argv[3];
    }
    for (int i = 0; keyless[i]; i++)
        if (!strcasecmp(argv[0], keyless[i])) return NULL;
    *len = lens ? lens[1] : strlen(argv[1]);
    return argv[1];
}

/* Picks the context a command goes to: THE place where Redis Cluster
 * routing by key (slot map, MOVED/ASK) belongs. Today: the one context. */
static redisContext *route(queue_conn *c, int argc, const char **argv, const size_t *lens, sv_err *err)
{
    size_t klen;
    const char *key = queue_command_key(argc, argv, lens, &klen);
    if (c->cl && !c->broken) {
        /* the master owning the key's slot (src/queue/cluster.c) */
        redisContext *ctx = qcl_context_for_key(c->cl, key, klen, err);
        if (!ctx) {
            c->broken = true;
            c->failures++;
        }
        return ctx;
    }
    if (!c->rc || c->broken) {
        sv_err_set(err, SV_EUNREACH, "not connected to redis");
        return NULL;
    }
    return c->rc;
}

/* Sends one command once; see queue_conn.h. */
static redisReply *call_once(queue_conn *c, int argc, const char **argv, const size_t *lens, sv_err *err)
{
    redisContext *ctx = route(c, argc, argv, lens, err);
    redisReply *r;
    c->last_class = QC_ERR_IO;
    if (!ctx) return NULL;
    if (c->pending) {
        sv_err_set(err, SV_EINTERNAL, "redis %s sent while %zu pipelined replies are unread", argv[0], c->pending);
        return NULL;
    }
    c->rt++;
    atomic_fetch_add(&qc_total_rt, 1);
    if (c->cl) {
        /* sent to the slot's master; MOVED and ASK are followed in cluster.c */
        if (!(r = qcl_command(c->cl, argc, argv, lens, err))) {
            c->broken = true;
            c->failures++;
            return NULL;
        }
    } else if (!(r = redisCommandArgv(ctx, argc, argv, lens))) {
        io_error(c, err);
        return NULL;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        reply_error(c, argv[0], r->str ? r->str : "", err);
        freeReplyObject(r);
        if (err->code == SV_EUNREACH) note_unreachable(c);
        return NULL;
    }
    c->failures = 0;
    return r;
}

/* Sends a command; reloads the function library once if an FCALL finds it
 * missing (a Redis restarted without persistence). */
redisReply *qc_call(queue_conn *c, int argc, const char **argv, const size_t *lens, sv_err *err)
{
    redisReply *r = call_once(c, argc, argv, lens, err);
    if (!r && c->last_class == QC_ERR_NO_FUNCTION && strncasecmp(argv[0], "FCALL", 5) == 0) {
        if (qc_load_functions(c, err) != 0) return NULL;
        r = call_once(c, argc, argv, lens, err);
    }
    return r;
}

/* qc_call with NUL-terminated arguments. */
redisReply *qc_callv(queue_conn *c, sv_err *err, int argc, const char **argv)
{
    size_t lens[64];
    if (argc > 64) {
        sv_err_set(err, SV_EINTERNAL, "too many arguments");
        return NULL;
    }
    for (int i = 0; i < argc; i++) lens[i] = strlen(argv[i]);
    return qc_call(c, argc, argv, lens, err);
}

/* Queues a pipelined command; see queue_conn.h. */
int qc_append(queue_conn *c, int argc, const char **argv, const size_t *lens, sv_err *err)
{
    redisContext *ctx = route(c, argc, argv, lens, err);
    if (!ctx) {
        c->pending = 0;
        return -1;
    }
    if (c->cl) {
        /* one pipeline, one master (a pool's enqueues): its replies are read there */
        if (c->pending && ctx != c->pipe_ctx) {
            c->broken = true;
            c->pending = 0;
            return sv_err_set(err, SV_EINTERNAL, "redis cluster: a pipeline spans two masters");
        }
        c->pipe_ctx = ctx;
    }
    if (redisAppendCommandArgv(ctx, argc, argv, lens) != REDIS_OK) {
        c->broken = true; /* what is queued cannot be taken back: start afresh */
        c->pending = 0;
        return sv_err_set(err, SV_ENOMEM, "out of memory");
    }
    c->pending++;
    c->rt++;
    atomic_fetch_add(&qc_total_rt, 1);
    return 0;
}

/* The next pipelined reply; see queue_conn.h. */
redisReply *qc_read(queue_conn *c, sv_err *err)
{
    redisReply *r = NULL;
    redisContext *ctx = c->cl ? c->pipe_ctx : c->rc;
    if (!c->pending) {
        sv_err_set(err, SV_EINTERNAL, "no pipelined reply to read");
        return NULL;
    }
    if (!ctx || c->broken || redisGetReply(ctx, (void **)&r) != REDIS_OK || !r) {
        c->pending = 0;
        io_error(c, err);
        if (c->cl) qcl_disconnect(c->cl); /* the map is fetched again on reconnect */
        c->pipe_ctx = NULL;
        return NULL;
    }
    c->pending--;
    if (r->type == REDIS_REPLY_ERROR && queue_conn_err_code(queue_conn_classify(r->str)) == SV_EUNREACH)
        note_unreachable(c);
    else if (r->type != REDIS_REPLY_ERROR)
        c->failures = 0;
    if (!c->pending && c->unready) {
        c->unready = false;
        c->broken = true;
    }
    return r;
}

/* FUNCTION LOAD REPLACE of the embedded library. */
int qc_load_functions(queue_conn *c, sv_err *err)
{
    const char *argv[] = {"FUNCTION", "LOAD", "REPLACE", queue_script_lua};
    redisReply *r = call_once(c, 4, argv, (size_t[]){8, 4, 7, strlen(queue_script_lua)}, err);
    if (!r) return sv_err_wrap(err, "loading the sqlvault function library: ");
    freeReplyObject(r);
    return 0;
}

/* Keeps the lowest library version a master reports (-1: none loaded). */
static int min_version(void *ud, const redisReply *r, sv_err *err)
{
    long long *v = ud, got = r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    if (got < *v) *v = got;
    return 0;
}

/* Loads the library when the server (any master of a cluster: a new node,
 * or one that restarted empty) has none or an older one. */
static int ensure_functions(queue_conn *c, sv_err *err)
{
    if (c->cl) {
        const char *argv[] = {"FCALL_RO", "sqlvault_version", "0"};
        long long v = QC_VERSION;
        sv_err e;
        /* a master without the library answers an error reply: load it */
        if (qcl_each_master(c->cl, 3, argv, (size_t[]){8, 16, 1}, min_version, &v, &e) != 0) {
            if (e.code == SV_EUNREACH) {
                *err = e;
                return -1;
            }
            v = -1;
        }
        return v >= QC_VERSION ? 0 : qc_load_functions(c, err);
    }
    const char *argv[] = {"FCALL_RO", "sqlvault_version", "0"};
    redisReply *r = call_once(c, 3, argv, (size_t[]){8, 16, 1}, err);
    long long v = -1;
    if (r) {
        if (r->type == REDIS_REPLY_INTEGER) v = r->integer;
        freeReplyObject(r);
    } else if (err->code == SV_EUNREACH) {
        return -1;
    }
    if (v >= QC_VERSION) return 0;
    return qc_load_functions(c, err);
}

/* Single Redis: how many replicas are connected (INFO replication), for
 * qc_wait_replica. Part of connecting: not a counted round trip. */
static int count_replicas(queue_conn *c, sv_err *err)
{
    redisReply *r = redisCommand(c->rc, "INFO replication");
    const char *p;
    if (!r) return sv_err_set(err, SV_EUNREACH, "redis at %s:%d: %s", c->cfg->redis_host, c->cfg->redis_port,
                              c->rc->errstr[0] ? c->rc->errstr : "connection lost");
    p = r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS ? strstr(r->str, "connected_slaves:") : NULL;
    c->replicas = p ? atoi(p + 17) : 0;
    freeReplyObject(r);
    return 0;
}

/* See internal.h. */
int qc_wait_replica(queue_conn *c, const char *what, sv_err *err)
{
    int64_t t = c->cfg->redis_wait_ms;
    int replicas = c->cl ? qcl_last_replicas(c->cl) : c->replicas;
    redisContext *rc = c->cl ? qcl_last_context(c->cl) : c->rc;
    char ms[24];
    redisReply *r;
    long long acked;
    if (t <= 0 || replicas <= 0 || !rc || c->broken || c->pending) return 0;
    snprintf(ms, sizeof ms, "%lld", (long long)t);
    c->rt++;
    atomic_fetch_add(&qc_total_rt, 1);
    /* on the very connection the write went to: WAIT counts that client's writes */
    r = redisCommand(rc, "WAIT 1 %s", ms);
    if (!r) {
        c->broken = true;
        c->failures++;
        if (c->cl) qcl_disconnect(c->cl);
        return sv_err_set(err, SV_EUNREACH, "redis: connection lost waiting for a replica to acknowledge %s", what);
    }
    acked = r->type == REDIS_REPLY_INTEGER ? r->integer : 0;
    freeReplyObject(r);
    if (acked < 1) {
        sv_err_set(err, SV_EUNREACH, "no replica acknowledged %s within %lld ms", what, (long long)t);
        return sv_err_hint(err, "the master holds it but could lose it in a failover; a retry with the same "
                                "job id is safe (deduplicated); see SQLVAULT_REDIS_WAIT");
    }
    return 0;
}

/* Connects, authenticates, selects the db and checks the library. On a
 * Redis Cluster (the first node that answers CLUSTER SLOTS is a cluster
 * node) it fetches the slot map and checks the library on every master;
 * the per-master connections open on first use (src/queue/cluster.c). */
static int connect_now(queue_conn *c, sv_err *err)
{
    const sv_config *cfg = c->cfg;
    struct timeval tv = {QC_CONNECT_TIMEOUT_MS / 1000, QC_CONNECT_TIMEOUT_MS % 1000 * 1000},
                   cmd_tv = {QC_COMMAND_TIMEOUT_MS / 1000, QC_COMMAND_TIMEOUT_MS % 1000 * 1000};
    redisReply *r;
    char db[16];

    if (c->rc) redisFree(c->rc);
    c->rc = NULL;
    c->broken = false;
    c->unready = false;
    c->pending = 0;
    c->pipe_ctx = NULL;
    if (!c->single) {
        /* a cluster node? (CLUSTER SLOTS; the seeds of SQLVAULT_REDIS_URL in turn) */
        bool is_cluster = false;
        qcl_seed seeds[QCL_MAX_SEEDS];
        /* (a config without a URL names its one node by redis_host/port) */
        int nseeds = cfg->redis_url && cfg->redis_url[0] ? qcl_parse_seeds(cfg->redis_url, seeds, QCL_MAX_SEEDS, err) : 1;
        if (nseeds < 0) goto fail;
        if (!c->cl && !(c->cl = qcl_new(cfg))) {
            sv_err_set(err, SV_ENOMEM, "out of memory");
            goto fail;
        }
        qcl_disconnect(c->cl);
        if (qcl_refresh(c->cl, &is_cluster, err) != 0) {
            /* a seed list, or a cluster seen before: keep at it (a failover) */
            if (nseeds > 1 || qcl_masters(c->cl) > 0) goto fail;
            /* one node that does not answer: the single-Redis path below
             * says why, as it always has */
            qcl_free(c->cl);
            c->cl = NULL;
        } else if (is_cluster) {
            if (cfg->redis_db != 0) {
                sv_err_set(err, SV_EINVAL, "redis cluster: database %d requested, a cluster has only 0",
                           cfg->redis_db);
                sv_err_hint(err, "drop the /db part of SQLVAULT_REDIS_URL");
                goto fail;
            }
            if (ensure_functions(c, err) != 0) goto fail;
            return 0;
        } else {
            qcl_free(c->cl);
            c->cl = NULL;
            c->single = true;
        }
    }
    c->rc = redisConnectWithTimeout(cfg->redis_host, cfg->redis_port, tv);
    if (!c->rc || c->rc->err) {
        sv_err_set(err, SV_EUNREACH, "unable to connect to redis at %s:%d: %s", cfg->redis_host,
                   cfg->redis_port, c->rc ? c->rc->errstr : "out of memory");
        sv_err_hint(err, "is redis-server running? set SQLVAULT_REDIS_URL "
                         "(or use --inline to run a job without redis)");
        goto fail;
    }
    redisSetTimeout(c->rc, cmd_tv);
    redisEnableKeepAlive(c->rc);
    if (cfg->redis_password && cfg->redis_password[0]) {
        const char *argv[] = {"AUTH", cfg->redis_password};
        r = call_once(c, 2, argv, (size_t[]){4, strlen(cfg->redis_password)}, err);
        if (!r) {
            sv_err_set(err, err->code == SV_EUNREACH ? SV_EUNREACH : SV_EAUTH,
                       "redis at %s:%d refused the password", cfg->redis_host, cfg->redis_port);
            sv_err_hint(err, "check the password in SQLVAULT_REDIS_URL");
            goto fail;
        }
        freeReplyObject(r);
    }
    if (cfg->redis_db != 0) {
        snprintf(db, sizeof db, "%d", cfg->redis_db);
        r = qc_callv(c, err, 2, (const char *[]){"SELECT", db});
        if (!r) goto fail;
        freeReplyObject(r);
    }
    if (ensure_functions(c, err) != 0) goto fail;
    if (cfg->redis_wait_ms > 0 && count_replicas(c, err) != 0) goto fail;
    return 0;
fail:
    if (c->rc) redisFree(c->rc);
    c->rc = NULL;
    if (c->cl) qcl_disconnect(c->cl);
    c->broken = true;
    return -1;
}

/* A connection not connected yet; see queue_conn.h. */
int queue_conn_new(const sv_config *cfg, queue_conn **out, sv_err *err)
{
    queue_conn *c = calloc(1, sizeof *c);
    *out = NULL;
    if (!c) return sv_err_set(err, SV_ENOMEM, "out of memory");
    c->cfg = cfg;
    c->clock = sv_clock_system();
    c->broken = true;
    *out = c;
    return 0;
}

/* Opens a connection: one attempt; see queue_conn.h. */
int queue_conn_open(const sv_config *cfg, queue_conn **out, sv_err *err)
{
    queue_conn *c;
    if (queue_conn_new(cfg, &c, err) != 0) return -1;
    *out = NULL;
    if (connect_now(c, err) != 0) {
        queue_conn_free(c);
        return -1;
    }
    *out = c;
    return 0;
}

/* Sleeps ms in short steps, returning early once stop(ud) says so. */
static void nap(const sv_clock *clk, int64_t ms, bool (*stop)(void *), void *ud)
{
    while (ms > 0 && !(stop && stop(ud))) {
        int64_t step = ms < 100 ? ms : 100;
        sv_sleep_ms(clk, step);
        ms -= step;
    }
}

/* Reconnects with backoff until connected, the deadline or stop; see
 * queue_conn.h. The backoff counts every failure since the last good reply
 * (failed connects and "not now" replies alike), so a server that accepts
 * connections but answers LOADING or READONLY is not hammered either. */
int queue_conn_ensure(queue_conn *c, int64_t deadline_mono_ms, bool (*stop)(void *ud), void *ud, sv_err *err)
{
    for (int tries = 0;; tries++) {
        if (!queue_conn_broken(c)) return 0;
        if (tries > 0 && ((stop && stop(ud)) || (deadline_mono_ms && sv_mono_ms(c->clock) >= deadline_mono_ms)))
            return -1;
        if (c->failures > 0) {
            int64_t d = sv_backoff_ms(c->clock, c->failures - 1 < 30 ? c->failures - 1 : 30, QC_BACKOFF_BASE_MS,
                                      QC_BACKOFF_MAX_MS);
            if (deadline_mono_ms) {
                int64_t left = deadline_mono_ms - sv_mono_ms(c->clock);
                if (left < d) d = left > 0 ? left : 0;
            }
            nap(c->clock, d, stop, ud);
        }
        if (connect_now(c, err) == 0) {
            if (c->down) log_info(NULL, NULL, "reconnected to redis after %d attempt(s)", c->down + 1);
            c->down = 0;
            return 0;
        }
        if (c->down++ % 20 == 0) log_warn(NULL, NULL, "redis unreachable, retrying: %s", err->msg);
        c->failures++;
    }
}

/* Closes and frees. */
void queue_conn_free(queue_conn *c)
{
    if (!c) return;
    if (c->rc) redisFree(c->rc);
    qcl_free(c->cl);
    free(c);
}

/* "PREFIX:{pool}:". */
char *queue_pool_base(const sv_config *cfg, const char *pool)
{
    return sv_asprintf("%s:{%s}:", cfg->redis_prefix ? cfg->redis_prefix : "sqlvault",
                       pool && *pool ? pool : "default");
}

/* Splits a comma list of pools into bases. */
char **queue_pool_bases(const sv_config *cfg, const char *pools, size_t *n)
{
    char *copy = sv_strdup(pools && *pools ? pools : "default"), *save = NULL, *tok;
    char **out = NULL;
    size_t k = 0;
    if (!copy) return NULL;
    out = calloc(strlen(copy) + 2, sizeof *out);
    if (!out) goto done;
    for (tok = strtok_r(copy, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
        bool dup = false;
        char *b = queue_pool_base(cfg, tok);
        for (size_t i = 0; b && i < k; i++) dup = dup || strcmp(out[i], b) == 0;
        if (dup) free(b);
        else if (b) out[k++] = b;
    }
done:
    free(copy);
    if (n) *n = k;
    return out;
}

/* 32-bit FNV-1a of a workspace id; see queue.h. */
uint32_t queue_pool_hash(const char *ws)
{
    uint32_t h = 2166136261u;
    for (const unsigned char *p = (const unsigned char *)(ws ? ws : ""); *p; p++) {
        h ^= *p;
        h *= 16777619u;
    }
    return h;
}

/* The base of a workspace's pool in a pool list; see queue.h. */
char *queue_pool_base_for(const sv_config *cfg, const char *pools, const char *ws)
{
    size_t n = 0;
    char **bases = queue_pool_bases(cfg, pools, &n), *out = NULL;
    if (bases && n > 0) {
        size_t i = queue_pool_hash(ws) % n;
        out = bases[i];
        bases[i] = bases[n - 1]; /* keep the array NULL-terminated for the free */
        bases[n - 1] = NULL;
    }
    queue_bases_free(bases);
    return out;
}

/* Frees a queue_pool_bases array. */
void queue_bases_free(char **bases)
{
    if (!bases) return;
    for (size_t i = 0; bases[i]; i++) free(bases[i]);
    free(bases);
}

int qc_hscan_each(queue_conn *c, const char *key, void (*fn)(void *ud, const char *field, const char *value),
                  void *ud, sv_err *err)
{
    char cursor[32] = "0";
    do {
        redisReply *r = qc_callv(c, err, 5, (const char *[]){"HSCAN", key, cursor, "COUNT", "1000"});
        if (!r) return -1;
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 || r->element[0]->type != REDIS_REPLY_STRING) {
            freeReplyObject(r);
            return sv_err_set(err, SV_EINTERNAL, "unexpected HSCAN reply");
        }
        snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
        for (size_t i = 0; i + 1 < r->element[1]->elements; i += 2) {
            redisReply *k = r->element[1]->element[i], *v = r->element[1]->element[i + 1];
            if (k->type == REDIS_REPLY_STRING && v->type == REDIS_REPLY_STRING) fn(ud, k->str, v->str);
        }
        freeReplyObject(r);
    } while (strcmp(cursor, "0") != 0);
    return 0;
}
