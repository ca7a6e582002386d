/* util.c -- parsing of sizes and durations, workspace id checks, hex,
 * directories, write_all. Pure helpers shared by every module (the time
 * formats are in timefmt.c). */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "clock.h"
#include "util.h"

/* Size with an optional unit (B, KB, KiB, MB, MiB, GB, GiB, TB, TiB, k, m, g). */
int sv_parse_size(const char *s, uint64_t *out, sv_err *err)
{
    static const struct { const char *u; uint64_t mul; } units[] = {
        {"", 1}, {"b", 1}, {"k", 1024}, {"kb", 1000}, {"kib", 1024}, {"m", 1048576},
        {"mb", 1000000}, {"mib", 1048576}, {"g", 1073741824ULL}, {"gb", 1000000000ULL},
        {"gib", 1073741824ULL}, {"t", 1099511627776ULL}, {"tb", 1000000000000ULL},
        {"tib", 1099511627776ULL},
    };
    char *end;
    char unit[8];
    size_t i, n;
    unsigned long long v;
    if (!s || !isdigit((unsigned char)*s)) goto bad;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno) goto bad;
    n = strlen(end);
    if (n >= sizeof unit) goto bad;
    for (i = 0; i < n; i++) unit[i] = (char)tolower((unsigned char)end[i]);
    unit[n] = '\0';
    for (i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcmp(unit, units[i].u) == 0) {
            if (units[i].mul && v > UINT64_MAX / units[i].mul) goto bad;
            *out = v * units[i].mul;
            return 0;
        }
    }
bad:
    return sv_err_set(err, SV_EINVAL, "invalid size '%s' (expected e.g. 16MiB, 5MB, 1048576)",
                      s ? s : "");
}

/* Duration: N, Nms, Ns, Nm, Nh, Nd, Nw -> ms. */
int sv_parse_duration_ms(const char *s, int64_t *out, sv_err *err)
{
    char *end;
    long long v;
    int64_t mul;
    if (!s || !isdigit((unsigned char)*s)) goto bad;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno || v < 0) goto bad;
    if (strcmp(end, "ms") == 0) mul = 1;
    else if (*end == '\0' || strcmp(end, "s") == 0) mul = 1000;
    else if (strcmp(end, "m") == 0) mul = 60000;
    else if (strcmp(end, "h") == 0) mul = 3600000;
    else if (strcmp(end, "d") == 0) mul = 86400000;
    else if (strcmp(end, "w") == 0) mul = 7 * 86400000LL;
    else goto bad;
    if (v > INT64_MAX / mul) goto bad;
    *out = v * mul;
    return 0;
bad:
    return sv_err_set(err, SV_EINVAL, "invalid duration '%s' (expected e.g. 30s, 5m, 2h, 30d)",
                      s ? s : "");
}

/* True for ^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$. */
bool sv_valid_id(const char *s)
{
    size_t i;
    if (!s || !isalnum((unsigned char)s[0])) return false;
    for (i = 1; s[i]; i++) {
        unsigned char c = (unsigned char)s[i];
        if (i >= 128) return false;
        if (!(isalnum(c) || c == '_' || c == '-')) return false;
    }
    return true;
}

/* Refuses a workspace id that could escape a path, a key or a Redis name. */
int sv_check_workspace(const char *ws, sv_err *err)
{
    char shown[48];
    if (sv_valid_id(ws)) return 0;
    snprintf(shown, sizeof shown, "%.40s%s", ws ? ws : "", ws && strlen(ws) > 40 ? "..." : "");
    for (char *p = shown; *p; p++)
        if (!isprint((unsigned char)*p)) *p = '?';
    sv_err_set(err, SV_EINVAL, "invalid workspace id '%s'", shown);
    return sv_err_hint(err, "a workspace id is 1-128 characters of A-Z a-z 0-9 _ -, starting "
                            "with a letter or digit");
}

/* Lowercase hex of n bytes. */
void sv_hex(const unsigned char *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

/* 128 random bits as hex. */
void sv_random_id(const sv_clock *c, char out[33])
{
    unsigned char b[16];
    uint64_t a = sv_rand64(c), z = sv_rand64(c);
    memcpy(b, &a, 8);
    memcpy(b + 8, &z, 8);
    sv_hex(b, 16, out);
}

/* Writes all of len bytes. */
int sv_write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* mkdir -p path. */
int sv_mkdirs(const char *path, sv_err *err)
{
    char buf[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof buf) return sv_err_set(err, SV_EINVAL, "invalid directory '%s'", path);
    memcpy(buf, path, n + 1);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return sv_err_set(err, errno == ENOSPC ? SV_ENOSPC : SV_EIO,
                              "unable to create directory '%s': %s", buf, strerror(errno));
        *p = '/';
    }
    if (mkdir(buf, 0755) != 0 && errno != EEXIST)
        return sv_err_set(err, errno == ENOSPC ? SV_ENOSPC : SV_EIO,
                          "unable to create directory '%s': %s", buf, strerror(errno));
    return 0;
}

/* fsync of a directory so a rename in it is durable. */
int sv_fsync_dir(const char *dir, sv_err *err)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return sv_err_set(err, SV_EIO, "unable to open directory '%s': %s", dir, strerror(errno));
    if (fsync(fd) != 0) {
        int e = errno;
        close(fd);
        return sv_err_set(err, SV_EIO, "unable to fsync directory '%s': %s", dir, strerror(e));
    }
    close(fd);
    return 0;
}

/* "1.5 GiB": IEC units, one decimal; a value that would print as 1024.0
 * takes the next unit ("1.0 MiB", not "1024.0 KiB"). */
const char *sv_human_size(uint64_t n, char *buf, size_t cap)
{
    static const char *u[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)n;
    int i = 0;
    while (i < 4 && v >= (i ? 1023.95 : 1024)) { v /= 1024; i++; }
    if (i == 0) snprintf(buf, cap, "%llu B", (unsigned long long)n);
    else snprintf(buf, cap, "%.1f %s", v, u[i]);
    return buf;
}

/* An absolute form of path (see util.h): as given when it starts with '/',
 * else the working directory joined to it, its "./" steps dropped. */
char *sv_abs_path(const char *path)
{
    char cwd[4096];
    if (!path) return NULL;
    if (path[0] == '/') return strdup(path);
    if (!getcwd(cwd, sizeof cwd)) return strdup(path);
    while (path[0] == '.' && path[1] == '/') {
        path += 2;
        while (*path == '/') path++;
    }
    if (!*path || (path[0] == '.' && !path[1])) return strdup(cwd);
    return sv_asprintf("%s%s%s", cwd, strcmp(cwd, "/") ? "/" : "", path);
}

/* strdup that tolerates NULL. */
char *sv_strdup(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* Heap-allocated printf. */
char *sv_asprintf(const char *fmt, ...)
{
    va_list ap;
    char *out = NULL;
    va_start(ap, fmt);
    if (vasprintf(&out, fmt, ap) < 0) out = NULL;
    va_end(ap);
    return out;
}

/* True when s is well-formed UTF-8 (see util.h). */
bool sv_utf8_valid(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned c = *p, len, cp, min;
        if (c < 0x80) {
            p++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF) len = 2, cp = c & 0x1F, min = 0x80;
        else if (c >= 0xE0 && c <= 0xEF) len = 3, cp = c & 0x0F, min = 0x800;
        else if (c >= 0xF0 && c <= 0xF4) len = 4, cp = c & 0x07, min = 0x10000;
        else return false;
        for (unsigned k = 1; k < len; k++) {
            if ((p[k] & 0xC0) != 0x80) return false; /* also stops at the NUL */
            cp = (cp << 6) | (p[k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
        p += len;
    }
    return true;
}
