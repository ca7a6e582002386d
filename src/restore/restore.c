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
 * Only then is the safety copy settled, so every write committed before the
 * pause is in it (docs/PROTOCOL.md), and the fence renewed right before the
 * swap. When still nobody has the live file open, the swap is a rename
 * (rename.c): the old file linked aside is the safety copy. Otherwise the
 * live database is copied next to it with the backup API (synced), and the
 * validated file copied onto the live database with the backup API (swap.c)
 * and the result checked. Then the flag is cleared and restore.completed
 * emitted. A swap that fails after writing is put back from the safety copy
 * and restore.failed emitted.
 * The safety copy is a durable local file before the pause ends. A queued
 * restore does not upload it: it enqueues, before it reports success, a
 * follow-up backup job (backup_type pre-restore, remove_db) that uploads it
 * as the pre-restore backup and removes it once committed (result
 * pre_restore_job). An inline run (no queue) uploads it itself (safety.c).
 * Every temporary file is removed on every path. */
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
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
#include "metrics/metrics.h"
#include "restore.h"
#include "sqlerr.h"
#include "tmpsweep.h"
#include "replica.h"
#include "util.h"

/* Parses --from (see restore.h). */
int restore_parse_from(const char *from, restore_source *out, sv_err *err)
{
    int64_t ms;
    memset(out, 0, sizeof *out);
    if (!from || !*from) {
        sv_err_set(err, SV_EINVAL, "restore needs a source");
        return sv_err_hint(err, "pass --from latest|TIME|object:KEY|file:PATH");
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

/* The fetch options of a chain's base (the backup itself for a full): its
 * object and checksums. */
static int backup_source(job_ctx *ctx, const restore_chain *c, restore_fetch_opts *fo, char **key, sv_err *err)
{
    json_t *meta = c->meta[0], *v;
    const char *obj, *comp, *ts = c->ts[0];
    obj = json_string_value(json_object_get(meta, "object"));
    comp = json_string_value(json_object_get(meta, "compression"));
    if (!obj || !*obj || strchr(obj, '/') || strstr(obj, ".."))
        return sv_err_set(err, SV_ECORRUPT, "backup %s: metadata.json names an invalid object '%s'", ts,
                          obj ? obj : "");
    if (!comp || (strcmp(comp, "zstd") != 0 && strcmp(comp, "none") != 0))
        return sv_err_set(err, SV_ECORRUPT, "backup %s: unknown compression '%s'", ts, comp ? comp : "");
    *key = backup_key(c->ws, ts, obj);
    if (!*key) return sv_err_set(err, SV_ENOMEM, "out of memory");
    fo->key = *key;
    fo->require_zstd = strcmp(comp, "zstd") == 0;
    fo->encrypted = json_object_get(meta, "encryption") && !json_is_null(json_object_get(meta, "encryption"));
    fo->expect_sum = json_string_value(json_object_get(meta, "checksum"));
    fo->expect_obj_sum = json_string_value(json_object_get(meta, "compressedChecksum"));
    /* A chain's base whose object checksum proves it as stored: its
     * database bytes are not hashed as well. The links overwrite some of
     * them, and the result is proven page by page against the target's
     * stateChecksum (restore_chain_prove); a sha256 of the base as an
     * intermediate would prove nothing more and costs a 1 GiB restore ~1 s
     * of CPU. */
    if (c->n > 1 && fo->expect_obj_sum && *fo->expect_obj_sum) {
        fo->no_db_sum = true;
        fo->expect_sum = NULL;
    }
    v = json_object_get(meta, "databaseSize");
    fo->expect_size = json_is_integer(v) ? json_integer_value(v) : -1;
    v = json_object_get(meta, "compressedSize");
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
                             .expect_size = -1, .expect_obj_size = -1, .durable = src->durable};
    restore_chain chain = {0};
    char *key = NULL;
    int64_t t0;
    int rc = -1, vrc;
    bool integrity = true;
    sv_err verr;
    ts[0] = '\0';
    *meta = NULL;
    memset(f, 0, sizeof *f);
    sv_err_clear(&verr);
    if (src->kind == RESTORE_SRC_BACKUP) {
        if (restore_chain_resolve(ctx, src->ws ? src->ws : ctx->workspace, src->ref, src->exact, &chain, err) != 0 ||
            backup_source(ctx, &chain, &fo, &key, err) != 0)
            goto done;
        memcpy(ts, chain.ts[chain.n - 1], SV_TS_LEN);
        if (chain.n == 1) *meta = json_incref(chain.meta[0]);
    } else if (src->kind == RESTORE_SRC_OBJECT) {
        fo.key = src->ref;
    } else {
        fo.path = src->ref;
    }
    if (restore_fetch(ctx, &fo, f, err) != 0) {
        if (chain.n > 1) {
            sv_err_wrap(err, "base %s of the chain of backup %s", chain.ts[0], chain.ts[chain.n - 1]);
            if (err->code == SV_ECHECKSUM || err->code == SV_ECORRUPT)
                sv_err_hint(err, "the base was damaged or replaced in the store; restore a backup of another chain");
        }
        goto done;
    }
    if (chain.n > 0) {
        if (restore_chain_check(&chain, err) != 0) goto done;
        if (!*meta) *meta = json_incref(chain.meta[chain.n - 1]);
        if (restore_chain_apply(ctx, &chain, f, err) != 0) goto done;
        f->duration_ms += f->apply_ms;
    }
    job_progress(ctx, "validate", 0, 0);
    t0 = sv_mono_ms(ctx->clock);
    /* A chain is always integrity-checked: its result's bytes were never drilled as such. */
    if (chain.n <= 1) integrity = !(src->trust_drill && drill_passed(ctx, src, ts, f));
    vrc = restore_validate_ex(ctx, f->path, require_tables, integrity, val, &verr);
    /* A chain's proof ran beside the check; a result that is not the
     * backed-up state is reported as such before anything the check found. */
    if (restore_chain_prove(ctx, &chain, f, err) != 0) goto done;
    if (vrc != 0) {
        *err = verr;
        goto done;
    }
    *validate_ms = sv_mono_ms(ctx->clock) - t0;
    rc = 0;
done:
    if (rc != 0) restore_fetched_remove(f);
    restore_chain_free(&chain);
    free(key);
    return rc;
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
void restore_emit(job_ctx *ctx, const char *event, json_t *data)
{
    sv_err e;
    sv_err_clear(&e);
    if (ctx->emit && ctx->emit(ctx->ud, event, data, &e) != 0)
        log_warn(ctx->job_id, ctx->workspace, "unable to emit %s: %s", event, e.msg);
}

/* Clears the pause flag, retrying a failed call twice; logs if it stays
 * set. A flag that belongs to a newer attempt is left alone. */
bool restore_unpause(job_ctx *ctx)
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
        src->exact = true; /* the backup resolved once: never an older one */
        return 0;
    }
    return restore_parse_from(rec, src, err);
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
    sv_unlink_db(*copy);
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
        sv_code c = sv_sqlite_classify(rc);
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
    sv_unlink_db(*copy);
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
        if (rc != SQLITE_ROW && !sv_sqlite_busy(rc)) {
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

/* One restore's state, shared by its phases below. */
typedef struct restore_run {
    job_ctx *ctx;
    const char *from, *clone, *dbopt, *req;
    restore_source src;
    restore_fetched f;
    restore_validated val;
    json_t *meta, *ev;
    char ts[SV_TS_LEN], why[400], delta_why[400];
    char *live, *rec;
    char *kept;                /* a file kept aside (never deleted) */
    char *copy;                /* the safety copy, deleted at the end unless keep_copy */
    const char *upload_src;    /* the file the safety upload reads (copy or kept) */
    restore_safety *late;      /* an inline run's upload of the safety copy */
    char followup[200];        /* the queued follow-up job uploading upload_src */
    restore_rename rn;
    const char *swap_method;   /* "rename", "backup-api" or "new-file" */
    const char *safety_ts;     /* the pre-restore backup holding the paused content */
    bool had_db, paused, swapped_any, acked, cleared, completed, keep_copy, renamed;
    int listeners;
    int64_t t0, validate_ms, t_pause, t_swap, pause_wait_ms, safety_ms;
} restore_run;

/* Options, scope, the live path and the source recorded on the job. */
static int run_begin(restore_run *r, sv_err *err)
{
    job_ctx *ctx = r->ctx;
    restore_source asked;
    if (sv_check_workspace(ctx->workspace, err) != 0) return -1;
    if (restore_parse_from(r->from, &asked, err) != 0) return -1;
    asked.ws = r->clone;
    if (check_scope(ctx, &asked, r->dbopt, r->clone, err) != 0) return -1;
    r->live = r->dbopt ? sv_strdup(r->dbopt) : config_db_path(ctx->cfg, ctx->workspace);
    if (!r->live) return sv_err_set(err, SV_ENOMEM, "out of memory");
    if (pin_source(ctx, &asked, &r->rec, err) != 0) return -1;
    if (source_from_record(r->rec, &r->src, err) != 0) return -1;
    r->src.ws = r->clone;
    r->src.trust_drill = true;
    r->src.durable = true;
    return 0;
}

/* Phase 1: fetch and validate, the live database untouched. */
static int run_prepare(restore_run *r, sv_err *err)
{
    job_ctx *ctx = r->ctx;
    if (restore_prepare(ctx, &r->src, r->req, &r->f, &r->val, r->ts, &r->meta, &r->validate_ms, err) != 0) return -1;
    char sz[32];
    log_info(ctx->job_id, ctx->workspace, "restore source %s validated: %s, %s (fetch %lld ms, check %lld ms)", r->rec,
             sv_human_size(r->f.size, sz, sizeof sz), r->f.sum, (long long)r->f.duration_ms, (long long)r->validate_ms);
    return 0;
}

/* Phase 2 begins: the pause flag, restore.started, the listeners' acks. */
static int run_pause(restore_run *r, sv_err *err)
{
    job_ctx *ctx = r->ctx;
    if (r->paused) return 0; /* held from a delta restore that gave way after its pause */
    if (restore_pause_begin(ctx, &r->paused, err) != 0) return -1;
    r->t_pause = sv_mono_ms(ctx->clock);
    r->ev = json_pack("{s:s, s:s, s:s, s:s?}", "workspace", ctx->workspace, "job", ctx->job_id, "from", r->from,
                      "backup", r->ts[0] ? r->ts : NULL);
    restore_emit(ctx, "restore.started", r->ev);
    json_decref(r->ev);
    r->ev = NULL;
    if (restore_wait_acks(ctx, ctx->cfg->pause_timeout_ms, &r->acked, &r->listeners, err) != 0) return -1;
    r->pause_wait_ms = sv_mono_ms(ctx->clock) - r->t_pause;
    return 0;
}

/* The rename swap (rename.c) of a live file nobody has open: 1 done, 0 not
 * applicable, -1 failed with nothing changed. The old file is the safety
 * copy, uploaded after the swap. */
static int run_swap_rename(restore_run *r, sv_err *err)
{
    job_ctx *ctx = r->ctx;
    int64_t t = sv_mono_ms(ctx->clock);
    int rc;
    r->rn = (restore_rename){.tmp = r->f.path, .live = r->live, .page_size = r->val.hdr.page_size};
    job_progress(ctx, "swap", 0, r->f.size);
    if ((rc = restore_swap_rename(ctx, &r->rn, err)) != 1) return rc; /* nothing changed */
    r->swapped_any = r->renamed = true;
    r->swap_method = "rename";
    r->safety_ms = sv_mono_ms(ctx->clock) - t;
    r->upload_src = r->rn.copy;
    if (r->rn.replaced) {
        snprintf(r->why, sizeof r->why, "WAL database with other pages than the source's %u bytes",
                 r->val.hdr.page_size);
        r->kept = sv_strdup(r->rn.copy);
        log_warn(ctx->job_id, ctx->workspace, "the live database was moved aside to %s", r->rn.copy);
    } else {
        r->copy = sv_strdup(r->rn.copy);
    }
    log_info(ctx->job_id, ctx->workspace, "swapped by rename; the old file is at %s", r->rn.copy);
    return 1;
}

/* The safety copy for the backup-API swap: a local copy next to the live
 * file (uploaded after the swap, or beside it in an inline run); or the
 * disaster case (kept aside), or a WAL file of another page size (kept
 * aside, moved over). */
static int run_safety_copy(restore_run *r, sv_err *err)
{
    job_ctx *ctx = r->ctx;
    int64_t ts0 = sv_mono_ms(ctx->clock);
    bool wal = false;
    uint32_t ps;
    job_progress(ctx, "safety", 0, 0);
    if (local_copy(ctx, r->live, &r->copy, err) != 0) {
        /* The disaster case: a live file that is not a sound database
         * cannot be copied, and need not be: it is kept aside. */
        if (err->code == SV_ELEASE || !live_damaged(r->live, r->why, sizeof r->why)) return -1;
        log_warn(ctx->job_id, ctx->workspace, "the live database is damaged (%s): keeping it aside", r->why);
        if (job_fence(ctx, err) != 0 || keep_aside(ctx, r->live, "damaged", &r->kept, err) != 0) return -1;
        r->had_db = false;
    } else {
        log_info(ctx->job_id, ctx->workspace, "safety copy %s taken", r->copy);
        r->upload_src = r->copy;
        if (!ctx->enqueue && restore_safety_start(ctx, r->copy, &r->late, err) != 0) return -1;
        /* A WAL database cannot take pages of another size through the
         * backup API: its content is in the safety backup, the file is
         * kept aside and the restored one moved into place. */
        ps = live_page_size(r->live, &wal);
        if (wal && ps && ps != r->val.hdr.page_size) {
            snprintf(r->why, sizeof r->why, "WAL database with %u-byte pages, the source has %u", ps,
                     r->val.hdr.page_size);
            if (job_fence(ctx, err) != 0 || keep_aside(ctx, r->live, "replaced", &r->kept, err) != 0) return -1;
            r->had_db = false;
        }
    }
    r->safety_ms = sv_mono_ms(ctx->clock) - ts0;
    return 0;
}

/* The swap when the rename does not apply: the backup API onto the live
 * file, or the validated file moved where no database is. */
static int run_swap_copy(restore_run *r, sv_err *err)
{
    int rc;
    if (r->had_db && run_safety_copy(r, err) != 0) return -1;
    /* The swap is a commit point: the fence is checked right before it. */
    if (job_fence(r->ctx, err) != 0) return -1;
    job_progress(r->ctx, "swap", 0, r->f.size);
    r->swapped_any = true;
    r->swap_method = r->had_db ? "backup-api" : "new-file";
    rc = r->had_db ? 0 : restore_install_new(r->f.path, r->live, err);
    if (rc == 0) {
        r->swap_method = "backup-api";
        return restore_swap(r->f.path, r->live, r->ctx->clock, r->ctx->cfg->test_swap_busy_ms, err);
    }
    return rc == 1 ? 0 : -1;
}

/* A queued restore's follow-up: the backup job that uploads the safety copy
 * as the pre-restore backup and removes the copy once committed, enqueued
 * (deduped by id, one per attempt) before the restore reports success.
 * -1 when it could not be enqueued: the restore uploads the copy itself.
 * may_remove false: the copy stays after its backup (a failed rollback's). */
static int run_followup(restore_run *r, bool may_remove, sv_err *err)
{
    job_ctx *ctx = r->ctx;
    bool remove = may_remove && r->copy && strcmp(r->upload_src, r->copy) == 0;
    json_t *opts = json_pack("{s:s, s:s, s:s, s:b, s:s}", "db", r->upload_src, "backup_type", "pre-restore",
                             "reason", "pre-restore", "remove_db", remove, "restore_job", ctx->job_id);
    int rc;
    if (!opts) return sv_err_set(err, SV_ENOMEM, "out of memory");
    snprintf(r->followup, sizeof r->followup, "%.150s-pre-restore-%d", ctx->job_id, ctx->attempt);
    rc = ctx->enqueue(ctx->ud, "backup", r->followup, opts, err);
    json_decref(opts);
    if (rc != 0) {
        r->followup[0] = '\0';
        return -1;
    }
    log_info(ctx->job_id, ctx->workspace, "the safety copy %s is uploaded by the follow-up job %s", r->upload_src,
             r->followup);
    return 0;
}

/* Puts the previous database back after a failed swap; fills the
 * restore.failed event. */
static void run_rollback(restore_run *r, sv_err *err)
{
    sv_err rb;
    bool back = false;
    sv_err_clear(&rb);
    if (r->renamed) {
        back = restore_rename_undo(&r->rn, &rb) == 0;
        if (back) { /* the old file is live again under its own name */
            free(r->kept);
            free(r->copy);
            r->kept = r->copy = NULL;
        }
    } else if (r->had_db && err->code == SV_EBUSY) {
        back = true; /* the copy never started writing: the live database is as it was */
    } else if (r->had_db) {
        back = r->copy && restore_swap(r->copy, r->live, r->ctx->clock, r->ctx->cfg->test_swap_busy_ms, &rb) == 0;
    } else {
        sv_unlink_db(r->live);
        /* Put the kept-aside file back where it was. */
        back = !r->kept || (rename(r->kept, r->live) == 0 && (restore_wal_back(r->kept, r->live), true));
    }
    if (!back) log_error(r->ctx->job_id, r->ctx->workspace, "putting the previous database back failed: %s", rb.msg);
    if (back) {
        sv_err_wrap(err, "swap failed, the previous database was put back");
    } else {
        const char *at = r->renamed ? r->rn.copy : r->copy;
        sv_err_wrap(err, "swap failed and putting the previous database back failed too (%s)", rb.msg);
        sv_err_hint(err, "the previous database is kept at %s%s", at ? at : "(no copy)",
                    r->ctx->enqueue && at ? " (and uploaded as a pre-restore backup by a follow-up job)" : "");
        r->keep_copy = true;
        if (at && r->ctx->enqueue) {
            r->upload_src = at;
            if (run_followup(r, false, &rb) != 0)
                log_error(r->ctx->job_id, r->ctx->workspace, "the follow-up pre-restore backup of %s: %s", at, rb.msg);
        }
    }
    r->ev = json_pack("{s:s, s:s, s:s, s:b}", "workspace", r->ctx->workspace, "job", r->ctx->job_id, "error",
                      err->msg, "rolled_back", back);
}

/* Phase 2: the safety copy and the swap, the pause ended, the safety
 * backup settled. */
static int run_swap(restore_run *r, sv_err *err)
{
    job_ctx *ctx = r->ctx;
    struct stat sb;
    int rc = 0;
    r->had_db = stat(r->live, &sb) == 0;
    if (r->had_db && !S_ISREG(sb.st_mode))
        return sv_err_set(err, SV_EINVAL, "the live database '%s' is not a regular file", r->live);
    if (r->had_db) rc = run_swap_rename(r, err);
    if (rc == 0) rc = run_swap_copy(r, err);
    else if (rc == 1) rc = 0;
    if (rc == 0 && ctx->cfg->test_fail_swap) /* test-only: proves the rollback */
        rc = sv_err_set(err, SV_EIO, "injected swap failure (SQLVAULT_TEST_FAIL_SWAP)");
    r->t_swap = sv_mono_ms(ctx->clock);
    if (rc != 0) {
        if (r->swapped_any) run_rollback(r, err);
        return -1;
    }
    job_progress(ctx, "swap", r->f.size, r->f.size);
    /* The safety copy is durable on disk: a queued restore hands its upload
     * to a follow-up job (one Redis round trip, before the pause ends). */
    if (r->upload_src && ctx->enqueue && run_followup(r, true, err) != 0) {
        log_warn(ctx->job_id, ctx->workspace, "the follow-up pre-restore backup could not be enqueued (%s): "
                 "uploading the safety copy in this job", err->msg);
        sv_err_clear(err);
    }
    /* The swap is done: the listeners resume now, while the safety copy's
     * upload (if any) runs. */
    if (r->paused) {
        r->cleared = restore_unpause(ctx);
        r->paused = false;
    }
    r->ev = json_pack("{s:s, s:s, s:s, s:s, s:s?, s:s?, s:s?}", "workspace", ctx->workspace, "job", ctx->job_id,
                      "from", r->from, "checksum", r->f.sum, "backup", r->ts[0] ? r->ts : NULL, "safety_copy",
                      r->upload_src, "pre_restore_job", r->followup[0] ? r->followup : NULL);
    restore_emit(ctx, "restore.completed", r->ev);
    json_decref(r->ev);
    r->ev = NULL;
    r->completed = true;
    if (!r->followup[0] && !r->late && r->upload_src &&
        restore_safety_start(ctx, r->upload_src, &r->late, err) != 0) {
        log_warn(ctx->job_id, ctx->workspace, "the safety copy could not be uploaded (%s): kept at %s", err->msg,
                 r->upload_src);
        sv_err_clear(err);
        r->keep_copy = true;
    }
    if (r->late) {
        job_progress(ctx, "safety upload", 0, 0);
        if (restore_safety_join(r->late) == 0) {
            r->safety_ts = restore_safety_ts(r->late);
        } else {
            r->keep_copy = true;
            log_warn(ctx->job_id, ctx->workspace, "the safety copy could not be uploaded (%s): kept at %s",
                     restore_safety_error(r->late), r->upload_src);
        }
    }
    return 0;
}

/* The job's result. */
static int run_result(restore_run *r, json_t **result, sv_err *err)
{
    job_ctx *ctx = r->ctx;
    restore_safety *up = r->late;
    char iso[SV_ISO_LEN];
    json_t *timing;
    sv_iso_format(sv_now_ms(ctx->clock), iso);
    *result = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:b, s:s, s:i, s:I, s:I, s:s?, s:s?, s:s}",
                        "workspace", ctx->workspace, "from", r->from, "source", r->rec, "db", r->live, "checksum",
                        r->f.sum, "size", (json_int_t)r->f.size, "object_size", (json_int_t)r->f.object_size,
                        "compressed", r->f.compressed, "object_checksum", r->f.obj_sum, "page_size",
                        (int)r->val.hdr.page_size, "page_count", (json_int_t)r->val.page_count, "tables",
                        (json_int_t)r->val.tables, "backup", r->ts[0] ? r->ts : NULL, "safety_backup", r->safety_ts,
                        "swap", r->swap_method ? r->swap_method : "backup-api");
    timing = json_pack("{s:I, s:I, s:I, s:I, s:b, s:i, s:I, s:I, s:s, s:b, s:I}", "fetch_ms",
                       (json_int_t)r->f.duration_ms, "validate_ms", (json_int_t)r->validate_ms, "safety_ms",
                       (json_int_t)r->safety_ms, "pause_wait_ms", (json_int_t)r->pause_wait_ms, "pause_acked",
                       r->acked, "pause_listeners", r->listeners, "pause_ms", (json_int_t)(r->t_swap - r->t_pause),
                       "durationMs", (json_int_t)(sv_mono_ms(ctx->clock) - r->t0), "restoredAt", iso,
                       "pause_cleared", r->cleared, "safety_upload_ms", (json_int_t)restore_safety_ms(up));
    if (!*result || !timing || json_object_update(*result, timing) != 0) {
        json_decref(timing);
        return sv_err_set(err, SV_ENOMEM, "out of memory");
    }
    json_decref(timing);
    if (r->f.chain_base[0]) { /* the backup's chain: its base, the links applied on it, the state proven */
        json_object_set_new(*result, "chain", json_pack("{s:s, s:i, s:I, s:I, s:I, s:s?}", "base", r->f.chain_base,
                                                        "links", (int)r->f.links, "pages_applied",
                                                        (json_int_t)r->f.pages_applied, "links_bytes",
                                                        (json_int_t)r->f.links_bytes, "apply_ms",
                                                        (json_int_t)r->f.apply_ms, "state_checksum",
                                                        r->f.state_sum[0] ? r->f.state_sum : NULL));
    }
    json_object_set_new(*result, "integrity_check",
                        json_string(r->val.integrity_skipped ? "skipped: the backup's restore drill passed on the "
                                                               "same checksum" : "ok"));
    json_object_set_new(*result, "safety_source",
                        json_string(r->followup[0] ? "the copy taken in the pause, uploaded by pre_restore_job"
                                    : r->safety_ts ? "the copy taken in the pause" : "none"));
    if (r->followup[0]) {
        json_object_set_new(*result, "pre_restore_job", json_string(r->followup));
        json_object_set_new(*result, "safety_copy", json_string(r->upload_src));
    }
    if (r->kept) {
        json_object_set_new(*result, "kept_aside", json_string(r->kept));
        json_object_set_new(*result, "kept_aside_reason", json_string(r->why));
    }
    if (r->keep_copy && r->upload_src) {
        json_object_set_new(*result, "safety_copy", json_string(r->upload_src));
        json_object_set_new(*result, "safety_upload_error",
                            json_string(restore_safety_error(up) ? restore_safety_error(up) : "not started"));
    }
    return 0;
}

/* Every path's end: the flag, restore.failed, temporaries, memory. */
static void run_end(restore_run *r, int rc, sv_err *err)
{
    job_ctx *ctx = r->ctx;
    if (r->paused) restore_unpause(ctx);
    if ((r->paused || r->swapped_any) && !r->completed) {
        if (!r->ev)
            r->ev = json_pack("{s:s, s:s, s:s, s:b}", "workspace", ctx->workspace, "job", ctx->job_id, "error",
                              err->msg, "swapped", false);
        restore_emit(ctx, "restore.failed", r->ev);
    }
    json_decref(r->ev);
    if (r->late && restore_safety_join(r->late) != 0) r->keep_copy = true;
    if (r->copy && !r->keep_copy && !r->followup[0]) sv_unlink_db(r->copy);
    else if (r->copy && !r->followup[0]) log_warn(ctx->job_id, ctx->workspace, "the safety copy is kept at %s", r->copy);
    /* a delta restore logs its own line; a LiveStore store's has no swap method */
    if (rc == 0 && (!r->swap_method || strcmp(r->swap_method, "delta") != 0)) {
        char sz[32];
        log_info(ctx->job_id, ctx->workspace, "restored %s (%s, %s swap, paused %lld ms)", r->rec,
                 sv_human_size(r->f.size, sz, sizeof sz), r->swap_method ? r->swap_method : "store",
                 (long long)(r->t_swap - r->t_pause));
    }
    restore_fetched_remove(&r->f);
    restore_safety_free(r->late);
    free(r->rn.copy);
    free(r->copy);
    json_decref(r->meta);
    free(r->rec);
    free(r->kept);
    free(r->live);
}

/* One restore from ctx's store. *prepared: phase 1 (fetch and validate)
 * passed, so a failure came later, when the live side may have moved. */
static int restore_once(job_ctx *ctx, json_t **result, bool *prepared, sv_err *err)
{
    restore_run r = {.ctx = ctx, .acked = true, .cleared = true};
    int rc = -1;
    *prepared = false;
    r.from = json_string_value(json_object_get(ctx->opts, "from"));
    r.clone = json_string_value(json_object_get(ctx->opts, "clone_from"));
    r.dbopt = json_string_value(json_object_get(ctx->opts, "db"));
    r.req = json_string_value(json_object_get(ctx->opts, "require_table"));
    r.t0 = sv_mono_ms(ctx->clock);
    *result = NULL;
    if (run_begin(&r, err) != 0) goto done;
    if (restore_is_store(ctx, &r.src)) { /* a LiveStore store: store.c */
        rc = restore_store(ctx, &r.src, result, err);
        goto done;
    }
    restore_settle_journal(ctx, r.live); /* a killed delta restore's journal goes before anything else */
    if (r.src.kind == RESTORE_SRC_BACKUP && !r.clone) { /* only the pages that differ, when it can (delta.c) */
        restore_held_pause hold = {0};
        int dr = restore_delta(ctx, r.live, r.src.ref, r.from, r.rec, result, &hold, r.delta_why,
                               sizeof r.delta_why, err);
        if (hold.held) {
            r.paused = true;
            r.acked = hold.acked;
            r.listeners = hold.listeners;
            r.t_pause = hold.t_pause;
            r.pause_wait_ms = hold.wait_ms;
        }
        if (dr != 0) {
            *prepared = true;
            r.completed = true;
            r.swap_method = "delta";
            rc = dr == 1 ? 0 : -1;
            goto done;
        }
    }
    if (run_prepare(&r, err) != 0) goto done;
    *prepared = true;
    if (run_pause(&r, err) != 0 || run_swap(&r, err) != 0) goto done;
    rc = run_result(&r, result, err);
    if (rc == 0) {
        metrics_restore_kind("full");
        if (r.delta_why[0])
            json_object_set_new(*result, "delta", json_pack("{s:b, s:s}", "used", 0, "why_not", r.delta_why));
    }
done:
    run_end(&r, rc, err);
    return rc;
}

/* A backup of the store could not be read or proven: another copy may do. */
static bool failover_class(sv_code c)
{
    return c == SV_ENOTFOUND || c == SV_ECORRUPT || c == SV_ECHECKSUM || c == SV_EUNREACH || c == SV_EAUTH ||
           c == SV_EREMOTE || c == SV_ETRANSIENT;
}

/* A restore from replica r: ctx with r's configuration and store. */
static int restore_from_replica(job_ctx *ctx, const replica *r, json_t **result, bool *prepared, sv_err *err)
{
    job_ctx c2 = *ctx;
    store_t *st = NULL;
    int rc;
    *prepared = false;
    if (replica_open(r, ctx->clock, &st, err) != 0) return -1;
    c2.cfg = &r->cfg;
    c2.store = st;
    rc = restore_once(&c2, result, prepared, err);
    store_free(st);
    return rc;
}

/* The restore job: opts from, db, require_table, clone_from, store. With
 * replica stores (replica.h), a backup the primary cannot give (missing,
 * unreadable, failing its checks) is taken from the first replica that can,
 * and the result says so; --store NAME picks one. Only phase 1 fails over:
 * after it the live side may have moved. */
int job_restore(job_ctx *ctx, json_t **result, sv_err *err)
{
    const char *want = json_string_value(json_object_get(ctx->opts, "store"));
    const char *from = json_string_value(json_object_get(ctx->opts, "from"));
    bool prepared = false, backup_src = !from || (strncmp(from, "file:", 5) != 0 && strncmp(from, "object:", 7) != 0);
    replica_set rs;
    sv_err first;
    int rc;
    *result = NULL;
    if (!ctx->cfg->replicas && (!want || strcmp(want, "primary") == 0)) return restore_once(ctx, result, &prepared, err);
    if (replica_parse(ctx->cfg, &rs, err) != 0) return -1;
    if (want && strcmp(want, "primary") != 0) {
        const replica *r = replica_find(&rs, want);
        if (!r) {
            sv_err_set(err, SV_EINVAL, "no replica store '%s'", want);
            sv_err_hint(err, "SQLVAULT_REPLICAS names the stores; 'primary' is SQLVAULT_STORE");
            rc = -1;
        } else if ((rc = restore_from_replica(ctx, r, result, &prepared, err)) == 0) {
            json_object_set_new(*result, "store", json_string(r->name));
        }
        replica_set_free(&rs);
        return rc;
    }
    rc = restore_once(ctx, result, &prepared, err);
    if (rc == 0) json_object_set_new(*result, "store", json_string("primary"));
    if (rc == 0 || prepared || want || !backup_src || !failover_class(err->code) || rs.n == 0) {
        replica_set_free(&rs);
        return rc;
    }
    first = *err;
    for (size_t i = 0; i < rs.n; i++) {
        sv_err e = {0};
        log_warn(ctx->job_id, ctx->workspace, "the primary store could not give the backup (%s): trying replica %s",
                 first.msg, rs.r[i].name);
        if (restore_from_replica(ctx, &rs.r[i], result, &prepared, &e) == 0) {
            json_object_set_new(*result, "store", json_string(rs.r[i].name));
            json_object_set_new(*result, "failover", json_string(first.msg));
            sv_err_clear(err);
            rc = 0;
            break;
        }
        log_warn(ctx->job_id, ctx->workspace, "replica %s: %s", rs.r[i].name, e.msg);
        if (prepared) { /* failed past phase 1: that is the answer */
            *err = e;
            break;
        }
    }
    if (rc != 0 && !prepared) {
        *err = first;
        sv_err_hint(err, "no replica store could give it either (the log names each one's answer)");
    }
    replica_set_free(&rs);
    return rc;
}
