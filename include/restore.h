/* restore.h -- getting data back out: fetch a source into a validated
 * temporary file, and swap a validated file onto a live database.
 *
 * The jobs (restore, verify, export, import-url: see job.h) are built from
 * three steps, each usable on its own and each tested on its own:
 *
 *   restore_fetch     a store object or a local file, plain SQLite or zstd
 *                     (told apart by magic bytes), streamed into a temporary
 *                     file: download, sha256 of both forms, capped zstd
 *                     decompression and the write overlap in two threads;
 *   restore_validate  the SQLite header (magic, page size, page count against
 *                     the size), a hardened read-only open, integrity_check,
 *                     required tables;
 *   restore_swap      the SQLite backup API from the validated file onto the
 *                     live database, so connections other processes hold open
 *                     see the new content (WAL included).
 *
 * Memory stays bounded (a few MiB of buffers) whatever the database size. */
#ifndef SV_RESTORE_H
#define SV_RESTORE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include "clock.h"
#include "err.h"
#include "job.h"
#include "store.h"
#include "timefmt.h"

/* Where a restore reads from (--from). */
typedef enum {
    RESTORE_SRC_BACKUP, /* latest or a timestamp: a committed backup */
    RESTORE_SRC_OBJECT, /* object:KEY in the store */
    RESTORE_SRC_FILE,   /* file:PATH on this machine */
} restore_src_kind;

typedef struct restore_source {
    restore_src_kind kind;
    const char *ref;    /* "latest"/timestamp, the key, or the path (points into the --from string) */
    const char *ws;     /* whose backups a latest/timestamp names; NULL = the job's workspace */
    bool trust_drill;   /* a backup whose restore drill passed on these very bytes skips integrity_check */
    bool durable;       /* the fetched file may be renamed into place: its writeback starts as it is written */
    bool exact;         /* ref is a backup time recorded on the job: that backup only, never an older one */
} restore_source;

/* Parses --from (latest|TIME|object:KEY|file:PATH). A TIME (folder
 * timestamp or ISO, see catalog_find) names the newest committed backup at
 * or before it. Object keys must be
 * relative, without ".." or "//" and printable. SV_EINVAL with a hint on bad input. */
int restore_parse_from(const char *from, restore_source *out, sv_err *err);

/* What restore_fetch should read and what it must find. */
typedef struct restore_fetch_opts {
    store_t *store;            /* for object keys */
    const char *key;           /* object key, or NULL when path is set */
    const char *path;          /* local file, or NULL */
    const char *tmp_dir;       /* where the temporary file goes */
    uint64_t max_size;         /* cap on the database (decompressed) and the input */
    bool require_zstd;         /* a backup object: plain input is corrupt */
    const char *expect_sum;    /* "sha256:HEX" of the database, or NULL */
    bool no_db_sum;            /* the database bytes are not hashed (out->sum "", expect_sum NULL): a chain's
                                * base, proven by its object checksum as stored, the result by its state
                                * checksum (links.c) */
    const char *expect_obj_sum;/* "sha256:HEX" of the object as stored, or NULL */
    int64_t expect_size;       /* database bytes, or -1 */
    int64_t expect_obj_size;   /* object bytes, or -1 */
    bool encrypted;            /* metadata.json says encrypted: decrypted with ctx->workspace's data key (crypto.h) */
    bool durable;              /* start writeback of the temporary file as it is written (it may become the live file) */
    /* When set, the decompressed bytes go to sink (an incremental's page
     * stream into chain_apply_feed) instead of a temporary file: out->path
     * stays NULL, sizes and checksums are checked as for a file. */
    int (*sink)(void *ud, const void *data, size_t n, sv_err *err);
    void *sink_ud;
    const char *context;       /* path holds an object downloaded from this store key: its decryption context */
} restore_fetch_opts;

/* A new temporary file name in tmp_dir (heap, NULL when out of memory):
 * restore-RANDOM.db, the name sv_tmp_sweep removes once no flock holds it. */
char *restore_tmp_path(const char *tmp_dir, const sv_clock *clock);

typedef struct restore_fetched {
    char *path;                /* temporary file (heap); NULL once removed */
    uint64_t size;             /* database bytes */
    uint64_t object_size;      /* input bytes as read */
    bool compressed;           /* the input was zstd */
    char sum[72];              /* sha256:HEX of the database ("" with no_db_sum) */
    char obj_sum[72];          /* sha256:HEX of the input */
    int64_t duration_ms;
    int lockfd1;               /* descriptor + 1 holding the file's liveness flock (0: none) */
    /* A backup restored through its chain (links.c): the base, the
     * incrementals applied after it (0 for a full), the pages they wrote,
     * the time applying them took, and the state checksum proven over the
     * result (chain.h). size and sum are then the result's. */
    char chain_base[SV_TS_LEN];
    uint32_t links;
    uint64_t pages_applied;
    uint64_t links_bytes;      /* the incrementals' objects as read */
    int64_t apply_ms;
    char state_sum[72];
} restore_fetched;

/* Streams the source into a new temporary file under tmp_dir and checks
 * sizes and checksums. On failure nothing is left behind; on success the
 * caller removes the file with restore_fetched_remove on every path.
 * Errors: SV_ETOOBIG (caps), SV_ECORRUPT (not SQLite/zstd, broken frames,
 * truncated input), SV_ECHECKSUM, SV_ENOTFOUND, and the store's own. */
int restore_fetch(job_ctx *ctx, const restore_fetch_opts *o, restore_fetched *out, sv_err *err);
void restore_fetched_remove(restore_fetched *f); /* safe twice */

/* The first 100 bytes of a database file, decoded. */
typedef struct restore_header {
    uint32_t page_size;
    uint32_t page_count;       /* from the header; 0 if the header's count is stale */
    bool wal;                  /* read/write versions say WAL */
} restore_header;

/* Checks a database header against the file size: magic, a page size that is
 * a power of two in 512..65536, a size that is a whole number of pages (at
 * least one) and agrees with a valid header page count. SV_ECORRUPT with
 * the reason otherwise. */
int restore_check_header(const unsigned char *hdr, size_t hdr_len, uint64_t file_size, restore_header *out,
                         sv_err *err);

typedef struct restore_validated {
    restore_header hdr;
    int64_t page_count;        /* PRAGMA page_count */
    int64_t tables;            /* tables in sqlite_schema */
    bool integrity_skipped;    /* integrity_check not run: a passed drill checked the same bytes */
} restore_validated;

/* Full validation of a database file: header, hardened read-only open
 * (DEFENSIVE, trusted_schema off, no extensions, immutable), PRAGMA
 * integrity_check = ok, and every table in require_tables (comma list, may
 * be NULL). */
int restore_validate(const char *path, const char *require_tables, restore_validated *out, sv_err *err);
/* The same for a job: validation also stops at once when ctx's job is
 * cancelled (SV_ELEASE). Bounds (see validate.c): values of at most 16 MiB,
 * SQLite's heap capped for the process, integrity_check within 5 s + 30 s
 * per GiB, only tables and indexes. Exceeding one fails with SV_ETOOBIG or
 * SV_ECORRUPT (not retryable), naming the bound. ctx may be NULL. */
int restore_validate_ex(job_ctx *ctx, const char *path, const char *require_tables, bool check_integrity,
                        restore_validated *out, sv_err *err);

/* Copies the database at src_path onto dst_path with the backup API,
 * creating dst_path (and its directory) if missing. Waits for other
 * connections' locks with backoff up to busy_ms (<= 0: about 30 s; the
 * tests' SQLVAULT_TEST_SWAP_BUSY_MS). Then checks the result (page count and
 * schema against the source). */
int restore_swap(const char *src_path, const char *dst_path, const sv_clock *clock, int64_t busy_ms,
                 sv_err *err);

/* Where no database exists yet at dst_path (nor its -wal, -shm or -journal),
 * moves the validated file src_path there (fsync, rename without replacing,
 * directory fsync): nobody can have it open, so no copy is needed. Returns 1
 * when installed (src_path is gone), 0 when not applicable (a database
 * appeared, another filesystem: use restore_swap), -1 on error. */
int restore_install_new(const char *src_path, const char *dst_path, sv_err *err);

/* Scope of a queued job (ctx->queued; no-ops otherwise), see scope.c: an
 * object key must lie under full/WS/, uploads/WS/ or exports/WS/ of the
 * job's workspace or of clone_from (may be NULL); a path (what names it in
 * the error: "db", "file: source") must be absolute and resolve inside
 * DATA_DIR/WS/ (or DATA_DIR/CLONE_FROM/) or a SQLVAULT_ALLOW_DIRS folder.
 * SV_EINVAL naming the rule otherwise. */
int restore_scope_key(job_ctx *ctx, const char *key, const char *clone_from, sv_err *err);
int restore_scope_path(job_ctx *ctx, const char *path, const char *what, const char *clone_from, sv_err *err);

/* Prints the files a restore kept aside next to ws's database
 * (livestore.db.damaged-TS, livestore.db.replaced-TS, and a safety copy
 * livestore.db.pre-restore-TS whose upload failed: kept until an operator
 * deletes them; nothing sweeps them), one a line with size and time, under a
 * "kept aside" heading; prints nothing when there are none. */
void restore_print_kept_aside(const sv_config *cfg, const char *ws, FILE *out);

#endif
