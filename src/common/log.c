/* log.c -- JSON-lines or text logs on stderr, one write(2) per line so
 * threads never interleave. Never given secrets by its callers. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <jansson.h>
#include "clock.h"
#include "log.h"
#include "util.h"

static int log_json = 1;
static sv_log_level log_min = LOG_INFO;
static const char *const level_names[] = {"debug", "info", "warn", "error"};

/* Chooses the format and the lowest level printed. */
void log_init(int json, sv_log_level min)
{
    log_json = json;
    log_min = min;
}

/* Prints one log line. */
void log_msg(sv_log_level lvl, const char *job, const char *ws, const char *fmt, ...)
{
    char msg[1024], ts[SV_ISO_LEN];
    char *line = NULL;
    va_list ap;
    if (lvl < log_min) return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    sv_iso_format(sv_now_ms(sv_clock_system()), ts);
    if (log_json) {
        json_t *o = json_pack("{s:s, s:s, s:s}", "time", ts, "level", level_names[lvl], "msg", msg);
        if (o && job) json_object_set_new(o, "job", json_string(job));
        if (o && ws) json_object_set_new(o, "workspace", json_string(ws));
        char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
        if (s) line = sv_asprintf("%s\n", s);
        free(s);
        json_decref(o);
    } else {
        line = sv_asprintf("%s %-5s %s%s%s%s%s\n", ts, level_names[lvl], job ? "[" : "",
                           job ? job : "", job ? "] " : "", ws ? ws : "", ws ? ": " : "");
        if (line) {
            char *full = sv_asprintf("%.*s%s\n", (int)strlen(line) - 1, line, msg);
            free(line);
            line = full;
        }
    }
    if (line) {
        ssize_t r = write(STDERR_FILENO, line, strlen(line));
        (void)r;
        free(line);
    }
}
