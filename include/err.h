/* err.h -- status codes and the error struct every module fills.
 *
 * Functions return 0 on success and -1 on failure; on failure they fill the
 * sv_err the caller passed (never NULL). Messages are lowercase, no trailing
 * period, and never contain a secret. A hint says what the user can do. */
#ifndef SV_ERR_H
#define SV_ERR_H

#include <stdbool.h>

typedef enum {
    SV_OK = 0,
    SV_EINVAL,    /* bad usage, configuration or workspace id (exit 2) */
    SV_ENOTFOUND, /* object, file, backup or job does not exist */
    SV_EIO,       /* local i/o error */
    SV_ENOSPC,    /* local disk full */
    SV_EUNREACH,  /* redis or storage unreachable (exit 3) */
    SV_EAUTH,     /* credentials rejected by the store */
    SV_ETRANSIENT,/* 5xx, 408, 429, reset: retrying may help */
    SV_EREMOTE,   /* the store answered with an error retrying cannot fix */
    SV_ECORRUPT,  /* source is not a valid sqlite/zstd file, integrity fails */
    SV_ECHECKSUM, /* checksum mismatch */
    SV_ETOOBIG,   /* size cap exceeded (bomb, oversized upload) */
    SV_ECONFLICT, /* conditional write refused (412) */
    SV_EBUSY,     /* sqlite busy/locked, workspace lock held */
    SV_ELEASE,    /* this worker lost its lease on the job */
    SV_ECANCEL,   /* cancelled or shutting down */
    SV_ENOMEM,
    SV_EINTERNAL,
    SV_ENOTSUP,   /* the store does not implement this optional call (501) */
    SV_ECODE_MAX
} sv_code;

typedef struct sv_err {
    sv_code code;
    char msg[512];
    char hint[256];
} sv_err;

/* Sets code and message (printf format); returns -1 so callers can
 * `return sv_err_set(...)` or `rc = sv_err_set(...); goto fail;`. */
int sv_err_set(sv_err *e, sv_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Sets the hint line shown after the message. Returns -1. */
int sv_err_hint(sv_err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prefixes the current message with context ("uploading x: " + old msg). Returns -1. */
int sv_err_wrap(sv_err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sv_err_clear(sv_err *e);
/* Stable lowercase name of a code ("checksum", "unreachable", ...). */
const char *sv_code_name(sv_code c);
/* Parses a name back; SV_EINTERNAL when unknown. */
sv_code sv_code_from_name(const char *name);
/* True when retrying the same operation later may succeed: the one place
 * that classifies errors for the job queue. */
bool sv_code_retryable(sv_code c);
/* Process exit code for an error (README.md, Commands): 2 usage/config, 3 unreachable, 1 otherwise. */
int sv_err_exit_code(const sv_err *e);

#endif
