/* tmpsweep.c -- the one sweeper of the temporary folder (tmpsweep.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "log.h"
#include "tmpsweep.h"
#include "util.h"

#define SNAP_STALE_MS (15 * 60 * 1000)
#define RESTORE_MIN_AGE_MS 60000

/* Unlinks a database file and its companions (see tmpsweep.h). */
void sv_unlink_db(const char *path)
{
    static const char *const sides[] = {"-wal", "-shm", "-journal"};
    unlink(path);
    for (size_t i = 0; i < sizeof sides / sizeof sides[0]; i++) {
        char *p = sv_asprintf("%s%s", path, sides[i]);
        if (p) unlink(p);
        free(p);
    }
}

/* A snapshot: its process is gone, or it was not touched for 15 minutes. */
static void sweep_snapshot(const char *p, const char *name, int64_t now)
{
    struct stat sb;
    char *end;
    long pid = strtol(name + 5, &end, 10);
    if (*end == '-' && pid > 0 && pid != (long)getpid() && kill((pid_t)pid, 0) != 0 && errno == ESRCH)
        unlink(p);
    else if (stat(p, &sb) == 0 && now - (int64_t)sb.st_mtime * 1000 > SNAP_STALE_MS &&
             (int64_t)time(NULL) * 1000 - (int64_t)sb.st_mtime * 1000 > SNAP_STALE_MS)
        unlink(p);
}

/* A restore temporary (or a companion of one): older than a minute, and
 * nobody holds its flock (companions: their database is gone). */
static void sweep_restore(const char *tmp_dir, const char *p, const char *name, int64_t now)
{
    struct stat sb;
    const char *dot = strstr(name, ".db");
    size_t base;
    /* young by the injected clock or by the real one (file times are real:
     * a fake clock days ahead must not make a file created this instant,
     * not yet flocked by its restore, look abandoned) */
    if (!dot || stat(p, &sb) != 0 || now - (int64_t)sb.st_mtime * 1000 < RESTORE_MIN_AGE_MS ||
        (int64_t)time(NULL) * 1000 - (int64_t)sb.st_mtime * 1000 < RESTORE_MIN_AGE_MS)
        return;
    base = (size_t)(dot - name) + 3;
    if (name[base] != '\0') {
        char *db = sv_asprintf("%s/%.*s", tmp_dir, (int)base, name);
        if (db && access(db, F_OK) != 0 && errno == ENOENT) unlink(p);
        free(db);
    } else {
        int fd = open(p, O_RDONLY | O_CLOEXEC);
        if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0) {
            /* companions too: the listing may have passed them while their
             * database still existed */
            sv_unlink_db(p);
            log_info(NULL, NULL, "removed %s, a restore temporary left by a process that ended", p);
        }
        if (fd >= 0) close(fd);
    }
}

/* Walks tmp_dir once (see tmpsweep.h). */
void sv_tmp_sweep(const char *tmp_dir, const sv_clock *clock)
{
    DIR *d = opendir(tmp_dir);
    struct dirent *de;
    int64_t now = sv_now_ms(clock);
    if (!d) return;
    while ((de = readdir(d)) != NULL) {
        bool snap = strncmp(de->d_name, "snap-", 5) == 0, rest = strncmp(de->d_name, "restore-", 8) == 0;
        char *p;
        if (!snap && !rest) continue;
        if (!(p = sv_asprintf("%s/%s", tmp_dir, de->d_name))) continue;
        if (snap) sweep_snapshot(p, de->d_name, now);
        else sweep_restore(tmp_dir, p, de->d_name, now);
        free(p);
    }
    closedir(d);
}
