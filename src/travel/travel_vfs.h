/* travel_vfs.h -- the VFS's hooks inside src/travel/ (vfs.c, ext.c, inspect.c). */
#ifndef SV_TRAVEL_VFS_H
#define SV_TRAVEL_VFS_H

#include <stdbool.h>
#include "travel.h"

typedef struct sqlite3_vfs sqlite3_vfs;
typedef struct sqlite3_file sqlite3_file;

/* The pragmas a connection to a point runs after sv_sqlite_harden (vfs.c's
 * travel_sqlite_open, and ext.c's for each connection the extension's VFS
 * opens). */
#define TRAVEL_SQLITE_PRAGMAS                                                                                         \
    "PRAGMA query_only=ON; PRAGMA trusted_schema=OFF; PRAGMA cell_size_check=ON;"                                     \
    "PRAGMA cache_size=-2048; PRAGMA temp_store=FILE;"

/* Opens the point a database name gives ("WS@TIME"), for the loadable
 * extension; 0 or -1 with err. */
typedef int (*travel_vfs_open_fn)(const char *name, travel_point **out, sv_err *err);

/* The loadable extension's side of the VFS (ext.c). */
typedef struct travel_vfs_hooks {
    travel_vfs_open_fn open;              /* a main database name no travel_sqlite_open gave */
    void (*close)(travel_point *p);       /* a point open gave, when its file closes (NULL: travel_close) */
    void (*read_error)(const sv_err *e);  /* a read of a point open gave failed (NULL: none) */
    /* The host process's SQLite, which may not be the one svcore links (an
     * extension's sqlite3_api routines): where the VFS registers. */
    sqlite3_vfs *(*vfs_find)(const char *name);
    int (*vfs_register)(sqlite3_vfs *vfs, int make_default);
} travel_vfs_hooks;

/* Registers the VFS once per process (fn: the extension's opener, or NULL);
 * SQLITE_OK on success. */
int travel_vfs_register(travel_vfs_open_fn fn);
/* Registers the VFS once per process with the extension's hooks (copied),
 * in the SQLite they name; SQLITE_OK on success. */
int travel_vfs_register_hooks(const travel_vfs_hooks *h);
/* The error a main database file of the VFS holds when the extension's
 * opener refused its name (the file opened only to carry it), else NULL. */
const sv_err *travel_vfs_file_error(const sqlite3_file *f);
/* Makes "sqlvault" the default VFS of the hooks' SQLite (the extension, after
 * travel_vfs_register_hooks): names "sqlvault:WS[@TIME][#FILE]" open as
 * points, every other name and call goes to the default VFS it replaced;
 * once per process, SQLITE_OK on success. */
int travel_vfs_register_router(void);
/* True when f is a main database file of the point VFS (a point, or one that
 * holds an open's error), whichever VFS opened it. */
bool travel_vfs_file_is_point(const sqlite3_file *f);
/* The last open or read error of this thread's point files (SV_OK when none). */
const sv_err *travel_vfs_error(void);

/* Fills what both read-only VFSs share (name, sizes, and the methods taken
 * from base: delete, randomness, sleep, time; no journal ever exists). */
typedef struct sqlite3_vfs sqlite3_vfs;
void travel_vfs_common(sqlite3_vfs *v, sqlite3_vfs *base, int file_size, const char *name);

/* The file methods both read-only VFSs share: writes and truncation refused,
 * sync, locks and file controls no-ops, an immutable device. */
typedef struct sqlite3_file sqlite3_file;
int travel_ro_write(sqlite3_file *f, const void *b, int n, long long o);
int travel_ro_truncate(sqlite3_file *f, long long n);
int travel_ro_sync(sqlite3_file *f, int flags);
int travel_ro_lock(sqlite3_file *f, int level);
int travel_ro_reserved(sqlite3_file *f, int *out);
int travel_ro_control(sqlite3_file *f, int op, void *arg);
int travel_ro_caps(sqlite3_file *f);

#endif
