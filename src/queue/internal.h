/* internal.h -- what the queue module's files share: the connection struct
 * and the one function that sends a command and counts the round trip. */
#ifndef SV_QUEUE_INTERNAL_H
#define SV_QUEUE_INTERNAL_H

#include <hiredis/hiredis.h>
#include "queue.h"

struct queue_conn {
    const sv_config *cfg;   /* borrowed */
    redisContext *rc;       /* NULL while disconnected */
    bool broken;
    uint64_t rt;            /* round trips of this connection */
};

/* Sends one command (binary-safe argv) and returns its reply, which the
 * caller frees with freeReplyObject. NULL with err on i/o failure (the
 * connection is then broken) or on an error reply (connection kept). An
 * FCALL whose function is missing loads the library and is sent again. */
redisReply *qc_call(queue_conn *c, int argc, const char **argv, const size_t *lens, sv_err *err);
/* Same with NUL-terminated strings only. */
redisReply *qc_callv(queue_conn *c, sv_err *err, int argc, const char **argv);
/* Loads the function library (FUNCTION LOAD REPLACE). */
int qc_load_functions(queue_conn *c, sv_err *err);

#endif
