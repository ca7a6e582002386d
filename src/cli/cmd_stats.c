/* cmd_stats.c -- placeholder until the module that owns this command lands. */
#include <stdio.h>
#include "cli.h"

/* sqlvault stats: not built yet. */
int cmd_stats(sv_config *cfg, int argc, char **argv)
{
    (void)cfg; (void)argc; (void)argv;
    fprintf(stderr, "error: 'stats' is not available in this build\n");
    return 2;
}
