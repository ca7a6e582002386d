/* cli.h -- the command handlers main() dispatches to.
 *
 * Each handler gets the loaded configuration (config flags already consumed
 * from argv) and the remaining argv with argv[0] = the command name, and
 * returns the process exit code (SPEC §1: 0 ok, 1 job failed, 2 usage or
 * configuration, 3 redis or storage unreachable). */
#ifndef SV_CLI_H
#define SV_CLI_H

#include <jansson.h>
#include <stdio.h>
#include "config.h"
#include "err.h"

int cmd_job(sv_config *cfg, int argc, char **argv);   /* backup export restore verify prune import-url */
int cmd_list(sv_config *cfg, int argc, char **argv);
int cmd_worker(sv_config *cfg, int argc, char **argv);
int cmd_scheduler(sv_config *cfg, int argc, char **argv);
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
/* True if argv has --help or -h. */
int cli_wants_help(int argc, char **argv);

#endif
