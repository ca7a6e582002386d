/* replica.h -- further stores every committed backup is copied to.
 *
 * SQLVAULT_REPLICAS names them (NAME=URL,...); each S3 one takes its
 * endpoint, region and credentials from SQLVAULT_REPLICA_<NAME>_S3_ENDPOINT,
 * _S3_REGION, _ACCESS_KEY_ID and _SECRET_ACCESS_KEY, and its retention policy
 * from SQLVAULT_REPLICA_<NAME>_RETENTION (a longer one, say), the primary's
 * where unset. A replica is opened with a configuration of its own: the primary's,
 * its store fields replaced, so every module that opens "the store" of a
 * job_ctx (restore's chain downloads, the safety upload) opens the replica
 * when the ctx carries a replica's configuration.
 *
 * After a backup commits in the primary, a follow-up `replicate` job copies
 * to each replica what it lacks of the workspace: keys/WS.json when it
 * differs, then every committed backup folder missing there that the
 * replica's retention policy keeps (so a shorter policy there does not get
 * back what its prune removed), oldest first
 * (parents before their links), each folder's objects first and its commit
 * marker (metadata.json) last, so a replica holds whole backups only. It is
 * at least once and idempotent: an object already there at the same size is
 * not copied again, so a run killed halfway is finished by the next. */
#ifndef SV_REPLICA_H
#define SV_REPLICA_H

#include <jansson.h>
#include <stdint.h>
#include "config.h"
#include "err.h"
#include "job.h"
#include "store.h"

#define REPLICA_MAX 8

typedef struct replica {
    char name[33];
    sv_config cfg;  /* the primary's, store fields replaced; borrows the rest */
    char *owned[6]; /* the replaced strings (url, endpoint, region, key id, secret, retention) */
} replica;

typedef struct replica_set {
    size_t n;
    replica r[REPLICA_MAX];
} replica_set;

/* Reads cfg->replicas (NULL: n = 0). cfg must outlive the set. */
int replica_parse(const sv_config *cfg, replica_set *out, sv_err *err);
void replica_set_free(replica_set *rs);
/* The replica named name, or NULL. */
const replica *replica_find(const replica_set *rs, const char *name);
/* Opens a replica's store. */
int replica_open(const replica *r, const sv_clock *clock, store_t **out, sv_err *err);

typedef struct replica_counts {
    int backups;      /* folders committed in the replica by this run */
    int objects;      /* objects copied */
    uint64_t bytes;   /* bytes copied */
    int keys;         /* key records copied */
    int present;      /* committed backups the replica already had */
    int outside;      /* backups the replica's policy no longer keeps: not copied */
    char upto[24];    /* the newest primary backup the replica now holds ("" if none) */
} replica_counts;

/* Copies to dst what it lacks of ws's backups in src (see above). */
int replica_sync_ws(job_ctx *ctx, store_t *src, store_t *dst, const char *ws, const char *policy, replica_counts *c,
                    sv_err *err);

/* Before a backup with encryption on: when the primary has no key record
 * of ws (lost with its bucket) and a replica has one, copies it back, so the
 * new backups use the data key the replica's backups need instead of a new
 * one. Best effort (logged); 0 always. */
int replica_heal_key(job_ctx *ctx, const char *ws);

/* The replicate job: opts store (one replica's name; default every one).
 * Fails when a replica could not be brought up to date (the job retries
 * with backoff; the primary's backups never wait for it). */
int job_replicate(job_ctx *ctx, json_t **result, sv_err *err);

/* After a backup committed in the primary: a queued backup enqueues the
 * follow-up replicate job (id JOB-replicate); an inline one copies itself,
 * each replica's outcome in *out (new reference, {} when none). Never fails
 * the backup: a replica that cannot be reached is reported, not fatal. */
int replica_after_backup(job_ctx *ctx, json_t **out);

#endif
