/* catalog.c -- the backups of a workspace, from one listing of full/WS/. */
#include <stdlib.h>
#include <string.h>
#include "backup.h"
#include "catalog.h"
#include "chain.h"

typedef struct cat_acc {
    const char *prefix; /* full/WS/ */
    size_t plen;
    catalog_entry *v;
    size_t n, cap;
} cat_acc;

/* Folds one key into the entry of its folder (keys come sorted, so a folder's
 * keys are adjacent). */
static int cat_add(void *ud, const store_entry *e, sv_err *err)
{
    cat_acc *a = ud;
    const char *rest = e->key + a->plen, *slash = strchr(rest, '/');
    char ts[SV_TS_LEN];
    int64_t ms;
    catalog_entry *c;
    if (!slash || (size_t)(slash - rest) != SV_TS_LEN - 1) return 0;
    memcpy(ts, rest, SV_TS_LEN - 1);
    ts[SV_TS_LEN - 1] = '\0';
    if (sv_ts_parse(ts, &ms) != 0) return 0;
    if (a->n == 0 || strcmp(a->v[a->n - 1].ts, ts) != 0) {
        if (a->n == a->cap) {
            size_t cap = a->cap ? a->cap * 2 : 32;
            catalog_entry *nv = realloc(a->v, cap * sizeof *nv);
            if (!nv) return sv_err_set(err, SV_ENOMEM, "out of memory");
            a->v = nv;
            a->cap = cap;
        }
        c = &a->v[a->n++];
        memset(c, 0, sizeof *c);
        memcpy(c->ts, ts, SV_TS_LEN);
        c->ts_ms = ms;
    }
    c = &a->v[a->n - 1];
    if (strcmp(slash + 1, "metadata.json") == 0) c->committed = true;
    else if (strcmp(slash + 1, "verify.json") == 0) c->verified = true;
    else if (strcmp(slash + 1, BACKUP_OBJECT) == 0) {
        c->has_object = true;
        c->object_size = e->size;
    } else if (chain_object_parent(slash + 1, c->parent, sizeof c->parent) == 0) {
        c->incremental = true;
        c->has_object = true;
        c->object_size = e->size;
    }
    if (e->mtime_ms > c->mtime_ms) c->mtime_ms = e->mtime_ms;
    return 0;
}

/* Newest first. */
static int cat_cmp(const void *x, const void *y)
{
    return -strcmp(((const catalog_entry *)x)->ts, ((const catalog_entry *)y)->ts);
}

/* Every folder of ws, newest first. */
int catalog_list(store_t *s, const char *ws, catalog_entry **out, size_t *n, sv_err *err)
{
    cat_acc a = {0};
    char *prefix = sv_asprintf("full/%s/", ws);
    *out = NULL;
    *n = 0;
    if (!prefix) return sv_err_set(err, SV_ENOMEM, "out of memory");
    a.prefix = prefix;
    a.plen = strlen(prefix);
    if (store_list(s, prefix, NULL, cat_add, &a, err) != 0) {
        free(a.v);
        free(prefix);
        return -1;
    }
    free(prefix);
    if (a.n) qsort(a.v, a.n, sizeof *a.v, cat_cmp);
    *out = a.v;
    *n = a.n;
    return 0;
}

/* Parses at: latest (*want -1) or a time (folder timestamp or ISO). */
static int parse_at(const char *at, int64_t *want, sv_err *err)
{
    *want = -1;
    if (!at || strcmp(at, "latest") == 0) return 0;
    if (sv_ts_parse(at, want) == 0 || sv_iso_parse(at, want) == 0) return 0;
    return sv_err_set(err, SV_EINVAL, "invalid backup time '%s' (expected latest, 20260115T103000.000Z, "
                      "2026-01-15T10:30:00Z or 2026-01-15T10:30:00.000Z)", at);
}

/* Picks from a listing the committed backup named by at (see catalog.h). */
int catalog_pick(const catalog_entry *v, size_t n, const char *ws, const char *at, bool exact, size_t *idx,
                 sv_err *err)
{
    int64_t want;
    const catalog_entry *oldest = NULL;
    if (parse_at(at, &want, err) != 0) return -1;
    for (size_t i = 0; i < n; i++) {
        if (!v[i].committed) continue;
        oldest = &v[i];
        if (want < 0 || v[i].ts_ms == want || (!exact && v[i].ts_ms < want)) {
            *idx = i;
            return 0;
        }
        if (exact && v[i].ts_ms < want) break;
    }
    if (!oldest) {
        sv_err_set(err, SV_ENOTFOUND, "workspace '%s' has no committed backup", ws);
        return sv_err_hint(err, "run 'sqlvault backup %s' first, or check SQLVAULT_STORE", ws);
    }
    if (exact) sv_err_set(err, SV_ENOTFOUND, "workspace '%s' has no committed backup at %s", ws, at);
    else
        sv_err_set(err, SV_ENOTFOUND, "workspace '%s' has no committed backup at or before %s: its oldest is %s", ws,
                   at, oldest->ts);
    return sv_err_hint(err, "run 'sqlvault list %s' to see the backups there are", ws);
}

/* The committed backup named by at: latest or the newest at or before a time. */
int catalog_find(store_t *s, const char *ws, const char *at, catalog_entry *out, sv_err *err)
{
    catalog_entry *v = NULL;
    size_t n = 0, i;
    int64_t want;
    if (parse_at(at, &want, err) != 0) return -1;
    if (catalog_list(s, ws, &v, &n, err) != 0) return -1;
    if (catalog_pick(v, n, ws, at, false, &i, err) != 0) {
        free(v);
        return -1;
    }
    *out = v[i];
    free(v);
    return 0;
}

/* Finds a folder of the listing by name (NULL if none). */
static const catalog_entry *find_ts(const catalog_entry *v, size_t n, const char *ts)
{
    size_t lo = 0, hi = n;
    while (lo < hi) { /* newest first: descending names */
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(v[mid].ts, ts);
        if (c == 0) return &v[mid];
        if (c > 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

/* The chain of v[target], base first (see catalog.h). */
int catalog_chain(const catalog_entry *v, size_t n, size_t target, size_t **chain, size_t *len, sv_err *err)
{
    size_t cap = 16, k = 0, *c = malloc(cap * sizeof *c);
    const catalog_entry *e = &v[target];
    *chain = NULL;
    *len = 0;
    if (!c) return sv_err_set(err, SV_ENOMEM, "out of memory");
    for (;;) {
        const catalog_entry *p;
        if (!e->committed) {
            sv_err_set(err, SV_ENOTFOUND, "link %s of the chain of backup %s is missing: it has no metadata.json",
                       e->ts, v[target].ts);
            goto fail;
        }
        if (!e->has_object) {
            sv_err_set(err, SV_ENOTFOUND, "link %s of the chain of backup %s is missing: it has no object", e->ts,
                       v[target].ts);
            goto fail;
        }
        if (k == cap) {
            size_t *nc = realloc(c, cap * 2 * sizeof *nc);
            if (!nc) {
                sv_err_set(err, SV_ENOMEM, "out of memory");
                goto fail;
            }
            c = nc;
            cap *= 2;
        }
        c[k++] = (size_t)(e - v);
        if (!e->incremental) break;
        /* A parent is strictly older: the walk ends. */
        if (strcmp(e->parent, e->ts) >= 0) {
            sv_err_set(err, SV_ECORRUPT, "link %s of the chain of backup %s names a parent %s that is not older",
                       e->ts, v[target].ts, e->parent);
            goto fail;
        }
        if (!(p = find_ts(v, n, e->parent))) {
            sv_err_set(err, SV_ENOTFOUND, "link %s of the chain of backup %s is missing: no such backup folder "
                       "(the parent of %s)", e->parent, v[target].ts, e->ts);
            goto fail;
        }
        e = p;
    }
    for (size_t i = 0; i < k / 2; i++) { /* base first */
        size_t t = c[i];
        c[i] = c[k - 1 - i];
        c[k - 1 - i] = t;
    }
    *chain = c;
    *len = k;
    return 0;
fail:
    sv_err_hint(err, "restore a backup from another chain (see 'sqlvault list'), or take a full with 'sqlvault "
                "backup --full'");
    free(c);
    return -1;
}

/* Reads and checks metadata.json. */
int catalog_read_meta(store_t *s, const char *ws, const char *ts, json_t **meta, sv_err *err)
{
    char *key = backup_key(ws, ts, "metadata.json"), *text = NULL;
    int rc;
    *meta = NULL;
    if (!key) return sv_err_set(err, SV_ENOMEM, "out of memory");
    rc = store_get_small(s, key, 1 << 20, &text, NULL, err);
    if (rc == 0) rc = backup_meta_parse(text, meta, err);
    if (rc != 0) sv_err_wrap(err, "backup %s of '%s'", ts, ws);
    free(text);
    free(key);
    return rc;
}

/* Reads verify.json if present. */
int catalog_read_verify(store_t *s, const char *ws, const char *ts, json_t **v, sv_err *err)
{
    char *key = backup_key(ws, ts, "verify.json"), *text = NULL;
    *v = NULL;
    if (!key) return sv_err_set(err, SV_ENOMEM, "out of memory");
    if (store_get_small(s, key, 1 << 20, &text, NULL, err) != 0) {
        free(key);
        if (err->code == SV_ENOTFOUND) {
            sv_err_clear(err);
            return 0;
        }
        return -1;
    }
    free(key);
    *v = json_loads(text, 0, NULL);
    free(text);
    return 0;
}
