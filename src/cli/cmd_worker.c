/* cmd_worker.c -- placeholder until the module that owns this command lands. */
#include <stdio.h>
#include "cli.h"

/* sqlvault worker: not built yet. */
int cmd_worker(sv_config *cfg, int argc, char **argv)
{
    (void)cfg; (void)argc; (void)argv;
    fprintf(stderr, "error: 'worker' is not available in this build\n");
    return 2;
}
