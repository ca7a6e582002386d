/* cmd_jobs.c -- placeholder until the module that owns this command lands. */
#include <stdio.h>
#include "cli.h"

/* sqlvault jobs: not built yet. */
int cmd_jobs(sv_config *cfg, int argc, char **argv)
{
    (void)cfg; (void)argc; (void)argv;
    fprintf(stderr, "error: 'jobs' is not available in this build\n");
    return 2;
}
