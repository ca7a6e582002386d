/* rename.c -- the swap by rename, for a WAL database nobody has open.
 *
 * The backup-API swap (swap.c) writes the database twice (into the WAL,
 * then the checkpoint) and needs a safety copy written beside it: three
 * writes of the whole file inside the pause. When no other connection holds
 * the live database, none is needed: the old file is linked aside as the
 * safety copy (no bytes written), and the validated file, already durable,
 * is renamed onto the live name.
 *
 * "Nobody has it open" is decided with SQLite's own locks: in WAL mode every
 * connection that has read the database holds a SHARED lock on it (a POSIX
 * read lock on the SHARED range past PENDING_BYTE) until it closes, so a
 * write lock on PENDING..SHARED_LAST succeeds only when no other process has
 * a connection, and while we hold it no connection can start a transaction.
 * Rollback-journal databases hold no lock between transactions, so they
 * always take the backup-API swap. A handle that was opened but has never
 * read (it holds no lock yet) cannot be seen; the pause protocol asks
 * listeners not to open the database while paused (docs/PROTOCOL.md).
 *
 * The lock is held only around link and rename (the fence is renewed just
 * before). Closing any descriptor of a file drops every POSIX lock of the
 * process on it, so the swap keeps one descriptor of the live file from the
 * check to the rename, and the restore has no SQLite connection of its own
 * on the live file meanwhile. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "internal.h"
#include "log.h"
#include "restore.h"
#include "util.h"

#define SQLITE_PENDING_BYTE 0x40000000 /* os_unix.c: PENDING, RESERVED, then the 510-byte SHARED range */
#define SQLITE_LOCK_SPAN 512

/* Asks (F_GETLK) or takes (F_SETLK) a write lock over SQLite's lock bytes:
 * true when no other process holds any of them. */
static bool lock_free(int fd, bool take)
{
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = SQLITE_PENDING_BYTE,
                       .l_len = SQLITE_LOCK_SPAN};
    if (take) return fcntl(fd, F_SETLK, &fl) == 0;
    if (fcntl(fd, F_GETLK, &fl) != 0) return false;
    return fl.l_type == F_UNLCK;
}

/* Size of path+suffix, -1 if missing, -2 if it cannot be told. */
static int64_t side_size(const char *path, const char *suffix)
{
    struct stat sb;
    char *p = sv_asprintf("%s%s", path, suffix);
    int64_t n = -2;
    if (p && lstat(p, &sb) == 0) n = (int64_t)sb.st_size;
    else if (p && errno == ENOENT) n = -1;
    free(p);
    return n;
}

/* Opens live and checks what the rename swap needs without the lock: a
 * sound header in WAL mode, no WAL content nor journal, and nobody's lock.
 * Returns the descriptor (hdr filled) or -1. */
static int quiet_fd(const char *live, restore_header *hdr, struct stat *sb)
{
    unsigned char h[100];
    sv_err e;
    int fd = open(live, O_RDWR | O_CLOEXEC); /* a write lock needs a descriptor open for writing */
    if (fd < 0) return -1;
    if (fstat(fd, sb) != 0 || !S_ISREG(sb->st_mode) || pread(fd, h, sizeof h, 0) != (ssize_t)sizeof h ||
        restore_check_header(h, sizeof h, (uint64_t)sb->st_size, hdr, &e) != 0 || !hdr->wal ||
        side_size(live, "-wal") > 0 || side_size(live, "-wal") == -2 || side_size(live, "-journal") != -1 ||
        !lock_free(fd, false)) {
        close(fd);
        return -1;
    }
    return fd;
}

/* True when live is a WAL database that nobody has open (see internal.h). */
bool restore_live_quiet(const char *live)
{
    restore_header hdr;
    struct stat sb;
    int fd = quiet_fd(live, &hdr, &sb);
    if (fd < 0) return false;
    close(fd);
    return true;
}

/* Makes the validated file ready to be the live one: WAL mode kept (as the
 * backup API keeps the destination's), the live file's mode, and durable. */
static int ready_tmp(const char *tmp, const struct stat *live_sb, sv_err *err)
{
    unsigned char v[2];
    static const unsigned char wal[2] = {2, 2};
    int fd = open(tmp, O_RDWR | O_CLOEXEC), e;
    if (fd < 0) return sv_err_set(err, SV_EIO, "unable to open '%s': %s", tmp, strerror(errno));
    if (pread(fd, v, 2, 18) != 2 || ((v[0] != 2 || v[1] != 2) && pwrite(fd, wal, 2, 18) != 2)) goto fail;
    if (fchmod(fd, live_sb->st_mode & 07777) != 0) goto fail;
    if (fchown(fd, live_sb->st_uid, live_sb->st_gid) != 0 && errno != EPERM) goto fail;
    if (fdatasync(fd) != 0) goto fail;
    close(fd);
    return 0;
fail:
    e = errno;
    close(fd);
    return sv_err_set(err, e == ENOSPC ? SV_ENOSPC : SV_EIO, "unable to prepare '%s' for the swap: %s", tmp,
                      strerror(e));
}

/* Unlinks live's (empty) -wal and stale -shm, under the lock. */
static void drop_sides(const char *live)
{
    char *w = sv_asprintf("%s-wal", live), *s = sv_asprintf("%s-shm", live);
    if (w) unlink(w);
    if (s) unlink(s);
    free(w);
    free(s);
}

/* fsync of path's folder. */
static int sync_parent(const char *path, sv_err *err)
{
    char *dir = sv_strdup(path);
    int rc;
    if (!dir) return sv_err_set(err, SV_ENOMEM, "out of memory");
    if (strrchr(dir, '/')) *strrchr(dir, '/') = '\0';
    rc = sv_fsync_dir(strchr(path, '/') && *dir ? dir : (strchr(path, '/') ? "/" : "."), err);
    free(dir);
    return rc;
}

/* The swap by rename (see internal.h). */
int restore_swap_rename(job_ctx *ctx, restore_rename *r, sv_err *err)
{
    restore_header hdr;
    struct stat sb, sb2, tsb;
    char ts[SV_TS_LEN];
    int fd, rc = 0;

    r->replaced = false;
    r->copy = NULL;
    fd = quiet_fd(r->live, &hdr, &sb);
    if (fd < 0) return 0;
    if (stat(r->tmp, &tsb) != 0 || tsb.st_dev != sb.st_dev) goto done; /* another filesystem */
    r->replaced = hdr.page_size != r->page_size;
    if (ready_tmp(r->tmp, &sb, err) != 0) goto fail;
    sv_ts_format(sv_now_ms(ctx->clock), ts);
    r->copy = sv_asprintf("%s.%s-%s", r->live, r->replaced ? "replaced" : "pre-restore", ts);
    if (!r->copy) {
        sv_err_set(err, SV_ENOMEM, "out of memory");
        goto fail;
    }
    /* The swap is a commit point: the fence right before it. */
    if (job_fence(ctx, err) != 0) goto fail;
    if (!lock_free(fd, true) || fstat(fd, &sb2) != 0 || sb2.st_ino != sb.st_ino || sb2.st_size != sb.st_size ||
        sb2.st_mtim.tv_sec != sb.st_mtim.tv_sec || sb2.st_mtim.tv_nsec != sb.st_mtim.tv_nsec ||
        side_size(r->live, "-wal") > 0 || side_size(r->live, "-journal") != -1)
        goto done; /* someone opened or wrote it meanwhile: the backup-API swap */
    drop_sides(r->live);
    if (link(r->live, r->copy) != 0) {
        sv_err_set(err, SV_EIO, "unable to link the live database aside to '%s': %s", r->copy, strerror(errno));
        goto fail;
    }
    if (rename(r->tmp, r->live) != 0) {
        sv_err_set(err, SV_EIO, "unable to move the restored database onto '%s': %s", r->live, strerror(errno));
        unlink(r->copy);
        goto fail;
    }
    close(fd); /* drops the lock: new connections open the new file */
    fd = -1;
    if (sync_parent(r->live, err) != 0) {
        /* the new file is in place; only its name's durability failed */
        log_warn(ctx->job_id, ctx->workspace, "syncing the folder of %s: %s", r->live, err->msg);
        sv_err_clear(err);
    }
    rc = 1;
    goto done;
fail:
    rc = -1;
done:
    if (fd >= 0) close(fd);
    if (rc != 1) {
        free(r->copy);
        r->copy = NULL;
    }
    return rc;
}

/* Puts the old file back after a rename swap (see internal.h). */
int restore_rename_undo(const restore_rename *r, sv_err *err)
{
    if (rename(r->copy, r->live) != 0)
        return sv_err_set(err, SV_EIO, "unable to move '%s' back to '%s': %s", r->copy, r->live, strerror(errno));
    return sync_parent(r->live, err);
}
