/* cmd_stats.c -- `sqlvault stats [--json]`: per served pool, the queue depth
 * by priority, delayed retries, active jobs, live workers, the counters
 * (enqueued, succeeded, failed, retried, stalled, cancelled), the failure
 * ratio and the Redis round trips per finished job. A bench measures jobs/s
 * by reading "finished" twice. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "queue.h"

#define STATS_USAGE "usage: sqlvault stats [--json]   (pools from SQLVAULT_POOLS / --pools)\n" \
                    "       sqlvault stats --ws WS [--limit N] [--json]   one workspace's backups over time\n"

/* sqlvault stats [--json] | --ws WS [--limit N] [--json] */
int cmd_stats(sv_config *cfg, int argc, char **argv)
{
    bool as_json = false;
    const char *ws = NULL;
    long limit = 50;
    queue_conn *c = NULL;
    char **bases = NULL;
    size_t n = 0;
    json_t *pools = json_array();
    sv_err err;
    int rc = 2;

    if (cli_wants_help(argc, argv)) {
        printf(STATS_USAGE);
        printf("  --ws WS     each committed backup of WS, oldest first: time, type, size, stored size,\n"
               "              change, duration, verification, and the size trend (reads the store)\n"
               "  --limit N   the newest N backups (default 50)\n"
               "  --json      JSON for scripts and the web page's chart\n");
        json_decref(pools);
        return 0;
    }
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) as_json = true;
        else if (strcmp(argv[i], "--ws") == 0 && i + 1 < argc) ws = argv[++i];
        else if (strncmp(argv[i], "--ws=", 5) == 0) ws = argv[i] + 5;
        else if (strcmp(argv[i], "--limit") == 0 && i + 1 < argc) {
            char *end;
            limit = strtol(argv[++i], &end, 10);
            if (*end || limit < 1) {
                fprintf(stderr, "error: --limit needs a positive number\n" STATS_USAGE);
                goto done;
            }
        } else {
            fprintf(stderr, "error: unexpected argument '%s'\n" STATS_USAGE, argv[i]);
            goto done;
        }
    }
    if (ws) {
        json_decref(pools);
        return cmd_stats_ws(cfg, ws, limit, as_json);
    }
    if (queue_conn_open(cfg, &c, &err) != 0) {
        rc = cli_fail(&err);
        goto done;
    }
    bases = queue_pool_bases(cfg, cfg->pools, &n);
    for (size_t i = 0; i < n; i++) {
        json_t *st = NULL;
        if (queue_stats(c, bases[i], cfg->lease_ms * 3, &st, &err) != 0) {
            rc = cli_fail(&err);
            goto done;
        }
        json_array_append_new(pools, st);
    }
    if (as_json) {
        json_t *o = json_pack("{s:O}", "pools", pools);
        char *s;
        /* totals over the pools, for scripts */
        static const char *const sum[] = {"enqueued", "succeeded", "failed", "finished", "active", "rt_jobs",
                                          "rt_overhead", NULL};
        for (int k = 0; sum[k]; k++) {
            json_int_t t = 0;
            size_t i;
            json_t *p;
            json_array_foreach(pools, i, p) t += json_integer_value(json_object_get(p, sum[k]));
            json_object_set_new(o, sum[k], json_integer(t));
        }
        s = json_dumps(o, JSON_INDENT(2));
        if (s) printf("%s\n", s);
        free(s);
        json_decref(o);
    } else {
        size_t i;
        json_t *p;
        json_array_foreach(pools, i, p) {
            printf("pool %s\n", json_string_value(json_object_get(p, "pool")));
            printf("  queued      interactive %lld, dirty %lld, scheduled %lld, delayed (retries) %lld\n",
                   (long long)json_integer_value(json_object_get(p, "queued_interactive")),
                   (long long)json_integer_value(json_object_get(p, "queued_dirty")),
                   (long long)json_integer_value(json_object_get(p, "queued_scheduled")),
                   (long long)json_integer_value(json_object_get(p, "delayed")));
            printf("  active      %lld\n", (long long)json_integer_value(json_object_get(p, "active")));
            printf("  workers     %lld alive\n", (long long)json_integer_value(json_object_get(p, "workers_alive")));
            printf("  jobs        %lld enqueued, %lld succeeded, %lld failed, %lld retried, %lld stalled, "
                   "%lld cancelled\n",
                   (long long)json_integer_value(json_object_get(p, "enqueued")),
                   (long long)json_integer_value(json_object_get(p, "succeeded")),
                   (long long)json_integer_value(json_object_get(p, "failed")),
                   (long long)json_integer_value(json_object_get(p, "retried")),
                   (long long)json_integer_value(json_object_get(p, "stalled")),
                   (long long)json_integer_value(json_object_get(p, "cancelled")));
            printf("  failure     %.2f%%\n", 100.0 * json_real_value(json_object_get(p, "failure_ratio")));
            printf("  dirty       %lld marked and waiting; %lld backups enqueued, %lld coalesced\n",
                   (long long)json_integer_value(json_object_get(p, "dirty")),
                   (long long)json_integer_value(json_object_get(p, "dirty_enqueued")),
                   (long long)json_integer_value(json_object_get(p, "dirty_coalesced")));
            printf("  round trips %.2f per job (%.2f with housekeeping and idle waits)\n",
                   json_real_value(json_object_get(p, "round_trips_per_job")),
                   json_real_value(json_object_get(p, "round_trips_per_job_all")));
        }
    }
    rc = 0;
done:
    json_decref(pools);
    queue_bases_free(bases);
    queue_conn_free(c);
    return rc;
}
