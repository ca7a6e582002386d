/* cmd_status.c -- `sqlvault status JOB [--json] [--pool P]`: one job's state,
 * progress, result or error, read from its hash. Without --pool the job is
 * looked for in SQLVAULT_POOL (each pool of a pool set), then in every pool of SQLVAULT_POOLS. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "queue.h"
#include "util.h"

/* Formats a ms timestamp field as ISO time, "" if absent. */
static const char *iso_of(json_t *job, const char *field, char out[SV_ISO_LEN])
{
    json_int_t v = json_integer_value(json_object_get(job, field));
    out[0] = '\0';
    if (v > 0) sv_iso_format(v, out);
    return out;
}

/* Prints a job for people. */
static void print_job(json_t *job)
{
    static const char *const plain[] = {"id", "type", "workspace", "pool", "priority", "state", "worker",
                                        "stage", NULL};
    char iso[SV_ISO_LEN], a[32], b[32];
    for (int i = 0; plain[i]; i++) {
        const char *v = json_string_value(json_object_get(job, plain[i]));
        if (v && *v) printf("%s: %s\n", plain[i], v);
    }
    printf("attempt: %lld/%lld\n", (long long)json_integer_value(json_object_get(job, "attempt")),
           (long long)json_integer_value(json_object_get(job, "max_attempts")));
    if (json_integer_value(json_object_get(job, "bytes_total")) || json_integer_value(json_object_get(job, "bytes_done")))
        printf("progress: %s / %s\n",
               sv_human_size((uint64_t)json_integer_value(json_object_get(job, "bytes_done")), a, sizeof a),
               sv_human_size((uint64_t)json_integer_value(json_object_get(job, "bytes_total")), b, sizeof b));
    if (*iso_of(job, "created_at", iso)) printf("created_at: %s\n", iso);
    if (*iso_of(job, "started_at", iso)) printf("started_at: %s\n", iso);
    if (*iso_of(job, "finished_at", iso)) printf("finished_at: %s\n", iso);
    if (*iso_of(job, "retry_at", iso) && strcmp(json_string_value(json_object_get(job, "state")), "retrying") == 0)
        printf("retry_at: %s\n", iso);
    if (json_string_value(json_object_get(job, "error")))
        printf("error: %s [%s]\n", json_string_value(json_object_get(job, "error")),
               json_string_value(json_object_get(job, "error_code")) ? json_string_value(json_object_get(job, "error_code")) : "");
    if (json_is_object(json_object_get(job, "result"))) {
        json_t *r = json_object_get(job, "result");
        const char *k;
        json_t *v;
        json_object_foreach(r, k, v) {
            char *s = json_is_string(v) ? NULL : json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
            printf("result.%s: %s\n", k, s ? s : json_string_value(v));
            free(s);
        }
    }
}

/* sqlvault status JOB [--json] [--pool P] */
int cmd_status(sv_config *cfg, int argc, char **argv)
{
    const char *id = NULL, *pool = NULL;
    bool as_json = false;
    queue_conn *c = NULL;
    json_t *job = NULL;
    char **bases = NULL, **first = NULL;
    size_t n = 0, nf = 0;
    sv_err err;
    int rc = 2;

    if (cli_wants_help(argc, argv)) {
        printf("usage: sqlvault status JOB [--json] [--pool P]\n");
        return 0;
    }
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) as_json = true;
        else if (strcmp(argv[i], "--pool") == 0 && i + 1 < argc) pool = argv[++i];
        else if (!id && argv[i][0] != '-') id = argv[i];
        else {
            fprintf(stderr, "error: unexpected argument '%s'\nusage: sqlvault status JOB [--json]\n", argv[i]);
            return 2;
        }
    }
    if (!id || !sv_valid_id(id)) {
        fprintf(stderr, "error: status needs a job id\nusage: sqlvault status JOB [--json]\n");
        return 2;
    }
    if (queue_conn_open(cfg, &c, &err) != 0) return cli_fail(&err);
    first = queue_pool_bases(cfg, pool ? pool : cfg->pool, &nf); /* a pool or a pool set */
    bases = pool ? NULL : queue_pool_bases(cfg, cfg->pools, &n);
    for (size_t i = 0; !job && i < nf; i++)
        if (queue_job_get(c, first[i], id, &job, &err) != 0) goto fail;
    for (size_t i = 0; !job && i < n; i++)
        if (queue_job_get(c, bases[i], id, &job, &err) != 0) goto fail;
    if (!job) {
        fprintf(stderr, "error: no job '%s' in redis\nHINT: finished jobs expire after 7 days (30 after "
                        "a failure); pass --pool if it ran in another pool\n", id);
        rc = 1;
        goto done;
    }
    if (as_json) {
        char *s = json_dumps(job, JSON_INDENT(2));
        if (s) printf("%s\n", s);
        free(s);
    } else {
        print_job(job);
    }
    {
        const char *st = json_string_value(json_object_get(job, "state"));
        rc = st && (strcmp(st, "failed") == 0 || strcmp(st, "cancelled") == 0) ? 1 : 0;
    }
    goto done;
fail:
    rc = cli_fail(&err);
done:
    json_decref(job);
    queue_bases_free(bases);
    queue_bases_free(first);
    queue_conn_free(c);
    return rc;
}
