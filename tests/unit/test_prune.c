/* test_prune.c -- the prune job over a file:// store with a fake clock.
 *
 * A seeded random set of committed backups (some with verify.json, passed
 * or failed), uncommitted folders of every age, exports, uploads and a
 * leftover temporary file. The expected decisions are restated here for the
 * policy "all:5d" (keep what is younger than 5 days, plus the newest and the
 * newest verified backup), independently of retention.c. A dry run reports
 * and deletes nothing; the real run deletes exactly the expected objects
 * and sweeps exactly the old leftovers; a prune of every workspace skips a
 * workspace whose lock is held; a cancel and a bad policy fail cleanly.
 * Chains (test_chains): incremental folders (pages-PARENT.zst) keep their
 * ancestors, a doomed folder loses every key (its page stream too), broken
 * chains are reported, and an uncommitted incremental folder is swept.
 * More backups than the decision list holds (test_runs) are listed as runs. */
#include "chain.h"
#include "fixture.h"
#include "job.h"
#include "prune.h"

#define NB 30
#define NOW 1780000000000LL /* 2026-05-28T20:26:40Z */

typedef struct bk {
    int64_t ts_ms;
    char ts[SV_TS_LEN];
    int verify;      /* 0 none, 1 ok:true, 2 ok:false */
    bool keep;       /* expected */
    const char *why; /* expected reason */
} bk;

/* Newest first. */
static int cmp_bk(const void *a, const void *b)
{
    int64_t x = ((const bk *)a)->ts_ms, y = ((const bk *)b)->ts_ms;
    return x > y ? -1 : x < y;
}

/* Writes a committed backup of ws (metadata.json, object, maybe verify.json). */
static void put_backup(fixture *f, const char *ws, const bk *b)
{
    char key[160];
    snprintf(key, sizeof key, "full/%s/%s/livestore.db.zst", ws, b->ts);
    fx_put(f, key, "zstd-bytes");
    snprintf(key, sizeof key, "full/%s/%s/metadata.json", ws, b->ts);
    fx_put(f, key, "{}");
    if (b->verify) {
        snprintf(key, sizeof key, "full/%s/%s/verify.json", ws, b->ts);
        fx_put(f, key, b->verify == 1 ? "{\"ok\": true}" : "{\"ok\": false}");
    }
}

/* A file-store object at key with mtime ms. */
static void put_aged(fixture *f, const char *key, int64_t ms)
{
    fx_put(f, key, "x");
    CHECK(fx_set_mtime(fx_key_path(f, key), ms) == 0);
}

/* The expected decisions of "all:5d" with the two pins (b sorted newest first). */
static void expect(bk *b, int n)
{
    int64_t cutoff = NOW - 5 * FX_D;
    for (int i = 0; i < n; i++) {
        b[i].keep = b[i].ts_ms > cutoff;
        b[i].why = b[i].keep ? "all:5d" : "expired";
    }
    if (!b[0].keep) b[0].keep = true, b[0].why = "newest";
    for (int i = 0; i < n; i++) {
        if (b[i].verify != 1) continue;
        if (!b[i].keep) b[i].keep = true, b[i].why = "newest verified";
        break;
    }
}

static bool r_cancel;
static int r_max_decisions; /* opts.max_decisions when > 0 */
static const char *r_busy_ws; /* ws_lock reports this one held by another job */
static int r_locks;

static bool r_cancelled(void *ud)
{
    (void)ud;
    return r_cancel;
}

static int r_ws_lock(void *ud, const char *ws, bool on, bool *got, sv_err *err)
{
    (void)ud, (void)err;
    if (on) r_locks++;
    *got = !(r_busy_ws && strcmp(ws, r_busy_ws) == 0);
    return 0;
}

/* Runs job_prune on ws (NULL = every workspace); the result, or NULL. */
static json_t *run(fixture *f, const char *ws, bool dry, sv_err *e)
{
    json_t *opts = json_pack("{s:b}", "dry_run", dry), *res = NULL;
    if (r_max_decisions > 0) json_object_set_new(opts, "max_decisions", json_integer(r_max_decisions));
    job_ctx c;
    memset(&c, 0, sizeof c);
    c.cfg = &f->cfg;
    c.clock = &f->fc.clock;
    c.store = f->store;
    c.job_id = "prune-test";
    c.type = "prune";
    c.workspace = ws;
    c.attempt = 1;
    c.opts = opts;
    c.cancelled = r_cancelled;
    c.ws_lock = r_ws_lock;
    sv_err_clear(e);
    if (job_prune(&c, &res, e) != 0) res = NULL;
    json_decref(opts);
    return res;
}

/* The reason the result gives for ts (NULL when not listed). */
static const char *reason_of(json_t *res, const char *ts)
{
    size_t i;
    json_t *d;
    json_array_foreach(json_object_get(res, "decisions"), i, d) {
        if (strcmp(json_string_value(json_object_get(d, "ts")), ts) == 0)
            return json_string_value(json_object_get(d, "reason"));
    }
    return NULL;
}


/* A committed backup folder of ws at ms: a full (parent < 0) or an
 * incremental whose page stream names the parent at parent ms. */
static void put_chain(fixture *f, const char *ws, int64_t ms, int64_t parent, bool commit, char ts[SV_TS_LEN])
{
    char key[200], pts[SV_TS_LEN], obj[64];
    sv_ts_format(ms, ts);
    if (parent < 0) {
        snprintf(obj, sizeof obj, "livestore.db.zst");
    } else {
        sv_ts_format(parent, pts);
        chain_object_name(pts, obj, sizeof obj);
    }
    snprintf(key, sizeof key, "full/%s/%s/%s", ws, ts, obj);
    fx_put(f, key, "page-stream");
    if (commit) {
        snprintf(key, sizeof key, "full/%s/%s/metadata.json", ws, ts);
        fx_put(f, key, "{}");
    }
}

/* Files left under full/ws/ts/. */
static int folder_files(fixture *f, const char *ws, const char *ts)
{
    char rel[64];
    snprintf(rel, sizeof rel, "full/%.8s/%.24s", ws, ts);
    const char *dir = fx_key_path(f, rel);
    return fx_exists(dir) ? fx_count_files(dir) : 0;
}

/* Chains under "all:5d": what a kept backup needs stays, whole folders go. */
static void test_chains(fixture *f)
{
    enum { FA, LA1, LA2, FB, LB1, LB2, LB3, LX, LY, LU, FN, U, NF };
    char ts[NF][SV_TS_LEN];
    int64_t ms[NF];
    sv_err e;
    ms[FA] = NOW - 10 * FX_D;                      /* an expired chain */
    ms[LA1] = ms[FA] + FX_H;
    ms[LA2] = ms[FA] + 2 * FX_H;
    ms[FB] = NOW - 6 * FX_D;                       /* a chain across the cutoff */
    ms[LB1] = NOW - 5 * FX_D - FX_H;
    ms[LB2] = NOW - 4 * FX_D;
    ms[LB3] = NOW - 3 * FX_D;
    ms[LX] = NOW - 2 * FX_D;                       /* broken, inside the window */
    ms[LY] = NOW - 8 * FX_D;                       /* broken, outside */
    ms[U] = NOW - 30 * FX_H;                       /* uncommitted, old: swept */
    ms[LU] = NOW - 20 * FX_H;                      /* its committed child: broken */
    ms[FN] = NOW - FX_H;
    put_chain(f, "wsc", ms[FA], -1, true, ts[FA]);
    put_chain(f, "wsc", ms[LA1], ms[FA], true, ts[LA1]);
    put_chain(f, "wsc", ms[LA2], ms[LA1], true, ts[LA2]);
    put_chain(f, "wsc", ms[FB], -1, true, ts[FB]);
    put_chain(f, "wsc", ms[LB1], ms[FB], true, ts[LB1]);
    put_chain(f, "wsc", ms[LB2], ms[LB1], true, ts[LB2]);
    put_chain(f, "wsc", ms[LB3], ms[LB2], true, ts[LB3]);
    put_chain(f, "wsc", ms[LX], ms[LX] - FX_H, true, ts[LX]);
    put_chain(f, "wsc", ms[LY], ms[LY] - FX_H, true, ts[LY]);
    put_chain(f, "wsc", ms[U], ms[LB3], false, ts[U]);
    put_chain(f, "wsc", ms[LU], ms[U], true, ts[LU]);
    put_chain(f, "wsc", ms[FN], -1, true, ts[FN]);
    char k[200];
    snprintf(k, sizeof k, "full/wsc/%s/verify.json", ts[LA2]);
    fx_put(f, k, "{\"ok\": false}");
    snprintf(k, sizeof k, "full/wsc/%s/pages-%s.zst", ts[U], ts[LB3]);
    CHECK(fx_set_mtime(fx_key_path(f, k), ms[U]) == 0);

    bool keep[NF] = {[LB2] = true, [LB3] = true, [LB1] = true, [FB] = true, [LX] = true,
                     [LU] = true, [FN] = true};
    char why[NF][96];
    snprintf(why[FA], 96, "expired");
    snprintf(why[LA1], 96, "expired");
    snprintf(why[LA2], 96, "expired");
    snprintf(why[FB], 96, "base of %s", ts[LB2]);
    snprintf(why[LB1], 96, "link of %s", ts[LB2]);
    snprintf(why[LB2], 96, "all:5d");
    snprintf(why[LB3], 96, "all:5d");
    char miss[SV_TS_LEN];
    sv_ts_format(ms[LX] - FX_H, miss);
    snprintf(why[LX], 96, "broken chain (%s missing), in all:5d", miss);
    sv_ts_format(ms[LY] - FX_H, miss);
    snprintf(why[LY], 96, "broken chain (%s missing), expired", miss);
    snprintf(why[LU], 96, "broken chain (%s missing), in all:5d", ts[U]);
    snprintf(why[FN], 96, "all:5d");

    int files0 = fx_count_files(f->store_root);
    json_t *res = run(f, "wsc", true, &e);
    CHECK(res != NULL);
    if (!res) return;
    CHECK_INT(json_integer_value(json_object_get(res, "kept")), 7);
    CHECK_INT(json_integer_value(json_object_get(res, "deleted")), 4);
    CHECK_INT(json_integer_value(json_object_get(res, "broken")), 3);
    CHECK_INT(json_integer_value(json_object_get(res, "leftovers")), 1);
    for (int i = 0; i < NF; i++)
        if (i != U) CHECK_STR(reason_of(res, ts[i]), why[i]);
    /* incrementals name their parent in the decisions */
    size_t di;
    json_t *dv;
    int with_parent = 0;
    json_array_foreach(json_object_get(res, "decisions"), di, dv) {
        const char *pt = json_string_value(json_object_get(dv, "parent"));
        if (!pt) continue;
        with_parent++;
        if (strcmp(json_string_value(json_object_get(dv, "ts")), ts[LB2]) == 0) CHECK_STR(pt, ts[LB1]);
    }
    CHECK_INT(with_parent, 8);
    /* the human table carries the chain reasons */
    char *buf = NULL;
    size_t blen = 0;
    FILE *mf = open_memstream(&buf, &blen);
    prune_print(res, mf);
    fclose(mf);
    CHECK(strstr(buf, why[FB]) != NULL);
    CHECK(strstr(buf, why[LX]) != NULL);
    free(buf);
    json_decref(res);
    CHECK_INT(fx_count_files(f->store_root), files0);

    res = run(f, "wsc", false, &e);
    CHECK(res != NULL);
    CHECK_INT(json_integer_value(json_object_get(res, "deleted")), 4);
    json_decref(res);
    for (int i = 0; i < NF; i++) {
        if (i == U) continue;
        int left = folder_files(f, "wsc", ts[i]);
        if (keep[i]) CHECK_INT(left, 2); /* metadata.json and the object */
        else CHECK_INT(left, 0);         /* page stream and verify.json too */
    }
    CHECK_INT(folder_files(f, "wsc", ts[U]), 0);
    snprintf(k, sizeof k, "full/wsc/%s/pages-%s.zst", ts[LB2], ts[LB1]);
    CHECK(fx_exists(fx_key_path(f, k)));
    snprintf(k, sizeof k, "full/wsc/%s/pages-%s.zst", ts[LA2], ts[LA1]);
    CHECK(!fx_exists(fx_key_path(f, k)));
    /* A second run: the same backups stay (LU's parent is gone for good). */
    res = run(f, "wsc", false, &e);
    CHECK_INT(json_integer_value(json_object_get(res, "deleted")), 0);
    CHECK_INT(json_integer_value(json_object_get(res, "kept")), 7);
    CHECK_INT(json_integer_value(json_object_get(res, "broken")), 2);
    json_decref(res);
}

/* More backups than the decision list has room for ("max_decisions" 100;
 * by default 20,000, a fortnight of minute-level backups): runs with the
 * same action and reason are one decision each, with count and oldest, so
 * every reason still shows. 300 backups half an hour apart, fulls on the hour. */
static void test_runs(fixture *f)
{
    enum { NR = 300 };
    int64_t step = 30 * 60000, base = NOW / step * step; /* 2026-05-28 20:00 */
    char ts[SV_TS_LEN], pts[SV_TS_LEN], key[200], obj[64];
    sv_err e;
    for (int i = 0; i < NR; i++) {
        int64_t ms = base - (int64_t)(NR - i) * step;
        sv_ts_format(ms, ts);
        if (ms % FX_H == 0) {
            snprintf(obj, sizeof obj, "livestore.db.zst");
        } else {
            sv_ts_format(ms - step, pts);
            chain_object_name(pts, obj, sizeof obj);
        }
        snprintf(key, sizeof key, "full/wsr/%s/%s", ts, obj);
        CHECK(fx_write(fx_key_path(f, key), "x", 1) == 0);
        snprintf(key, sizeof key, "full/wsr/%s/metadata.json", ts);
        CHECK(fx_write(fx_key_path(f, key), "{}", 2) == 0);
    }
    r_max_decisions = 100;
    json_t *res = run(f, "wsr", true, &e);
    CHECK(res != NULL);
    if (!res) return;
    json_t *d = json_object_get(res, "decisions");
    CHECK_INT(json_array_size(d), 3);
    /* all:5d from 2026-05-23 20:30 (the cutoff is 20:26:40) to 2026-05-28
     * 19:30: 239 backups; the base of the oldest (20:00); 60 expired */
    const struct { const char *action, *reason; int count; } want[] = {
        {"keep", "all:5d", 239},
        {"keep", "base of 20260523T203000.000Z", 1},
        {"delete", "expired", 60},
    };
    for (size_t i = 0; i < 3 && i < json_array_size(d); i++) {
        json_t *v = json_array_get(d, i);
        CHECK_STR(json_string_value(json_object_get(v, "action")), want[i].action);
        CHECK_STR(json_string_value(json_object_get(v, "reason")), want[i].reason);
        json_int_t n = json_integer_value(json_object_get(v, "count"));
        CHECK_INT(n ? n : 1, want[i].count);
    }
    CHECK_STR(json_string_value(json_object_get(json_array_get(d, 0), "ts")), "20260528T193000.000Z");
    CHECK_STR(json_string_value(json_object_get(json_array_get(d, 0), "oldest")), "20260523T203000.000Z");
    CHECK_STR(json_string_value(json_object_get(json_array_get(d, 1), "ts")), "20260523T200000.000Z");
    CHECK_STR(json_string_value(json_object_get(json_array_get(d, 2), "oldest")), "20260522T140000.000Z");
    CHECK_INT(json_integer_value(json_object_get(res, "kept")), 240);
    CHECK_INT(json_integer_value(json_object_get(res, "deleted")), 60);
    CHECK(!json_is_true(json_object_get(res, "decisions_truncated")));
    char *buf = NULL;
    size_t blen = 0;
    FILE *mf = open_memstream(&buf, &blen);
    prune_print(res, mf);
    fclose(mf);
    CHECK(strstr(buf, "all:5d (239 backups, back to 20260523T203000.000Z)") != NULL);
    free(buf);
    json_decref(res);
    /* the real run's 60 deletions fit: listed one by one, and deleted */
    res = run(f, "wsr", false, &e);
    CHECK(res != NULL);
    CHECK_INT(json_array_size(json_object_get(res, "decisions")), 60);
    CHECK_INT(json_integer_value(json_object_get(res, "deleted")), 60);
    json_decref(res);
    r_max_decisions = 0;
    snprintf(key, sizeof key, "full/wsr");
    CHECK_INT(fx_count_files(fx_key_path(f, key)), 240 * 2);
}

int main(void)
{
    fixture f;
    bk b[NB];
    sv_err e;
    int ndel = 0, nkeep = 0;
    fx_init(&f, "test_prune", NOW);
    free(f.cfg.retention);
    f.cfg.retention = strdup("all:5d");

    /* Committed backups: whole minutes back (never on the cutoff) and distinct. */
    for (int i = 0; i < NB; i++) {
        b[i].ts_ms = NOW - fx_range(&f, 61, 20 * 24 * 60) * 60000LL - i;
        b[i].verify = (int)fx_range(&f, 0, 5);
        if (b[i].verify > 2) b[i].verify = 0;
        sv_ts_format(b[i].ts_ms, b[i].ts);
        put_backup(&f, "ws", &b[i]);
    }
    qsort(b, NB, sizeof b[0], cmp_bk);
    expect(b, NB);
    for (int i = 0; i < NB; i++) b[i].keep ? nkeep++ : ndel++;

    /* Uncommitted folders: old by name and objects (go); old name but a
     * fresh object (stays); a fresh name (stays); not a timestamp, old (goes). */
    char old1[SV_TS_LEN], old2[SV_TS_LEN], fresh[SV_TS_LEN], k[160];
    sv_ts_format(NOW - 3 * FX_D + 7, old1);
    sv_ts_format(NOW - 4 * FX_D + 9, old2);
    sv_ts_format(NOW - 2 * FX_H + 7, fresh);
    snprintf(k, sizeof k, "full/ws/%s/livestore.db.zst", old1);
    put_aged(&f, k, NOW - 3 * FX_D);
    snprintf(k, sizeof k, "full/ws/%s/livestore.db.zst", old2);
    put_aged(&f, k, NOW - FX_H);
    snprintf(k, sizeof k, "full/ws/%s/livestore.db.zst", fresh);
    put_aged(&f, k, NOW - 2 * FX_H);
    put_aged(&f, "full/ws/junk-folder/x", NOW - 2 * FX_D);
    /* Exports (7 days and an hour), uploads (a day), a temporary file. */
    put_aged(&f, "exports/ws/j1/ws-a.db", NOW - 8 * FX_D);
    put_aged(&f, "exports/ws/j2/ws-b.db", NOW - 6 * FX_D);
    put_aged(&f, "uploads/ws/u1", NOW - 2 * FX_D);
    put_aged(&f, "uploads/ws/u2", NOW - FX_H);
    snprintf(k, sizeof k, "full/ws/%s/.livestore.db.zst.tmp-0123456789abcdef", b[0].ts);
    CHECK(fx_write(fx_key_path(&f, k), "partial", 7) == 0);
    CHECK(fx_set_mtime(fx_key_path(&f, k), NOW - 2 * FX_D) == 0);
    char tmpkey[160];
    memcpy(tmpkey, k, sizeof tmpkey);
    /* Another workspace, for the prune of every workspace. */
    bk other[3];
    for (int i = 0; i < 3; i++) {
        other[i].ts_ms = NOW - (30 + i) * FX_D;
        other[i].verify = 0;
        sv_ts_format(other[i].ts_ms, other[i].ts);
        put_backup(&f, "wsb", &other[i]);
    }

    /* Dry run: the decisions and counts, nothing deleted. */
    int files0 = fx_count_files(f.store_root);
    json_t *res = run(&f, "ws", true, &e);
    CHECK(res != NULL);
    if (!res) fprintf(stderr, "prune: %s\n", e.msg);
    CHECK_INT(json_integer_value(json_object_get(res, "kept")), nkeep);
    CHECK_INT(json_integer_value(json_object_get(res, "deleted")), ndel);
    CHECK_INT(json_integer_value(json_object_get(res, "leftovers")), 2);
    CHECK_INT(json_integer_value(json_object_get(res, "exports")), 1);
    CHECK_INT(json_integer_value(json_object_get(res, "uploads")), 1);
    CHECK_INT(json_integer_value(json_object_get(res, "aborted_uploads")), 1);
    CHECK(json_is_true(json_object_get(res, "dry_run")));
    CHECK_STR(json_string_value(json_object_get(res, "policy")), "all:5d");
    CHECK_INT(json_array_size(json_object_get(res, "decisions")), NB);
    for (int i = 0; i < NB; i++) CHECK_STR(reason_of(res, b[i].ts), b[i].why);
    json_decref(res);
    CHECK_INT(fx_count_files(f.store_root), files0);

    /* The real run: exactly the expected objects go. */
    res = run(&f, "ws", false, &e);
    CHECK(res != NULL);
    CHECK_INT(json_integer_value(json_object_get(res, "deleted")), ndel);
    CHECK_INT(json_array_size(json_object_get(res, "decisions")), ndel); /* only the deleted ones */
    json_decref(res);
    for (int i = 0; i < NB; i++) {
        snprintf(k, sizeof k, "full/ws/%s/metadata.json", b[i].ts);
        CHECK_INT(fx_exists(fx_key_path(&f, k)), b[i].keep);
        snprintf(k, sizeof k, "full/ws/%s/livestore.db.zst", b[i].ts);
        CHECK_INT(fx_exists(fx_key_path(&f, k)), b[i].keep);
    }
    {
        const char *const names[] = {old1, old2, fresh};
        for (int i = 0; i < 3; i++) {
            snprintf(k, sizeof k, "full/ws/%s/livestore.db.zst", names[i]);
            CHECK_INT(fx_exists(fx_key_path(&f, k)), i != 0);
        }
    }
    CHECK(!fx_exists(fx_key_path(&f, "full/ws/junk-folder/x")));
    CHECK(!fx_exists(fx_key_path(&f, "exports/ws/j1/ws-a.db")));
    CHECK(fx_exists(fx_key_path(&f, "exports/ws/j2/ws-b.db")));
    CHECK(!fx_exists(fx_key_path(&f, "uploads/ws/u1")));
    CHECK(fx_exists(fx_key_path(&f, "uploads/ws/u2")));
    CHECK(!fx_exists(fx_key_path(&f, tmpkey)));
    /* A second run finds nothing more to do. */
    res = run(&f, "ws", false, &e);
    CHECK_INT(json_integer_value(json_object_get(res, "deleted")), 0);
    CHECK_INT(json_integer_value(json_object_get(res, "leftovers")), 0);
    CHECK_INT(json_integer_value(json_object_get(res, "kept")), nkeep);
    json_decref(res);

    /* Every workspace, wsb's lock held elsewhere: wsb untouched. */
    r_busy_ws = "wsb";
    r_locks = 0;
    res = run(&f, NULL, false, &e);
    CHECK(res != NULL);
    CHECK_INT(json_integer_value(json_object_get(res, "workspaces_busy")), 1);
    CHECK_INT(json_integer_value(json_object_get(res, "workspaces")), 1);
    CHECK_INT(r_locks, 2);
    json_decref(res);
    for (int i = 0; i < 3; i++) {
        snprintf(k, sizeof k, "full/wsb/%s/metadata.json", other[i].ts);
        CHECK(fx_exists(fx_key_path(&f, k)));
    }
    /* Lock free: all three are older than 5 days; the newest stays. */
    r_busy_ws = NULL;
    res = run(&f, NULL, false, &e);
    CHECK_INT(json_integer_value(json_object_get(res, "workspaces_busy")), 0);
    CHECK_INT(json_integer_value(json_object_get(res, "workspaces")), 2);
    CHECK_INT(json_integer_value(json_object_get(res, "deleted")), 2);
    json_decref(res);
    for (int i = 0; i < 3; i++) {
        snprintf(k, sizeof k, "full/wsb/%s/metadata.json", other[i].ts);
        CHECK_INT(fx_exists(fx_key_path(&f, k)), i == 0);
    }

    test_chains(&f);
    test_runs(&f);

    /* Cancelled: SV_ECANCEL, nothing more deleted. */
    files0 = fx_count_files(f.store_root);
    r_cancel = true;
    CHECK(run(&f, "ws", false, &e) == NULL);
    CHECK_INT(e.code, SV_ECANCEL);
    r_cancel = false;
    CHECK_INT(fx_count_files(f.store_root), files0);
    /* A bad policy: SV_EINVAL naming the rule, with a hint. */
    free(f.cfg.retention);
    f.cfg.retention = strdup("daily:5x");
    CHECK(run(&f, "ws", false, &e) == NULL);
    CHECK_INT(e.code, SV_EINVAL);
    CHECK(strstr(e.msg, "daily:5x") != NULL);
    CHECK(strstr(e.hint, "SQLVAULT_RETENTION") != NULL);
    /* A bad workspace id. */
    free(f.cfg.retention);
    f.cfg.retention = strdup("all:5d");
    CHECK(run(&f, "../x", false, &e) == NULL);
    CHECK_INT(e.code, SV_EINVAL);
    CHECK_INT(fx_count_files(f.store_root), files0);
    fx_done(&f);
    TEST_DONE();
}
