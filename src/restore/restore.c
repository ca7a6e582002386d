/* restore.c -- the restore job: validate fully, then swap.
 *
 * Phase 1 never touches the live database: the source (a committed backup,
 * an object in the store, or a local file) is streamed into a temporary
 * file, checked against its metadata's checksums, and validated (header,
 * hardened open, integrity_check, required tables). Any failure ends the job
 * here with the live file byte-for-byte as it was.
 *
 * The source is resolved once: the first attempt turns latest or a time
 * into one backup and records it on the job (job_ctx.pin); every later
 * attempt and takeover restores that backup, never the job's own safety
 * backup, which is newer.
 *
 * Phase 2 (the worker holds the workspace lock): the pause flag is set and
 * restore.started emitted; the job waits until every live listener has
 * acknowledged that it stopped writing (or SQLVAULT_PAUSE_TIMEOUT passes).
 * Only then is the safety backup of the live database taken, so every
 * write committed before the pause is in it (docs/PROTOCOL.md). The fence
 * is renewed right before the swap; the validated file is copied onto the
 * live database with the backup API and the result checked; then the flag
 * is cleared and restore.completed emitted. The copy is one SQLite
 * transaction, so a copy that fails part-way leaves the old content; if it
 * fails after committing (the check), the pre-restore backup is fetched,
 * checked and put back the same way, and restore.failed emitted.
 * Every temporary file is removed on every path. */
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "backup.h"
#include "catalog.h"
#include "internal.h"
#include "log.h"
#include "restore.h"
#include "snapshot.h"
#include "util.h"

/* Parses --from (see restore.h). */
int restore_parse_from(const char *from, restore_source *out, sv_err *err)
{
    int64_t ms;
    memset(out, 0, sizeof *out);
    if (!from || !*from) {
        sv_err_set(err, SV_EINVAL, "restore needs a source");
        return sv_err_hint(err, "pass --from latest|TIMESTAMP|object:KEY|file:PATH");
    }
    if (strncmp(from, "object:", 7) == 0) {
        const char *k = from + 7;
        out->kind = RESTORE_SRC_OBJECT;
        out->ref = k;
        if (!*k || k[0] == '/' || strstr(k, "..") || strstr(k, "//") || strlen(k) > 1024)
            return sv_err_set(err, SV_EINVAL, "invalid object key '%s'", k);
        for (const char *c = k; *c; c++)
            if ((unsigned char)*c < 0x21 || (unsigned char)*c > 0x7e || *c == '\\')
                return sv_err_set(err, SV_EINVAL, "invalid object key '%s' (printable ascii, no spaces)", k);
        return 0;
    }
    if (strncmp(from, "file:", 5) == 0) {
        out->kind = RESTORE_SRC_FILE;
        out->ref = from + 5;
        if (!*out->ref) return sv_err_set(err, SV_EINVAL, "file: needs a path");
        return 0;
    }
    out->kind = RESTORE_SRC_BACKUP;
    out->ref = from;
    if (strcmp(from, "latest") == 0 || sv_ts_parse(from, &ms) == 0 || sv_iso_parse(from, &ms) == 0) return 0;
    sv_err_set(err, SV_EINVAL, "invalid restore source '%s'", from);
    return sv_err_hint(err, "use latest, a backup time (20260115T103000.000Z, see 'sqlvault list'), "
                       "object:KEY or file:PATH");
}

/* The fetch options of a committed backup: its object and checksums. */
static int backup_source(job_ctx *ctx, const char *ws, const char *at, restore_fetch_opts *fo, char **key,
                         char ts[SV_TS_LEN], json_t **meta, sv_err *err)
{
    catalog_entry ce;
    const char *obj, *comp;
    json_t *v;
    if (catalog_find(ctx->store, ws, at, &ce, err) != 0) return -1;
    memcpy(ts, ce.ts, SV_TS_LEN);
    if (catalog_read_meta(ctx->store, ws, ce.ts, meta, err) != 0) return -1;
    obj = json_string_value(json_object_get(*meta, "object"));
    comp = json_string_value(json_object_get(*meta, "compression"));
    if (!obj || !*obj || strchr(obj, '/') || strstr(obj, ".."))
        return sv_err_set(err, SV_ECORRUPT, "backup %s: metadata.json names an invalid object '%s'", ce.ts,
                          obj ? obj : "");
    if (!comp || (strcmp(comp, "zstd") != 0 && strcmp(comp, "none") != 0))
        return sv_err_set(err, SV_ECORRUPT, "backup %s: unknown compression '%s'", ce.ts, comp ? comp : "");
    *key = backup_key(ws, ce.ts, obj);
    if (!*key) return sv_err_set(err, SV_ENOMEM, "out of memory");
    fo->key = *key;
    fo->require_zstd = strcmp(comp, "zstd") == 0;
    fo->encrypted = json_object_get(*meta, "encryption") && !json_is_null(json_object_get(*meta, "encryption"));
    fo->expect_sum = json_string_value(json_object_get(*meta, "checksum"));
    fo->expect_obj_sum = json_string_value(json_object_get(*meta, "compressedChecksum"));
    v = json_object_get(*meta, "databaseSize");
    fo->expect_size = json_is_integer(v) ? json_integer_value(v) : -1;
    v = json_object_get(*meta, "compressedSize");
    fo->expect_obj_size = json_is_integer(v) ? json_integer_value(v) : -1;
    return 0;
}

/* True when backup ts's restore drill passed on exactly the bytes fetched:
 * verify.json says ok with the checksum restore_fetch just matched. The drill
 * ran the same integrity_check on the same bytes, so running it again can
 * only give the same answer. */
static bool drill_passed(job_ctx *ctx, const restore_source *src, const char *ts, const restore_fetched *f)
{
    json_t *v = NULL;
    const char *sum;
    bool yes = false;
    sv_err e;
    if (src->kind != RESTORE_SRC_BACKUP || !ts[0]) return false;
    if (catalog_read_verify(ctx->store, src->ws ? src->ws : ctx->workspace, ts, &v, &e) != 0 || !v) return false;
    sum = json_string_value(json_object_get(v, "checksum"));
    yes = json_is_true(json_object_get(v, "ok")) && sum && strcasecmp(sum, f->sum) == 0;
    if (yes) log_info(ctx->job_id, ctx->workspace, "backup %s passed its restore drill with checksum %s: "
                      "integrity_check not repeated", ts, f->sum);
    json_decref(v);
    return yes;
}

/* Phase 1 for a restore or a verify: source to a validated temporary file.
 * ts/meta are filled for a backup source (ts "" otherwise). */
int restore_prepare(job_ctx *ctx, const restore_source *src, const char *require_tables, restore_fetched *f,
                    restore_validated *val, char ts[SV_TS_LEN], json_t **meta, int64_t *validate_ms, sv_err *err)
{
    restore_fetch_opts fo = {.store = ctx->store, .tmp_dir = ctx->cfg->tmp_dir, .max_size = ctx->cfg->max_db_size,
                             .expect_size = -1, .expect_obj_size = -1};
    char *key = NULL;
    int64_t t0;
    int rc = -1;
    ts[0] = '\0';
    *meta = NULL;
    memset(f, 0, sizeof *f);
    if (src->kind == RESTORE_SRC_BACKUP) {
        if (backup_source(ctx, src->ws ? src->ws : ctx->workspace, src->ref, &fo, &key, ts, meta, err) != 0)
            goto done;
    } else if (src->kind == RESTORE_SRC_OBJECT) {
        fo.key = src->ref;
    } else {
        fo.path = src->ref;
    }
    if (restore_fetch(ctx, &fo, f, err) != 0) goto done;
    job_progress(ctx, "validate", 0, 0);
    t0 = sv_mono_ms(ctx->clock);
    if (restore_validate_ex(ctx, f->path, require_tables, !(src->trust_drill && drill_passed(ctx, src, ts, f)), val,
                            err) != 0)
        goto done;
    *validate_ms = sv_mono_ms(ctx->clock) - t0;
    rc = 0;
done:
    if (rc != 0) restore_fetched_remove(f);
    free(key);
    return rc;
}

/* Removes a database file and its companions (a fresh file whose restore failed). */
static void remove_db(const char *path)
{
    const char *sfx[] = {"", "-wal", "-shm", "-journal"};
    for (size_t i = 0; i < 4; i++) {
        char *p = sv_asprintf("%s%s", path, sfx[i]);
        if (p) unlink(p);
        free(p);
    }
}

/* Moves a kept-aside file's -wal back beside the live name (best effort). */
static void restore_wal_back(const char *kept, const char *live)
{
    char *from = sv_asprintf("%s-wal", kept), *to = sv_asprintf("%s-wal", live);
    if (from && to) rename(from, to);
    free(from);
    free(to);
}

/* Emits an event if the runner has a channel; failures are logged, not fatal. */
static void emit(job_ctx *ctx, const char *event, json_t *data)
{
    sv_err e;
    sv_err_clear(&e);
    if (ctx->emit && ctx->emit(ctx->ud, event, data, &e) != 0)
        log_warn(ctx->job_id, ctx->workspace, "unable to emit %s: %s", event, e.msg);
}

/* Clears the pause flag, retrying a failed call twice; logs if it stays
 * set. A flag that belongs to a newer attempt is left alone. */
static bool unpause(job_ctx *ctx)
{
    sv_err e;
    if (!ctx->set_pause) return true;
    for (int i = 0; i < 3; i++) {
        sv_err_clear(&e);
        if (ctx->set_pause(ctx->ud, false, &e) == 0) return true;
        if (e.code == SV_ELEASE) {
            log_warn(ctx->job_id, ctx->workspace, "pause flag left to its owner: %s", e.msg);
            return false;
        }
        sv_sleep_ms(ctx->clock, 200);
    }
    log_error(ctx->job_id, ctx->workspace, "unable to clear the pause flag: %s", e.msg);
    return false;
}

/* Renews the lease, then sets the pause flag (see internal.h). */
int restore_pause_begin(job_ctx *ctx, bool *paused, sv_err *err)
{
    if (job_fence(ctx, err) != 0) return -1;
    if (!ctx->set_pause) return 0;
    if (ctx->set_pause(ctx->ud, true, err) != 0) return sv_err_wrap(err, "setting the pause flag");
    *paused = true;
    return 0;
}

/* Waits until every live listener acked the pause, or timeout_ms passed
 * (see internal.h). */
int restore_wait_acks(job_ctx *ctx, int64_t timeout_ms, bool *acked, int *listeners, sv_err *err)
{
    int64_t t0 = sv_mono_ms(ctx->clock);
    *acked = true;
    *listeners = 0;
    if (!ctx->pause_acks) return 0;
    job_progress(ctx, "pause", 0, 0);
    for (;;) {
        int live = 0, got = 0;
        sv_err e;
        sv_err_clear(&e);
        if (ctx->pause_acks(ctx->ud, &live, &got, &e) == 0) {
            *listeners = live;
            if (got >= live) return 0;
        } else {
            log_warn(ctx->job_id, ctx->workspace, "reading pause acknowledgements: %s", e.msg);
        }
        if (job_cancelled(ctx)) return sv_err_set(err, SV_ELEASE, "job cancelled during the pause");
        if (sv_mono_ms(ctx->clock) - t0 >= timeout_ms) {
            *acked = false;
            log_warn(ctx->job_id, ctx->workspace, "%d of %d listener(s) acknowledged the pause within %lld ms; "
                     "going on", got, live, (long long)timeout_ms);
            return 0;
        }
        sv_sleep_ms(ctx->clock, 20);
    }
}

/* The source as recorded on the job: the first attempt resolves latest or a
 * time to one backup and records it; every attempt and takeover restores
 * that one. *rec (heap) is "backup:TS", "object:KEY" or "file:PATH". */
static int pin_source(job_ctx *ctx, const restore_source *src, char **rec, sv_err *err)
{
    char *mine = NULL;
    int rc = -1;
    *rec = NULL;
    if (src->kind == RESTORE_SRC_BACKUP) {
        catalog_entry ce;
        char *was = NULL;
        /* A recorded source needs no listing: ask the record first. */
        if (ctx->pin && ctx->pin(ctx->ud, "source", "", &was, err) != 0) return -1;
        if (was && *was) {
            *rec = was;
            return 0;
        }
        free(was);
        if (catalog_find(ctx->store, src->ws ? src->ws : ctx->workspace, src->ref, &ce, err) != 0) return -1;
        mine = sv_asprintf("backup:%s", ce.ts);
    } else {
        mine = sv_asprintf("%s:%s", src->kind == RESTORE_SRC_OBJECT ? "object" : "file", src->ref);
    }
    if (!mine) return sv_err_set(err, SV_ENOMEM, "out of memory");
    if (ctx->pin) {
        if (ctx->pin(ctx->ud, "source", mine, rec, err) != 0) goto done;
    } else if (!(*rec = sv_strdup(mine))) {
        sv_err_set(err, SV_ENOMEM, "out of memory");
        goto done;
    }
    rc = 0;
done:
    free(mine);
    return rc;
}

/* Turns a recorded source back into a restore_source (pointing into rec). */
static int source_from_record(const char *rec, restore_source *src, sv_err *err)
{
    memset(src, 0, sizeof *src);
    if (strncmp(rec, "backup:", 7) == 0) {
        src->kind = RESTORE_SRC_BACKUP;
        src->ref = rec + 7;
        return 0;
    }
    return restore_parse_from(rec, src, err);
}

/* The upload of the pre-restore safety copy, run in its own thread while
 * the swap runs.
 *
 * THREAD SAFETY NOTES: the thread gets a job context of its own (plain fields
 * copied, its own store, no runner callbacks: they are not safe to call from
 * a second thread); the main thread reads its results after pthread_join.
 * The file it reads (the local copy) is written before the thread starts
 * and not touched by the main thread until the join. */
typedef struct safety_job {
    job_ctx ctx;
    const char *copy;
    backup_outcome out;
    int rc;
    sv_err err;
    int64_t ms;
} safety_job;

/* The pre-restore backup of the local safety copy. */
static void *safety_main(void *arg)
{
    safety_job *s = arg;
    backup_params bp = {.workspace = s->ctx.workspace, .backup_type = "pre-restore", .reason = "pre-restore",
                        .db_path = s->copy};
    int64_t t0 = sv_mono_ms(s->ctx.clock);
    sv_err_clear(&s->err);
    s->rc = backup_take(&s->ctx, &bp, &s->out, &s->err);
    if (s->rc != 0) sv_err_wrap(&s->err, "pre-restore backup");
    else log_info(s->ctx.job_id, s->ctx.workspace, "pre-restore backup %s committed", s->out.ts);
    s->ms = sv_mono_ms(s->ctx.clock) - t0;
    return NULL;
}

/* Starts the upload thread; *started tells whether it runs. */
static int safety_start(job_ctx *ctx, const char *copy, safety_job *s, pthread_t *th, bool *started, sv_err *err)
{
    *started = false;
    memset(s, 0, sizeof *s);
    s->ctx.cfg = ctx->cfg;
    s->ctx.clock = ctx->clock;
    s->ctx.job_id = ctx->job_id;
    s->ctx.type = ctx->type;
    s->ctx.workspace = ctx->workspace;
    s->ctx.attempt = ctx->attempt;
    s->ctx.opts = ctx->opts;
    s->copy = copy;
    if (store_open(ctx->cfg, ctx->clock, &s->ctx.store, err) != 0) return -1;
    if (pthread_create(th, NULL, safety_main, s) != 0) {
        store_free(s->ctx.store);
        s->ctx.store = NULL;
        return sv_err_set(err, SV_ENOMEM, "unable to start the safety backup thread");
    }
    *started = true;
    return 0;
}

/* Removes a database file and its companions, logging nothing. */
static void remove_with_sides(const char *path)
{
    const char *sfx[] = {"", "-wal", "-shm", "-journal"};
    for (size_t i = 0; i < 4; i++) {
        char *p = sv_asprintf("%s%s", path, sfx[i]);
        if (p) unlink(p);
        free(p);
    }
}

/* The safety copy: the live database copied with the backup API (one read
 * and one write, no compression) next to it as LIVE.pre-restore-TS, synced
 * with its folder, so it is durable before the pause ends. It is uploaded
 * as the pre-restore backup while the swap runs, and deleted once that
 * backup is committed; if the upload fails it stays, listed by sqlvault
 * list. *copy (heap) gets its name. */
static int local_copy(job_ctx *ctx, const char *live, char **copy, sv_err *err)
{
    sqlite3 *src = NULL, *dst = NULL;
    sqlite3_backup *bk = NULL;
    char ts[SV_TS_LEN], *dir = NULL;
    int rc, fd;
    sv_ts_format(sv_now_ms(ctx->clock), ts);
    *copy = sv_asprintf("%s.pre-restore-%s", live, ts);
    if (!*copy) return sv_err_set(err, SV_ENOMEM, "out of memory");
    remove_with_sides(*copy);
    rc = sqlite3_open_v2(live, &src, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc == SQLITE_OK) rc = sqlite3_open_v2(*copy, &dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                                              SQLITE_OPEN_NOMUTEX, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_busy_timeout(src, 5000);
        sqlite3_exec(dst, "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF", NULL, NULL, NULL);
        bk = sqlite3_backup_init(dst, "main", src, "main");
        if (!bk) rc = sqlite3_errcode(dst);
        else {
            rc = sqlite3_backup_step(bk, -1);
            int frc = sqlite3_backup_finish(bk);
            rc = rc == SQLITE_DONE ? frc : rc;
        }
    }
    if (rc != SQLITE_OK) {
        sv_code c = snapshot_classify(rc);
        sv_err_set(err, c == SV_ENOTFOUND ? SV_ECORRUPT : c, "copying the live database aside: %s",
                   src ? sqlite3_errmsg(src) : sqlite3_errstr(rc));
        goto fail;
    }
    sqlite3_close(src);
    src = NULL;
    if (sqlite3_close(dst) != SQLITE_OK) {
        dst = NULL;
        sv_err_set(err, SV_EIO, "closing the safety copy '%s'", *copy);
        goto fail;
    }
    dst = NULL;
    fd = open(*copy, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) != 0) {
        int e = errno;
        if (fd >= 0) close(fd);
        sv_err_set(err, e == ENOSPC ? SV_ENOSPC : SV_EIO, "syncing the safety copy '%s': %s", *copy, strerror(e));
        goto fail;
    }
    close(fd);
    dir = sv_strdup(live);
    if (dir && strrchr(dir, '/')) *strrchr(dir, '/') = '\0';
    if (dir && sv_fsync_dir(*dir && strchr(live, '/') ? dir : ".", err) != 0) goto fail;
    free(dir);
    return 0;
fail:
    sqlite3_close(src);
    sqlite3_close(dst);
    free(dir);
    remove_with_sides(*copy);
    free(*copy);
    *copy = NULL;
    return -1;
}

/* Why the live file cannot be copied as it is: fills why and returns true
 * when its header is not a database's (garbage, a header with no pages, a
 * truncated file) or SQLite's quick_check fails on it. An empty file is a
 * valid (empty) database. Called only after the safety copy failed. */
static bool live_damaged(const char *live, char *why, size_t cap)
{
    unsigned char h[100];
    struct stat sb;
    restore_header hdr;
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    sv_err e;
    bool bad = false;
    ssize_t n = -1;
    int fd = open(live, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &sb) != 0) {
        if (fd >= 0) close(fd);
        return false;
    }
    if (sb.st_size > 0) n = pread(fd, h, sizeof h, 0);
    close(fd);
    if (sb.st_size == 0) return false;
    sv_err_clear(&e);
    if (restore_check_header(h, n > 0 ? (size_t)n : 0, (uint64_t)sb.st_size, &hdr, &e) != 0) {
        snprintf(why, cap, "%.300s", e.msg);
        return true;
    }
    if (sqlite3_open_v2(live, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "PRAGMA quick_check(1)", -1, &st, NULL) != SQLITE_OK) {
        snprintf(why, cap, "cannot be opened: %s", db ? sqlite3_errmsg(db) : "out of memory");
        bad = true;
    } else {
        int rc = sqlite3_step(st);
        const char *m = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : NULL;
        if (rc != SQLITE_ROW && rc != SQLITE_BUSY && rc != SQLITE_LOCKED) {
            snprintf(why, cap, "fails its quick_check: %s", sqlite3_errmsg(db));
            bad = true;
        } else if (m && strcmp(m, "ok") != 0) {
            snprintf(why, cap, "fails its quick_check: %s", m);
            bad = true;
        }
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return bad;
}

/* The live file's page size and journal mode from its header (0 if unknown). */
static uint32_t live_page_size(const char *live, bool *wal)
{
    unsigned char h[100];
    struct stat sb;
    restore_header hdr;
    sv_err e;
    ssize_t n;
    int fd = open(live, O_RDONLY | O_CLOEXEC);
    *wal = false;
    if (fd < 0) return 0;
    n = fstat(fd, &sb) == 0 ? pread(fd, h, sizeof h, 0) : -1;
    close(fd);
    if (n != (ssize_t)sizeof h || restore_check_header(h, sizeof h, (uint64_t)sb.st_size, &hdr, &e) != 0) return 0;
    *wal = hdr.wal;
    return hdr.page_size;
}

/* Moves the live database (and its -wal) aside to LIVE.TAG-TS (-wal), where
 * it stays until an operator deletes it; the -shm index is removed (SQLite
 * rebuilds it). *kept (heap) gets the new name. */
static int keep_aside(job_ctx *ctx, const char *live, const char *tag, char **kept, sv_err *err)
{
    char ts[SV_TS_LEN], *dir = NULL;
    const char *sfx[] = {"", "-wal", "-journal"};
    int rc = -1;
    sv_ts_format(sv_now_ms(ctx->clock), ts);
    *kept = sv_asprintf("%s.%s-%s", live, tag, ts);
    if (!*kept) return sv_err_set(err, SV_ENOMEM, "out of memory");
    for (size_t i = 0; i < 3; i++) {
        char *from = sv_asprintf("%s%s", live, sfx[i]), *to = sv_asprintf("%s%s", *kept, sfx[i]);
        int r = from && to ? rename(from, to) : -1;
        int e = errno;
        free(from);
        free(to);
        if (r != 0 && (e != ENOENT || i == 0)) {
            sv_err_set(err, SV_EIO, "unable to move the live database aside to '%s': %s", *kept, strerror(e));
            goto done;
        }
    }
    {
        char *shm = sv_asprintf("%s-shm", live);
        if (shm) unlink(shm);
        free(shm);
    }
    dir = sv_strdup(live);
    if (dir && strrchr(dir, '/')) *strrchr(dir, '/') = '\0';
    if (dir && sv_fsync_dir(*dir && strchr(live, '/') ? dir : ".", err) != 0) goto done;
    log_warn(ctx->job_id, ctx->workspace, "the live database was moved aside to %s", *kept);
    rc = 0;
done:
    free(dir);
    if (rc != 0) {
        free(*kept);
        *kept = NULL;
    }
    return rc;
}

/* Lists the kept-aside files of ws (see restore.h). */
void restore_print_kept_aside(const sv_config *cfg, const char *ws, FILE *out)
{
    char *live = config_db_path(cfg, ws), *pat = NULL;
    glob_t g;
    size_t shown = 0;
    memset(&g, 0, sizeof g);
    if (!live || !(pat = sv_asprintf("%s.*-*", live)) || glob(pat, 0, NULL, &g) != 0) goto done;
    for (size_t i = 0; i < g.gl_pathc; i++) {
        const char *p = g.gl_pathv[i], *tail = p + strlen(live);
        struct stat sb;
        char iso[SV_ISO_LEN];
        if ((strncmp(tail, ".damaged-", 9) != 0 && strncmp(tail, ".replaced-", 10) != 0 &&
             strncmp(tail, ".pre-restore-", 13) != 0) || stat(p, &sb) != 0)
            continue;
        if (shown++ == 0) fprintf(out, "\nkept aside by restores (never deleted by sqlvault; delete them once inspected):\n");
        sv_iso_format((int64_t)sb.st_mtime * 1000, iso);
        fprintf(out, "  %s  %12lld  %s\n", p, (long long)sb.st_size, iso);
    }
done:
    globfree(&g);
    free(pat);
    free(live);
}

/* Holds a queued restore's source and paths to its workspace (scope.c). */
static int check_scope(job_ctx *ctx, const restore_source *src, const char *dbopt, const char *clone, sv_err *err)
{
    if (clone && sv_check_workspace(clone, err) != 0) return sv_err_wrap(err, "clone_from");
    if (src->kind == RESTORE_SRC_OBJECT && restore_scope_key(ctx, src->ref, clone, err) != 0) return -1;
    if (src->kind == RESTORE_SRC_FILE && restore_scope_path(ctx, src->ref, "file: source", clone, err) != 0) return -1;
    if (dbopt && restore_scope_path(ctx, dbopt, "db", NULL, err) != 0) return -1;
    return 0;
}

/* The restore job: opts from, db, require_table, clone_from. */
int job_restore(job_ctx *ctx, json_t **result, sv_err *err)
{
    const char *from = json_string_value(json_object_get(ctx->opts, "from"));
    const char *clone = json_string_value(json_object_get(ctx->opts, "clone_from"));
    const char *dbopt = json_string_value(json_object_get(ctx->opts, "db"));
    const char *req = json_string_value(json_object_get(ctx->opts, "require_table"));
    restore_source asked, src;
    restore_fetched f = {0};
    restore_validated val;
    safety_job *sj = NULL;
    pthread_t th;
    bool sj_running = false;
    char *copy = NULL;
    json_t *meta = NULL, *ev = NULL;
    char ts[SV_TS_LEN] = "", *live = NULL, *rec = NULL, *kept = NULL, why[400] = "";
    const char *safety_ts = NULL;
    struct stat sb;
    bool had_db, paused = false, swapped_any = false, acked = true, cleared = true, completed = false;
    bool keep_copy = false;
    int listeners = 0;
    int64_t t0 = sv_mono_ms(ctx->clock), validate_ms = 0, t_swap = 0, t_pause = 0, pause_wait_ms = 0;
    int64_t safety_ms = 0;
    int rc = -1;

    *result = NULL;
    if (sv_check_workspace(ctx->workspace, err) != 0) return -1;
    if (restore_parse_from(from, &asked, err) != 0) return -1;
    asked.ws = clone;
    if (check_scope(ctx, &asked, dbopt, clone, err) != 0) return -1;
    live = dbopt ? sv_strdup(dbopt) : config_db_path(ctx->cfg, ctx->workspace);
    if (!live) return sv_err_set(err, SV_ENOMEM, "out of memory");
    if (!(sj = calloc(1, sizeof *sj))) {
        free(live);
        return sv_err_set(err, SV_ENOMEM, "out of memory");
    }

    /* The source, resolved once and recorded on the job. */
    if (pin_source(ctx, &asked, &rec, err) != 0) goto done;
    if (source_from_record(rec, &src, err) != 0) goto done;
    src.ws = clone;
    src.trust_drill = true;
    if (restore_is_store(ctx, &src)) { /* a LiveStore store: store.c */
        rc = restore_store(ctx, &src, result, err);
        goto done;
    }

    /* Phase 1: the live database is not touched. */
    if (restore_prepare(ctx, &src, req, &f, &val, ts, &meta, &validate_ms, err) != 0) goto done;
    log_info(ctx->job_id, ctx->workspace, "restore source %s validated: %llu bytes, %s (fetch %lld ms, check %lld ms)",
             rec, (unsigned long long)f.size, f.sum, (long long)f.duration_ms, (long long)validate_ms);

    /* Phase 2: pause, wait for the listeners, safety copy, swap, check. */
    if (restore_pause_begin(ctx, &paused, err) != 0) goto done;
    t_pause = sv_mono_ms(ctx->clock);
    ev = json_pack("{s:s, s:s, s:s, s:s?}", "workspace", ctx->workspace, "job", ctx->job_id, "from", from, "backup",
                   ts[0] ? ts : NULL);
    emit(ctx, "restore.started", ev);
    json_decref(ev);
    ev = NULL;
    if (restore_wait_acks(ctx, ctx->cfg->pause_timeout_ms, &acked, &listeners, err) != 0) goto done;
    pause_wait_ms = sv_mono_ms(ctx->clock) - t_pause;

    had_db = stat(live, &sb) == 0;
    if (had_db && !S_ISREG(sb.st_mode)) {
        sv_err_set(err, SV_EINVAL, "the live database '%s' is not a regular file", live);
        goto done;
    }
    if (had_db) {
        int64_t ts0 = sv_mono_ms(ctx->clock);
        bool wal = false;
        uint32_t ps;
        job_progress(ctx, "safety", 0, 0);
        if (local_copy(ctx, live, &copy, err) != 0) {
            /* The disaster case: a live file that is not a sound database
             * cannot be copied, and need not be: it is kept aside. */
            if (err->code == SV_ELEASE || !live_damaged(live, why, sizeof why)) goto done;
            log_warn(ctx->job_id, ctx->workspace, "the live database is damaged (%s): keeping it aside", why);
            if (job_fence(ctx, err) != 0 || keep_aside(ctx, live, "damaged", &kept, err) != 0) goto done;
            had_db = false;
        } else {
            log_info(ctx->job_id, ctx->workspace, "safety copy %s taken", copy);
            if (safety_start(ctx, copy, sj, &th, &sj_running, err) != 0) goto done;
            /* A WAL database cannot take pages of another size through the
             * backup API: its content is in the safety backup, the file is
             * kept aside and the restored one moved into place. */
            ps = live_page_size(live, &wal);
            if (wal && ps && ps != val.hdr.page_size) {
                snprintf(why, sizeof why, "WAL database with %u-byte pages, the source has %u", ps,
                         val.hdr.page_size);
                if (job_fence(ctx, err) != 0 || keep_aside(ctx, live, "replaced", &kept, err) != 0) goto done;
                had_db = false;
            }
        }
        safety_ms = sv_mono_ms(ctx->clock) - ts0;
    }

    /* The swap is a commit point: the fence is checked right before it. */
    if (job_fence(ctx, err) != 0) goto done;
    job_progress(ctx, "swap", 0, f.size);
    swapped_any = true;
    rc = had_db ? 0 : restore_install_new(f.path, live, err);
    if (rc == 0) rc = restore_swap(f.path, live, ctx->clock, ctx->cfg->test_swap_busy_ms, err);
    else if (rc == 1) rc = 0;
    if (rc == 0 && ctx->cfg->test_fail_swap) { /* test-only: proves the rollback */
        rc = sv_err_set(err, SV_EIO, "injected swap failure (SQLVAULT_TEST_FAIL_SWAP)");
    }
    t_swap = sv_mono_ms(ctx->clock);
    if (rc != 0) {
        sv_err rb;
        bool rolled_back = false;
        sv_err_clear(&rb);
        if (had_db && err->code == SV_EBUSY) {
            rolled_back = true; /* the copy never started writing: the live database is as it was */
        } else if (had_db) {
            rolled_back = copy && restore_swap(copy, live, ctx->clock, ctx->cfg->test_swap_busy_ms, &rb) == 0;
            if (!rolled_back)
                log_error(ctx->job_id, ctx->workspace, "putting the safety copy back failed: %s", rb.msg);
        } else {
            remove_db(live);
            /* Put the kept-aside file back where it was. */
            rolled_back = !kept || (rename(kept, live) == 0 && (restore_wal_back(kept, live), true));
        }
        if (rolled_back) sv_err_wrap(err, "swap failed, the previous database was put back");
        else {
            sv_err_wrap(err, "swap failed and putting the previous database back failed too (%s)", rb.msg);
            sv_err_hint(err, "the previous database is kept at %s (and uploaded as a pre-restore backup)",
                        copy ? copy : "(no copy)");
            keep_copy = true;
        }
        ev = json_pack("{s:s, s:s, s:s, s:b}", "workspace", ctx->workspace, "job", ctx->job_id, "error", err->msg,
                       "rolled_back", rolled_back);
        rc = -1;
        goto done;
    }
    job_progress(ctx, "swap", f.size, f.size);
    /* The swap is done: the listeners resume now, while the safety copy's
     * upload (if still running) finishes. */
    if (paused) {
        cleared = unpause(ctx);
        paused = false;
    }
    ev = json_pack("{s:s, s:s, s:s, s:s, s:s?, s:s?}", "workspace", ctx->workspace, "job", ctx->job_id, "from",
                   from, "checksum", f.sum, "backup", ts[0] ? ts : NULL, "safety_copy", copy);
    emit(ctx, "restore.completed", ev);
    json_decref(ev);
    ev = NULL;
    completed = true;
    if (sj_running) {
        job_progress(ctx, "safety upload", 0, 0);
        pthread_join(th, NULL);
        sj_running = false;
        if (sj->rc == 0) {
            safety_ts = sj->out.ts;
        } else {
            keep_copy = true;
            log_warn(ctx->job_id, ctx->workspace, "the safety copy could not be uploaded (%s): kept at %s",
                     sj->err.msg, copy);
        }
    }
    {
        char iso[SV_ISO_LEN];
        sv_iso_format(sv_now_ms(ctx->clock), iso);
        *result = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:b, s:s, s:i, s:I, s:I, s:s?, s:s?, s:I, s:I, s:I, "
                            "s:I, s:b, s:i, s:I, s:I, s:s, s:b}",
                            "workspace", ctx->workspace, "from", from, "source", rec, "db", live, "checksum", f.sum,
                            "size", (json_int_t)f.size, "object_size", (json_int_t)f.object_size, "compressed",
                            f.compressed, "object_checksum", f.obj_sum, "page_size", (int)val.hdr.page_size,
                            "page_count", (json_int_t)val.page_count, "tables", (json_int_t)val.tables, "backup",
                            ts[0] ? ts : NULL, "safety_backup", safety_ts, "fetch_ms", (json_int_t)f.duration_ms,
                            "validate_ms", (json_int_t)validate_ms, "safety_ms", (json_int_t)safety_ms,
                            "pause_wait_ms", (json_int_t)pause_wait_ms, "pause_acked", acked, "pause_listeners",
                            listeners, "pause_ms", (json_int_t)(t_swap - t_pause), "durationMs",
                            (json_int_t)(sv_mono_ms(ctx->clock) - t0), "restoredAt", iso, "pause_cleared", cleared);
        if (*result) {
            json_object_set_new(*result, "integrity_check",
                                json_string(val.integrity_skipped ? "skipped: the backup's restore drill passed on "
                                                                    "the same checksum" : "ok"));
            json_object_set_new(*result, "safety_upload_ms", json_integer(sj->ms));
        }
        if (*result && kept) {
            json_object_set_new(*result, "kept_aside", json_string(kept));
            json_object_set_new(*result, "kept_aside_reason", json_string(why));
        }
        if (*result && keep_copy) {
            json_object_set_new(*result, "safety_copy", json_string(copy));
            json_object_set_new(*result, "safety_upload_error", json_string(sj->err.msg));
        }
    }
    if (!*result) {
        rc = sv_err_set(err, SV_ENOMEM, "out of memory");
        goto done;
    }
    rc = 0;
done:
    if (paused) unpause(ctx);
    if ((paused || swapped_any) && !completed) {
        if (!ev)
            ev = json_pack("{s:s, s:s, s:s, s:b}", "workspace", ctx->workspace, "job", ctx->job_id, "error", err->msg,
                           "swapped", false);
        emit(ctx, "restore.failed", ev);
    }
    json_decref(ev);
    if (sj_running) {
        pthread_join(th, NULL);
        if (sj->rc != 0) keep_copy = true;
    }
    if (copy && !keep_copy) remove_with_sides(copy);
    else if (copy) log_warn(ctx->job_id, ctx->workspace, "the safety copy is kept at %s", copy);
    if (rc == 0)
        log_info(ctx->job_id, ctx->workspace, "restored %s (%llu bytes, paused %lld ms)", rec,
                 (unsigned long long)f.size, (long long)(t_swap - t_pause));
    restore_fetched_remove(&f);
    json_decref(sj->out.metadata);
    store_free(sj->ctx.store);
    free(sj);
    free(copy);
    json_decref(meta);
    free(rec);
    free(kept);
    free(live);
    return rc;
}
