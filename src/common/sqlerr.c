/* sqlerr.c -- the one classification of SQLite result codes (sqlerr.h). */
#include <sqlite3.h>
#include "sqlerr.h"

/* Maps a SQLite result code to an sv_code (see sqlerr.h). */
sv_code sv_sqlite_classify(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED: return SV_EBUSY;
    case SQLITE_FULL: return SV_ENOSPC;
    case SQLITE_NOTADB:
    case SQLITE_CORRUPT: return SV_ECORRUPT;
    case SQLITE_CANTOPEN: return SV_ENOTFOUND;
    case SQLITE_NOMEM: return SV_ENOMEM;
    case SQLITE_TOOBIG: return SV_ETOOBIG;
    default: return SV_EIO;
    }
}

/* BUSY or LOCKED (see sqlerr.h). */
bool sv_sqlite_busy(int rc)
{
    return sv_sqlite_classify(rc) == SV_EBUSY;
}
