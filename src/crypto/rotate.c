/* rotate.c -- `sqlvault keys rotate`: every data key re-wrapped under a new
 * key-encryption key; no object is read or re-encrypted.
 *
 * One listing of keys/ (1000 keys a page) feeds batches of up to BATCH keys
 * to `jobs` threads, each with its own store. A record already under the new
 * KEK is skipped, so a run that stops half-way (killed, --limit) is resumed
 * by running it again, and a finished run run again changes nothing. The old
 * KEK keeps unwrapping until every record moved: workers can run with
 * SQLVAULT_ENCRYPTION_KEY_FILE=new and SQLVAULT_ENCRYPTION_OLD_KEY_FILE=old
 * during the rotation. Cost per workspace: one GET and one PUT (plus a LIST
 * page per 1000).
 *
 * THREAD SAFETY NOTES: the batch array is filled by the listing thread and
 * only read by the worker threads between pthread_create and pthread_join;
 * the next-index, budget and counters are atomics; the first error is
 * written under mu. */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include "crypto.h"
#include "log.h"
#include "util.h"

#define BATCH 1000
#define MAX_JOBS 64

typedef struct rot {
    const sv_config *cfg;
    const sv_clock *clock;
    crypto_keyring ring;      /* new KEK first, then the configured ones */
    store_t *stores[MAX_JOBS];
    int jobs;
    char *batch[BATCH];
    size_t nbatch;
    atomic_size_t next;
    atomic_uint_fast64_t seen, rewrapped, already, shredded, failed, requests;
    atomic_int_fast64_t attempts; /* re-wraps begun (SQLVAULT_TEST_ROTATE_KILL counts them) */
    atomic_int_fast64_t budget; /* re-wraps left (limit), or -1 */
    bool stopped;
    pthread_mutex_t mu;
    char first_error[512];
} rot_t;

typedef struct rot_worker {
    rot_t *r;
    store_t *store;
} rot_worker;

/* Records the first failure. */
static void rot_fail(rot_t *r, const char *ws, const sv_err *e)
{
    atomic_fetch_add(&r->failed, 1);
    pthread_mutex_lock(&r->mu);
    if (!r->first_error[0]) snprintf(r->first_error, sizeof r->first_error, "%.128s: %.360s", ws, e->msg);
    pthread_mutex_unlock(&r->mu);
}

/* Takes one re-wrap from the --limit budget; false once it is spent. */
static bool take_budget(rot_t *r)
{
    int_fast64_t b = atomic_load(&r->budget);
    while (b != -1) {
        if (b == 0) return false;
        if (atomic_compare_exchange_weak(&r->budget, &b, b - 1)) return true;
    }
    return true;
}

/* Re-wraps one workspace's record if needed. */
static void rot_one(rot_t *r, store_t *s, const char *ws)
{
    char *key = crypto_dk_key(ws), *text = NULL, *out = NULL;
    json_t *rec = NULL, *nrec = NULL;
    crypto_dk dk;
    json_error_t je;
    sv_err e;
    const char *kid;
    int64_t nth = 0;
    sv_err_clear(&e);
    memset(&dk, 0, sizeof dk);
    atomic_fetch_add(&r->seen, 1);
    if (!key) {
        sv_err_set(&e, SV_ENOMEM, "out of memory");
        goto fail;
    }
    atomic_fetch_add(&r->requests, 1);
    if (store_get_small(s, key, 65536, &text, NULL, &e) != 0) {
        if (e.code == SV_ENOTFOUND) goto done; /* deleted meanwhile */
        goto fail;
    }
    rec = json_loads(text, 0, &je);
    if (!json_is_object(rec)) {
        sv_err_set(&e, SV_ECORRUPT, "%s is not valid json", key);
        goto fail;
    }
    if (json_is_true(json_object_get(rec, "shredded"))) {
        atomic_fetch_add(&r->shredded, 1);
        goto done;
    }
    kid = json_string_value(json_object_get(rec, "kekId"));
    if (kid && strcmp(kid, r->ring.kek[0].id) == 0) {
        atomic_fetch_add(&r->already, 1);
        goto done;
    }
    if (!take_budget(r)) goto done; /* --limit reached: left for the next run */
    nth = atomic_fetch_add(&r->attempts, 1) + 1;
    if (r->cfg->test_rotate_kill == nth && !r->cfg->test_rotate_kill_put) raise(SIGKILL); /* test knob */
    if (crypto_dk_unwrap(&r->ring, ws, rec, &dk, &e) != 0) goto fail;
    nrec = crypto_dk_wrap(&r->ring.kek[0], ws, &dk, sv_now_ms(r->clock), &e);
    if (!nrec) goto fail;
    /* Keep when the key was made; the wrap time is now. */
    if (json_object_get(rec, "createdAt")) json_object_set(nrec, "createdAt", json_object_get(rec, "createdAt"));
    out = json_dumps(nrec, JSON_INDENT(2));
    if (!out) {
        sv_err_set(&e, SV_ENOMEM, "out of memory");
        goto fail;
    }
    store_put_opts po = {.content_type = "application/json"};
    atomic_fetch_add(&r->requests, 1);
    if (store_put(s, key, out, strlen(out), &po, &e) != 0) goto fail;
    if (r->cfg->test_rotate_kill == nth && r->cfg->test_rotate_kill_put) raise(SIGKILL); /* test knob */
    atomic_fetch_add(&r->rewrapped, 1);
    goto done;
fail:
    rot_fail(r, ws, &e);
done:
    crypto_dk_clear(&dk);
    json_decref(rec);
    json_decref(nrec);
    free(text);
    free(out);
    free(key);
}

/* A worker thread: takes batch entries until none is left. */
static void *rot_main(void *arg)
{
    rot_worker *w = arg;
    rot_t *r = w->r;
    for (;;) {
        size_t i = atomic_fetch_add(&r->next, 1);
        if (i >= r->nbatch) break;
        rot_one(r, w->store, r->batch[i]);
    }
    return NULL;
}

/* Runs the current batch on the threads, then empties it. */
static int rot_flush(rot_t *r, sv_err *err)
{
    pthread_t th[MAX_JOBS];
    rot_worker w[MAX_JOBS];
    int started = 0;
    atomic_store(&r->next, 0);
    for (int i = 0; i < r->jobs && (size_t)i < r->nbatch; i++) {
        w[i].r = r;
        w[i].store = r->stores[i];
        if (pthread_create(&th[i], NULL, rot_main, &w[i]) != 0) break;
        started++;
    }
    if (started == 0 && r->nbatch) {
        rot_worker one = {r, r->stores[0]};
        rot_main(&one);
    }
    for (int i = 0; i < started; i++) pthread_join(th[i], NULL);
    for (size_t i = 0; i < r->nbatch; i++) free(r->batch[i]);
    r->nbatch = 0;
    if (atomic_load(&r->budget) == 0) r->stopped = true;
    (void)err;
    return 0;
}

/* Listing callback: keys/WS.json names go into the batch. */
static int rot_entry(void *ud, const store_entry *e, sv_err *err)
{
    rot_t *r = ud;
    const char *name = e->key + 5; /* after "keys/" */
    size_t nl = strlen(name);
    if (e->is_prefix || strncmp(e->key, "keys/", 5) != 0 || nl <= 5 || strcmp(name + nl - 5, ".json") != 0) return 0;
    char *ws = strndup(name, nl - 5);
    sv_err ce;
    if (!ws) return sv_err_set(err, SV_ENOMEM, "out of memory");
    if (sv_check_workspace(ws, &ce) != 0) {
        free(ws);
        return 0;
    }
    r->batch[r->nbatch++] = ws;
    if (r->nbatch == BATCH) {
        rot_flush(r, err);
        if (r->stopped) return sv_err_set(err, SV_ECANCEL, "limit reached");
    }
    return 0;
}

/* Re-wraps every data key under newk (see crypto.h). */
int crypto_rotate(const sv_config *cfg, const sv_clock *clock, const crypto_kek *newk, uint64_t limit, int jobs,
                  crypto_rotate_stats *st, sv_err *err)
{
    rot_t *r = calloc(1, sizeof *r);
    crypto_keyring cur;
    int64_t t0 = sv_mono_ms(clock);
    int rc = -1;
    memset(st, 0, sizeof *st);
    if (!r) return sv_err_set(err, SV_ENOMEM, "out of memory");
    pthread_mutex_init(&r->mu, NULL);
    r->cfg = cfg;
    r->clock = clock;
    r->jobs = jobs < 1 ? 1 : jobs > MAX_JOBS ? MAX_JOBS : jobs;
    atomic_store(&r->budget, limit ? (int_fast64_t)limit : -1);
    if (crypto_keyring_load(cfg, &cur, err) != 0) goto done;
    if (cur.n == 0) {
        sv_err_set(err, SV_EINVAL, "keys rotate needs the current key in SQLVAULT_ENCRYPTION_KEY_FILE");
        sv_err_hint(err, "run: SQLVAULT_ENCRYPTION_KEY_FILE=OLD sqlvault keys rotate --new-key-file NEW");
        goto done;
    }
    r->ring.kek[0] = *newk;
    r->ring.n = 1;
    {
        /* the new key first, then the old ones it still has to read, up to
         * the ring's capacity (which also bounds the loop for the compiler) */
        const int cap = (int)(sizeof r->ring.kek / sizeof r->ring.kek[0]);
        for (int i = 0; i < cur.n && i < cap && r->ring.n < cap; i++)
            if (strcmp(cur.kek[i].id, newk->id) != 0) r->ring.kek[r->ring.n++] = cur.kek[i];
    }
    crypto_keyring_clear(&cur);
    for (int i = 0; i < r->jobs; i++)
        if (store_open(cfg, clock, &r->stores[i], err) != 0) goto done;
    {
        store_t *ls = NULL;
        if (store_open(cfg, clock, &ls, err) != 0) goto done;
        rc = store_list(ls, "keys/", NULL, rot_entry, r, err);
        store_free(ls);
        if (rc != 0 && r->stopped) {
            sv_err_clear(err);
            rc = 0;
        }
        if (rc != 0) goto done;
        rc = -1;
    }
    rot_flush(r, err);
    st->seen = atomic_load(&r->seen);
    st->rewrapped = atomic_load(&r->rewrapped);
    st->already = atomic_load(&r->already);
    st->shredded = atomic_load(&r->shredded);
    st->failed = atomic_load(&r->failed);
    st->requests = atomic_load(&r->requests) + st->seen / 1000 + 1; /* + LIST pages of 1000 */
    memcpy(st->first_error, r->first_error, sizeof st->first_error);
    rc = 0;
done:
    st->ms = sv_mono_ms(clock) - t0;
    for (size_t i = 0; i < r->nbatch; i++) free(r->batch[i]);
    for (int i = 0; i < MAX_JOBS; i++) store_free(r->stores[i]);
    crypto_keyring_clear(&r->ring);
    pthread_mutex_destroy(&r->mu);
    free(r);
    return rc;
}
