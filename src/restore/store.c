/* store.c -- restoring a LiveStore store (livestore.h): the event log and
 * its matching state file go back together, or the event log alone.
 *
 * Phase 1 never touches the live store: every file of the source is fetched
 * into a temporary file (checked against metadata.json's per-file sizes and
 * checksums) and validated: the event log by livestore_check_eventlog
 * (integrity, LiveStore's table shape, gap-free sequence numbers), a state
 * file by restore_validate (integrity).
 *
 * Phase 2 runs under the pause protocol (docs/PROTOCOL.md): the pause flag is
 * set and restore.started emitted; the Node server shuts the store down
 * (after isSynced) and acks; then the job takes the pre-restore safety
 * backup of the now quiet store, and installs: first every state file and
 * every -journal of the store is removed (LiveStore trusts any state file it
 * finds, and would roll an old journal back into the new file), then the
 * event log is renamed into place, then the state file. A crash between the
 * steps leaves an event log without a state file, which LiveStore rebuilds
 * from the log: never a state file from another moment than its log. Then
 * the flag is cleared and restore.completed emitted (restore.failed on a
 * failure after restore.started).
 *
 * Event-log-only (opts eventlog_only, `--eventlog-only`): the state file is
 * not restored and every state file is removed, so LiveStore rebuilds the
 * state from the event log when it reopens the store. Use it when the
 * application's schema changed since the backup: the backup's state file
 * then has another schema's name and LiveStore would ignore it anyway (and a
 * leftover state file of the current schema would be trusted). A bare event
 * log as the source (an export, an upload) is always restored this way. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "backup.h"
#include "catalog.h"
#include "internal.h"
#include "livestore.h"
#include "log.h"
#include "restore.h"
#include "util.h"

/* A store file name we are willing to write: eventlog@N.db or state...@N.db, no path. */
static bool safe_name(const char *n)
{
    size_t l = n ? strlen(n) : 0;
    if (l < 6 || l > 200 || strchr(n, '/') || n[0] == '.' || strcmp(n + l - 3, ".db") != 0 || !strchr(n, '@'))
        return false;
    return strncmp(n, "eventlog@", 9) == 0 || strncmp(n, "state", 5) == 0;
}

/* The files to restore, fetched and validated. */
typedef struct rs_file {
    char *name;            /* store file name, heap */
    restore_fetched f;
} rs_file;

/* Emits an event; failures are logged. */
static void emit_ev(job_ctx *ctx, const char *event, json_t *data)
{
    sv_err e;
    sv_err_clear(&e);
    if (ctx->emit && ctx->emit(ctx->ud, event, data, &e) != 0)
        log_warn(ctx->job_id, ctx->workspace, "unable to emit %s: %s", event, e.msg);
}

/* Fetches the backup's files (metadata.json "files") into out[]. */
static int fetch_backup(job_ctx *ctx, const char *ws, const char *at, bool exact, rs_file *out, int *n,
                        char ts[SV_TS_LEN], sv_err *err)
{
    catalog_entry ce, *all = NULL;
    json_t *meta = NULL, *files;
    size_t i, nall = 0;
    int rc = -1;
    *n = 0;
    /* exact: the backup recorded on the job, never an older one */
    if (catalog_list(ctx->store, ws, &all, &nall, err) != 0) return -1;
    if (catalog_pick(all, nall, ws, at, exact, &i, err) != 0) {
        free(all);
        return -1;
    }
    ce = all[i];
    free(all);
    memcpy(ts, ce.ts, SV_TS_LEN);
    if (catalog_read_meta(ctx->store, ws, ce.ts, &meta, err) != 0) return -1;
    files = json_object_get(meta, "files");
    if (!json_is_array(files) || json_array_size(files) < 1 || json_array_size(files) > LS_MAX_FILES ||
        !json_object_get(meta, "livestore")) {
        sv_err_set(err, SV_EINVAL, "backup %s is not a LiveStore store backup", ce.ts);
        goto done;
    }
    for (i = 0; i < json_array_size(files); i++) {
        json_t *e = json_array_get(files, i);
        const char *name = json_string_value(json_object_get(e, "name"));
        const char *obj = json_string_value(json_object_get(e, "object"));
        char *key;
        restore_fetch_opts fo = {.store = ctx->store, .tmp_dir = ctx->cfg->tmp_dir,
                                 .max_size = ctx->cfg->max_db_size, .require_zstd = true};
        if (!safe_name(name) || !obj || !*obj || strchr(obj, '/') || strstr(obj, "..")) {
            sv_err_set(err, SV_ECORRUPT, "backup %s: metadata.json names an invalid file", ce.ts);
            goto done;
        }
        if (i == 0 && strncmp(name, "eventlog@", 9) != 0) {
            sv_err_set(err, SV_ECORRUPT, "backup %s: the first file is not the event log", ce.ts);
            goto done;
        }
        fo.encrypted = json_object_get(meta, "encryption") && !json_is_null(json_object_get(meta, "encryption"));
        fo.expect_sum = json_string_value(json_object_get(e, "checksum"));
        fo.expect_obj_sum = json_string_value(json_object_get(e, "compressedChecksum"));
        fo.expect_size = json_is_integer(json_object_get(e, "size")) ? json_integer_value(json_object_get(e, "size")) : -1;
        fo.expect_obj_size = json_is_integer(json_object_get(e, "compressedSize"))
                                 ? json_integer_value(json_object_get(e, "compressedSize"))
                                 : -1;
        key = backup_key(ws, ce.ts, obj);
        out[i].name = sv_strdup(name);
        if (!key || !out[i].name) {
            free(key);
            sv_err_set(err, SV_ENOMEM, "out of memory");
            goto done;
        }
        fo.key = key;
        (*n)++;
        rc = restore_fetch(ctx, &fo, &out[i].f, err);
        free(key);
        if (rc != 0) {
            sv_err_wrap(err, "%s", name);
            rc = -1;
            goto done;
        }
        rc = -1;
    }
    rc = 0;
done:
    json_decref(meta);
    return rc;
}

/* fsyncs a file by path. */
static int fsync_path(const char *path, sv_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) != 0) {
        int e = errno;
        if (fd >= 0) close(fd);
        return sv_err_set(err, SV_EIO, "fsync %s: %s", path, strerror(e));
    }
    close(fd);
    return 0;
}

/* Copies src to dst (a new file), fsynced. */
static int copy_file(const char *src, const char *dst, sv_err *err)
{
    char buf[1 << 16];
    int in = open(src, O_RDONLY | O_CLOEXEC), out = -1, rc = -1;
    ssize_t n;
    if (in < 0) return sv_err_set(err, SV_EIO, "open %s: %s", src, strerror(errno));
    out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out < 0) {
        sv_err_set(err, SV_EIO, "create %s: %s", dst, strerror(errno));
        goto done;
    }
    while ((n = read(in, buf, sizeof buf)) > 0) {
        if (sv_write_all(out, buf, (size_t)n) != 0) {
            sv_err_set(err, errno == ENOSPC ? SV_ENOSPC : SV_EIO, "write %s: %s", dst, strerror(errno));
            goto done;
        }
    }
    if (n < 0 || fsync(out) != 0) {
        sv_err_set(err, SV_EIO, "copy to %s: %s", dst, strerror(errno));
        goto done;
    }
    rc = 0;
done:
    if (out >= 0) close(out);
    close(in);
    if (rc != 0) unlink(dst);
    return rc;
}

/* Puts tmp at dir/name: a staged copy next to it, then rename (atomic). */
static int place(const char *tmp, const char *dir, const char *name, sv_err *err)
{
    char *stage = sv_asprintf("%s/.%s.sqlvault-new", dir, name), *dst = sv_asprintf("%s/%s", dir, name);
    int rc = -1;
    if (!stage || !dst) {
        sv_err_set(err, SV_ENOMEM, "out of memory");
        goto done;
    }
    if (rename(tmp, stage) != 0) { /* another filesystem: copy */
        if (copy_file(tmp, stage, err) != 0) goto done;
        unlink(tmp);
    } else if (fsync_path(stage, err) != 0) {
        goto done;
    }
    chmod(stage, 0644);
    if (rename(stage, dst) != 0) {
        sv_err_set(err, SV_EIO, "rename into %s: %s", dst, strerror(errno));
        unlink(stage);
        goto done;
    }
    rc = 0;
done:
    free(stage);
    free(dst);
    return rc;
}

/* Removes every state file and every -journal of the store in dir. */
static int clear_store(const char *dir, int *removed, sv_err *err)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    *removed = 0;
    if (!d) return errno == ENOENT ? 0 : sv_err_set(err, SV_EIO, "list %s: %s", dir, strerror(errno));
    while ((de = readdir(d)) != NULL) {
        size_t l = strlen(de->d_name);
        bool journal = l > 8 && strcmp(de->d_name + l - 8, "-journal") == 0 &&
                       (strncmp(de->d_name, "eventlog@", 9) == 0 || strncmp(de->d_name, "state", 5) == 0);
        bool state = safe_name(de->d_name) && strncmp(de->d_name, "state", 5) == 0;
        if (journal || state) {
            char *p = sv_asprintf("%s/%s", dir, de->d_name);
            if (p && unlink(p) == 0 && state) (*removed)++;
            free(p);
        }
    }
    closedir(d);
    return 0;
}

/* True when this restore is a store restore (see restore.h). */
bool restore_is_store(job_ctx *ctx, const restore_source *src)
{
    if (json_object_get(ctx->opts, "db")) return false;
    if (livestore_shape(ctx->cfg->data_dir, ctx->workspace) == LS_SHAPE_STORE) return true;
    if (livestore_shape(ctx->cfg->data_dir, ctx->workspace) == LS_SHAPE_FILE) return false;
    if (src->kind == RESTORE_SRC_FILE) return livestore_is_eventlog(src->ref);
    if (src->kind == RESTORE_SRC_BACKUP) {
        catalog_entry ce;
        json_t *meta = NULL;
        sv_err e;
        bool store = false;
        const char *ws = src->ws ? src->ws : ctx->workspace;
        if (catalog_find(ctx->store, ws, src->ref, &ce, &e) == 0 && catalog_read_meta(ctx->store, ws, ce.ts, &meta, &e) == 0)
            store = json_object_get(meta, "livestore") != NULL;
        json_decref(meta);
        return store;
    }
    return false;
}

/* The restore job for a LiveStore store (see above). */
int restore_store(job_ctx *ctx, const restore_source *src, json_t **result, sv_err *err)
{
    const char *from = json_string_value(json_object_get(ctx->opts, "from"));
    bool log_only = json_is_true(json_object_get(ctx->opts, "eventlog_only"));
    rs_file files[LS_MAX_FILES] = {0};
    int n = 0, listeners = 0, removed = 0, rc = -1, format = 6;
    bool paused = false, acked = false, started = false, had_store;
    char ts[SV_TS_LEN] = "", *dir = NULL;
    int64_t t0 = sv_mono_ms(ctx->clock), events = 0, head = 0, pause_ms = 0;
    backup_outcome safety = {0};
    json_t *ev = NULL;

    *result = NULL;
    dir = sv_asprintf("%s/%s", ctx->cfg->data_dir, ctx->workspace);
    if (!dir) return sv_err_set(err, SV_ENOMEM, "out of memory");
    had_store = livestore_shape(ctx->cfg->data_dir, ctx->workspace) == LS_SHAPE_STORE;
    if (had_store) {
        ls_files fl;
        if (livestore_files(dir, &fl, err) != 0) goto done;
        format = fl.format;
        livestore_files_free(&fl);
    }

    /* Phase 1: fetch and validate; the live store is not touched. */
    job_progress(ctx, "download", 0, 0);
    if (src->kind == RESTORE_SRC_BACKUP) {
        if (fetch_backup(ctx, src->ws ? src->ws : ctx->workspace, src->ref, src->exact, files, &n, ts, err) != 0) goto done;
    } else {
        restore_fetch_opts fo = {.store = ctx->store, .tmp_dir = ctx->cfg->tmp_dir, .max_size = ctx->cfg->max_db_size,
                                 .expect_size = -1, .expect_obj_size = -1};
        if (src->kind == RESTORE_SRC_OBJECT) fo.key = src->ref;
        else fo.path = src->ref;
        files[0].name = sv_asprintf("eventlog@%d.db", format);
        if (!files[0].name) {
            sv_err_set(err, SV_ENOMEM, "out of memory");
            goto done;
        }
        n = 1;
        if (restore_fetch(ctx, &fo, &files[0].f, err) != 0) goto done;
        log_only = true;
    }
    job_progress(ctx, "validate", 0, 0);
    if (livestore_check_eventlog(files[0].f.path, &events, &head, err) != 0) goto done;
    if (n > 1 && !log_only) {
        restore_validated val;
        if (restore_validate(files[1].f.path, NULL, &val, err) != 0) {
            sv_err_wrap(err, "the state file %s", files[1].name);
            goto done;
        }
    }
    if (log_only) n = 1;
    log_info(ctx->job_id, ctx->workspace, "store restore source validated: %lld events%s", (long long)events,
             log_only ? ", event log only" : "");
    if (job_cancelled(ctx)) {
        sv_err_set(err, SV_ELEASE, "job cancelled before the swap: lease lost or shutting down");
        goto done;
    }

    /* Phase 2: pause, safety backup of the quiet store, install. */
    if (restore_pause_begin(ctx, &paused, err) != 0) goto done;
    pause_ms = sv_mono_ms(ctx->clock);
    ev = json_pack("{s:s, s:s, s:s}", "workspace", ctx->workspace, "job", ctx->job_id, "from", from);
    emit_ev(ctx, "restore.started", ev);
    json_decref(ev);
    ev = NULL;
    started = true;
    if (restore_wait_acks(ctx, ctx->cfg->pause_timeout_ms, &acked, &listeners, err) != 0) goto done;
    if (had_store) {
        backup_params bp = {.workspace = ctx->workspace, .db_path = dir, .store_dir = dir,
                            .backup_type = "pre-restore", .reason = "pre-restore"};
        job_progress(ctx, "safety", 0, 0);
        if (backup_take(ctx, &bp, &safety, err) != 0) {
            sv_err_wrap(err, "pre-restore backup of the store");
            goto done;
        }
    }
    if (job_fence(ctx, err) != 0) goto done;
    job_progress(ctx, "swap", 0, 0);
    if (sv_mkdirs(dir, err) != 0 || clear_store(dir, &removed, err) != 0) goto done;
    for (int i = 0; i < n; i++) {
        if (place(files[i].f.path, dir, files[i].name, err) != 0) goto done;
        free(files[i].f.path); /* moved (or copied: removed below) */
        files[i].f.path = NULL;
    }
    if (sv_fsync_dir(dir, err) != 0) goto done;
    pause_ms = sv_mono_ms(ctx->clock) - pause_ms;
    {
        json_t *names = json_array();
        for (int i = 0; i < n; i++) json_array_append_new(names, json_string(files[i].name));
        *result = json_pack("{s:s, s:s, s:s, s:s, s:o, s:b, s:I, s:I, s:i, s:s?, s:s?, s:i, s:b, s:I, s:I}",
                            "workspace", ctx->workspace, "shape", "store", "from", from, "store_dir", dir, "files",
                            names, "eventlog_only", log_only, "events", (json_int_t)events, "head", (json_int_t)head,
                            "state_files_removed", removed, "backup", ts[0] ? ts : NULL, "safety_backup",
                            had_store ? safety.ts : NULL, "pause_listeners", listeners, "pause_acked", acked,
                            "pause_ms", (json_int_t)pause_ms, "durationMs",
                            (json_int_t)(sv_mono_ms(ctx->clock) - t0));
    }
    if (!*result) {
        sv_err_set(err, SV_ENOMEM, "out of memory");
        goto done;
    }
    rc = 0;
done:
    if (paused && ctx->set_pause) {
        sv_err e;
        sv_err_clear(&e);
        if (ctx->set_pause(ctx->ud, false, &e) != 0)
            log_error(ctx->job_id, ctx->workspace, "unable to clear the pause flag: %s", e.msg);
    }
    if (started) {
        if (rc == 0) ev = json_pack("{s:s, s:s, s:s}", "workspace", ctx->workspace, "job", ctx->job_id, "from", from);
        else ev = json_pack("{s:s, s:s, s:s, s:s?}", "workspace", ctx->workspace, "job", ctx->job_id, "error",
                            err->msg, "safety_backup", had_store && safety.ts[0] ? safety.ts : NULL);
        emit_ev(ctx, rc == 0 ? "restore.completed" : "restore.failed", ev);
        json_decref(ev);
    }
    for (int i = 0; i < LS_MAX_FILES; i++) {
        restore_fetched_remove(&files[i].f);
        free(files[i].name);
    }
    json_decref(safety.metadata);
    free(dir);
    return rc;
}
