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

/* sqlvault jobs ... */
int cmd_jobs(sv_config *cfg, int argc, char **argv)
{
    const char *ws = NULL, *state = NULL;
    long limit = 20;
    bool as_json = false;
    queue_conn *c = NULL;
    char **bases = NULL;
    size_t n = 0, count = 0;
    json_t *all = json_array(), **v = NULL;
    sv_err err;
    int rc = 2;

    if (cli_wants_help(argc, argv)) {
        printf("usage: sqlvault jobs [--ws WS] [--state queued|active|retrying|succeeded|failed|cancelled]\n"
               "                     [--limit N] [--json]\n"
               "       sqlvault jobs cancel JOB\n");
        json_decref(all);
        return 0;
    }
    if (argc >= 2 && strcmp(argv[1], "cancel") == 0) {
        if (argc != 3 || !sv_valid_id(argv[2])) {
            fprintf(stderr, "usage: sqlvault jobs cancel JOB\n");
            goto done;
        }
        if (queue_conn_open(cfg, &c, &err) != 0) {
            rc = cli_fail(&err);
            goto done;
        }
        rc = cancel_job(cfg, c, argv[2]);
        goto done;
    }
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) as_json = true;
        else if (strcmp(argv[i], "--ws") == 0 && i + 1 < argc) ws = argv[++i];
        else if (strcmp(argv[i], "--state") == 0 && i + 1 < argc) state = argv[++i];
        else if (strcmp(argv[i], "--limit") == 0 && i + 1 < argc) {
            char *end;
            limit = strtol(argv[++i], &end, 10);
            if (*end || limit < 1 || limit > 10000) {
                fprintf(stderr, "error: --limit must be 1-10000\n");
                goto done;
            }
        } else {
            fprintf(stderr, "error: unexpected argument '%s'\nusage: sqlvault jobs [--ws WS] [--state S] "
                            "[--limit N] [--json]\n", argv[i]);
            goto done;
        }
    }
    if (queue_conn_open(cfg, &c, &err) != 0) {
        rc = cli_fail(&err);
        goto done;
    }
    bases = queue_pool_bases(cfg, cfg->pools, &n);
    for (size_t p = 0; p < n; p++) {
        json_t *arr = NULL, *j;
        size_t i;
        /* filters need a wider scan than the limit */
        if (queue_recent(c, bases[p], ws || state ? 10000 : (size_t)limit, &arr, &err) != 0) {
            rc = cli_fail(&err);
            goto done;
        }
        json_array_foreach(arr, i, j) {
            const char *jw = json_string_value(json_object_get(j, "workspace"));
            const char *js = json_string_value(json_object_get(j, "state"));
            if (ws && (!jw || strcmp(jw, ws) != 0)) continue;
            if (state && (!js || strcmp(js, state) != 0)) continue;
            json_object_del(j, "opts");
            json_array_append(all, j);
        }
        json_decref(arr);
    }
    count = json_array_size(all);
    v = calloc(count + 1, sizeof *v);
    for (size_t i = 0; v && i < count; i++) v[i] = json_array_get(all, i);
    if (v) qsort(v, count, sizeof *v, by_created_desc);
    if (count > (size_t)limit) count = (size_t)limit;
    if (as_json) {
        json_t *out = json_array();
        char *s;
        for (size_t i = 0; v && i < count; i++) json_array_append(out, v[i]);
        s = json_dumps(out, JSON_INDENT(2));
        if (s) printf("%s\n", s);
        free(s);
        json_decref(out);
    } else {
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
    rc = 0;
done:
    free(v);
    json_decref(all);
    queue_bases_free(bases);
    queue_conn_free(c);
    return rc;
}
