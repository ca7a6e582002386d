/* cmd_list.c -- `sqlvault list WS [--json]`: committed backups, newest first,
 * with whether and when each was verified, and the chain each one is in:
 * full or incremental, its parent (from the listing: the object
 * pages-PARENT.zst), its base and chain length (from the metadata.json that
 * list reads anyway). Reads the store directly. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "catalog.h"
#include "replica.h"
#include "restore.h"
#include "cli.h"
#include "util.h"

/* The row of one committed backup e of ws in store s (new reference). */
static json_t *row_of(store_t *s, const char *ws, const catalog_entry *e)
{
    sv_err err = {0};
    json_t *meta = NULL, *ver = NULL, *o;
    if (catalog_read_meta(s, ws, e->ts, &meta, &err) != 0) {
        /* A marker we cannot read is shown, not hidden. */
        o = json_pack("{s:s, s:s}", "ts", e->ts, "error", err.msg);
        return o;
    }
    if (e->verified) catalog_read_verify(s, ws, e->ts, &ver, &err);
    o = json_pack("{s:s, s:O?, s:O?, s:O?, s:O?, s:O?, s:O?}", "ts", e->ts, "timestamp",
                  json_object_get(meta, "timestamp"), "backupType", json_object_get(meta, "backupType"),
                  "databaseSize", json_object_get(meta, "databaseSize"), "compressedSize",
                  json_object_get(meta, "compressedSize"), "checksum", json_object_get(meta, "checksum"),
                  "reason", json_object_get(meta, "reason"));
    /* encrypted: metadata.json has an "encryption" object (crypto.h); older backups are plain. */
    json_object_set_new(o, "encrypted", json_boolean(json_is_object(json_object_get(meta, "encryption"))));
    /* The chain: a full is its own base (length 0); an incremental names its parent and base. */
    {
        json_t *len = json_object_get(meta, "chainLength"), *base = json_object_get(meta, "base");
        json_object_set_new(o, "incremental", json_boolean(e->incremental));
        json_object_set_new(o, "parent", e->incremental ? json_string(e->parent) : json_null());
        json_object_set_new(o, "base", e->incremental ? (json_is_string(base) ? json_incref(base) : json_null())
                                                        : json_string(e->ts));
        json_object_set_new(o, "chainLength", json_is_integer(len) ? json_incref(len)
                                              : e->incremental ? json_null() : json_integer(0));
    }
    /* verified: the last restore drill passed; a failed drill shows as verifyOk false. */
    json_object_set_new(o, "verified", json_boolean(ver && json_is_true(json_object_get(ver, "ok"))));
    if (ver) {
        json_object_set(o, "verifiedAt", json_object_get(ver, "verifiedAt"));
        json_object_set_new(o, "verifyOk", json_boolean(json_is_true(json_object_get(ver, "ok"))));
    }
    json_decref(meta);
    json_decref(ver);
    return o;
}

/* Newest first, by folder name. */
static int by_ts_desc(const void *x, const void *y)
{
    const char *a = json_string_value(json_object_get(*(json_t *const *)x, "ts"));
    const char *b = json_string_value(json_object_get(*(json_t *const *)y, "ts"));
    return strcmp(b ? b : "", a ? a : "");
}

/* With replica stores: each row's "stores" (where the backup is committed),
 * and rows for backups a replica holds that the primary does not. A replica
 * that cannot be listed is named on stderr; the rows do not claim it. */
static int mark_stores(const sv_config *cfg, const char *ws, json_t **arr, bool primary_ok)
{
    replica_set rs;
    sv_err err = {0};
    size_t i, n;
    json_t *o, **rows;
    if (replica_parse(cfg, &rs, &err) != 0) return cli_fail(&err);
    json_array_foreach(*arr, i, o) json_object_set_new(o, "stores", primary_ok ? json_pack("[s]", "primary") : json_array());
    for (size_t r = 0; r < rs.n; r++) {
        store_t *st = NULL;
        catalog_entry *v = NULL;
        size_t nv = 0;
        if (replica_open(&rs.r[r], sv_clock_system(), &st, &err) != 0 || catalog_list(st, ws, &v, &nv, &err) != 0) {
            fprintf(stderr, "warning: replica %s could not be listed: %s\n", rs.r[r].name, err.msg);
            sv_err_clear(&err);
            store_free(st);
            free(v);
            continue;
        }
        for (size_t k = 0; k < nv; k++) {
            json_t *found = NULL;
            if (!v[k].committed) continue;
            json_array_foreach(*arr, i, o) {
                const char *t = json_string_value(json_object_get(o, "ts"));
                if (t && strcmp(t, v[k].ts) == 0) found = o;
            }
            if (!found) {
                found = row_of(st, ws, &v[k]);
                json_object_set_new(found, "stores", json_array());
                json_array_append_new(*arr, found);
            }
            json_array_append_new(json_object_get(found, "stores"), json_string(rs.r[r].name));
        }
        free(v);
        store_free(st);
    }
    replica_set_free(&rs);
    n = json_array_size(*arr);
    if (!(rows = calloc(n ? n : 1, sizeof *rows))) return 1;
    for (i = 0; i < n; i++) rows[i] = json_incref(json_array_get(*arr, i));
    qsort(rows, n, sizeof *rows, by_ts_desc);
    json_array_clear(*arr);
    for (i = 0; i < n; i++) json_array_append_new(*arr, rows[i]);
    free(rows);
    return 0;
}

/* sqlvault list WS [--json] */
int cmd_list(sv_config *cfg, int argc, char **argv)
{
    const char *ws = NULL;
    bool as_json = false, primary_ok = true;
    store_t *s = NULL;
    catalog_entry *v = NULL;
    size_t n = 0;
    json_t *arr = NULL;
    sv_err err;
    int rc = 1;

    sv_err_clear(&err);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf("usage: sqlvault list WS [--json]\n");
            return 0;
        } else if (strcmp(argv[i], "--json") == 0) as_json = true;
        else if (!ws && argv[i][0] != '-') ws = argv[i];
        else {
            fprintf(stderr, "error: unexpected argument '%s'\nusage: sqlvault list WS [--json]\n", argv[i]);
            return 2;
        }
    }
    if (!ws) {
        fprintf(stderr, "error: list needs a workspace id\nusage: sqlvault list WS [--json]\n");
        return 2;
    }
    if (sv_check_workspace(ws, &err) != 0) return cli_fail(&err);
    if (store_open(cfg, sv_clock_system(), &s, &err) != 0 || catalog_list(s, ws, &v, &n, &err) != 0) {
        if (!cfg->replicas) {
            rc = cli_fail(&err);
            goto done;
        }
        /* the primary is away: the replicas still tell what there is */
        fprintf(stderr, "warning: the primary store could not be listed: %s\n", err.msg);
        sv_err_clear(&err);
        primary_ok = false;
        free(v);
        v = NULL;
        n = 0;
    }
    arr = json_array();
    for (size_t i = 0; i < n; i++)
        if (v[i].committed) json_array_append_new(arr, row_of(s, ws, &v[i]));
    if (cfg->replicas && (rc = mark_stores(cfg, ws, &arr, primary_ok)) != 0) goto done;
    rc = 1;
    if (as_json) {
        char *s2 = json_dumps(arr, JSON_INDENT(2));
        if (s2) printf("%s\n", s2);
        free(s2);
    } else {
        size_t i;
        json_t *o;
        printf("%-21s  %-11s  %5s  %-21s  %-21s  %12s  %12s  %-9s  %-8s  %s%s\n", "TIMESTAMP", "TYPE", "CHAIN",
               "PARENT", "BASE", "SIZE", "STORED", "ENCRYPTED", "VERIFIED", cfg->replicas ? "STORES  " : "", "REASON");
        json_array_foreach(arr, i, o) {
            if (json_object_get(o, "error")) {
                printf("%-21s  unreadable: %s\n", json_string_value(json_object_get(o, "ts")),
                       json_string_value(json_object_get(o, "error")));
                continue;
            }
            json_t *vok = json_object_get(o, "verifyOk"), *len = json_object_get(o, "chainLength");
            const char *par = json_string_value(json_object_get(o, "parent")),
                       *base = json_string_value(json_object_get(o, "base"));
            char lens[24], sz[32], st[32];
            if (json_is_integer(len)) snprintf(lens, sizeof lens, "%lld", (long long)json_integer_value(len));
            else snprintf(lens, sizeof lens, "?");
            char stores[160] = "";
            if (cfg->replicas) {
                size_t k;
                json_t *sn;
                json_array_foreach(json_object_get(o, "stores"), k, sn) {
                    size_t l = strlen(stores);
                    snprintf(stores + l, sizeof stores - l, "%s%s", l ? "," : "", json_string_value(sn));
                }
                if (!stores[0]) snprintf(stores, sizeof stores, "none");
                size_t l = strlen(stores);
                snprintf(stores + l, sizeof stores - l, "  ");
            }
            printf("%-21s  %-11s  %5s  %-21s  %-21s  %12s  %12s  %-9s  %-8s  %s%s\n",
                   json_string_value(json_object_get(o, "ts")), json_string_value(json_object_get(o, "backupType")),
                   lens, par ? par : "-", base ? base : "?",
                   sv_human_size((uint64_t)json_integer_value(json_object_get(o, "databaseSize")), sz, sizeof sz),
                   sv_human_size((uint64_t)json_integer_value(json_object_get(o, "compressedSize")), st, sizeof st),
                   json_is_true(json_object_get(o, "encrypted")) ? "yes" : "no",
                   !vok ? "-" : json_is_true(vok) ? "ok" : "FAILED", stores,
                   json_string_value(json_object_get(o, "reason")) ? json_string_value(json_object_get(o, "reason")) : "");
        }
        if (json_array_size(arr) == 0) fprintf(stderr, "no committed backups of '%s'\n", ws);
        restore_print_kept_aside(cfg, ws, stdout);
    }
    rc = 0;
done:
    json_decref(arr);
    free(v);
    store_free(s);
    return rc;
}
