/* err.c -- the error struct: setting, wrapping, naming, and the one
 * classification of which errors a retry can fix. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "err.h"

static const char *const code_names[SV_ECODE_MAX] = {
    [SV_OK] = "ok",
    [SV_EINVAL] = "invalid",
    [SV_ENOTFOUND] = "not_found",
    [SV_EIO] = "io",
    [SV_ENOSPC] = "no_space",
    [SV_EUNREACH] = "unreachable",
    [SV_EAUTH] = "auth",
    [SV_ETRANSIENT] = "transient",
    [SV_EREMOTE] = "remote",
    [SV_ECORRUPT] = "corrupt",
    [SV_ECHECKSUM] = "checksum",
    [SV_ETOOBIG] = "too_big",
    [SV_ECONFLICT] = "conflict",
    [SV_EBUSY] = "busy",
    [SV_ELEASE] = "lease_lost",
    [SV_ECANCEL] = "cancelled",
    [SV_ENOMEM] = "no_memory",
    [SV_EINTERNAL] = "internal",
    [SV_ENOTSUP] = "not_supported",
};

/* Sets code and formatted message; returns -1. */
int sv_err_set(sv_err *e, sv_code code, const char *fmt, ...)
{
    va_list ap;
    e->code = code;
    e->hint[0] = '\0';
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    return -1;
}

/* Sets the hint line; returns -1. */
int sv_err_hint(sv_err *e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->hint, sizeof e->hint, fmt, ap);
    va_end(ap);
    return -1;
}

/* Prefixes the message with context; returns -1. */
int sv_err_wrap(sv_err *e, const char *fmt, ...)
{
    char prefix[256], old[sizeof e->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, e->msg, sizeof old);
    size_t pl = strlen(prefix);
    if (pl > sizeof e->msg - 3) pl = sizeof e->msg - 3;
    memcpy(e->msg, prefix, pl);
    memcpy(e->msg + pl, ": ", 2);
    size_t ol = strnlen(old, sizeof old - 1);
    if (ol > sizeof e->msg - pl - 3) ol = sizeof e->msg - pl - 3;
    memcpy(e->msg + pl + 2, old, ol);
    e->msg[pl + 2 + ol] = '\0';
    return -1;
}

/* Resets to SV_OK with empty texts. */
void sv_err_clear(sv_err *e)
{
    e->code = SV_OK;
    e->msg[0] = '\0';
    e->hint[0] = '\0';
}

/* Stable name of a code. */
const char *sv_code_name(sv_code c)
{
    if ((int)c < 0 || c >= SV_ECODE_MAX || !code_names[c]) return "internal";
    return code_names[c];
}

/* Code from its name; SV_EINTERNAL when unknown. */
sv_code sv_code_from_name(const char *name)
{
    for (int i = 0; i < SV_ECODE_MAX; i++)
        if (code_names[i] && name && strcmp(code_names[i], name) == 0) return (sv_code)i;
    return SV_EINTERNAL;
}

/* The one classifier: which failures can a later attempt fix. */
bool sv_code_retryable(sv_code c)
{
    switch (c) {
    case SV_EUNREACH:
    case SV_ETRANSIENT:
    case SV_EBUSY:
    case SV_ELEASE:
    case SV_ECANCEL:
    case SV_EIO:
    case SV_ENOSPC:
    case SV_ENOMEM:
    case SV_EINTERNAL:
        return true;
    default: /* invalid input, not found, auth, corrupt, checksum, too big, conflict, remote 4xx,
              * not supported (501: the store will not grow the call by itself) */
        return false;
    }
}

/* Exit code of a failed command (README.md, Commands). */
int sv_err_exit_code(const sv_err *e)
{
    switch (e->code) {
    case SV_OK: return 0;
    case SV_EINVAL: return 2;
    case SV_EUNREACH: return 3;
    default: return 1;
    }
}
