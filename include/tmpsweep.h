/* tmpsweep.h -- the temporary folder (SQLVAULT_TMP_DIR) and its one sweeper.
 *
 * Two kinds of files live there, each with its own proof that its owner is
 * gone:
 *   snap-PID-ID.db      a snapshot copy (snapshot.c), unlinked right after
 *                       it is written; PID is the writer's process: one
 *                       whose process is gone on this host goes at once,
 *                       otherwise (a folder shared across hosts) one
 *                       untouched for 15 minutes belongs to nobody;
 *   restore-ID.db       a restore's fetched source (restore/fetch.c), with
 *                       the -wal, -shm and -journal a check connection may
 *                       leave; its restore holds an flock on it for as long
 *                       as it exists (flock, unlike SQLite's POSIX locks, is
 *                       not dropped when another descriptor of the file
 *                       closes), so one whose lock can be taken, older than
 *                       a minute (past the instant between its creation and
 *                       its lock), belongs to nobody; companions whose
 *                       database is gone go too. */
#ifndef SV_TMPSWEEP_H
#define SV_TMPSWEEP_H

#include "clock.h"

/* Removes what killed processes left in tmp_dir (missing folder: nothing). */
void sv_tmp_sweep(const char *tmp_dir, const sv_clock *clock);

/* Unlinks a database file and its -wal, -shm and -journal companions. */
void sv_unlink_db(const char *path);

#endif
