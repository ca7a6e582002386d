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

#endif
