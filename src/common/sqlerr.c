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

void sv_sqlite_harden(sqlite3 *db)
{
    sv_sqlite_harden_with(db, sqlite3_db_config, sqlite3_limit);
}

/* The hardening, through the given SQLite's routines (see sqlerr.h). */
void sv_sqlite_harden_with(sqlite3 *db, int (*db_config)(sqlite3 *, int, ...), int (*limit)(sqlite3 *, int, int))
{
    int v;
    db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, &v);
    db_config(db, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 0, &v);
#ifdef SQLITE_DBCONFIG_TRUSTED_SCHEMA
    db_config(db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, &v);
#endif
    db_config(db, SQLITE_DBCONFIG_ENABLE_TRIGGER, 0, &v);
    db_config(db, SQLITE_DBCONFIG_ENABLE_VIEW, 0, &v);
    limit(db, SQLITE_LIMIT_ATTACHED, 0);
    limit(db, SQLITE_LIMIT_LENGTH, SV_SQLITE_VALUE_MAX);
    limit(db, SQLITE_LIMIT_SQL_LENGTH, 100 * 1000);
    limit(db, SQLITE_LIMIT_EXPR_DEPTH, 100);
    limit(db, SQLITE_LIMIT_COMPOUND_SELECT, 10);
    limit(db, SQLITE_LIMIT_VDBE_OP, 250000);
    limit(db, SQLITE_LIMIT_FUNCTION_ARG, 16);
    limit(db, SQLITE_LIMIT_LIKE_PATTERN_LENGTH, 1000);
    limit(db, SQLITE_LIMIT_TRIGGER_DEPTH, 1);
    limit(db, SQLITE_LIMIT_WORKER_THREADS, 0);
}
