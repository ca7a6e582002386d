/* worker.h -- the worker pool (sqlvault worker) and the test-only job types. */
#ifndef SV_WORKER_H
#define SV_WORKER_H

#include "config.h"
#include "job.h"

/* Runs the pool until SIGTERM/SIGINT: cfg->threads job threads (one Redis
 * connection and one store each) plus a housekeeping thread, serving
 * cfg->pools. Returns the process exit code (0 after a graceful stop). */
int worker_run(const sv_config *cfg);

/* Test-only job types ("sleep", "fail"), offered only when the environment
 * has SQLVAULT_TEST_JOBS=1. NULL for anything else. */
job_fn testjobs_lookup(const sv_config *cfg, const char *type);

#endif
