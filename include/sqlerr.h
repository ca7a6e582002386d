/* sqlerr.h -- the one classification of SQLite result codes, used by every
 * module that talks to SQLite (snapshot, restore and its swap). */
#ifndef SV_SQLERR_H
#define SV_SQLERR_H

#include <stdbool.h>
#include "err.h"

/* Maps a SQLite result code (primary or extended) to an sv_code:
 * BUSY/LOCKED -> SV_EBUSY, FULL -> SV_ENOSPC, NOTADB/CORRUPT -> SV_ECORRUPT,
 * CANTOPEN -> SV_ENOTFOUND, NOMEM -> SV_ENOMEM, TOOBIG -> SV_ETOOBIG, else
 * SV_EIO. */
sv_code sv_sqlite_classify(int sqlite_rc);

/* True when another connection's lock made the call fail (BUSY or LOCKED):
 * the one test for "wait and try again". */
bool sv_sqlite_busy(int sqlite_rc);

/* Longest string or blob a hardened connection may build. */
#define SV_SQLITE_VALUE_MAX (16 * 1024 * 1024)

/* Hardens a connection to a database of untrusted content (a backup, an
 * upload): defensive, no extensions, no triggers or views run, untrusted
 * schema, no attached databases, bounded lengths, depths and statement
 * sizes. */
typedef struct sqlite3 sqlite3;
void sv_sqlite_harden(sqlite3 *db);
/* The same through another SQLite's sqlite3_db_config and sqlite3_limit
 * (a loadable extension's host, whose SQLite may not be the one we link). */
void sv_sqlite_harden_with(sqlite3 *db, int (*db_config)(sqlite3 *, int, ...), int (*limit)(sqlite3 *, int, int));

#endif
