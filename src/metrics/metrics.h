/* metrics.h -- process metrics and the tiny HTTP endpoint (SPEC §7) that
 * serves /metrics (Prometheus text), /healthz and /readyz on
 * SQLVAULT_METRICS_ADDR. Counters are process-wide and thread-safe. */
#ifndef SV_METRICS_H
#define SV_METRICS_H

#include <stdint.h>
#include "config.h"
#include "err.h"

/* What the worker pool reports about itself when /metrics is scraped. */
typedef struct metrics_pool_state {
    int threads;
    int running;
    uint64_t round_trips;
} metrics_pool_state;
typedef void (*metrics_probe_fn)(void *ud, metrics_pool_state *st);

/* Records one finished attempt: outcome is succeeded, failed, retrying,
 * cancelled, released or lease_lost. Thread-safe, no allocation after the
 * first call per (type, outcome). */
void metrics_job_done(const char *type, const char *outcome, double seconds);

/* Adds to the byte counters: direction is "read" (from live databases),
 * "uploaded" (to the store) or "downloaded" (from the store). Thread-safe. */
void metrics_bytes(const char *direction, uint64_t n);

/* Starts the HTTP thread on cfg->metrics_addr (host:port). probe may be NULL. */
int metrics_start(const sv_config *cfg, metrics_probe_fn probe, void *ud, sv_err *err);
/* Stops it (no-op if not started). */
void metrics_stop(void);

/* Renders the metrics text into a heap string (for tests and the server). */
char *metrics_render(void);

#endif
