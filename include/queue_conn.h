/* queue_conn.h -- the one Redis layer (src/queue/conn.c): a connection, its
 * reconnect-with-backoff (queue_conn_ensure), the one classifier of Redis
 * errors, and the one path every command takes to the server.
 *
 * Everything in sqlvault that talks to Redis goes through a queue_conn: the
 * worker pool, the CLI, the scheduler and the metrics. Nothing else holds a
 * hiredis context.
 *
 * Where Redis Cluster plugs in (one place): every command, sent now
 * (qc_call) or pipelined (qc_append / qc_read), goes through conn.c's
 * route(), which finds the key the command targets (queue_command_key: the
 * first key of FCALL/EVAL, argv[1] of a keyed command, none for INFO,
 * FUNCTION, AUTH...) and picks the context to send it on. Today that is the
 * one connection; a cluster map picks the master owning the key's slot there,
 * and the replies' MOVED / ASK (QC_ERR_MOVED / QC_ERR_ASK below) are followed
 * in the same function. A pipeline remembers which context each pending
 * command went to, so its replies are read back in order.
 *
 * THREAD SAFETY NOTES: a queue_conn is used by one thread at a time (hiredis
 * contexts are not thread-safe); every worker thread, the housekeeping
 * thread, the scheduler and the metrics thread open their own. The
 * round-trip counters are process-wide atomics. */
#ifndef SV_QUEUE_CONN_H
#define SV_QUEUE_CONN_H

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "config.h"
#include "err.h"

typedef struct queue_conn queue_conn;

/* Reconnect backoff of every Redis client in the process: full jitter from
 * QC_BACKOFF_BASE_MS doubling up to QC_BACKOFF_MAX_MS. */
#define QC_BACKOFF_BASE_MS 100
#define QC_BACKOFF_MAX_MS 5000
/* Connect timeout, and the timeout of one command's reply. */
#define QC_CONNECT_TIMEOUT_MS 2000
#define QC_COMMAND_TIMEOUT_MS 10000

/* Connects (AUTH, SELECT) and loads the function library when it is missing
 * or older than ours: one attempt. On failure *out is NULL and err says how
 * to fix it (SV_EUNREACH, SV_EAUTH). */
int queue_conn_open(const sv_config *cfg, queue_conn **out, sv_err *err);
/* A connection not connected yet: the first queue_conn_ensure connects. */
int queue_conn_new(const sv_config *cfg, queue_conn **out, sv_err *err);
void queue_conn_free(queue_conn *c); /* NULL is a no-op */
/* Makes sure c is connected: returns 0 at once when it is; otherwise
 * reconnects, backing off between attempts (QC_BACKOFF_*), and logs the
 * outage once (then every 20th attempt) and the recovery. Gives up with -1
 * and err (the last attempt's) after at least one attempt, once
 * deadline_mono_ms (sv_mono_ms of the system clock; 0 = none) has passed or
 * stop(ud) says so (stop may be NULL; the backoff sleeps are cut short when
 * it turns true). */
#define QC_ENSURE_ONCE 1 /* a deadline_mono_ms that allows one attempt, without a wait */
int queue_conn_ensure(queue_conn *c, int64_t deadline_mono_ms, bool (*stop)(void *ud), void *ud,
                      sv_err *err);
/* True after an i/o error (or before the first connect): ensure or
 * reconnect before the next call. */
bool queue_conn_broken(const queue_conn *c);
/* True when the connection talks to a Redis Cluster (src/queue/cluster.c:
 * each command goes to the master owning its key's slot). */
bool queue_conn_is_cluster(const queue_conn *c);
/* Round trips this connection made, and all connections of the process. */
uint64_t queue_conn_round_trips(const queue_conn *c);
uint64_t queue_round_trips(void);

/* The one classifier of Redis errors. */
typedef enum {
    QC_ERR_IO,          /* no reply: connection refused, lost or timed out */
    QC_ERR_NOT_READY,   /* LOADING, BUSY, MASTERDOWN, READONLY, TRYAGAIN, CLUSTERDOWN: later */
    QC_ERR_NO_FUNCTION, /* NOSCRIPT, "Function not found": load the library, send again */
    QC_ERR_MOVED,       /* Redis Cluster: the slot lives on another master */
    QC_ERR_ASK,         /* Redis Cluster: the slot is migrating; ask that node once */
    QC_ERR_REFUSED,     /* a sqlvault function refused the request (ERR invalid ...) */
    QC_ERR_OTHER,       /* any other error reply */
} qc_errclass;
/* Class of an error reply's text (NULL = no reply at all). */
qc_errclass queue_conn_classify(const char *error_reply);
/* The sv_err code of a class: SV_EUNREACH for the ones a reconnect or a
 * backoff cures (IO, NOT_READY, MOVED, ASK), SV_EINVAL for REFUSED,
 * SV_EINTERNAL otherwise. */
sv_code queue_conn_err_code(qc_errclass k);

/* The key a command targets (for routing), or NULL (*len 0) for a command
 * that names none: FCALL/FCALL_RO/EVAL/EVALSHA -> the first key if numkeys
 * > 0; INFO, PING, AUTH, SELECT, FUNCTION, SCRIPT, CLUSTER, WAIT... -> none;
 * BLPOP and other keyed commands -> argv[1]. */
const char *queue_command_key(int argc, const char **argv, const size_t *lens, size_t *len);

/* Sends one command (binary-safe argv) and returns its reply, which the
 * caller frees with freeReplyObject. NULL with err on i/o failure (the
 * connection is then broken) or on an error reply (connection kept; err's
 * code from queue_conn_err_code). An FCALL whose function is missing loads
 * the library and is sent again, once. */
redisReply *qc_call(queue_conn *c, int argc, const char **argv, const size_t *lens, sv_err *err);
/* Same with NUL-terminated strings only. */
redisReply *qc_callv(queue_conn *c, sv_err *err, int argc, const char **argv);
/* Calls fn with every field and value of the hash at key, HSCAN by HSCAN
 * (COUNT 1000): no reply holds the whole hash. */
int qc_hscan_each(queue_conn *c, const char *key, void (*fn)(void *ud, const char *field, const char *value),
                  void *ud, sv_err *err);
/* qc_callv with the arguments inline; argc is counted. */
#define QC_CMD(c, err, ...)                                                                \
    qc_callv((c), (err), (int)(sizeof((const char *[]){__VA_ARGS__}) / sizeof(const char *)), \
             (const char *[]){__VA_ARGS__})

/* Pipelines: qc_append queues a command (nothing is sent until the first
 * qc_read), qc_read returns the replies in order. An error reply comes back
 * as a reply (type REDIS_REPLY_ERROR, classify it); NULL with err only on
 * i/o failure, and then the connection is broken and the pipeline dropped. */
int qc_append(queue_conn *c, int argc, const char **argv, const size_t *lens, sv_err *err);
redisReply *qc_read(queue_conn *c, sv_err *err);

/* Loads the function library (FUNCTION LOAD REPLACE). */
int qc_load_functions(queue_conn *c, sv_err *err);

#endif
