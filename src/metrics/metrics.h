/* metrics.h -- process metrics and the HTTP endpoint (README.md, Monitoring) that serves
 * /metrics (Prometheus text), /healthz and /readyz on SQLVAULT_METRICS_ADDR
 * with libmicrohttpd. Counters are process-wide and thread-safe; /readyz and
 * the Redis-backed figures come from state that background threads keep
 * fresh, so no request waits on Redis or the store. */
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
 * cancelled, released or lease_lost. Thread-safe, no allocation. */
void metrics_job_done(const char *type, const char *outcome, double seconds);

/* Adds to the byte counters: direction is "read" (from live databases),
 * "uploaded" (to the store) or "downloaded" (from the store). Thread-safe. */
void metrics_bytes(const char *direction, uint64_t n);

/* Records a committed backup's stored (compressed) size. Thread-safe. */
void metrics_backup_size(uint64_t compressed);
/* A restore swapped in a database: kind "delta" or "full". */
void metrics_restore_kind(const char *kind);

/* The caller (the worker's housekeeping) just completed a Redis round trip:
 * keeps /readyz's view of Redis fresh. Thread-safe, no-op before start. */
void metrics_redis_ok(void);

/* Starts the HTTP server on cfg->metrics_addr (host:port, [v6]:port) and the
 * threads that keep its state fresh. probe may be NULL. cfg must outlive
 * metrics_stop. No-op when metrics_addr is unset. */
int metrics_start(const sv_config *cfg, metrics_probe_fn probe, void *ud, sv_err *err);
/* Stops them (no-op if not started). */
void metrics_stop(void);

/* Renders the metrics text into a heap string the caller frees (NULL on OOM). */
char *metrics_render(void);

#endif
