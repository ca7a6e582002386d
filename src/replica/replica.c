/* replica.c -- replica stores and the replicate job (replica.h). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "catalog.h"
#include "log.h"
#include "replica.h"
#include "retention.h"
#include "timefmt.h"
#include "util.h"

/* SQLVAULT_REPLICA_<NAME>_<what>, or NULL. */
static const char *replica_env(const char *name, const char *what)
{
    char var[128];
    size_t i, n = (size_t)snprintf(var, sizeof var, "SQLVAULT_REPLICA_");
    for (i = 0; name[i] && n + 1 < sizeof var; i++) var[n++] = (char)toupper((unsigned char)name[i]);
    snprintf(var + n, sizeof var - n, "_%s", what);
    const char *v = getenv(var);
    return v && *v ? v : NULL;
}

/* Fills one replica from "name=url" (the configuration checked it). */
static int replica_fill(const sv_config *cfg, const char *name, const char *url, replica *r, sv_err *err)
{
    static const char *const what[] = {"S3_ENDPOINT", "S3_REGION", "ACCESS_KEY_ID", "SECRET_ACCESS_KEY"};
    const char *prim[] = {cfg->s3_endpoint, cfg->s3_region, cfg->access_key_id, cfg->secret_access_key};
    snprintf(r->name, sizeof r->name, "%s", name);
    r->cfg = *cfg;
    r->owned[0] = sv_strdup(url);
    for (int i = 0; i < 4; i++) {
        const char *v = replica_env(name, what[i]);
        r->owned[i + 1] = sv_strdup(v ? v : prim[i]);
    }
    if (!r->owned[0]) return sv_err_set(err, SV_ENOMEM, "out of memory");
    r->cfg.store_url = r->owned[0];
    r->cfg.s3_endpoint = r->owned[1];
    r->cfg.s3_region = r->owned[2];
    r->cfg.access_key_id = r->owned[3];
    r->cfg.secret_access_key = r->owned[4];
    if (replica_env(name, "BUCKET_LOCK")) { /* checked when the job reads it: a bad one means no known lock */
        sv_err e2;
        int64_t ms = 0;
        if (sv_parse_duration_ms(replica_env(name, "BUCKET_LOCK"), &ms, &e2) == 0 && ms > 0) {
            r->cfg.bucket_lock_ms = ms;
            r->cfg.bucket_lock = (char *)replica_env(name, "BUCKET_LOCK");
        }
    }
    if (replica_env(name, "RETENTION")) {
        if (!(r->owned[5] = sv_strdup(replica_env(name, "RETENTION")))) return sv_err_set(err, SV_ENOMEM, "out of memory");
        r->cfg.retention = r->owned[5];
    }
    r->cfg.replicas = NULL; /* a replica has no replicas of its own */
    return 0;
}

int replica_parse(const sv_config *cfg, replica_set *out, sv_err *err)
{
    char *copy, *save = NULL, *tok;
    memset(out, 0, sizeof *out);
    if (!cfg->replicas || !*cfg->replicas) return 0;
    if (!(copy = sv_strdup(cfg->replicas))) return sv_err_set(err, SV_ENOMEM, "out of memory");
    for (tok = strtok_r(copy, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
        char *eq = strchr(tok, '=');
        if (!eq || out->n >= REPLICA_MAX) {
            sv_err_set(err, SV_EINVAL, "SQLVAULT_REPLICAS: '%s' is not NAME=URL (at most %d stores)", tok, REPLICA_MAX);
            goto fail;
        }
        *eq = '\0';
        if (replica_fill(cfg, tok, eq + 1, &out->r[out->n++], err) != 0) goto fail;
    }
    free(copy);
    return 0;
fail:
    free(copy);
    replica_set_free(out);
    return -1;
}

void replica_set_free(replica_set *rs)
{
    for (size_t i = 0; i < rs->n; i++)
        for (int k = 0; k < 6; k++) {
            if (k == 4 && rs->r[i].owned[k]) memset(rs->r[i].owned[k], 0, strlen(rs->r[i].owned[k]));
            free(rs->r[i].owned[k]);
            rs->r[i].owned[k] = NULL;
        }
    rs->n = 0;
}

const replica *replica_find(const replica_set *rs, const char *name)
{
    for (size_t i = 0; name && i < rs->n; i++)
        if (strcmp(rs->r[i].name, name) == 0) return &rs->r[i];
    return NULL;
}

int replica_open(const replica *r, const sv_clock *clock, store_t **out, sv_err *err)
{
    if (store_open(&r->cfg, clock, out, err) != 0) {
        sv_err_hint(err, "check replica '%s' (SQLVAULT_REPLICAS and SQLVAULT_REPLICA_%s_...)", r->name, r->name);
        return -1;
    }
    return 0;
}

/* ----------------------------------------------------------------- copying */

typedef struct copy_sink {
    store_t *dst;
    store_writer_t *w;
    uint64_t n;
} copy_sink;

static int copy_chunk(void *ud, const void *data, size_t len, sv_err *err)
{
    copy_sink *c = ud;
    c->n += len;
    return store_writer_write(c->dst, c->w, data, len, err);
}

/* Streams one object from src to dst under the same key (never whole in
 * memory: the writer uploads in parts); checks the length. */
static int copy_object(store_t *src, store_t *dst, const char *key, uint64_t size, sv_err *err)
{
    store_writer_opts wo = {.size_hint = size};
    copy_sink c = {.dst = dst};
    store_stat st;
    if (store_writer_open(dst, key, &wo, &c.w, err) != 0) return -1;
    if (store_get(src, key, 0, copy_chunk, &c, err) != 0) {
        store_writer_abort(dst, c.w);
        return -1;
    }
    if (c.n != size) {
        store_writer_abort(dst, c.w);
        return sv_err_set(err, SV_ECHECKSUM, "%s: read %llu bytes, the listing said %llu", key,
                          (unsigned long long)c.n, (unsigned long long)size);
    }
    if (store_writer_commit(dst, c.w, err) != 0) return -1;
    if (store_stat_key(dst, key, &st, err) != 0) return -1;
    if (st.size != size)
        return sv_err_set(err, SV_ECHECKSUM, "%s: the replica holds %llu bytes after the copy, not %llu", key,
                          (unsigned long long)st.size, (unsigned long long)size);
    return 0;
}

/* A small object copied whole (the commit marker, a key record). */
static int copy_small(store_t *src, store_t *dst, const char *key, sv_err *err)
{
    char *buf = NULL;
    size_t len = 0;
    store_put_opts po = {.content_type = "application/json"};
    int rc = store_get_small(src, key, 1 << 20, &buf, &len, err);
    if (rc == 0) rc = store_put(dst, key, buf, len, &po, err);
    free(buf);
    return rc;
}

typedef struct obj {
    char *key;
    uint64_t size;
} obj;

typedef struct obj_list {
    obj *v;
    size_t n, cap;
} obj_list;

static int collect(void *ud, const store_entry *e, sv_err *err)
{
    obj_list *l = ud;
    if (e->is_prefix) return 0;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        obj *v = realloc(l->v, cap * sizeof *v);
        if (!v) return sv_err_set(err, SV_ENOMEM, "out of memory");
        l->v = v, l->cap = cap;
    }
    if (!(l->v[l->n].key = sv_strdup(e->key))) return sv_err_set(err, SV_ENOMEM, "out of memory");
    l->v[l->n++].size = e->size;
    return 0;
}

static void obj_list_free(obj_list *l)
{
    for (size_t i = 0; i < l->n; i++) free(l->v[i].key);
    free(l->v);
    memset(l, 0, sizeof *l);
}

static const char *base_name(const char *key)
{
    const char *s = strrchr(key, '/');
    return s ? s + 1 : key;
}

/* Copies one committed folder: its objects (verify.json aside: a drill's
 * verdict belongs to the store it ran on), then metadata.json. */
static int copy_folder(job_ctx *ctx, store_t *src, store_t *dst, const char *ws, const char *ts, replica_counts *c,
                       sv_err *err)
{
    char *prefix = sv_asprintf("full/%s/%s/", ws, ts), *marker = NULL;
    obj_list l = {0};
    int rc = -1;
    if (!prefix) return sv_err_set(err, SV_ENOMEM, "out of memory");
    if (store_list(src, prefix, NULL, collect, &l, err) != 0) goto done;
    for (size_t i = 0; i < l.n; i++) {
        const char *b = base_name(l.v[i].key);
        store_stat st;
        sv_err e2 = {0};
        if (strcmp(b, "metadata.json") == 0) {
            marker = l.v[i].key;
            continue;
        }
        if (strcmp(b, "verify.json") == 0) continue;
        if (store_stat_key(dst, l.v[i].key, &st, &e2) == 0 && st.size == l.v[i].size) continue;
        if (e2.code != SV_OK && e2.code != SV_ENOTFOUND) {
            *err = e2;
            goto done;
        }
        if (job_cancelled(ctx)) {
            sv_err_set(err, SV_ELEASE, "job cancelled: lease lost or shutting down");
            goto done;
        }
        if (copy_object(src, dst, l.v[i].key, l.v[i].size, err) != 0) goto done;
        c->objects++;
        c->bytes += l.v[i].size;
        job_progress(ctx, "replicate", c->bytes, 0);
    }
    if (!marker) { /* pruned in the primary meanwhile: nothing to commit */
        rc = 0;
        goto done;
    }
    if (job_fence(ctx, err) != 0) goto done;
    if (copy_small(src, dst, marker, err) != 0) goto done;
    c->objects++;
    c->backups++;
    rc = 0;
done:
    obj_list_free(&l);
    free(prefix);
    return rc;
}

/* True when v (n entries) holds ts committed. */
static bool has_committed(const catalog_entry *v, size_t n, const char *ts)
{
    for (size_t i = 0; i < n; i++)
        if (v[i].committed && strcmp(v[i].ts, ts) == 0) return true;
    return false;
}

/* True when two key records (keys/WS.json) are of the same data key: a
 * re-wrap or a tombstone of it may replace the other. */
static bool same_data_key(const char *a, size_t al, const char *b, size_t bl)
{
    json_t *x = json_loadb(a, al, 0, NULL), *y = json_loadb(b, bl, 0, NULL);
    const char *ix = json_string_value(json_object_get(x, "dataKeyId"));
    const char *iy = json_string_value(json_object_get(y, "dataKeyId"));
    bool same = ix && iy && strcmp(ix, iy) == 0;
    json_decref(x);
    json_decref(y);
    return same;
}

/* keep[i]: whether policy (a retention spec) keeps the committed backup v[i]
 * of the listing at now (uncommitted ones: false). */
static int policy_keeps(const char *policy, const catalog_entry *v, size_t n, int64_t now, bool *keep, sv_err *err)
{
    retention_policy *p = NULL;
    retention_item *it = calloc(n, sizeof *it);
    size_t *idx = calloc(n, sizeof *idx), m = 0;
    int rc = -1;
    if (!it || !idx) {
        sv_err_set(err, SV_ENOMEM, "out of memory");
        goto done;
    }
    if (retention_parse(policy, &p, err) != 0) {
        sv_err_wrap(err, "the replica's retention policy");
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        int64_t pm = INT64_MIN;
        if (!v[i].committed) continue;
        if (v[i].incremental && sv_ts_parse(v[i].parent, &pm) != 0) pm = INT64_MIN;
        it[m] = (retention_item){.ts_ms = v[i].ts_ms, .parent_ts_ms = pm, .incremental = v[i].incremental};
        idx[m++] = i;
    }
    if (retention_apply(p, it, m, now) != 0) { /* out of memory: copy everything */
        for (size_t k = 0; k < m; k++) it[k].keep = true;
    }
    for (size_t k = 0; k < m; k++) keep[idx[k]] = it[k].keep;
    rc = 0;
done:
    retention_free(p);
    free(it);
    free(idx);
    return rc;
}

int replica_heal_key(job_ctx *ctx, const char *ws)
{
    char *kkey;
    store_stat st;
    sv_err e = {0};
    replica_set rs;
    if (!ctx->cfg->replicas || !ctx->cfg->encryption_key_file) return 0;
    if (!(kkey = sv_asprintf("keys/%s.json", ws))) return 0;
    if (store_stat_key(ctx->store, kkey, &st, &e) == 0 || e.code != SV_ENOTFOUND ||
        replica_parse(ctx->cfg, &rs, &e) != 0) {
        free(kkey);
        return 0;
    }
    for (size_t i = 0; i < rs.n; i++) {
        store_t *r = NULL;
        char *buf = NULL;
        size_t len = 0;
        sv_err e2 = {0};
        store_put_opts po = {.if_none_match = true, .content_type = "application/json"};
        if (replica_open(&rs.r[i], ctx->clock, &r, &e2) == 0 && store_get_small(r, kkey, 1 << 20, &buf, &len, &e2) == 0 &&
            store_put(ctx->store, kkey, buf, len, &po, &e2) == 0) {
            log_warn(ctx->job_id, ws, "the primary had no %s: copied back from replica %s (its data key is the one "
                     "the replica's backups need)", kkey, rs.r[i].name);
            free(buf);
            store_free(r);
            break;
        }
        free(buf);
        store_free(r);
    }
    replica_set_free(&rs);
    free(kkey);
    return 0;
}

int replica_sync_ws(job_ctx *ctx, store_t *src, store_t *dst, const char *ws, const char *policy, replica_counts *c,
                    sv_err *err)
{
    catalog_entry *sv = NULL, *dv = NULL;
    size_t sn = 0, dn = 0;
    bool *keep = NULL;
    char *kkey = sv_asprintf("keys/%s.json", ws), *a = NULL, *b = NULL;
    size_t al = 0, bl = 0;
    sv_err e2 = {0};
    int rc = -1;
    if (!kkey) return sv_err_set(err, SV_ENOMEM, "out of memory");
    /* the data key first: an encrypted backup never lands without it */
    if (store_get_small(src, kkey, 1 << 20, &a, &al, &e2) == 0) {
        sv_err e3 = {0};
        if (store_get_small(dst, kkey, 1 << 20, &b, &bl, &e3) != 0 && e3.code != SV_ENOTFOUND) {
            *err = e3;
            goto done;
        }
        if (b && !same_data_key(a, al, b, bl)) {
            /* a record of another data key would make every backup the
             * replica holds unreadable: keep it, and say so */
            sv_err_set(err, SV_ECONFLICT, "the primary's key record of '%s' names another data key than the "
                       "replica's: the replica's backups need the replica's record, so it is not overwritten", ws);
            sv_err_hint(err, "the primary lost its keys/%s.json and made a new data key; copy the replica's "
                        "keys/%s.json back to the primary if its backups are the ones to keep", ws, ws);
            goto done;
        }
        if (!b || bl != al || memcmp(a, b, al) != 0) {
            store_put_opts po = {.content_type = "application/json"};
            if (store_put(dst, kkey, a, al, &po, err) != 0) goto done;
            c->keys++;
        }
    } else if (e2.code != SV_ENOTFOUND) {
        *err = e2;
        goto done;
    }
    if (catalog_list(src, ws, &sv, &sn, err) != 0 || catalog_list(dst, ws, &dv, &dn, err) != 0) goto done;
    /* what the replica's policy keeps of the primary's backups now: only
     * that is copied, so a replica with a shorter policy does not get back
     * what its own prune removed (chains whole: the policy keeps ancestors) */
    if (sn && !(keep = calloc(sn, sizeof *keep))) {
        sv_err_set(err, SV_ENOMEM, "out of memory");
        goto done;
    }
    if (sn && policy_keeps(policy, sv, sn, sv_now_ms(ctx->clock), keep, err) != 0) goto done;
    for (size_t i = sn; i-- > 0;) { /* oldest first: a link's parent lands before it */
        if (!sv[i].committed) continue;
        if (!keep[i]) {
            c->outside++;
            continue;
        }
        if (has_committed(dv, dn, sv[i].ts)) {
            c->present++;
            continue;
        }
        if (copy_folder(ctx, src, dst, ws, sv[i].ts, c, err) != 0) {
            sv_err_wrap(err, "backup %s", sv[i].ts);
            goto done;
        }
    }
    for (size_t i = 0; i < sn; i++) /* newest first: the first committed one */
        if (sv[i].committed) {
            snprintf(c->upto, sizeof c->upto, "%s", sv[i].ts);
            break;
        }
    rc = 0;
done:
    free(keep);
    free(sv);
    free(dv);
    free(a);
    free(b);
    free(kkey);
    return rc;
}

/* ------------------------------------------------------------------ the job */

int job_replicate(job_ctx *ctx, json_t **result, sv_err *err)
{
    replica_set rs;
    const char *only = json_string_value(json_object_get(ctx->opts, "store"));
    json_t *stores = NULL;
    int failed = 0, rc = -1;
    char first[600] = "";
    *result = NULL;
    if (sv_check_workspace(ctx->workspace, err) != 0) return -1;
    if (replica_parse(ctx->cfg, &rs, err) != 0) return -1;
    if (rs.n == 0) {
        sv_err_set(err, SV_EINVAL, "no replica stores are configured");
        sv_err_hint(err, "set SQLVAULT_REPLICAS=NAME=URL,... on the worker");
        goto done;
    }
    if (only && !replica_find(&rs, only)) {
        sv_err_set(err, SV_EINVAL, "no replica store '%s' (SQLVAULT_REPLICAS names the stores)", only);
        goto done;
    }
    if (!(stores = json_object())) {
        sv_err_set(err, SV_ENOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < rs.n; i++) {
        const replica *r = &rs.r[i];
        store_t *dst = NULL;
        replica_counts c = {0};
        sv_err e = {0};
        int64_t t0 = sv_mono_ms(ctx->clock);
        if (only && strcmp(only, r->name) != 0) continue;
        if (replica_open(r, ctx->clock, &dst, &e) == 0) replica_sync_ws(ctx, ctx->store, dst, ctx->workspace, r->cfg.retention, &c, &e);
        store_free(dst);
        json_t *o = json_pack("{s:i, s:i, s:I, s:i, s:i, s:i, s:I}", "backups", c.backups, "objects", c.objects, "bytes",
                              (json_int_t)c.bytes, "keys", c.keys, "present", c.present, "outside", c.outside, "durationMs",
                              (json_int_t)(sv_mono_ms(ctx->clock) - t0));
        if (o && c.upto[0] && e.code == SV_OK) json_object_set_new(o, "upTo", json_string(c.upto));
        if (e.code != SV_OK) {
            if (o) json_object_set_new(o, "error", json_string(e.msg));
            log_warn(ctx->job_id, ctx->workspace, "replica %s: %s", r->name, e.msg);
            if (!failed++) snprintf(first, sizeof first, "replica %s: %.500s", r->name, e.msg);
            if (e.code == SV_ELEASE) {
                json_decref(o);
                *err = e;
                goto done;
            }
        } else {
            log_info(ctx->job_id, ctx->workspace, "replica %s: %d backup(s) committed, %d object(s) copied, %d present",
                     r->name, c.backups, c.objects, c.present);
        }
        if (o) json_object_set_new(stores, r->name, o);
    }
    if (failed) {
        /* retried with backoff: what was copied stays, the next run goes on from it */
        sv_err_set(err, SV_ETRANSIENT, "%.480s%s", first, failed > 1 ? " (and more replicas)" : "");
        goto done;
    }
    *result = json_pack("{s:s, s:O}", "workspace", ctx->workspace, "stores", stores);
    rc = *result ? 0 : sv_err_set(err, SV_ENOMEM, "out of memory");
done:
    json_decref(stores);
    replica_set_free(&rs);
    return rc;
}

int replica_after_backup(job_ctx *ctx, json_t **out)
{
    replica_set rs;
    sv_err e = {0};
    *out = json_object();
    if (!ctx->cfg->replicas || !*out) return 0;
    if (ctx->enqueue) {
        char *id = sv_asprintf("%s-replicate", ctx->job_id);
        json_t *opts = json_pack("{s:s}", "reason", "replicate");
        if (id && opts && ctx->enqueue(ctx->ud, "replicate", id, opts, &e) == 0)
            json_object_set_new(*out, "replicate_job", json_string(id));
        else
            log_warn(ctx->job_id, ctx->workspace, "the replicate job was not enqueued: %s (the next backup's will copy "
                     "this backup too)", e.msg);
        json_decref(opts);
        free(id);
        return 0;
    }
    if (replica_parse(ctx->cfg, &rs, &e) != 0) {
        log_warn(ctx->job_id, ctx->workspace, "replicas: %s", e.msg);
        return 0;
    }
    for (size_t i = 0; i < rs.n; i++) {
        store_t *dst = NULL;
        replica_counts c = {0};
        sv_err e2 = {0};
        if (replica_open(&rs.r[i], ctx->clock, &dst, &e2) == 0)
            replica_sync_ws(ctx, ctx->store, dst, ctx->workspace, rs.r[i].cfg.retention, &c, &e2);
        store_free(dst);
        if (e2.code != SV_OK) log_warn(ctx->job_id, ctx->workspace, "replica %s: %s", rs.r[i].name, e2.msg);
        json_object_set_new(*out, rs.r[i].name,
                            e2.code != SV_OK ? json_pack("{s:s}", "error", e2.msg)
                                             : json_pack("{s:i, s:i}", "backups", c.backups, "objects", c.objects));
    }
    replica_set_free(&rs);
    return 0;
}
