/* internal.h -- what the queue module's files share: the connection struct
 * behind include/queue_conn.h (the one Redis layer, src/queue/conn.c). */
#ifndef SV_QUEUE_INTERNAL_H
#define SV_QUEUE_INTERNAL_H

#include <hiredis/hiredis.h>
#include "clock.h"
#include "queue.h"
#include "queue_conn.h"
#include "queue/cluster.h"

struct queue_conn {
    const sv_config *cfg;   /* borrowed */
    const sv_clock *clock;  /* backoff and sleeps of queue_conn_ensure */
    redisContext *rc;       /* NULL while disconnected (the cluster map goes here) */
    bool broken;
    size_t pending;         /* pipelined commands whose replies are unread */
    qc_errclass last_class; /* of the last failed command */
    uint64_t rt;            /* round trips of this connection */
    bool unready;           /* a "not now" reply inside a pipeline: broken once drained */
    int failures;           /* since the last good reply: the reconnect backoff */
    int down;               /* failed reconnects since the last good one (logs) */
    qcl *cl;                /* Redis Cluster router (rc unused), NULL on a single Redis */
    bool single;            /* found not to be a cluster: skip the check on reconnects */
    int replicas;           /* single Redis: connected replicas at connect (for WAIT) */
    redisContext *pipe_ctx; /* cluster: the master a pending pipeline went to */
};

/* After a write that must survive a failover (an enqueue, a completion):
 * WAIT 1 cfg->redis_wait_ms on the connection the write went to, when its
 * master has replicas. 0 at once with no replicas or a zero timeout; -1 with
 * SV_EUNREACH when no replica acknowledged in time (the write happened on
 * the master and may still be lost if it fails now). */
int qc_wait_replica(queue_conn *c, const char *what, sv_err *err);

#endif
