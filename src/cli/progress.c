/* progress.c -- the one progress line of the job commands, on stderr (a
 * terminal): a queued job's (id, state, stage, bytes) while the CLI waits,
 * and an --inline job's (stage, bytes). */
#include <stdio.h>
#include "cli.h"
#include "util.h"

/* Draws (overwrites) the progress line; id and state may be NULL. */
void cli_progress_line(const char *id, const char *state, const char *stage, uint64_t done, uint64_t total)
{
    char a[32], b[32];
    if (id) fprintf(stderr, "\r%.12s %-9s ", id, state ? state : "");
    else fprintf(stderr, "\r");
    if (total)
        fprintf(stderr, "%-10s %s / %s (%d%%)   ", stage ? stage : "", sv_human_size(done, a, sizeof a),
                sv_human_size(total, b, sizeof b), (int)(done * 100 / total));
    else
        fprintf(stderr, "%-10s %s   ", stage ? stage : "", done ? sv_human_size(done, a, sizeof a) : "");
}

/* Erases the progress line. */
void cli_progress_clear(void) { fprintf(stderr, "\r%78s\r", ""); }
