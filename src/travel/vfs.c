/* vfs.c -- a read-only SQLite VFS over a point of a backup (travel.h).
 *
 * The main database file of a connection is a travel_point: xRead asks it
 * for the pages SQLite wants, nothing else is read. Every write, truncate
 * or journal is refused (SQLITE_READONLY); there is no -wal or -journal
 * (xAccess says so), and page 1's file-format bytes say "rollback journal"
 * so a backup of a WAL database opens without a -wal. Temporary files
 * (sorts, the temp database) go to the default VFS.
 *
 * A point is attached by name: travel_sqlite_open gives a connection name
 * that only xOpen of this process resolves (a registry of live points); the
 * loadable extension (ext.c) also lets xOpen open a point named
 * "WS@TIME" itself, from the environment's configuration, and registers the
 * VFS in its host's SQLite (travel_vfs_hooks). A main database asked for
 * read-write is opened read-only (SQLite then refuses every write itself).
 *
 * A name the extension's opener refuses still opens, as a file that holds
 * the error (failed_methods): SQLite would only say "unable to open
 * database file", so the extension's per-connection hook finds the error
 * there (travel_vfs_file_error) and fails the open with its message. Without
 * that hook (an ATTACH), the file reads as an empty header and then fails
 * every page read (SQLITE_IOERR_READ): it never passes for an empty
 * database. */
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sqlerr.h"
#include "travel.h"
#include "travel_vfs.h"

#define VFS_NAME "sqlvault-point"
#define MAX_POINTS 64

typedef struct point_file {
    sqlite3_file base;
    travel_point *p;
    bool owned;            /* opened by xOpen itself (the extension): closed with the file */
    unsigned char *page;
    sv_err err;            /* a failed open's (failed_methods) */
} point_file;

static sqlite3_vfs vfs;
static sqlite3_vfs *deflt;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static int reg_rc = SQLITE_ERROR;
static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static travel_point *reg[MAX_POINTS];
static travel_vfs_hooks hooks;     /* the extension's: opens a point by name */
static __thread sv_err last_err;

const sv_err *travel_vfs_error(void) { return &last_err; }

static void remember(const sv_err *e)
{
    last_err = *e;
}

/* ---- the file ---------------------------------------------------------------- */

static int f_close(sqlite3_file *f)
{
    point_file *pf = (point_file *)f;
    if (pf->owned) {
        if (hooks.close) hooks.close(pf->p);
        else travel_close(pf->p);
    }
    free(pf->page);
    pf->p = NULL;
    pf->page = NULL;
    return SQLITE_OK;
}

static int f_read(sqlite3_file *f, void *buf, int amt, sqlite3_int64 ofs)
{
    point_file *pf = (point_file *)f;
    uint32_t ps = travel_page_size(pf->p);
    uint64_t size = (uint64_t)travel_page_count(pf->p) * ps, at = (uint64_t)ofs, end = at + (uint64_t)amt;
    unsigned char *dst = buf;
    sv_err err;
    sv_err_clear(&err);
    while (at < end) {
        uint32_t pg = (uint32_t)(at / ps) + 1, in = (uint32_t)(at % ps);
        size_t n = ps - in < end - at ? ps - in : (size_t)(end - at);
        if (at >= size) {
            memset(dst, 0, (size_t)(end - at));
            return SQLITE_IOERR_SHORT_READ;
        }
        if (travel_read(pf->p, pg, pf->page, &err) != 0) {
            remember(&err);
            if (pf->owned && hooks.read_error) hooks.read_error(&err);
            return SQLITE_IOERR_READ;
        }
        if (pg == 1 && pf->page[18] == 2 && pf->page[19] == 2) pf->page[18] = pf->page[19] = 1; /* no -wal */
        memcpy(dst, pf->page + in, n);
        dst += n;
        at += n;
    }
    return SQLITE_OK;
}

int travel_ro_write(sqlite3_file *f, const void *b, int n, sqlite3_int64 o)
{
    (void)f, (void)b, (void)n, (void)o;
    return SQLITE_READONLY;
}

int travel_ro_truncate(sqlite3_file *f, sqlite3_int64 n)
{
    (void)f, (void)n;
    return SQLITE_READONLY;
}

int travel_ro_sync(sqlite3_file *f, int flags)
{
    (void)f, (void)flags;
    return SQLITE_OK;
}

static int f_size(sqlite3_file *f, sqlite3_int64 *size)
{
    point_file *pf = (point_file *)f;
    *size = (sqlite3_int64)travel_page_count(pf->p) * travel_page_size(pf->p);
    return SQLITE_OK;
}

int travel_ro_lock(sqlite3_file *f, int level)
{
    (void)f, (void)level;
    return SQLITE_OK;
}

int travel_ro_reserved(sqlite3_file *f, int *out)
{
    (void)f;
    *out = 0;
    return SQLITE_OK;
}

int travel_ro_control(sqlite3_file *f, int op, void *arg)
{
    (void)f, (void)op, (void)arg;
    return SQLITE_NOTFOUND;
}

static int f_sector(sqlite3_file *f)
{
    return (int)travel_page_size(((point_file *)f)->p);
}

int travel_ro_caps(sqlite3_file *f)
{
    (void)f;
    return SQLITE_IOCAP_IMMUTABLE;
}

static const sqlite3_io_methods methods = {
    .iVersion = 1,
    .xClose = f_close,
    .xRead = f_read,
    .xWrite = travel_ro_write,
    .xTruncate = travel_ro_truncate,
    .xSync = travel_ro_sync,
    .xFileSize = f_size,
    .xLock = travel_ro_lock,
    .xUnlock = travel_ro_lock,
    .xCheckReservedLock = travel_ro_reserved,
    .xFileControl = travel_ro_control,
    .xSectorSize = f_sector,
    .xDeviceCharacteristics = travel_ro_caps,
};

/* ---- a failed open: holds its error ------------------------------------------------ */

static int failed_close(sqlite3_file *f)
{
    (void)f;
    return SQLITE_OK;
}

static int failed_read(sqlite3_file *f, void *buf, int amt, sqlite3_int64 ofs)
{
    point_file *pf = (point_file *)f;
    if (ofs == 0 && amt <= 100) { /* the pager's look at the header while opening */
        memset(buf, 0, (size_t)amt);
        return SQLITE_IOERR_SHORT_READ;
    }
    remember(&pf->err);
    return SQLITE_IOERR_READ;
}

static int failed_size(sqlite3_file *f, sqlite3_int64 *size)
{
    (void)f;
    *size = 4096; /* one page, so that a query reads it (and fails) rather than finding an empty database */
    return SQLITE_OK;
}

static int failed_sector(sqlite3_file *f)
{
    (void)f;
    return 512;
}

static const sqlite3_io_methods failed_methods = {
    .iVersion = 1,
    .xClose = failed_close,
    .xRead = failed_read,
    .xWrite = travel_ro_write,
    .xTruncate = travel_ro_truncate,
    .xSync = travel_ro_sync,
    .xFileSize = failed_size,
    .xLock = travel_ro_lock,
    .xUnlock = travel_ro_lock,
    .xCheckReservedLock = travel_ro_reserved,
    .xFileControl = travel_ro_control,
    .xSectorSize = failed_sector,
    .xDeviceCharacteristics = travel_ro_caps,
};

const sv_err *travel_vfs_file_error(const sqlite3_file *f)
{
    return f && f->pMethods == &failed_methods ? &((const point_file *)f)->err : NULL;
}

/* ---- the VFS ------------------------------------------------------------------ */

/* The registered point a name "/sqlvault-point/N" names, or NULL. */
static travel_point *lookup(const char *name)
{
    unsigned n;
    char tail;
    travel_point *p = NULL;
    if (!name || sscanf(name, "/" VFS_NAME "/%u%c", &n, &tail) != 1 || n >= MAX_POINTS) return NULL;
    pthread_mutex_lock(&reg_mu);
    p = reg[n];
    pthread_mutex_unlock(&reg_mu);
    return p;
}

static int v_open(sqlite3_vfs *v, const char *name, sqlite3_file *f, int flags, int *out_flags)
{
    point_file *pf = (point_file *)f;
    travel_point *p;
    (void)v;
    memset(pf, 0, sizeof *pf);
    if (!(flags & SQLITE_OPEN_MAIN_DB)) {
        if (flags & (SQLITE_OPEN_TEMP_DB | SQLITE_OPEN_TEMP_JOURNAL | SQLITE_OPEN_TRANSIENT_DB | SQLITE_OPEN_SUBJOURNAL))
            return deflt->xOpen(deflt, name, f, flags, out_flags);
        return SQLITE_CANTOPEN;
    }
    p = lookup(name);
    if (!p && hooks.open) {
        sv_err err;
        sv_err_clear(&err);
        sv_err_clear(&last_err);
        if (hooks.open(name, &p, &err) != 0) {
            remember(&err);
            pf->err = err;
            pf->base.pMethods = &failed_methods;
            if (out_flags) *out_flags = SQLITE_OPEN_READONLY | SQLITE_OPEN_MAIN_DB;
            return SQLITE_OK;
        }
        pf->owned = true;
    }
    if (!p) return SQLITE_CANTOPEN;
    pf->p = p;
    pf->page = malloc(travel_page_size(p));
    if (!pf->page) {
        if (pf->owned && hooks.close) hooks.close(p);
        else if (pf->owned) travel_close(p);
        pf->p = NULL;
        return SQLITE_NOMEM;
    }
    pf->base.pMethods = &methods;
    if (out_flags) *out_flags = SQLITE_OPEN_READONLY | SQLITE_OPEN_MAIN_DB;
    return SQLITE_OK;
}

/* The methods both read-only VFSs (this one, fdvfs.c) take from the default
 * VFS, which pAppData holds. */
static sqlite3_vfs *base_of(sqlite3_vfs *v) { return v->pAppData; }

static int v_delete(sqlite3_vfs *v, const char *name, int sync)
{
    return base_of(v)->xDelete(base_of(v), name, sync);
}

static int v_access(sqlite3_vfs *v, const char *name, int flags, int *out)
{
    (void)v, (void)flags, (void)name;
    *out = 0; /* no -journal or -wal beside a read-only file of ours; temporary files are not asked about */
    return SQLITE_OK;
}

static int v_full(sqlite3_vfs *v, const char *name, int n, char *out)
{
    (void)v;
    if ((int)strlen(name) >= n) return SQLITE_CANTOPEN;
    memcpy(out, name, strlen(name) + 1);
    return SQLITE_OK;
}

static int v_random(sqlite3_vfs *v, int n, char *out) { return base_of(v)->xRandomness(base_of(v), n, out); }
static int v_sleep(sqlite3_vfs *v, int us) { return base_of(v)->xSleep(base_of(v), us); }
static int v_time(sqlite3_vfs *v, double *out) { return base_of(v)->xCurrentTime(base_of(v), out); }

static int v_time64(sqlite3_vfs *v, sqlite3_int64 *out)
{
    return base_of(v)->xCurrentTimeInt64 ? base_of(v)->xCurrentTimeInt64(base_of(v), out) : SQLITE_ERROR;
}

void travel_vfs_common(sqlite3_vfs *v, sqlite3_vfs *base, int file_size, const char *name)
{
    v->iVersion = 2;
    v->szOsFile = file_size > base->szOsFile ? file_size : base->szOsFile;
    v->mxPathname = 512;
    v->zName = name;
    v->pAppData = base;
    v->xDelete = v_delete;
    v->xAccess = v_access;
    v->xFullPathname = v_full;
    v->xRandomness = v_random;
    v->xSleep = v_sleep;
    v->xCurrentTime = v_time;
    v->xCurrentTimeInt64 = v_time64;
}

static int v_lasterr(sqlite3_vfs *v, int n, char *out)
{
    (void)v;
    if (n > 0) snprintf(out, (size_t)n, "%s", last_err.msg);
    return 0;
}

static void do_register(void)
{
    if (!hooks.vfs_find) hooks.vfs_find = sqlite3_vfs_find;
    if (!hooks.vfs_register) hooks.vfs_register = sqlite3_vfs_register;
    deflt = hooks.vfs_find(NULL);
    if (!deflt) return;
    travel_vfs_common(&vfs, deflt, (int)sizeof(point_file), VFS_NAME);
    vfs.xOpen = v_open;
    vfs.xGetLastError = v_lasterr;
    reg_rc = hooks.vfs_register(&vfs, 0);
}

int travel_vfs_register(travel_vfs_open_fn fn)
{
    pthread_once(&once, do_register);
    if (fn) hooks.open = fn;
    return reg_rc;
}

int travel_vfs_register_hooks(const travel_vfs_hooks *h)
{
    static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    pthread_mutex_lock(&mu);
    if (!hooks.open) hooks = *h; /* before the VFS is registered: its SQLite is the hooks' */
    pthread_mutex_unlock(&mu);
    pthread_once(&once, do_register);
    return reg_rc;
}

/* ---- the router (the extension's default VFS) ----------------------------------
 * Programs that cannot name a VFS (better-sqlite3: no URI filenames, no VFS
 * argument) still open "sqlvault:WS@TIME" by plain name: the extension makes
 * this VFS the default, it opens such names as points (v_open above) and
 * hands every other name, and every other call, to the default VFS it
 * replaced, unchanged. */

#define ROUTER_NAME "sqlvault"
#define ROUTE_PREFIX "sqlvault:"

static sqlite3_vfs router;
static sqlite3_vfs *below;  /* the default VFS before the router */
static pthread_once_t router_once = PTHREAD_ONCE_INIT;
static int router_rc = SQLITE_ERROR;

/* The point a routed name names ("sqlvault:" cut off), or NULL. */
static const char *routed(const char *name)
{
    return name && strncmp(name, ROUTE_PREFIX, sizeof ROUTE_PREFIX - 1) == 0 ? name + sizeof ROUTE_PREFIX - 1 : NULL;
}

static int r_open(sqlite3_vfs *v, const char *name, sqlite3_file *f, int flags, int *out_flags)
{
    const char *pt = routed(name);
    (void)v;
    if (!pt) return below->xOpen(below, name, f, flags, out_flags);
    if (!(flags & SQLITE_OPEN_MAIN_DB)) return SQLITE_CANTOPEN; /* no journal, no -wal beside a point */
    return v_open(&vfs, pt, f, flags, out_flags);
}

static int r_delete(sqlite3_vfs *v, const char *name, int sync)
{
    (void)v;
    return routed(name) ? SQLITE_IOERR_DELETE : below->xDelete(below, name, sync);
}

static int r_access(sqlite3_vfs *v, const char *name, int flags, int *out)
{
    (void)v;
    if (!routed(name)) return below->xAccess(below, name, flags, out);
    *out = 0;
    return SQLITE_OK;
}

static int r_full(sqlite3_vfs *v, const char *name, int n, char *out)
{
    (void)v;
    if (!routed(name)) return below->xFullPathname(below, name, n, out);
    if ((int)strlen(name) >= n) return SQLITE_CANTOPEN;
    memcpy(out, name, strlen(name) + 1);
    return SQLITE_OK;
}

typedef void (*sym_fn)(void);
static void *r_dlopen(sqlite3_vfs *v, const char *name) { (void)v; return below->xDlOpen(below, name); }
static void r_dlerror(sqlite3_vfs *v, int n, char *out) { (void)v; below->xDlError(below, n, out); }
static sym_fn r_dlsym(sqlite3_vfs *v, void *h, const char *sym) { (void)v; return below->xDlSym(below, h, sym); }
static void r_dlclose(sqlite3_vfs *v, void *h) { (void)v; below->xDlClose(below, h); }
static int r_random(sqlite3_vfs *v, int n, char *out) { (void)v; return below->xRandomness(below, n, out); }
static int r_sleep(sqlite3_vfs *v, int us) { (void)v; return below->xSleep(below, us); }
static int r_time(sqlite3_vfs *v, double *out) { (void)v; return below->xCurrentTime(below, out); }
static int r_lasterr(sqlite3_vfs *v, int n, char *out) { (void)v; return below->xGetLastError(below, n, out); }
static int r_time64(sqlite3_vfs *v, sqlite3_int64 *out) { (void)v; return below->xCurrentTimeInt64(below, out); }

static int r_setcall(sqlite3_vfs *v, const char *name, sqlite3_syscall_ptr fn)
{
    (void)v;
    return below->xSetSystemCall(below, name, fn);
}

static sqlite3_syscall_ptr r_getcall(sqlite3_vfs *v, const char *name)
{
    (void)v;
    return below->xGetSystemCall(below, name);
}

static const char *r_nextcall(sqlite3_vfs *v, const char *name)
{
    (void)v;
    return below->xNextSystemCall(below, name);
}

static void do_register_router(void)
{
    pthread_once(&once, do_register);
    if (reg_rc != SQLITE_OK) return;
    below = hooks.vfs_find(NULL);
    if (!below || below == &router) return;
    router.iVersion = below->iVersion < 3 ? below->iVersion : 3;
    router.szOsFile = below->szOsFile > vfs.szOsFile ? below->szOsFile : vfs.szOsFile;
    router.mxPathname = below->mxPathname;
    router.zName = ROUTER_NAME;
    router.xOpen = r_open;
    router.xDelete = r_delete;
    router.xAccess = r_access;
    router.xFullPathname = r_full;
    router.xDlOpen = below->xDlOpen ? r_dlopen : NULL;
    router.xDlError = below->xDlError ? r_dlerror : NULL;
    router.xDlSym = below->xDlSym ? r_dlsym : NULL;
    router.xDlClose = below->xDlClose ? r_dlclose : NULL;
    router.xRandomness = r_random;
    router.xSleep = r_sleep;
    router.xCurrentTime = r_time;
    router.xGetLastError = below->xGetLastError ? r_lasterr : NULL;
    if (router.iVersion >= 2) router.xCurrentTimeInt64 = below->xCurrentTimeInt64 ? r_time64 : NULL;
    if (router.iVersion >= 3) {
        router.xSetSystemCall = below->xSetSystemCall ? r_setcall : NULL;
        router.xGetSystemCall = below->xGetSystemCall ? r_getcall : NULL;
        router.xNextSystemCall = below->xNextSystemCall ? r_nextcall : NULL;
    }
    router_rc = hooks.vfs_register(&router, 1);
}

int travel_vfs_register_router(void)
{
    pthread_once(&router_once, do_register_router);
    return router_rc;
}

bool travel_vfs_file_is_point(const sqlite3_file *f)
{
    return f && (f->pMethods == &methods || f->pMethods == &failed_methods);
}

int travel_sqlite_open(travel_point *p, sqlite3 **out, sv_err *err)
{
    char name[64];
    int slot = -1, rc;
    sqlite3 *db = NULL;
    *out = NULL;
    if (travel_vfs_register(NULL) != SQLITE_OK) return sv_err_set(err, SV_EINTERNAL, "unable to register the SQLite VFS");
    pthread_mutex_lock(&reg_mu);
    for (int i = 0; i < MAX_POINTS && slot < 0; i++)
        if (!reg[i]) reg[slot = i] = p;
    pthread_mutex_unlock(&reg_mu);
    if (slot < 0) return sv_err_set(err, SV_EBUSY, "too many backups open at once");
    snprintf(name, sizeof name, "/" VFS_NAME "/%d", slot);
    sv_err_clear(&last_err);
    rc = sqlite3_open_v2(name, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, VFS_NAME);
    pthread_mutex_lock(&reg_mu);
    reg[slot] = NULL; /* the file holds the point now; the name is free again */
    pthread_mutex_unlock(&reg_mu);
    if (rc == SQLITE_OK) {
        sv_sqlite_harden(db);
        rc = sqlite3_exec(db, TRAVEL_SQLITE_PRAGMAS, NULL, NULL, NULL);
    }
    if (rc != SQLITE_OK) {
        if (last_err.code != SV_OK) *err = last_err;
        else sv_err_set(err, sv_sqlite_classify(rc), "the backup does not open as a database: %s",
                        db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        sqlite3_close(db);
        return -1;
    }
    *out = db;
    return 0;
}
