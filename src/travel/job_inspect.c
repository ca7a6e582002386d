/* job_inspect.c -- the inspect job (travel.h): what a point of the
 * workspace's backups, the live workspace or an uploaded file holds, without
 * restoring anything. Options: "at" (latest, a backup time, an ISO time,
 * "live" or "object:KEY"), "file" (a LiveStore store backup's file). The
 * result: {source, backup, at, backupType, chainLength, size, pageSize,
 * pageCount, tables [{name, rows}], livestore {head, events} | null,
 * fetched {requests, bytes}}. Takes no workspace lock: it writes nothing. */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "job.h"
#include "livestore.h"
#include "restore.h"
#include "snapshot.h"
#include "sqlerr.h"
#include "travel.h"
#include "travel_vfs.h"
#include "util.h"

/* Opens a file we own (an upload, a copy) read-only and hardened. */
static int open_file(const char *path, sqlite3 **db, sv_err *err)
{
    char *uri = sv_asprintf("file:%s?immutable=1", path);
    int rc;
    *db = NULL;
    if (!uri) return sv_err_set(err, SV_ENOMEM, "out of memory");
    rc = sqlite3_open_v2(uri, db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX, NULL);
    free(uri);
    if (rc == SQLITE_OK) {
        sv_sqlite_harden(*db);
        rc = sqlite3_exec(*db, "PRAGMA query_only=ON; PRAGMA trusted_schema=OFF; PRAGMA cell_size_check=ON;", NULL,
                          NULL, NULL);
    }
    if (rc != SQLITE_OK) {
        sv_err_set(err, SV_ECORRUPT, "the file does not open as a database: %s",
                   *db ? sqlite3_errmsg(*db) : sqlite3_errstr(rc));
        sqlite3_close(*db);
        *db = NULL;
        return -1;
    }
    return 0;
}

/* Fails with a page read error the statements went past (SQLite may report
 * one as a result instead of failing), or returns 0. */
static int read_errors(sv_err *err)
{
    const sv_err *ve = travel_vfs_error();
    if (ve->code == SV_OK) return 0;
    *err = *ve;
    return -1;
}

/* A point of the backups: the state (or only) file, and a store's event log. */
static int inspect_point(job_ctx *ctx, const char *at, const char *file, json_t *out, sv_err *err)
{
    travel_opts o = {.cfg = ctx->cfg, .clock = ctx->clock, .store = ctx->store, .ws = ctx->workspace, .at = at,
                     .file = file};
    travel_point *p = NULL, *pe = NULL;
    sqlite3 *db = NULL, *dbe = NULL;
    json_t *meta, *ev = NULL;
    uint64_t r1 = 0, b1 = 0, r2 = 0, b2 = 0;
    bool store_backup;
    int rc = -1;
    if (travel_open(&o, &p, err) != 0) goto done;
    meta = travel_meta(p);
    store_backup = json_object_get(meta, "livestore") && !json_is_null(json_object_get(meta, "livestore")) &&
                   json_array_size(travel_files(p)) > 1;
    if (store_backup && !file) { /* a LiveStore store: tables from the state file, events from the event log */
        travel_close(p);
        o.file = "state";
        if (travel_open(&o, &p, err) != 0) goto done;
        o.file = "eventlog";
        if (travel_open(&o, &pe, err) != 0) goto done;
        meta = travel_meta(p);
    }
    if (travel_sqlite_open(p, &db, err) != 0) goto done;
    if (travel_describe(db, store_backup ? NULL : json_object_get(meta, "tables"), out, err) != 0 ||
        read_errors(err) != 0)
        goto done;
    if (pe) {
        if (travel_sqlite_open(pe, &dbe, err) != 0 || travel_events(dbe, &ev, err) != 0 || read_errors(err) != 0)
            goto done;
        json_object_set_new(out, "livestore", ev);
    }
    json_object_set_new(out, "source", json_string("backup"));
    json_object_set_new(out, "backup", json_string(travel_ts(p)));
    json_object_set(out, "at", json_object_get(meta, "timestamp"));
    json_object_set(out, "backupType", json_object_get(meta, "backupType"));
    json_object_set_new(out, "chainLength", json_integer((json_int_t)travel_chain_length(p)));
    rc = 0;
done:
    sqlite3_close(db);
    sqlite3_close(dbe);
    if (p) travel_counters(p, &r1, &b1);
    if (pe) travel_counters(pe, &r2, &b2);
    json_object_set_new(out, "fetched", json_pack("{s:I, s:I}", "requests", (json_int_t)(r1 + r2), "bytes",
                                                  (json_int_t)(b1 + b2)));
    travel_close(p);
    travel_close(pe);
    return rc;
}

/* The live workspace: a snapshot's read transaction (a single file), or a
 * consistent copy of a LiveStore store's files. */
static int inspect_live(job_ctx *ctx, json_t *out, sv_err *err)
{
    const sv_config *cfg = ctx->cfg;
    ls_shape shape = livestore_shape(cfg->data_dir, ctx->workspace);
    char *path = NULL;
    int rc = -1;
    json_object_set_new(out, "source", json_string("live"));
    json_object_set_new(out, "backup", json_null());
    json_object_set_new(out, "at", json_null());
    json_object_set_new(out, "backupType", json_null());
    json_object_set_new(out, "chainLength", json_null());
    json_object_set_new(out, "fetched", json_pack("{s:i, s:i}", "requests", 0, "bytes", 0));
    if (shape == LS_SHAPE_STORE) {
        char *dir = sv_asprintf("%s/%s", cfg->data_dir, ctx->workspace);
        ls_copy lc = {0};
        ls_copy_opts lo = {.clock = ctx->clock, .max_size = cfg->max_db_size, .max_tries = 5, .backoff_ms = 50,
                           .backoff_max_ms = 1000};
        sqlite3 *db = NULL;
        json_t *ev = NULL;
        if (!dir) return sv_err_set(err, SV_ENOMEM, "out of memory");
        rc = livestore_copy_take(dir, cfg->tmp_dir, &lo, &lc, err);
        free(dir);
        if (rc != 0) return -1;
        rc = -1;
        for (int i = 0; i < lc.n; i++) {
            bool is_log = strncmp(lc.name[i], "eventlog", 8) == 0;
            if (travel_sqlite_open_fd(lc.snap[i].fd, &db, err) != 0) goto store_done;
            if (is_log) {
                if (travel_events(db, &ev, err) != 0) goto store_done;
                if (lc.n == 1) json_object_set_new(out, "tables", json_array());
            } else if (travel_describe(db, NULL, out, err) != 0) {
                goto store_done;
            }
            sqlite3_close(db);
            db = NULL;
        }
        json_object_set_new(out, "livestore", ev ? ev : json_null());
        ev = NULL;
        rc = 0;
    store_done:
        sqlite3_close(db);
        json_decref(ev);
        livestore_copy_release(&lc);
        return rc;
    }
    {
        snapshot_info snap = {0};
        path = sv_asprintf("%s/%s/livestore.db", cfg->data_dir, ctx->workspace);
        if (!path) return sv_err_set(err, SV_ENOMEM, "out of memory");
        if (snapshot_take(path, cfg->tmp_dir, ctx->clock, cfg->max_db_size, true, &snap, err) == 0) {
            sqlite3 *db = snap.direct ? (sqlite3 *)snap.hold : NULL;
            if (!db && travel_sqlite_open_fd(snap.fd, &db, err) != 0) goto file_done;
            rc = travel_describe(db, NULL, out, err);
            if (!snap.direct) sqlite3_close(db);
        file_done:
            snapshot_release(&snap);
        }
    }
    free(path);
    return rc;
}

/* An uploaded file in the store (an import's object): fetched to a
 * temporary file as a restore fetches it, then read. */
static int inspect_object(job_ctx *ctx, const char *key, json_t *out, sv_err *err)
{
    restore_fetch_opts fo = {0};
    restore_fetched f = {0};
    sqlite3 *db = NULL;
    int rc = -1;
    if (ctx->queued && restore_scope_key(ctx, key, NULL, err) != 0) return -1;
    fo.store = ctx->store;
    fo.key = key;
    fo.tmp_dir = ctx->cfg->tmp_dir;
    fo.max_size = ctx->cfg->max_db_size;
    fo.expect_size = -1;
    fo.expect_obj_size = -1;
    if (restore_fetch(ctx, &fo, &f, err) != 0) return -1;
    if (open_file(f.path, &db, err) == 0 && travel_describe(db, NULL, out, err) == 0) rc = 0;
    sqlite3_close(db);
    json_object_set_new(out, "source", json_string("object"));
    json_object_set_new(out, "backup", json_null());
    json_object_set_new(out, "at", json_null());
    json_object_set_new(out, "backupType", json_null());
    json_object_set_new(out, "chainLength", json_null());
    json_object_set_new(out, "fetched", json_pack("{s:i, s:I}", "requests", 1, "bytes", (json_int_t)f.object_size));
    restore_fetched_remove(&f);
    return rc;
}

int job_inspect(job_ctx *ctx, json_t **result, sv_err *err)
{
    const char *at = json_string_value(json_object_get(ctx->opts, "at"));
    const char *file = json_string_value(json_object_get(ctx->opts, "file"));
    json_t *out = json_object();
    int rc;
    *result = NULL;
    if (!out) return sv_err_set(err, SV_ENOMEM, "out of memory");
    if (!ctx->workspace) {
        json_decref(out);
        return sv_err_set(err, SV_EINVAL, "inspect needs a workspace");
    }
    if (!at || !*at) at = "latest";
    if (strcmp(at, "live") == 0) rc = inspect_live(ctx, out, err);
    else if (strncmp(at, "object:", 7) == 0) rc = inspect_object(ctx, at + 7, out, err);
    else rc = inspect_point(ctx, at, file, out, err);
    if (rc != 0) {
        json_decref(out);
        return -1;
    }
    json_object_set_new(out, "workspace", json_string(ctx->workspace));
    *result = out;
    return 0;
}
