/* cmd_worker.c -- `sqlvault worker`: runs the worker pool (src/worker/).
 * --threads, --pools, --grace and --lease are configuration flags, already
 * consumed by config_load. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "util.h"
#include "worker/worker.h"

/* sqlvault worker [--threads N] [--pools a,b] [--grace S] [--lease D] */
int cmd_worker(sv_config *cfg, int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        printf("usage: sqlvault worker [--threads N] [--pools a,b] [--grace SECONDS] [--lease DURATION]\n"
               "                       [--metrics-addr HOST:PORT]\n\n"
               "Runs N job threads (one redis connection each) and a housekeeping thread\n"
               "(lease heartbeats, takeover of stalled jobs, promotion of due retries).\n"
               "SIGTERM/SIGINT stop claiming; running jobs get --grace seconds to finish.\n"
               "The protocol is in docs/PROTOCOL.md.\n");
        return 0;
    }
    for (int i = 1; i < argc; i++) {
        fprintf(stderr, "error: unexpected argument '%s'\nusage: sqlvault worker [--threads N] [--pools a,b] "
                        "[--grace S]\n", argv[i]);
        return 2;
    }
    {
        char *copy = sv_strdup(cfg->pools ? cfg->pools : "default"), *save = NULL;
        for (char *t = copy ? strtok_r(copy, ", ", &save) : NULL; t; t = strtok_r(NULL, ", ", &save))
            if (!sv_valid_id(t)) {
                fprintf(stderr, "error: invalid pool name '%s'\nHINT: pool names use A-Z a-z 0-9 _ -\n", t);
                free(copy);
                return 2;
            }
        free(copy);
    }
    if (cfg->threads < 1 || cfg->threads > 256) {
        fprintf(stderr, "error: --threads must be between 1 and 256\n");
        return 2;
    }
    return worker_run(cfg);
}
