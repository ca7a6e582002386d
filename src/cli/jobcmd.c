/* jobcmd.c -- the job commands (backup, export, restore, verify, prune,
 * import-url): one parser, then either the queue (enqueue and wait) or
 * --inline (run the job body in this process, no Redis at all). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli.h"
#include "clock.h"
#include "job.h"
#include "log.h"
#include "prune.h"
#include "queue.h"
#include "replica.h"
#include "store.h"
#include "util.h"

/* An absolute form of a path the operator typed (relative to the current
 * folder): a queued job runs in a worker with another current folder, and
 * the worker accepts only absolute paths. Heap; NULL on OOM. */
static char *absolute_path(const char *path)
{
    char cwd[PATH_MAX], real[PATH_MAX];
    if (path[0] == '/') return sv_strdup(path);
    if (realpath(path, real)) return sv_strdup(real);
    if (!getcwd(cwd, sizeof cwd)) return sv_strdup(path);
    return sv_asprintf("%s/%s", cwd, path);
}

/* Before enqueuing: the db option and a file: source made absolute. */
static int absolute_paths(json_t *opts)
{
    const char *db = json_string_value(json_object_get(opts, "db"));
    const char *from = json_string_value(json_object_get(opts, "from"));
    if (db && *db) {
        char *a = absolute_path(db);
        if (!a) return -1;
        json_object_set_new(opts, "db", json_string(a));
        free(a);
    }
    if (from && strncmp(from, "file:", 5) == 0 && from[5]) {
        char *a = absolute_path(from + 5), *f = a ? sv_asprintf("file:%s", a) : NULL;
        free(a);
        if (!f) return -1;
        json_object_set_new(opts, "from", json_string(f));
        free(f);
    }
    return 0;
}

/* A per-type option: --name with a value, or a boolean switch. */
typedef struct opt_spec {
    const char *flag;  /* without dashes */
    const char *key;   /* key in the job's options */
    bool is_bool;
} opt_spec;

static const struct job_cmd {
    const char *type;
    bool needs_ws;      /* prune takes an optional workspace */
    opt_spec opts[8];
    const char *usage;
} job_cmds[] = {
    {"backup", true, {{"db", "db", false}, {"reason", "reason", false}, {"ts", "ts", false}, {"full", "full", true}},
     "sqlvault backup WS [--full] [--db PATH] [--inline|--no-wait] [--json]"},
    {"export", true, {{"db", "db", false}, {"format", "format", false}, {"ttl", "ttl", false}},
     "sqlvault export WS [--format db|zst] [--ttl S] [--db PATH] [--inline|--no-wait] [--json]"},
    {"restore", true,
     {{"from", "from", false}, {"db", "db", false}, {"require-table", "require_table", false},
      {"clone-from", "clone_from", false}, {"eventlog-only", "eventlog_only", true}, {"from-store", "store", false},
      {"no-delta", "no_delta", true}},
     "sqlvault restore WS --from latest|TIME|object:KEY|file:PATH [--yes] [--require-table T]\n"
     "                     [--eventlog-only] (a LiveStore store: the event log alone, LiveStore rebuilds its state)\n"
     "                     [--clone-from OTHER_WS] [--from-store NAME] [--db PATH] [--inline|--no-wait] [--json]\n"
     "                     [--no-delta] (download the whole backup even when only some pages differ)"},
    {"verify", true, {{"at", "at", false}, {"from-store", "store", false}},
     "sqlvault verify WS [--at latest|TIME] [--from-store NAME] [--inline|--no-wait] [--json]"},
    {"prune", false, {{"dry-run", "dry_run", true}},
     "sqlvault prune [WS] [--dry-run] [--inline|--no-wait] [--json]"},
    {"import-url", true, {{"ttl", "ttl", false}},
     "sqlvault import-url WS [--ttl S] [--inline|--no-wait] [--json]"},
    {"inspect", true, {{"at", "at", false}, {"file", "file", false}},
     "sqlvault inspect WS [--at latest|TIME|live|object:KEY] [--file eventlog|state] [--inline|--no-wait] [--json]"},
    {"replicate", true, {{"replica", "store", false}},
     "sqlvault replicate WS [--replica NAME] [--inline|--no-wait] [--json]"},
};

/* True if argv asks for help. */
int cli_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) return 1;
    return 0;
}

/* Prints an error and its hint; returns the exit code. */
int cli_fail(const sv_err *err)
{
    fprintf(stderr, "error: %s\n", err->msg);
    if (err->hint[0]) fprintf(stderr, "HINT: %s\n", err->hint);
    return sv_err_exit_code(err);
}

/* Prints one value, nested objects as prefix.key. */
static void print_value(FILE *out, const char *prefix, json_t *v)
{
    if (json_is_object(v)) {
        const char *k;
        json_t *sub;
        json_object_foreach(v, k, sub) {
            char *p = prefix[0] ? sv_asprintf("%s.%s", prefix, k) : sv_strdup(k);
            if (p) print_value(out, p, sub);
            free(p);
        }
        return;
    }
    if (json_is_string(v)) fprintf(out, "%s: %s\n", prefix, json_string_value(v));
    else {
        char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        fprintf(out, "%s: %s\n", prefix, s ? s : "?");
        free(s);
    }
}

/* Prints a result object as key: value lines. */
void cli_print_result(FILE *out, json_t *result)
{
    if (result) print_value(out, "", result);
}

/* An inspect job's result for people: the point, its tables, its events. */
static void inspect_print(json_t *r, FILE *out)
{
    json_t *t, *ls = json_object_get(r, "livestore"), *f = json_object_get(r, "fetched");
    const char *src = json_string_value(json_object_get(r, "source"));
    char sz[32];
    size_t i;
    if (src && strcmp(src, "backup") == 0)
        fprintf(out, "backup %s (%s, %lld incremental(s) after its full)\n",
                json_string_value(json_object_get(r, "backup")), json_string_value(json_object_get(r, "backupType")),
                (long long)json_integer_value(json_object_get(r, "chainLength")));
    else fprintf(out, "%s\n", src && strcmp(src, "live") == 0 ? "the live workspace" : "the uploaded file");
    fprintf(out, "size %s, %lld pages of %lld bytes\n",
            sv_human_size((uint64_t)json_integer_value(json_object_get(r, "size")), sz, sizeof sz),
            (long long)json_integer_value(json_object_get(r, "pageCount")),
            (long long)json_integer_value(json_object_get(r, "pageSize")));
    fprintf(out, "\n%-32s %12s\n", "TABLE", "ROWS");
    json_array_foreach(json_object_get(r, "tables"), i, t)
        fprintf(out, "%-32s %12lld\n", json_string_value(json_object_get(t, "name")),
                (long long)json_integer_value(json_object_get(t, "rows")));
    if (json_is_object(ls)) {
        fprintf(out, "\nevent log head %lld; newest events:\n%12s  %-32s %s\n",
                (long long)json_integer_value(json_object_get(ls, "head")), "SEQ", "EVENT", "TIME");
        json_array_foreach(json_object_get(ls, "events"), i, t)
            fprintf(out, "%12lld  %-32s %s\n", (long long)json_integer_value(json_object_get(t, "seq")),
                    json_string_value(json_object_get(t, "name")),
                    json_is_string(json_object_get(t, "at")) ? json_string_value(json_object_get(t, "at")) : "-");
    }
    if (json_is_object(f))
        fprintf(out, "\nread in place: %lld requests, %s fetched\n",
                (long long)json_integer_value(json_object_get(f, "requests")),
                sv_human_size((uint64_t)json_integer_value(json_object_get(f, "bytes")), sz, sizeof sz));
}

/* Prints a job's result for people. */
void cli_print_job_result(FILE *out, const char *type, json_t *result)
{
    if (type && strcmp(type, "prune") == 0 && json_is_object(result)) prune_print(result, out);
    else if (type && strcmp(type, "inspect") == 0 && json_is_object(result)) inspect_print(result, out);
    else cli_print_result(out, result);
}

typedef struct inline_ud {
    bool tty;
    int64_t last_ms;
    const sv_clock *clock;
} inline_ud;

/* Progress line on a terminal, at most ~5 times a second. */
static void inline_progress(void *ud, const char *stage, uint64_t done, uint64_t total)
{
    inline_ud *u = ud;
    int64_t now = sv_mono_ms(u->clock);
    if (!u->tty || now - u->last_ms < 200) return;
    u->last_ms = now;
    cli_progress_line(NULL, NULL, stage, done, total);
}

/* Runs a job body in this process and prints its result. */
static int run_inline(sv_config *cfg, const char *type, const char *ws, json_t *opts, bool as_json)
{
    const sv_clock *clock = sv_clock_system();
    store_t *store = NULL;
    json_t *result = NULL;
    sv_err err;
    char id[33];
    inline_ud ud = {isatty(STDERR_FILENO), 0, clock};
    job_ctx ctx = {0};
    int rc;

    sv_err_clear(&err);
    sv_random_id(clock, id);
    if (store_open(cfg, clock, &store, &err) != 0) return cli_fail(&err);
    ctx.cfg = cfg;
    ctx.clock = clock;
    ctx.store = store;
    ctx.job_id = id;
    ctx.type = type;
    ctx.workspace = ws;
    ctx.attempt = 1;
    ctx.opts = opts;
    ctx.progress = inline_progress;
    ctx.ud = &ud;
    rc = job_lookup(type)(&ctx, &result, &err);
    if (ud.tty && ud.last_ms) cli_progress_clear();
    store_free(store);
    if (rc != 0) {
        if (as_json) {
            json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "state", "failed", "type", type, "error", err.msg,
                                  "error_code", sv_code_name(err.code));
            char *s = o ? json_dumps(o, JSON_INDENT(2)) : NULL;
            if (s) printf("%s\n", s);
            free(s);
            json_decref(o);
        }
        return cli_fail(&err);
    }
    if (as_json) {
        char *s = json_dumps(result, JSON_INDENT(2));
        if (s) printf("%s\n", s);
        free(s);
    } else cli_print_job_result(stdout, type, result);
    json_decref(result);
    return 0;
}

/* Asks for a yes on the terminal; false if not a terminal or not "yes". */
static bool confirm(const char *ws, const char *from)
{
    char line[16];
    if (!isatty(STDIN_FILENO)) return false;
    fprintf(stderr, "restore workspace '%s' from %s? this replaces the live database\n"
                    "type 'yes' to continue: ", ws, from);
    if (!fgets(line, sizeof line, stdin)) return false;
    return strncmp(line, "yes", 3) == 0;
}

/* What the command line of a job command says. */
typedef struct job_args {
    const char *ws, *job_id;
    bool inl, no_wait, as_json, yes;
} job_args;

/* Prints the help of a job command. */
static void job_help(const struct job_cmd *jc)
{
    printf("usage: %s\n\n"
           "  (default)   enqueue the job in Redis and wait for a worker, with progress on a terminal\n"
           "  --no-wait   enqueue and print the job id (see 'sqlvault status JOB')\n"
           "  --inline    run the job in this process, without Redis (disaster recovery, scripts)\n"
           "  --json      print the result (or the job, when queued) as JSON\n"
           "  --id JOB    the job id; enqueuing the same id twice gives one job\n"
           "  --db PATH   the database file instead of DATA_DIR/WS/livestore.db\n"
           "exit codes: 0 success, 1 the job failed, 2 usage or configuration, 3 redis or storage unreachable\n",
           jc->usage);
}

/* One --option of the job type into opts; 0, or 2 (usage, printed). */
static int parse_job_option(const struct job_cmd *jc, int argc, char **argv, int *i, json_t *opts)
{
    const char *a = argv[*i];
    const opt_spec *o = NULL;
    const char *val = NULL, *eq = strchr(a, '=');
    size_t fl = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
    for (size_t k = 0; k < sizeof jc->opts / sizeof jc->opts[0] && jc->opts[k].flag; k++)
        if (strlen(jc->opts[k].flag) == fl && strncmp(jc->opts[k].flag, a + 2, fl) == 0) o = &jc->opts[k];
    if (!o) {
        fprintf(stderr, "error: unknown option '%s' for %s\nusage: %s\n", a, jc->type, jc->usage);
        return 2;
    }
    if (o->is_bool) {
        json_object_set_new(opts, o->key, json_true());
        return 0;
    }
    if (eq) val = eq + 1;
    else if (*i + 1 < argc) val = argv[++*i];
    else {
        fprintf(stderr, "error: option '%s' needs a value\nusage: %s\n", a, jc->usage);
        return 2;
    }
    if (!sv_utf8_valid(val)) {
        fprintf(stderr, "error: the value of option '--%s' is not valid UTF-8\n"
                        "HINT: job options travel as JSON: pass UTF-8 text (check the shell's locale)\n",
                o->flag);
        return 2;
    }
    json_object_set_new(opts, o->key, json_string(val));
    return 0;
}

/* Parses argv into a and opts; 0, or 2 (usage, printed). */
static int parse_job_args(const struct job_cmd *jc, int argc, char **argv, job_args *a, json_t *opts)
{
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        if (strcmp(s, "--inline") == 0) a->inl = true;
        else if (strcmp(s, "--no-wait") == 0) a->no_wait = true;
        else if (strcmp(s, "--json") == 0) a->as_json = true;
        else if (strcmp(s, "--yes") == 0 || strcmp(s, "-y") == 0) a->yes = true;
        else if (strcmp(s, "--id") == 0 && i + 1 < argc) a->job_id = argv[++i];
        else if (strncmp(s, "--", 2) == 0) {
            if (parse_job_option(jc, argc, argv, &i, opts) != 0) return 2;
        } else if (!a->ws) a->ws = s;
        else {
            fprintf(stderr, "error: unexpected argument '%s'\nusage: %s\n", s, jc->usage);
            return 2;
        }
    }
    return 0;
}

/* Checks what was parsed (workspace, id, a restore's source and consent)
 * and fills the defaults; 0, or the exit code (message printed). */
static int check_job_args(const sv_config *cfg, const struct job_cmd *jc, const job_args *a, json_t *opts)
{
    sv_err err;
    const char *store = json_string_value(json_object_get(opts, "store"));
    if (jc->needs_ws && !a->ws) {
        fprintf(stderr, "error: %s needs a workspace id\nusage: %s\n", jc->type, jc->usage);
        return 2;
    }
    if (a->ws && sv_check_workspace(a->ws, &err) != 0) return cli_fail(&err);
    if (a->job_id && !sv_valid_id(a->job_id)) {
        fprintf(stderr, "error: invalid job id '%s'\n", a->job_id);
        return 2;
    }
    if (strcmp(jc->type, "restore") == 0) {
        const char *from = json_string_value(json_object_get(opts, "from"));
        if (!from) {
            fprintf(stderr, "error: restore needs --from latest|TIME|object:KEY|file:PATH\n");
            return 2;
        }
        if (!a->yes && !confirm(a->ws, from)) {
            fprintf(stderr, "error: restore not confirmed\nHINT: pass --yes to restore without a prompt\n");
            return 2;
        }
    }
    if (store && !(strcmp(store, "primary") == 0 && strcmp(jc->type, "replicate") != 0)) {
        replica_set rs;
        bool known;
        if (replica_parse(cfg, &rs, &err) != 0) return cli_fail(&err);
        known = replica_find(&rs, store) != NULL;
        replica_set_free(&rs);
        if (!known) {
            fprintf(stderr, "error: no replica store '%s'\nHINT: SQLVAULT_REPLICAS names the stores (%s)%s\n", store,
                    cfg->replicas ? "set" : "unset", strcmp(jc->type, "replicate") ? "; 'primary' is SQLVAULT_STORE" : "");
            return 2;
        }
    }
    if (strcmp(jc->type, "backup") == 0 && !json_object_get(opts, "reason"))
        json_object_set_new(opts, "reason", json_string("manual"));
    return 0;
}

/* Enqueues the job (and waits, unless --no-wait). */
static int run_queued(sv_config *cfg, const struct job_cmd *jc, const job_args *a, json_t *opts)
{
    cli_submit_req q = {0};
    if (absolute_paths(opts) != 0) {
        fprintf(stderr, "error: out of memory\n");
        return 1;
    }
    q.type = jc->type;
    q.workspace = a->ws;
    q.job_id = a->job_id;
    q.opts = opts;
    q.wait = !a->no_wait;
    q.progress = isatty(STDERR_FILENO);
    q.json = a->as_json;
    q.priority = job_default_priority(jc->type, json_string_value(json_object_get(opts, "reason")));
    return cli_submit(cfg, &q);
}

/* sqlvault backup|export|restore|verify|prune|import-url ... */
int cmd_job(sv_config *cfg, int argc, char **argv)
{
    const struct job_cmd *jc = NULL;
    job_args a = {0};
    json_t *opts = json_object();
    int rc = 2;

    for (size_t i = 0; i < sizeof job_cmds / sizeof job_cmds[0]; i++)
        if (strcmp(job_cmds[i].type, argv[0]) == 0) jc = &job_cmds[i];
    if (!jc || !opts) goto done;
    if (cli_wants_help(argc, argv)) {
        job_help(jc);
        rc = 0;
        goto done;
    }
    if ((rc = parse_job_args(jc, argc, argv, &a, opts)) != 0) goto done;
    if ((rc = check_job_args(cfg, jc, &a, opts)) != 0) goto done;
    if (a.inl) rc = run_inline(cfg, jc->type, a.ws, opts, a.as_json); /* every path as the operator gave it */
    else rc = run_queued(cfg, jc, &a, opts);
done:
    json_decref(opts);
    return rc;
}
