/* timefmt.h -- time parsing and formatting: the backup folder timestamp,
 * ISO 8601, and civil dates. Pure functions of their arguments: no clock, no
 * allocation (the clock uses these, not the other way round). */
#ifndef SV_TIMEFMT_H
#define SV_TIMEFMT_H

#include <stdint.h>

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

#endif
