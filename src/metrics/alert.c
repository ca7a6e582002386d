/* alert.c -- the alert webhook (see alert.h).
 *
 * Bodies, by SQLVAULT_ALERT_FORMAT:
 *   json    {"source":"sqlvault","alert":"backup_failure_ratio","status":"firing",
 *            "severity":"critical","text":"...","tick":ISO,"failed":N,"total":N,
 *            "ratio":R,"threshold":0.01,"host":H,"prefix":P}
 *           ("text" makes it a valid Slack incoming-webhook message as well)
 *   slack   {"text":"..."}                      Slack / Mattermost incoming webhooks
 *   sentry  a Sentry event (event_id, timestamp, level error, message, tags,
 *           extra, fingerprint) for the store endpoint
 *           https://HOST/api/PROJECT/store/?sentry_key=KEY&sentry_version=7
 *
 * THREAD SAFETY NOTES: each delivery is a detached thread that owns its
 * copies of the URL and body. al_mu guards the in-flight count; al_cv is
 * signalled when a delivery ends (alert_webhook_drain waits on it). */
#include <jansson.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "clock.h"
#include "http/http.h"
#include "log.h"
#include "metrics/alert.h"
#include "timefmt.h"
#include "util.h"

#define AL_MAX_INFLIGHT 8

static pthread_mutex_t al_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t al_cv = PTHREAD_COND_INITIALIZER;
static int al_inflight;

typedef struct delivery {
    char *url, *origin, *body;
} delivery;

/* The alert's one-line text. */
static char *alert_text(const char *prefix, const alert_tick *t)
{
    return sv_asprintf("sqlvault (%s): %lld of %lld backups of the tick at %s failed (%.2f%%, threshold %.0f%%)",
                       prefix, t->failed, t->total, t->tick, t->ratio * 100.0, t->threshold * 100.0);
}

/* Builds the body; see alert.h. */
char *alert_body(const char *format, const char *prefix, const char *host, const alert_tick *t, int64_t now_ms)
{
    char *text = alert_text(prefix, t), *out = NULL;
    json_t *o = NULL;
    if (!text) return NULL;
    if (format && strcmp(format, "slack") == 0) {
        o = json_pack("{s:s}", "text", text);
    } else if (format && strcmp(format, "sentry") == 0) {
        char id[33], iso[SV_ISO_LEN];
        sv_random_id(sv_clock_system(), id);
        sv_iso_format(now_ms, iso);
        o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:{s:s}, s:{s:s, s:s, s:s}, s:{s:s, s:I, s:I, s:f, s:f},"
                      " s:[s]}",
                      "event_id", id, "timestamp", iso, "level", "error", "logger", "sqlvault.scheduler",
                      "platform", "other", "server_name", host, "message", "formatted", text, "tags", "alert",
                      "backup_failure_ratio", "prefix", prefix, "source", "sqlvault", "extra", "tick", t->tick,
                      "failed", (json_int_t)t->failed, "total", (json_int_t)t->total, "ratio", t->ratio,
                      "threshold", t->threshold, "fingerprint", "sqlvault-backup-failure-ratio");
    } else {
        o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:f, s:f, s:s, s:s}", "source", "sqlvault", "alert",
                      "backup_failure_ratio", "status", "firing", "severity", "critical", "text", text, "tick",
                      t->tick, "failed", (json_int_t)t->failed, "total", (json_int_t)t->total, "ratio", t->ratio,
                      "threshold", t->threshold, "host", host, "prefix", prefix);
    }
    if (o) out = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    free(text);
    return out;
}

/* http_do's prepare: the URL and the content type. */
static int prepare(void *ud, http_attempt *a, int attempt, sv_err *err)
{
    delivery *d = ud;
    (void)attempt;
    if (http_attempt_url(a, d->url) != 0 || http_attempt_header(a, "Content-Type: application/json") != 0)
        return sv_err_set(err, SV_ENOMEM, "out of memory");
    return 0;
}

/* The delivery thread: one POST, retried by http_do. */
static void *deliver(void *arg)
{
    delivery *d = arg;
    http_conn *c = NULL;
    http_response resp = {0};
    http_opts o;
    sv_err err;
    sv_err_clear(&err);
    http_opts_default(&o);
    o.max_attempts = 6;        /* about 1+2+4+8+16 s of backoff */
    o.base_delay_ms = 1000;
    o.max_delay_ms = 16000;
    o.max_total_ms = 120000;
    o.connect_timeout_s = 10;
    o.low_speed_time_s = 45;   /* a slow receiver is waited for, not posted twice */
    if (http_conn_new(sv_clock_system(), d->origin, &o, &c, &err) == 0) {
        http_request r = {.method = "POST", .prepare = prepare, .ud = d, .body = d->body,
                          .body_len = strlen(d->body), .body_fd = -1, .body_cap = 65536};
        if (http_do(c, &r, &resp, &err) == 0) {
            if (resp.status >= 200 && resp.status < 300)
                log_info(NULL, NULL, "alert webhook delivered to %s (HTTP %ld, %d attempt(s))", d->origin,
                         resp.status, resp.attempts);
            else
                log_error(NULL, NULL, "alert webhook refused by %s: HTTP %ld after %d attempt(s)", d->origin,
                          resp.status, resp.attempts);
        } else {
            log_error(NULL, NULL, "alert webhook not delivered to %s: %s", d->origin, err.msg);
        }
    } else {
        log_error(NULL, NULL, "alert webhook: %s", err.msg);
    }
    http_response_clear(&resp);
    http_conn_free(c);
    free(d->url);
    free(d->origin);
    free(d->body);
    free(d);
    pthread_mutex_lock(&al_mu);
    al_inflight--;
    pthread_cond_broadcast(&al_cv);
    pthread_mutex_unlock(&al_mu);
    return NULL;
}

/* scheme://host[:port] of a URL (what messages may name). */
static char *origin_of(const char *url)
{
    const char *p = strstr(url, "://");
    size_t n;
    if (!p) return sv_strdup("(webhook)");
    p += 3;
    n = strcspn(p, "/?#");
    {   /* drop user:password@ */
        const char *at = memchr(p, '@', n);
        if (at) {
            size_t skip = (size_t)(at + 1 - p);
            return sv_asprintf("%.*s%.*s", (int)(p - url), url, (int)(n - skip), at + 1);
        }
    }
    return sv_asprintf("%.*s", (int)(p - url + (ptrdiff_t)n), url);
}

/* Starts one delivery; see alert.h. */
int alert_webhook_send(const sv_config *cfg, const alert_tick *t, sv_err *err)
{
    char host[128] = "host";
    delivery *d;
    pthread_t th;
    pthread_attr_t at;
    if (!cfg->alert_webhook || !cfg->alert_webhook[0]) return 0;
    gethostname(host, sizeof host - 1);
    d = calloc(1, sizeof *d);
    if (!d) return sv_err_set(err, SV_ENOMEM, "out of memory");
    d->url = sv_strdup(cfg->alert_webhook);
    d->origin = origin_of(cfg->alert_webhook);
    d->body = alert_body(cfg->alert_format, cfg->redis_prefix, host, t, sv_now_ms(sv_clock_system()));
    if (!d->url || !d->origin || !d->body) goto oom;
    pthread_mutex_lock(&al_mu);
    if (al_inflight >= AL_MAX_INFLIGHT) {
        pthread_mutex_unlock(&al_mu);
        log_error(NULL, NULL, "alert webhook: %d deliveries still in flight; this alert is dropped", al_inflight);
        free(d->url);
        free(d->origin);
        free(d->body);
        free(d);
        return 0;
    }
    al_inflight++;
    pthread_mutex_unlock(&al_mu);
    pthread_attr_init(&at);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&th, &at, deliver, d) != 0) {
        pthread_attr_destroy(&at);
        pthread_mutex_lock(&al_mu);
        al_inflight--;
        pthread_mutex_unlock(&al_mu);
        sv_err_set(err, SV_EINTERNAL, "cannot start the alert webhook thread");
        free(d->url);
        free(d->origin);
        free(d->body);
        free(d);
        return -1;
    }
    pthread_attr_destroy(&at);
    return 0;
oom:
    free(d->url);
    free(d->origin);
    free(d->body);
    free(d);
    return sv_err_set(err, SV_ENOMEM, "out of memory");
}

/* Waits for deliveries in flight; see alert.h. */
int alert_webhook_drain(int64_t timeout_ms)
{
    struct timespec ts = sv_realtime_after_ms(timeout_ms);
    int left;
    pthread_mutex_lock(&al_mu);
    while (al_inflight > 0)
        if (pthread_cond_timedwait(&al_cv, &al_mu, &ts) != 0) break;
    left = al_inflight;
    pthread_mutex_unlock(&al_mu);
    return left;
}
