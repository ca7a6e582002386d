/* quiesce.c -- the Redis side of the backup quiesce (docs/PROTOCOL.md,
 * "Backup quiesce"): the flag PREFIX:quiesce:{WS}, the live listeners
 * PREFIX:listeners:{WS} (a sorted set scored by expiry, ms) and the acks
 * PREFIX:acks:{WS}:JOBID. The events go through queue_emit. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"
#include "queue.h"
#include "util.h"

/* Deletes the flag only while it still holds this job's id: a stale attempt
 * cannot clear a newer attempt's quiesce. */
static const char DEL_IF_MINE[] =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0";

/* See queue.h. */
int queue_set_quiesce(queue_conn *c, const sv_config *cfg, const char *ws, const char *job_id, bool on,
                      int64_t ttl_ms, sv_err *err)
{
    char *key = sv_asprintf("%s:quiesce:{%s}", cfg->redis_prefix, ws);
    char px[24];
    redisReply *r;
    if (!key) return sv_err_set(err, SV_ENOMEM, "out of memory");
    snprintf(px, sizeof px, "%" PRId64, ttl_ms > 0 ? ttl_ms : 60000);
    if (on) r = qc_callv(c, err, 5, (const char *[]){"SET", key, job_id, "PX", px});
    else r = qc_callv(c, err, 5, (const char *[]){"EVAL", DEL_IF_MINE, "1", key, job_id});
    free(key);
    if (!r) return -1;
    freeReplyObject(r);
    return 0;
}

/* See queue.h. */
int queue_listener_acks(queue_conn *c, const sv_config *cfg, const char *ws, const char *job_id, int64_t now_ms,
                        int *live, int *acked, sv_err *err)
{
    char *lkey = sv_asprintf("%s:listeners:{%s}", cfg->redis_prefix, ws);
    char *akey = sv_asprintf("%s:acks:{%s}:%s", cfg->redis_prefix, ws, job_id);
    char min[32];
    redisReply *l = NULL, *a = NULL;
    int rc = -1;
    *live = *acked = 0;
    if (!lkey || !akey) {
        sv_err_set(err, SV_ENOMEM, "out of memory");
        goto done;
    }
    snprintf(min, sizeof min, "(%" PRId64, now_ms);
    l = qc_callv(c, err, 4, (const char *[]){"ZRANGEBYSCORE", lkey, min, "+inf"});
    if (!l) goto done;
    a = qc_callv(c, err, 2, (const char *[]){"SMEMBERS", akey});
    if (!a) goto done;
    if (l->type != REDIS_REPLY_ARRAY || a->type != REDIS_REPLY_ARRAY) {
        sv_err_set(err, SV_EINTERNAL, "unexpected reply reading the listeners of %s", ws);
        goto done;
    }
    *live = (int)l->elements;
    for (size_t i = 0; i < l->elements; i++)
        for (size_t k = 0; k < a->elements; k++)
            if (l->element[i]->type == REDIS_REPLY_STRING && a->element[k]->type == REDIS_REPLY_STRING &&
                strcmp(l->element[i]->str, a->element[k]->str) == 0) {
                (*acked)++;
                break;
            }
    rc = 0;
done:
    if (l) freeReplyObject(l);
    if (a) freeReplyObject(a);
    free(lkey);
    free(akey);
    return rc;
}
