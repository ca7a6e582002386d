/* queue.h -- the Redis job queue as the CLI sees it (owned by the queue module).
 *
 * The full protocol (keys, scripts, leases) is in docs/PROTOCOL.md; this
 * header is the part other modules call. */
#ifndef SV_QUEUE_H
#define SV_QUEUE_H

#include <jansson.h>
#include <stdbool.h>
#include "config.h"
#include "err.h"

typedef struct queue_submit {
    const char *type;        /* backup, export, restore, verify, prune, import-url */
    const char *workspace;   /* validated; NULL for prune of every workspace */
    const char *pool;        /* NULL = cfg->pool or "default" */
    const char *priority;    /* "interactive" or "scheduled"; NULL = by type */
    const char *job_id;      /* NULL = generated */
    json_t *opts;            /* borrowed; sent as a msgpack map */
    int max_attempts;        /* 0 = cfg->max_attempts */
    bool wait;               /* wait for the end, showing progress */
    bool progress;           /* draw progress on stderr (a terminal) */
    bool json;               /* print the final job as JSON on stdout */
} queue_submit;

/* Enqueues the job (deduped by id) and, with wait, polls until it ends,
 * printing the result. Without wait, prints the job id. Returns the process
 * exit code (SPEC §1): 0 succeeded, 1 failed, 2 usage, 3 redis unreachable. */
int queue_cli_submit(const sv_config *cfg, const queue_submit *q);

#endif
