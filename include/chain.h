/* chain.h -- incremental backups: page streams, page hashes, state checksums
 * and the local chain state of a workspace (issue 12).
 *
 * A chain is a full backup (its base) followed by incrementals, each naming
 * the backup it builds on (its parent). Every backup is a folder
 * full/WS/TS/ with metadata.json written last, as before.
 *
 * An incremental's object is  full/WS/TS/pages-PARENT.zst  where PARENT is
 * the parent's folder timestamp, so one listing of full/WS/ tells the whole
 * chain structure (catalog.h: catalog_entry.parent). Its plaintext (before
 * zstd, and before the encryption filter when encryption is on) is a PAGE
 * STREAM:
 *
 *   header, 24 bytes:
 *     magic      8 bytes  "SVPAGES1"
 *     page_size  u32 LE   the database's page size (512..65536, power of two)
 *     page_count u32 LE   the page count of the state this link produces
 *     n          u32 LE   number of page records that follow
 *     reserved   u32 LE   0
 *   n records, pgno strictly ascending, 1 <= pgno <= page_count:
 *     pgno       u32 LE
 *     page       page_size bytes
 *   trailer, 8 bytes: "SVPEND\0\0"
 *
 * Applying a link to its parent's database file: write each page at
 * (pgno - 1) * page_size, then truncate the file to page_count * page_size.
 * A link whose page_size differs from its parent's is refused (a change of
 * page size makes the next backup a full).
 *
 * PAGE HASH: XXH3-128 of the page's bytes, in xxhash's canonical (big-endian)
 * 16-byte form. STATE CHECKSUM of a database file of page_count pages:
 * "sha256:" + hex(sha256(hash(page 1) || ... || hash(page page_count))).
 * Every backup, full or incremental, records the state checksum of the
 * database it restores to as metadata.json "stateChecksum"; a restore of a
 * chain recomputes it over the result, so the chain is proven end to end,
 * and each link's own checksums name the link that is damaged.
 *
 * metadata.json of an incremental (beside the usual fields):
 *   "backupType": "incremental"
 *   "object": "pages-PARENT.zst"
 *   "checksum": sha256 of the page stream (the plaintext of the object)
 *   "compressedSize", "compressedChecksum": of the stored object
 *   "databaseSize": size of the database this link produces
 *   "sqlite": {"pageSize", "pageCount", ...} of that database
 *   "parent": PARENT (folder timestamp), "parentStateChecksum": the parent's
 *   "stateChecksum"
 *   "base": the full's folder timestamp, "chainLength": links from the base
 *   (the first incremental is 1)
 *   "changedPages": n
 *   "stateChecksum": of the database this link produces
 * A full has "stateChecksum" too (and chainLength 0, no parent).
 *
 * THE LOCAL CHAIN STATE (one file per workspace under SQLVAULT_STATE_DIR,
 * default DATA_DIR/.sqlvault-state, which discovery skips as a dot folder):
 * the head backup of the workspace's chain (its folder, base, length, state
 * checksum), the fingerprint of the database when the head's snapshot was
 * taken, and the page hashes of the head's state. It is only a cache: a
 * missing, unreadable or foreign one makes the next backup a full. It is
 * replaced (write to a temporary, fsync, rename) only after the backup it
 * describes is committed.
 *
 * The state also says when its head was last proven present in the store
 * (header "checkedAt", ms: the head's commit, or a re-proof). An unchanged
 * workspace is answered from the state alone, with no store request, until
 * checkedAt is SQLVAULT_FULL_EVERY old; the next unchanged answer then GETs
 * the head's metadata.json first: present (with the state's checksum), the
 * answer stays "unchanged" and checkedAt moves on; gone or not the state's,
 * the backup is a real one, a full; a store error fails the job. So a head
 * deleted from the store (by hand, a lifecycle rule, a store restored from
 * elsewhere) is noticed within SQLVAULT_FULL_EVERY, for one small GET per
 * idle workspace per SQLVAULT_FULL_EVERY. */
#ifndef SV_CHAIN_H
#define SV_CHAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "clock.h"
#include "err.h"
#include "timefmt.h"

#define CHAIN_MAGIC "SVPAGES1"
#define CHAIN_TRAILER "SVPEND\0\0"
#define CHAIN_HEADER_LEN 24
#define CHAIN_TRAILER_LEN 8
#define CHAIN_HASH_LEN 16            /* XXH3-128, canonical form */
#define CHAIN_OBJECT_PREFIX "pages-" /* object: pages-PARENT.zst */
#define CHAIN_OBJECT_SUFFIX ".zst"

/* ---- page hashes and state checksums ---------------------------------- */

/* The page hash of one page. */
void chain_page_hash(const void *page, size_t page_size, unsigned char out[CHAIN_HASH_LEN]);

/* Accumulates the state checksum over page hashes, in page order. */
typedef struct chain_state_sum chain_state_sum;
chain_state_sum *chain_state_sum_new(void);
/* Feeds whole pages (n a multiple of page_size): hashes each page and folds
 * the hash in. */
void chain_state_sum_pages(chain_state_sum *s, const void *pages, size_t n, size_t page_size);
/* "sha256:HEX" into out; the accumulator is freed. */
void chain_state_sum_finish(chain_state_sum *s, char out[72]);
/* Frees the accumulator without a sum (an unwinding path); NULL is a no-op. */
void chain_state_sum_free(chain_state_sum *s);

/* Folds one page hash (CHAIN_HASH_LEN bytes, as chain_page_hash gives it)
 * in: the hashes a local chain state holds are summed this way. */
void chain_state_sum_hash(chain_state_sum *s, const unsigned char hash[CHAIN_HASH_LEN]);

/* True for a page size SQLite can have: a power of two in 512..65536. */
bool chain_page_size_ok(uint32_t page_size);

/* The state checksum of the database file open on fd (page_size bytes per
 * page, size / page_size pages), read in bounded chunks. */
int chain_state_sum_fd(int fd, uint32_t page_size, char out[72], sv_err *err);

/* ---- writing a page stream ------------------------------------------- */

/* Where a writer's bytes go (the backup's sha256 + zstd + store pipeline, a
 * buffer in a test): 0, or -1 with err filled. */
typedef int (*chain_sink)(void *ud, const void *buf, size_t n, sv_err *err);

/* Emits one link's page stream into sink: chain_writer_new emits the header
 * (n records will follow), chain_writer_page one record (pgno strictly
 * ascending, 1..page_count, page_size bytes), chain_writer_finish checks
 * that n records were written and emits the trailer (*bytes: the stream's
 * length, may be NULL). A writer holds no page: memory is constant. */
typedef struct chain_writer chain_writer;
int chain_writer_new(uint32_t page_size, uint32_t page_count, uint32_t n, chain_sink sink, void *ud,
                     chain_writer **out, sv_err *err);
int chain_writer_page(chain_writer *w, uint32_t pgno, const void *page, sv_err *err);
int chain_writer_finish(chain_writer *w, uint64_t *bytes, sv_err *err);
void chain_writer_free(chain_writer *w); /* NULL is a no-op */

/* ---- applying a page stream ------------------------------------------- */

/* Applies one link's page stream to the database file open on fd (read and
 * write), fed in pieces of any size as it is decompressed. Hostile input is
 * refused with SV_ECORRUPT and a message naming what is wrong (magic, page
 * size, order, count, length, trailer); max_size caps page_count * page_size
 * (SV_ETOOBIG). The file is garbage after a failure: callers apply links to a
 * temporary copy, never to a live database. */
typedef struct chain_applier chain_applier;
int chain_apply_new(int fd, uint32_t expect_page_size, uint64_t max_size, chain_applier **out, sv_err *err);
int chain_apply_feed(chain_applier *a, const void *buf, size_t n, sv_err *err);
/* Checks that the stream ended with its trailer after exactly n records,
 * truncates the file to page_count * page_size, and reports the new page
 * count and the number of pages written. */
int chain_apply_finish(chain_applier *a, uint64_t *page_count, uint64_t *pages_written, sv_err *err);
void chain_apply_free(chain_applier *a); /* NULL is a no-op */

/* ---- the local chain state (state.c) ---------------------------------- */

/* One file per workspace, STATE_DIR/WS.state: the page hashes of the head's
 * state (CHAIN_HASH_LEN bytes per page, page 1 first), then the header below
 * as JSON, its length (u32 LE) and the magic "SVSTATE1", so the hashes are
 * streamed in while a backup runs and the header is written once the backup
 * is committed. Reading the header is a stat and two small reads (the
 * unchanged check); the hashes are streamed, never held in memory. The sum
 * of the hashes is the head's stateChecksum, which proves them when they
 * are read (a damaged state makes a full). */
#define CHAIN_FP_LEN 320
#define CHAIN_STORE_ID_LEN 33 /* 32 hex digits + NUL */
typedef struct chain_state {
    char workspace[130];
    char store_id[CHAIN_STORE_ID_LEN]; /* chain_store_id of the store URL */
    char head[SV_TS_LEN];              /* the head backup's folder */
    char head_type[16];                /* "full" or "incremental" */
    char base[SV_TS_LEN];              /* the chain's full */
    int64_t base_ms;                   /* the base's snapshot time (ms) */
    uint32_t chain_length;             /* incrementals after the base (0: the head is the base) */
    char state_sum[72];                /* the head's stateChecksum */
    uint32_t page_size, page_count;
    char fingerprint[CHAIN_FP_LEN];    /* the database's files when the head was taken; "" never matches */
    int64_t checked_ms;                /* header "checkedAt": when the head was last proven in the store
                                        * (its commit, or a re-proof's GET); a state written before the
                                        * field existed reads as base_ms (the earliest it can be) */
} chain_state;

/* An id of a store: the first 32 hex digits of sha256(url). */
void chain_store_id(const char *store_url, char out[CHAIN_STORE_ID_LEN]);
/* STATE_DIR/WS.state (heap, NULL when out of memory). */
char *chain_state_path(const char *state_dir, const char *ws);
/* Reads the header of the state at path: 0; -1 with SV_ENOTFOUND when
 * there is none, SV_ECORRUPT when it is unreadable, damaged, or another
 * workspace's or store's (the message says which). */
int chain_state_load(const char *path, const char *store_id, const char *ws, chain_state *st, sv_err *err);

/* Rewrites the header of the existing state of st->workspace in state_dir
 * as st (an unchanged workspace's checkedAt moved on), without reading the
 * database: the hashes are copied as they are, streamed, into a new file
 * that replaces the old one as a commit does (O_TMPFILE, fsync, rename). The
 * state on disk must still be st's (head, stateChecksum, page count): one
 * that a backup replaced meanwhile is left alone (SV_ECORRUPT). */
int chain_state_rewrite(const char *state_dir, const chain_state *st, const sv_clock *clock, sv_err *err);

/* Streams the hashes of the state at path (loaded as st) in page order. */
typedef struct chain_hashes chain_hashes;
int chain_hashes_open(const char *path, const chain_state *st, chain_hashes **out, sv_err *err);
/* The next page's hash: 1, 0 after the last page, -1 on a read error. */
int chain_hashes_next(chain_hashes *h, unsigned char out[CHAIN_HASH_LEN], sv_err *err);
/* Reads the rest and checks that the hashes sum to st->state_sum (SV_ECORRUPT when not). */
int chain_hashes_verify(chain_hashes *h, sv_err *err);
void chain_hashes_close(chain_hashes *h); /* NULL is a no-op */

/* A new state for a workspace: hashes appended in page order into an
 * unnamed file in state_dir (O_TMPFILE: a killed process leaves nothing),
 * then chain_state_writer_commit writes the header, fsyncs, and replaces
 * STATE_DIR/WS.state atomically. _reset starts the hashes over. */
typedef struct chain_state_writer chain_state_writer;
int chain_state_writer_new(const char *state_dir, const sv_clock *clock, chain_state_writer **out, sv_err *err);
int chain_state_writer_hash(chain_state_writer *w, const unsigned char hash[CHAIN_HASH_LEN], sv_err *err);
int chain_state_writer_reset(chain_state_writer *w, sv_err *err);
/* The hashes written so far, by page (1-based): for a second pass over them. */
int chain_state_writer_read(chain_state_writer *w, uint32_t pgno, unsigned char out[CHAIN_HASH_LEN], sv_err *err);
int chain_state_writer_commit(chain_state_writer *w, const chain_state *st, sv_err *err);
void chain_state_writer_free(chain_state_writer *w); /* NULL is a no-op; uncommitted hashes vanish */

/* The object name of an incremental whose parent is parent_ts
 * ("pages-PARENT.zst"), and its inverse: 0 with parent_ts filled when name
 * is one, -1 when not. */
void chain_object_name(const char *parent_ts, char *out, size_t cap);
int chain_object_parent(const char *name, char *parent_ts, size_t cap);

#endif
