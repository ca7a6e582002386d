/* cmd_scheduler.c -- `sqlvault scheduler [--once [--wait] [--timeout S] | --drain] [--json]`.
 *
 * Without --once: the long-running cron loop (one leader among any number of
 * schedulers; SIGTERM or SIGINT gives up the lead and exits). With --once:
 * one tick at the current minute, enqueued now; --wait also waits for the
 * tick's jobs and prints a summary (exit 1 when any failed or the wait timed
 * out). --json prints the tick's summary as JSON, e.g. for the benchmark:
 * {"enqueued":N, "ms":T, "redis_memory_before":B, "redis_memory_after":A, ...}.
 * --drain: one drain of the dirty sets now (what the leader does on every
 * poll, without the lease: for tests and manual runs), printing
 * {"taken":N, "enqueued":E, "coalesced":C, "left":L, "ms":T} with --json. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "metrics/alert.h"
#include "clock.h"
#include "scheduler.h"
#include "util.h"

static volatile sig_atomic_t stop_flag;

/* SIGTERM / SIGINT: stop the loop. */
static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static const char usage[] =
    "usage: sqlvault scheduler [--once [--wait] [--timeout SECONDS] | --drain] [--json]\n"
    "  (no flag)    run the cron loop (SQLVAULT_SCHEDULE, UTC); several may run, one leads\n"
    "  --once       run one tick now (this minute) and exit after enqueueing\n"
    "  --wait       with --once: wait for the tick's jobs and print a summary\n"
    "  --timeout S  with --wait: stop waiting after S seconds (exit 1)\n"
    "  --drain      drain the dirty sets once now (backups of the workspaces marked at least\n"
    "               SQLVAULT_INCREMENTAL_EVERY/2 ago) and exit\n"
    "  --json       print the tick's (or the drain's) summary as JSON\n";

/* Prints the human summary of a tick. */
static void print_summary(json_t *sum, bool waited)
{
    printf("tick %s: %lld workspaces; %lld backups, %lld prunes, %lld verifies; %lld enqueued, "
           "%lld already queued; %lld ms\n",
           json_string_value(json_object_get(sum, "tick")),
           (long long)json_integer_value(json_object_get(sum, "workspaces")),
           (long long)json_integer_value(json_object_get(sum, "backups")),
           (long long)json_integer_value(json_object_get(sum, "prunes")),
           (long long)json_integer_value(json_object_get(sum, "verifies")),
           (long long)json_integer_value(json_object_get(sum, "enqueued")),
           (long long)json_integer_value(json_object_get(sum, "existing")),
           (long long)json_integer_value(json_object_get(sum, "ms")));
    if (!waited) return;
    json_t *res = json_object_get(sum, "results");
    const char *k;
    json_t *v;
    json_object_foreach(res, k, v) {
        printf("  %-7s %lld succeeded, %lld failed, %lld cancelled, %lld expired, %lld unfinished\n", k,
               (long long)json_integer_value(json_object_get(v, "succeeded")),
               (long long)json_integer_value(json_object_get(v, "failed")),
               (long long)json_integer_value(json_object_get(v, "cancelled")),
               (long long)json_integer_value(json_object_get(v, "expired")),
               (long long)json_integer_value(json_object_get(v, "unfinished")));
    }
    printf("backup failure ratio %.2f%%%s%s\n",
           json_real_value(json_object_get(sum, "failure_ratio")) * 100,
           json_is_true(json_object_get(sum, "alert")) ? " -- ALERT (above 1%)" : "",
           json_is_true(json_object_get(sum, "timed_out")) ? " (timed out waiting)" : "");
}

/* True when any job of the waited tick failed or is unfinished. */
static bool tick_failed(json_t *sum)
{
    const char *k;
    json_t *v;
    if (json_is_true(json_object_get(sum, "timed_out"))) return true;
    json_object_foreach(json_object_get(sum, "results"), k, v) {
        if (json_integer_value(json_object_get(v, "failed")) > 0) return true;
    }
    return false;
}

/* sqlvault scheduler ... */
int cmd_scheduler(sv_config *cfg, int argc, char **argv)
{
    bool once = false, wait = false, as_json = false, drain = false;
    int64_t timeout_ms = 0;
    sched_t *s = NULL;
    json_t *sum = NULL;
    sv_err err;
    int rc = 2;

    sv_err_clear(&err);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(usage, stdout);
            return 0;
        } else if (strcmp(a, "--once") == 0) once = true;
        else if (strcmp(a, "--drain") == 0) drain = true;
        else if (strcmp(a, "--wait") == 0) wait = true;
        else if (strcmp(a, "--json") == 0) as_json = true;
        else if (strcmp(a, "--timeout") == 0 && i + 1 < argc) {
            if (sv_parse_duration_ms(argv[++i], &timeout_ms, &err) != 0) return cli_fail(&err);
        } else {
            fprintf(stderr, "error: unexpected argument '%s'\n%s", a, usage);
            return 2;
        }
    }
    if (wait && !once) {
        fprintf(stderr, "error: --wait needs --once\n%s", usage);
        return 2;
    }
    if (drain && (once || wait)) {
        fprintf(stderr, "error: --drain goes without --once and --wait\n%s", usage);
        return 2;
    }
    if (sched_new(cfg, sv_clock_system(), &s, &err) != 0) return cli_fail(&err);

    if (drain) {
        sched_dirty_stats ds;
        if (cfg->incremental_every_ms <= 0) fprintf(stderr, "note: SQLVAULT_INCREMENTAL_EVERY is off: nothing is drained\n");
        if (sched_drain_dirty(s, sv_now_ms(sv_clock_system()), &ds, &err) != 0) {
            rc = cli_fail(&err);
            goto done;
        }
        if (as_json)
            printf("{\"taken\":%lld,\"enqueued\":%lld,\"coalesced\":%lld,\"left\":%lld,\"ms\":%lld}\n", ds.taken,
                   ds.enqueued, ds.coalesced, ds.left, (long long)ds.ms);
        else
            printf("dirty set: %lld due, %lld backups enqueued, %lld already waiting; %lld left\n", ds.taken,
                   ds.enqueued, ds.coalesced, ds.left);
        rc = 0;
        goto done;
    }

    if (!once) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_signal;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);
        rc = sched_loop(s, &stop_flag, &err) == 0 ? 0 : cli_fail(&err);
        goto done;
    }

    int64_t now = sv_now_ms(sv_clock_system());
    int64_t tick = now - now % 60000;
    if (sched_run_tick(s, tick, NULL, &sum, &err) != 0 || sched_mark_tick(s, tick, false, &err) != 0) {
        rc = cli_fail(&err);
        goto done;
    }
    if (wait && sched_wait_tick(s, timeout_ms, sum, &err) != 0) {
        rc = cli_fail(&err);
        goto done;
    }
    if (as_json) {
        char *txt = json_dumps(sum, JSON_COMPACT);
        if (txt) printf("%s\n", txt);
        free(txt);
    } else {
        print_summary(sum, wait);
    }
    rc = wait && tick_failed(sum) ? 1 : 0;
done:
    fflush(stdout); /* the summary is out before a slow webhook is waited for */
    if (alert_webhook_drain(30000) > 0) /* an alert still being delivered gets a moment */
        fprintf(stderr, "warning: an alert webhook delivery did not finish\n");
    json_decref(sum);
    sched_free(s);
    return rc;
}
