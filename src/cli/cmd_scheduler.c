/* cmd_scheduler.c -- placeholder until the module that owns this command lands. */
#include <stdio.h>
#include "cli.h"

/* sqlvault scheduler: not built yet. */
int cmd_scheduler(sv_config *cfg, int argc, char **argv)
{
    (void)cfg; (void)argc; (void)argv;
    fprintf(stderr, "error: 'scheduler' is not available in this build\n");
    return 2;
}
