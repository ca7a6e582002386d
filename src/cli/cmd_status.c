/* cmd_status.c -- placeholder until the module that owns this command lands. */
#include <stdio.h>
#include "cli.h"

/* sqlvault status: not built yet. */
int cmd_status(sv_config *cfg, int argc, char **argv)
{
    (void)cfg; (void)argc; (void)argv;
    fprintf(stderr, "error: 'status' is not available in this build\n");
    return 2;
}
