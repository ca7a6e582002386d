/* backup.c -- the backup pipeline: snapshot, sha256, zstd, store, commit.
 *
 * The snapshot file is read in 1 MiB chunks; each chunk is hashed (the
 * database checksum), fed to a zstd stream whose worker threads compress in
 * the background, and every compressed block is hashed (the object checksum)
 * and handed to the store writer, which uploads parts concurrently. Stages
 * overlap and memory stays bounded by the chunk, zstd's window and the
 * writer's parts, whatever the database size. metadata.json goes last, with
 * If-None-Match, so a backup exists exactly when its marker does.
 *
 * Labels and attempts (see backup.h and docs/DESIGN.md): the folder is the
 * snapshot's time, so two attempts never share a key; with once set, the
 * job's commit record (job_commit) picks the one backup the job commits.
 *
 * A backup is a list of files: one (livestore.db) for a single-file
 * workspace, two for a LiveStore store (its event log and current state file,
 * copied at one moment by backup_store_copy, store.c). Each file is its own
 * object; metadata.json's top-level fields describe the first, and "files"
 * lists every one with its size and checksums. */
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zstd.h>
#include "backup.h"
#include "backup_run.h"
#include "crypto.h"
#include "digest.h"

#include "replica.h"
#include "restore.h"
#include "livestore.h"
#include "log.h"
#include "metrics/metrics.h"
#include "snapshot.h"
#include "sqlerr.h"
#include "tmpsweep.h"
#include "travel.h"
#include "util.h"

#define CHUNK (1024 * 1024)

/* full/WS/TS/NAME */
char *backup_key(const char *ws, const char *ts, const char *name)
{
    return sv_asprintf("full/%s/%s/%s", ws, ts, name);
}

/* exports/WS/JOB/WS-TS.db */
char *backup_export_key(const char *ws, const char *job_id, const char *ts)
{
    return sv_asprintf("exports/%s/%s/%s-%s.db", ws, job_id, ws, ts);
}

/* Frees what an outcome holds. */
void backup_outcome_clear(backup_outcome *out)
{
    json_decref(out->metadata);
    json_decref(out->head);
    free(out->export_key);
    out->metadata = NULL;
    out->head = NULL;
    out->export_key = NULL;
}

/* opts[name]: folder timestamp, ISO time, or ms since the epoch. */
int backup_opts_time(json_t *opts, const char *name, int64_t *ms, sv_err *err)
{
    json_t *v = json_object_get(opts, name);
    *ms = 0;
    if (!v || json_is_null(v)) return 0;
    if (json_is_integer(v) && json_integer_value(v) > 0) {
        *ms = json_integer_value(v);
        return 0;
    }
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        char *end;
        long long n;
        if (sv_ts_parse(s, ms) == 0 || sv_iso_parse(s, ms) == 0) return 0;
        n = strtoll(s, &end, 10);
        if (*s && !*end && n > 0) {
            *ms = n;
            return 0;
        }
    }
    return sv_err_set(err, SV_EINVAL, "invalid backup time option '%s'", name);
}

/* Parses metadata.json and checks version and required fields. */
int backup_meta_parse(const char *text, json_t **out, sv_err *err)
{
    json_error_t je;
    json_t *m = json_loads(text, 0, &je);
    const char *ver, *req[] = {"timestamp", "checksum", "object", "compression"};
    *out = NULL;
    if (!m || !json_is_object(m)) {
        json_decref(m);
        return sv_err_set(err, SV_ECORRUPT, "metadata.json is not valid json: %s", je.text);
    }
    ver = json_string_value(json_object_get(m, "version"));
    if (!ver || strtol(ver, NULL, 10) != 1) {
        sv_err_set(err, SV_ECORRUPT, "metadata.json has version '%s', this sqlvault reads 1.x", ver ? ver : "?");
        sv_err_hint(err, "upgrade sqlvault to read backups written by a newer version");
        json_decref(m);
        return -1;
    }
    for (size_t i = 0; i < sizeof req / sizeof req[0]; i++) {
        if (!json_is_string(json_object_get(m, req[i]))) {
            json_decref(m);
            return sv_err_set(err, SV_ECORRUPT, "metadata.json lacks the field '%s'", req[i]);
        }
    }
    if (!json_is_integer(json_object_get(m, "databaseSize"))) {
        json_decref(m);
        return sv_err_set(err, SV_ECORRUPT, "metadata.json lacks the field 'databaseSize'");
    }
    *out = m;
    return 0;
}

/* Reads an existing commit marker, if any, into out (already_committed). */
static int read_existing(job_ctx *ctx, const char *meta_key, backup_outcome *out, sv_err *err)
{
    char *text = NULL;
    if (store_get_small(ctx->store, meta_key, 1 << 20, &text, NULL, err) != 0) return -1;
    int rc = backup_meta_parse(text, &out->metadata, err);
    free(text);
    if (rc == 0) out->already_committed = true;
    return rc;
}

/* Hashes and writes bytes as stored (the object checksum is of these). */
static int stored_write(void *ud, const void *d, size_t n, sv_err *err)
{
    pipe_t *p = ud;
    EVP_DigestUpdate(p->md_obj, d, n);
    if (store_writer_write(p->store, p->w, d, n, err) != 0) return -1;
    p->stored += n;
    return 0;
}

/* Writes compressed frames, through the encrypting filter when there is one. */
static int seek_out(void *ud, const void *d, size_t n, sv_err *err)
{
    pipe_t *p = ud;
    return p->seal ? crypto_stream_write(p->seal, d, n, err) : stored_write(p, d, n, err);
}

/* Feeds plaintext to the object: the plaintext checksum, the export copy,
 * the frames (written out as each is compressed). */
int pipe_feed(job_ctx *ctx, pipe_t *p, const void *buf, size_t n, sv_err *err)
{
    EVP_DigestUpdate(p->md_db, buf, n);
    if (p->wx && store_writer_write(ctx->store, p->wx, buf, n, err) != 0) return -1;
    if (p->own_on && page_hasher_feed(&p->own, buf, n, err) != 0) return -1;
    return seek_write(p->seek, buf, n, err);
}

/* Streams the snapshot through the page hasher (when there is one) and
 * pipe_feed. */
static int stream(job_ctx *ctx, pipe_t *p, snapshot_info *snap, sv_err *err)
{
    uint64_t done = 0;
    while (done < snap->size) {
        uint64_t left = snap->size - done;
        ssize_t n = snapshot_read(snap, p->in, left < CHUNK ? (size_t)left : CHUNK);
        if (n < 0) {
            if (errno == EINTR) continue;
            return sv_err_set(err, SV_EIO, "unable to read the snapshot: %s", strerror(errno));
        }
        if (n == 0) break;
        if (p->ph && page_hasher_feed(p->ph, p->in, (size_t)n, err) != 0) return -1;
        if (pipe_feed(ctx, p, p->in, (size_t)n, err) != 0) return -1;
        done += (uint64_t)n;
        job_progress(ctx, "upload", done, snap->size);
        if (job_cancelled(ctx)) return sv_err_set(err, SV_ELEASE, "job cancelled: lease lost or shutting down");
    }
    if (done != snap->size)
        return sv_err_set(err, SV_EIO, "snapshot shorter than its page count says (%llu of %llu bytes)",
                          (unsigned long long)done, (unsigned long long)snap->size);
    return 0;
}

/* Commits the backup a commit record names: writes its metadata.json text
 * (If-None-Match; a conflict means an attempt already wrote it) and fills
 * out from it. The record's object was complete before the record existed. */
static int adopt_record(job_ctx *ctx, const backup_params *bp, const char *record, backup_outcome *out,
                        sv_err *err)
{
    json_t *rec = json_loads(record, 0, NULL);
    const char *ts = json_string_value(json_object_get(rec, "ts"));
    const char *text = json_string_value(json_object_get(rec, "metadata"));
    char *meta_key = NULL;
    int rc = -1;
    if (!ts || !text || strlen(ts) != SV_TS_LEN - 1) {
        sv_err_set(err, SV_EINTERNAL, "the job's commit record is malformed");
        goto done;
    }
    memcpy(out->ts, ts, SV_TS_LEN);
    meta_key = backup_key(bp->workspace, ts, "metadata.json");
    if (!meta_key) {
        sv_err_set(err, SV_ENOMEM, "out of memory");
        goto done;
    }
    {
        store_put_opts po = {.if_none_match = true, .content_type = "application/json"};
        if (store_put(ctx->store, meta_key, text, strlen(text), &po, err) != 0) {
            if (err->code != SV_ECONFLICT) goto done;
            sv_err_clear(err); /* written already: by the attempt that made the record, or another */
        }
    }
    if (backup_meta_parse(text, &out->metadata, err) != 0) goto done;
    if (bp->export_plain && !(out->export_key = backup_export_key(bp->workspace, ctx->job_id, ts))) {
        sv_err_set(err, SV_ENOMEM, "out of memory");
        goto done;
    }
    out->already_committed = true;
    rc = 0;
done:
    json_decref(rec);
    free(meta_key);
    return rc;
}

/* Best-effort removal of an attempt's own objects once another backup of the
 * job was committed instead (prune would sweep them after a day anyway). */
static void drop_own(job_ctx *ctx, char *const *obj_keys, int nobj, const char *export_key)
{
    sv_err e2;
    const char *keys[LS_MAX_FILES + 1];
    int n = 0;
    for (int i = 0; i < nobj; i++) keys[n++] = obj_keys[i];
    if (export_key) keys[n++] = export_key;
    if (store_delete_many(ctx->store, keys, (size_t)n, &e2) != 0)
        log_warn(ctx->job_id, ctx->workspace, "removing the unused objects of this attempt (%s): %s", obj_keys[0],
                 e2.msg);
}

/* Builds metadata.json's object (the field order of README.md, metadata.json). */
static json_t *make_meta(job_ctx *ctx, const backup_params *bp, int64_t ts_ms, const snapshot_info *snap,
                         const char *db_sum, const char *obj_sum, uint64_t compressed, int64_t dur,
                         const crypto_dk *dk, const char *object, json_t *files, json_t *store)
{
    char iso[SV_ISO_LEN];
    sv_iso_format(ts_ms, iso);
    json_t *m = json_object();
    if (!m) return NULL;
    json_object_set_new(m, "instanceId", json_string(bp->workspace));
    json_object_set_new(m, "userId", bp->user_id ? json_string(bp->user_id) : json_null());
    json_object_set_new(m, "timestamp", json_string(iso));
    json_object_set_new(m, "databaseSize", json_integer((json_int_t)snap->size));
    json_object_set_new(m, "backupType", json_string(bp->backup_type ? bp->backup_type : "full"));
    json_object_set_new(m, "version", json_string(BACKUP_META_VERSION));
    json_object_set_new(m, "checksum", json_string(db_sum));
    json_object_set_new(m, "compression", json_string("zstd"));
    json_object_set_new(m, "object", json_string(object));
    json_object_set_new(m, "compressedSize", json_integer((json_int_t)compressed));
    json_object_set_new(m, "compressedChecksum", json_string(obj_sum));
    json_object_set_new(m, "sqlite", json_pack("{s:s, s:i, s:I, s:s}", "version", sqlite3_libversion(),
                                               "pageSize", snap->page_size, "pageCount",
                                               (json_int_t)snap->page_count, "journalMode", snap->journal_mode));
    json_object_set_new(m, "jobId", json_string(ctx->job_id));
    json_object_set_new(m, "reason", json_string(bp->reason ? bp->reason : "manual"));
    json_object_set_new(m, "durationMs", json_integer(dur));
    json_object_set_new(m, "producer", json_string(SV_PRODUCER));
    /* Absent on a plain backup; compressedSize/compressedChecksum are of the stored (encrypted) bytes. */
    if (dk) json_object_set_new(m, "encryption", crypto_meta(dk, bp->workspace));
    if (bp->tick_ms > 0) {
        sv_iso_format(bp->tick_ms, iso);
        json_object_set_new(m, "tickTime", json_string(iso));
    }
    json_object_set(m, "files", files);
    {
        json_t *sk = json_object_get(json_array_get(files, 0), "seekable");
        if (sk) json_object_set(m, "seekable", sk); /* the first file's, as its other top-level fields */
    }
    if (store) json_object_set(m, "livestore", store);
    return m;
}

/* Opens one object of the backup (and the export key, when given): zstd
 * set for size bytes of plaintext, the encrypting filter, the writers. */
int pipe_open(job_ctx *ctx, pipe_t *p, const char *obj_key, const char *export_key, const crypto_dk *dk,
              uint64_t size, uint32_t kind, uint32_t page_size, sv_err *err)
{
    const sv_config *cfg = ctx->cfg;
    /* Frames compressed two at a time for big inputs (as zstd's own threads
     * did before frames were independent); inline for small ones. */
    seek_opts so = {.level = cfg->zstd_level, .threads = size > 8 * CHUNK ? 2 : 0, .kind = kind,
                    .page_size = page_size, .head_len = kind == SEEK_KIND_STREAM ? CHAIN_HEADER_LEN : 0,
                    .tmp_dir = cfg->tmp_dir};
    EVP_DigestInit_ex(p->md_db, EVP_sha256(), NULL);
    EVP_DigestInit_ex(p->md_obj, EVP_sha256(), NULL);
    p->stored = 0;
    p->dk = dk;
    crypto_stream_free(p->seal);
    p->seal = NULL;
    seek_writer_free(p->seek);
    p->seek = NULL;
    page_hasher_free(&p->own);
    p->own_on = false;
    if (seek_writer_new(&so, seek_out, p, &p->seek, err) != 0) return -1;
    if (page_size && kind == SEEK_KIND_FILE) {
        if (p->ph) {
            p->ph->seek = p->seek;
        } else {
            if (page_hasher_init(&p->own, page_size, NULL, err) != 0) return -1;
            p->own.seek = p->seek;
            p->own_on = true;
        }
    }
    {
        store_writer_opts wo = {.size_hint = 0, .content_type = dk ? "application/octet-stream" : "application/zstd"};
        p->store = ctx->store;
        if (dk && crypto_seal_new(dk, obj_key, NULL, stored_write, p, &p->seal, err) != 0) return -1;
        if (store_writer_open(ctx->store, obj_key, &wo, &p->w, err) != 0) return -1;
    }
    if (export_key) {
        store_writer_opts wo = {.size_hint = size, .content_type = "application/vnd.sqlite3"};
        if (store_writer_open(ctx->store, export_key, &wo, &p->wx, err) != 0) return -1;
    }
    return 0;
}

/* Ends the object opened by pipe_open: the last frame and the page index,
 * the checksums, the fence, the writers' commits; appends the file's entry
 * (size: the database's, checksum: of the plaintext, seekable: where its
 * index is) to files. */
int pipe_close(job_ctx *ctx, pipe_t *p, const char *name, const char *obj_key, uint64_t size, int page_size,
               int64_t page_count, char db_sum[72], char obj_sum[72], uint64_t *compressed, json_t *files, sv_err *err)
{
    bool exported = p->wx != NULL;
    json_t *seekm = NULL;
    if (p->own_on) {
        char ignored[72];
        if (page_hasher_finish(&p->own, ignored, err) != 0) return -1;
        p->own_on = false;
    }
    if (p->ph) p->ph->seek = NULL;
    if (seek_writer_finish(p->seek, (uint32_t)page_count, &seekm, err) != 0) return -1;
    seek_writer_free(p->seek);
    p->seek = NULL;
    if (p->dk && (crypto_sum_key_field(p->dk, seekm, "indexChecksum", err) != 0 ||
                  crypto_sum_key_field(p->dk, seekm, "hashesChecksum", err) != 0)) {
        json_decref(seekm);
        return -1;
    }
    if (p->seal && crypto_stream_finish(p->seal, err) != 0) {
        json_decref(seekm);
        return -1;
    }
    *compressed = p->stored;
    sv_digest_checksum(p->md_db, db_sum);
    sv_digest_checksum(p->md_obj, obj_sum);
    job_progress(ctx, "commit", size, size);
    if (job_fence(ctx, err) != 0) goto fail;
    {
        store_writer_t *w = p->w;
        p->w = NULL; /* commit frees the writer, success or not */
        if (store_writer_commit(ctx->store, w, err) != 0) goto fail;
    }
    if (p->wx) {
        store_writer_t *w = p->wx;
        p->wx = NULL;
        if (store_writer_commit(ctx->store, w, err) != 0) goto fail;
    }
    metrics_bytes("read", size);
    metrics_bytes("uploaded", *compressed + (exported ? size : 0));
    {
        const char *slash = strrchr(obj_key, '/');
        json_t *f = json_pack("{s:s, s:s, s:I, s:s, s:I, s:s, s:i, s:I, s:o}", "name", name, "object",
                              slash ? slash + 1 : obj_key, "size", (json_int_t)size, "checksum", db_sum,
                              "compressedSize", (json_int_t)*compressed, "compressedChecksum", obj_sum,
                              "pageSize", page_size, "pageCount", (json_int_t)page_count, "seekable", seekm);
        seekm = NULL; /* s:o took it */
        if (!f || json_array_append_new(files, f) != 0) return sv_err_set(err, SV_ENOMEM, "out of memory");
    }
    return 0;
fail:
    json_decref(seekm);
    return -1;
}

/* Streams one file of the backup into its object (and the export key for the
 * first file), commits them, and appends its entry to files. */
static int put_file(job_ctx *ctx, pipe_t *p, snapshot_info *snap, const char *name, const char *obj_key,
                    const char *export_key, const crypto_dk *dk, uint64_t *compressed, char db_sum[72],
                    char obj_sum[72], json_t *files, sv_err *err)
{
    if (snap->fd >= 0) posix_fadvise(snap->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    if (pipe_open(ctx, p, obj_key, export_key, dk, snap->size, SEEK_KIND_FILE, (uint32_t)snap->page_size, err) != 0)
        return -1;
    if (stream(ctx, p, snap, err) != 0) return -1;
    return pipe_close(ctx, p, name, obj_key, snap->size, snap->page_size, snap->page_count, db_sum, obj_sum,
                      compressed, files, err);
}

/* Phase 0: a backup this job already committed. Returns 1 with out filled
 * when there is one (the record of an earlier attempt that reached its
 * commit point, or the marker at an explicit label), 0 when a new backup is
 * to be taken, -1 on error. */
static int find_committed(backup_run *r, sv_err *err)
{
    job_ctx *ctx = r->ctx;
    const backup_params *bp = r->bp;
    char *existing = NULL, *meta_key;
    int rc;
    /* A first attempt has no record to find; its commit step would see one. */
    if (bp->once && ctx->attempt > 1) {
        if (job_commit(ctx, NULL, &existing, err) != 0) return -1;
        if (existing) {
            rc = adopt_record(ctx, bp, existing, r->out, err);
            free(existing);
            return rc == 0 ? 1 : -1;
        }
    }
    if (bp->ts_ms <= 0) return 0;
    /* An explicit label: a retried job finds its own commit marker there. */
    sv_ts_format(bp->ts_ms, r->out->ts);
    meta_key = backup_key(bp->workspace, r->out->ts, "metadata.json");
    if (!meta_key) return sv_err_set(err, SV_ENOMEM, "out of memory");
    rc = read_existing(ctx, meta_key, r->out, err);
    free(meta_key);
    if (rc == 0) return 1;
    if (err->code != SV_ENOTFOUND) return -1;
    sv_err_clear(err);
    return 0;
}

/* Phase 1: the data key (when encryption is on: a wrong key fails before
 * any work), the snapshot or the store's copy, the label and the keys. */
static int take_snapshot(backup_run *r, sv_err *err)
{
    job_ctx *ctx = r->ctx;
    const backup_params *bp = r->bp;
    backup_outcome *out = r->out;
    /* A chain's backup asks for its key after the plan: an unchanged workspace
     * makes no store request at all (incr.c). */
    if (!r->chain && crypto_for_backup(ctx->cfg, ctx->store, ctx->clock, bp->workspace, &r->dk, &r->enc, err) != 0)
        return -1;
    job_progress(ctx, "snapshot", 0, 0);
    if (bp->store_dir) {
        if (backup_store_copy(ctx, bp->store_dir, &r->lc, &r->store, err) != 0) return -1;
        r->nfiles = r->lc.n;
        for (int i = 0; i < r->nfiles; i++) {
            r->snaps[i] = &r->lc.snap[i];
            r->names[i] = r->lc.name[i];
        }
    } else if (snapshot_take(bp->db_path, ctx->cfg->tmp_dir, ctx->clock, ctx->cfg->max_db_size,
                             !ctx->cfg->snapshot_copy, &r->snap, err) != 0) {
        return -1;
    }
    /* The label: when the snapshot's read transaction had begun, so every row
     * it holds was written before it. */
    r->ts_ms = bp->ts_ms > 0 ? bp->ts_ms : sv_now_ms(ctx->clock);
    sv_ts_format(r->ts_ms, out->ts);
    r->meta_key = backup_key(bp->workspace, out->ts, "metadata.json");
    r->obj_keys[0] = backup_key(bp->workspace, out->ts, bp->store_dir ? BACKUP_EVENTLOG_OBJECT : BACKUP_OBJECT);
    r->obj_keys[1] = backup_key(bp->workspace, out->ts, BACKUP_STATE_OBJECT);
    if (!r->meta_key || !r->obj_keys[0] || !r->obj_keys[1] ||
        (bp->export_plain && !(out->export_key = backup_export_key(bp->workspace, ctx->job_id, out->ts))))
        return sv_err_set(err, SV_ENOMEM, "out of memory");
    out->snapshot = bp->store_dir ? "store" : r->snap.direct ? "direct" : "copy";
    if (!bp->store_dir) snprintf(out->snapshot_fp, sizeof out->snapshot_fp, "%s", r->snap.fp.text);
    if (job_cancelled(ctx)) return sv_err_set(err, SV_ELEASE, "job cancelled: lease lost or shutting down");
    return 0;
}

/* The row counts of the snapshot's tables (the state file's for a
 * LiveStore store), for metadata.json "tables": inspect reads them instead
 * of counting through a whole backup (travel.h). The pages are warm from
 * the snapshot; best effort (a failure is logged, the backup goes on). Not
 * for an encrypted backup, whose metadata.json is in the clear. */
static void *count_tables(void *arg)
{
    backup_run *r = arg;
    snapshot_info *s = r->snaps[0];
    sqlite3 *db = NULL;
    json_t *arr = NULL;
    sv_err err;
    sv_err_clear(&err);
    for (int i = 0; r->bp->store_dir && i < r->nfiles; i++)
        if (strncmp(r->names[i], "state", 5) == 0) s = r->snaps[i];
    if (s->direct) {
        db = s->hold;
    } else {
        if (travel_sqlite_open_fd(s->fd, &db, &err) != 0) {
            log_warn(r->ctx->job_id, r->bp->workspace, "counting the tables' rows: %s", err.msg);
            return NULL;
        }
    }
    if (travel_count_tables(db, NULL, &arr, &err) == 0) r->tables = travel_tables_object(arr);
    else log_warn(r->ctx->job_id, r->bp->workspace, "counting the tables' rows: %s", err.msg);
    json_decref(arr);
    if (!s->direct) sqlite3_close(db);
    return NULL;
}

/* Phase 2: every file streamed into its object (the first also to the
 * export key), each object committed. */
static int upload_files(backup_run *r, sv_err *err)
{
    pipe_t *p = &r->p;
    char db_sum[72], obj_sum[72];
    uint64_t compressed = 0;
    p->in = malloc(CHUNK);
    p->md_db = EVP_MD_CTX_new();
    p->md_obj = EVP_MD_CTX_new();
    if (!p->in || !p->md_db || !p->md_obj) return sv_err_set(err, SV_ENOMEM, "out of memory");
    if (r->incremental) return incr_upload(r, err);
    for (int i = 0; i < r->nfiles; i++) {
        p->ph = i == 0 && r->hashing ? &r->ph : NULL;
        if (put_file(r->ctx, p, r->snaps[i], r->names[i], r->obj_keys[i], i == 0 ? r->out->export_key : NULL,
                     r->enc ? &r->dk : NULL, &compressed, db_sum, obj_sum, r->files, err) != 0)
            return -1;
        r->total += compressed;
        if (i == 0) {
            memcpy(r->sum0, db_sum, sizeof r->sum0);
            memcpy(r->osum0, obj_sum, sizeof r->osum0);
            r->compressed0 = compressed;
        }
    }
    p->ph = NULL;
    if (r->hashing && page_hasher_finish(&r->ph, r->state_sum, err) != 0) return -1;
    return 0;
}

/* With once, the job's commit point: the first attempt to store its record
 * names the job's backup. Returns 1 when a record already there won (out
 * then describes that backup and this attempt's objects are dropped), 0
 * when ours is the job's backup, -1 on error. */
static int commit_record(backup_run *r, const char *meta_text, sv_err *err)
{
    backup_outcome *out = r->out;
    char *record, *existing = NULL, *own_export, own_ts[SV_TS_LEN];
    json_t *j = json_pack("{s:s, s:s}", "ts", out->ts, "metadata", meta_text);
    int rc;
    record = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!record) return sv_err_set(err, SV_ENOMEM, "out of memory");
    rc = job_commit(r->ctx, record, &existing, err);
    free(record);
    if (rc != 0) return -1;
    if (!existing) return 0;
    own_export = out->export_key;
    memcpy(own_ts, out->ts, sizeof own_ts);
    out->export_key = NULL;
    rc = adopt_record(r->ctx, r->bp, existing, out, err);
    /* Our objects are unused, unless the record names this very folder (two
     * attempts' snapshots in one millisecond). */
    if (strcmp(own_ts, out->ts) != 0) drop_own(r->ctx, r->obj_keys, r->nfiles, own_export);
    free(own_export);
    free(existing);
    return rc == 0 ? 1 : -1;
}

/* An encrypted backup's plaintext digests keyed with its data key (crypto.h,
 * keyed checksums): "checksum", "stateChecksum" and each file's "checksum".
 * "parentStateChecksum" stays as its parent's metadata says it. */
static int key_sums(const crypto_dk *dk, json_t *meta, sv_err *err)
{
    json_t *f;
    size_t i;
    if (crypto_sum_key_field(dk, meta, "checksum", err) != 0 ||
        crypto_sum_key_field(dk, meta, "stateChecksum", err) != 0)
        return -1;
    json_array_foreach(json_object_get(meta, "files"), i, f)
        if (crypto_sum_key_field(dk, f, "checksum", err) != 0) return -1;
    return 0;
}

/* Phase 3: metadata.json, the commit record (once) or the fence, then the
 * marker itself (If-None-Match): the backup exists from here on. */
static int write_marker(backup_run *r, sv_err *err)
{
    job_ctx *ctx = r->ctx;
    backup_outcome *out = r->out;
    store_put_opts po = {.if_none_match = true, .content_type = "application/json"};
    json_t *meta;
    char *meta_text = NULL;
    int rc = -1;
    out->duration_ms = sv_mono_ms(ctx->clock) - r->t0;
    meta = make_meta(ctx, r->bp, r->ts_ms, r->snaps[0], r->sum0, r->osum0, r->compressed0, out->duration_ms,
                     r->enc ? &r->dk : NULL, strrchr(r->obj_keys[0], '/') + 1, r->files, r->store);
    if (meta) incr_meta(r, meta);
    if (meta && r->tables) json_object_set(meta, "tables", r->tables);
    if (meta && r->enc && key_sums(&r->dk, meta, err) != 0) goto done;
    meta_text = meta ? json_dumps(meta, JSON_INDENT(2)) : NULL;
    if (!meta_text) {
        sv_err_set(err, SV_ENOMEM, "out of memory");
        goto done;
    }
    if (r->bp->once) {
        int crc = commit_record(r, meta_text, err);
        if (crc != 0) {
            rc = crc > 0 ? 0 : -1;
            goto done;
        }
    } else if (job_fence(ctx, err) != 0) {
        goto done;
    }
    if (store_put(ctx->store, r->meta_key, meta_text, strlen(meta_text), &po, err) != 0) {
        /* Another attempt committed first (the same text, with once): that backup stands. */
        if (err->code == SV_ECONFLICT) {
            sv_err_clear(err);
            if (read_existing(ctx, r->meta_key, out, err) == 0) rc = 0;
        }
        goto done;
    }
    metrics_backup_size(r->total);
    r->own_commit = true;
    memcpy(out->db_sum, r->sum0, sizeof out->db_sum);
    out->metadata = meta;
    meta = NULL;
    rc = 0;
done:
    json_decref(meta);
    free(meta_text);
    return rc;
}

/* Releases everything a run made; out keeps only what a success gave it. */
static void run_free(backup_run *r, int rc)
{
    pipe_t *p = &r->p;
    if (p->w) store_writer_abort(r->ctx->store, p->w);
    if (p->wx) store_writer_abort(r->ctx->store, p->wx);
    snapshot_release(&r->snap);
    livestore_copy_release(&r->lc);
    json_decref(r->files);
    json_decref(r->store); /* metadata.json's "livestore" keeps it */
    json_decref(r->tables);
    crypto_stream_free(p->seal);
    crypto_dk_clear(&r->dk);
    incr_free(r);
    seek_writer_free(p->seek);
    page_hasher_free(&p->own);
    EVP_MD_CTX_free(p->md_db);
    EVP_MD_CTX_free(p->md_obj);
    free(p->in);
    free(r->meta_key);
    for (int i = 0; i < LS_MAX_FILES; i++) free(r->obj_keys[i]);
    if (rc != 0) {
        free(r->out->export_key);
        r->out->export_key = NULL;
    }
}

/* Runs the whole pipeline (see backup.h): a backup the job already
 * committed, else snapshot, upload, marker. */
int backup_take(job_ctx *ctx, const backup_params *bp, backup_outcome *out, sv_err *err)
{
    backup_run r;
    int rc = -1, found, urc;
    pthread_t counter;
    bool counting = false;

    memset(out, 0, sizeof *out);
    memset(&r, 0, sizeof r);
    r.ctx = ctx;
    r.bp = bp;
    r.out = out;
    r.snap.fd = -1;
    for (int i = 0; i < LS_MAX_FILES; i++) r.lc.snap[i].fd = -1;
    r.snaps[0] = &r.snap;
    r.names[0] = "livestore.db";
    r.nfiles = 1;
    r.t0 = sv_mono_ms(ctx->clock);
    r.chain = bp->mode && !bp->store_dir && ctx->cfg->full_every_ms > 0 && ctx->cfg->state_dir;
    r.store_chain = bp->mode && bp->store_dir && ctx->cfg->full_every_ms > 0 && ctx->cfg->state_dir;
    r.files = json_array();
    if (!r.files) {
        sv_err_set(err, SV_ENOMEM, "out of memory");
        goto done;
    }
    if (sv_check_workspace(bp->workspace, err) != 0) goto done;
    found = find_committed(&r, err);
    if (found != 0) {
        rc = found > 0 ? 0 : -1;
        goto done;
    }
    if (r.store_chain && (found = incr_store_check(&r, err)) != 0) {
        rc = found > 0 ? 0 : -1;
        goto done;
    }
    if (r.chain && (found = incr_check_unchanged(&r, err)) != 0) {
        rc = found > 0 ? 0 : -1;
        goto done;
    }
    if (take_snapshot(&r, err) != 0) goto done;
    if ((found = incr_plan(&r, err)) != 0) {
        rc = found > 0 ? 0 : -1;
        goto done;
    }
    if (r.chain && !r.enc && crypto_for_backup(ctx->cfg, ctx->store, ctx->clock, bp->workspace, &r.dk, &r.enc, err) != 0)
        goto done;
    /* The counts are read while the files stream: the snapshot's pages are
     * warm, and the two reads do not wait on each other. */
    counting = !r.enc && pthread_create(&counter, NULL, count_tables, &r) == 0;
    urc = upload_files(&r, err);
    if (counting) pthread_join(counter, NULL);
    counting = false;
    if (urc != 0) goto done;
    rc = write_marker(&r, err);
    if (rc == 0 && r.own_commit) incr_commit_state(&r);
    if (rc == 0 && r.own_commit && r.store_chain) incr_store_commit(&r);
    /* A store's backup is always a full: its fullReason is only said when it
     * replaces a head gone from the store (incr_store_check). */
    if (rc == 0 && (r.chain || r.store_chain) && !r.incremental && !out->already_committed)
        out->full_reason = r.full_reason;
done:
    run_free(&r, rc);
    return rc;
}

/* A restore's follow-up (options backup_type "pre-restore", db the local
 * safety copy LIVE.pre-restore-TS, remove_db): checks the options. 1 when
 * this is one, 0 when not, -1 when the options are refused. */
static int pre_restore_opts(job_ctx *ctx, const char *dbopt, bool *remove, sv_err *err)
{
    const char *type = json_string_value(json_object_get(ctx->opts, "backup_type"));
    *remove = json_is_true(json_object_get(ctx->opts, "remove_db"));
    if (!type || strcmp(type, "full") == 0) {
        if (*remove) return sv_err_set(err, SV_EINVAL, "remove_db is only for a restore's pre-restore follow-up");
        return 0;
    }
    if (strcmp(type, "pre-restore") != 0)
        return sv_err_set(err, SV_EINVAL, "backup_type must be full or pre-restore, not '%s'", type);
    if (!dbopt) return sv_err_set(err, SV_EINVAL, "a pre-restore backup needs db (the restore's safety copy)");
    if (*remove && !strstr(dbopt, ".pre-restore-"))
        return sv_err_set(err, SV_EINVAL, "remove_db only removes a restore's safety copy (*.pre-restore-TS)");
    return 1;
}

/* opts "mode" ("auto" or "full") or "full": true (the CLI's --full); "auto" when absent. */
static int backup_mode_opt(json_t *opts, const char **mode, sv_err *err)
{
    json_t *m = json_object_get(opts, "mode");
    *mode = json_is_true(json_object_get(opts, "full")) ? "full" : "auto";
    if (!m || json_is_null(m)) return 0;
    if (json_is_string(m) && strcmp(json_string_value(m), "auto") == 0) *mode = "auto";
    else if (json_is_string(m) && strcmp(json_string_value(m), "full") == 0) *mode = "full";
    else return sv_err_set(err, SV_EINVAL, "backup mode must be auto or full");
    return 0;
}

/* The backup job: options db, reason, ts, user_id, mode (auto or full); a restore's follow-up
 * adds backup_type "pre-restore" and remove_db (the safety copy goes once
 * the backup is committed; docs/DESIGN.md). */
/* With replica stores: the follow-up replicate job (queued), or the copies
 * (inline), in the result's "replicas" (replica.h). An unchanged backup
 * asks too, so a replica that was away catches up without a new write. */
static void attach_replicas(job_ctx *ctx, json_t *result)
{
    json_t *rep = NULL;
    if (!ctx->cfg->replicas) return;
    replica_after_backup(ctx, &rep);
    if (rep) json_object_set_new(result, "replicas", rep);
}

int job_backup(job_ctx *ctx, json_t **result, sv_err *err)
{
    backup_params bp = {0};
    backup_outcome out;
    char *db = NULL;
    const char *dbopt = json_string_value(json_object_get(ctx->opts, "db"));
    bool remove_db = false, is_store;
    int rc, pre;

    *result = NULL;
    if (sv_check_workspace(ctx->workspace, err) != 0) return -1;
    if ((pre = pre_restore_opts(ctx, dbopt, &remove_db, err)) < 0) return -1;
    if (backup_opts_ts(ctx->opts, &bp.ts_ms, err) != 0) return -1;
    /* A queued job's scope. A follow-up whose safety copy is gone already
     * (an attempt that committed and removed it, then lost its lease) reads
     * nothing: it finds that commit or fails on the missing file. */
    if (dbopt && !(pre && access(dbopt, F_OK) != 0) && restore_scope_path(ctx, dbopt, "db", NULL, err) != 0)
        return -1;
    if (backup_opts_time(ctx->opts, "tick", &bp.tick_ms, err) != 0) return -1;
    bp.once = true;
    db = dbopt ? sv_strdup(dbopt) : config_db_path(ctx->cfg, ctx->workspace);
    if (!db) return sv_err_set(err, SV_ENOMEM, "out of memory");
    if (!dbopt && livestore_shape(ctx->cfg->data_dir, ctx->workspace) == LS_SHAPE_STORE) {
        free(db);
        db = sv_asprintf("%s/%s", ctx->cfg->data_dir, ctx->workspace);
        if (!db) return sv_err_set(err, SV_ENOMEM, "out of memory");
        bp.store_dir = db;
    }
    bp.workspace = ctx->workspace;
    bp.db_path = db;
    bp.backup_type = pre ? "pre-restore" : "full";
    bp.reason = pre ? "pre-restore" : json_string_value(json_object_get(ctx->opts, "reason"));
    bp.user_id = json_string_value(json_object_get(ctx->opts, "user_id"));
    if (!pre && backup_mode_opt(ctx->opts, &bp.mode, err) != 0) {
        free(db);
        return -1;
    }
    replica_heal_key(ctx, ctx->workspace);
    rc = backup_take(ctx, &bp, &out, err);
    /* The restore's safety copy goes only once its backup is committed (an
     * attempt that finds the commit of an earlier one removes it too). */
    if (rc == 0 && remove_db) {
        sv_unlink_db(db);
        log_info(ctx->job_id, ctx->workspace, "safety copy %s removed: it is the pre-restore backup %s", db, out.ts);
    }
    is_store = bp.store_dir != NULL;
    free(db);
    if (rc != 0) return -1;
    if (out.unchanged) {
        *result = json_pack("{s:s, s:s, s:b, s:b, s:I}", "workspace", ctx->workspace, "ts", out.ts, "unchanged", 1,
                            "already_committed", 0, "durationMs", (json_int_t)out.duration_ms);
        if (*result && out.head) json_object_update(*result, out.head);
        if (*result) json_object_set_new(*result, "shape", json_string(is_store ? "store" : "file"));
        backup_outcome_clear(&out);
        if (*result) attach_replicas(ctx, *result);
        return *result ? 0 : sv_err_set(err, SV_ENOMEM, "out of memory");
    }
    {
        json_t *m = out.metadata;
        const char *obj = json_string_value(json_object_get(m, "object"));
        char *key = backup_key(ctx->workspace, out.ts, obj ? obj : BACKUP_OBJECT);
        *result = json_pack("{s:s, s:s, s:s?, s:O?, s:O?, s:O?, s:O?, s:b, s:I}", "workspace", ctx->workspace,
                            "ts", out.ts, "key", key, "timestamp", json_object_get(m, "timestamp"),
                            "databaseSize", json_object_get(m, "databaseSize"), "compressedSize",
                            json_object_get(m, "compressedSize"), "checksum", json_object_get(m, "checksum"),
                            "already_committed", out.already_committed, "durationMs",
                            (json_int_t)out.duration_ms);
        free(key);
        if (*result && out.snapshot) json_object_set_new(*result, "snapshot", json_string(out.snapshot));
        if (*result) json_object_set_new(*result, "shape", json_string(json_object_get(m, "livestore") ? "store" : "file"));
        if (*result && json_object_get(m, "livestore"))
            json_object_set(*result, "livestore", json_object_get(m, "livestore"));
        if (*result) {
            /* The chain: backupType, unchanged, and for an incremental its parent, base, length, pages. */
            static const char *const chain_fields[] = {"backupType", "parent", "base", "chainLength", "changedPages",
                                                       "stateChecksum"};
            json_object_set_new(*result, "unchanged", json_false());
            for (size_t i = 0; i < sizeof chain_fields / sizeof chain_fields[0]; i++) {
                json_t *v = json_object_get(m, chain_fields[i]);
                if (v) json_object_set(*result, chain_fields[i], v);
            }
            if (out.full_reason) json_object_set_new(*result, "fullReason", json_string(out.full_reason));
        }
    }
    {
        char a[32], b[32];
        log_info(ctx->job_id, ctx->workspace, "backup %s committed%s: %s, stored %s", out.ts,
                 out.already_committed ? " (by an earlier attempt)" : "",
                 sv_human_size((uint64_t)json_integer_value(json_object_get(out.metadata, "databaseSize")), a, sizeof a),
                 sv_human_size((uint64_t)json_integer_value(json_object_get(out.metadata, "compressedSize")), b,
                               sizeof b));
    }
    backup_outcome_clear(&out);
    if (*result) attach_replicas(ctx, *result);
    return *result ? 0 : sv_err_set(err, SV_ENOMEM, "out of memory");
}
