/* replica_lag.c -- how far each replica store is behind the primary, kept in
 * one hash per replica so /metrics can tell the lag without a label per
 * workspace (replica.h):
 *
 *   PREFIX:{replica:NAME}:behind   hash  WS -> "P:N": P the ms of the oldest
 *                                  backup not known to be in the replica, N
 *                                  the ms of the newest backup committed in
 *                                  the primary
 *
 * A worker marks a workspace after its backup commits (queue_replica_mark)
 * and clears it after a replicate job brought the replica up to a backup
 * (queue_replica_done): the field goes when nothing newer than that backup
 * was committed meanwhile, else its P moves to just after it (an upper bound
 * of the true lag: an alert errs on the early side). One key, one script
 * each, so a concurrent mark and clear never lose a backup, on Redis Cluster
 * too (the key has its own hash tag). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "queue/internal.h"
#include "util.h"

static const char MARK_LUA[] =
    "local v = redis.call('HGET', KEYS[1], ARGV[1]) local t = tonumber(ARGV[2]) "
    "if not v then redis.call('HSET', KEYS[1], ARGV[1], t .. ':' .. t) return 1 end "
    "local p, n = string.match(v, '^(%d+):(%d+)$') p = tonumber(p) or t n = tonumber(n) or t "
    "if t < p then p = t end if t > n then n = t end "
    "redis.call('HSET', KEYS[1], ARGV[1], p .. ':' .. n) return 1";

static const char DONE_LUA[] =
    "local v = redis.call('HGET', KEYS[1], ARGV[1]) if not v then return 0 end local u = tonumber(ARGV[2]) "
    "local p, n = string.match(v, '^(%d+):(%d+)$') n = tonumber(n) or 0 "
    "if n <= u then redis.call('HDEL', KEYS[1], ARGV[1]) return 1 end "
    "p = tonumber(p) or 0 if p <= u then p = u + 1 end "
    "redis.call('HSET', KEYS[1], ARGV[1], p .. ':' .. n) return 2";

static char *behind_key(const sv_config *cfg, const char *store)
{
    return sv_asprintf("%s:{replica:%s}:behind", cfg->redis_prefix, store);
}

static int run_script(queue_conn *c, const sv_config *cfg, const char *lua, const char *store, const char *ws,
                      int64_t ms, sv_err *err)
{
    char *key = behind_key(cfg, store), v[24];
    redisReply *r;
    if (!key) return sv_err_set(err, SV_ENOMEM, "out of memory");
    snprintf(v, sizeof v, "%lld", (long long)ms);
    r = qc_callv(c, err, 6, (const char *[]){"EVAL", lua, "1", key, ws, v});
    free(key);
    if (!r) return -1;
    if (r->type == REDIS_REPLY_ERROR) {
        sv_err_set(err, SV_EINTERNAL, "replica lag script: %s", r->str);
        freeReplyObject(r);
        return -1;
    }
    freeReplyObject(r);
    return 0;
}

int queue_replica_mark(queue_conn *c, const sv_config *cfg, const char *store, const char *ws, int64_t backup_ms,
                       sv_err *err)
{
    return run_script(c, cfg, MARK_LUA, store, ws, backup_ms, err);
}

int queue_replica_done(queue_conn *c, const sv_config *cfg, const char *store, const char *ws, int64_t upto_ms,
                       sv_err *err)
{
    return run_script(c, cfg, DONE_LUA, store, ws, upto_ms, err);
}

typedef struct lag_acc {
    int64_t oldest, behind;
} lag_acc;

static void lag_field(void *ud, const char *field, const char *value)
{
    lag_acc *a = ud;
    long long p;
    (void)field;
    if (sscanf(value, "%lld", &p) != 1) return;
    a->behind++;
    if (!a->oldest || p < a->oldest) a->oldest = p;
}

int queue_replica_lag(queue_conn *c, const sv_config *cfg, const char *store, int64_t now_ms, double *lag_s,
                      int64_t *behind, sv_err *err)
{
    char *key = behind_key(cfg, store);
    lag_acc a = {0, 0};
    int rc;
    *lag_s = 0;
    *behind = 0;
    if (!key) return sv_err_set(err, SV_ENOMEM, "out of memory");
    rc = qc_hscan_each(c, key, lag_field, &a, err);
    free(key);
    if (rc != 0) return -1;
    *behind = a.behind;
    if (a.oldest && now_ms > a.oldest) *lag_s = (double)(now_ms - a.oldest) / 1000.0;
    return 0;
}
