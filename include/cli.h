/* cli.h -- the command handlers main() dispatches to.
 *
 * Each handler gets the loaded configuration (config flags already consumed
 * from argv) and the remaining argv with argv[0] = the command name, and
 * returns the process exit code (README.md, Commands: 0 ok, 1 job failed, 2 usage or
 * configuration, 3 redis or storage unreachable). */
#ifndef SV_CLI_H
#define SV_CLI_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include "config.h"
#include "err.h"

int cmd_job(sv_config *cfg, int argc, char **argv);   /* backup export restore verify prune import-url */
int cmd_list(sv_config *cfg, int argc, char **argv);
int cmd_query(sv_config *cfg, int argc, char **argv);
int cmd_worker(sv_config *cfg, int argc, char **argv);
int cmd_scheduler(sv_config *cfg, int argc, char **argv);
int cmd_dirty(sv_config *cfg, int argc, char **argv);   /* sqlvault dirty WS... (cmd_dirty.c) */
int cmd_status(sv_config *cfg, int argc, char **argv);
int cmd_jobs(sv_config *cfg, int argc, char **argv);
int cmd_stats(sv_config *cfg, int argc, char **argv);
/* sqlvault stats --ws WS: one workspace's backups over time (cmd_stats_ws.c). */
int cmd_stats_ws(sv_config *cfg, const char *ws, long limit, bool as_json);
int cmd_keys(sv_config *cfg, int argc, char **argv);    /* keys rotate|shred|show */

/* Prints an error with its hint to stderr and returns its exit code. */
int cli_fail(const sv_err *err);
/* Prints a result object as "key: value" lines (nested objects flattened). */
void cli_print_result(FILE *out, json_t *result);
/* Prints a job's result for people: prune's as its table, others as above. */
void cli_print_job_result(FILE *out, const char *type, json_t *result);
/* A job command through the queue (src/cli/submit.c). */
typedef struct cli_submit_req {
    const char *type;        /* backup, export, restore, verify, prune, import-url */
    const char *workspace;   /* validated; NULL for prune of every workspace */
    const char *pool;        /* NULL = cfg->pool or "default" */
    const char *priority;    /* "interactive", "dirty" or "scheduled"; NULL = by type */
    const char *job_id;      /* NULL = generated */
    json_t *opts;            /* borrowed; sent as a msgpack map */
    int max_attempts;        /* 0 = cfg->max_attempts */
    bool wait;               /* wait for the end, showing progress */
    bool progress;           /* draw progress on stderr (a terminal) */
    bool json;               /* print the final job as JSON on stdout */
} cli_submit_req;
/* Enqueues the job (deduped by id) and, with wait, polls until it ends,
 * printing the result. Without wait, prints the job id. Returns the process
 * exit code: 0 succeeded, 1 failed, 2 usage, 3 redis unreachable. */
int cli_submit(const sv_config *cfg, const cli_submit_req *q);
/* The progress line on stderr (src/cli/progress.c): id and state may be
 * NULL (an --inline job); clear erases it. */
void cli_progress_line(const char *id, const char *state, const char *stage, uint64_t done, uint64_t total);
void cli_progress_clear(void);
/* True if argv has --help or -h. */
int cli_wants_help(int argc, char **argv);

#endif
