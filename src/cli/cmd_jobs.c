/* cmd_jobs.c -- `sqlvault jobs [--ws WS] [--state S] [--limit N] [--json]`:
 * the newest jobs of the served pools (SQLVAULT_POOLS), newest first, from
 * each pool's recent-jobs index (the last 10,000 enqueued). Also
 * `sqlvault jobs cancel JOB` to cancel one. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "queue.h"
#include "util.h"

/* Orders jobs newest first by created_at. */
static int by_created_desc(const void *a, const void *b)
{
    json_int_t x = json_integer_value(json_object_get(*(json_t *const *)a, "created_at"));
    json_int_t y = json_integer_value(json_object_get(*(json_t *const *)b, "created_at"));
    return x < y ? 1 : x > y ? -1 : 0;
}

/* sqlvault jobs cancel JOB */
static int cancel_job(sv_config *cfg, queue_conn *c, const char *id)
{
    size_t n = 0;
    char **bases = queue_pool_bases(cfg, cfg->pools, &n), state[32] = "";
    sv_err err;
    int rc = 1;
    for (size_t i = 0; i < n && !state[0]; i++)
        if (queue_cancel(c, bases[i], id, state, sizeof state, &err) != 0) {
            rc = cli_fail(&err);
            goto done;
        }
    if (!state[0]) fprintf(stderr, "error: no job '%s' in pools %s\n", id, cfg->pools);
    else {
        printf("%s: %s\n", id, state);
        rc = 0;
    }
done:
    queue_bases_free(bases);
    return rc;
}

/* The listing's filters. */
typedef struct jobs_args {
    const char *ws, *state;
    long limit;
    bool as_json;
} jobs_args;

/* Parses the listing's options; 0, or 2 (usage, printed). */
static int parse_jobs_args(int argc, char **argv, jobs_args *a)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) a->as_json = true;
        else if (strcmp(argv[i], "--ws") == 0 && i + 1 < argc) a->ws = argv[++i];
        else if (strcmp(argv[i], "--state") == 0 && i + 1 < argc) a->state = argv[++i];
        else if (strcmp(argv[i], "--limit") == 0 && i + 1 < argc) {
            char *end;
            a->limit = strtol(argv[++i], &end, 10);
            if (*end || a->limit < 1 || a->limit > 10000) {
                fprintf(stderr, "error: --limit must be 1-10000\n");
                return 2;
            }
        } else {
            fprintf(stderr, "error: unexpected argument '%s'\nusage: sqlvault jobs [--ws WS] [--state S] "
                            "[--limit N] [--json]\n", argv[i]);
            return 2;
        }
    }
    return 0;
}

/* Appends the matching recent jobs of every served pool to all. */
static int collect_jobs(sv_config *cfg, queue_conn *c, const jobs_args *a, json_t *all, sv_err *err)
{
    size_t n = 0;
    char **bases = queue_pool_bases(cfg, cfg->pools, &n);
    int rc = 0;
    for (size_t p = 0; rc == 0 && p < n; p++) {
        json_t *arr = NULL, *j;
        size_t i;
        /* filters need a wider scan than the limit */
        if (queue_recent(c, bases[p], a->ws || a->state ? 10000 : (size_t)a->limit, &arr, err) != 0) {
            rc = -1;
            break;
        }
        json_array_foreach(arr, i, j) {
            const char *jw = json_string_value(json_object_get(j, "workspace"));
            const char *js = json_string_value(json_object_get(j, "state"));
            if (a->ws && (!jw || strcmp(jw, a->ws) != 0)) continue;
            if (a->state && (!js || strcmp(js, a->state) != 0)) continue;
            json_object_del(j, "opts");
            json_array_append(all, j);
        }
        json_decref(arr);
    }
    queue_bases_free(bases);
    return rc;
}

/* Prints the first count of v (sorted) as JSON or as a table. */
static void print_jobs(json_t **v, size_t count, bool as_json)
{
    if (as_json) {
        json_t *out = json_array();
        char *s;
        for (size_t i = 0; v && i < count; i++) json_array_append(out, v[i]);
        s = json_dumps(out, JSON_INDENT(2));
        if (s) printf("%s\n", s);
        free(s);
        json_decref(out);
        return;
    }
    printf("%-32s  %-10s  %-20s  %-9s  %-7s  %-24s  %s\n", "ID", "TYPE", "WORKSPACE", "STATE", "ATTEMPT",
           "CREATED", "ERROR");
    for (size_t i = 0; v && i < count; i++) {
        char iso[SV_ISO_LEN] = "", att[24];
        json_int_t cr = json_integer_value(json_object_get(v[i], "created_at"));
        const char *e = json_string_value(json_object_get(v[i], "error"));
        const char *st = json_string_value(json_object_get(v[i], "state"));
        if (cr > 0) sv_iso_format(cr, iso);
        snprintf(att, sizeof att, "%lld/%lld", (long long)json_integer_value(json_object_get(v[i], "attempt")),
                 (long long)json_integer_value(json_object_get(v[i], "max_attempts")));
        printf("%-32s  %-10s  %-20s  %-9s  %-7s  %-24s  %.60s\n", json_string_value(json_object_get(v[i], "id")),
               json_string_value(json_object_get(v[i], "type")),
               json_string_value(json_object_get(v[i], "workspace")), st, att, iso,
               e && st && strcmp(st, "succeeded") != 0 ? e : "");
    }
}

/* sqlvault jobs cancel JOB: 0, or the exit code. */
static int cmd_jobs_cancel(sv_config *cfg, int argc, char **argv)
{
    queue_conn *c = NULL;
    sv_err err;
    int rc;
    if (argc != 3 || !sv_valid_id(argv[2])) {
        fprintf(stderr, "usage: sqlvault jobs cancel JOB\n");
        return 2;
    }
    if (queue_conn_open(cfg, &c, &err) != 0) return cli_fail(&err);
    rc = cancel_job(cfg, c, argv[2]);
    queue_conn_free(c);
    return rc;
}

/* sqlvault jobs ... */
int cmd_jobs(sv_config *cfg, int argc, char **argv)
{
    jobs_args a = {.limit = 20};
    queue_conn *c = NULL;
    size_t count = 0;
    json_t *all = NULL, **v = NULL;
    sv_err err;
    int rc;

    if (cli_wants_help(argc, argv)) {
        printf("usage: sqlvault jobs [--ws WS] [--state queued|active|retrying|succeeded|failed|cancelled]\n"
               "                     [--limit N] [--json]\n"
               "       sqlvault jobs cancel JOB\n");
        return 0;
    }
    if (argc >= 2 && strcmp(argv[1], "cancel") == 0) return cmd_jobs_cancel(cfg, argc, argv);
    if ((rc = parse_jobs_args(argc, argv, &a)) != 0) return rc;
    if (queue_conn_open(cfg, &c, &err) != 0) return cli_fail(&err);
    all = json_array();
    if (!all || collect_jobs(cfg, c, &a, all, &err) != 0) {
        rc = all ? cli_fail(&err) : 1;
        goto done;
    }
    count = json_array_size(all);
    v = calloc(count + 1, sizeof *v);
    for (size_t i = 0; v && i < count; i++) v[i] = json_array_get(all, i);
    if (v) qsort(v, count, sizeof *v, by_created_desc);
    if (count > (size_t)a.limit) count = (size_t)a.limit;
    print_jobs(v, count, a.as_json);
    rc = 0;
done:
    free(v);
    json_decref(all);
    queue_conn_free(c);
    return rc;
}
