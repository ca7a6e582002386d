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
 * is (restore_fetch: sizes, the object checksum, capped decompression; its
 * sha256 as a database only when its metadata has no object checksum: the
 * state checksum proves its bytes in the result). Each link
 * is then streamed through the same fetch machinery (object checksum,
 * decrypting filter, capped zstd, sha256 of the page stream) into
 * chain_apply_feed on that file, one link at a time; a link whose checksum
 * or stream is refused is named. Memory is the fetch's ring and zstd's
 * window whatever the chain's length. Last, one read of the result computes
 * its state checksum, which must equal the target's "stateChecksum": the
 * chain reproduced exactly the state that was backed up. That read runs in
 * a thread of its own while the caller validates the file as any restore
 * does, always with integrity_check (restore_chain_prove joins it). The
 * result's "checksum" is that state checksum (its sha256 is not computed).
 *
 * The links' metadata.json and objects are read ahead by a pool of
 * fetcher threads (SQLVAULT_RESTORE_CONCURRENCY, default 8, no more than
 * there are links), each with its own store connection, started as soon as
 * the listing names the links: their round trips overlap each other and
 * the base's download instead of adding up one after another (a day of
 * minute links is ~2,900 GETs; at R2's tens of ms each, one at a time is a
 * minute). Fetchers claim tasks in order: every link's metadata.json first
 * (the whole chain is checked before anything is applied), then the
 * objects in chain order. An object goes, as stored, to a temporary file
 * restore-ID.db in SQLVAULT_TMP_DIR, flocked while it exists (tmpsweep.h),
 * no larger than the listing said. A link is claimed only within
 * PREFETCH_LINKS links and PREFETCH_AHEAD bytes (listing sizes) of the one
 * being applied, so files, descriptors and disk ahead are bounded whatever
 * the chain's length; the link after the applied one always fits, so the
 * applier never waits on the bounds. The applier takes the links strictly
 * in order and reads each back through restore_fetch (path, with the store
 * key as the decryption context), so every check is the same as for a
 * download; once applied, a link's file, names and (trimmed) metadata go.
 * A failed read stops further claims; the error reported is the lowest
 * failed link's, once every link before it is in, so it names the first
 * bad link as a sequential read would.
 *
 * THREAD SAFETY NOTES: each fetcher owns its store connection and touches
 * only the link it claimed (its file, c->meta[i], lockfd1[i]); the claim
 * counters, st, meta_done, done, applied, ahead, the failures and abort are
 * shared under mu (cv broadcast on every change). A metadata document
 * belongs to its fetcher until st has PF_META for it, a file until PF_OBJ
 * (or until it is the failed one); then they are the applier's. Errors are
 * read only under mu, once their failure is recorded. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include "backup.h"
#include "catalog.h"
#include "chain.h"
#include "crypto.h"
#include "digest.h"
#include "internal.h"
#include "log.h"
#include "tmpsweep.h"

#define PREFETCH_AHEAD (256ULL * 1024 * 1024) /* listing sizes of links claimed, not yet applied */
#define PREFETCH_LINKS 64                      /* links claimed, not yet applied */
#define PF_META 1                              /* st[i]: link i's metadata is read */
#define PF_OBJ 2                               /* st[i]: link i's object is downloaded */

/* One fetcher thread and its own store connection. */
typedef struct pf_worker {
    chain_prefetch *pf;
    store_t *store;
    pthread_t th;
} pf_worker;

struct chain_prefetch {
    restore_chain *c;          /* whose links: the fetchers fill c->meta[1..n-1] */
    size_t n;
    const uint64_t *caps;      /* the listing's object sizes */
    char **keys, **paths;      /* per link (index 1..n-1), heap, freed once applied */
    int *lockfd1;              /* descriptor + 1 holding each file's flock */
    unsigned char *st;         /* per link: PF_META | PF_OBJ */
    pf_worker *w;              /* nw of them (their stores NULL until opened) */
    size_t nw, started;        /* fetchers allocated, running */
    pthread_mutex_t mu;
    pthread_cond_t cv;         /* broadcast on every change below */
    size_t meta_next, obj_next;/* the next link whose metadata / object a fetcher claims */
    size_t meta_done;          /* links 1..meta_done have their metadata read */
    size_t done;               /* links 1..done are downloaded */
    size_t applied;            /* links 1..applied are applied (their files gone) */
    uint64_t ahead;            /* listing sizes of links claimed, not yet applied */
    size_t meta_fail, obj_fail;/* the lowest link whose metadata / object failed (0: none) */
    sv_err meta_err, obj_err;  /* their errors */
    bool abort;
};

/* The download sink: a file, capped at the listing's size. */
typedef struct pf_sink {
    int fd;
    uint64_t got, cap;
    chain_prefetch *pf;
} pf_sink;

static int pf_write(void *ud, const void *data, size_t n, sv_err *err)
{
    pf_sink *ps = ud;
    bool stop;
    ps->got += n;
    if (ps->got > ps->cap)
        return sv_err_set(err, SV_ECORRUPT, "the object is larger than the %llu bytes the listing says",
                          (unsigned long long)ps->cap);
    pthread_mutex_lock(&ps->pf->mu);
    stop = ps->pf->abort;
    pthread_mutex_unlock(&ps->pf->mu);
    if (stop) return sv_err_set(err, SV_ECANCEL, "prefetch stopped");
    if (sv_write_all(ps->fd, data, n) != 0)
        return sv_err_set(err, errno == ENOSPC || errno == EDQUOT ? SV_ENOSPC : SV_EIO,
                          "unable to write a temporary file: %s", strerror(errno));
    return 0;
}

static void trim_meta(json_t *m);
static void proof_free(chain_proof *p);

/* Reads link i's metadata.json (trimmed, but the target's) on store. */
static void pf_meta(chain_prefetch *pf, store_t *store, size_t i)
{
    restore_chain *c = pf->c;
    json_t *m = NULL;
    sv_err e;
    int rc;
    sv_err_clear(&e);
    rc = catalog_read_meta(store, c->ws, c->ts[i], &m, &e);
    if (rc != 0) sv_err_wrap(&e, "link %s of the chain of backup %s", c->ts[i], c->ts[c->n - 1]);
    else if (i < pf->n - 1) trim_meta(m);
    pthread_mutex_lock(&pf->mu);
    if (rc != 0) {
        if (!pf->meta_fail || i < pf->meta_fail) {
            pf->meta_fail = i;
            pf->meta_err = e;
        }
    } else {
        c->meta[i] = m;
        pf->st[i] |= PF_META;
        while (pf->meta_done + 1 < pf->n && (pf->st[pf->meta_done + 1] & PF_META)) pf->meta_done++;
    }
    pthread_cond_broadcast(&pf->cv);
    pthread_mutex_unlock(&pf->mu);
}

/* Downloads link i's object, as stored, to its flocked file. */
static void pf_object(chain_prefetch *pf, store_t *store, size_t i)
{
    pf_sink ps = {.fd = -1, .cap = pf->caps[i], .pf = pf};
    sv_err e;
    int rc, lfd = -1;
    sv_err_clear(&e);
    ps.fd = open(pf->paths[i], O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (ps.fd < 0) {
        rc = sv_err_set(&e, errno == ENOSPC ? SV_ENOSPC : SV_EIO, "unable to create '%s': %s", pf->paths[i],
                        strerror(errno));
    } else {
        lfd = open(pf->paths[i], O_RDONLY | O_CLOEXEC);
        if (lfd >= 0 && flock(lfd, LOCK_EX) != 0) {
            close(lfd);
            lfd = -1;
        }
        rc = store_get(store, pf->keys[i], 0, pf_write, &ps, &e);
        if (close(ps.fd) != 0 && rc == 0)
            rc = sv_err_set(&e, SV_EIO, "unable to write '%s': %s", pf->paths[i], strerror(errno));
    }
    pthread_mutex_lock(&pf->mu);
    if (lfd >= 0) pf->lockfd1[i] = lfd + 1;
    if (rc != 0) {
        if (!pf->obj_fail || i < pf->obj_fail) {
            pf->obj_fail = i;
            pf->obj_err = e;
        }
    } else {
        pf->st[i] |= PF_OBJ;
        while (pf->done + 1 < pf->n && (pf->st[pf->done + 1] & PF_OBJ)) pf->done++;
    }
    pthread_cond_broadcast(&pf->cv);
    pthread_mutex_unlock(&pf->mu);
}

/* Claims the next task under mu: every link's metadata first, then the
 * objects in chain order, within PREFETCH_LINKS links and PREFETCH_AHEAD
 * bytes of the link being applied (the link right after it always fits).
 * 0 when there is nothing left (or a failure or abort stopped the claims). */
static size_t pf_claim(chain_prefetch *pf, bool *meta)
{
    for (;;) {
        size_t i;
        if (pf->abort || pf->meta_fail || pf->obj_fail) return 0;
        if (pf->meta_next < pf->n) {
            *meta = true;
            return pf->meta_next++;
        }
        if (pf->obj_next >= pf->n) return 0;
        i = pf->obj_next;
        if (i - pf->applied <= PREFETCH_LINKS && (pf->ahead == 0 || pf->ahead + pf->caps[i] <= PREFETCH_AHEAD)) {
            *meta = false;
            pf->ahead += pf->caps[i];
            return pf->obj_next++;
        }
        pthread_cond_wait(&pf->cv, &pf->mu);
    }
}

/* A fetcher: claims tasks until none is left. */
static void *pf_main(void *arg)
{
    pf_worker *w = arg;
    chain_prefetch *pf = w->pf;
    for (;;) {
        bool meta = false;
        size_t i;
        pthread_mutex_lock(&pf->mu);
        i = pf_claim(pf, &meta);
        pthread_mutex_unlock(&pf->mu);
        if (i == 0) return NULL;
        if (meta) pf_meta(pf, w->store, i);
        else pf_object(pf, w->store, i);
    }
}

/* Removes link i's file and its lock, and frees its names. Its fetcher is
 * done with it (or every fetcher is joined). */
static void pf_remove(chain_prefetch *pf, size_t i)
{
    if (pf->paths && pf->paths[i]) unlink(pf->paths[i]);
    if (pf->lockfd1 && pf->lockfd1[i] > 0) close(pf->lockfd1[i] - 1);
    if (pf->lockfd1) pf->lockfd1[i] = 0;
    if (pf->keys) {
        free(pf->keys[i]);
        pf->keys[i] = NULL;
    }
    if (pf->paths) {
        free(pf->paths[i]);
        pf->paths[i] = NULL;
    }
}

/* Stops the fetchers, removes what they left, frees it. */
static void pf_free(chain_prefetch *pf)
{
    if (!pf) return;
    pthread_mutex_lock(&pf->mu);
    pf->abort = true;
    pthread_cond_broadcast(&pf->cv);
    pthread_mutex_unlock(&pf->mu);
    for (size_t k = 0; k < pf->started; k++) pthread_join(pf->w[k].th, NULL);
    for (size_t i = 1; i < pf->n; i++) pf_remove(pf, i);
    for (size_t k = 0; k < pf->nw; k++) store_free(pf->w[k].store);
    free(pf->w);
    free(pf->keys);
    free(pf->paths);
    free(pf->lockfd1);
    free(pf->st);
    pthread_mutex_destroy(&pf->mu);
    pthread_cond_destroy(&pf->cv);
    free(pf);
}

/* Starts downloading the links of c (keys from the listing) ahead, with
 * SQLVAULT_RESTORE_CONCURRENCY fetchers (no more than there are links). */
static int pf_start(job_ctx *ctx, restore_chain *c, sv_err *err)
{
    chain_prefetch *pf = calloc(1, sizeof *pf);
    size_t nw = ctx->cfg->restore_concurrency > 0 ? (size_t)ctx->cfg->restore_concurrency : 8;
    if (!pf) return sv_err_set(err, SV_ENOMEM, "out of memory");
    pthread_mutex_init(&pf->mu, NULL);
    pthread_cond_init(&pf->cv, NULL);
    c->pf = pf;
    pf->c = c;
    pf->n = c->n;
    pf->caps = c->obj_size;
    pf->meta_next = pf->obj_next = 1;
    if (nw > c->n - 1) nw = c->n - 1;
    pf->keys = calloc(c->n, sizeof *pf->keys);
    pf->paths = calloc(c->n, sizeof *pf->paths);
    pf->lockfd1 = calloc(c->n, sizeof *pf->lockfd1);
    pf->st = calloc(c->n, sizeof *pf->st);
    pf->w = calloc(nw, sizeof *pf->w);
    if (pf->w) pf->nw = nw;
    if (!pf->keys || !pf->paths || !pf->lockfd1 || !pf->st || !pf->w)
        return sv_err_set(err, SV_ENOMEM, "out of memory");
    if (sv_mkdirs(ctx->cfg->tmp_dir, err) != 0) return -1;
    for (size_t i = 1; i < c->n; i++) {
        char obj[64];
        chain_object_name(c->ts[i - 1], obj, sizeof obj);
        pf->keys[i] = backup_key(c->ws, c->ts[i], obj);
        pf->paths[i] = restore_tmp_path(ctx->cfg->tmp_dir, ctx->clock);
        if (!pf->keys[i] || !pf->paths[i]) return sv_err_set(err, SV_ENOMEM, "out of memory");
    }
    for (size_t k = 0; k < nw; k++) {
        pf->w[k].pf = pf;
        if (store_open(ctx->cfg, ctx->clock, &pf->w[k].store, err) != 0) return -1;
    }
    for (size_t k = 0; k < pf->nw; k++) {
        if (pthread_create(&pf->w[k].th, NULL, pf_main, &pf->w[k]) != 0) {
            if (pf->started > 0) break; /* fewer fetchers, as many as could start */
            return sv_err_set(err, SV_ENOMEM, "unable to start the prefetch threads");
        }
        pf->started++;
    }
    return 0;
}

/* Waits until every link's metadata is read (0) or a read failed (-1, err:
 * the lowest failed link's, once every link before it is read). */
static int pf_wait_meta(chain_prefetch *pf, sv_err *err)
{
    int rc = 0;
    pthread_mutex_lock(&pf->mu);
    while (pf->meta_done + 1 < pf->n && !(pf->meta_fail && pf->meta_done + 1 >= pf->meta_fail))
        pthread_cond_wait(&pf->cv, &pf->mu);
    if (pf->meta_done + 1 < pf->n) {
        *err = pf->meta_err;
        rc = -1;
    }
    pthread_mutex_unlock(&pf->mu);
    return rc;
}

/* Waits until link i is downloaded (0) or its download failed (-1, err).
 * Every link before i is applied, so i is claimed or claimable. */
static int pf_wait(chain_prefetch *pf, size_t i, sv_err *err)
{
    int rc = 0;
    pthread_mutex_lock(&pf->mu);
    while (!(pf->st[i] & PF_OBJ) && !(pf->obj_fail && pf->obj_fail <= i)) pthread_cond_wait(&pf->cv, &pf->mu);
    if (!(pf->st[i] & PF_OBJ)) {
        *err = pf->obj_err;
        rc = -1;
    }
    pthread_mutex_unlock(&pf->mu);
    return rc;
}

/* Link i is applied (or failed): its file, names and metadata (but the
 * target's) go, and the fetchers may claim further. */
static void pf_applied(chain_prefetch *pf, size_t i)
{
    pf_remove(pf, i);
    pthread_mutex_lock(&pf->mu);
    pf->applied = i;
    pf->ahead -= pf->caps[i] <= pf->ahead ? pf->caps[i] : pf->ahead;
    if (i < pf->n - 1) {
        json_decref(pf->c->meta[i]);
        pf->c->meta[i] = NULL;
    }
    pthread_cond_broadcast(&pf->cv);
    pthread_mutex_unlock(&pf->mu);
}

/* Frees what a chain holds; safe on a zeroed one and twice. */
void restore_chain_free(restore_chain *c)
{
    pf_free(c->pf);
    c->pf = NULL;
    proof_free(c->proof);
    c->proof = NULL;
    for (size_t i = 0; c->meta && i < c->n; i++) json_decref(c->meta[i]);
    free(c->meta);
    free(c->ts);
    free(c->obj_size);
    c->meta = NULL;
    c->ts = NULL;
    c->obj_size = NULL;
    c->n = 0;
}

/* Keeps of a link's metadata only what a restore reads (memory per link stays small). */
static void trim_meta(json_t *m)
{
    static const char *keep[] = {"instanceId", "backupType", "parent", "parentStateChecksum", "base", "chainLength",
                                 "stateChecksum", "checksum", "compressedChecksum", "compressedSize", "databaseSize",
                                 "object", "compression", "encryption", "version", "timestamp"};
    const char *k;
    json_t *v;
    void *tmp;
    json_object_foreach_safe(m, tmp, k, v) {
        bool kept = false;
        for (size_t i = 0; i < sizeof keep / sizeof keep[0] && !kept; i++) kept = strcmp(k, keep[i]) == 0;
        if (!kept) json_object_del(m, k);
    }
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
    if (v[idx].incremental) {
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
    out->obj_size = calloc(len, sizeof *out->obj_size);
    if (!out->ts || !out->meta || !out->obj_size) {
        sv_err_set(err, SV_ENOMEM, "out of memory");
        goto done;
    }
    out->n = len;
    for (size_t i = 0; i < len; i++) {
        memcpy(out->ts[i], v[chain[i]].ts, SV_TS_LEN);
        out->obj_size[i] = v[chain[i]].object_size;
    }
    /* A chain: the links' metadata and objects come through the prefetch
     * thread while the base is fetched (restore_chain_check, then apply). */
    if (len > 1 && pf_start(ctx, out, err) != 0) goto done;
    if (catalog_read_meta(ctx->store, ws, out->ts[0], &out->meta[0], err) != 0) {
        if (len > 1) sv_err_wrap(err, "base %s of the chain of backup %s", out->ts[0], out->ts[len - 1]);
        goto done;
    }
    /* A chain's base; or a lone "full" whose metadata says incremental: its object is gone. */
    if ((len > 1 || strcmp(mstr(out->meta[0], "backupType"), "incremental") == 0) && check_member(out, 0, err) != 0)
        goto done;
    rc = 0;
done:
    if (rc != 0) restore_chain_free(out);
    free(chain);
    free(v);
    return rc;
}

/* The links' metadata, read by the prefetch thread, cross-checked (see internal.h). */
int restore_chain_check(restore_chain *c, sv_err *err)
{
    if (c->n < 2) return 0;
    if (pf_wait_meta(c->pf, err) != 0) return -1;
    for (size_t i = 1; i < c->n; i++) {
        if (check_member(c, i, err) != 0) return -1;
    }
    return 0;
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

/* Applies link i of c onto the file open on fd: its prefetched object read
 * back through restore_fetch with every check of a download. */
static int apply_link(job_ctx *ctx, const restore_chain *c, size_t i, int fd, uint32_t page_size, restore_fetched *f,
                      sv_err *err)
{
    json_t *m = c->meta[i];
    uint64_t cap = ctx->cfg->max_db_size, pages = 0, written = 0;
    link_sink ls = {0};
    restore_fetched lf = {0};
    restore_fetch_opts fo = {.store = ctx->store, .tmp_dir = ctx->cfg->tmp_dir, .require_zstd = true,
                             .expect_size = -1, .sink = link_feed, .sink_ud = &ls};
    int rc = -1;
    /* The stream: the pages of a capped database plus 4 bytes a page and its header and trailer. */
    fo.max_size = cap + cap / 128 + CHAIN_HEADER_LEN + CHAIN_TRAILER_LEN;
    fo.path = c->pf->paths[i];
    fo.context = c->pf->keys[i];
    fo.encrypted = json_object_get(m, "encryption") && !json_is_null(json_object_get(m, "encryption"));
    fo.expect_sum = mstr(m, "checksum");
    fo.expect_obj_sum = *mstr(m, "compressedChecksum") ? mstr(m, "compressedChecksum") : NULL;
    fo.expect_obj_size = mint(m, "compressedSize");
    if (pf_wait(c->pf, i, err) != 0) {
        if (err->code == SV_ENOTFOUND) sv_err_set(err, SV_ENOTFOUND, "its object %s is not in the store", c->pf->keys[i]);
        goto done;
    }
    if (chain_apply_new(fd, page_size, cap, &ls.a, err) != 0) goto done;
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
    pf_applied(c->pf, i);
    if (rc != 0) {
        sv_err_wrap(err, "link %s of the chain of backup %s", c->ts[i], c->ts[c->n - 1]);
        if (err->code == SV_ECHECKSUM || err->code == SV_ECORRUPT)
            sv_err_hint(err, "the link was damaged or replaced in the store; restore a point before %s", c->ts[i]);
    }
    chain_apply_free(ls.a);
    return rc;
}

/* The result's state checksum (chain.h), XXH3 over each page, computed by
 * a thread of its own while the caller's integrity_check reads the same
 * file (restore_chain_prove joins it): on two cores the re-read costs a
 * large restore nothing. Its sha256 is not computed: at 1.5 GB/s it would
 * cost more than the rest of the proof, and nothing compares it. */
struct chain_proof {
    pthread_t th;
    bool running;              /* th is to be joined */
    int fd;                    /* the proof's own read-only descriptor */
    uint32_t page_size;
    const sv_clock *clock;
    int64_t ms;                /* how long the sum took */
    char state[72];
    int rc;
    sv_err err;
};

/* The proof thread: one read of the result. */
static void *proof_main(void *arg)
{
    chain_proof *p = arg;
    int64_t t0 = sv_mono_ms(p->clock);
    posix_fadvise(p->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    p->rc = chain_state_sum_fd(p->fd, p->page_size, p->state, &p->err);
    if (p->rc != 0) sv_err_wrap(&p->err, "the restored file");
    p->ms = sv_mono_ms(p->clock) - t0;
    return NULL;
}

/* Starts the proof of the result at path: the applier truncated it to
 * whole pages; anything else is refused here (chain_state_sum_fd would sum
 * the whole pages and ignore a torn tail). Computed inline when no thread
 * can start. */
static int proof_start(job_ctx *ctx, restore_chain *c, const char *path, uint32_t page_size, sv_err *err)
{
    chain_proof *p = calloc(1, sizeof *p);
    struct stat sb;
    if (!p) return sv_err_set(err, SV_ENOMEM, "out of memory");
    p->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (p->fd < 0 || fstat(p->fd, &sb) != 0) {
        sv_err_set(err, SV_EIO, "reading the restored file: %s", strerror(errno));
        if (p->fd >= 0) close(p->fd);
        free(p);
        return -1;
    }
    if ((uint64_t)sb.st_size % page_size != 0) {
        close(p->fd);
        free(p);
        return sv_err_set(err, SV_ECORRUPT, "the restored file is not a whole number of pages");
    }
    p->page_size = page_size;
    p->clock = ctx->clock;
    sv_err_clear(&p->err);
    c->proof = p;
    if (pthread_create(&p->th, NULL, proof_main, p) == 0) p->running = true;
    else proof_main(p);
    return 0;
}

/* Joins the proof (if one runs) and frees it; safe on NULL. */
static void proof_free(chain_proof *p)
{
    if (!p) return;
    if (p->running) pthread_join(p->th, NULL);
    close(p->fd);
    free(p);
}

/* Applies c's links onto the fetched base (see internal.h). */
int restore_chain_apply(job_ctx *ctx, restore_chain *c, restore_fetched *f, sv_err *err)
{
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
    if (close(fd) != 0) {
        fd = -1;
        sv_err_set(err, SV_EIO, "unable to write '%s': %s", f->path, strerror(errno));
        goto done;
    }
    fd = -1;
    f->apply_ms = sv_mono_ms(ctx->clock) - t0;
    if (proof_start(ctx, c, f->path, h.page_size, err) != 0) goto done;
    rc = 0;
done:
    if (fd >= 0) close(fd);
    return rc;
}

/* The proof of the chain's result (see internal.h). */
int restore_chain_prove(job_ctx *ctx, restore_chain *c, restore_fetched *f, sv_err *err)
{
    json_t *target;
    chain_proof *p = c->proof;
    int rc = -1;
    if (c->n < 2) return 0;
    if (!p) return sv_err_set(err, SV_EINVAL, "the chain's result was not applied");
    target = c->meta[c->n - 1];
    c->proof = NULL;
    if (p->running) pthread_join(p->th, NULL);
    p->running = false;
    if (p->rc != 0) {
        *err = p->err;
        goto done;
    }
    memcpy(f->state_sum, p->state, sizeof f->state_sum);
    if (json_is_object(json_object_get(target, "encryption"))) {
        /* An encrypted backup's state checksum is keyed (crypto.h); an older
         * one's plain checksum is compared as it is, but a mismatch tells
         * only the keyed form of the result's (the message may be recorded
         * in the store, verify.json). */
        crypto_dk dk;
        char keyed[CRYPTO_SUM_LEN];
        int krc = crypto_for_restore(ctx->cfg, ctx->store, ctx->clock, ctx->workspace, &dk, err);
        if (krc == 0) krc = crypto_sum_keyed(&dk, f->state_sum, keyed, err);
        crypto_dk_clear(&dk);
        if (krc != 0) goto done;
        if (crypto_sum_is_keyed(mstr(target, "stateChecksum")) ||
            strcasecmp(f->state_sum, mstr(target, "stateChecksum")) != 0)
            memcpy(f->state_sum, keyed, sizeof f->state_sum);
    }
    /* The result's checksum is its state checksum, the one the chain proved. */
    memcpy(f->sum, f->state_sum, sizeof f->sum);
    if (strcasecmp(f->state_sum, mstr(target, "stateChecksum")) != 0) {
        sv_err_set(err, SV_ECHECKSUM, "the chain does not reproduce backup %s: its %u links from base %s give state "
                   "%s, metadata.json says %s", c->ts[c->n - 1], f->links, c->ts[0], f->state_sum,
                   mstr(target, "stateChecksum"));
        sv_err_hint(err, "a link or the base was damaged or replaced in the store; restore a point before %s",
                    c->ts[c->n - 1]);
        goto done;
    }
    log_info(ctx->job_id, ctx->workspace, "backup %s rebuilt from base %s and %u link(s) (%llu pages, applied in "
             "%lld ms, state proven in %lld ms), state %s", c->ts[c->n - 1], c->ts[0], f->links,
             (unsigned long long)f->pages_applied, (long long)f->apply_ms, (long long)p->ms, f->state_sum);
    rc = 0;
done:
    proof_free(p);
    return rc;
}
