/* internal.h -- what the queue module's files share: the connection struct
 * behind include/queue_conn.h (the one Redis layer, src/queue/conn.c). */
#ifndef SV_QUEUE_INTERNAL_H
#define SV_QUEUE_INTERNAL_H

#include <hiredis/hiredis.h>
#include "clock.h"
#include "queue.h"
#include "queue_conn.h"

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
};

#endif
