/* cluster.h -- Redis Cluster routing over plain hiredis connections (the
 * Debian hiredis, 0.14, has no cluster support).
 *
 * A qcl holds the slot map (CLUSTER SLOTS) and one lazily opened hiredis
 * connection per master. qcl_command sends a command to the master owning
 * its key's slot and follows MOVED (refreshing the map) and ASK. Error
 * replies other than redirections are returned to the caller as replies,
 * so the one error classifier stays in conn.c. The pure parts (CRC16 key
 * slot with hash tags, the CLUSTER SLOTS and MOVED/ASK parsers, the seed
 * list) are unit-tested in tests/unit/test_cluster.c.
 *
 * THREAD SAFETY: a qcl belongs to one queue_conn, used by one thread. */
#ifndef SV_QUEUE_CLUSTER_H
#define SV_QUEUE_CLUSTER_H

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "config.h"
#include "err.h"

#define QCL_SLOTS 16384
#define QCL_MAX_SEEDS 16

/* CRC16-CCITT (XMODEM), the cluster's key hash. */
uint16_t qcl_crc16(const char *buf, size_t len);
/* The slot of a key: the CRC16 of its hash tag (the bytes between the first
 * '{' and the next '}', when not empty) or of the whole key, mod 16384. */
int qcl_key_slot(const char *key, size_t len);
/* Which argument routes a command: its index, -1 for a command with no key
 * (sent to any master), -2 for one every master must get (FUNCTION LOAD,
 * FUNCTION DELETE, FUNCTION FLUSH). */
int qcl_command_key(int argc, const char **argv, const size_t *lens);

/* A MOVED or ASK error reply, parsed. */
typedef struct qcl_redirect {
    bool ask;          /* ASK (one command) rather than MOVED (the map changed) */
    int slot;
    char host[128];
    int port;
} qcl_redirect;
/* Parses "MOVED 3999 127.0.0.1:6381" / "ASK ..." (also "[::1]:6381" and an
 * empty host, which means the node that answered). False for anything else. */
bool qcl_parse_redirect(const char *s, qcl_redirect *out);

/* A seed node of SQLVAULT_REDIS_URL. */
typedef struct qcl_seed {
    char host[128];
    int port;
} qcl_seed;
/* Parses the host list of redis://[[user]:password@]h1[:p1][,h2[:p2]...][/db]
 * into up to cap seeds; returns the count, or -1 with err on a bad list. */
int qcl_parse_seeds(const char *url, qcl_seed *out, int cap, sv_err *err);

typedef struct qcl qcl;

/* A router for cfg (borrowed) with no map yet. NULL on OOM. */
qcl *qcl_new(const sv_config *cfg);
void qcl_free(qcl *cl); /* NULL is a no-op */

/* Connects to the seeds in turn (then every node the last map named) and
 * asks CLUSTER SLOTS. 0 and *is_cluster true with a fresh map; 0 and
 * *is_cluster false when the first node that answers is not a cluster node
 * (cluster support disabled); -1 with err (SV_EUNREACH) when no node
 * answers. Keeps the connections of masters that are still masters. */
int qcl_refresh(qcl *cl, bool *is_cluster, sv_err *err);
/* Rebuilds the map from a CLUSTER SLOTS reply. -1 with err on a reply that
 * is not a slot map. */
int qcl_apply_slots(qcl *cl, const redisReply *r, sv_err *err);

/* Sends one command to the master of its key's slot (or to every master,
 * see qcl_command_key, returning the last reply), following up to 5
 * redirections. An FCALL answered ASK (its slot is being migrated) is not
 * run on the half-filled target: it is tried again on the owner for up to
 * 2 s, and if the migration is still going on the caller gets TRYAGAIN (an
 * error reply, transient). Returns the reply (caller frees), or NULL with
 * err (SV_EUNREACH) on an i/o error, after which the map is stale and the
 * failed node's connection is closed. */
redisReply *qcl_command(qcl *cl, int argc, const char **argv, const size_t *lens, sv_err *err);
/* Sends a command to every master; returns 0 or -1 with err on the first
 * failure (error replies included, as SV_EINTERNAL with the reply's text).
 * each (may be NULL) sees every reply first. */
int qcl_each_master(qcl *cl, int argc, const char **argv, const size_t *lens,
                    int (*each)(void *ud, const redisReply *r, sv_err *err), void *ud, sv_err *err);
/* The connection of the master owning key's slot (any master when key is
 * NULL), opened if needed, for a pipeline whose replies are read from it;
 * the map is refreshed first when stale. NULL with err (SV_EUNREACH). A
 * MOVED or ASK reply read from it is the caller's to handle (the pipeline
 * is sent again after qcl_disconnect, which refreshes the map). */
redisContext *qcl_context_for_key(qcl *cl, const char *key, size_t len, sv_err *err);
/* Replicas of the master that served the last keyed command (from the
 * map), 0 when unknown. */
int qcl_last_replicas(const qcl *cl);
/* The connection of the master that served the last keyed command (for a
 * WAIT that must follow the write on the same connection); NULL if none. */
redisContext *qcl_last_context(qcl *cl);
/* Masters in the map, and the master owning a slot ("host:port" in buf). */
size_t qcl_masters(const qcl *cl);
int qcl_slot_owner(const qcl *cl, int slot, char *buf, size_t cap);
/* Closes every connection and marks the map stale (the next command refreshes). */
void qcl_disconnect(qcl *cl);

#endif
