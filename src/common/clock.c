/* clock.c -- the system clock (with SQLVAULT_FAKE_NOW for tests), a manual
 * clock for unit tests, and exponential backoff with full jitter.
 *
 * THREAD SAFETY NOTES: the system clock's rand64 uses a per-thread xorshift
 * state seeded from /dev/urandom-quality entropy (getrandom), so worker threads
 * never share PRNG state. The fake-now offset is read once, under pthread_once. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include "clock.h"
#include "timefmt.h"

static pthread_once_t fake_once = PTHREAD_ONCE_INIT;
static int64_t fake_offset_ms; /* fake_now - real_now at start, 0 if unset */
static int64_t fake_stopped_ms; /* > 0: SQLVAULT_FAKE_CLOCK=stopped, the wall clock reads this */

/* Reads SQLVAULT_FAKE_NOW once: the wall clock then runs from that instant,
 * or stays on it with SQLVAULT_FAKE_CLOCK=stopped (labels exact to the ms in
 * tests; monotonic time, sleeps and S3 signatures keep running). */
static void fake_init(void)
{
    const char *s = getenv("SQLVAULT_FAKE_NOW");
    int64_t ms;
    struct timespec ts;
    if (!s || !*s) return;
    if (sv_iso_parse(s, &ms) != 0 && sv_ts_parse(s, &ms) != 0) {
        char *end;
        long long v = strtoll(s, &end, 10);
        if (*end) return;
        ms = v;
    }
    clock_gettime(CLOCK_REALTIME, &ts);
    fake_offset_ms = ms - ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
    s = getenv("SQLVAULT_FAKE_CLOCK");
    if (s && !strcmp(s, "stopped") && ms > 0) fake_stopped_ms = ms;
}

/* Wall clock in ms, shifted by SQLVAULT_FAKE_NOW. */
static int64_t sys_now(void *ud)
{
    struct timespec ts;
    (void)ud;
    pthread_once(&fake_once, fake_init);
    if (fake_stopped_ms > 0) return fake_stopped_ms;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + fake_offset_ms;
}

/* Monotonic ms. */
static int64_t sys_mono(void *ud)
{
    struct timespec ts;
    (void)ud;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Sleeps, resuming after signals until the time has passed. */
static void sys_sleep(void *ud, int64_t ms)
{
    struct timespec ts;
    (void)ud;
    if (ms <= 0) return;
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (ms % 1000) * 1000000;
    while (nanosleep(&ts, &ts) != 0) {}
}

static __thread uint64_t tl_rng;

/* xorshift64* step. */
static uint64_t xorshift(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1DULL;
}

/* Per-thread random 64 bits. */
static uint64_t sys_rand(void *ud)
{
    (void)ud;
    while (tl_rng == 0) {
        if (getrandom(&tl_rng, sizeof tl_rng, 0) != sizeof tl_rng) tl_rng = (uint64_t)sys_mono(NULL) | 1;
    }
    return xorshift(&tl_rng);
}

static const sv_clock system_clock = {sys_now, sys_mono, sys_sleep, sys_rand, NULL};

/* The process clock. */
const sv_clock *sv_clock_system(void) { return &system_clock; }

/* Fake clock: now. */
static int64_t fake_now(void *ud) { return ((sv_fake_clock *)ud)->now; }
/* Fake clock: monotonic. */
static int64_t fake_mono(void *ud) { return ((sv_fake_clock *)ud)->mono; }
/* Fake clock: sleeping advances both clocks. */
static void fake_sleep(void *ud, int64_t ms)
{
    sv_fake_clock *f = ud;
    if (ms > 0) { f->now += ms; f->mono += ms; }
}
/* Fake clock: deterministic randomness from the seed. */
static uint64_t fake_rand(void *ud)
{
    sv_fake_clock *f = ud;
    if (f->seed == 0) f->seed = 0x9E3779B97F4A7C15ULL;
    return xorshift(&f->seed);
}

/* Sets up a manual clock at now_ms with a fixed seed. */
void sv_fake_clock_init(sv_fake_clock *fc, int64_t now_ms, uint64_t seed)
{
    fc->clock.now_ms = fake_now;
    fc->clock.mono_ms = fake_mono;
    fc->clock.sleep_ms = fake_sleep;
    fc->clock.rand64 = fake_rand;
    fc->clock.ud = fc;
    fc->now = now_ms;
    fc->mono = 1000000;
    fc->seed = seed;
}

/* Exponential backoff with full jitter in [cap/2, cap], cap = min(max, base*2^attempt). */
int64_t sv_backoff_ms(const sv_clock *c, int attempt, int64_t base_ms, int64_t max_ms)
{
    int64_t cap = base_ms;
    if (attempt < 0) attempt = 0;
    for (int i = 0; i < attempt && cap < max_ms; i++) cap *= 2;
    if (cap > max_ms) cap = max_ms;
    if (cap <= 1) return cap;
    return cap / 2 + (int64_t)(sv_rand64(c) % (uint64_t)(cap - cap / 2 + 1));
}

/* See clock.h. */
struct timespec sv_realtime_after_ms(int64_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}
