/* cmd_dirty.c -- `sqlvault dirty WS...`: marks workspaces as written, for
 * shells and tools that write to a workspace without the Node client (the
 * same as markDirty: ZADD NX into the workspace's pool's dirty set at now,
 * src/sched/dirty.c). The leading scheduler backs them up within
 * SQLVAULT_INCREMENTAL_EVERY. */
#include <stdio.h>
#include <string.h>
#include "cli.h"
#include "clock.h"
#include "scheduler.h"

static const char usage[] =
    "usage: sqlvault dirty WS [WS...]\n"
    "  marks the workspaces as written now: the scheduler backs each up within\n"
    "  SQLVAULT_INCREMENTAL_EVERY (a workspace already marked keeps its first mark)\n";

/* sqlvault dirty WS... */
int cmd_dirty(sv_config *cfg, int argc, char **argv)
{
    sched_t *s = NULL;
    size_t added = 0;
    sv_err err;
    int rc;

    sv_err_clear(&err);
    if (cli_wants_help(argc, argv)) {
        fputs(usage, stdout);
        return 0;
    }
    if (argc < 2) {
        fprintf(stderr, "error: name at least one workspace\n%s", usage);
        return 2;
    }
    for (int i = 1; i < argc; i++) {
        if (argv[i][0] == '-') {
            fprintf(stderr, "error: unexpected argument '%s'\n%s", argv[i], usage);
            return 2;
        }
    }
    if (sched_new(cfg, sv_clock_system(), &s, &err) != 0) return cli_fail(&err);
    if (sched_mark_dirty(s, (const char *const *)argv + 1, (size_t)argc - 1, &added, &err) != 0) {
        rc = cli_fail(&err);
    } else {
        printf("%zu marked, %zu already waiting\n", added, (size_t)argc - 1 - added);
        rc = 0;
    }
    sched_free(s);
    return rc;
}
