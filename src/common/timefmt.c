/* timefmt.c -- time parsing and formatting (see timefmt.h). */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include "timefmt.h"

/* Days since 1970-01-01 of a civil date (H. Hinnant's algorithm). */
int64_t sv_days_from_civil(int y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

/* Civil date of a day count. */
void sv_civil_from_days(int64_t z, int *y, unsigned *m, unsigned *d)
{
    z += 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = (unsigned)(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const int64_t yy = (int64_t)yoe + era * 400;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int)(yy + (*m <= 2));
}

/* Splits ms into civil fields. */
static void split_ms(int64_t ms, int *y, unsigned *mo, unsigned *d, int *h, int *mi, int *s, int *msec)
{
    int64_t days = ms >= 0 ? ms / 86400000 : -((-ms + 86399999) / 86400000);
    int64_t rem = ms - days * 86400000;
    sv_civil_from_days(days, y, mo, d);
    *h = (int)(rem / 3600000);
    *mi = (int)(rem / 60000 % 60);
    *s = (int)(rem / 1000 % 60);
    *msec = (int)(rem % 1000);
}

/* YYYYMMDDTHHMMSS.mmmZ */
void sv_ts_format(int64_t ms, char out[SV_TS_LEN])
{
    int y, h, mi, s, msec;
    unsigned mo, d;
    split_ms(ms, &y, &mo, &d, &h, &mi, &s, &msec);
    char tmp[64];
    snprintf(tmp, sizeof tmp, "%04d%02u%02uT%02d%02d%02d.%03dZ", y % 10000, mo, d, h, mi, s, msec);
    memcpy(out, tmp, SV_TS_LEN - 1);
    out[SV_TS_LEN - 1] = '\0';
}

/* Builds ms from checked civil fields; -1 if out of range. */
static int join_ms(int y, int mo, int d, int h, int mi, int s, int msec, int64_t *out)
{
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (y < 1970 || y > 9999 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 ||
        mi > 59 || s > 59 || msec > 999 || h < 0 || mi < 0 || s < 0 || msec < 0)
        return -1;
    if (mo == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) return -1;
    *out = sv_days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400000 + h * 3600000LL +
           mi * 60000LL + s * 1000LL + msec;
    return 0;
}

/* Parses YYYYMMDDTHHMMSS.mmmZ exactly. */
int sv_ts_parse(const char *str, int64_t *ms)
{
    int y, mo, d, h, mi, s, msec, n = 0;
    if (!str || strlen(str) != SV_TS_LEN - 1) return -1;
    for (int i = 0; i < SV_TS_LEN - 1; i++) {
        char c = str[i];
        if (i == 8 ? c != 'T' : i == 15 ? c != '.' : i == 19 ? c != 'Z' : !isdigit((unsigned char)c))
            return -1;
    }
    if (sscanf(str, "%4d%2d%2dT%2d%2d%2d.%3dZ%n", &y, &mo, &d, &h, &mi, &s, &msec, &n) != 7 ||
        n != SV_TS_LEN - 1)
        return -1;
    return join_ms(y, mo, d, h, mi, s, msec, ms);
}

/* 2026-01-15T10:30:00.000Z */
void sv_iso_format(int64_t ms, char out[SV_ISO_LEN])
{
    int y, h, mi, s, msec;
    unsigned mo, d;
    split_ms(ms, &y, &mo, &d, &h, &mi, &s, &msec);
    char tmp[64];
    snprintf(tmp, sizeof tmp, "%04d-%02u-%02uT%02d:%02d:%02d.%03dZ", y % 10000, mo, d, h, mi, s, msec);
    memcpy(out, tmp, SV_ISO_LEN - 1);
    out[SV_ISO_LEN - 1] = '\0';
}

/* Parses 2026-01-15T10:30:00Z or with .mmm fraction. */
int sv_iso_parse(const char *str, int64_t *ms)
{
    int y, mo, d, h, mi, s, msec = 0, n = 0;
    if (!str) return -1;
    if (sscanf(str, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &s, &n) != 6 || n != 19)
        return -1;
    str += n;
    if (*str == '.') {
        int digits = 0;
        str++;
        while (isdigit((unsigned char)*str)) {
            if (digits < 3) msec = msec * 10 + (*str - '0');
            digits++;
            str++;
        }
        if (digits == 0) return -1;
        for (; digits < 3; digits++) msec *= 10;
    }
    if (strcmp(str, "Z") != 0) return -1;
    return join_ms(y, mo, d, h, mi, s, msec, ms);
}
