/* export.c -- the export and import-url jobs: presigned URLs in and out.
 *
 * export takes a fresh backup whose pipeline also tees the plain database to
 * exports/WS/JOB/WS-TS.db (format db), or points at the backup's own .zst
 * (format zst), and presigns a GET with an attachment file name. import-url
 * presigns a PUT for uploads/WS/ID.db; the upload is then restored with
 * --from object:KEY, which validates it like any other source. On a file://
 * store the "URL" is the file's path. */
#include <stdlib.h>
#include <string.h>
#include "backup.h"
#include "livestore.h"
#include "log.h"
#include "restore.h"
#include "util.h"

#define MAX_TTL_S (7 * 24 * 3600) /* SigV4 presigned URLs live at most 7 days */

/* Reads opts.ttl (seconds, or a duration like 1h) with a default. */
static int opts_ttl(job_ctx *ctx, int64_t deflt, int64_t *out, sv_err *err)
{
    json_t *v = json_object_get(ctx->opts, "ttl");
    int64_t ms;
    *out = deflt;
    if (!v || json_is_null(v)) return 0;
    if (json_is_integer(v)) ms = json_integer_value(v) * 1000;
    else if (!json_is_string(v) || sv_parse_duration_ms(json_string_value(v), &ms, err) != 0)
        return sv_err_set(err, SV_EINVAL, "invalid --ttl (seconds, or a duration like 15m)");
    if (ms < 1000 || ms > (int64_t)MAX_TTL_S * 1000)
        return sv_err_set(err, SV_EINVAL, "--ttl must be between 1 s and 7 days");
    *out = ms / 1000;
    return 0;
}

/* The export job: opts db, format (db|zst), ttl. */
int job_export(job_ctx *ctx, json_t **result, sv_err *err)
{
    const char *fmt = json_string_value(json_object_get(ctx->opts, "format"));
    const char *dbopt = json_string_value(json_object_get(ctx->opts, "db"));
    backup_params bp = {0};
    backup_outcome out = {0};
    char ts[SV_TS_LEN], iso[SV_ISO_LEN];
    char *db = NULL, *key = NULL, *filename = NULL, *cd = NULL, *url = NULL;
    bool zst;
    int64_t ttl, now;
    json_t *m;
    int rc = -1;

    *result = NULL;
    if (sv_check_workspace(ctx->workspace, err) != 0) return -1;
    if (fmt && strcmp(fmt, "db") != 0 && strcmp(fmt, "zst") != 0)
        return sv_err_set(err, SV_EINVAL, "invalid --format '%s' (db or zst)", fmt);
    zst = fmt && strcmp(fmt, "zst") == 0;
    if (zst && ctx->cfg->encryption_key_file) {
        sv_err_set(err, SV_EINVAL, "--format zst hands out the stored object, which is encrypted");
        return sv_err_hint(err, "use --format db: the export is decrypted into a plain database");
    }
    if (opts_ttl(ctx, ctx->cfg->export_ttl_s, &ttl, err) != 0) return -1;
    if (!sv_valid_id(ctx->job_id)) return sv_err_set(err, SV_EINVAL, "invalid job id");
    if (dbopt && restore_scope_path(ctx, dbopt, "db", NULL, err) != 0) return -1;
    db = dbopt ? sv_strdup(dbopt) : config_db_path(ctx->cfg, ctx->workspace);
    if (!db) return sv_err_set(err, SV_ENOMEM, "out of memory");
    if (!dbopt && livestore_shape(ctx->cfg->data_dir, ctx->workspace) == LS_SHAPE_STORE) {
        /* A LiveStore store exports its event log (docs/LIVESTORE.md): one SQLite
         * file, the source of truth, which an import restores event-log-only. */
        free(db);
        db = sv_asprintf("%s/%s", ctx->cfg->data_dir, ctx->workspace);
        if (!db) return sv_err_set(err, SV_ENOMEM, "out of memory");
        bp.store_dir = db;
    }
    /* One time, the snapshot's, for the backup folder and the export's name
     * (an explicit opts.ts labels both, for tests). */
    if (backup_opts_ts(ctx->opts, &bp.ts_ms, err) != 0) goto done;
    bp.workspace = ctx->workspace;
    bp.db_path = db;
    bp.backup_type = "full";
    bp.reason = "export";
    bp.user_id = json_string_value(json_object_get(ctx->opts, "user_id"));
    bp.export_plain = !zst;
    bp.once = true;
    if (backup_take(ctx, &bp, &out, err) != 0) goto done;
    memcpy(ts, out.ts, sizeof ts);
    filename = sv_asprintf("%s-%s.db%s", ctx->workspace, ts, zst ? ".zst" : "");
    key = zst ? backup_key(ctx->workspace, ts, bp.store_dir ? BACKUP_EVENTLOG_OBJECT : BACKUP_OBJECT)
              : sv_strdup(out.export_key);
    cd = filename ? sv_asprintf("attachment; filename=\"%s\"", filename) : NULL;
    if (!filename || !key || !cd) {
        sv_err_set(err, SV_ENOMEM, "out of memory");
        goto done;
    }
    job_progress(ctx, "presign", 0, 0);
    if (store_presign(ctx->store, "GET", key, ttl, cd, &url, err) != 0) goto done;
    now = sv_now_ms(ctx->clock);
    sv_iso_format(now + ttl * 1000, iso);
    m = out.metadata;
    /* The plain file's own sha256 (an encrypted backup's metadata holds it
     * keyed; the export is plaintext anyway, so its digest tells nothing). */
    if (!zst && out.db_sum[0]) json_object_set_new(m, "checksum", json_string(out.db_sum));
    *result = json_pack("{s:s, s:s, s:O?, s:O?, s:s, s:s, s:s, s:s, s:I, s:O?, s:O?}", "url", url, "expires_at",
                        iso, "size", json_object_get(m, zst ? "compressedSize" : "databaseSize"), "checksum",
                        json_object_get(m, zst ? "compressedChecksum" : "checksum"), "filename", filename, "key", key,
                        "format", zst ? "zst" : "db", "backup", out.ts, "ttl", (json_int_t)ttl, "databaseSize",
                        json_object_get(m, "databaseSize"), "databaseChecksum", json_object_get(m, "checksum"));
    if (!*result) {
        sv_err_set(err, SV_ENOMEM, "out of memory");
        goto done;
    }
    log_info(ctx->job_id, ctx->workspace, "export %s ready (backup %s, url valid %lld s)", key, out.ts,
             (long long)ttl);
    rc = 0;
done:
    backup_outcome_clear(&out);
    free(db);
    free(key);
    free(filename);
    free(cd);
    free(url);
    return rc;
}

/* The import-url job: opts ttl. */
int job_import_url(job_ctx *ctx, json_t **result, sv_err *err)
{
    char id[33], iso[SV_ISO_LEN];
    char *key = NULL, *url = NULL, *cmd = NULL;
    int64_t ttl;
    int rc = -1;

    *result = NULL;
    if (sv_check_workspace(ctx->workspace, err) != 0) return -1;
    if (opts_ttl(ctx, 3600, &ttl, err) != 0) return -1;
    sv_random_id(ctx->clock, id);
    key = sv_asprintf("uploads/%s/%s.db", ctx->workspace, id);
    cmd = key ? sv_asprintf("sqlvault restore %s --from object:%s", ctx->workspace, key) : NULL;
    if (!key || !cmd) {
        sv_err_set(err, SV_ENOMEM, "out of memory");
        goto done;
    }
    if (store_presign(ctx->store, "PUT", key, ttl, NULL, &url, err) != 0) goto done;
    if (url[0] == '/') {
        /* A file:// store: the "URL" is a path; make its folder so a plain cp works. */
        char *dir = sv_strdup(url), *slash = dir ? strrchr(dir, '/') : NULL;
        if (slash) *slash = '\0';
        if (dir && sv_mkdirs(dir, err) != 0) {
            free(dir);
            goto done;
        }
        free(dir);
    }
    sv_iso_format(sv_now_ms(ctx->clock) + ttl * 1000, iso);
    *result = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:s}", "url", url, "method", "PUT", "key", key,
                        "expires_at", iso, "from", cmd + strlen(cmd) - strlen(key) - 7, "ttl", (json_int_t)ttl, "restore_command", cmd);
    if (!*result) {
        sv_err_set(err, SV_ENOMEM, "out of memory");
        goto done;
    }
    rc = 0;
done:
    free(key);
    free(url);
    free(cmd);
    return rc;
}
