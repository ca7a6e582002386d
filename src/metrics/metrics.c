/* metrics.c -- counters and histograms of finished jobs, and the HTTP thread
 * that serves them with the queue's depths read from Redis at scrape time.
 *
 * The server is deliberately tiny: one thread, one connection at a time,
 * GET only, 4 KiB request cap, Connection: close. It is meant for a scraper
 * on a private address, not for the internet.
 *
 * THREAD SAFETY NOTES: the job table is guarded by mx_mu; job threads call
 * metrics_job_done, the HTTP thread renders under the same lock. The HTTP
 * thread owns its Redis connection and store. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "clock.h"
#include "log.h"
#include "metrics/metrics.h"
#include "queue.h"
#include "store.h"
#include "util.h"

#define MX_TYPES 24
#define MX_BUCKETS 10
static const double mx_bounds[MX_BUCKETS] = {0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600};
static const char *const mx_outcomes[] = {"succeeded", "failed", "retrying", "cancelled", "released",
                                          "lease_lost", NULL};

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

static struct {
    const sv_config *cfg;
    metrics_probe_fn probe;
    void *ud;
    int fd;
    pthread_t th;
    bool started;
    _Atomic bool stop;
    queue_conn *conn;
    store_t *store;
} srv = {.fd = -1};

/* Finds or adds a type's row; caller holds mx_mu. */
static mx_type *row(const char *type)
{
    for (int i = 0; i < mx_ntypes; i++)
        if (strcmp(mx_types[i].type, type) == 0) return &mx_types[i];
    if (mx_ntypes == MX_TYPES) return NULL;
    snprintf(mx_types[mx_ntypes].type, sizeof mx_types[0].type, "%s", type);
    return &mx_types[mx_ntypes++];
}

/* Records a finished attempt. */
void metrics_job_done(const char *type, const char *outcome, double seconds)
{
    mx_type *r;
    pthread_mutex_lock(&mx_mu);
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

/* Appends formatted text to a growing buffer. */
static void put(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void put(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
{
    va_list ap;
    int n;
    if (!*buf) return;
    for (;;) {
        va_start(ap, fmt);
        n = vsnprintf(*buf + *len, *cap - *len, fmt, ap);
        va_end(ap);
        if (n < 0) return;
        if ((size_t)n < *cap - *len) break;
        {
            char *nb = realloc(*buf, *cap * 2 + (size_t)n);
            if (!nb) {
                free(*buf);
                *buf = NULL;
                return;
            }
            *buf = nb;
            *cap = *cap * 2 + (size_t)n;
        }
    }
    *len += (size_t)n;
}

/* Queue figures of every served pool, read from Redis. */
static void render_queue(char **b, size_t *l, size_t *c)
{
    size_t n = 0;
    char **bases;
    sv_err err;
    if (!srv.cfg) return;
    if (!srv.conn && queue_conn_open(srv.cfg, &srv.conn, &err) != 0) return;
    if (queue_conn_broken(srv.conn) && queue_conn_reconnect(srv.conn, &err) != 0) return;
    bases = queue_pool_bases(srv.cfg, srv.cfg->pools, &n);
    put(b, l, c, "# HELP sqlvault_queue_depth jobs waiting to run\n# TYPE sqlvault_queue_depth gauge\n");
    for (size_t i = 0; bases && i < n; i++) {
        json_t *st = NULL;
        const char *pool;
        if (queue_stats(srv.conn, bases[i], srv.cfg->lease_ms * 3, &st, &err) != 0) continue;
        pool = json_string_value(json_object_get(st, "pool"));
        put(b, l, c, "sqlvault_queue_depth{pool=\"%s\",priority=\"interactive\"} %lld\n", pool,
            json_integer_value(json_object_get(st, "queued_interactive")));
        put(b, l, c, "sqlvault_queue_depth{pool=\"%s\",priority=\"scheduled\"} %lld\n", pool,
            json_integer_value(json_object_get(st, "queued_scheduled")));
        put(b, l, c, "sqlvault_queue_delayed{pool=\"%s\"} %lld\n", pool,
            json_integer_value(json_object_get(st, "delayed")));
        put(b, l, c, "sqlvault_jobs_active{pool=\"%s\"} %lld\n", pool,
            json_integer_value(json_object_get(st, "active")));
        put(b, l, c, "sqlvault_workers_alive{pool=\"%s\"} %lld\n", pool,
            json_integer_value(json_object_get(st, "workers_alive")));
        put(b, l, c, "sqlvault_failure_ratio{pool=\"%s\"} %g\n", pool,
            json_real_value(json_object_get(st, "failure_ratio")));
        json_decref(st);
    }
    queue_bases_free(bases);
    {
        /* Written by the leading scheduler after each tick's jobs finished. */
        char *ratio = NULL;
        if (queue_get_key(srv.conn, srv.cfg, "metrics:last_tick_failure_ratio", &ratio, &err) == 0 && ratio) {
            put(b, l, c, "# HELP sqlvault_backup_failure_ratio_last_tick failed share of the last scheduled tick's backups\n"
                         "# TYPE sqlvault_backup_failure_ratio_last_tick gauge\n"
                         "sqlvault_backup_failure_ratio_last_tick %g\n", strtod(ratio, NULL));
        }
        free(ratio);
    }
}

static _Atomic uint64_t mx_bytes_read, mx_bytes_uploaded, mx_bytes_downloaded;

/* Adds to a byte counter. */
void metrics_bytes(const char *direction, uint64_t n)
{
    if (strcmp(direction, "read") == 0) mx_bytes_read += n;
    else if (strcmp(direction, "uploaded") == 0) mx_bytes_uploaded += n;
    else if (strcmp(direction, "downloaded") == 0) mx_bytes_downloaded += n;
}

/* Renders every metric; see metrics.h. */
char *metrics_render(void)
{
    size_t len = 0, cap = 4096;
    char *b = malloc(cap);
    if (!b) return NULL;
    b[0] = '\0';
    pthread_mutex_lock(&mx_mu);
    put(&b, &len, &cap, "# HELP sqlvault_jobs_total finished job attempts by type and outcome\n"
                        "# TYPE sqlvault_jobs_total counter\n");
    for (int i = 0; i < mx_ntypes; i++)
        for (int o = 0; mx_outcomes[o]; o++)
            put(&b, &len, &cap, "sqlvault_jobs_total{type=\"%s\",outcome=\"%s\"} %llu\n", mx_types[i].type,
                mx_outcomes[o], (unsigned long long)mx_types[i].outcome[o]);
    put(&b, &len, &cap, "# HELP sqlvault_job_duration_seconds duration of job attempts\n"
                        "# TYPE sqlvault_job_duration_seconds histogram\n");
    for (int i = 0; i < mx_ntypes; i++) {
        for (int k = 0; k < MX_BUCKETS; k++)
            put(&b, &len, &cap, "sqlvault_job_duration_seconds_bucket{type=\"%s\",le=\"%g\"} %llu\n",
                mx_types[i].type, mx_bounds[k], (unsigned long long)mx_types[i].bucket[k]);
        put(&b, &len, &cap, "sqlvault_job_duration_seconds_bucket{type=\"%s\",le=\"+Inf\"} %llu\n",
            mx_types[i].type, (unsigned long long)mx_types[i].count);
        put(&b, &len, &cap, "sqlvault_job_duration_seconds_sum{type=\"%s\"} %.3f\n", mx_types[i].type,
            mx_types[i].sum);
        put(&b, &len, &cap, "sqlvault_job_duration_seconds_count{type=\"%s\"} %llu\n", mx_types[i].type,
            (unsigned long long)mx_types[i].count);
    }
    put(&b, &len, &cap, "# HELP sqlvault_bytes_total bytes read from live databases, uploaded to and downloaded from the store\n"
                        "# TYPE sqlvault_bytes_total counter\n"
                        "sqlvault_bytes_total{direction=\"read\"} %llu\n"
                        "sqlvault_bytes_total{direction=\"uploaded\"} %llu\n"
                        "sqlvault_bytes_total{direction=\"downloaded\"} %llu\n",
        (unsigned long long)mx_bytes_read, (unsigned long long)mx_bytes_uploaded,
        (unsigned long long)mx_bytes_downloaded);
    put(&b, &len, &cap, "# HELP sqlvault_last_success_timestamp_seconds last successful job by type\n"
                        "# TYPE sqlvault_last_success_timestamp_seconds gauge\n");
    for (int i = 0; i < mx_ntypes; i++)
        if (mx_types[i].last_success_ms)
            put(&b, &len, &cap, "sqlvault_last_success_timestamp_seconds{type=\"%s\"} %.3f\n",
                mx_types[i].type, (double)mx_types[i].last_success_ms / 1000.0);
    pthread_mutex_unlock(&mx_mu);
    if (srv.probe) {
        metrics_pool_state st = {0};
        srv.probe(srv.ud, &st);
        put(&b, &len, &cap, "# TYPE sqlvault_worker_threads gauge\nsqlvault_worker_threads %d\n", st.threads);
        put(&b, &len, &cap, "# TYPE sqlvault_worker_running_jobs gauge\nsqlvault_worker_running_jobs %d\n",
            st.running);
        put(&b, &len, &cap, "# TYPE sqlvault_redis_round_trips_total counter\n"
                            "sqlvault_redis_round_trips_total %llu\n", (unsigned long long)st.round_trips);
    }
    render_queue(&b, &len, &cap);
    return b;
}

/* True when Redis and the store answer. */
static bool ready(char *why, size_t cap)
{
    sv_err err;
    json_t *st = NULL;
    char **bases;
    size_t n = 0;
    int rc;
    if (!srv.conn && queue_conn_open(srv.cfg, &srv.conn, &err) != 0) goto bad;
    if (queue_conn_broken(srv.conn) && queue_conn_reconnect(srv.conn, &err) != 0) goto bad;
    bases = queue_pool_bases(srv.cfg, srv.cfg->pools, &n);
    rc = bases && n ? queue_stats(srv.conn, bases[0], 1000, &st, &err) : 0;
    queue_bases_free(bases);
    json_decref(st);
    if (rc != 0) goto bad;
    if (!srv.store && store_open(srv.cfg, sv_clock_system(), &srv.store, &err) != 0) goto bad;
    if (store_ping(srv.store, &err) != 0) goto bad;
    return true;
bad:
    snprintf(why, cap, "%s", err.msg);
    return false;
}

/* Writes all of buf to fd (best effort). */
static void write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n <= 0) return;
        buf += n;
        len -= (size_t)n;
    }
}

/* Answers one HTTP request on fd. */
static void serve(int fd)
{
    char req[4096], head[256], why[600], *body = NULL;
    const char *status = "200 OK", *ctype = "text/plain; charset=utf-8";
    size_t got = 0;
    struct pollfd p = {fd, POLLIN, 0};
    while (got < sizeof req - 1 && poll(&p, 1, 2000) > 0) {
        ssize_t n = read(fd, req + got, sizeof req - 1 - got);
        if (n <= 0) break;
        got += (size_t)n;
        req[got] = '\0';
        if (strstr(req, "\r\n\r\n") || strstr(req, "\n\n")) break;
    }
    req[got] = '\0';
    if (strncmp(req, "GET /metrics", 12) == 0) {
        body = metrics_render();
        ctype = "text/plain; version=0.0.4; charset=utf-8";
    } else if (strncmp(req, "GET /healthz", 12) == 0) {
        body = sv_strdup("ok\n");
    } else if (strncmp(req, "GET /readyz", 11) == 0) {
        if (ready(why, sizeof why)) body = sv_strdup("ready\n");
        else {
            status = "503 Service Unavailable";
            body = sv_asprintf("not ready: %s\n", why);
        }
    } else {
        status = "404 Not Found";
        body = sv_strdup("not found\n");
    }
    if (!body) {
        status = "500 Internal Server Error";
        body = sv_strdup("out of memory\n");
    }
    snprintf(head, sizeof head, "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                                "Connection: close\r\n\r\n", status, ctype, body ? strlen(body) : 0);
    write_all(fd, head, strlen(head));
    if (body) write_all(fd, body, strlen(body));
    free(body);
}

/* The HTTP thread: accept with a timeout so a stop is noticed. */
static void *http_thread(void *arg)
{
    (void)arg;
    while (!atomic_load(&srv.stop)) {
        struct pollfd p = {srv.fd, POLLIN, 0};
        int c;
        if (poll(&p, 1, 200) <= 0) continue;
        c = accept(srv.fd, NULL, NULL);
        if (c < 0) continue;
        serve(c);
        close(c);
    }
    return NULL;
}

/* Starts the endpoint; see metrics.h. */
int metrics_start(const sv_config *cfg, metrics_probe_fn probe, void *ud, sv_err *err)
{
    char host[256], *colon;
    struct addrinfo hints = {0}, *ai = NULL;
    int one = 1, fd = -1;
    if (!cfg->metrics_addr || !*cfg->metrics_addr) return 0;
    snprintf(host, sizeof host, "%s", cfg->metrics_addr);
    colon = strrchr(host, ':');
    if (!colon) {
        sv_err_set(err, SV_EINVAL, "SQLVAULT_METRICS_ADDR '%s' is not host:port", cfg->metrics_addr);
        return sv_err_hint(err, "for example 127.0.0.1:9464");
    }
    *colon = '\0';
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    if (getaddrinfo(host[0] ? host : NULL, colon + 1, &hints, &ai) != 0 || !ai) {
        sv_err_set(err, SV_EINVAL, "SQLVAULT_METRICS_ADDR '%s' does not resolve", cfg->metrics_addr);
        return sv_err_hint(err, "for example 127.0.0.1:9464");
    }
    fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, 0);
    if (fd >= 0) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 16) != 0) {
        sv_err_set(err, SV_EINVAL, "cannot listen on SQLVAULT_METRICS_ADDR '%s': %s", cfg->metrics_addr,
                   strerror(errno));
        if (fd >= 0) close(fd);
        freeaddrinfo(ai);
        return sv_err_hint(err, "is the port in use? pick another host:port");
    }
    freeaddrinfo(ai);
    srv.cfg = cfg;
    srv.probe = probe;
    srv.ud = ud;
    srv.fd = fd;
    atomic_store(&srv.stop, false);
    if (pthread_create(&srv.th, NULL, http_thread, NULL) != 0) {
        close(fd);
        srv.fd = -1;
        return sv_err_set(err, SV_EINTERNAL, "cannot start the metrics thread");
    }
    srv.started = true;
    log_info(NULL, NULL, "metrics on http://%s/metrics", cfg->metrics_addr);
    return 0;
}

/* Stops the endpoint. */
void metrics_stop(void)
{
    if (!srv.started) return;
    atomic_store(&srv.stop, true);
    pthread_join(srv.th, NULL);
    close(srv.fd);
    srv.fd = -1;
    srv.started = false;
    queue_conn_free(srv.conn);
    srv.conn = NULL;
    store_free(srv.store);
    srv.store = NULL;
}
