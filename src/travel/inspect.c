/* inspect.c -- what a point, the live workspace or an uploaded file holds:
 * tables and row counts, size, pages, and a LiveStore event log's head and
 * newest events (travel.h, travel_inspect). */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sqlerr.h"
#include "travel.h"
#include "travel_vfs.h"
#include "timefmt.h"

#define EVENTS_SHOWN 10

/* Fills err from a failed statement, preferring the point's own read error. */
static int sql_fail(sqlite3 *db, int rc, const char *what, sv_err *err)
{
    const sv_err *ve = travel_vfs_error();
    if ((rc & 0xff) == SQLITE_IOERR && ve->code != SV_OK) {
        *err = *ve;
        return -1;
    }
    return sv_err_set(err, sv_sqlite_classify(rc) == SV_EIO ? SV_ECORRUPT : sv_sqlite_classify(rc), "%s: %s", what,
                      sqlite3_errmsg(db));
}

/* Quotes an identifier for SQL ("name" with "" doubled); heap. */
static char *quote_ident(const char *s)
{
    size_t n = strlen(s), k = 0;
    char *q = malloc(n * 2 + 3);
    if (!q) return NULL;
    q[k++] = '"';
    for (const char *c = s; *c; c++) {
        if (*c == '"') q[k++] = '"';
        q[k++] = *c;
    }
    q[k++] = '"';
    q[k] = '\0';
    return q;
}

int travel_count_tables(sqlite3 *db, const json_t *recorded, json_t **out, sv_err *err)
{
    sqlite3_stmt *st = NULL;
    json_t *arr = json_array();
    int rc;
    *out = NULL;
    if (!arr) return sv_err_set(err, SV_ENOMEM, "out of memory");
    rc = sqlite3_prepare_v2(db,
                            "SELECT name FROM sqlite_schema WHERE type='table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' "
                            "ORDER BY name",
                            -1, &st, NULL);
    if (rc == SQLITE_OK) while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 0);
        json_t *known = recorded ? json_object_get(recorded, name) : NULL;
        int64_t rows = -1;
        if (json_is_integer(known)) {
            rows = (int64_t)json_integer_value(known);
        } else {
            char *q = quote_ident(name), *sql = NULL;
            sqlite3_stmt *c = NULL;
            int r2;
            if (q && (sql = malloc(strlen(q) + 32))) sprintf(sql, "SELECT count(*) FROM %s", q);
            free(q);
            if (!sql) {
                rc = SQLITE_NOMEM;
                break;
            }
            r2 = sqlite3_prepare_v2(db, sql, -1, &c, NULL);
            free(sql);
            if (r2 == SQLITE_OK && (r2 = sqlite3_step(c)) == SQLITE_ROW) rows = sqlite3_column_int64(c, 0), r2 = SQLITE_OK;
            sqlite3_finalize(c);
            if (r2 != SQLITE_OK) {
                sqlite3_finalize(st);
                json_decref(arr);
                return sql_fail(db, r2, "counting rows", err);
            }
        }
        json_array_append_new(arr, json_pack("{s:s, s:I}", "name", name, "rows", (json_int_t)rows));
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        json_decref(arr);
        return sql_fail(db, rc, "reading the schema", err);
    }
    *out = arr;
    return 0;
}

/* The {name: rows} object metadata.json records (backup time), from the array. */
json_t *travel_tables_object(const json_t *arr)
{
    json_t *o = json_object(), *t;
    size_t i;
    if (!o) return NULL;
    json_array_foreach(arr, i, t) json_object_set(o, json_string_value(json_object_get(t, "name")),
                                                  json_object_get(t, "rows"));
    return o;
}

/* True when table has column. */
static bool has_column(sqlite3 *db, const char *table, const char *col)
{
    sqlite3_stmt *st = NULL;
    bool yes = false;
    if (sqlite3_prepare_v2(db, "SELECT 1 FROM pragma_table_info(?1) WHERE name=?2", -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, col, -1, SQLITE_STATIC);
        yes = sqlite3_step(st) == SQLITE_ROW;
    }
    sqlite3_finalize(st);
    return yes;
}

/* A LiveStore event log's head and newest events (LiveStore 0.4's columns,
 * or the plan's seq/created_at), or JSON null when there is no event log. */
int travel_events(sqlite3 *db, json_t **out, sv_err *err)
{
    const char *seq = NULL, *at = NULL;
    char sql[256];
    sqlite3_stmt *st = NULL;
    json_t *ev, *o;
    int rc;
    *out = NULL;
    if (has_column(db, "eventlog", "seqNumGlobal")) seq = "seqNumGlobal";
    else if (has_column(db, "eventlog", "seq")) seq = "seq";
    if (!seq || !has_column(db, "eventlog", "name")) {
        *out = json_null();
        return 0;
    }
    if (has_column(db, "eventlog", "created_at")) at = "created_at";
    snprintf(sql, sizeof sql, "SELECT %s, name, %s FROM eventlog ORDER BY %s DESC LIMIT %d", seq, at ? at : "NULL", seq,
             EVENTS_SHOWN);
    ev = json_array();
    o = json_object();
    if (!ev || !o) {
        json_decref(ev);
        json_decref(o);
        return sv_err_set(err, SV_ENOMEM, "out of memory");
    }
    rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        json_t *e = json_pack("{s:I, s:s}", "seq", (json_int_t)sqlite3_column_int64(st, 0), "name",
                              sqlite3_column_text(st, 1) ? (const char *)sqlite3_column_text(st, 1) : "");
        if (sqlite3_column_type(st, 2) == SQLITE_INTEGER) {
            char iso[SV_ISO_LEN];
            sv_iso_format(sqlite3_column_int64(st, 2), iso);
            json_object_set_new(e, "at", json_string(iso));
        } else {
            json_object_set_new(e, "at", json_null());
        }
        json_array_append_new(ev, e);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        json_decref(ev);
        json_decref(o);
        return sql_fail(db, rc, "reading the event log", err);
    }
    json_object_set_new(o, "head", json_array_size(ev) ? json_incref(json_object_get(json_array_get(ev, 0), "seq"))
                                                       : json_integer(0));
    json_object_set_new(o, "events", ev);
    *out = o;
    return 0;
}

int travel_describe(sqlite3 *db, const json_t *recorded, json_t *out, sv_err *err)
{
    json_t *tables = NULL, *ev = NULL;
    sqlite3_stmt *st = NULL;
    int64_t ps = 0, pc = 0;
    int rc = sqlite3_prepare_v2(db, "SELECT (SELECT page_size FROM pragma_page_size), (SELECT page_count FROM "
                                    "pragma_page_count)",
                                -1, &st, NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        ps = sqlite3_column_int64(st, 0);
        pc = sqlite3_column_int64(st, 1);
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_OK) return sql_fail(db, rc, "reading the database header", err);
    if (travel_count_tables(db, recorded, &tables, err) != 0) return -1;
    if (travel_events(db, &ev, err) != 0) {
        json_decref(tables);
        return -1;
    }
    json_object_set_new(out, "size", json_integer((json_int_t)(ps * pc)));
    json_object_set_new(out, "pageSize", json_integer((json_int_t)ps));
    json_object_set_new(out, "pageCount", json_integer((json_int_t)pc));
    json_object_set_new(out, "tables", tables);
    json_object_set_new(out, "livestore", ev);
    return 0;
}
