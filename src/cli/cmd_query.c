/* cmd_query.c -- `sqlvault query WS [--at TIME|latest] [--file F] [--json] "SQL"`:
 * one read-only statement on a point of the backups, read in place
 * (travel.h): only the pages SQLite asks for are fetched. Rows go to stdout
 * as tab-separated text with a header line (--json: one object with the
 * columns, the rows and what was fetched); a summary goes to stderr. */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "cli.h"
#include "travel.h"
#include "../travel/travel_vfs.h"
#include "util.h"

#define USAGE "usage: sqlvault query WS [--at latest|TIME] [--file eventlog|state] [--json] \"SQL\""
#define QUERY_LIMIT_S 60

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int too_long(void *ud)
{
    return mono_ms() > *(int64_t *)ud;
}

static json_t *column_json(sqlite3_stmt *st, int i)
{
    switch (sqlite3_column_type(st, i)) {
    case SQLITE_INTEGER: return json_integer((json_int_t)sqlite3_column_int64(st, i));
    case SQLITE_FLOAT: return json_real(sqlite3_column_double(st, i));
    case SQLITE_NULL: return json_null();
    case SQLITE_BLOB: {
        const unsigned char *b = sqlite3_column_blob(st, i);
        int n = sqlite3_column_bytes(st, i);
        char *hex = malloc((size_t)n * 2 + 1);
        json_t *v;
        if (!hex) return json_null();
        sv_hex(b, (size_t)n, hex);
        v = json_string(hex);
        free(hex);
        return v;
    }
    default: return json_stringn((const char *)sqlite3_column_text(st, i), (size_t)sqlite3_column_bytes(st, i));
    }
}

/* Prints a text value for the tab-separated form: tabs and newlines escaped. */
static void print_text(const unsigned char *s)
{
    for (; s && *s; s++) {
        if (*s == '\t') fputs("\\t", stdout);
        else if (*s == '\n') fputs("\\n", stdout);
        else if (*s == '\\') fputs("\\\\", stdout);
        else putchar(*s);
    }
}

int cmd_query(sv_config *cfg, int argc, char **argv)
{
    const char *ws = NULL, *at = "latest", *sql = NULL, *file = NULL, *tail = NULL;
    bool as_json = false;
    store_t *s = NULL;
    travel_point *p = NULL;
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    json_t *rows = NULL, *cols = NULL;
    int64_t deadline, limit_ms, t0 = mono_ms();
    uint64_t nrows = 0, req = 0, bytes = 0;
    sv_err err;
    int rc = 1, r;
    sv_err_clear(&err);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf("%s\n", USAGE);
            return 0;
        } else if (strcmp(argv[i], "--json") == 0) as_json = true;
        else if (strcmp(argv[i], "--at") == 0 && i + 1 < argc) at = argv[++i];
        else if (strcmp(argv[i], "--file") == 0 && i + 1 < argc) file = argv[++i];
        else if (!ws && argv[i][0] != '-') ws = argv[i];
        else if (!sql && argv[i][0] != '-') sql = argv[i];
        else {
            fprintf(stderr, "error: unexpected argument '%s'\n%s\n", argv[i], USAGE);
            return 2;
        }
    }
    if (!ws || !sql) {
        fprintf(stderr, "error: query needs a workspace id and one SQL statement\n%s\n", USAGE);
        return 2;
    }
    if (sv_check_workspace(ws, &err) != 0) return cli_fail(&err);
    if (store_open(cfg, sv_clock_system(), &s, &err) != 0) return cli_fail(&err);
    {
        travel_opts o = {.cfg = cfg, .clock = sv_clock_system(), .store = s, .ws = ws, .at = at, .file = file};
        if (travel_open(&o, &p, &err) != 0 || travel_sqlite_open(p, &db, &err) != 0) {
            rc = cli_fail(&err);
            goto done;
        }
    }
    r = sqlite3_prepare_v2(db, sql, -1, &st, &tail);
    if (r != SQLITE_OK || !st) {
        fprintf(stderr, "error: %s\n", r != SQLITE_OK ? sqlite3_errmsg(db) : "the SQL holds no statement");
        rc = r == SQLITE_IOERR_READ || (r & 0xff) == SQLITE_IOERR ? 1 : 2;
        goto done;
    }
    while (tail && (*tail == ' ' || *tail == '\n' || *tail == '\t' || *tail == ';' || *tail == '\r')) tail++;
    if (tail && *tail) {
        fprintf(stderr, "error: query runs one statement; more follows: '%.40s'\n", tail);
        rc = 2;
        goto done;
    }
    if (!sqlite3_stmt_readonly(st)) {
        fprintf(stderr, "error: a backup is read only: the statement would write\n"
                        "HINT: restore the backup (sqlvault restore) to change it\n");
        rc = 2;
        goto done;
    }
    limit_ms = cfg->test_query_limit_ms > 0 ? cfg->test_query_limit_ms : QUERY_LIMIT_S * 1000;
    deadline = t0 + limit_ms;
    sqlite3_progress_handler(db, 10000, too_long, &deadline);
    if (as_json) {
        rows = json_array();
        cols = json_array();
        for (int i = 0; i < sqlite3_column_count(st); i++) json_array_append_new(cols, json_string(sqlite3_column_name(st, i)));
    } else {
        for (int i = 0; i < sqlite3_column_count(st); i++) {
            if (i) putchar('\t');
            print_text((const unsigned char *)sqlite3_column_name(st, i));
        }
        putchar('\n');
    }
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        nrows++;
        if (as_json) {
            json_t *row = json_array();
            for (int i = 0; i < sqlite3_column_count(st); i++) json_array_append_new(row, column_json(st, i));
            json_array_append_new(rows, row);
        } else {
            for (int i = 0; i < sqlite3_column_count(st); i++) {
                if (i) putchar('\t');
                if (sqlite3_column_type(st, i) != SQLITE_NULL) print_text(sqlite3_column_text(st, i));
            }
            putchar('\n');
        }
    }
    if (r != SQLITE_DONE) {
        const sv_err *ve = travel_vfs_error();
        if (r == SQLITE_INTERRUPT)
            fprintf(stderr, "error: the query ran longer than %.3g s: it was stopped\n"
                            "HINT: narrow it (a WHERE on an indexed column, a LIMIT), or restore the backup to run "
                            "it there\n", (double)limit_ms / 1000);
        else if ((r & 0xff) == SQLITE_IOERR && ve->code != SV_OK) {
            rc = cli_fail(ve);
            goto done;
        } else fprintf(stderr, "error: %s\n", sqlite3_errmsg(db));
        goto done;
    }
    if (travel_vfs_error()->code != SV_OK) {
        /* a page that could not be read, which the statement went past (integrity_check reports it as a row) */
        rc = cli_fail(travel_vfs_error());
        goto done;
    }
    travel_counters(p, &req, &bytes);
    if (as_json) {
        json_t *o = json_pack("{s:s, s:s, s:O, s:O, s:{s:I, s:I}}", "workspace", ws, "backup", travel_ts(p), "columns",
                              cols, "rows", rows, "fetched", "requests", (json_int_t)req, "bytes", (json_int_t)bytes);
        char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
        if (text) printf("%s\n", text);
        free(text);
        json_decref(o);
    }
    {
        char sz[32];
        sv_human_size(bytes, sz, sizeof sz);
        fprintf(stderr, "%llu row%s from backup %s (%zu incremental%s after its full), %llu requests, %s fetched, %.2f s\n",
                (unsigned long long)nrows, nrows == 1 ? "" : "s", travel_ts(p), travel_chain_length(p),
                travel_chain_length(p) == 1 ? "" : "s", (unsigned long long)req, sz, (double)(mono_ms() - t0) / 1000);
    }
    rc = 0;
done:
    json_decref(rows);
    json_decref(cols);
    sqlite3_finalize(st);
    sqlite3_close(db);
    travel_close(p);
    store_free(s);
    return rc;
}
