/* seek.h -- page-addressable backup objects (issue 25): the zstd seekable
 * format with a page index.
 *
 * Every object a backup writes (a full's database file, an incremental's
 * page stream, each file of a LiveStore store) is a sequence of
 * independent zstd frames, each of at most SEEK_FRAME_SIZE plaintext bytes,
 * followed by two skippable frames that any zstd decoder skips (so `zstd -d`
 * still gives the whole plaintext, and older readers restore the object):
 *
 *   frame 0 .. frame F-1          zstd frames (content checksum on)
 *   index frame                   magic 0x184D2A5A (LE), size (u32 LE), then:
 *     "SVSEEK1\0"
 *     kind        u32  0: the file's pages in order, 1: a page stream (chain.h)
 *     page_size   u32
 *     page_count  u32  of the state the object gives (a link: after it)
 *     records     u32  pages (kind 0) or page records (kind 1) in the object
 *     frame_size  u32  the nominal plaintext bytes of a frame
 *     frames      u32  F
 *     hash_len    u32  SEEK_HASH_LEN
 *     head_len    u32  plaintext bytes before the first record (0, or 24: a page stream's header)
 *     F entries   {u32 compressed, u32 plaintext, u32 first}: the frame's
 *                 sizes and the first record that starts in it (records
 *                 never straddle frames)
 *     kind 1:     records x u32 pgno, ascending
 *     ---- the index ends here; the hashes follow ----
 *     records x SEEK_HASH_LEN bytes: the first bytes of each record's page
 *                 hash (chain.h: XXH3-128, canonical form)
 *   seek table frame              the zstd seekable format's: magic
 *                 0x184D2A5E, size, F x {u32 compressed, u32 plaintext},
 *                 then frames (u32), descriptor (u8 0), magic 0x8F92EAB1
 *
 * Offsets are of the compressed stream (the stored object when it is not
 * encrypted; the plaintext of the sealed object when it is: crypto.h's
 * chunks are fixed size, so a byte range maps to whole chunks). metadata.json
 * (the file's entry, and the top level for the first file) says where the
 * index and the hashes are, with a checksum of each:
 *   "seekable": {"version": 1, "frames": F, "frameSize": N,
 *                "indexOffset": O, "indexSize": L, "indexChecksum": "sha256:..",
 *                "hashesOffset": O + L, "hashesSize": H, "hashesChecksum": "sha256:.."}
 * (keyed HMACs instead of sha256 for an encrypted backup, as its other
 * plaintext digests). A reader trusts metadata.json, proves the index with
 * its checksum, and each frame by zstd's content checksum; a page's hash
 * prefix is a guide (delta restore compares it), the result of any restore
 * is proven against stateChecksum as before.
 *
 * Frame size: 2 MiB, measured with tests/tools/sv_frames on the 1 GiB bench
 * workspace: 1.013x the bytes of one frame (1 MiB: 1.036x, 256 KiB: 1.097x,
 * 4 MiB: 1.0065x but twice the bytes per page fetched). */
#ifndef SV_SEEK_H
#define SV_SEEK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "err.h"

#define SEEK_FRAME_SIZE (2u * 1024 * 1024)
#define SEEK_HASH_LEN 8
#define SEEK_INDEX_MAGIC 0x184D2A5Au
#define SEEK_TABLE_MAGIC 0x184D2A5Eu
#define SEEK_FOOTER_MAGIC 0x8F92EAB1u
#define SEEK_INDEX_HEAD 44 /* skippable header 8 + "SVSEEK1\0" 8 + 7 x u32 */
#define SEEK_KIND_FILE 0u
#define SEEK_KIND_STREAM 1u

/* ---- writing ----------------------------------------------------------- */

/* Where compressed bytes go, in order (the encrypting filter or the store). */
typedef int (*seek_out_fn)(void *ud, const void *data, size_t len, sv_err *err);

typedef struct seek_writer seek_writer;
typedef struct seek_opts {
    int level;          /* zstd level */
    int threads;        /* frames compressed at once (0 or 1: inline) */
    uint32_t kind;      /* SEEK_KIND_FILE or SEEK_KIND_STREAM */
    uint32_t page_size; /* 0: not a database (no page records are indexed) */
    uint32_t head_len;  /* a page stream's header length */
    const char *tmp_dir;/* where the index waits until the end (a file of its own, unlinked) */
} seek_opts;

int seek_writer_new(const seek_opts *o, seek_out_fn out, void *ud, seek_writer **w, sv_err *err);
/* Plaintext in any pieces. A SEEK_KIND_FILE object ends a frame after every
 * SEEK_FRAME_SIZE bytes; a page stream's frames end at seek_record_end. */
int seek_write(seek_writer *w, const void *data, size_t len, sv_err *err);
/* A file's page hash (pages in order; kind 0), or a page record's pgno and
 * hash after its bytes were written (kind 1): the frame may end here. */
int seek_page(seek_writer *w, uint32_t pgno, const unsigned char *hash, sv_err *err);
/* Ends the last frame and writes the index and the seek table. page_count:
 * of the state the object gives. *meta gets the "seekable" object (new
 * reference) with plain sha256 checksums. */
typedef struct json_t json_t;
int seek_writer_finish(seek_writer *w, uint32_t page_count, json_t **meta, sv_err *err);
void seek_writer_free(seek_writer *w); /* NULL is a no-op; stops the threads */

/* ---- reading ------------------------------------------------------------ */

typedef struct seek_frame {
    uint64_t offset;     /* in the compressed stream */
    uint32_t csize, dsize, first;
} seek_frame;

typedef struct seek_index {
    uint32_t kind, page_size, page_count, records, frame_size, frames, head_len;
    seek_frame *frame;   /* heap, frames entries, offsets summed */
    uint32_t *pgno;      /* heap, kind 1: records entries */
} seek_index;

/* Parses the index bytes [indexOffset, +indexSize) as metadata.json said.
 * Hostile input is refused with SV_ECORRUPT naming what is wrong (sizes,
 * counts, order, frames that do not tile the stream up to indexOffset). */
int seek_index_parse(const void *data, size_t len, uint64_t index_offset, seek_index *ix, sv_err *err);
void seek_index_free(seek_index *ix);
/* The frame holding record r (0-based) and the record's byte offset in its
 * frame's plaintext. */
int seek_index_locate(const seek_index *ix, uint32_t r, uint32_t *frame, uint32_t *offset, sv_err *err);
/* Record of pgno in a page stream's index: its index, or -1 when absent. */
int64_t seek_index_find(const seek_index *ix, uint32_t pgno);

#endif
