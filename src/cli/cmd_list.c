/* cmd_list.c -- `sqlvault list WS [--json]`: committed backups, newest first,
 * with whether and when each was verified, and the chain each one is in:
 * full or incremental, its parent (from the listing: the object
 * pages-PARENT.zst), its base and chain length (from the metadata.json that
 * list reads anyway). Reads the store directly. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "catalog.h"
#include "restore.h"
#include "cli.h"
#include "util.h"

/* sqlvault list WS [--json] */
int cmd_list(sv_config *cfg, int argc, char **argv)
{
    const char *ws = NULL;
    bool as_json = false;
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
        rc = cli_fail(&err);
        goto done;
    }
    arr = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *meta = NULL, *ver = NULL, *o;
        if (!v[i].committed) continue;
        if (catalog_read_meta(s, ws, v[i].ts, &meta, &err) != 0) {
            /* A marker we cannot read is shown, not hidden. */
            o = json_pack("{s:s, s:s}", "ts", v[i].ts, "error", err.msg);
            json_array_append_new(arr, o);
            sv_err_clear(&err);
            continue;
        }
        if (v[i].verified) catalog_read_verify(s, ws, v[i].ts, &ver, &err);
        o = json_pack("{s:s, s:O?, s:O?, s:O?, s:O?, s:O?, s:O?}", "ts", v[i].ts, "timestamp",
                      json_object_get(meta, "timestamp"), "backupType", json_object_get(meta, "backupType"),
                      "databaseSize", json_object_get(meta, "databaseSize"), "compressedSize",
                      json_object_get(meta, "compressedSize"), "checksum", json_object_get(meta, "checksum"),
                      "reason", json_object_get(meta, "reason"));
        /* encrypted: metadata.json has an "encryption" object (crypto.h); older backups are plain. */
        json_object_set_new(o, "encrypted", json_boolean(json_is_object(json_object_get(meta, "encryption"))));
        /* The chain: a full is its own base (length 0); an incremental names its parent and base. */
        {
            json_t *len = json_object_get(meta, "chainLength"), *base = json_object_get(meta, "base");
            json_object_set_new(o, "incremental", json_boolean(v[i].incremental));
            json_object_set_new(o, "parent", v[i].incremental ? json_string(v[i].parent) : json_null());
            json_object_set_new(o, "base", v[i].incremental ? (json_is_string(base) ? json_incref(base) : json_null())
                                                            : json_string(v[i].ts));
            json_object_set_new(o, "chainLength", json_is_integer(len) ? json_incref(len)
                                                  : v[i].incremental ? json_null() : json_integer(0));
        }
        /* verified: the last restore drill passed; a failed drill shows as verifyOk false. */
        json_object_set_new(o, "verified", json_boolean(ver && json_is_true(json_object_get(ver, "ok"))));
        if (ver) {
            json_object_set(o, "verifiedAt", json_object_get(ver, "verifiedAt"));
            json_object_set_new(o, "verifyOk", json_boolean(json_is_true(json_object_get(ver, "ok"))));
        }
        json_array_append_new(arr, o);
        json_decref(meta);
        json_decref(ver);
    }
    if (as_json) {
        char *s2 = json_dumps(arr, JSON_INDENT(2));
        if (s2) printf("%s\n", s2);
        free(s2);
    } else {
        size_t i;
        json_t *o;
        printf("%-21s  %-11s  %5s  %-21s  %-21s  %12s  %12s  %-9s  %-8s  %s\n", "TIMESTAMP", "TYPE", "CHAIN",
               "PARENT", "BASE", "SIZE", "STORED", "ENCRYPTED", "VERIFIED", "REASON");
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
            printf("%-21s  %-11s  %5s  %-21s  %-21s  %12s  %12s  %-9s  %-8s  %s\n",
                   json_string_value(json_object_get(o, "ts")), json_string_value(json_object_get(o, "backupType")),
                   lens, par ? par : "-", base ? base : "?",
                   sv_human_size((uint64_t)json_integer_value(json_object_get(o, "databaseSize")), sz, sizeof sz),
                   sv_human_size((uint64_t)json_integer_value(json_object_get(o, "compressedSize")), st, sizeof st),
                   json_is_true(json_object_get(o, "encrypted")) ? "yes" : "no",
                   !vok ? "-" : json_is_true(vok) ? "ok" : "FAILED",
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
