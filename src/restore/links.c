/* links.c -- restoring an incremental: its chain resolved, proven and
 * applied (include/chain.h).
 *
 * Resolution reads ONE listing of full/WS/ (catalog_list): the target is
 * picked from it (latest, or the newest committed backup at or before a
 * time), and its parents are walked down to the full at the base
 * (catalog_chain): every link must be committed and hold its object, or the
 * restore is refused naming the missing link. Then every member's
 * metadata.json is read and the chain is checked as a whole: each one
 * belongs to this workspace (instanceId), each link is an incremental whose
 * "parent" is the folder the listing names, whose "parentStateChecksum" is
 * its parent's "stateChecksum", whose "base" is the chain's base, whose
 * chainLength counts up from the base's 0, and whose object is
 * pages-PARENT.zst. A folder copied in from another workspace or a link of
 * another chain fails one of these and is named.
 *
 * Applying: the base is fetched into the restore's temporary file as a full
 * is (restore_fetch: sizes, both checksums, capped decompression). Each link
 * is then streamed through the same fetch machinery (download, object
 * checksum, decrypting filter, capped zstd, sha256 of the page stream) into
 * chain_apply_feed on that file, one link at a time; a link whose checksum
 * or stream is refused is named. Memory is the fetch's ring and zstd's
 * window whatever the chain's length. Last, one read of the result computes
 * its sha256 and its state checksum, which must equal the target's
 * "stateChecksum": the chain reproduced exactly the state that was backed
 * up. The caller then validates the file as any restore does, always with
 * integrity_check. */
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "backup.h"
#include "catalog.h"
#include "chain.h"
#include "digest.h"
#include "internal.h"
#include "log.h"

/* Frees what a chain holds; safe on a zeroed one and twice. */
void restore_chain_free(restore_chain *c)
{
    for (size_t i = 0; c->meta && i < c->n; i++) json_decref(c->meta[i]);
    free(c->meta);
    free(c->ts);
    c->meta = NULL;
    c->ts = NULL;
    c->n = 0;
}

/* A string field of a metadata document ("" when absent). */
static const char *mstr(json_t *m, const char *k)
{
    const char *s = json_string_value(json_object_get(m, k));
    return s ? s : "";
}

/* An integer field, or -1. */
static int64_t mint(json_t *m, const char *k)
{
    json_t *v = json_object_get(m, k);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : -1;
}

/* Checks member i of the chain against the workspace and its parent. */
static int check_member(const restore_chain *c, size_t i, sv_err *err)
{
    json_t *m = c->meta[i];
    const char *ts = c->ts[i], *target = c->ts[c->n - 1];
    const char *id = mstr(m, "instanceId"), *type = mstr(m, "backupType");
    char obj[64];
    int64_t len;
    if (strcmp(id, c->ws) != 0)
        return sv_err_set(err, SV_ECORRUPT, "link %s of the chain of backup %s belongs to workspace '%s', not '%s' "
                          "(a folder copied from another workspace?)", ts, target, id, c->ws);
    if (i == 0) {
        if (strcmp(type, "incremental") == 0)
            return sv_err_set(err, SV_ENOTFOUND, "link %s of the chain of backup %s is missing: metadata.json says it "
                              "is an incremental but its object pages-%s.zst is not in the store", ts, target,
                              mstr(m, "parent"));
        if (!*mstr(m, "stateChecksum"))
            return sv_err_set(err, SV_ECORRUPT, "base %s of the chain of backup %s has no stateChecksum (a backup "
                              "made before incrementals cannot start a chain)", ts, target);
        return 0;
    }
    if (strcmp(type, "incremental") != 0)
        return sv_err_set(err, SV_ECORRUPT, "link %s of the chain of backup %s: metadata.json says backupType '%s', "
                          "but its object is an incremental's", ts, target, type);
    if (strcmp(mstr(m, "parent"), c->ts[i - 1]) != 0)
        return sv_err_set(err, SV_ECORRUPT, "link %s of the chain of backup %s: metadata.json names parent '%s' but "
                          "its object builds on %s", ts, target, mstr(m, "parent"), c->ts[i - 1]);
    chain_object_name(c->ts[i - 1], obj, sizeof obj);
    if (strcmp(mstr(m, "object"), obj) != 0)
        return sv_err_set(err, SV_ECORRUPT, "link %s of the chain of backup %s: metadata.json names object '%s', not "
                          "%s", ts, target, mstr(m, "object"), obj);
    if (strcmp(mstr(m, "base"), c->ts[0]) != 0)
        return sv_err_set(err, SV_ECORRUPT, "link %s of the chain of backup %s: metadata.json names base '%s' but the "
                          "chain's base is %s", ts, target, mstr(m, "base"), c->ts[0]);
    if (!*mstr(m, "parentStateChecksum") ||
        strcasecmp(mstr(m, "parentStateChecksum"), mstr(c->meta[i - 1], "stateChecksum")) != 0)
        return sv_err_set(err, SV_ECORRUPT, "link %s of the chain of backup %s builds on state %s, but its parent %s "
                          "holds state %s (a link of another chain)", ts, target, mstr(m, "parentStateChecksum"),
                          c->ts[i - 1], mstr(c->meta[i - 1], "stateChecksum"));
    len = mint(m, "chainLength");
    if (len != (int64_t)i)
        return sv_err_set(err, SV_ECORRUPT, "link %s of the chain of backup %s: metadata.json says chainLength %lld, "
                          "it is link %zu from base %s", ts, target, (long long)len, i, c->ts[0]);
    if (!*mstr(m, "stateChecksum") || !*mstr(m, "checksum") || strcmp(mstr(m, "compression"), "zstd") != 0)
        return sv_err_set(err, SV_ECORRUPT, "link %s of the chain of backup %s: metadata.json lacks its checksums or "
                          "says a compression other than zstd", ts, target);
    return 0;
}

/* Resolves the backup named by at and its chain (see internal.h). */
int restore_chain_resolve(job_ctx *ctx, const char *ws, const char *at, bool exact, restore_chain *out, sv_err *err)
{
    catalog_entry *v = NULL;
    size_t n = 0, idx, *chain = NULL, len = 0;
    int rc = -1;
    memset(out, 0, sizeof *out);
    out->ws = ws;
    if (catalog_list(ctx->store, ws, &v, &n, err) != 0) return -1;
    if (catalog_pick(v, n, ws, at, exact, &idx, err) != 0) goto done;
    if (v[idx].incremental || !v[idx].has_object) {
        if (catalog_chain(v, n, idx, &chain, &len, err) != 0) goto done;
    } else { /* a full: its own chain (its object's absence is the fetch's to report, as before) */
        if (!(chain = malloc(sizeof *chain))) {
            sv_err_set(err, SV_ENOMEM, "out of memory");
            goto done;
        }
        chain[0] = idx;
        len = 1;
    }
    out->ts = calloc(len, sizeof *out->ts);
    out->meta = calloc(len, sizeof *out->meta);
    if (!out->ts || !out->meta) {
        sv_err_set(err, SV_ENOMEM, "out of memory");
        goto done;
    }
    out->n = len;
    for (size_t i = 0; i < len; i++) memcpy(out->ts[i], v[chain[i]].ts, SV_TS_LEN);
    for (size_t i = 0; i < len; i++) {
        if (catalog_read_meta(ctx->store, ws, out->ts[i], &out->meta[i], err) != 0) {
            if (len > 1) sv_err_wrap(err, "link %s of the chain of backup %s", out->ts[i], out->ts[len - 1]);
            goto done;
        }
    }
    if (len > 1)
        for (size_t i = 0; i < len; i++)
            if (check_member(out, i, err) != 0) goto done;
    rc = 0;
done:
    if (rc != 0) restore_chain_free(out);
    free(chain);
    free(v);
    return rc;
}

/* One link's application, fed by restore_fetch's sink. */
typedef struct link_sink {
    chain_applier *a;
} link_sink;

/* The sink: page stream bytes into the applier. */
static int link_feed(void *ud, const void *data, size_t n, sv_err *err)
{
    return chain_apply_feed(((link_sink *)ud)->a, data, n, err);
}

/* Applies link i of c onto the file open on fd. */
static int apply_link(job_ctx *ctx, const restore_chain *c, size_t i, int fd, uint32_t page_size, restore_fetched *f,
                      sv_err *err)
{
    json_t *m = c->meta[i];
    uint64_t cap = ctx->cfg->max_db_size, pages = 0, written = 0;
    link_sink ls = {0};
    restore_fetched lf;
    restore_fetch_opts fo = {.store = ctx->store, .tmp_dir = ctx->cfg->tmp_dir, .require_zstd = true,
                             .expect_size = -1, .sink = link_feed, .sink_ud = &ls};
    char *key = backup_key(c->ws, c->ts[i], mstr(m, "object"));
    int rc = -1;
    if (!key) return sv_err_set(err, SV_ENOMEM, "out of memory");
    /* The stream: the pages of a capped database plus 4 bytes a page and its header and trailer. */
    fo.max_size = cap + cap / 128 + CHAIN_HEADER_LEN + CHAIN_TRAILER_LEN;
    fo.key = key;
    fo.encrypted = json_object_get(m, "encryption") && !json_is_null(json_object_get(m, "encryption"));
    fo.expect_sum = mstr(m, "checksum");
    fo.expect_obj_sum = *mstr(m, "compressedChecksum") ? mstr(m, "compressedChecksum") : NULL;
    fo.expect_obj_size = mint(m, "compressedSize");
    if (lseek(fd, 0, SEEK_SET) < 0 || chain_apply_new(fd, page_size, cap, &ls.a, err) != 0) goto done;
    if (restore_fetch(ctx, &fo, &lf, err) != 0) goto done;
    if (chain_apply_finish(ls.a, &pages, &written, err) != 0) goto done;
    if (mint(m, "databaseSize") >= 0 && pages * page_size != (uint64_t)mint(m, "databaseSize")) {
        sv_err_set(err, SV_ECORRUPT, "it produces %llu bytes but metadata.json says %lld",
                   (unsigned long long)(pages * page_size), (long long)mint(m, "databaseSize"));
        goto done;
    }
    f->pages_applied += written;
    f->links_bytes += lf.object_size;
    f->size = pages * page_size;
    rc = 0;
done:
    if (rc != 0) {
        sv_err_wrap(err, "link %s of the chain of backup %s", c->ts[i], c->ts[c->n - 1]);
        if (err->code == SV_ECHECKSUM || err->code == SV_ECORRUPT)
            sv_err_hint(err, "the link was damaged or replaced in the store; restore a point before %s", c->ts[i]);
    }
    chain_apply_free(ls.a);
    free(key);
    return rc;
}

/* One read of the result: its sha256 and its state checksum. */
static int sum_result(int fd, uint32_t page_size, char sum[72], char state[72], sv_err *err)
{
    size_t chunk = (size_t)page_size * (1024 * 1024 / page_size);
    unsigned char *b = malloc(chunk);
    chain_state_sum *ss = chain_state_sum_new();
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    off_t off = 0;
    int rc = -1;
    if (!b || !ss || !md) {
        sv_err_set(err, SV_ENOMEM, "out of memory");
        goto done;
    }
    EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    for (;;) {
        ssize_t got = pread(fd, b, chunk, off);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) {
            sv_err_set(err, SV_EIO, "reading the restored file: %s", strerror(errno));
            goto done;
        }
        if (got == 0) break;
        if ((size_t)got % page_size != 0) { /* a short read mid-file: read on from a page boundary */
            got -= (ssize_t)((size_t)got % page_size);
            if (got == 0) {
                sv_err_set(err, SV_ECORRUPT, "the restored file is not a whole number of pages");
                goto done;
            }
        }
        EVP_DigestUpdate(md, b, (size_t)got);
        chain_state_sum_pages(ss, b, (size_t)got, page_size);
        off += got;
    }
    sv_digest_checksum(md, sum);
    chain_state_sum_finish(ss, state);
    ss = NULL;
    rc = 0;
done:
    if (ss) chain_state_sum_finish(ss, state); /* frees it */
    EVP_MD_CTX_free(md);
    free(b);
    return rc;
}

/* Applies c's links onto the fetched base (see internal.h). */
int restore_chain_apply(job_ctx *ctx, const restore_chain *c, restore_fetched *f, sv_err *err)
{
    json_t *target = c->meta[c->n - 1];
    unsigned char hdr[100];
    restore_header h;
    int64_t t0 = sv_mono_ms(ctx->clock);
    int fd = -1, rc = -1;
    memcpy(f->chain_base, c->ts[0], SV_TS_LEN);
    if (c->n < 2) return 0;
    fd = open(f->path, O_RDWR | O_CLOEXEC);
    if (fd < 0) return sv_err_set(err, SV_EIO, "unable to open '%s': %s", f->path, strerror(errno));
    if (pread(fd, hdr, sizeof hdr, 0) != (ssize_t)sizeof hdr) {
        sv_err_set(err, SV_ECORRUPT, "base %s of the chain of backup %s is shorter than a database header", c->ts[0],
                   c->ts[c->n - 1]);
        goto done;
    }
    if (restore_check_header(hdr, sizeof hdr, f->size, &h, err) != 0) {
        sv_err_wrap(err, "base %s of the chain of backup %s", c->ts[0], c->ts[c->n - 1]);
        goto done;
    }
    for (size_t i = 1; i < c->n; i++) {
        job_progress(ctx, "apply", i - 1, c->n - 1);
        if (job_cancelled(ctx)) {
            sv_err_set(err, SV_ELEASE, "job cancelled: lease lost or shutting down");
            goto done;
        }
        if (apply_link(ctx, c, i, fd, h.page_size, f, err) != 0) goto done;
        f->links++;
    }
    job_progress(ctx, "apply", c->n - 1, c->n - 1);
    if (sum_result(fd, h.page_size, f->sum, f->state_sum, err) != 0) goto done;
    if (strcasecmp(f->state_sum, mstr(target, "stateChecksum")) != 0) {
        sv_err_set(err, SV_ECHECKSUM, "the chain does not reproduce backup %s: its %u links from base %s give state "
                   "%s, metadata.json says %s", c->ts[c->n - 1], f->links, c->ts[0], f->state_sum,
                   mstr(target, "stateChecksum"));
        sv_err_hint(err, "a link or the base was damaged or replaced in the store; restore a point before %s",
                    c->ts[c->n - 1]);
        goto done;
    }
    f->apply_ms = sv_mono_ms(ctx->clock) - t0;
    log_info(ctx->job_id, ctx->workspace, "backup %s rebuilt from base %s and %u link(s) (%llu pages, %lld ms), "
             "state %s", c->ts[c->n - 1], c->ts[0], f->links, (unsigned long long)f->pages_applied,
             (long long)f->apply_ms, f->state_sum);
    rc = 0;
done:
    if (fd >= 0 && close(fd) != 0 && rc == 0)
        rc = sv_err_set(err, SV_EIO, "unable to write '%s': %s", f->path, strerror(errno));
    return rc;
}
