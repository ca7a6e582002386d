/* restore.c -- the restore job: validate fully, then swap.
 *
 * Phase 1 never touches the live database: the source (a committed backup,
 * an object in the store, or a local file) is streamed into a temporary
 * file, checked against its metadata's checksums, and validated (header,
 * hardened open, integrity_check, required tables). Any failure ends the job
 * here with the live file byte-for-byte as it was.
 *
 * The safety net runs beside phase 1, in a thread of its own with its own
 * store connection: the current database is backed up to the store as a
 * "pre-restore" backup (backup_take: snapshot, zstd, upload), so the download,
 * decompression and integrity check overlap the safety backup's snapshot,
 * compression and upload. If validation fails, that backup is deleted again
 * (it would only be noise in the listing). Writes that reach the live
 * database between the copy and the swap are in neither, exactly as with a
 * copy taken just before the pause.
 *
 * Phase 2 (the worker holds the workspace lock): once both are done, the
 * pause flag is set and restore.started emitted so the Node server stops
 * processing events; the validated file is copied onto the live database
 * with the backup API and the result checked; then the flag is cleared and
 * restore.completed emitted. The copy is one SQLite transaction, so a copy
 * that fails part-way leaves the old content; if it fails after committing
 * (the check), the pre-restore backup is fetched, checked and put back the
 * same way, and restore.failed emitted. (Keeping a second local copy just
 * for that case would cost another full read and write of the database on
 * every restore.)
 * Every temporary file is removed on every path. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
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
static int backup_source(job_ctx *ctx, const char *at, restore_fetch_opts *fo, char **key, char ts[SV_TS_LEN],
                         json_t **meta, sv_err *err)
{
    catalog_entry ce;
    const char *obj, *comp;
    json_t *v;
    if (catalog_find(ctx->store, ctx->workspace, at, &ce, err) != 0) return -1;
    memcpy(ts, ce.ts, SV_TS_LEN);
    if (catalog_read_meta(ctx->store, ctx->workspace, ce.ts, meta, err) != 0) return -1;
    obj = json_string_value(json_object_get(*meta, "object"));
    comp = json_string_value(json_object_get(*meta, "compression"));
    if (!obj || !*obj || strchr(obj, '/') || strstr(obj, ".."))
        return sv_err_set(err, SV_ECORRUPT, "backup %s: metadata.json names an invalid object '%s'", ce.ts,
                          obj ? obj : "");
    if (!comp || (strcmp(comp, "zstd") != 0 && strcmp(comp, "none") != 0))
        return sv_err_set(err, SV_ECORRUPT, "backup %s: unknown compression '%s'", ce.ts, comp ? comp : "");
    *key = backup_key(ctx->workspace, ce.ts, obj);
    if (!*key) return sv_err_set(err, SV_ENOMEM, "out of memory");
    fo->key = *key;
    fo->require_zstd = strcmp(comp, "zstd") == 0;
    fo->expect_sum = json_string_value(json_object_get(*meta, "checksum"));
    fo->expect_obj_sum = json_string_value(json_object_get(*meta, "compressedChecksum"));
    v = json_object_get(*meta, "databaseSize");
    fo->expect_size = json_is_integer(v) ? json_integer_value(v) : -1;
    v = json_object_get(*meta, "compressedSize");
    fo->expect_obj_size = json_is_integer(v) ? json_integer_value(v) : -1;
    return 0;
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
        if (backup_source(ctx, src->ref, &fo, &key, ts, meta, err) != 0) goto done;
    } else if (src->kind == RESTORE_SRC_OBJECT) {
        fo.key = src->ref;
    } else {
        fo.path = src->ref;
    }
    if (restore_fetch(ctx, &fo, f, err) != 0) goto done;
    job_progress(ctx, "validate", 0, 0);
    t0 = sv_mono_ms(ctx->clock);
    if (restore_validate(f->path, require_tables, val, err) != 0) goto done;
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

/* Emits an event if the runner has a channel; failures are logged, not fatal. */
static void emit(job_ctx *ctx, const char *event, json_t *data)
{
    sv_err e;
    sv_err_clear(&e);
    if (ctx->emit && ctx->emit(ctx->ud, event, data, &e) != 0)
        log_warn(ctx->job_id, ctx->workspace, "unable to emit %s: %s", event, e.msg);
}

/* Clears the pause flag, retrying once; logs if it stays set. */
static bool unpause(job_ctx *ctx)
{
    sv_err e;
    if (!ctx->set_pause) return true;
    for (int i = 0; i < 3; i++) {
        sv_err_clear(&e);
        if (ctx->set_pause(ctx->ud, false, &e) == 0) return true;
        sv_sleep_ms(ctx->clock, 200);
    }
    log_error(ctx->job_id, ctx->workspace, "unable to clear the pause flag: %s", e.msg);
    return false;
}

/* The pre-restore safety backup, run in its own thread.
 *
 * THREAD SAFETY NOTES: the thread gets a job context of its own (plain fields
 * copied, its own store, no runner callbacks); it shares only `stop`
 * (atomic, set by the main thread to cancel) with the main thread, and the
 * main thread reads its results after pthread_join. */
typedef struct safety_job {
    job_ctx ctx;
    const char *live;
    atomic_bool stop;
    backup_outcome out;
    int rc;
    sv_err err;
    int64_t ms;
} safety_job;

/* The safety thread's cancel check. */
static bool safety_cancelled(void *ud) { return atomic_load(&((safety_job *)ud)->stop); }

/* The pre-restore backup of the live database. */
static void *safety_main(void *arg)
{
    safety_job *s = arg;
    backup_params bp = {.workspace = s->ctx.workspace, .backup_type = "pre-restore", .reason = "pre-restore"};
    int64_t t0 = sv_mono_ms(s->ctx.clock);
    sv_err_clear(&s->err);
    bp.db_path = s->live;
    s->rc = backup_take(&s->ctx, &bp, &s->out, &s->err);
    if (s->rc != 0) sv_err_wrap(&s->err, "pre-restore backup");
    s->ms = sv_mono_ms(s->ctx.clock) - t0;
    return NULL;
}

/* Starts the safety thread; *started tells whether it runs. */
static int safety_start(job_ctx *ctx, const char *live, safety_job *s, pthread_t *th, bool *started, sv_err *err)
{
    *started = false;
    /* Only plain fields are copied: every runner callback (progress, fence,
     * emit, pause, and any added later) stays NULL, as the runner's callbacks
     * are not safe to call from a second thread. The pre-restore backup has a
     * folder of its own, so a second writer of it after a takeover is harmless. */
    memset(&s->ctx, 0, sizeof s->ctx);
    s->ctx.cfg = ctx->cfg;
    s->ctx.clock = ctx->clock;
    s->ctx.job_id = ctx->job_id;
    s->ctx.type = ctx->type;
    s->ctx.workspace = ctx->workspace;
    s->ctx.attempt = ctx->attempt;
    s->ctx.opts = ctx->opts;
    s->ctx.cancelled = safety_cancelled;
    s->ctx.ud = s;
    s->ctx.store = NULL;
    s->live = live;
    atomic_store(&s->stop, false);
    if (store_open(ctx->cfg, ctx->clock, &s->ctx.store, err) != 0) return -1;
    if (pthread_create(th, NULL, safety_main, s) != 0) {
        store_free(s->ctx.store);
        s->ctx.store = NULL;
        return sv_err_set(err, SV_ENOMEM, "unable to start the safety backup thread");
    }
    *started = true;
    return 0;
}

/* Deletes a pre-restore backup that is no longer wanted (validation failed):
 * the commit marker first, so a half-deleted one is simply uncommitted. */
static void safety_discard(job_ctx *ctx, safety_job *s)
{
    char *meta = backup_key(ctx->workspace, s->out.ts, "metadata.json");
    char *obj = backup_key(ctx->workspace, s->out.ts, BACKUP_OBJECT);
    sv_err e;
    sv_err_clear(&e);
    if (meta && obj) {
        const char *k1[] = {meta}, *k2[] = {obj};
        if (store_delete_many(ctx->store, k1, 1, &e) != 0 || store_delete_many(ctx->store, k2, 1, &e) != 0)
            log_warn(ctx->job_id, ctx->workspace, "unable to delete the unneeded pre-restore backup %s: %s",
                     s->out.ts, e.msg);
    }
    free(meta);
    free(obj);
}

/* Puts the pre-restore backup back onto the live database after a failed swap. */
static int put_back(job_ctx *ctx, const char *safety_ts, const char *live, sv_err *err)
{
    restore_source rs = {.kind = RESTORE_SRC_BACKUP, .ref = safety_ts};
    restore_fetched rf;
    restore_validated rv;
    char rts[SV_TS_LEN];
    json_t *rmeta = NULL;
    int64_t rms;
    int rc = restore_prepare(ctx, &rs, NULL, &rf, &rv, rts, &rmeta, &rms, err);
    if (rc == 0) rc = restore_swap(rf.path, live, ctx->clock, err);
    restore_fetched_remove(&rf);
    json_decref(rmeta);
    return rc;
}

/* The restore job: opts from, db, require_table. */
int job_restore(job_ctx *ctx, json_t **result, sv_err *err)
{
    const char *from = json_string_value(json_object_get(ctx->opts, "from"));
    const char *dbopt = json_string_value(json_object_get(ctx->opts, "db"));
    const char *req = json_string_value(json_object_get(ctx->opts, "require_table"));
    restore_source src;
    restore_fetched f = {0};
    restore_validated val;
    safety_job *sj = NULL;
    pthread_t th;
    bool sj_running = false;
    json_t *meta = NULL, *ev = NULL;
    char ts[SV_TS_LEN] = "", *live = NULL;
    const char *safety_ts = NULL;
    struct stat sb;
    bool had_db, paused = false, swapped_any = false;
    int64_t t0 = sv_mono_ms(ctx->clock), validate_ms = 0, t_swap = 0, pause_ms = 0;
    int rc = -1, prc;

    *result = NULL;
    if (sv_check_workspace(ctx->workspace, err) != 0) return -1;
    if (restore_parse_from(from, &src, err) != 0) return -1;
    live = dbopt ? sv_strdup(dbopt) : config_db_path(ctx->cfg, ctx->workspace);
    sj = calloc(1, sizeof *sj);
    if (!live || !sj) {
        free(live);
        free(sj);
        return sv_err_set(err, SV_ENOMEM, "out of memory");
    }
    had_db = stat(live, &sb) == 0;
    if (had_db && !S_ISREG(sb.st_mode)) {
        sv_err_set(err, SV_EINVAL, "the live database '%s' is not a regular file", live);
        goto done;
    }

    /* Phase 1 (the live database is not touched), with the safety backup beside it. */
    if (had_db && safety_start(ctx, live, sj, &th, &sj_running, err) != 0) goto done;
    prc = restore_prepare(ctx, &src, req, &f, &val, ts, &meta, &validate_ms, err);
    if (prc != 0 || job_cancelled(ctx)) atomic_store(&sj->stop, true);
    if (sj_running) {
        job_progress(ctx, "safety", 0, 0);
        pthread_join(th, NULL);
        sj_running = false;
    }
    if (prc != 0) {
        if (had_db && sj->rc == 0) safety_discard(ctx, sj);
        goto done;
    }
    log_info(ctx->job_id, ctx->workspace, "restore source validated: %llu bytes, %s (fetch %lld ms, check %lld ms)",
             (unsigned long long)f.size, f.sum, (long long)f.duration_ms, (long long)validate_ms);
    if (job_cancelled(ctx)) {
        sv_err_set(err, SV_ELEASE, "job cancelled before the swap: lease lost or shutting down");
        goto done;
    }
    if (had_db) {
        if (sj->rc != 0) {
            *err = sj->err;
            goto done;
        }
        safety_ts = sj->out.ts;
        log_info(ctx->job_id, ctx->workspace, "pre-restore backup %s committed", safety_ts);
    }

    /* Phase 2: pause, swap, check. The swap is a commit point: fence first. */
    if (job_fence(ctx, err) != 0) goto done;
    if (ctx->set_pause) {
        if (ctx->set_pause(ctx->ud, true, err) != 0) {
            sv_err_wrap(err, "setting the pause flag");
            goto done;
        }
        paused = true;
    }
    pause_ms = sv_mono_ms(ctx->clock);
    ev = json_pack("{s:s, s:s, s:s, s:s?}", "workspace", ctx->workspace, "job", ctx->job_id, "from", from,
                   "safety_backup", safety_ts);
    emit(ctx, "restore.started", ev);
    json_decref(ev);
    ev = NULL;

    job_progress(ctx, "swap", 0, f.size);
    swapped_any = true;
    rc = had_db ? 0 : restore_install_new(f.path, live, err);
    if (rc == 0) rc = restore_swap(f.path, live, ctx->clock, err);
    else if (rc == 1) rc = 0;
    if (rc == 0 && restore_test_fail_swap()) {
        rc = sv_err_set(err, SV_EIO, "injected swap failure (SQLVAULT_TEST_FAIL_SWAP)");
    }
    t_swap = sv_mono_ms(ctx->clock);
    if (rc != 0) {
        sv_err rb;
        bool rolled_back = false;
        sv_err_clear(&rb);
        if (had_db) {
            rolled_back = put_back(ctx, safety_ts, live, &rb) == 0;
            if (!rolled_back)
                log_error(ctx->job_id, ctx->workspace, "putting the pre-restore copy back failed: %s", rb.msg);
        } else {
            remove_db(live);
            rolled_back = true;
        }
        if (rolled_back) sv_err_wrap(err, "swap failed, the previous database was put back");
        else {
            sv_err_wrap(err, "swap failed and putting the previous database back failed too (%s)", rb.msg);
            sv_err_hint(err, "restore the pre-restore backup %s with 'sqlvault restore %s --from %s'", safety_ts,
                        ctx->workspace, safety_ts);
        }
        ev = json_pack("{s:s, s:s, s:s, s:b, s:s?}", "workspace", ctx->workspace, "job", ctx->job_id, "error",
                       err->msg, "rolled_back", rolled_back, "safety_backup", safety_ts);
        rc = -1;
        goto done;
    }
    pause_ms = t_swap - pause_ms;
    job_progress(ctx, "swap", f.size, f.size);
    {
        char iso[SV_ISO_LEN];
        sv_iso_format(sv_now_ms(ctx->clock), iso);
        *result = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:b, s:s, s:i, s:I, s:I, s:s?, s:s?, s:I, s:I, s:I, "
                            "s:I, s:I, s:s}",
                            "workspace", ctx->workspace, "from", from, "db", live, "checksum", f.sum, "size",
                            (json_int_t)f.size, "object_size", (json_int_t)f.object_size, "compressed", f.compressed,
                            "object_checksum", f.obj_sum, "page_size", (int)val.hdr.page_size, "page_count",
                            (json_int_t)val.page_count, "tables", (json_int_t)val.tables, "backup",
                            ts[0] ? ts : NULL, "safety_backup", safety_ts, "fetch_ms", (json_int_t)f.duration_ms,
                            "validate_ms", (json_int_t)validate_ms, "safety_ms", (json_int_t)sj->ms, "pause_ms",
                            (json_int_t)pause_ms, "durationMs", (json_int_t)(sv_mono_ms(ctx->clock) - t0),
                            "restoredAt", iso);
    }
    if (!*result) {
        rc = sv_err_set(err, SV_ENOMEM, "out of memory");
        goto done;
    }
    rc = 0;
done:
    if (sj_running) {
        atomic_store(&sj->stop, true);
        pthread_join(th, NULL);
    }
    if (paused) {
        bool cleared = unpause(ctx);
        if (rc == 0) json_object_set_new(*result, "pause_cleared", json_boolean(cleared));
    }
    if (swapped_any) {
        if (rc == 0) {
            ev = json_pack("{s:s, s:s, s:s, s:s, s:s?}", "workspace", ctx->workspace, "job", ctx->job_id, "from",
                           from, "checksum", f.sum, "safety_backup", safety_ts);
            emit(ctx, "restore.completed", ev);
        } else emit(ctx, "restore.failed", ev);
    }
    json_decref(ev);
    if (rc == 0)
        log_info(ctx->job_id, ctx->workspace, "restored from %s (%llu bytes, paused %lld ms)", from,
                 (unsigned long long)f.size, (long long)pause_ms);
    restore_fetched_remove(&f);
    json_decref(sj->out.metadata);
    store_free(sj->ctx.store);
    free(sj);
    json_decref(meta);
    free(live);
    return rc;
}
