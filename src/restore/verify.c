/* verify.c -- the restore drill: a committed backup downloaded, decompressed,
 * checked against both checksums and integrity-checked, exactly as a restore
 * would, and timed; the verdict goes to verify.json next to metadata.json.
 *
 * verify.json: {"ok": true|false, "verifiedAt": ISO, "durationMs": N,
 * "checksum": "sha256:...", "error": null|"...", ...}. Only a verdict about
 * the backup itself is recorded: a damaged object, a checksum mismatch or a
 * missing object make ok:false; a network or local failure (retryable, or
 * our own disk) records nothing, so a flaky link never marks a good backup
 * bad. Neither does our own size cap: a backup larger than
 * SQLVAULT_MAX_DB_SIZE (lowered since it was taken) is not verified and
 * keeps its past verdict. Readers count a backup as verified only when ok
 * is true.
 *
 * A verify holds the workspace's lock shared; prune takes it exclusively, so
 * a backup is never deleted while it is verified, and the verdict is written
 * (after a lease fence) while the backup is still there. */
#include <stdlib.h>
#include <string.h>
#include "backup.h"
#include "catalog.h"
#include "internal.h"
#include "log.h"
#include "restore.h"
#include "replica.h"
#include "util.h"

/* True when an error is a verdict on the backup rather than on our ability to read it. */
static bool is_verdict(sv_code c)
{
    return c == SV_ECORRUPT || c == SV_ECHECKSUM || c == SV_ETOOBIG || c == SV_ENOTFOUND;
}

/* Writes verify.json for one backup. */
static int write_verify(job_ctx *ctx, const char *ts, json_t *doc, sv_err *err)
{
    char *key = backup_key(ctx->workspace, ts, "verify.json");
    char *text = json_dumps(doc, JSON_INDENT(2));
    store_put_opts po = {.if_none_match = false, .content_type = "application/json"};
    int rc;
    if (!key || !text) rc = sv_err_set(err, SV_ENOMEM, "out of memory");
    else if (job_fence(ctx, err) != 0) rc = -1;
    else rc = store_put(ctx->store, key, text, strlen(text), &po, err);
    if (rc != 0) sv_err_wrap(err, "writing %s", key ? key : "verify.json");
    free(key);
    free(text);
    return rc;
}

/* The verify job: opts at (latest or a timestamp). */
static int verify_once(job_ctx *ctx, json_t **result, sv_err *err);

/* The verify job: opts at, store (a replica's name: the drill of that
 * store's copy, its verdict written there; replica.h). */
int job_verify(job_ctx *ctx, json_t **result, sv_err *err)
{
    const char *want = json_string_value(json_object_get(ctx->opts, "store"));
    replica_set rs;
    const replica *r;
    job_ctx c2;
    store_t *st = NULL;
    int rc = -1;
    if (!want || strcmp(want, "primary") == 0) {
        rc = verify_once(ctx, result, err);
        if (rc == 0 && want) json_object_set_new(*result, "store", json_string("primary"));
        return rc;
    }
    *result = NULL;
    if (replica_parse(ctx->cfg, &rs, err) != 0) return -1;
    if (!(r = replica_find(&rs, want))) {
        sv_err_set(err, SV_EINVAL, "no replica store '%s'", want);
        sv_err_hint(err, "SQLVAULT_REPLICAS names the stores; 'primary' is SQLVAULT_STORE");
    } else if (replica_open(r, ctx->clock, &st, err) == 0) {
        c2 = *ctx;
        c2.cfg = &r->cfg;
        c2.store = st;
        if ((rc = verify_once(&c2, result, err)) == 0) json_object_set_new(*result, "store", json_string(r->name));
        store_free(st);
    }
    replica_set_free(&rs);
    return rc;
}

static int verify_once(job_ctx *ctx, json_t **result, sv_err *err)
{
    const char *at = json_string_value(json_object_get(ctx->opts, "at"));
    restore_source src;
    restore_fetched f = {0};
    restore_validated val;
    catalog_entry ce;
    json_t *meta = NULL, *doc = NULL;
    char ts[SV_TS_LEN], iso[SV_ISO_LEN];
    int64_t t0, dur, validate_ms = 0;
    int rc;

    *result = NULL;
    if (!at || !*at) at = "latest";
    if (sv_check_workspace(ctx->workspace, err) != 0) return -1;
    if (restore_parse_from(at, &src, err) != 0) return -1;
    if (src.kind != RESTORE_SRC_BACKUP)
        return sv_err_set(err, SV_EINVAL, "verify checks committed backups: --at latest or a backup time");
    if (catalog_find(ctx->store, ctx->workspace, at, &ce, err) != 0) return -1;
    src.ref = ce.ts;
    src.exact = true;
    {
        /* The size cap is ours, not the backup's: over it, record nothing. */
        json_t *m0 = NULL;
        if (catalog_read_meta(ctx->store, ctx->workspace, ce.ts, &m0, err) != 0) {
            if (!is_verdict(err->code)) return sv_err_wrap(err, "verify could not run (nothing recorded)");
            sv_err_clear(err); /* unreadable metadata: the drill below records the verdict */
        }
        json_int_t size = json_integer_value(json_object_get(m0, "databaseSize"));
        json_decref(m0);
        if (size > 0 && (uint64_t)size > ctx->cfg->max_db_size) {
            char a[32], b[32];
            sv_err_set(err, SV_ETOOBIG, "backup %s holds a %s database, over SQLVAULT_MAX_DB_SIZE (%s): not verified, "
                       "nothing recorded", ce.ts, sv_human_size((uint64_t)size, a, sizeof a),
                       sv_human_size(ctx->cfg->max_db_size, b, sizeof b));
            return sv_err_hint(err, "raise SQLVAULT_MAX_DB_SIZE to verify or restore this backup");
        }
    }
    t0 = sv_mono_ms(ctx->clock);
    rc = restore_prepare(ctx, &src, NULL, &f, &val, ts, &meta, &validate_ms, err);
    dur = sv_mono_ms(ctx->clock) - t0;
    restore_fetched_remove(&f);
    if (rc != 0 && !is_verdict(err->code)) {
        json_decref(meta);
        return sv_err_wrap(err, "verify of backup %s could not run (nothing recorded)", ce.ts);
    }
    sv_iso_format(sv_now_ms(ctx->clock), iso);
    doc = json_pack("{s:b, s:s, s:I, s:s?, s:s?, s:s?, s:s, s:s, s:I, s:I, s:I, s:I}", "ok", rc == 0, "verifiedAt",
                    iso, "durationMs", (json_int_t)dur, "checksum",
                    rc == 0 ? f.sum : json_string_value(json_object_get(meta, "checksum")), "error",
                    rc == 0 ? NULL : err->msg, "errorCode", rc == 0 ? NULL : sv_code_name(err->code), "jobId",
                    ctx->job_id, "producer", SV_PRODUCER, "databaseSize", (json_int_t)f.size, "fetchMs",
                    (json_int_t)f.duration_ms, "validateMs", (json_int_t)validate_ms, "pageCount",
                    (json_int_t)val.page_count);
    if (doc && rc != 0 && f.sum[0] && err->code != SV_ECHECKSUM && json_is_object(json_object_get(meta, "encryption"))) {
        /* An encrypted backup that decrypted and matched its checksum, then
         * failed validation: the message may quote the database (its
         * integrity_check, a schema name). The bucket gets no content: the
         * details stay in the job's result and log. */
        json_object_set_new(doc, "error", json_string("the decrypted database was refused by validation (its details "
                                                      "may quote its content: they are in the verify job's result "
                                                      "and log, not in the bucket)"));
    }
    json_decref(meta);
    if (!doc) return sv_err_set(err, SV_ENOMEM, "out of memory");
    if (f.links > 0) { /* a chain point: what was applied, and the state proven */
        json_object_set_new(doc, "chain", json_pack("{s:s, s:i, s:I, s:I}", "base", f.chain_base, "links",
                                                     (int)f.links, "pagesApplied", (json_int_t)f.pages_applied,
                                                     "applyMs", (json_int_t)f.apply_ms));
        if (rc == 0) json_object_set_new(doc, "stateChecksum", json_string(f.state_sum));
    }
    if (rc != 0) {
        sv_err saved = *err;
        sv_err_clear(err);
        if (write_verify(ctx, ce.ts, doc, err) != 0)
            log_error(ctx->job_id, ctx->workspace, "unable to record the failed verify: %s", err->msg);
        json_decref(doc);
        *err = saved;
        log_error(ctx->job_id, ctx->workspace, "verify of backup %s failed: %s", ce.ts, err->msg);
        return sv_err_wrap(err, "backup %s failed verification", ce.ts);
    }
    if (write_verify(ctx, ce.ts, doc, err) != 0) {
        json_decref(doc);
        return -1;
    }
    json_object_set_new(doc, "workspace", json_string(ctx->workspace));
    json_object_set_new(doc, "ts", json_string(ce.ts));
    log_info(ctx->job_id, ctx->workspace, "backup %s verified in %lld ms", ce.ts, (long long)dur);
    *result = doc;
    return 0;
}
