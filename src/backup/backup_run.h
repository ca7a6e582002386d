/* backup_run.h -- what the backup module's files share (internal): the
 * pipeline (backup.c), one run of backup_take and its phases, and the
 * incremental side (incr.c: the chain state, change detection, the page
 * stream). */
#ifndef SV_BACKUP_RUN_H
#define SV_BACKUP_RUN_H

#include <openssl/evp.h>
#include <zstd.h>
#include "backup.h"
#include "chain.h"
#include "crypto.h"
#include "livestore.h"
#include "seek.h"
#include "snapshot.h"

/* Hashes a byte stream page by page, whatever its pieces (one page of carry):
 * the state checksum, and each hash into the new chain state when there is
 * one. */
typedef struct page_hasher {
    uint32_t page_size;
    unsigned char *carry;      /* a partial page, page_size bytes */
    size_t have;
    uint64_t pages;
    chain_state_sum *sum;
    chain_state_writer *sw;    /* not owned; NULL: no state */
    seek_writer *seek;         /* not owned; NULL: the hashes go to no page index */
} page_hasher;

int page_hasher_init(page_hasher *h, uint32_t page_size, chain_state_writer *sw, sv_err *err);
int page_hasher_feed(page_hasher *h, const void *buf, size_t n, sv_err *err);
/* The state checksum of what was fed (whole pages only, else SV_EINTERNAL). */
int page_hasher_finish(page_hasher *h, char sum[72], sv_err *err);
void page_hasher_free(page_hasher *h);

/* The pipeline state, so the fail path frees what was made. */
typedef struct pipe {
    unsigned char *in;
    seek_writer *seek;      /* the object's independent frames and page index (seek.h) */
    EVP_MD_CTX *md_db, *md_obj;
    store_writer_t *w, *wx;
    store_t *store;
    crypto_stream *seal;    /* encrypting filter (crypto.h), NULL when encryption is off */
    const crypto_dk *dk;    /* the object's data key (NULL: plain) */
    uint64_t stored;        /* bytes written to the object */
    page_hasher *ph;        /* the file's pages are hashed too (a single-file backup) */
    page_hasher own;        /* a file hashed for its page index alone (ph NULL) */
    bool own_on;
} pipe_t;

/* Opens one object: kind SEEK_KIND_FILE (a database file of page_size
 * pages; 0: not a database) or SEEK_KIND_STREAM (a page stream). */
int pipe_open(job_ctx *ctx, pipe_t *p, const char *obj_key, const char *export_key, const crypto_dk *dk,
              uint64_t size, uint32_t kind, uint32_t page_size, sv_err *err);
int pipe_feed(job_ctx *ctx, pipe_t *p, const void *buf, size_t n, sv_err *err);
int pipe_close(job_ctx *ctx, pipe_t *p, const char *name, const char *obj_key, uint64_t size, int page_size,
               int64_t page_count, char db_sum[72], char obj_sum[72], uint64_t *compressed, json_t *files,
               sv_err *err);

/* One run of backup_take: what its phases share, so that the one exit path
 * (run_free) releases whatever was made. */
typedef struct backup_run {
    job_ctx *ctx;
    const backup_params *bp;
    backup_outcome *out;
    snapshot_info snap;                  /* a single-file workspace's snapshot */
    ls_copy lc;                          /* a LiveStore store's copy */
    snapshot_info *snaps[LS_MAX_FILES];  /* the files, in metadata.json "files" order */
    const char *names[LS_MAX_FILES];
    int nfiles;
    pipe_t p;
    char *meta_key, *obj_keys[LS_MAX_FILES];
    char sum0[72], osum0[72];            /* the first file's checksums (metadata's top level) */
    uint64_t compressed0, total;
    json_t *files, *store;               /* metadata.json "files" and "livestore" */
    json_t *tables;                      /* metadata.json "tables": {name: rows} (count_tables) */
    int64_t t0, ts_ms;
    crypto_dk dk;
    bool enc;
    bool own_commit;                     /* this attempt wrote the marker of its own backup */

    /* Incrementals (incr.c). */
    bool chain;                          /* a backup job's single file: the chain state is kept */
    bool have_old;                       /* old holds a valid state */
    chain_state old;
    char *state_path;
    chain_state_writer *sw;              /* the new state's hashes */
    page_hasher ph;                      /* a single file's page hashes (every full has a stateChecksum) */
    bool hashing;
    bool incremental;                    /* this backup is an incremental of old.head */
    uint32_t changed;                    /* its page records */
    char state_sum[72];                  /* stateChecksum of the backup's database */
    char parent_sum[72];                 /* the parent's, as its metadata.json says */
    const char *full_reason;             /* why a chain backup is a full */
    bool store_chain;                    /* a backup job's LiveStore store: the unchanged skip */
    char store_fp[CHAIN_FP_LEN];         /* its files' fingerprint before the copy ("" never matches) */
} backup_run;

/* incr.c: the phases of a backup that the chain adds. */
/* Before the snapshot: 1 when the database's fingerprint equals the chain
 * state's (out says unchanged, nothing else is done), 0 to go on, -1 on error. */
int incr_check_unchanged(backup_run *r, sv_err *err);
/* After the snapshot: decides full or incremental (the diff pass over the
 * pages); 1 when no page changed (unchanged, the state's fingerprint
 * refreshed), 0 to go on, -1 on error. Sets up the page hasher of a full. */
int incr_plan(backup_run *r, sv_err *err);
/* An incremental's object: the page stream through the pipeline. */
int incr_upload(backup_run *r, sv_err *err);
/* The chain's fields of metadata.json (stateChecksum; an incremental's parent, base...). */
void incr_meta(backup_run *r, json_t *meta);
/* After the marker of the run's own backup: the new chain state replaces the old (best effort). */
void incr_commit_state(backup_run *r);
void incr_free(backup_run *r);
/* A LiveStore store (always a full): 1 when its files' fingerprint equals the
 * state's (unchanged), 0 to go on; after its own commit, the state. */
int incr_store_check(backup_run *r, sv_err *err);
void incr_store_commit(backup_run *r);

#endif
