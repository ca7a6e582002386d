/* incr.c -- incremental backups: the phases a chain adds to backup_take.
 *
 * A backup job (mode "auto") of a single-file workspace keeps a local chain
 * state (chain.h): the head backup, the fingerprint of the database's files
 * when the head's snapshot began, and the head's page hashes.
 *  1. Before any snapshot: a fingerprint equal to the state's means no commit
 *     since the head: the job answers "unchanged" after a stat and two small
 *     reads, with no store request. The state is trusted so only until its
 *     "checkedAt" (when the head was last proven in the store) is
 *     SQLVAULT_FULL_EVERY old: then one small GET of the head's
 *     metadata.json comes first (prove_head). Present with the state's
 *     checksum: unchanged, and checkedAt moves on (the state's header is
 *     rewritten, the database is not read). Gone, unreadable or another
 *     state's: a real backup, a full ("the chain's head is not in the
 *     store"), so a head deleted from the store never hides an idle
 *     workspace for longer than SQLVAULT_FULL_EVERY. Any other store error
 *     fails the job, as a store outage fails any backup. A LiveStore store
 *     directory's skip (incr_store_check) does the same.
 *  2. After the snapshot: a full when there is no usable state, --full, a
 *     page size change, a label not after the head's (a link must be newer
 *     than its parent), a base older than SQLVAULT_FULL_EVERY or a chain of
 *     SQLVAULT_MAX_CHAIN links. Otherwise the diff pass reads every page
 *     once, hashes it (XXH3, cheap next to zstd and sha256), compares it
 *     with the state's hash (streamed; their sum must be the head's
 *     stateChecksum) and writes the new hashes into the new state. No
 *     changed page and the same page count: unchanged (only the state's
 *     fingerprint is refreshed; the head is re-proven first when due, as in
 *     1, though a base younger than SQLVAULT_FULL_EVERY makes that rare).
 *     Else one small GET proves that the head is
 *     still in the store with the state's checksum (a pruned head or another
 *     store makes a full).
 *  3. The incremental: a second pass over the two hash files reads only the
 *     changed pages (and those past the old count) from the same snapshot
 *     into the page stream, through the same sha256 + zstd + encryption +
 *     store pipeline, as full/WS/TS/pages-HEAD.zst; metadata.json last.
 *  4. Only once the marker of this attempt's own backup is written does the
 *     new state replace the old one.
 * Memory: one 1 MiB read buffer, one page and two 64 KiB hash windows,
 * whatever the database size or chain length. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "backup_run.h"
#include "digest.h"
#include "log.h"

#define CHUNK (1024 * 1024)

/* ---- page hasher ------------------------------------------------------- */

/* Starts hashing pages of page_size bytes. */
int page_hasher_init(page_hasher *h, uint32_t page_size, chain_state_writer *sw, sv_err *err)
{
    page_hasher_free(h);
    h->page_size = page_size;
    h->sw = sw;
    h->carry = malloc(page_size);
    h->sum = chain_state_sum_new();
    if (!h->carry || !h->sum) return sv_err_set(err, SV_ENOMEM, "out of memory");
    return 0;
}

/* Hashes one whole page into the sum and the state. */
static int hash_page(page_hasher *h, const unsigned char *page, sv_err *err)
{
    unsigned char x[CHAIN_HASH_LEN];
    chain_page_hash(page, h->page_size, x);
    chain_state_sum_hash(h->sum, x);
    h->pages++;
    if (h->seek && seek_page(h->seek, (uint32_t)h->pages, x, err) != 0) return -1;
    return h->sw ? chain_state_writer_hash(h->sw, x, err) : 0;
}

/* Hashes bytes in any pieces: a partial page waits in carry. */
int page_hasher_feed(page_hasher *h, const void *buf, size_t n, sv_err *err)
{
    const unsigned char *p = buf;
    if (h->have) {
        size_t take = h->page_size - h->have < n ? h->page_size - h->have : n;
        memcpy(h->carry + h->have, p, take);
        h->have += take;
        p += take;
        n -= take;
        if (h->have < h->page_size) return 0;
        h->have = 0;
        if (hash_page(h, h->carry, err) != 0) return -1;
    }
    for (; n >= h->page_size; p += h->page_size, n -= h->page_size)
        if (hash_page(h, p, err) != 0) return -1;
    memcpy(h->carry, p, n);
    h->have = n;
    return 0;
}

/* The state checksum of the pages fed. */
int page_hasher_finish(page_hasher *h, char sum[72], sv_err *err)
{
    if (h->have) return sv_err_set(err, SV_EINTERNAL, "the snapshot ends inside a page (%zu bytes)", h->have);
    chain_state_sum_finish(h->sum, sum);
    h->sum = NULL;
    return 0;
}

/* Frees what the hasher holds. */
void page_hasher_free(page_hasher *h)
{
    chain_state_sum_free(h->sum);
    free(h->carry);
    memset(h, 0, sizeof *h);
}

/* ---- unchanged --------------------------------------------------------- */

/* The head's metadata.json in the store (one small GET): 0 when it is there
 * and is the state's head -- for a chain's head, its stateChecksum is the
 * state's (parent_sum filled); for a LiveStore store's backup, which has no
 * stateChecksum, it parses and describes a store ("livestore") -- 1 when not
 * (r->full_reason says why: a full it is), -1 when the store cannot say. */
static int head_in_store(backup_run *r, sv_err *err)
{
    char *key = backup_key(r->bp->workspace, r->old.head, "metadata.json"), *text = NULL;
    json_t *m = NULL;
    const char *sum;
    int rc = -1;
    if (!key) return sv_err_set(err, SV_ENOMEM, "out of memory");
    if (store_get_small(r->ctx->store, key, 1 << 20, &text, NULL, err) != 0) {
        if (err->code == SV_ENOTFOUND) {
            sv_err_clear(err);
            r->full_reason = "the chain's head is not in the store";
            rc = 1;
        }
        goto done;
    }
    if (backup_meta_parse(text, &m, err) != 0) {
        sv_err_clear(err);
        r->full_reason = "the chain's head in the store is unreadable";
        rc = 1;
        goto done;
    }
    if (strcmp(r->old.head_type, "store") == 0) {
        if (!json_is_object(json_object_get(m, "livestore"))) {
            r->full_reason = "the chain's head in the store is not the state's";
            rc = 1;
            goto done;
        }
        rc = 0;
        goto done;
    }
    sum = json_string_value(json_object_get(m, "stateChecksum"));
    if (crypto_sum_is_keyed(sum)) {
        /* An encrypted head's checksum is keyed: the local state's plain one
         * is keyed with the workspace's data key to compare (one GET of its
         * record, which the backup that follows needs anyway). */
        char keyed[CRYPTO_SUM_LEN];
        if (!r->enc && crypto_for_backup(r->ctx->cfg, r->ctx->store, r->ctx->clock, r->bp->workspace, &r->dk,
                                         &r->enc, err) != 0)
            goto done;
        if (!r->enc || crypto_sum_keyed(&r->dk, r->old.state_sum, keyed, err) != 0 || strcmp(sum, keyed) != 0) {
            sv_err_clear(err);
            r->full_reason = "the chain's head in the store is not the state's";
            rc = 1;
            goto done;
        }
    } else if (!sum || strcmp(sum, r->old.state_sum) != 0) {
        r->full_reason = "the chain's head in the store is not the state's";
        rc = 1;
        goto done;
    }
    snprintf(r->parent_sum, sizeof r->parent_sum, "%s", sum);
    rc = 0;
done:
    json_decref(m);
    free(text);
    free(key);
    return rc;
}

/* True when the state's head was last proven in the store
 * SQLVAULT_FULL_EVERY ago or more, or "later" than now (a clock that went
 * back must not put the proof off by as much). */
static bool head_check_due(const backup_run *r, int64_t now)
{
    return now - r->old.checked_ms >= r->ctx->cfg->full_every_ms || now < r->old.checked_ms;
}

/* Before an unchanged answer from the fingerprint: when due, proves the head
 * still in the store (one GET) and moves the state's checkedAt on (a
 * failure to rewrite the state only costs another GET next time: a
 * warning). 0 to answer unchanged (*proven when a GET did it), 1 when the
 * head is gone or not the state's (r->full_reason says so; a real backup,
 * a full), -1 when the store cannot say (the job fails: a store outage must
 * not read as "unchanged", nor make a full it cannot store either). */
static int prove_head(backup_run *r, bool *proven, sv_err *err)
{
    int64_t now = sv_now_ms(r->ctx->clock);
    sv_err e;
    int d;
    *proven = false;
    if (!head_check_due(r, now)) return 0;
    d = head_in_store(r, err);
    if (d != 0) {
        if (d > 0)
            log_warn(r->ctx->job_id, r->bp->workspace, "%s (backup %s): not unchanged, a full it is", r->full_reason,
                     r->old.head);
        return d;
    }
    *proven = true;
    r->old.checked_ms = now;
    if (chain_state_rewrite(r->ctx->cfg->state_dir, &r->old, r->ctx->clock, &e) != 0)
        log_warn(r->ctx->job_id, r->bp->workspace,
                 "backup %s is in the store, but the chain state was not refreshed: %s", r->old.head, e.msg);
    return 0;
}

/* Fills out for an unchanged workspace: the head names the backup that
 * already holds this state. */
static void say_unchanged(backup_run *r, const char *how)
{
    backup_outcome *out = r->out;
    out->unchanged = true;
    memcpy(out->ts, r->old.head, SV_TS_LEN);
    if (strcmp(r->old.head_type, "store") == 0) /* a LiveStore store's backup: a full, no page hashes */
        out->head = json_pack("{s:s}", "backupType", "full");
    else
        out->head = json_pack("{s:s, s:s, s:s, s:I}", "backupType", r->old.head_type, "stateChecksum",
                              r->old.state_sum, "base", r->old.base, "chainLength", (json_int_t)r->old.chain_length);
    out->duration_ms = sv_mono_ms(r->ctx->clock) - r->t0;
    log_info(r->ctx->job_id, r->bp->workspace, "unchanged since backup %s (%s)", r->old.head, how);
}

/* Loads the state; 1 when the fingerprint says unchanged. */
int incr_check_unchanged(backup_run *r, sv_err *err)
{
    const sv_config *cfg = r->ctx->cfg;
    const backup_params *bp = r->bp;
    char store_id[CHAIN_STORE_ID_LEN];
    snapshot_fp fp;
    sv_err e;
    bool proven;
    int d;
    chain_store_id(cfg->store_url ? cfg->store_url : "", store_id);
    r->state_path = chain_state_path(cfg->state_dir, bp->workspace);
    if (!r->state_path) return sv_err_set(err, SV_ENOMEM, "out of memory");
    if (chain_state_load(r->state_path, store_id, bp->workspace, &r->old, &e) == 0) {
        r->have_old = strcmp(r->old.head_type, "store") != 0; /* a store's state has no pages */
        if (!r->have_old) r->full_reason = "no chain state";
    } else {
        r->full_reason = e.code == SV_ENOTFOUND ? "no chain state" : "the chain state is unusable";
        if (e.code != SV_ENOTFOUND) log_warn(r->ctx->job_id, bp->workspace, "%s: the next backup is a full", e.msg);
    }
    if (!r->have_old || strcmp(bp->mode, "full") == 0 || !r->old.fingerprint[0]) return 0;
    snapshot_fingerprint(bp->db_path, &fp);
    if (!fp.stable || strcmp(fp.text, r->old.fingerprint) != 0) return 0;
    if ((d = prove_head(r, &proven, err)) != 0) {
        if (d < 0) return -1;
        r->have_old = false; /* the chain it would build on is gone: incr_plan makes a full, full_reason set */
        return 0;
    }
    say_unchanged(r, proven ? "fingerprint; the head is still in the store" : "fingerprint");
    return 1;
}

/* ---- the plan ---------------------------------------------------------- */

/* Reads exactly n bytes of the snapshot at its offset. */
static int read_full(snapshot_info *s, unsigned char *buf, size_t n, sv_err *err)
{
    for (size_t done = 0; done < n;) {
        ssize_t r = snapshot_read(s, buf + done, n - done);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return sv_err_set(err, SV_EIO, "unable to read the snapshot: %s", strerror(errno));
        if (r == 0) return sv_err_set(err, SV_EIO, "the snapshot is shorter than its page count says");
        done += (size_t)r;
    }
    return 0;
}

/* The diff pass: every page hashed into the new state and compared with the
 * old state's hash. 0 with r->changed and r->state_sum; 1 when the old
 * state's hashes are damaged (a full it is); -1 on error. */
static int diff_pass(backup_run *r, sv_err *err)
{
    snapshot_info *snap = &r->snap;
    uint32_t ps = (uint32_t)snap->page_size, pc = (uint32_t)(snap->size / ps);
    unsigned char *buf = malloc(CHUNK), oldh[CHAIN_HASH_LEN], newh[CHAIN_HASH_LEN];
    chain_hashes *oh = NULL;
    chain_state_sum *sum = chain_state_sum_new();
    uint32_t pg = 0;
    uint64_t done = 0;
    int rc = -1, nx;
    sv_err e;
    r->changed = 0;
    if (!buf || !sum) {
        sv_err_set(err, SV_ENOMEM, "out of memory");
        goto done;
    }
    if (chain_hashes_open(r->state_path, &r->old, &oh, &e) != 0) {
        log_warn(r->ctx->job_id, r->bp->workspace, "%s: a full it is", e.msg);
        rc = 1;
        goto done;
    }
    if (snap->fd >= 0) posix_fadvise(snap->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    while (done < snap->size) {
        size_t n = snap->size - done < CHUNK ? (size_t)(snap->size - done) : CHUNK;
        if (read_full(snap, buf, n, err) != 0) goto done;
        for (size_t off = 0; off < n; off += ps) {
            pg++;
            chain_page_hash(buf + off, ps, newh);
            chain_state_sum_hash(sum, newh);
            if (chain_state_writer_hash(r->sw, newh, err) != 0) goto done;
            if (pg > r->old.page_count) {
                r->changed++;
                continue;
            }
            if ((nx = chain_hashes_next(oh, oldh, &e)) != 1) {
                log_warn(r->ctx->job_id, r->bp->workspace, "%s: a full it is", nx < 0 ? e.msg : "chain state short");
                rc = 1;
                goto done;
            }
            if (memcmp(oldh, newh, CHAIN_HASH_LEN) != 0) r->changed++;
        }
        done += n;
        job_progress(r->ctx, "diff", done, snap->size);
        if (job_cancelled(r->ctx)) {
            sv_err_set(err, SV_ELEASE, "job cancelled: lease lost or shutting down");
            goto done;
        }
    }
    if (pg != pc) {
        sv_err_set(err, SV_EINTERNAL, "diff pass: %u pages of %u", pg, pc);
        goto done;
    }
    /* The old hashes prove themselves: their sum is the head's checksum. */
    if (chain_hashes_verify(oh, &e) != 0) {
        log_warn(r->ctx->job_id, r->bp->workspace, "%s: a full it is", e.msg);
        rc = 1;
        goto done;
    }
    chain_state_sum_finish(sum, r->state_sum);
    sum = NULL;
    rc = 0;
done:
    chain_state_sum_free(sum);
    chain_hashes_close(oh);
    free(buf);
    return rc;
}

/* Makes this backup a full: the hashes start over and the snapshot is read
 * from its first byte again. */
static int as_full(backup_run *r, const char *why, sv_err *err)
{
    uint32_t ps = (uint32_t)r->snap.page_size;
    if (why) r->full_reason = why;
    r->incremental = false;
    if (r->sw && chain_state_writer_reset(r->sw, err) != 0) return -1;
    if (snapshot_rewind(&r->snap) != 0)
        return sv_err_set(err, SV_EIO, "unable to rewind the snapshot: %s", strerror(errno));
    if (page_hasher_init(&r->ph, ps, r->sw, err) != 0) return -1;
    r->hashing = true;
    return 0;
}

/* Full or incremental (see the top of this file). */
int incr_plan(backup_run *r, sv_err *err)
{
    job_ctx *ctx = r->ctx;
    const sv_config *cfg = ctx->cfg;
    const backup_params *bp = r->bp;
    snapshot_info *snap = &r->snap;
    uint32_t ps = (uint32_t)snap->page_size;
    int d;
    if (bp->store_dir) return 0;
    if (!r->chain) {
        /* A full outside any chain still records its stateChecksum. */
        if (page_hasher_init(&r->ph, ps, NULL, err) != 0) return -1;
        r->hashing = true;
        return 0;
    }
    if (snap->size / ps > UINT32_MAX) return sv_err_set(err, SV_ETOOBIG, "the database has more than 2^32 pages");
    if (chain_state_writer_new(cfg->state_dir, ctx->clock, &r->sw, err) != 0) {
        /* The state is a cache: a backup goes on without one (a full, no state saved). */
        log_warn(ctx->job_id, bp->workspace, "%s: a full without a chain state", err->msg);
        sv_err_clear(err);
        r->sw = NULL;
        return as_full(r, "the chain state cannot be written", err);
    }
    if (!r->have_old) return as_full(r, NULL, err);
    if (strcmp(bp->mode, "full") == 0) return as_full(r, "a full was asked for", err);
    if (r->old.page_size != ps) return as_full(r, "the page size changed", err);
    /* A link must be newer than its parent: a restore walks a chain down by
     * strictly older folders (catalog_chain), so a link labelled at or
     * before its head (the clock went back, or an explicit older --ts) would
     * commit and never restore. */
    if (strcmp(r->out->ts, r->old.head) <= 0)
        return as_full(r, "the backup's time is not after the chain's head (the clock went back?)", err);
    if (sv_now_ms(ctx->clock) - r->old.base_ms >= cfg->full_every_ms)
        return as_full(r, "the chain's base is older than SQLVAULT_FULL_EVERY", err);
    if (r->old.chain_length >= (uint32_t)cfg->max_chain)
        return as_full(r, "the chain has SQLVAULT_MAX_CHAIN incrementals", err);
    d = diff_pass(r, err);
    if (d < 0) return -1;
    if (d > 0) return as_full(r, "the chain state is damaged", err);
    if (r->changed == 0 && snap->size / ps == r->old.page_count) {
        /* The same pages: only the fingerprint moves on, once the head is
         * proven when due (checkedAt is at least the base's time, which is
         * younger than SQLVAULT_FULL_EVERY here, so only a clock that went
         * back gets here due). */
        chain_state st;
        sv_err e;
        int64_t now = sv_now_ms(ctx->clock);
        if (head_check_due(r, now)) {
            d = head_in_store(r, err);
            if (d < 0) return -1;
            if (d > 0) return as_full(r, NULL, err);
            r->old.checked_ms = now;
        }
        st = r->old;
        snprintf(st.fingerprint, sizeof st.fingerprint, "%s", snap->fp.stable ? snap->fp.text : "");
        if (chain_state_writer_commit(r->sw, &st, &e) != 0)
            log_warn(ctx->job_id, bp->workspace, "the chain state was not refreshed: %s", e.msg);
        else
            r->out->state_saved = true; /* its hashes are this snapshot's (no page changed) */
        say_unchanged(r, "no page changed");
        return 1;
    }
    d = head_in_store(r, err);
    if (d < 0) return -1;
    if (d > 0) return as_full(r, NULL, err);
    {
        char name[64];
        chain_object_name(r->old.head, name, sizeof name);
        free(r->obj_keys[0]);
        r->obj_keys[0] = backup_key(bp->workspace, r->out->ts, name);
        if (!r->obj_keys[0]) return sv_err_set(err, SV_ENOMEM, "out of memory");
    }
    r->incremental = true;
    r->full_reason = NULL;
    return 0;
}

/* ---- the incremental's object ------------------------------------------ */

typedef struct sink_ud {
    job_ctx *ctx;
    pipe_t *p;
} sink_ud;

/* chain_sink into the pipeline. */
static int to_pipe(void *ud, const void *buf, size_t n, sv_err *err)
{
    sink_ud *s = ud;
    return pipe_feed(s->ctx, s->p, buf, n, err);
}

/* The page stream of the changed pages, through the pipeline. */
int incr_upload(backup_run *r, sv_err *err)
{
    job_ctx *ctx = r->ctx;
    snapshot_info *snap = &r->snap;
    pipe_t *p = &r->p;
    uint32_t ps = (uint32_t)snap->page_size, pc = (uint32_t)(snap->size / ps), emitted = 0;
    uint64_t len = CHAIN_HEADER_LEN + (uint64_t)r->changed * (4 + ps) + CHAIN_TRAILER_LEN;
    unsigned char oldh[CHAIN_HASH_LEN], newh[CHAIN_HASH_LEN];
    chain_hashes *oh = NULL;
    chain_writer *w = NULL;
    sink_ud ud = {ctx, p};
    int rc = -1;
    if (pipe_open(ctx, p, r->obj_keys[0], NULL, r->enc ? &r->dk : NULL, len, SEEK_KIND_STREAM, ps, err) != 0)
        goto done;
    if (chain_writer_new(ps, pc, r->changed, to_pipe, &ud, &w, err) != 0) goto done;
    if (chain_hashes_open(r->state_path, &r->old, &oh, err) != 0) goto done;
    for (uint32_t pg = 1; pg <= pc; pg++) {
        bool changed = pg > r->old.page_count;
        if (chain_state_writer_read(r->sw, pg, newh, err) != 0) goto done;
        if (!changed) {
            if (chain_hashes_next(oh, oldh, err) != 1) {
                if (err->code == SV_OK) sv_err_set(err, SV_ECORRUPT, "the chain state changed during the backup");
                goto done;
            }
            changed = memcmp(oldh, newh, CHAIN_HASH_LEN) != 0;
        }
        if (!changed) continue;
        if (snapshot_pread(snap, p->in, ps, (uint64_t)(pg - 1) * ps) != 0) {
            sv_err_set(err, SV_EIO, "unable to read page %u of the snapshot: %s", pg, strerror(errno));
            goto done;
        }
        if (chain_writer_page(w, pg, p->in, err) != 0) goto done;
        if (seek_page(p->seek, pg, newh, err) != 0) goto done;
        if (++emitted % 256 == 0) {
            job_progress(ctx, "upload", emitted, r->changed);
            if (job_cancelled(ctx)) {
                sv_err_set(err, SV_ELEASE, "job cancelled: lease lost or shutting down");
                goto done;
            }
        }
    }
    if (chain_writer_finish(w, NULL, err) != 0) goto done;
    if (pipe_close(ctx, p, "livestore.db", r->obj_keys[0], snap->size, snap->page_size, (int64_t)pc, r->sum0,
                   r->osum0, &r->compressed0, r->files, err) != 0)
        goto done;
    r->total = r->compressed0;
    rc = 0;
done:
    chain_writer_free(w);
    chain_hashes_close(oh);
    return rc;
}

/* ---- LiveStore stores: the unchanged skip ------------------------------ */

/* The fingerprint of a store's files: both files' (snapshot_fingerprint,
 * which reads with plain descriptors and never opens them with SQLite) and
 * their names, hashed to fit the state. Unstable while a -journal exists (a
 * write in progress) or a wal-index is mid-update. */
static int store_fingerprint(const char *dir, char out[CHAIN_FP_LEN])
{
    ls_files lf = {0};
    snapshot_fp a, b;
    char path[4096], hex[SV_SHA256_HEX_LEN], *text;
    struct stat sb;
    bool stable = true;
    sv_err e;
    out[0] = '\0';
    if (livestore_files(dir, &lf, &e) != 0) return -1;
    snprintf(path, sizeof path, "%s/%s", dir, lf.eventlog);
    snapshot_fingerprint(path, &a);
    snprintf(path, sizeof path, "%s/%s-journal", dir, lf.eventlog);
    if (stat(path, &sb) == 0) stable = false;
    b.text[0] = '\0';
    b.stable = true;
    if (lf.state) {
        snprintf(path, sizeof path, "%s/%s", dir, lf.state);
        snapshot_fingerprint(path, &b);
        snprintf(path, sizeof path, "%s/%s-journal", dir, lf.state);
        if (stat(path, &sb) == 0) stable = false;
    }
    text = sv_asprintf("%s|%s|%s|%s", lf.eventlog, lf.state ? lf.state : "-", a.text, b.text);
    livestore_files_free(&lf);
    if (!text) return -1;
    sv_sha256_hex(text, strlen(text), hex);
    free(text);
    if (stable && a.stable && b.stable) snprintf(out, CHAIN_FP_LEN, "store:%s", hex);
    return 0;
}

/* Before a store's copy: 1 when its files' fingerprint equals the state's. */
int incr_store_check(backup_run *r, sv_err *err)
{
    const sv_config *cfg = r->ctx->cfg;
    const backup_params *bp = r->bp;
    char store_id[CHAIN_STORE_ID_LEN];
    sv_err e;
    bool proven;
    int d;
    chain_store_id(cfg->store_url ? cfg->store_url : "", store_id);
    r->state_path = chain_state_path(cfg->state_dir, bp->workspace);
    if (!r->state_path) return sv_err_set(err, SV_ENOMEM, "out of memory");
    /* Taken before the copy: a write during it makes the next backup a real one. */
    if (store_fingerprint(bp->store_dir, r->store_fp) != 0) r->store_fp[0] = '\0';
    if (strcmp(bp->mode, "full") == 0 || !r->store_fp[0]) return 0;
    if (chain_state_load(r->state_path, store_id, bp->workspace, &r->old, &e) != 0) return 0;
    if (strcmp(r->old.head_type, "store") != 0 || strcmp(r->old.fingerprint, r->store_fp) != 0) return 0;
    /* Gone from the store: the copy goes on (a store's backup is a full), full_reason set. */
    if ((d = prove_head(r, &proven, err)) != 0) return d < 0 ? -1 : 0;
    say_unchanged(r, proven ? "fingerprint; the head is still in the store" : "fingerprint");
    return 1;
}

/* After a store's own commit: its state (no pages, the fingerprint). */
void incr_store_commit(backup_run *r)
{
    chain_state st;
    chain_state_writer *w = NULL;
    sv_err e;
    memset(&st, 0, sizeof st);
    snprintf(st.workspace, sizeof st.workspace, "%s", r->bp->workspace);
    chain_store_id(r->ctx->cfg->store_url ? r->ctx->cfg->store_url : "", st.store_id);
    memcpy(st.head, r->out->ts, SV_TS_LEN);
    memcpy(st.base, r->out->ts, SV_TS_LEN);
    snprintf(st.head_type, sizeof st.head_type, "store");
    st.base_ms = r->ts_ms;
    st.checked_ms = sv_now_ms(r->ctx->clock); /* its marker was just written */
    snprintf(st.state_sum, sizeof st.state_sum, "-");
    st.page_size = 4096; /* no pages: a placeholder the format checks */
    snprintf(st.fingerprint, sizeof st.fingerprint, "%s", r->store_fp);
    if (chain_state_writer_new(r->ctx->cfg->state_dir, r->ctx->clock, &w, &e) != 0 ||
        chain_state_writer_commit(w, &st, &e) != 0)
        log_warn(r->ctx->job_id, r->bp->workspace, "backup %s committed, but the store's state was not saved: %s",
                 r->out->ts, e.msg);
    chain_state_writer_free(w);
}

/* ---- metadata and the new state ---------------------------------------- */

/* The chain's fields of metadata.json. */
void incr_meta(backup_run *r, json_t *meta)
{
    if (!r->hashing && !r->incremental) return; /* a LiveStore store: no page hashes */
    if (r->incremental) {
        char name[64];
        chain_object_name(r->old.head, name, sizeof name);
        json_object_set_new(meta, "backupType", json_string("incremental"));
        json_object_set_new(meta, "object", json_string(name));
        json_object_set_new(meta, "parent", json_string(r->old.head));
        json_object_set_new(meta, "parentStateChecksum", json_string(r->parent_sum));
        json_object_set_new(meta, "base", json_string(r->old.base));
        json_object_set_new(meta, "chainLength", json_integer((json_int_t)r->old.chain_length + 1));
        json_object_set_new(meta, "changedPages", json_integer((json_int_t)r->changed));
    } else {
        json_object_set_new(meta, "chainLength", json_integer(0));
    }
    json_object_set_new(meta, "stateChecksum", json_string(r->state_sum));
}

/* The new chain state: this backup is the head. */
void incr_commit_state(backup_run *r)
{
    chain_state st;
    sv_err e;
    const snapshot_info *snap = &r->snap;
    if (!r->chain || !r->sw) return;
    memset(&st, 0, sizeof st);
    snprintf(st.workspace, sizeof st.workspace, "%s", r->bp->workspace);
    chain_store_id(r->ctx->cfg->store_url ? r->ctx->cfg->store_url : "", st.store_id);
    memcpy(st.head, r->out->ts, SV_TS_LEN);
    snprintf(st.head_type, sizeof st.head_type, "%s", r->incremental ? "incremental" : "full");
    if (r->incremental) {
        memcpy(st.base, r->old.base, SV_TS_LEN);
        st.base_ms = r->old.base_ms;
        st.chain_length = r->old.chain_length + 1;
    } else {
        memcpy(st.base, r->out->ts, SV_TS_LEN);
        st.base_ms = r->ts_ms;
        st.chain_length = 0;
    }
    snprintf(st.state_sum, sizeof st.state_sum, "%s", r->state_sum);
    st.page_size = (uint32_t)snap->page_size;
    st.page_count = (uint32_t)(snap->size / (uint64_t)snap->page_size);
    snprintf(st.fingerprint, sizeof st.fingerprint, "%s", snap->fp.stable ? snap->fp.text : "");
    st.checked_ms = sv_now_ms(r->ctx->clock); /* the head is this backup, whose marker was just written */
    if (chain_state_writer_commit(r->sw, &st, &e) != 0)
        log_warn(r->ctx->job_id, r->bp->workspace, "backup %s committed, but its chain state was not saved: %s",
                 r->out->ts, e.msg);
    else
        r->out->state_saved = true;
}

/* Frees what the chain phases made. */
void incr_free(backup_run *r)
{
    chain_state_writer_free(r->sw);
    r->sw = NULL;
    page_hasher_free(&r->ph);
    free(r->state_path);
    r->state_path = NULL;
}
