/* util.h -- small shared helpers: parsing sizes and durations, workspace ids,
 * hex, paths, write_all (time formats: timefmt.h). No allocation unless stated. */
#ifndef SV_UTIL_H
#define SV_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "err.h"
#include "timefmt.h" /* the time formats, once part of this header */

#define SV_VERSION "0.1.0"
#define SV_PRODUCER "sqlvault " SV_VERSION

/* "16MiB", "5MB", "1024", "32GiB" -> bytes. -1 with err on bad input. */
int sv_parse_size(const char *s, uint64_t *out, sv_err *err);
/* "30s", "5m", "2h", "30d", "1500ms", "30" (seconds) -> ms. */
int sv_parse_duration_ms(const char *s, int64_t *out, sv_err *err);
/* Workspace id: ^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$. Fills err (SV_EINVAL) naming it. */
int sv_check_workspace(const char *ws, sv_err *err);
/* Generic token check for job ids and object ids: same charset, up to 128 chars. */
bool sv_valid_id(const char *s);

void sv_hex(const unsigned char *in, size_t n, char *out /* 2n+1 */);
/* Random id: 32 hex chars from the clock's rand64 (NUL-terminated, 33 bytes). */
struct sv_clock;
void sv_random_id(const struct sv_clock *c, char out[33]);

/* Writes all len bytes to fd, retrying short writes and EINTR. 0, or -1
 * with errno set. */
int sv_write_all(int fd, const void *data, size_t len);

/* mkdir -p. */
int sv_mkdirs(const char *path, sv_err *err);
/* fsync a directory (after a rename in it). */
int sv_fsync_dir(const char *dir, sv_err *err);
/* Human-readable size into buf ("1.2 GiB"). */
const char *sv_human_size(uint64_t n, char *buf, size_t cap);

/* True when s is well-formed UTF-8 (no overlongs, surrogates or code
 * points past U+10FFFF): what jansson, Redis events and logs can carry. */
bool sv_utf8_valid(const char *s);

/* Heap string helpers; abort on OOM is NOT done: NULL on failure. */
char *sv_strdup(const char *s);
/* Heap: path made absolute against the working directory (lexically: a
 * relative "./data" becomes "$PWD/data"), so that paths recorded on jobs mean
 * the same to every process; NULL for NULL. */
char *sv_abs_path(const char *path);
char *sv_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
