/* alert.h -- SQLVAULT_ALERT_WEBHOOK: a JSON POST when the scheduler's failure
 * alert fires, for teams without Alertmanager. Delivered in a background
 * thread, retried with backoff by the http module (the one retry layer), so
 * the scheduler's tick never waits on it. The URL is a secret (Slack and
 * Sentry put their keys in it): only its origin is ever logged. */
#ifndef SV_ALERT_H
#define SV_ALERT_H

#include <stdint.h>
#include "config.h"
#include "err.h"

/* One failure alert of a scheduler tick. */
typedef struct alert_tick {
    const char *tick;      /* ISO time of the tick */
    long long failed;      /* failed backups */
    long long total;       /* backups of the tick */
    double ratio;          /* failed / total */
    double threshold;      /* the alert's threshold (0.01) */
} alert_tick;

/* The body for cfg->alert_format ("json", "slack" or "sentry") as a heap
 * string the caller frees; NULL on OOM. host names the sender. */
char *alert_body(const char *format, const char *prefix, const char *host, const alert_tick *t, int64_t now_ms);

/* Starts delivering the alert to cfg->alert_webhook in the background and
 * returns at once (0); no-op without a webhook. Copies what it needs. At most
 * 8 deliveries are in flight; past that the alert is logged and dropped. */
int alert_webhook_send(const sv_config *cfg, const alert_tick *t, sv_err *err);

/* Waits up to timeout_ms for deliveries in flight (a process about to exit
 * calls it); returns how many were still running. */
int alert_webhook_drain(int64_t timeout_ms);

#endif
