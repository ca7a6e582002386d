/* client.c -- enqueue a job and wait for it (stub until the queue lands). */
#include <stdio.h>
#include "queue.h"

/* Enqueues q and waits; stub: the queue is not built yet. */
int queue_cli_submit(const sv_config *cfg, const queue_submit *q)
{
    (void)cfg;
    fprintf(stderr, "error: the job queue is not available in this build (%s)\nHINT: use --inline\n",
            q->type);
    return 2;
}
