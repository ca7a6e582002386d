/* metrics.c -- the process's metrics (README.md, Monitoring) and the HTTP endpoint that
 * serves them: /metrics (Prometheus text format 0.0.4), /healthz and /readyz
 * on SQLVAULT_METRICS_ADDR, with libmicrohttpd.
 *
 * Nothing an HTTP request does waits on Redis or the store. Two background
 * threads keep state fresh instead:
 *   - the refresher reads, once a second, every served pool's depths and
 *     counters and the last tick's failure ratio from Redis (and, every
 *     VERIFIED_EVERY_MS, the verified-backup ages), caching the result;
 *   - the store prober pings the store every STORE_EVERY_MS.
 * Each records when it last succeeded; the worker's housekeeping thread also
 * reports each successful Redis round (metrics_redis_ok). /readyz answers from
 * those times alone: Redis seen within READY_REDIS_MS and the store within
 * READY_STORE_MS, so a store stuck in its 120 s retry loop makes /readyz say
 * 503 after READY_STORE_MS instead of making the request wait.
 *
 * The HTTP server: libmicrohttpd's internal polling threads (a pool of 2),
 * CONN_LIMIT connections at most, CONN_TIMEOUT_S idle timeout, 16 KiB of
 * memory per connection, GET and HEAD only. A client that opens a connection
 * and sends nothing holds one connection slot until the timeout and delays
 * nobody.
 *
 * THREAD SAFETY NOTES: the per-type job table is guarded by mx_mu (job threads
 * write, HTTP threads render). The cache (pool stats, ratios, ages, last-ok
 * times) is guarded by cache_mu; the refresher and prober fill it, the HTTP
 * threads read it. The byte counters are atomics. The refresher owns its
 * Redis connection, the prober its store. */
#include <errno.h>
#include <math.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "buf.h"
#include "clock.h"
#include "cron.h"
#include "log.h"
#include "metrics/metrics.h"
#include "replica.h"
#include "queue.h"
#include "store.h"
#include "util.h"

#define MX_TYPES 24
#define MX_BUCKETS 10
#define SZ_BUCKETS 11
#define REFRESH_MS 1000
#define VERIFIED_EVERY_MS 15000
#define STORE_EVERY_MS 5000
#define READY_REDIS_MS 5000
#define READY_STORE_MS 30000
#define CONN_LIMIT 32
#define CONN_TIMEOUT_S 10

static const double mx_bounds[MX_BUCKETS] = {0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600};
/* 64 KiB to 64 GiB, each 4x the one before */
static const double sz_bounds[SZ_BUCKETS] = {65536.0, 262144.0, 1048576.0, 4194304.0, 16777216.0,
                                             67108864.0, 268435456.0, 1073741824.0, 4294967296.0,
                                             17179869184.0, 68719476736.0};
static const char *const mx_outcomes[] = {"succeeded", "failed", "retrying", "cancelled", "released",
                                          "lease_lost", NULL};
/* Shown at zero from the start, so rate() sees the first failure. */
static const char *const mx_known_types[] = {"backup", "export", "restore", "verify", "prune", "import-url", "replicate", "inspect", NULL};

typedef struct mx_type {
    char type[32];
    uint64_t outcome[8];
    uint64_t bucket[MX_BUCKETS];
    uint64_t count;
    double sum;
    int64_t last_success_ms;
} mx_type;

static pthread_mutex_t mx_mu = PTHREAD_MUTEX_INITIALIZER;
static mx_type mx_types[MX_TYPES];
static int mx_ntypes;
static uint64_t sz_bucket[SZ_BUCKETS], sz_count;
static double sz_sum;
static _Atomic uint64_t mx_bytes_read, mx_bytes_uploaded, mx_bytes_downloaded;
static _Atomic uint64_t mx_restores_delta, mx_restores_full;

/* What the background threads learned; guarded by cache_mu. */
static pthread_mutex_t cache_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
    json_t *pools;            /* array of queue_stats objects, or NULL */
    bool have_ratio;
    double tick_ratio;
    bool have_ages;
    double age_q[4];          /* quantiles 0, 0.5, 0.9, 1 (seconds) */
    double age_sum;
    size_t age_n;
    int64_t redis_ok_mono;    /* 0 = never */
    int64_t store_ok_mono;
    char redis_why[600];
    char store_why[600];
    json_t *replicas;         /* {NAME: {lag, behind}}, or NULL (replica.h) */
} cache;

static struct {
    const sv_config *cfg;
    const sv_clock *clock;
    metrics_probe_fn probe;
    void *ud;
    struct MHD_Daemon *mhd;
    pthread_t refresher, prober;
    bool started;
    _Atomic bool stop;
    pthread_mutex_t stop_mu;
    pthread_cond_t stop_cv;
    double schedule_s;        /* the cron's period at start, 0 if unknown */
} srv = {.stop_mu = PTHREAD_MUTEX_INITIALIZER, .stop_cv = PTHREAD_COND_INITIALIZER};

/* Finds or adds a type's row; caller holds mx_mu. */
static mx_type *row(const char *type)
{
    for (int i = 0; i < mx_ntypes; i++)
        if (strcmp(mx_types[i].type, type) == 0) return &mx_types[i];
    if (mx_ntypes == MX_TYPES) return NULL;
    snprintf(mx_types[mx_ntypes].type, sizeof mx_types[0].type, "%s", type);
    return &mx_types[mx_ntypes++];
}

/* Adds the known job types' rows once (caller holds mx_mu). */
static void known_rows(void)
{
    for (int i = 0; mx_known_types[i]; i++) (void)row(mx_known_types[i]);
}

/* Records a finished attempt. */
void metrics_job_done(const char *type, const char *outcome, double seconds)
{
    mx_type *r;
    pthread_mutex_lock(&mx_mu);
    known_rows();
    r = row(type ? type : "unknown");
    if (r) {
        for (int i = 0; mx_outcomes[i]; i++)
            if (strcmp(mx_outcomes[i], outcome) == 0) r->outcome[i]++;
        for (int b = 0; b < MX_BUCKETS; b++)
            if (seconds <= mx_bounds[b]) r->bucket[b]++;
        r->count++;
        r->sum += seconds;
        if (strcmp(outcome, "succeeded") == 0) r->last_success_ms = sv_now_ms(sv_clock_system());
    }
    pthread_mutex_unlock(&mx_mu);
}

/* Adds to a byte counter. */
void metrics_bytes(const char *direction, uint64_t n)
{
    if (strcmp(direction, "read") == 0) mx_bytes_read += n;
    else if (strcmp(direction, "uploaded") == 0) mx_bytes_uploaded += n;
    else if (strcmp(direction, "downloaded") == 0) mx_bytes_downloaded += n;
}

/* Records one committed backup's stored size. */
void metrics_backup_size(uint64_t compressed)
{
    pthread_mutex_lock(&mx_mu);
    for (int b = 0; b < SZ_BUCKETS; b++)
        if ((double)compressed <= sz_bounds[b]) sz_bucket[b]++;
    sz_count++;
    sz_sum += (double)compressed;
    pthread_mutex_unlock(&mx_mu);
}

/* A restore was done by delta (delta.c) or in full. */
void metrics_restore_kind(const char *kind)
{
    if (strcmp(kind, "delta") == 0) mx_restores_delta++;
    else mx_restores_full++;
}

/* Housekeeping reached Redis just now. */
void metrics_redis_ok(void)
{
    if (!srv.clock) return;
    pthread_mutex_lock(&cache_mu);
    cache.redis_ok_mono = sv_mono_ms(srv.clock);
    pthread_mutex_unlock(&cache_mu);
}

/* ---- rendering ---- */

/* Cap of the rendered page: far above what the counters can fill. */
#define MX_PAGE_MAX ((size_t)16 << 20)

/* Appends formatted text; a failure is sticky in the buffer (metrics_render
 * answers NULL then). */
static void put(sv_buf *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(sv_buf *o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    (void)sv_buf_vaddf(o, fmt, ap);
    va_end(ap);
}

/* HELP and TYPE lines of one family. */
static void family(sv_buf *o, const char *name, const char *type, const char *help)
{
    put(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* One gauge per pool from a queue_stats field. */
static void pool_gauge(sv_buf *o, json_t *pools, const char *name, const char *help, const char *field)
{
    size_t i;
    json_t *p;
    family(o, name, "gauge", help);
    json_array_foreach(pools, i, p) {
        json_t *v = json_object_get(p, field);
        put(o, "%s{pool=\"%s\"} %.17g\n", name, json_string_value(json_object_get(p, "pool")),
            json_is_real(v) ? json_real_value(v) : (double)json_integer_value(v));
    }
}

/* The Redis-backed figures from the cache; caller holds cache_mu. */
static void render_cached(sv_buf *o)
{
    json_t *pools = cache.pools ? cache.pools : json_array();
    size_t i;
    json_t *p;
    family(o, "sqlvault_queue_depth", "gauge", "jobs waiting to run, by pool and priority");
    json_array_foreach(pools, i, p) {
        const char *pool = json_string_value(json_object_get(p, "pool"));
        put(o, "sqlvault_queue_depth{pool=\"%s\",priority=\"interactive\"} %lld\n", pool,
            (long long)json_integer_value(json_object_get(p, "queued_interactive")));
        put(o, "sqlvault_queue_depth{pool=\"%s\",priority=\"dirty\"} %lld\n", pool,
            (long long)json_integer_value(json_object_get(p, "queued_dirty")));
        put(o, "sqlvault_queue_depth{pool=\"%s\",priority=\"scheduled\"} %lld\n", pool,
            (long long)json_integer_value(json_object_get(p, "queued_scheduled")));
    }
    pool_gauge(o, pools, "sqlvault_queue_delayed_jobs", "failed attempts waiting for their retry", "delayed");
    pool_gauge(o, pools, "sqlvault_jobs_active", "jobs running now on any worker of the pool", "active");
    pool_gauge(o, pools, "sqlvault_workers_alive", "workers that sent a heartbeat within three leases",
               "workers_alive");
    pool_gauge(o, pools, "sqlvault_failure_ratio",
               "failed share of the pool's finished jobs since its counters began", "failure_ratio");
    pool_gauge(o, pools, "sqlvault_dirty_workspaces",
               "marked workspaces waiting for the scheduler's drain (the dirty set)", "dirty");
    family(o, "sqlvault_dirty_backups_total", "counter",
           "due dirty workspaces: a backup enqueued, or coalesced into their waiting one");
    json_array_foreach(pools, i, p) {
        const char *pool = json_string_value(json_object_get(p, "pool"));
        put(o, "sqlvault_dirty_backups_total{pool=\"%s\",outcome=\"enqueued\"} %lld\n", pool,
            (long long)json_integer_value(json_object_get(p, "dirty_enqueued")));
        put(o, "sqlvault_dirty_backups_total{pool=\"%s\",outcome=\"coalesced\"} %lld\n", pool,
            (long long)json_integer_value(json_object_get(p, "dirty_coalesced")));
    }
    if (!cache.pools) json_decref(pools);
    family(o, "sqlvault_backup_failure_ratio_last_tick", "gauge",
           "failed share of the backups of the scheduler's last evaluated tick");
    if (cache.have_ratio) put(o, "sqlvault_backup_failure_ratio_last_tick %.17g\n", cache.tick_ratio);
    family(o, "sqlvault_verified_backup_age_seconds", "summary",
           "age of each workspace's newest verified backup, summarised over workspaces");
    if (cache.have_ages && cache.age_n) {
        static const char *const q[4] = {"0", "0.5", "0.9", "1"};
        for (int k = 0; k < 4; k++)
            put(o, "sqlvault_verified_backup_age_seconds{quantile=\"%s\"} %.3f\n", q[k], cache.age_q[k]);
    }
    put(o, "sqlvault_verified_backup_age_seconds_sum %.3f\n", cache.age_sum);
    put(o, "sqlvault_verified_backup_age_seconds_count %zu\n", cache.age_n);
    {   /* the families always (no samples without replica stores) */
        const char *name;
        json_t *r;
        family(o, "sqlvault_replica_lag_seconds", "gauge",
               "age of the oldest backup committed in the primary and not yet in this replica store (0: none)");
        json_object_foreach(cache.replicas, name, r)
            put(o, "sqlvault_replica_lag_seconds{store=\"%s\"} %.3f\n", name,
                json_real_value(json_object_get(r, "lag")));
        family(o, "sqlvault_replica_behind_workspaces", "gauge",
               "workspaces with a backup not yet in this replica store");
        json_object_foreach(cache.replicas, name, r)
            put(o, "sqlvault_replica_behind_workspaces{store=\"%s\"} %lld\n", name,
                (long long)json_integer_value(json_object_get(r, "behind")));
    }
}

/* Renders every metric; see metrics.h. */
char *metrics_render(void)
{
    sv_buf o;
    int64_t now_mono;
    sv_buf_init(&o, MX_PAGE_MAX);
    pthread_mutex_lock(&mx_mu);
    known_rows();
    family(&o, "sqlvault_jobs_total", "counter", "finished job attempts by type and outcome");
    for (int i = 0; i < mx_ntypes; i++)
        for (int k = 0; mx_outcomes[k]; k++)
            put(&o, "sqlvault_jobs_total{type=\"%s\",outcome=\"%s\"} %llu\n", mx_types[i].type, mx_outcomes[k],
                (unsigned long long)mx_types[i].outcome[k]);
    family(&o, "sqlvault_job_duration_seconds", "histogram", "duration of job attempts by type");
    for (int i = 0; i < mx_ntypes; i++) {
        for (int k = 0; k < MX_BUCKETS; k++)
            put(&o, "sqlvault_job_duration_seconds_bucket{type=\"%s\",le=\"%g\"} %llu\n", mx_types[i].type,
                mx_bounds[k], (unsigned long long)mx_types[i].bucket[k]);
        put(&o, "sqlvault_job_duration_seconds_bucket{type=\"%s\",le=\"+Inf\"} %llu\n", mx_types[i].type,
            (unsigned long long)mx_types[i].count);
        put(&o, "sqlvault_job_duration_seconds_sum{type=\"%s\"} %.3f\n", mx_types[i].type, mx_types[i].sum);
        put(&o, "sqlvault_job_duration_seconds_count{type=\"%s\"} %llu\n", mx_types[i].type,
            (unsigned long long)mx_types[i].count);
    }
    family(&o, "sqlvault_last_success_timestamp_seconds", "gauge",
           "unix time of this process's last successful job, by type");
    for (int i = 0; i < mx_ntypes; i++)
        if (mx_types[i].last_success_ms)
            put(&o, "sqlvault_last_success_timestamp_seconds{type=\"%s\"} %.3f\n", mx_types[i].type,
                (double)mx_types[i].last_success_ms / 1000.0);
    family(&o, "sqlvault_backup_compressed_bytes", "histogram", "stored (compressed) size of committed backups");
    for (int k = 0; k < SZ_BUCKETS; k++)
        put(&o, "sqlvault_backup_compressed_bytes_bucket{le=\"%.0f\"} %llu\n", sz_bounds[k],
            (unsigned long long)sz_bucket[k]);
    put(&o, "sqlvault_backup_compressed_bytes_bucket{le=\"+Inf\"} %llu\n", (unsigned long long)sz_count);
    put(&o, "sqlvault_backup_compressed_bytes_sum %.0f\n", sz_sum);
    put(&o, "sqlvault_backup_compressed_bytes_count %llu\n", (unsigned long long)sz_count);
    pthread_mutex_unlock(&mx_mu);

    family(&o, "sqlvault_bytes_total", "counter",
           "bytes read from live databases, uploaded to and downloaded from the store");
    put(&o, "sqlvault_bytes_total{direction=\"read\"} %llu\n", (unsigned long long)mx_bytes_read);
    put(&o, "sqlvault_bytes_total{direction=\"uploaded\"} %llu\n", (unsigned long long)mx_bytes_uploaded);
    put(&o, "sqlvault_bytes_total{direction=\"downloaded\"} %llu\n", (unsigned long long)mx_bytes_downloaded);
    family(&o, "sqlvault_restores_total", "counter",
           "restores of a single-file workspace that swapped in a database: by delta (only the pages that differ) or in full");
    put(&o, "sqlvault_restores_total{kind=\"delta\"} %llu\n", (unsigned long long)mx_restores_delta);
    put(&o, "sqlvault_restores_total{kind=\"full\"} %llu\n", (unsigned long long)mx_restores_full);

    if (srv.probe) {
        metrics_pool_state st = {0};
        srv.probe(srv.ud, &st);
        family(&o, "sqlvault_worker_threads", "gauge", "job threads of this worker process");
        put(&o, "sqlvault_worker_threads %d\n", st.threads);
        family(&o, "sqlvault_worker_running_jobs", "gauge", "jobs running in this worker process");
        put(&o, "sqlvault_worker_running_jobs %d\n", st.running);
        family(&o, "sqlvault_redis_round_trips_total", "counter", "redis round trips of this process");
        put(&o, "sqlvault_redis_round_trips_total %llu\n", (unsigned long long)st.round_trips);
    }
    if (srv.cfg) {
        family(&o, "sqlvault_schedule_interval_seconds", "gauge",
               "time between two runs of SQLVAULT_SCHEDULE (for alert thresholds)");
        put(&o, "sqlvault_schedule_interval_seconds %.0f\n", srv.schedule_s);
        family(&o, "sqlvault_verify_every_seconds", "gauge", "SQLVAULT_VERIFY_EVERY (for alert thresholds)");
        put(&o, "sqlvault_verify_every_seconds %.0f\n", (double)srv.cfg->verify_every_ms / 1000.0);
    }
    pthread_mutex_lock(&cache_mu);
    now_mono = srv.clock ? sv_mono_ms(srv.clock) : 0;
    family(&o, "sqlvault_dependency_up", "gauge",
           "1 when redis or the store answered within the readiness window (what /readyz checks)");
    put(&o, "sqlvault_dependency_up{dependency=\"redis\"} %d\n",
        cache.redis_ok_mono && now_mono - cache.redis_ok_mono <= READY_REDIS_MS);
    put(&o, "sqlvault_dependency_up{dependency=\"store\"} %d\n",
        cache.store_ok_mono && now_mono - cache.store_ok_mono <= READY_STORE_MS);
    render_cached(&o);
    pthread_mutex_unlock(&cache_mu);
    return sv_buf_take(&o); /* NULL when the page failed */
}

/* ---- readiness ---- */

/* True when Redis and the store answered recently; why says what is not. */
static bool ready(char *why, size_t cap)
{
    bool ok = true;
    int64_t now;
    why[0] = '\0';
    pthread_mutex_lock(&cache_mu);
    now = sv_mono_ms(srv.clock);
    if (!cache.redis_ok_mono || now - cache.redis_ok_mono > READY_REDIS_MS) {
        ok = false;
        snprintf(why, cap, "redis: %s", cache.redis_ok_mono ? (cache.redis_why[0] ? cache.redis_why : "no answer")
                                                            : "not reached yet");
    } else if (!cache.store_ok_mono || now - cache.store_ok_mono > READY_STORE_MS) {
        ok = false;
        snprintf(why, cap, "store: %s", cache.store_why[0] ? cache.store_why
                                        : cache.store_ok_mono ? "no answer" : "not reached yet");
    }
    pthread_mutex_unlock(&cache_mu);
    return ok;
}

/* ---- background threads ---- */

/* Waits up to ms or until metrics_stop; true when stopping. */
static bool wait_stop(int64_t ms)
{
    struct timespec ts = sv_realtime_after_ms(ms);
    bool stop;
    pthread_mutex_lock(&srv.stop_mu);
    while (!(stop = atomic_load(&srv.stop)))
        if (pthread_cond_timedwait(&srv.stop_cv, &srv.stop_mu, &ts) != 0) break;
    stop = atomic_load(&srv.stop);
    pthread_mutex_unlock(&srv.stop_mu);
    return stop;
}

typedef struct ages {
    double *v;
    size_t n, cap;
    int64_t now;
} ages;

/* queue_verified_each callback: collects one age. */
static void add_age(void *ud, const char *ws, int64_t ms)
{
    ages *a = ud;
    (void)ws;
    if (a->n == a->cap) {
        size_t nc = a->cap ? a->cap * 2 : 256;
        double *nv = realloc(a->v, nc * sizeof *nv);
        if (!nv) return;
        a->v = nv;
        a->cap = nc;
    }
    a->v[a->n++] = a->now > ms ? (double)(a->now - ms) / 1000.0 : 0.0;
}

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

/* Reads the verified ages and stores their summary in the cache. */
static int refresh_ages(queue_conn *c, sv_err *err)
{
    ages a = {NULL, 0, 0, sv_now_ms(srv.clock)};
    double sum = 0;
    if (queue_verified_each(c, srv.cfg, add_age, &a, err) != 0) {
        free(a.v);
        return -1;
    }
    if (a.n) qsort(a.v, a.n, sizeof *a.v, cmp_double);
    for (size_t i = 0; i < a.n; i++) sum += a.v[i];
    pthread_mutex_lock(&cache_mu);
    cache.have_ages = true;
    cache.age_n = a.n;
    cache.age_sum = sum;
    if (a.n) {
        static const double q[4] = {0, 0.5, 0.9, 1};
        for (int k = 0; k < 4; k++) cache.age_q[k] = a.v[(size_t)floor(q[k] * (double)(a.n - 1) + 0.5)];
    }
    pthread_mutex_unlock(&cache_mu);
    free(a.v);
    return 0;
}

/* Reads each replica store's lag (replica.h) into the cache. */
static int refresh_replicas(queue_conn *c, sv_err *err)
{
    replica_set rs;
    json_t *o;
    if (!srv.cfg->replicas) return 0;
    if (replica_parse(srv.cfg, &rs, err) != 0) return -1;
    if (!(o = json_object())) {
        replica_set_free(&rs);
        return sv_err_set(err, SV_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < rs.n; i++) {
        double lag = 0;
        int64_t behind = 0;
        if (queue_replica_lag(c, srv.cfg, rs.r[i].name, sv_now_ms(srv.clock), &lag, &behind, err) != 0) {
            json_decref(o);
            replica_set_free(&rs);
            return -1;
        }
        json_object_set_new(o, rs.r[i].name, json_pack("{s:f, s:I}", "lag", lag, "behind", (json_int_t)behind));
    }
    replica_set_free(&rs);
    pthread_mutex_lock(&cache_mu);
    json_decref(cache.replicas);
    cache.replicas = o;
    pthread_mutex_unlock(&cache_mu);
    return 0;
}

/* One refresh of the Redis-backed figures. */
static int refresh_redis(queue_conn **c, int64_t *ages_due, sv_err *err)
{
    char **bases = NULL, *ratio = NULL;
    size_t n = 0;
    json_t *pools = json_array();
    int rc = -1;
    /* one connect attempt per refresh while Redis is away */
    if ((!*c && queue_conn_new(srv.cfg, c, err) != 0) || queue_conn_ensure(*c, QC_ENSURE_ONCE, NULL, NULL, err) != 0)
        goto fail;
    bases = queue_pool_bases(srv.cfg, srv.cfg->pools, &n);
    for (size_t i = 0; bases && i < n; i++) {
        json_t *st = NULL;
        if (queue_stats(*c, bases[i], srv.cfg->lease_ms * 3, &st, err) != 0) goto fail;
        json_array_append_new(pools, st);
    }
    if (queue_get_key(*c, srv.cfg, "metrics:last_tick_failure_ratio", &ratio, err) != 0) goto fail;
    if (sv_mono_ms(srv.clock) >= *ages_due) {
        if (refresh_ages(*c, err) != 0) goto fail;
        if (refresh_replicas(*c, err) != 0) goto fail;
        *ages_due = sv_mono_ms(srv.clock) + VERIFIED_EVERY_MS;
    }
    pthread_mutex_lock(&cache_mu);
    json_decref(cache.pools);
    cache.pools = pools;
    pools = NULL;
    cache.have_ratio = ratio != NULL;
    cache.tick_ratio = ratio ? strtod(ratio, NULL) : 0;
    cache.redis_ok_mono = sv_mono_ms(srv.clock);
    cache.redis_why[0] = '\0';
    pthread_mutex_unlock(&cache_mu);
    rc = 0;
fail:
    if (rc != 0) {
        pthread_mutex_lock(&cache_mu);
        snprintf(cache.redis_why, sizeof cache.redis_why, "%s", err->msg);
        pthread_mutex_unlock(&cache_mu);
    }
    json_decref(pools);
    free(ratio);
    queue_bases_free(bases);
    return rc;
}

/* The refresher thread: Redis figures every REFRESH_MS. */
static void *refresher_thread(void *arg)
{
    queue_conn *c = NULL;
    int64_t ages_due = 0;
    int fails = 0;
    (void)arg;
    do {
        sv_err err;
        sv_err_clear(&err);
        if (refresh_redis(&c, &ages_due, &err) != 0) {
            if (fails++ % 30 == 0) log_debug(NULL, NULL, "metrics: redis figures not refreshed: %s", err.msg);
        } else {
            fails = 0;
        }
    } while (!wait_stop(REFRESH_MS));
    queue_conn_free(c);
    return NULL;
}

/* The store prober: a ping every STORE_EVERY_MS. A ping stuck in the HTTP
 * retry loop only makes the last success older. */
static void *prober_thread(void *arg)
{
    store_t *st = NULL;
    (void)arg;
    do {
        sv_err err;
        int rc;
        sv_err_clear(&err);
        rc = st || store_open(srv.cfg, srv.clock, &st, &err) == 0 ? store_ping(st, &err) : -1;
        pthread_mutex_lock(&cache_mu);
        if (rc == 0) {
            cache.store_ok_mono = sv_mono_ms(srv.clock);
            cache.store_why[0] = '\0';
        } else {
            snprintf(cache.store_why, sizeof cache.store_why, "%s", err.msg);
        }
        pthread_mutex_unlock(&cache_mu);
    } while (!wait_stop(STORE_EVERY_MS));
    store_free(st);
    return NULL;
}

/* ---- HTTP ---- */

/* Queues a response with the given status, type and heap body (taken). */
static enum MHD_Result respond(struct MHD_Connection *conn, unsigned status, const char *ctype, char *body)
{
    struct MHD_Response *r;
    enum MHD_Result ret;
    if (!body) {
        status = MHD_HTTP_INTERNAL_SERVER_ERROR;
        body = sv_strdup("out of memory\n");
        if (!body) return MHD_NO;
    }
    r = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

/* The request handler: GET/HEAD of /metrics, /healthz, /readyz. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_size,
                                  void **req_cls)
{
    static const char *text = "text/plain; charset=utf-8";
    char why[700];
    (void)cls;
    (void)version;
    (void)upload_data;
    if (!*req_cls) { /* first call: headers only; answer on the next */
        *req_cls = (void *)1;
        return MHD_YES;
    }
    if (*upload_size) {
        *upload_size = 0;
        return MHD_YES;
    }
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return respond(conn, MHD_HTTP_METHOD_NOT_ALLOWED, text, sv_strdup("only GET and HEAD\n"));
    if (strcmp(url, "/metrics") == 0)
        return respond(conn, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", metrics_render());
    if (strcmp(url, "/healthz") == 0) return respond(conn, MHD_HTTP_OK, text, sv_strdup("ok\n"));
    if (strcmp(url, "/readyz") == 0) {
        if (ready(why, sizeof why)) return respond(conn, MHD_HTTP_OK, text, sv_strdup("ready\n"));
        return respond(conn, MHD_HTTP_SERVICE_UNAVAILABLE, text, sv_asprintf("not ready: %s\n", why));
    }
    return respond(conn, MHD_HTTP_NOT_FOUND, text, sv_strdup("not found\n"));
}

/* libmicrohttpd's own errors go to our log. */
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[256];
    size_t n;
    (void)cls;
    vsnprintf(msg, sizeof msg, fmt, ap);
    n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r')) msg[--n] = '\0';
    log_debug(NULL, NULL, "metrics http: %s", msg);
}

/* The period of the cron schedule around now (0 when it does not parse). */
static double schedule_period_s(const sv_config *cfg)
{
    sv_cron cr;
    sv_err err;
    int64_t now = sv_now_ms(srv.clock), next, after;
    if (!cfg->schedule || cron_parse(cfg->schedule, &cr, &err) != 0) return 0;
    next = cron_next(&cr, now);
    after = next > 0 ? cron_next(&cr, next) : 0;
    return next > 0 && after > next ? (double)(after - next) / 1000.0 : 0;
}

/* Binds the listening socket on host:port. */
static int listen_on(const char *addr, int *out, sv_err *err)
{
    char host[256], *colon;
    struct addrinfo hints = {0}, *ai = NULL;
    int one = 1, fd = -1;
    snprintf(host, sizeof host, "%s", addr);
    colon = strrchr(host, ':');
    if (!colon) {
        sv_err_set(err, SV_EINVAL, "SQLVAULT_METRICS_ADDR '%s' is not host:port", addr);
        return sv_err_hint(err, "for example 127.0.0.1:9464");
    }
    *colon = '\0';
    if (host[0] == '[' && colon > host + 1 && colon[-1] == ']') { /* [::1]:9464 */
        colon[-1] = '\0';
        memmove(host, host + 1, strlen(host));
    }
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    if (getaddrinfo(host[0] ? host : NULL, colon + 1, &hints, &ai) != 0 || !ai) {
        sv_err_set(err, SV_EINVAL, "SQLVAULT_METRICS_ADDR '%s' does not resolve", addr);
        return sv_err_hint(err, "for example 127.0.0.1:9464");
    }
    fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, 0);
    if (fd >= 0) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 64) != 0) {
        sv_err_set(err, SV_EINVAL, "cannot listen on SQLVAULT_METRICS_ADDR '%s': %s", addr, strerror(errno));
        if (fd >= 0) close(fd);
        freeaddrinfo(ai);
        return sv_err_hint(err, "is the port in use? pick another host:port");
    }
    freeaddrinfo(ai);
    *out = fd;
    return 0;
}

/* Starts the endpoint; see metrics.h. */
int metrics_start(const sv_config *cfg, metrics_probe_fn probe, void *ud, sv_err *err)
{
    int fd = -1;
    if (!cfg->metrics_addr || !*cfg->metrics_addr || srv.started) return 0;
    if (listen_on(cfg->metrics_addr, &fd, err) != 0) return -1;
    srv.cfg = cfg;
    srv.clock = sv_clock_system();
    srv.probe = probe;
    srv.ud = ud;
    srv.schedule_s = schedule_period_s(cfg);
    atomic_store(&srv.stop, false);
    srv.mhd = MHD_start_daemon(MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ITC | MHD_USE_ERROR_LOG, 0, NULL, NULL, on_request, NULL,
                               MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_THREAD_POOL_SIZE, 2,
                               MHD_OPTION_CONNECTION_LIMIT, CONN_LIMIT, MHD_OPTION_CONNECTION_TIMEOUT,
                               (unsigned)CONN_TIMEOUT_S, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)16384,
                               MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, MHD_OPTION_END);
    if (!srv.mhd) {
        close(fd);
        return sv_err_set(err, SV_EINTERNAL, "cannot start the metrics http server on %s", cfg->metrics_addr);
    }
    if (pthread_create(&srv.refresher, NULL, refresher_thread, NULL) != 0) {
        MHD_stop_daemon(srv.mhd);
        close(fd);
        return sv_err_set(err, SV_EINTERNAL, "cannot start the metrics refresher thread");
    }
    if (pthread_create(&srv.prober, NULL, prober_thread, NULL) != 0) {
        atomic_store(&srv.stop, true);
        pthread_join(srv.refresher, NULL);
        MHD_stop_daemon(srv.mhd);
        close(fd);
        return sv_err_set(err, SV_EINTERNAL, "cannot start the store prober thread");
    }
    srv.started = true;
    log_info(NULL, NULL, "metrics on http://%s/metrics", cfg->metrics_addr);
    return 0;
}

/* Stops the endpoint. */
void metrics_stop(void)
{
    int fd;
    if (!srv.started) return;
    pthread_mutex_lock(&srv.stop_mu);
    atomic_store(&srv.stop, true);
    pthread_cond_broadcast(&srv.stop_cv);
    pthread_mutex_unlock(&srv.stop_mu);
    fd = MHD_quiesce_daemon(srv.mhd);
    MHD_stop_daemon(srv.mhd);
    if (fd >= 0) close(fd);
    srv.mhd = NULL;
    pthread_join(srv.refresher, NULL);
    {   /* a ping inside the store's retry loop is not waited out */
        struct timespec ts = sv_realtime_after_ms(2000);
        if (pthread_timedjoin_np(srv.prober, NULL, &ts) != 0) {
            log_warn(NULL, NULL, "metrics: the store ping is still running; not waiting for it");
            pthread_detach(srv.prober);
        }
    }
    pthread_mutex_lock(&cache_mu);
    json_decref(cache.pools);
    cache.pools = NULL;
    json_decref(cache.replicas);
    cache.replicas = NULL;
    pthread_mutex_unlock(&cache_mu);
    srv.started = false;
}
