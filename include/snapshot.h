/* snapshot.h -- one consistent state of a live SQLite database, as a stream
 * of bytes that is a valid database file.
 *
 * A read transaction on a read-only connection of our own pins the state.
 * Two ways to get its bytes:
 *  - direct (WAL mode, WAL fully checkpointed): the main file itself is the
 *    snapshot, and stays so while the read transaction is held, because a
 *    checkpoint cannot write past an open reader's mark. Nothing is copied.
 *  - copy (otherwise): the backup API copies the state into a temporary file
 *    in one step (sqlite3_backup_step(-1)), so writers cannot restart it; the
 *    file is unlinked as soon as it is open for reading.
 * Either way the caller reads size bytes with snapshot_read and calls
 * snapshot_release on every path. */
#ifndef SV_SNAPSHOT_H
#define SV_SNAPSHOT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include "clock.h"
#include "err.h"

/* The fingerprint of a database's files: a stat, not a read (docs/DESIGN.md,
 * Incremental backups). Equal fingerprints mean no commit in between. Text:
 * the database's and its -wal's size, mtime (ns) and inode, the database
 * header's file change counter (offset 24), the WAL header's checkpoint
 * sequence and salts, and the wal-index header of the -shm (mxFrame, the
 * change counter, the salts...). stable is false when the two copies of the
 * wal-index header differ (a writer mid-commit), or when the database file's
 * mtime is less than SNAPSHOT_FP_RACY_MS old (mtimes come from a coarse clock, so a
 * commit right after could leave them equal): such a fingerprint never
 * matches. snapshot_fingerprint reads through descriptors of our own,
 * opened and closed: call it only while this process holds no SQLite
 * connection to the database (closing them would drop that connection's
 * POSIX locks). snapshot_take takes the same fingerprint through its own
 * connection's handles, after a first read (which creates or attaches the
 * -wal and -shm) and before its read transaction begins. */
#define SNAPSHOT_FP_LEN 320
#define SNAPSHOT_FP_RACY_MS 2000
typedef struct snapshot_fp {
    char text[SNAPSHOT_FP_LEN];
    bool stable;
} snapshot_fp;
void snapshot_fingerprint(const char *db_path, snapshot_fp *out);

typedef struct snapshot_info {
    int fd;                 /* copy mode: the unlinked temporary copy; -1 in direct mode */
    bool direct;            /* true: the bytes come from the live file under hold's transaction */
    void *hold;             /* sqlite3 * holding the read transaction (direct) */
    uint64_t offset;        /* direct mode: next byte snapshot_read returns */
    char *path;             /* temporary copy (copy mode), heap; NULL once removed */
    uint64_t size;          /* bytes */
    int page_size;
    int64_t page_count;
    char journal_mode[16];  /* of the source: "wal", "delete", ... */
    snapshot_fp fp;         /* the files' fingerprint just before the read transaction began (stable: none
                             * of the snapshot's own effects on the files come after it) */
} snapshot_info;

/* Takes a snapshot of db_path (a copy goes under tmp_dir). Fails with
 * SV_ENOTFOUND if there is no database, SV_ECORRUPT if it is not SQLite,
 * SV_ETOOBIG past max_size, SV_ENOSPC when the disk fills (nothing is left
 * behind on failure). allow_direct false forces the copy. */
int snapshot_take(const char *db_path, const char *tmp_dir, const sv_clock *clock, uint64_t max_size,
                  bool allow_direct, snapshot_info *out, sv_err *err);
/* Reads up to n bytes at the current offset (0 at the end, -1 with errno). */
ssize_t snapshot_read(snapshot_info *s, void *buf, size_t n);
/* Reads exactly n bytes at off (within size): 0, or -1 with errno. Does not
 * move the offset snapshot_read uses. */
int snapshot_pread(snapshot_info *s, void *buf, size_t n, uint64_t off);
/* Moves snapshot_read back to the first byte: 0, or -1 with errno. */
int snapshot_rewind(snapshot_info *s);
/* Ends the read transaction, closes fd, removes any temporary file; safe to
 * call twice. */
void snapshot_release(snapshot_info *s);

#endif
