/* prune_stub.c -- placeholder: DELETE THIS FILE when src/prune/ implements job_prune. */
#include "job.h"

/* Not built yet. */
int job_prune(job_ctx *ctx, json_t **result, sv_err *err)
{
    (void)ctx; (void)result;
    return sv_err_set(err, SV_EINVAL, "prune is not available in this build");
}
