/* clock.h -- the injected clock and randomness.
 *
 * Everything that decides by time or jitter (backoff, leases, cron, retention,
 * presign expiry, backup timestamps) takes a const sv_clock *. The system clock
 * honours SQLVAULT_FAKE_NOW (ms since epoch, or an ISO time) so integration
 * tests can pin "now" in child processes, like curl's CURL_FORCETIME. */
#ifndef SV_CLOCK_H
#define SV_CLOCK_H

#include <stdint.h>
#include <time.h>

typedef struct sv_clock {
    int64_t (*now_ms)(void *ud);          /* wall clock, ms since the epoch, UTC */
    int64_t (*mono_ms)(void *ud);         /* monotonic ms, for durations */
    void (*sleep_ms)(void *ud, int64_t ms);
    uint64_t (*rand64)(void *ud);         /* jitter */
    void *ud;
} sv_clock;

/* The process clock (static, never freed). Thread-safe. */
const sv_clock *sv_clock_system(void);

/* A manual clock for unit tests: now and mono advance only by sleep or set. */
typedef struct sv_fake_clock {
    sv_clock clock;
    int64_t now;
    int64_t mono;
    uint64_t seed;
} sv_fake_clock;
void sv_fake_clock_init(sv_fake_clock *fc, int64_t now_ms, uint64_t seed);

static inline int64_t sv_now_ms(const sv_clock *c) { return c->now_ms(c->ud); }
static inline int64_t sv_mono_ms(const sv_clock *c) { return c->mono_ms(c->ud); }
static inline void sv_sleep_ms(const sv_clock *c, int64_t ms) { c->sleep_ms(c->ud, ms); }
static inline uint64_t sv_rand64(const sv_clock *c) { return c->rand64(c->ud); }

/* Exponential backoff with full jitter: a delay in [base*2^attempt/2, base*2^attempt],
 * capped at max_ms. attempt counts from 0. */
int64_t sv_backoff_ms(const sv_clock *c, int attempt, int64_t base_ms, int64_t max_ms);

/* CLOCK_REALTIME ms from now, as pthread_cond_timedwait wants its deadline
 * (the real clock: a condition variable knows nothing of sv_clock). */
struct timespec sv_realtime_after_ms(int64_t ms);

#endif
