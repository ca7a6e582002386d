/* prune.c -- the prune job: apply the retention policy to one workspace or
 * to every workspace, and sweep what is left over.
 *
 * For a workspace it lists full/{ws}/ once (every object, grouped by backup
 * folder), treats a folder as committed when its metadata.json exists, finds
 * the newest verified backup by reading verify.json newest first, and asks
 * retention_apply (a pure function) what to keep. An incremental's folder
 * holds pages-PARENT.zst, which names its parent (chain.h), so the same
 * listing gives the chains; retention keeps every ancestor of a kept backup.
 * Deletion goes in two phases: first the metadata.json of every doomed
 * backup, newest first (batches of 1000 keys per DeleteObjects), then every
 * other object of those folders (pages-*.zst included). A prune interrupted
 * between or during the phases leaves folders without metadata.json:
 * uncommitted leftovers that listing, restore and retention ignore and that
 * the next prune removes. It never leaves a backup that lists as committed
 * but lacks its object, and, as a doomed backup's descendants are all doomed
 * and newer, never one whose chain an interruption broke.
 *
 * Also removed, once older than a day: uncommitted folders (age by the
 * folder's timestamp name and by its newest object), objects under
 * uploads/, and unfinished multipart uploads; objects under exports/ once
 * older than 7 days and an hour (the longest a download URL lives). Memory is bounded by one
 * workspace's listing plus a 1000-key delete batch. */
#include <stdlib.h>
#include <string.h>
#include "chain.h"
#include "job.h"
#include "log.h"
#include "replica.h"
#include "prune.h"
#include "retention.h"
#include "timefmt.h"
#include "util.h"

#define DELETE_BATCH 1000

static const char *str_of(json_t *o, const char *key);
#define VERIFY_JSON_MAX (64 * 1024)

typedef struct folder {
    char *name;           /* the folder name, normally a backup timestamp */
    int64_t ts_ms;        /* parsed name, or INT64_MIN */
    bool committed;       /* metadata.json exists */
    bool has_verify;      /* verify.json exists */
    bool verified;        /* verify.json says ok */
    int64_t newest_mtime; /* newest object's mtime, 0 if unknown */
    bool incremental;     /* holds a pages-PARENT.zst (chain.h) */
    int64_t parent_ms;    /* that PARENT, INT64_MIN when unknown or ambiguous */
    char parent[SV_TS_LEN];
    char **keys;
    size_t nkeys, cap;
} folder;

typedef struct ws_scan {
    const char *prefix;   /* "full/{ws}/" */
    size_t plen;
    folder *f;
    size_t n, cap;
    size_t max;           /* the folder with the greatest name, when n > 0 */
} ws_scan;

typedef struct prune_run {
    job_ctx *ctx;
    store_t *store;
    retention_policy *policy;
    bool dry_run;
    bool all;             /* every workspace */
    int64_t now;
    json_int_t kept, deleted, leftovers, exports, uploads, aborted, workspaces;
    json_int_t busy;      /* workspaces skipped: another job held their lock */
    json_int_t broken;    /* incrementals whose chain is broken */
    json_t *decisions;
    size_t ndecisions, max_decisions;
    bool truncated;
    bool uploads_unsupported; /* the store cannot list multipart uploads */
    int64_t lock_ms;      /* SQLVAULT_BUCKET_LOCK: the bucket's lock age, 0 = none known */
    const char *lock_desc;
    json_int_t locked;    /* doomed backups kept by a lock (their own, or a link's) */
    json_int_t locked_objects; /* leftover objects a lock kept */
    json_t *locked_list;  /* [{workspace, ts, reason}] */
} prune_run;

/* A batch of keys to delete, flushed at DELETE_BATCH. */
typedef struct key_batch {
    prune_run *run;
    char *keys[DELETE_BATCH];
    size_t n;
    int64_t cutoff;       /* sweep: objects last modified before this go */
    json_int_t *counter;  /* sweep: what to count */
} key_batch;

/* Frees a scan's folders and keys. */
static void scan_free(ws_scan *s)
{
    for (size_t i = 0; i < s->n; i++) {
        for (size_t k = 0; k < s->f[i].nkeys; k++) free(s->f[i].keys[k]);
        free(s->f[i].keys);
        free(s->f[i].name);
    }
    free(s->f);
    s->f = NULL;
    s->n = s->cap = 0;
}

/* strcmp of [name, name+len) with the string b. */
static int name_cmp(const char *name, size_t len, const char *b)
{
    size_t bl = strlen(b);
    int c = memcmp(name, b, len < bl ? len : bl);
    if (c) return c;
    return len < bl ? -1 : len > bl;
}

/* The folder named [name, name+len), created if new. NULL on OOM. */
static folder *scan_folder(ws_scan *s, const char *name, size_t len)
{
    /* Keys come in lexicographic order, so a folder's keys are contiguous:
     * the last folder is almost always the one, and a name greater than
     * every name so far is new (timestamp names all are: the scan stays
     * O(n) for a workspace with 40,000 minute-level backups). Only other
     * names fall back to the linear search. */
    if (s->n) {
        folder *last = &s->f[s->n - 1];
        if (name_cmp(name, len, last->name) == 0) return last;
        if (name_cmp(name, len, s->f[s->max].name) <= 0)
            for (size_t i = 0; i < s->n; i++)
                if (name_cmp(name, len, s->f[i].name) == 0) return &s->f[i];
    }
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        folder *nf = realloc(s->f, cap * sizeof *nf);
        if (!nf) return NULL;
        s->f = nf;
        s->cap = cap;
    }
    folder *f = &s->f[s->n];
    memset(f, 0, sizeof *f);
    f->name = strndup(name, len);
    if (!f->name) return NULL;
    if (sv_ts_parse(f->name, &f->ts_ms) != 0) f->ts_ms = INT64_MIN;
    f->parent_ms = INT64_MIN;
    if (s->n == 0 || strcmp(f->name, s->f[s->max].name) > 0) s->max = s->n;
    s->n++;
    return f;
}

/* Listing callback: files every object under its backup folder. */
static int scan_entry(void *ud, const store_entry *e, sv_err *err)
{
    ws_scan *s = ud;
    if (e->is_prefix || strncmp(e->key, s->prefix, s->plen) != 0) return 0;
    const char *rest = e->key + s->plen;
    const char *slash = strchr(rest, '/');
    if (!slash || slash == rest) return 0; /* a stray object beside the folders */
    folder *f = scan_folder(s, rest, (size_t)(slash - rest));
    if (!f) return sv_err_set(err, SV_ENOMEM, "out of memory");
    if (f->nkeys == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 4;
        char **nk = realloc(f->keys, cap * sizeof *nk);
        if (!nk) return sv_err_set(err, SV_ENOMEM, "out of memory");
        f->keys = nk;
        f->cap = cap;
    }
    f->keys[f->nkeys] = strdup(e->key);
    if (!f->keys[f->nkeys]) return sv_err_set(err, SV_ENOMEM, "out of memory");
    f->nkeys++;
    if (strcmp(slash + 1, "metadata.json") == 0) f->committed = true;
    if (strcmp(slash + 1, "verify.json") == 0) f->has_verify = true;
    char parent[SV_TS_LEN];
    if (chain_object_parent(slash + 1, parent, sizeof parent) == 0) {
        /* Two page streams naming different parents: the chain is ambiguous,
         * so retention treats it as broken (parent unknown). */
        if (!f->incremental) {
            memcpy(f->parent, parent, sizeof parent);
            if (sv_ts_parse(parent, &f->parent_ms) != 0) f->parent_ms = INT64_MIN;
        } else if (strcmp(f->parent, parent) != 0) {
            f->parent_ms = INT64_MIN;
        }
        f->incremental = true;
    }
    if (e->mtime_ms > f->newest_mtime) f->newest_mtime = e->mtime_ms;
    return 0;
}

/* Deletes the batch's keys (unless dry run) and empties it. */
static int batch_flush(key_batch *b, sv_err *err)
{
    int rc = 0;
    if (b->n && !b->run->dry_run) {
        if (job_cancelled(b->run->ctx))
            rc = sv_err_set(err, SV_ECANCEL, "prune cancelled");
        else {
            /* a lock that refuses a leftover object keeps it for the next prune */
            bool locked[DELETE_BATCH];
            size_t nl = 0;
            rc = store_delete_locked(b->run->store, (const char *const *)b->keys, b->n, locked, &nl, err);
            b->run->locked_objects += (json_int_t)nl;
        }
    }
    for (size_t i = 0; i < b->n; i++) free(b->keys[i]);
    b->n = 0;
    return rc;
}

/* Adds a key to the batch, flushing when full. */
static int batch_add(key_batch *b, const char *key, sv_err *err)
{
    if (b->n == DELETE_BATCH && batch_flush(b, err) != 0) return -1;
    b->keys[b->n] = strdup(key);
    if (!b->keys[b->n]) return sv_err_set(err, SV_ENOMEM, "out of memory");
    b->n++;
    return 0;
}

/* Appends the decision about folder f to the result (bounded); n > 1 makes
 * it the decision about a run of n backups from f back to the folder named
 * oldest, all with the same action and reason. */
static int add_decision(prune_run *r, const char *ws, const folder *f, const retention_item *it,
                        size_t n, const char *oldest)
{
    if (!r->dry_run && it->keep) return 0;
    if (r->ndecisions >= r->max_decisions) {
        r->truncated = true;
        return 0;
    }
    json_t *d = json_pack("{s:s, s:s, s:s, s:s}", "workspace", ws, "ts", f->name, "action",
                          it->keep ? "keep" : "delete", "reason", it->reason);
    if (d && n > 1 &&
        (json_object_set_new(d, "count", json_integer((json_int_t)n)) != 0 ||
         json_object_set_new(d, "oldest", json_string(oldest)) != 0)) {
        json_decref(d);
        d = NULL;
    }
    if (d && n == 1 && f->incremental &&
        json_object_set_new(d, "parent", json_string(f->parent[0] ? f->parent : "?")) != 0) {
        json_decref(d);
        d = NULL;
    }
    if (!d || json_array_append_new(r->decisions, d) != 0) return -1;
    r->ndecisions++;
    return 0;
}

/* True when verify.json of folder f says the drill passed. A missing object
 * is "not verified"; any other read error fails (the pin must be right). */
static int read_verified(prune_run *r, const char *key, bool *ok, sv_err *err)
{
    char *buf = NULL;
    *ok = false;
    if (store_get_small(r->store, key, VERIFY_JSON_MAX, &buf, NULL, err) != 0) {
        if (err->code == SV_ENOTFOUND || err->code == SV_ETOOBIG) {
            sv_err_clear(err);
            return 0;
        }
        return sv_err_wrap(err, "reading %s", key);
    }
    json_t *j = json_loads(buf, 0, NULL);
    *ok = j && json_is_true(json_object_get(j, "ok"));
    json_decref(j);
    free(buf);
    return 0;
}

/* Index comparator over folders: newest timestamp first. */
static int cmp_folder_newest(const void *a, const void *b, void *base)
{
    const folder *f = base;
    int64_t ta = f[*(const size_t *)a].ts_ms, tb = f[*(const size_t *)b].ts_ms;
    return ta > tb ? -1 : ta < tb;
}

/* One workspace's prune: its listing, its committed backups newest first
 * (map: indices into scan.f), the retention decisions (items[k] is about
 * scan.f[map[k]]) and the delete batch. */
typedef struct ws_prune {
    prune_run *r;
    const char *ws;
    char *prefix;          /* "full/{ws}/" */
    ws_scan scan;
    size_t *map, ni;
    retention_item *items;
    key_batch *batch;
} ws_prune;

/* True when key names a commit marker. */
static bool is_metadata(const char *key)
{
    const char *base = strrchr(key, '/');
    return base && strcmp(base + 1, "metadata.json") == 0;
}

/* Lists the workspace once and orders its committed backups newest first. */
static int wp_scan(ws_prune *w, sv_err *err)
{
    w->scan.prefix = w->prefix;
    w->scan.plen = strlen(w->prefix);
    if (store_list(w->r->store, w->prefix, NULL, scan_entry, &w->scan, err) != 0)
        return sv_err_wrap(err, "listing %s", w->prefix);
    size_t n = w->scan.n ? w->scan.n : 1;
    w->items = calloc(n, sizeof *w->items);
    w->map = calloc(n, sizeof *w->map);
    w->batch = calloc(1, sizeof *w->batch);
    if (!w->items || !w->map || !w->batch) return sv_err_set(err, SV_ENOMEM, "out of memory");
    w->batch->run = w->r;
    for (size_t i = 0; i < w->scan.n; i++) {
        if (!w->scan.f[i].committed) continue;
        if (w->scan.f[i].ts_ms == INT64_MIN) {
            log_warn(w->r->ctx->job_id, w->ws, "prune: skipping backup folder '%s' (not a timestamp)",
                     w->scan.f[i].name);
            continue;
        }
        w->map[w->ni++] = i;
    }
    qsort_r(w->map, w->ni, sizeof *w->map, cmp_folder_newest, w->scan.f);
    return 0;
}

/* Reads verify.json newest first until the newest verified backup is found
 * (only that one is pinned). */
static int wp_find_verified(ws_prune *w, sv_err *err)
{
    for (size_t k = 0; k < w->ni; k++) {
        folder *f = &w->scan.f[w->map[k]];
        if (!f->has_verify) continue;
        char *vk = sv_asprintf("%s%s/verify.json", w->prefix, f->name);
        if (!vk) return sv_err_set(err, SV_ENOMEM, "out of memory");
        int vrc = read_verified(w->r, vk, &f->verified, err);
        free(vk);
        if (vrc != 0) return -1;
        if (f->verified) break;
    }
    return 0;
}

/* Asks the policy what to keep, and records each decision. When a
 * workspace has more backups than the decision list has room for (30 days
 * of minute-level incrementals are 43,200), runs of consecutive backups with
 * the same action and reason are listed as one decision with "count" and
 * "oldest", so every reason still shows. */
static int wp_decide(ws_prune *w, sv_err *err)
{
    prune_run *r = w->r;
    for (size_t k = 0; k < w->ni; k++) {
        w->items[k].ts_ms = w->scan.f[w->map[k]].ts_ms;
        w->items[k].verified = w->scan.f[w->map[k]].verified;
        w->items[k].incremental = w->scan.f[w->map[k]].incremental;
        w->items[k].parent_ts_ms = w->scan.f[w->map[k]].parent_ms;
    }
    if (retention_apply(r->policy, w->items, w->ni, r->now) != 0)
        return sv_err_set(err, SV_ENOMEM, "out of memory");
    size_t listed = 0;
    for (size_t k = 0; k < w->ni; k++) listed += r->dry_run || !w->items[k].keep;
    bool runs = r->ndecisions + listed > r->max_decisions;
    for (size_t k = 0; k < w->ni;) {
        const retention_item *it = &w->items[k];
        size_t e = k + 1;
        while (runs && e < w->ni && w->items[e].keep == it->keep &&
               strcmp(w->items[e].reason, it->reason) == 0)
            e++;
        if (add_decision(r, w->ws, &w->scan.f[w->map[k]], it, e - k, w->scan.f[w->map[e - 1]].name) != 0)
            return sv_err_set(err, SV_ENOMEM, "out of memory");
        for (; k < e; k++) {
            if (w->items[k].broken) r->broken++;
            if (w->items[k].keep) r->kept++;
            else r->deleted++;
        }
    }
    return 0;
}

/* The item whose folder is named name (items are newest first, which is
 * descending name order: cmp_folder_newest), or -1. */
static long item_named(const ws_prune *w, const char *name)
{
    size_t lo = 0, hi = w->ni;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(w->scan.f[w->map[mid]].name, name);
        if (c == 0) return (long)mid;
        if (c > 0) lo = mid + 1;
        else hi = mid;
    }
    return -1;
}

enum { DOOM_PENDING, DOOM_DELETED, DOOM_LOCKED, DOOM_HELD };

/* A doomed backup kept by a lock (its own, or a link's that builds on it):
 * state[k] set, the counts moved from deleted to kept, and its ancestors
 * among the doomed held too, so no kept link loses its chain. */
static void doom_keep(ws_prune *w, unsigned char *state, long k, bool own, const char *why)
{
    prune_run *r = w->r;
    const char *link = w->scan.f[w->map[k]].name;
    while (k >= 0 && !w->items[k].keep && (state[k] == DOOM_PENDING || (own && state[k] != DOOM_DELETED))) {
        folder *f = &w->scan.f[w->map[k]];
        state[k] = own ? DOOM_LOCKED : DOOM_HELD;
        r->deleted--;
        r->kept++;
        r->locked++;
        if (r->locked_list && json_array_size(r->locked_list) < r->max_decisions) {
            char reason[160];
            if (own) snprintf(reason, sizeof reason, "%s", why);
            else snprintf(reason, sizeof reason, "ancestor of %s, which is locked", link);
            json_array_append_new(r->locked_list,
                                  json_pack("{s:s, s:s, s:s}", "workspace", w->ws, "ts", f->name, "reason", reason));
        }
        /* its decision (a single one; a run of many is left as it is) says so */
        for (size_t i = json_array_size(r->decisions); i-- > 0;) {
            json_t *d = json_array_get(r->decisions, i);
            if (json_object_get(d, "count") || strcmp(str_of(d, "ts"), f->name) != 0 ||
                strcmp(str_of(d, "workspace"), w->ws) != 0)
                continue;
            json_object_set_new(d, "action", json_string("keep"));
            json_object_set_new(d, "reason", json_string(own ? why : "ancestor of a locked backup"));
            json_object_set_new(d, "locked", json_true());
            break;
        }
        log_info(r->ctx->job_id, w->ws, "prune: %s %s kept: %s", r->dry_run ? "would keep" : "keeping", f->name,
                 own ? why : "an ancestor of a locked backup");
        own = false;
        k = f->incremental && f->parent[0] ? item_named(w, f->parent) : -1;
    }
}

/* Phase 1's batch of commit markers: deleted, or locked (kept with their
 * ancestors). */
static int doom_flush(ws_prune *w, unsigned char *state, long *idx, size_t n, sv_err *err)
{
    const char *keys[DELETE_BATCH];
    bool locked[DELETE_BATCH];
    size_t nlocked = 0, m = 0;
    long who[DELETE_BATCH];
    if (!n) return 0;
    for (size_t i = 0; i < n; i++) {
        folder *f = &w->scan.f[w->map[idx[i]]];
        if (state[idx[i]] != DOOM_PENDING) continue; /* held meanwhile */
        for (size_t j = 0; j < f->nkeys; j++)
            if (is_metadata(f->keys[j])) {
                keys[m] = f->keys[j];
                who[m++] = idx[i];
            }
    }
    if (!m) return 0;
    if (job_cancelled(w->r->ctx)) return sv_err_set(err, SV_ECANCEL, "prune cancelled");
    if (store_delete_locked(w->r->store, keys, m, locked, &nlocked, err) != 0) return -1;
    for (size_t i = 0; i < m; i++)
        if (!locked[i] && state[who[i]] == DOOM_PENDING) state[who[i]] = DOOM_DELETED;
    for (size_t i = 0; i < m; i++)
        if (locked[i]) doom_keep(w, state, who[i], true, "locked: the store refused the delete (a bucket lock); the next prune tries again");
    return 0;
}

/* Deletes the doomed backups in two phases: first every commit marker (so
 * none lists as committed any more), newest first, then the rest of their
 * objects. Under a bucket lock (SQLVAULT_BUCKET_LOCK tells its age; the
 * store's refusal tells for sure), a doomed backup whose marker is locked
 * stays whole and committed, and so does every backup its chain needs: the
 * markers go newest first and a batch never holds a backup together with
 * its parent, so an ancestor is never uncommitted before its locked link is
 * known. Phase 2 removes the objects of the backups whose marker went. */
static int wp_delete_doomed(ws_prune *w, sv_err *err)
{
    prune_run *r = w->r;
    unsigned char *state = calloc(w->ni ? w->ni : 1, 1);
    long *idx = calloc(DELETE_BATCH, sizeof *idx);
    char **parents = calloc(DELETE_BATCH, sizeof *parents);
    size_t n = 0;
    int rc = -1;
    if (!state || !idx || !parents) {
        sv_err_set(err, SV_ENOMEM, "out of memory");
        goto done;
    }
    /* the known lock: a doomed backup younger than it is kept, not tried */
    if (r->lock_ms > 0) {
        for (size_t k = 0; k < w->ni; k++) { /* newest first */
            folder *f = &w->scan.f[w->map[k]];
            int64_t at = f->newest_mtime ? f->newest_mtime : f->ts_ms;
            if (w->items[k].keep || state[k] != DOOM_PENDING || r->now - at >= r->lock_ms) continue;
            char why[160], iso[SV_ISO_LEN];
            sv_iso_format(at + r->lock_ms, iso);
            snprintf(why, sizeof why, "locked until %s (SQLVAULT_BUCKET_LOCK %s)", iso, r->lock_desc);
            doom_keep(w, state, (long)k, true, why);
        }
    }
    for (size_t k = 0; k < w->ni; k++) { /* newest first */
        folder *f = &w->scan.f[w->map[k]];
        if (w->items[k].keep || state[k] != DOOM_PENDING) continue;
        if (r->dry_run) continue;
        /* a batch never holds a backup and its parent */
        bool parent_of_batch = false;
        for (size_t i = 0; i < n && !parent_of_batch; i++) parent_of_batch = parents[i] && strcmp(parents[i], f->name) == 0;
        if (parent_of_batch || n == DELETE_BATCH) {
            if (doom_flush(w, state, idx, n, err) != 0) goto done;
            n = 0;
            if (state[k] != DOOM_PENDING) continue;
        }
        idx[n] = (long)k;
        parents[n++] = f->incremental && f->parent[0] ? f->parent : NULL;
    }
    if (doom_flush(w, state, idx, n, err) != 0) goto done;
    for (size_t k = 0; k < w->ni; k++) {
        if (w->items[k].keep || state[k] != DOOM_DELETED) continue;
        folder *f = &w->scan.f[w->map[k]];
        for (size_t j = 0; j < f->nkeys; j++)
            if (!is_metadata(f->keys[j]) && batch_add(w->batch, f->keys[j], err) != 0) goto done;
    }
    rc = 0; /* flushed with the leftovers */
done:
    free(state);
    free(idx);
    free(parents);
    return rc;
}

/* Adds uncommitted folders older than a day (by name and by newest object)
 * to the batch, and flushes it. */
static int wp_sweep_leftovers(ws_prune *w, sv_err *err)
{
    prune_run *r = w->r;
    for (size_t i = 0; i < w->scan.n; i++) {
        folder *f = &w->scan.f[i];
        if (f->committed) continue;
        bool old_name = f->ts_ms == INT64_MIN || r->now - f->ts_ms > PRUNE_LEFTOVER_AGE_MS;
        bool old_objects = f->newest_mtime == 0 ? f->ts_ms != INT64_MIN
                                                : r->now - f->newest_mtime > PRUNE_LEFTOVER_AGE_MS;
        if (!old_name || !old_objects) continue;
        r->leftovers++;
        log_info(r->ctx->job_id, w->ws, "prune: %s uncommitted leftover %s%s (%zu objects)",
                 r->dry_run ? "would remove" : "removing", w->prefix, f->name, f->nkeys);
        for (size_t j = 0; j < f->nkeys; j++)
            if (batch_add(w->batch, f->keys[j], err) != 0) return -1;
    }
    return batch_flush(w->batch, err);
}

/* Applies the policy to one workspace and removes its uncommitted leftovers. */
static int prune_workspace(prune_run *r, const char *ws, sv_err *err)
{
    ws_prune w = {.r = r, .ws = ws, .prefix = sv_asprintf("full/%s/", ws)};
    int rc = -1;

    if (!w.prefix) return sv_err_set(err, SV_ENOMEM, "out of memory");
    if (wp_scan(&w, err) != 0 || wp_find_verified(&w, err) != 0 || wp_decide(&w, err) != 0 ||
        wp_delete_doomed(&w, err) != 0 || wp_sweep_leftovers(&w, err) != 0)
        goto fail;
    r->workspaces++;
    rc = 0;
fail:
    if (w.batch) {
        for (size_t i = 0; i < w.batch->n; i++) free(w.batch->keys[i]);
        free(w.batch);
    }
    scan_free(&w.scan);
    free(w.items);
    free(w.map);
    free(w.prefix);
    return rc;
}

/* Sweep callback: objects last modified before the cutoff go. */
static int sweep_entry(void *ud, const store_entry *e, sv_err *err)
{
    key_batch *b = ud;
    if (e->is_prefix || e->mtime_ms <= 0 || e->mtime_ms >= b->cutoff) return 0;
    (*b->counter)++;
    return batch_add(b, e->key, err);
}

/* Removes every object under prefix older than age_ms. */
static int sweep_prefix(prune_run *r, const char *prefix, int64_t age_ms, json_int_t *counter, sv_err *err)
{
    key_batch *b = calloc(1, sizeof *b);
    int rc;
    if (!b) return sv_err_set(err, SV_ENOMEM, "out of memory");
    b->run = r;
    b->cutoff = r->now - age_ms;
    b->counter = counter;
    rc = store_list(r->store, prefix, NULL, sweep_entry, b, err);
    if (rc == 0) rc = batch_flush(b, err);
    else sv_err_wrap(err, "listing %s", prefix);
    for (size_t i = 0; i < b->n; i++) free(b->keys[i]);
    free(b);
    return rc;
}

typedef struct upload_sweep {
    prune_run *run;
    int64_t cutoff;
} upload_sweep;

/* Aborts an unfinished multipart upload started before the cutoff. */
static int upload_entry(void *ud, const store_upload *u, sv_err *err)
{
    upload_sweep *s = ud;
    if (u->initiated_ms <= 0 || u->initiated_ms >= s->cutoff) return 0;
    s->run->aborted++;
    if (s->run->dry_run) return 0;
    if (store_abort_upload(s->run->store, u->key, u->upload_id, err) != 0) {
        if (err->code != SV_ENOTFOUND) return sv_err_wrap(err, "aborting upload of %s", u->key);
        sv_err_clear(err);
    }
    return 0;
}

/* Aborts unfinished uploads under prefix older than a day. */
static int sweep_uploads(prune_run *r, const char *prefix, sv_err *err)
{
    upload_sweep s = {r, r->now - PRUNE_LEFTOVER_AGE_MS};
    if (r->uploads_unsupported) return 0;
    if (store_list_uploads(r->store, prefix, upload_entry, &s, err) != 0) {
        if (err->code == SV_ENOTSUP) { /* optional: the rest of the prune goes on */
            sv_err_clear(err);
            r->uploads_unsupported = true;
            return 0;
        }
        return sv_err_wrap(err, "listing unfinished uploads under %s", prefix[0] ? prefix : "/");
    }
    return 0;
}

typedef struct ws_list {
    char **names;
    size_t n, cap;
} ws_list;

/* Listing callback over full/: collects workspace folder names. */
static int ws_entry(void *ud, const store_entry *e, sv_err *err)
{
    ws_list *l = ud;
    if (!e->is_prefix || strncmp(e->key, "full/", 5) != 0) return 0;
    const char *name = e->key + 5;
    size_t len = strcspn(name, "/");
    char *ws = strndup(name, len);
    if (!ws) return sv_err_set(err, SV_ENOMEM, "out of memory");
    sv_err tmp;
    if (len == 0 || sv_check_workspace(ws, &tmp) != 0) {
        log_warn(NULL, NULL, "prune: skipping folder full/%s/ (not a workspace id)", ws);
        free(ws);
        return 0;
    }
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        char **nn = realloc(l->names, cap * sizeof *nn);
        if (!nn) {
            free(ws);
            return sv_err_set(err, SV_ENOMEM, "out of memory");
        }
        l->names = nn;
        l->cap = cap;
    }
    l->names[l->n++] = ws;
    return 0;
}

/* True when opts[key] is true, "true" or "1". */
static bool opt_bool(json_t *opts, const char *key)
{
    json_t *v = json_object_get(opts, key);
    if (json_is_true(v)) return true;
    if (json_is_integer(v)) return json_integer_value(v) != 0;
    const char *s = json_string_value(v);
    return s && (strcmp(s, "true") == 0 || strcmp(s, "1") == 0);
}

/* The prune job; see prune.h for options and result. */
/* One prune of ctx's store under ctx's policy. */
static int prune_once(job_ctx *ctx, json_t **result, sv_err *err)
{
    prune_run r = {0};
    ws_list wl = {0};
    int rc = -1;

    *result = NULL;
    r.ctx = ctx;
    r.store = ctx->store;
    r.dry_run = opt_bool(ctx->opts, "dry_run");
    json_int_t maxd = json_integer_value(json_object_get(ctx->opts, "max_decisions"));
    r.max_decisions = maxd > 0 && maxd < PRUNE_MAX_DECISIONS ? (size_t)maxd : PRUNE_MAX_DECISIONS;
    r.all = ctx->workspace == NULL;
    r.now = sv_now_ms(ctx->clock);
    r.decisions = json_array();
    r.locked_list = json_array();
    r.lock_ms = ctx->cfg->bucket_lock_ms;
    r.lock_desc = ctx->cfg->bucket_lock ? ctx->cfg->bucket_lock : "";
    if (!r.decisions || !r.locked_list) {
        json_decref(r.decisions);
        json_decref(r.locked_list);
        return sv_err_set(err, SV_ENOMEM, "out of memory");
    }
    if (retention_parse(ctx->cfg->retention, &r.policy, err) != 0) {
        sv_err_hint(err, "set SQLVAULT_RETENTION, e.g. all:30d,daily:365d");
        goto fail;
    }

    if (r.all) {
        if (store_list(r.store, "full/", "/", ws_entry, &wl, err) != 0) {
            sv_err_wrap(err, "listing workspaces under full/");
            goto fail;
        }
    } else {
        if (sv_check_workspace(ctx->workspace, err) != 0) goto fail;
        wl.names = calloc(1, sizeof *wl.names);
        if (!wl.names || !(wl.names[0] = strdup(ctx->workspace))) {
            sv_err_set(err, SV_ENOMEM, "out of memory");
            goto fail;
        }
        wl.n = 1;
    }
    for (size_t i = 0; i < wl.n; i++) {
        if (job_cancelled(ctx)) {
            sv_err_set(err, SV_ECANCEL, "prune cancelled");
            goto fail;
        }
        job_progress(ctx, "prune", i, wl.n);
        /* A prune of one workspace holds its lock (exclusive) as a job; a
         * prune of every workspace takes each one's in turn, so the listing,
         * the pins (newest committed, newest verified) and the deletes all
         * happen while no backup, export, restore or verify runs there. */
        bool got = true;
        if (r.all) {
            if (job_ws_lock(ctx, wl.names[i], true, &got, err) != 0) goto fail;
            if (!got) {
                r.busy++;
                log_info(ctx->job_id, wl.names[i], "prune: workspace busy (another job holds its lock), skipped");
                continue;
            }
        }
        int prc = prune_workspace(&r, wl.names[i], err);
        if (r.all) {
            sv_err e2;
            bool g2;
            if (job_ws_lock(ctx, wl.names[i], false, &g2, &e2) != 0)
                log_warn(ctx->job_id, wl.names[i], "prune: releasing the workspace lock: %s", e2.msg);
        }
        if (prc != 0) {
            if (r.all) sv_err_wrap(err, "workspace %s", wl.names[i]);
            goto fail;
        }
    }

    /* Exports, uploads and unfinished multipart uploads older than a day. */
    job_progress(ctx, "sweep", wl.n, wl.n);
    {
        const char *ws = ctx->workspace;
        char *ex = r.all ? strdup("exports/") : sv_asprintf("exports/%s/", ws);
        char *up = r.all ? strdup("uploads/") : sv_asprintf("uploads/%s/", ws);
        char *fu = r.all ? strdup("full/") : sv_asprintf("full/%s/", ws);
        int src = (!ex || !up || !fu) ? sv_err_set(err, SV_ENOMEM, "out of memory") : 0;
        if (src == 0) src = sweep_prefix(&r, ex, PRUNE_EXPORT_AGE_MS, &r.exports, err);
        if (src == 0) src = sweep_prefix(&r, up, PRUNE_LEFTOVER_AGE_MS, &r.uploads, err);
        if (src == 0) src = sweep_uploads(&r, fu, err);
        if (src == 0) src = sweep_uploads(&r, ex, err);
        if (src == 0) src = sweep_uploads(&r, up, err);
        free(ex);
        free(up);
        free(fu);
        if (src != 0) goto fail;
    }

    *result = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:s, s:b, s:O}", "kept", r.kept,
                        "deleted", r.deleted, "leftovers", r.leftovers, "exports", r.exports,
                        "uploads", r.uploads, "aborted_uploads", r.aborted, "workspaces",
                        r.workspaces, "policy", retention_describe(r.policy), "dry_run",
                        r.dry_run, "decisions", r.decisions);
    if (!*result) {
        sv_err_set(err, SV_ENOMEM, "out of memory");
        goto fail;
    }
    if (r.truncated) json_object_set_new(*result, "decisions_truncated", json_true());
    json_object_set_new(*result, "broken", json_integer(r.broken));
    json_object_set_new(*result, "locked", json_integer(r.locked));
    json_object_set_new(*result, "locked_objects", json_integer(r.locked_objects));
    json_object_set(*result, "locked_backups", r.locked_list);
    if (r.uploads_unsupported) json_object_set_new(*result, "uploads_unsupported", json_true());
    if (r.all) json_object_set_new(*result, "workspaces_busy", json_integer(r.busy));
    log_info(ctx->job_id, ctx->workspace,
             "prune%s: kept %lld, deleted %lld, leftovers %lld, exports %lld, uploads %lld, "
             "aborted uploads %lld",
             r.dry_run ? " (dry run)" : "", (long long)r.kept, (long long)r.deleted,
             (long long)r.leftovers, (long long)r.exports, (long long)r.uploads,
             (long long)r.aborted);
    rc = 0;
fail:
    for (size_t i = 0; i < wl.n; i++) free(wl.names[i]);
    free(wl.names);
    json_decref(r.decisions);
    json_decref(r.locked_list);
    retention_free(r.policy);
    return rc;
}

/* The prune job: the primary, then each replica store under its own policy
 * (SQLVAULT_REPLICA_<NAME>_RETENTION, the primary's by default), each with
 * the same rules: a chain is kept whole, the newest and the newest verified
 * backup (verified on that store) are pinned. A replica that cannot be
 * pruned is reported in "replicas" and logged; it does not undo or fail the
 * primary's prune, and the next prune tries it again. */
int job_prune(job_ctx *ctx, json_t **result, sv_err *err)
{
    replica_set rs;
    json_t *reps;
    if (prune_once(ctx, result, err) != 0) return -1;
    if (!ctx->cfg->replicas) return 0;
    if (replica_parse(ctx->cfg, &rs, err) != 0) {
        json_decref(*result);
        *result = NULL;
        return -1;
    }
    reps = json_object();
    for (size_t i = 0; reps && i < rs.n; i++) {
        job_ctx c2 = *ctx;
        store_t *st = NULL;
        json_t *res = NULL;
        sv_err e = {0};
        if (replica_open(&rs.r[i], ctx->clock, &st, &e) == 0) {
            c2.cfg = &rs.r[i].cfg;
            c2.store = st;
            prune_once(&c2, &res, &e);
        }
        store_free(st);
        if (e.code == SV_ELEASE || e.code == SV_ECANCEL) {
            json_decref(res);
            json_decref(reps);
            json_decref(*result);
            *result = NULL;
            replica_set_free(&rs);
            *err = e;
            return -1;
        }
        if (e.code != SV_OK) {
            log_warn(ctx->job_id, ctx->workspace, "prune of replica %s: %s", rs.r[i].name, e.msg);
            json_object_set_new(reps, rs.r[i].name, json_pack("{s:s}", "error", e.msg));
        } else {
            json_object_set_new(reps, rs.r[i].name, res);
        }
    }
    replica_set_free(&rs);
    if (reps) json_object_set_new(*result, "replicas", reps);
    return 0;
}

/* A string member of o, or "" when absent. */
static const char *str_of(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

/* Prints the human table of a prune result. */
void prune_print(json_t *result, FILE *out)
{
    json_t *d = json_object_get(result, "decisions");
    size_t i;
    json_t *v;
    bool dry = json_is_true(json_object_get(result, "dry_run"));
    if (json_array_size(d)) fprintf(out, "%-24s %-22s %-7s %s\n", "WORKSPACE", "BACKUP", "ACTION", "REASON");
    json_array_foreach(d, i, v) {
        json_int_t n = json_integer_value(json_object_get(v, "count"));
        fprintf(out, "%-24s %-22s %-7s %s", str_of(v, "workspace"), str_of(v, "ts"),
                str_of(v, "action"), str_of(v, "reason"));
        if (n > 1) fprintf(out, " (%lld backups, back to %s)", (long long)n, str_of(v, "oldest"));
        fputc('\n', out);
    }
    if (json_is_true(json_object_get(result, "decisions_truncated")))
        fprintf(out, "(list truncated at %zu lines)\n", json_array_size(d));
    fprintf(out,
            "%spolicy %s: %lld kept, %lld %s; %lld uncommitted leftovers, %lld exports, "
            "%lld uploads, %lld unfinished multipart uploads %s\n",
            dry ? "dry run, " : "", str_of(result, "policy"),
            (long long)json_integer_value(json_object_get(result, "kept")),
            (long long)json_integer_value(json_object_get(result, "deleted")),
            dry ? "would be deleted" : "deleted",
            (long long)json_integer_value(json_object_get(result, "leftovers")),
            (long long)json_integer_value(json_object_get(result, "exports")),
            (long long)json_integer_value(json_object_get(result, "uploads")),
            (long long)json_integer_value(json_object_get(result, "aborted_uploads")),
            dry ? "to remove" : "removed");
    if (json_integer_value(json_object_get(result, "locked")) > 0)
        fprintf(out, "%lld backup(s) kept by a bucket lock (%s); the next prune tries again\n",
                (long long)json_integer_value(json_object_get(result, "locked")),
                dry ? "they would be refused" : "the store refused their deletes");
    if (json_integer_value(json_object_get(result, "locked_objects")) > 0)
        fprintf(out, "%lld leftover object(s) kept by a bucket lock\n",
                (long long)json_integer_value(json_object_get(result, "locked_objects")));
    {
        const char *name;
        json_t *rep;
        json_object_foreach(json_object_get(result, "replicas"), name, rep) {
            if (json_object_get(rep, "error")) {
                fprintf(out, "replica %s: not pruned: %s\n", name, str_of(rep, "error"));
                continue;
            }
            fprintf(out, "replica %s, policy %s: %lld kept, %lld %s\n", name, str_of(rep, "policy"),
                    (long long)json_integer_value(json_object_get(rep, "kept")),
                    (long long)json_integer_value(json_object_get(rep, "deleted")),
                    dry ? "would be deleted" : "deleted");
            json_array_foreach(json_object_get(rep, "decisions"), i, v)
                if (strcmp(str_of(v, "action"), "delete") == 0)
                    fprintf(out, "  %-22s %-22s %s %s\n", str_of(v, "workspace"), str_of(v, "ts"), str_of(v, "action"),
                            str_of(v, "reason"));
        }
    }
}
