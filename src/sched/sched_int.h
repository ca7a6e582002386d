/* sched_int.h -- what the scheduler's files share: the sched struct and the
 * Redis helper. Not a public interface (see include/scheduler.h). */
#ifndef SV_SCHED_INT_H
#define SV_SCHED_INT_H

#include "cron.h"
#include "queue.h"
#include "queue_conn.h"
#include "scheduler.h"

/* One tick's job, remembered to wait for it and evaluate the tick. */
typedef struct sched_job {
    char *id;
    char type;        /* 'b' backup, 'p' prune, 'v' verify */
    size_t pool;      /* index in bases: its workspace's pool of the pool set */
    char state[12];   /* last seen: "" until known */
} sched_job;

struct sched {
    const sv_config *cfg;
    const sv_clock *clock;
    queue_conn *qc;         /* every command: enqueues, leader scripts, discovery */
    char **bases;           /* PREFIX:{pool}: of each pool of the set (SQLVAULT_POOL a,b,c) */
    size_t nbases;          /* >= 1; a workspace goes to bases[queue_pool_hash(ws) % nbases] */
    char *k_leader, *k_fence, *k_last, *k_result, *k_ratio, *k_set;
    char owner[128];        /* host:pid:random, this scheduler's name in the lease */
    int64_t fence;          /* our fencing token while leading, 0 otherwise */
    sv_cron cron;
    /* the last tick run */
    int64_t tick_ms;
    sched_job *jobs;
    size_t njobs, capjobs;
};

/* One command on the scheduler's connection (qc_callv): the reply, which
 * the caller frees, or NULL with err. argc is counted, never written. */
#define SCHED_CMD(s, err, ...) QC_CMD((s)->qc, (err), __VA_ARGS__)

/* Adds a workspace id to the list (copied). */
int sched_ws_add(sched_ws_list *l, const char *ws, size_t len, sv_err *err);
/* Sorts and removes duplicates. */
void sched_ws_finish(sched_ws_list *l);

#endif
