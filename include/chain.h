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
 * describes is committed. */
#ifndef SV_CHAIN_H
#define SV_CHAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "err.h"

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

/* The object name of an incremental whose parent is parent_ts
 * ("pages-PARENT.zst"), and its inverse: 0 with parent_ts filled when name
 * is one, -1 when not. */
void chain_object_name(const char *parent_ts, char *out, size_t cap);
int chain_object_parent(const char *name, char *parent_ts, size_t cap);

#endif
