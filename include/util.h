/* util.h -- small shared helpers: parsing sizes and durations, workspace ids,
 * timestamps, hex, paths. No allocation unless stated. */
#ifndef SV_UTIL_H
#define SV_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "err.h"

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

/* Backup folder timestamp: YYYYMMDDTHHMMSS.mmmZ (20 chars + NUL). */
#define SV_TS_LEN 21
void sv_ts_format(int64_t ms, char out[SV_TS_LEN]);
int sv_ts_parse(const char *s, int64_t *ms);
/* ISO 8601 with milliseconds: 2026-01-15T10:30:00.000Z (24 chars + NUL). */
#define SV_ISO_LEN 25
void sv_iso_format(int64_t ms, char out[SV_ISO_LEN]);
int sv_iso_parse(const char *s, int64_t *ms);
/* Days since epoch <-> civil date (proleptic Gregorian, UTC). */
int64_t sv_days_from_civil(int y, unsigned m, unsigned d);
void sv_civil_from_days(int64_t z, int *y, unsigned *m, unsigned *d);

void sv_hex(const unsigned char *in, size_t n, char *out /* 2n+1 */);
/* Random id: 32 hex chars from the clock's rand64 (NUL-terminated, 33 bytes). */
struct sv_clock;
void sv_random_id(const struct sv_clock *c, char out[33]);

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
char *sv_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
