/* log.h -- structured logs on stderr: JSON lines (time, level, msg, job, ws)
 * or text. Thread-safe (one write(2) per line). Callers must not pass secrets
 * or presigned URLs; log_redact_url strips a query string's signature. */
#ifndef SV_LOG_H
#define SV_LOG_H

typedef enum { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR } sv_log_level;

void log_init(int json, sv_log_level min);
/* job and ws may be NULL. */
void log_msg(sv_log_level lvl, const char *job, const char *ws, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
#define log_debug(job, ws, ...) log_msg(LOG_DEBUG, job, ws, __VA_ARGS__)
#define log_info(job, ws, ...) log_msg(LOG_INFO, job, ws, __VA_ARGS__)
#define log_warn(job, ws, ...) log_msg(LOG_WARN, job, ws, __VA_ARGS__)
#define log_error(job, ws, ...) log_msg(LOG_ERROR, job, ws, __VA_ARGS__)

#endif
