/* validate.c -- is this file a sound SQLite database we may put live?
 *
 * The file may come from anyone with an import URL, so validation is built
 * for an attacker's file (docs/DESIGN.md, "Validating untrusted sources"):
 * cheap checks first (the 100-byte header against the file size), then a
 * hardened read-only open following SQLite's advice for untrusted database
 * files: SQLITE_DBCONFIG_DEFENSIVE, trusted_schema off, no extension loading,
 * triggers and views disabled, no memory mapping, cell size checks, the file
 * opened as immutable (no locks, no -wal/-shm files next to it), and tight
 * sqlite3_limit()s (a value of at most 16 MiB, short SQL, shallow
 * expressions). The schema is read before anything runs: only tables and
 * indexes, at most SCHEMA_MAX entries. Then PRAGMA integrity_check must say
 * "ok" under a progress handler with a deadline that grows with the file's
 * size and stops at once when the job is cancelled, with SQLite's heap
 * capped for the process. Whatever exceeds a bound is refused at once with
 * a non-retryable error naming the bound; the required tables must exist. */
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "internal.h"
#include "restore.h"
#include "sqlerr.h"
#include "util.h"

#define VALUE_MAX SV_SQLITE_VALUE_MAX         /* longest string or blob a check may build */
#define SCHEMA_MAX 10000                      /* schema entries */
#define HEAP_MAX ((sqlite3_int64)40 << 20)    /* SQLite's heap, all connections of the process */
#define DEADLINE_BASE_MS 5000                 /* integrity_check time allowed: base ... */
#define DEADLINE_PER_GIB_MS 120000            /* ... plus this per GiB (about 40x the measured rate: a loaded host or a cold disk must not fail a good restore) */

/* Big-endian readers. */
static uint32_t be16(const unsigned char *p) { return (uint32_t)p[0] << 8 | p[1]; }
static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Decodes and checks the header (see restore.h). */
int restore_check_header(const unsigned char *h, size_t n, uint64_t size, restore_header *out, sv_err *err)
{
    uint32_t ps;
    memset(out, 0, sizeof *out);
    if (n < 100 || size < 100 || memcmp(h, "SQLite format 3", 16) != 0) {
        sv_err_set(err, SV_ECORRUPT, "not a SQLite database (bad header magic)");
        return sv_err_hint(err, "upload a SQLite database file (.db) or a zstd-compressed one (.db.zst)");
    }
    ps = be16(h + 16);
    if (ps == 1) ps = 65536;
    if (ps < 512 || ps > 65536 || (ps & (ps - 1)) != 0)
        return sv_err_set(err, SV_ECORRUPT, "not a valid SQLite database: page size %u is not a power of two in "
                          "512..65536", ps);
    if (h[18] < 1 || h[18] > 2 || h[19] < 1 || h[19] > 2)
        return sv_err_set(err, SV_ECORRUPT, "not a valid SQLite database: unknown file format version %u/%u",
                          h[18], h[19]);
    if (h[21] != 64 || h[22] != 32 || h[23] != 32)
        return sv_err_set(err, SV_ECORRUPT, "not a valid SQLite database: bad payload fractions in the header");
    if (size % ps != 0)
        return sv_err_set(err, SV_ECORRUPT, "not a valid SQLite database: %llu bytes is not a whole number of "
                          "%u-byte pages (truncated?)", (unsigned long long)size, ps);
    out->page_size = ps;
    out->wal = h[18] == 2 || h[19] == 2;
    /* The header's page count is valid only when version-valid-for equals the change counter. */
    if (be32(h + 92) == be32(h + 24) && be32(h + 28) != 0) {
        out->page_count = be32(h + 28);
        if ((uint64_t)out->page_count * ps != size)
            return sv_err_set(err, SV_ECORRUPT, "not a valid SQLite database: the header says %u pages of %u bytes "
                              "but the file is %llu bytes (truncated or padded)", out->page_count, ps,
                              (unsigned long long)size);
    }
    return 0;
}

/* Fills err from a SQLite failure on db. */
int restore_sql_fail(sqlite3 *db, int rc, const char *what, sv_err *err)
{
    sv_code c = sv_sqlite_classify(rc);
    const char *m = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    if ((rc & 0xff) == SQLITE_TOOBIG) {
        sv_err_set(err, SV_ETOOBIG, "refused: %s needs a string or blob over the %d MiB validation limit", what,
                   VALUE_MAX >> 20);
        return sv_err_hint(err, "the file builds oversized values (an expression index or CHECK constraint?)");
    }
    if ((rc & 0xff) == SQLITE_NOMEM) {
        sv_err_set(err, SV_ETOOBIG, "refused: %s needs more than the %lld MiB of memory validation may use", what,
                   (long long)(HEAP_MAX >> 20));
        return sv_err_hint(err, "the file is built to exhaust memory, or far larger than this worker can check");
    }
    if (c == SV_ECORRUPT || c == SV_ENOTFOUND)
        return sv_err_set(err, SV_ECORRUPT, "not a valid SQLite database: %s: %s", what, m);
    return sv_err_set(err, c, "%s: %s", what, m);
}

/* Runs a query returning one integer. */
int restore_query_int(sqlite3 *db, const char *sql, int64_t *out, sv_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            *out = sqlite3_column_int64(st, 0);
            rc = SQLITE_OK;
        }
    }
    sqlite3_finalize(st);
    return rc == SQLITE_OK ? 0 : restore_sql_fail(db, rc, sql, err);
}

/* Opens path with the hardening above: read-only and immutable, or (for
 * the check) read-write with query_only on. The check needs a writable
 * connection: SQLite's integrity_check verifies CHECK constraints only on
 * one, and an attacker's CHECK constraint must be evaluated here, under our
 * bounds, rather than on the server's next write. The file is our private
 * temporary copy, so nobody else sees its locks. */
static int open_hardened(const char *path, bool check, sqlite3 **out, sv_err *err)
{
    sqlite3 *db = NULL;
    char *uri;
    int rc;
    *out = NULL;
    /* immutable: no locking and no -wal/-shm files, the file is ours alone.
     * '?', '#' and '%' in the path would end or escape the URI's path part. */
    size_t cap = strlen(path) * 3 + 32, k = 0;
    uri = malloc(cap);
    if (!uri) return sv_err_set(err, SV_ENOMEM, "out of memory");
    k += (size_t)snprintf(uri, cap, "file:");
    for (const char *c = path; *c; c++) {
        if (*c == '?' || *c == '#' || *c == '%') k += (size_t)snprintf(uri + k, cap - k, "%%%02X", (unsigned char)*c);
        else uri[k++] = *c;
    }
    snprintf(uri + k, cap - k, "%s", check ? "" : "?immutable=1");
    rc = sqlite3_open_v2(uri, &db, (check ? SQLITE_OPEN_READWRITE : SQLITE_OPEN_READONLY) | SQLITE_OPEN_URI |
                         SQLITE_OPEN_NOMUTEX, NULL);
    free(uri);
    if (rc != SQLITE_OK) {
        restore_sql_fail(db, rc, "opening the file", err);
        sqlite3_close(db);
        return -1;
    }
    sv_sqlite_harden(db);
    rc = sqlite3_exec(db,
                      check ? "PRAGMA trusted_schema=OFF; PRAGMA mmap_size=0; PRAGMA cell_size_check=ON;"
                              "PRAGMA cache_size=-8192; PRAGMA query_only=ON;"
                            : "PRAGMA trusted_schema=OFF; PRAGMA mmap_size=0; PRAGMA cell_size_check=ON;"
                              "PRAGMA cache_size=-8192;",
                      NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        restore_sql_fail(db, rc, "opening the file", err);
        sqlite3_close(db);
        return -1;
    }
    *out = db;
    return 0;
}

/* Opens path read-only, immutable, hardened (see internal.h). */
int restore_open_ro(const char *path, sqlite3 **out, sv_err *err)
{
    return open_hardened(path, false, out, err);
}

/* True if a table (or view) called name exists. */
static int has_table(sqlite3 *db, const char *name, bool *yes, sv_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_schema WHERE type='table' AND name=?1", -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
        rc = sqlite3_step(st);
        *yes = rc == SQLITE_ROW;
        if (rc == SQLITE_ROW || rc == SQLITE_DONE) rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_OK ? 0 : restore_sql_fail(db, rc, "reading the schema", err);
}

/* Checks every name of a comma list. */
static int check_required(sqlite3 *db, const char *list, sv_err *err)
{
    char *copy = sv_strdup(list), *save = NULL;
    int rc = 0;
    if (!copy) return sv_err_set(err, SV_ENOMEM, "out of memory");
    for (char *t = strtok_r(copy, ",", &save); t && rc == 0; t = strtok_r(NULL, ",", &save)) {
        bool yes = false;
        while (*t == ' ') t++;
        for (size_t n = strlen(t); n && t[n - 1] == ' '; n--) t[n - 1] = '\0';
        if (!*t) continue;
        if ((rc = has_table(db, t, &yes, err)) != 0) break;
        if (!yes) {
            rc = sv_err_set(err, SV_ECORRUPT, "the database has no table '%s' (required by --require-table)", t);
            sv_err_hint(err, "is this the right file for this workspace?");
        }
    }
    free(copy);
    return rc;
}

/* Runs integrity_check; the first problems go into the message. */
static int integrity(sqlite3 *db, sv_err *err)
{
    sqlite3_stmt *st = NULL;
    char first[320] = "";
    int rc = sqlite3_prepare_v2(db, "PRAGMA integrity_check(5)", -1, &st, NULL), rows = 0;
    bool ok = false;
    if (rc != SQLITE_OK) return restore_sql_fail(db, rc, "integrity_check", err);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *m = (const char *)sqlite3_column_text(st, 0);
        if (rows++ == 0) ok = m && strcmp(m, "ok") == 0;
        /* 3.40 heads the list with "*** in database main ***": report the first real problem. */
        if (m && strncmp(m, "*** in database", 15) == 0) m = strchr(m, '\n') ? strchr(m, '\n') + 1 : NULL;
        if (!first[0] && m && *m) snprintf(first, sizeof first, "%.*s", (int)strcspn(m, "\n"), m);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) return restore_sql_fail(db, rc, "integrity_check", err);
    if (!ok || rows != 1) {
        if (!first[0]) snprintf(first, sizeof first, "?");
        sv_err_set(err, SV_ECORRUPT, "the database fails its integrity check: %s%s", first,
                   rows > 1 ? " (and more)" : "");
        return sv_err_hint(err, "the file is damaged; restore another backup");
    }
    return 0;
}

/* The progress handler's state: a deadline and the job to watch. */
typedef struct guard {
    job_ctx *ctx;
    const sv_clock *clock;
    int64_t deadline;      /* monotonic ms */
    int64_t limit_ms;      /* the time allowed */
    bool late, cancelled;
} guard;

/* SQLite's progress callback: non-zero interrupts the statement. */
static int guard_check(void *ud)
{
    guard *g = ud;
    if (g->ctx && job_cancelled(g->ctx)) return g->cancelled = true;
    if (sv_mono_ms(g->clock) > g->deadline) return g->late = true;
    return 0;
}

/* Caps SQLite's heap for the whole process, once (see HEAP_MAX). A lower
 * limit set by the embedding program is kept. */
static void cap_heap(void)
{
    sqlite3_int64 cur = sqlite3_hard_heap_limit64(-1);
    if (cur == 0 || cur > HEAP_MAX) sqlite3_hard_heap_limit64(HEAP_MAX);
}

/* Only tables and indexes, a bounded number: views and triggers are refused
 * (a LiveStore database has none; a view can nest without bound and a
 * trigger runs code on the next write). Reading sqlite_schema also parses
 * the whole schema under the limits above. */
static int check_schema(sqlite3 *db, sv_err *err)
{
    sqlite3_stmt *st = NULL;
    int64_t n = 0;
    int rc = sqlite3_prepare_v2(db, "SELECT type, name FROM sqlite_schema", -1, &st, NULL);
    if (rc != SQLITE_OK) return restore_sql_fail(db, rc, "reading the schema", err);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *type = (const char *)sqlite3_column_text(st, 0), *name = (const char *)sqlite3_column_text(st, 1);
        if (++n > SCHEMA_MAX) {
            sqlite3_finalize(st);
            return sv_err_set(err, SV_ETOOBIG, "refused: the schema has more than %d entries", SCHEMA_MAX);
        }
        if (type && (strcmp(type, "view") == 0 || strcmp(type, "trigger") == 0)) {
            sv_err_set(err, SV_ECORRUPT, "refused: the database holds a %s ('%.100s'); a restore source may hold "
                       "only tables and indexes", type, name ? name : "");
            sqlite3_finalize(st);
            return sv_err_hint(err, "LiveStore databases have no views or triggers; is this the right file?");
        }
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : restore_sql_fail(db, rc, "reading the schema", err);
}

/* Full validation (see restore.h). */
int restore_validate(const char *path, const char *require_tables, restore_validated *out, sv_err *err)
{
    return restore_validate_ex(NULL, path, require_tables, true, out, err);
}

/* Full validation, bounded by a deadline and the job's cancellation (see restore.h). */
int restore_validate_ex(job_ctx *ctx, const char *path, const char *require_tables, bool check_integrity,
                        restore_validated *out, sv_err *err)
{
    guard g = {.ctx = ctx, .clock = ctx ? ctx->clock : sv_clock_system()};
    unsigned char h[100];
    struct stat sb;
    sqlite3 *db = NULL;
    ssize_t n;
    int fd, rc = -1;

    memset(out, 0, sizeof *out);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return sv_err_set(err, SV_EIO, "unable to open '%s': %s", path, strerror(errno));
    if (fstat(fd, &sb) != 0) {
        close(fd);
        return sv_err_set(err, SV_EIO, "unable to stat '%s': %s", path, strerror(errno));
    }
    n = pread(fd, h, sizeof h, 0);
    close(fd);
    if (restore_check_header(h, n > 0 ? (size_t)n : 0, (uint64_t)sb.st_size, &out->hdr, err) != 0) return -1;
    cap_heap();
    if (open_hardened(path, true, &db, err) != 0) return -1;
    g.limit_ms = DEADLINE_BASE_MS + (int64_t)((double)sb.st_size / (1024.0 * 1024 * 1024) * DEADLINE_PER_GIB_MS);
    g.deadline = sv_mono_ms(g.clock) + g.limit_ms;
    sqlite3_progress_handler(db, 1000, guard_check, &g);
    if (check_schema(db, err) != 0) goto done;
    if (restore_query_int(db, "PRAGMA page_count", &out->page_count, err) != 0) goto done;
    if ((uint64_t)out->page_count * out->hdr.page_size != (uint64_t)sb.st_size) {
        sv_err_set(err, SV_ECORRUPT, "not a valid SQLite database: %lld pages of %u bytes but the file is %llu bytes",
                   (long long)out->page_count, out->hdr.page_size, (unsigned long long)sb.st_size);
        goto done;
    }
    if (restore_query_int(db, "SELECT count(*) FROM sqlite_schema WHERE type='table'", &out->tables, err) != 0) goto done;
    if (check_integrity && integrity(db, err) != 0) goto done;
    out->integrity_skipped = !check_integrity;
    if (require_tables && *require_tables && check_required(db, require_tables, err) != 0) goto done;
    rc = 0;
done:
    if (rc != 0 && g.cancelled) sv_err_set(err, SV_ELEASE, "job cancelled during validation");
    else if (rc != 0 && g.late) {
        sv_err_set(err, SV_ETOOBIG, "refused: validation ran past its %lld s limit for a %llu-byte file",
                   (long long)(g.limit_ms / 1000), (unsigned long long)sb.st_size);
        sv_err_hint(err, "the file is built to make checking slow (expression indexes or CHECK constraints over "
                    "large values?)");
    }
    sqlite3_close(db);
    return rc;
}
