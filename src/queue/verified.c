/* verified.c -- the newest verified backup of each workspace, kept in one
 * hash so /metrics can summarise how old verification is across workspaces
 * without a label per workspace.
 *
 *   PREFIX:verified   hash  WS -> timestamp (ms) of the newest backup whose
 *                     restore drill passed
 *
 * A worker writes it after a verify job succeeds (HSET only moves forward:
 * an older drill finishing late does not hide a newer one); the metrics
 * thread reads it with HSCAN. Plain single-key commands, no script, so it
 * works the same on Redis Cluster. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "queue/internal.h"
#include "util.h"

/* Records ws's newest verified backup (only if newer than the recorded one). */
int queue_note_verified(queue_conn *c, const sv_config *cfg, const char *ws, int64_t backup_ms, sv_err *err)
{
    char *key = sv_asprintf("%s:verified", cfg->redis_prefix), ms[24];
    redisReply *r = NULL;
    int rc = -1;
    if (!key) return sv_err_set(err, SV_ENOMEM, "out of memory");
    r = qc_callv(c, err, 3, (const char *[]){"HGET", key, ws});
    if (!r) goto fail;
    if (r->type == REDIS_REPLY_STRING && strtoll(r->str, NULL, 10) >= backup_ms) {
        rc = 0;
        goto fail;
    }
    freeReplyObject(r);
    snprintf(ms, sizeof ms, "%lld", (long long)backup_ms);
    r = qc_callv(c, err, 4, (const char *[]){"HSET", key, ws, ms});
    if (!r) goto fail;
    rc = 0;
fail:
    if (r) freeReplyObject(r);
    free(key);
    return rc;
}

typedef struct each_ud {
    void (*fn)(void *ud, const char *ws, int64_t ms);
    void *ud;
} each_ud;

static void each_field(void *ud, const char *field, const char *value)
{
    each_ud *e = ud;
    e->fn(e->ud, field, strtoll(value, NULL, 10));
}

/* Calls fn with every recorded (workspace, backup ms), HSCAN by HSCAN. */
int queue_verified_each(queue_conn *c, const sv_config *cfg, void (*fn)(void *ud, const char *ws, int64_t ms),
                        void *ud, sv_err *err)
{
    char *key = sv_asprintf("%s:verified", cfg->redis_prefix);
    each_ud e = {fn, ud};
    int rc;
    if (!key) return sv_err_set(err, SV_ENOMEM, "out of memory");
    rc = qc_hscan_each(c, key, each_field, &e, err);
    free(key);
    return rc;
}
