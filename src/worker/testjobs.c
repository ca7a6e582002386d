/* testjobs.c -- job types that exist only for tests (SQLVAULT_TEST_JOBS=1),
 * so integration tests can drive leases, stalls, retries and poison jobs
 * deterministically without real backups.
 *
 *   sleep  opts: ms (default 0), ignore_cancel (bool). Sleeps in 50 ms steps,
 *          reporting progress; stops when cancelled unless told not to.
 *          Result: {"slept_ms", "attempt", "pid"}.
 *   fail   opts: code (an sv_code name, default "transient"), message,
 *          succeed_at (the attempt that succeeds; 0 = never). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "worker/worker.h"

/* The sleep job. */
static int job_sleep(job_ctx *ctx, json_t **result, sv_err *err)
{
    json_int_t ms = json_integer_value(json_object_get(ctx->opts, "ms"));
    bool ignore = json_is_true(json_object_get(ctx->opts, "ignore_cancel"));
    int64_t start = sv_mono_ms(ctx->clock), now;
    while ((now = sv_mono_ms(ctx->clock)) - start < ms) {
        if (!ignore && job_cancelled(ctx))
            return sv_err_set(err, SV_ELEASE, "sleep job cancelled after %lld ms", (long long)(now - start));
        job_progress(ctx, "sleep", (uint64_t)(now - start), (uint64_t)ms);
        sv_sleep_ms(ctx->clock, ms - (now - start) < 50 ? ms - (now - start) : 50);
    }
    *result = json_pack("{s:I, s:i, s:i}", "slept_ms", (json_int_t)ms, "attempt", ctx->attempt,
                        "pid", (int)getpid());
    return *result ? 0 : sv_err_set(err, SV_ENOMEM, "out of memory");
}

/* The fail job. */
static int job_fail(job_ctx *ctx, json_t **result, sv_err *err)
{
    const char *code = json_string_value(json_object_get(ctx->opts, "code"));
    const char *msg = json_string_value(json_object_get(ctx->opts, "message"));
    json_int_t at = json_integer_value(json_object_get(ctx->opts, "succeed_at"));
    if (at > 0 && ctx->attempt >= at) {
        *result = json_pack("{s:i}", "attempt", ctx->attempt);
        return 0;
    }
    return sv_err_set(err, code ? sv_code_from_name(code) : SV_ETRANSIENT, "%s (attempt %d)",
                      msg ? msg : "test failure", ctx->attempt);
}

/* Test job by type, only with SQLVAULT_TEST_JOBS=1 (cfg->test_jobs). */
job_fn testjobs_lookup(const sv_config *cfg, const char *type)
{
    if (!cfg->test_jobs || !type) return NULL;
    if (strcmp(type, "sleep") == 0) return job_sleep;
    if (strcmp(type, "fail") == 0) return job_fail;
    return NULL;
}
