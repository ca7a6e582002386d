/* main.c -- `sqlvault COMMAND ...`: loads the configuration (all problems at
 * once, exit 2), sets up logging and libraries, and dispatches. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "log.h"
#include "util.h"

static const struct command {
    const char *name;
    int (*fn)(sv_config *, int, char **);
    const char *summary;
} commands[] = {
    {"worker", cmd_worker, "run the worker pool (--threads N, --pools a,b, --grace S)"},
    {"scheduler", cmd_scheduler, "enqueue scheduled backups, prunes and verifies (--once, --wait, --drain)"},
    {"dirty", cmd_dirty, "mark workspaces as written: backed up within SQLVAULT_INCREMENTAL_EVERY"},
    {"backup", cmd_job, "back up one workspace"},
    {"export", cmd_job, "fresh snapshot + download URL (--ttl S, --format db|zst)"},
    {"restore", cmd_job, "restore a workspace (--from latest|TIME|object:KEY|file:PATH, --yes; TIME: the newest backup at or before it)"},
    {"verify", cmd_job, "restore drill of a backup (--at latest|TIME)"},
    {"prune", cmd_job, "apply the retention policy (--dry-run)"},
    {"import-url", cmd_job, "presigned PUT URL to upload a file to restore from"},
    {"replicate", cmd_job, "copy a workspace's backups to the replica stores (--replica NAME)"},
    {"inspect", cmd_job, "what a backup holds, read in place (--at latest|TIME|live): tables, rows, events"},
    {"query", cmd_query, "run a read-only SQL query on a point of the backups, read in place (--at, --json)"},
    {"list", cmd_list, "committed backups of a workspace, newest first (--json)"},
    {"status", cmd_status, "one job's state, progress, result or error (--json)"},
    {"jobs", cmd_jobs, "recent jobs (--ws, --state, --limit)"},
    {"stats", cmd_stats, "queue depths, active jobs, workers alive, failure ratio"},
    {"keys", cmd_keys, "encryption keys: rotate --new-key-file F, shred WS, show WS"},
};

/* Prints the top-level help. */
static void usage(FILE *out)
{
    fprintf(out, "usage: sqlvault COMMAND [options]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-11s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\njob commands take --inline (run here, no redis), --no-wait, --json, --db PATH\n"
                 "\nconfiguration (environment variable, or the flag of the same name):\n");
    for (const sv_config_var *v = sv_config_vars; v->env; v++)
        if (!SV_CONFIG_TEST(v))
            fprintf(out, "  %-28s --%-19s %s%s%s%s\n", v->env, v->flag, v->help, v->deflt ? " (default " : "",
                    v->deflt ? v->deflt : "", v->deflt ? ")" : "");
    fprintf(out, "\nexit codes: 0 success, 1 the job failed, 2 usage or configuration error, "
                 "3 redis or storage unreachable\n");
}

/* Entry point. */
int main(int argc, char **argv)
{
    sv_config cfg;
    sv_err err;
    const struct command *cmd = NULL;
    int rc;

    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
        printf("%s\n", SV_PRODUCER);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0) cmd = &commands[i];
    if (!cmd) {
        fprintf(stderr, "error: unknown command '%s'\nHINT: run 'sqlvault --help' for the list\n", argv[1]);
        return 2;
    }
    argc--, argv++; /* argv[0] is now the command name */
    if (config_load(&cfg, &argc, argv, &err) != 0) {
        if (cli_wants_help(argc, argv)) return cmd->fn(&cfg, argc, argv);
        fprintf(stderr, "error: invalid configuration:\n");
        for (char *line = strtok(err.msg, "\n"); line; line = strtok(NULL, "\n"))
            fprintf(stderr, "  %s\n", line);
        config_free(&cfg);
        return 2;
    }
    log_init(cfg.log_json, cfg.debug ? LOG_DEBUG : LOG_INFO);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    rc = cmd->fn(&cfg, argc, argv);
    curl_global_cleanup();
    config_free(&cfg);
    return rc;
}
