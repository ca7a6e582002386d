/* restore_stub.c -- placeholder: DELETE THIS FILE when src/restore/ implements these jobs. */
#include "job.h"

/* Not built yet. */
int job_restore(job_ctx *ctx, json_t **result, sv_err *err)
{ (void)ctx; (void)result; return sv_err_set(err, SV_EINVAL, "restore is not available in this build"); }
/* Not built yet. */
int job_export(job_ctx *ctx, json_t **result, sv_err *err)
{ (void)ctx; (void)result; return sv_err_set(err, SV_EINVAL, "export is not available in this build"); }
/* Not built yet. */
int job_verify(job_ctx *ctx, json_t **result, sv_err *err)
{ (void)ctx; (void)result; return sv_err_set(err, SV_EINVAL, "verify is not available in this build"); }
/* Not built yet. */
int job_import_url(job_ctx *ctx, json_t **result, sv_err *err)
{ (void)ctx; (void)result; return sv_err_set(err, SV_EINVAL, "import-url is not available in this build"); }
