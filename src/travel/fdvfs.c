/* fdvfs.c -- a read-only SQLite VFS over an open file descriptor
 * (travel.h, travel_sqlite_open_fd).
 *
 * The snapshots of a live workspace (snapshot.h copy mode, a LiveStore
 * store's copies) are unlinked temporary files, open as descriptors only.
 * SQLite's unix VFS cannot open one as /proc/self/fd/N: it resolves symbolic
 * links in the full name (to "... (deleted)") and opens with O_NOFOLLOW.
 * This VFS reads a dup of the descriptor with pread: every write, truncate or
 * journal is refused, there is no -wal or -journal (page 1's file-format
 * bytes say "rollback journal", as the point VFS does), and temporary files
 * go to the default VFS. A database is named "/sqlvault-fd/N". */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "sqlerr.h"
#include "travel.h"
#include "travel_vfs.h"

#define FD_VFS "sqlvault-fd"

typedef struct fd_file {
    sqlite3_file base;
    int fd; /* ours: a dup, closed with the file */
} fd_file;

static sqlite3_vfs vfs;
static sqlite3_vfs *deflt;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static int reg_rc = SQLITE_ERROR;

static int f_close(sqlite3_file *f)
{
    fd_file *ff = (fd_file *)f;
    if (ff->fd >= 0) close(ff->fd);
    ff->fd = -1;
    return SQLITE_OK;
}

static int f_read(sqlite3_file *f, void *buf, int amt, sqlite3_int64 ofs)
{
    fd_file *ff = (fd_file *)f;
    unsigned char *b = buf;
    size_t done = 0;
    while (done < (size_t)amt) {
        ssize_t n = pread(ff->fd, b + done, (size_t)amt - done, (off_t)ofs + (off_t)done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return SQLITE_IOERR_READ;
        if (n == 0) {
            memset(b + done, 0, (size_t)amt - done);
            return SQLITE_IOERR_SHORT_READ;
        }
        done += (size_t)n;
    }
    /* no -wal beside the copy: a WAL database reads as a rollback one */
    if (ofs <= 18 && ofs + amt >= 20 && b[18 - ofs] == 2 && b[19 - ofs] == 2) b[18 - ofs] = b[19 - ofs] = 1;
    return SQLITE_OK;
}

static int f_size(sqlite3_file *f, sqlite3_int64 *size)
{
    struct stat st;
    if (fstat(((fd_file *)f)->fd, &st) != 0) return SQLITE_IOERR_FSTAT;
    *size = (sqlite3_int64)st.st_size;
    return SQLITE_OK;
}

static int f_sector(sqlite3_file *f)
{
    (void)f;
    return 4096;
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

static int v_open(sqlite3_vfs *v, const char *name, sqlite3_file *f, int flags, int *out_flags)
{
    fd_file *ff = (fd_file *)f;
    int fd;
    char tail;
    (void)v;
    memset(ff, 0, sizeof *ff);
    ff->fd = -1;
    if (!(flags & SQLITE_OPEN_MAIN_DB)) {
        if (flags & (SQLITE_OPEN_TEMP_DB | SQLITE_OPEN_TEMP_JOURNAL | SQLITE_OPEN_TRANSIENT_DB | SQLITE_OPEN_SUBJOURNAL))
            return deflt->xOpen(deflt, name, f, flags, out_flags);
        return SQLITE_CANTOPEN;
    }
    if ((flags & SQLITE_OPEN_CREATE) || !name || sscanf(name, "/" FD_VFS "/%d%c", &fd, &tail) != 1 || fd < 0)
        return SQLITE_CANTOPEN;
    ff->fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    if (ff->fd < 0) return SQLITE_CANTOPEN;
    ff->base.pMethods = &methods;
    if (out_flags) *out_flags = SQLITE_OPEN_READONLY | SQLITE_OPEN_MAIN_DB;
    return SQLITE_OK;
}

static int v_lasterr(sqlite3_vfs *v, int n, char *out)
{
    (void)v;
    if (n > 0) out[0] = '\0';
    return 0;
}

static void do_register(void)
{
    deflt = sqlite3_vfs_find(NULL);
    if (!deflt) return;
    travel_vfs_common(&vfs, deflt, (int)sizeof(fd_file), FD_VFS);
    vfs.xOpen = v_open;
    vfs.xGetLastError = v_lasterr;
    reg_rc = sqlite3_vfs_register(&vfs, 0);
}

int travel_sqlite_open_fd(int fd, sqlite3 **out, sv_err *err)
{
    char name[64];
    sqlite3 *db = NULL;
    int rc;
    *out = NULL;
    pthread_once(&once, do_register);
    if (reg_rc != SQLITE_OK) return sv_err_set(err, SV_EINTERNAL, "unable to register the SQLite VFS " FD_VFS);
    snprintf(name, sizeof name, "/" FD_VFS "/%d", fd);
    rc = sqlite3_open_v2(name, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, FD_VFS);
    if (rc == SQLITE_OK) {
        sv_sqlite_harden(db);
        rc = sqlite3_exec(db, "PRAGMA query_only=ON; PRAGMA trusted_schema=OFF; PRAGMA cell_size_check=ON;", NULL, NULL,
                          NULL);
    }
    if (rc != SQLITE_OK) {
        sv_err_set(err, SV_ECORRUPT, "the file does not open as a database: %s",
                   db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        sqlite3_close(db);
        return -1;
    }
    *out = db;
    return 0;
}
