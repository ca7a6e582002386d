/* conn.c -- one Redis connection of the queue: connect, AUTH, SELECT, load
 * the function library, send commands and count round trips.
 *
 * Every command goes through qc_call, which is where the round-trip counters
 * live and where errors are classified once: an i/o error or a reply that
 * says the server is loading or failing over is SV_EUNREACH (retry after a
 * reconnect and a backoff); any other error reply is SV_EINTERNAL, or
 * SV_EINVAL for a request a function refused. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include "queue/internal.h"
#include "util.h"

#define QC_VERSION QUEUE_LIBRARY_VERSION

static _Atomic uint64_t qc_total_rt;

/* Round trips of the whole process. */
uint64_t queue_round_trips(void) { return atomic_load(&qc_total_rt); }

/* Round trips of one connection. */
uint64_t queue_conn_round_trips(const queue_conn *c) { return c ? c->rt : 0; }

/* True after an i/o error. */
bool queue_conn_broken(const queue_conn *c) { return !c || c->broken || !c->rc; }

/* True for error replies that mean "the server is not ready, try later". */
static bool transient_reply(const char *s)
{
    static const char *const pfx[] = {"LOADING", "BUSY", "MASTERDOWN", "READONLY", "TRYAGAIN",
                                      "CLUSTERDOWN", NULL};
    for (int i = 0; pfx[i]; i++)
        if (strncmp(s, pfx[i], strlen(pfx[i])) == 0) return true;
    return false;
}

/* Sends one command once; see internal.h. */
static redisReply *call_once(queue_conn *c, int argc, const char **argv, const size_t *lens,
                             sv_err *err)
{
    redisReply *r;
    if (!c->rc || c->broken) {
        sv_err_set(err, SV_EUNREACH, "not connected to redis");
        return NULL;
    }
    c->rt++;
    atomic_fetch_add(&qc_total_rt, 1);
    r = redisCommandArgv(c->rc, argc, argv, lens);
    if (!r) {
        c->broken = true;
        sv_err_set(err, SV_EUNREACH, "redis at %s:%d: %s", c->cfg->redis_host, c->cfg->redis_port,
                   c->rc->errstr[0] ? c->rc->errstr : "connection lost");
        sv_err_hint(err, "is redis-server running? set SQLVAULT_REDIS_URL");
        return NULL;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        const char *s = r->str ? r->str : "";
        if (transient_reply(s))
            sv_err_set(err, SV_EUNREACH, "redis is not ready: %.200s", s);
        else if (strncmp(s, "ERR invalid", 11) == 0 || strncmp(s, "ERR priority", 12) == 0 ||
                 strncmp(s, "ERR opts", 8) == 0)
            sv_err_set(err, SV_EINVAL, "%.200s", s + 4);
        else
            sv_err_set(err, SV_EINTERNAL, "redis %s: %.300s", argv[0], s);
        freeReplyObject(r);
        return NULL;
    }
    return r;
}

/* Sends a command; reloads the function library once if an FCALL finds it
 * missing (a Redis restarted without persistence). */
redisReply *qc_call(queue_conn *c, int argc, const char **argv, const size_t *lens, sv_err *err)
{
    redisReply *r = call_once(c, argc, argv, lens, err);
    if (!r && err->code == SV_EINTERNAL && strstr(err->msg, "Function not found") &&
        strncasecmp(argv[0], "FCALL", 5) == 0) {
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

/* FUNCTION LOAD REPLACE of the embedded library. */
int qc_load_functions(queue_conn *c, sv_err *err)
{
    const char *argv[] = {"FUNCTION", "LOAD", "REPLACE", queue_script_lua};
    redisReply *r = call_once(c, 4, argv, (size_t[]){8, 4, 7, strlen(queue_script_lua)}, err);
    if (!r) return sv_err_wrap(err, "loading the sqlvault function library: ");
    freeReplyObject(r);
    return 0;
}

/* Loads the library when the server has none or an older one. */
static int ensure_functions(queue_conn *c, sv_err *err)
{
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

/* Connects, authenticates, selects the db and checks the library. */
static int connect_now(queue_conn *c, sv_err *err)
{
    const sv_config *cfg = c->cfg;
    struct timeval tv = {2, 0}, cmd_tv = {10, 0};
    redisReply *r;
    char db[16];

    if (c->rc) redisFree(c->rc);
    c->broken = false;
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
    return 0;
fail:
    if (c->rc) redisFree(c->rc);
    c->rc = NULL;
    c->broken = true;
    return -1;
}

/* Opens a connection; see queue.h. */
int queue_conn_open(const sv_config *cfg, queue_conn **out, sv_err *err)
{
    queue_conn *c = calloc(1, sizeof *c);
    *out = NULL;
    if (!c) return sv_err_set(err, SV_ENOMEM, "out of memory");
    c->cfg = cfg;
    if (connect_now(c, err) != 0) {
        free(c);
        return -1;
    }
    *out = c;
    return 0;
}

/* Re-opens a connection in place. */
int queue_conn_reconnect(queue_conn *c, sv_err *err) { return connect_now(c, err); }

/* Closes and frees. */
void queue_conn_free(queue_conn *c)
{
    if (!c) return;
    if (c->rc) redisFree(c->rc);
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

/* Frees a queue_pool_bases array. */
void queue_bases_free(char **bases)
{
    if (!bases) return;
    for (size_t i = 0; bases[i]; i++) free(bases[i]);
    free(bases);
}
