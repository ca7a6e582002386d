/* snapshot.h -- a consistent copy of a live SQLite database, taken with the
 * backup API on its own read-only connection, into a temporary file.
 *
 * The copy runs in one step (sqlite3_backup_step(-1)) inside one read
 * transaction, so in WAL mode writers carry on and cannot restart it. The
 * caller owns the temporary file and removes it with snapshot_remove on every
 * path. */
#ifndef SV_SNAPSHOT_H
#define SV_SNAPSHOT_H

#include <stdint.h>
#include "clock.h"
#include "err.h"

typedef struct snapshot_info {
    char *path;             /* temporary file, heap; NULL once removed */
    uint64_t size;          /* bytes */
    int page_size;
    int64_t page_count;
    char journal_mode[16];  /* of the source: "wal", "delete", ... */
} snapshot_info;

/* Takes a snapshot of db_path into a new file under tmp_dir. Fails with
 * SV_ENOTFOUND if there is no database, SV_ECORRUPT if it is not SQLite,
 * SV_ETOOBIG past max_size, SV_ENOSPC when the disk fills (nothing is left
 * behind on failure). */
int snapshot_take(const char *db_path, const char *tmp_dir, const sv_clock *clock, uint64_t max_size,
                  snapshot_info *out, sv_err *err);
/* Deletes the temporary file and frees path; safe to call twice. */
void snapshot_remove(snapshot_info *s);
/* Maps a SQLite result code to an sv_code: BUSY/LOCKED -> SV_EBUSY, FULL ->
 * SV_ENOSPC, NOTADB/CORRUPT -> SV_ECORRUPT, CANTOPEN -> SV_ENOTFOUND, else SV_EIO.
 * The one place SQLite errors are classified. */
sv_code snapshot_classify(int sqlite_rc);

#endif
