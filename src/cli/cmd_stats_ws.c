/* cmd_stats_ws.c -- `sqlvault stats --ws WS [--limit N] [--json]`: one
 * workspace's committed backups over time, oldest first -- time, type,
 * database size, stored size, duration, verification -- and the size trend
 * (change from the backup before, growth per day over the span). This is the
 * per-workspace view that /metrics deliberately has no label for. Reads the
 * store (the catalog and each backup's metadata.json), not Redis. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "catalog.h"
#include "cli.h"
#include "clock.h"
#include "util.h"


/* Human-readable bytes ("1.5 MiB") into buf. */
static const char *human(double b, char *buf, size_t cap)
{
    static const char *const u[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int i = 0;
    double a = fabs(b);
    while (a >= 1024 && i < 4) a /= 1024, i++;
    snprintf(buf, cap, i ? "%s%.1f %s" : "%s%.0f %s", b < 0 ? "-" : "", a, u[i]);
    return buf;
}

/* One backup's row from its catalog entry and metadata (new reference). */
static json_t *backup_row(store_t *s, const char *ws, const catalog_entry *e, sv_err *err)
{
    json_t *meta = NULL, *ver = NULL, *o;
    if (catalog_read_meta(s, ws, e->ts, &meta, err) != 0) {
        o = json_pack("{s:s, s:s}", "ts", e->ts, "error", err->msg);
        sv_err_clear(err);
        return o;
    }
    if (e->verified && catalog_read_verify(s, ws, e->ts, &ver, err) != 0) sv_err_clear(err);
    o = json_pack("{s:s, s:O?, s:O?, s:O?, s:O?, s:O?, s:O?}", "ts", e->ts, "timestamp",
                  json_object_get(meta, "timestamp"), "backupType", json_object_get(meta, "backupType"),
                  "databaseSize", json_object_get(meta, "databaseSize"), "compressedSize",
                  json_object_get(meta, "compressedSize"), "durationMs", json_object_get(meta, "durationMs"),
                  "reason", json_object_get(meta, "reason"));
    json_object_set_new(o, "verified", json_boolean(ver && json_is_true(json_object_get(ver, "ok"))));
    if (ver) {
        json_object_set_new(o, "verifyOk", json_boolean(json_is_true(json_object_get(ver, "ok"))));
        json_object_set(o, "verifiedAt", json_object_get(ver, "verifiedAt"));
        json_object_set(o, "verifyDurationMs", json_object_get(ver, "durationMs"));
    }
    json_decref(meta);
    json_decref(ver);
    return o;
}

/* Adds sizeDelta to each row and returns the trend summary (new reference). */
static json_t *trend(json_t *rows)
{
    json_t *first = NULL, *last = NULL, *o, *row, *newest_verified = NULL;
    size_t i, n = 0, verified = 0;
    json_int_t prev = -1, dur_max = 0, stored_after_first = 0;
    double dur_sum = 0;
    json_array_foreach(rows, i, row) {
        json_int_t size;
        if (json_object_get(row, "error")) continue;
        size = json_integer_value(json_object_get(row, "databaseSize"));
        if (prev >= 0) {
            json_object_set_new(row, "sizeDelta", json_integer(size - prev));
            stored_after_first += json_integer_value(json_object_get(row, "compressedSize"));
        }
        prev = size;
        if (!first) first = row;
        last = row;
        n++;
        dur_sum += (double)json_integer_value(json_object_get(row, "durationMs"));
        if (json_integer_value(json_object_get(row, "durationMs")) > dur_max)
            dur_max = json_integer_value(json_object_get(row, "durationMs"));
        if (json_is_true(json_object_get(row, "verified"))) {
            verified++;
            newest_verified = row;
        }
    }
    o = json_pack("{s:I, s:I}", "backups", (json_int_t)n, "verified", (json_int_t)verified);
    if (!n) return o;
    {
        json_int_t s0 = json_integer_value(json_object_get(first, "databaseSize"));
        json_int_t s1 = json_integer_value(json_object_get(last, "databaseSize"));
        json_int_t c1 = json_integer_value(json_object_get(last, "compressedSize"));
        int64_t t0 = 0, t1 = 0;
        double days;
        sv_ts_parse(json_string_value(json_object_get(first, "ts")), &t0);
        sv_ts_parse(json_string_value(json_object_get(last, "ts")), &t1);
        days = (double)(t1 - t0) / 86400000.0;
        json_object_set(o, "first", json_object_get(first, "timestamp"));
        json_object_set(o, "last", json_object_get(last, "timestamp"));
        json_object_set_new(o, "databaseSizeFirst", json_integer(s0));
        json_object_set_new(o, "databaseSizeLast", json_integer(s1));
        json_object_set_new(o, "growthBytes", json_integer(s1 - s0));
        json_object_set_new(o, "growthPercent", json_real(s0 > 0 ? 100.0 * (double)(s1 - s0) / (double)s0 : 0));
        /* Rates only over a day or more: backups seconds apart would give
         * absurd figures. The stored rate is what the store gains a day (every
         * backup after the first, before retention), not the difference of two
         * objects' sizes (a link is far smaller than a full). */
        json_object_set_new(o, "spanDays", json_real(days));
        if (days >= 1) {
            json_object_set_new(o, "bytesPerDay", json_real((double)(s1 - s0) / days));
            json_object_set_new(o, "compressedBytesPerDay", json_real((double)stored_after_first / days));
        } else {
            json_object_set_new(o, "bytesPerDay", json_null());
            json_object_set_new(o, "compressedBytesPerDay", json_null());
        }
        json_object_set_new(o, "compressionRatio", json_real(c1 > 0 ? (double)s1 / (double)c1 : 0));
        json_object_set_new(o, "meanDurationMs", json_integer((json_int_t)(dur_sum / (double)n + 0.5)));
        json_object_set_new(o, "maxDurationMs", json_integer(dur_max));
        if (newest_verified) json_object_set(o, "newestVerified", json_object_get(newest_verified, "timestamp"));
    }
    return o;
}

/* Prints the table and the trend for people. */
static void print_text(const char *ws, json_t *rows, json_t *tr)
{
    size_t i;
    json_t *row;
    json_int_t max = 1;
    char a[32], b[32], c[32];
    json_array_foreach(rows, i, row)
        if (json_integer_value(json_object_get(row, "databaseSize")) > max)
            max = json_integer_value(json_object_get(row, "databaseSize"));
    printf("workspace %s: %lld committed backup(s), oldest first\n\n", ws,
           (long long)json_integer_value(json_object_get(tr, "backups")));
    printf("%-24s  %-11s  %10s  %10s  %10s  %9s  %-8s  %s\n", "TIME", "TYPE", "SIZE", "STORED", "CHANGE",
           "DURATION", "VERIFIED", "SIZE OVER TIME");
    json_array_foreach(rows, i, row) {
        json_t *vok = json_object_get(row, "verifyOk"), *d = json_object_get(row, "sizeDelta");
        json_int_t size = json_integer_value(json_object_get(row, "databaseSize"));
        char bar[32];
        int w = (int)(20.0 * (double)size / (double)max + 0.5);
        if (json_object_get(row, "error")) {
            printf("%-24s  unreadable: %s\n", json_string_value(json_object_get(row, "ts")),
                   json_string_value(json_object_get(row, "error")));
            continue;
        }
        memset(bar, '#', (size_t)w);
        bar[w] = '\0';
        printf("%-24s  %-11s  %10s  %10s  %10s  %8.1fs  %-8s  %s\n",
               json_string_value(json_object_get(row, "timestamp")),
               json_string_value(json_object_get(row, "backupType")), human((double)size, a, sizeof a),
               human((double)json_integer_value(json_object_get(row, "compressedSize")), b, sizeof b),
               d ? human((double)json_integer_value(d), c, sizeof c) : "-",
               (double)json_integer_value(json_object_get(row, "durationMs")) / 1000.0,
               !vok ? "-" : json_is_true(vok) ? "ok" : "FAILED", bar);
    }
    if (json_integer_value(json_object_get(tr, "backups")) == 0) return;
    printf("\ntrend: %s -> %s (%+.1f%%) from %s to %s, ",
           human((double)json_integer_value(json_object_get(tr, "databaseSizeFirst")), a, sizeof a),
           human((double)json_integer_value(json_object_get(tr, "databaseSizeLast")), b, sizeof b),
           json_real_value(json_object_get(tr, "growthPercent")), json_string_value(json_object_get(tr, "first")),
           json_string_value(json_object_get(tr, "last")));
    if (json_is_real(json_object_get(tr, "bytesPerDay")))
        printf("%s/day (the store gains %s/day)", human(json_real_value(json_object_get(tr, "bytesPerDay")), c, sizeof c),
               human(json_real_value(json_object_get(tr, "compressedBytesPerDay")), (char[32]){0}, 32));
    else
        printf("no daily rate (the backups span under a day)");
    printf(", compression %.2fx\n", json_real_value(json_object_get(tr, "compressionRatio")));
    printf("durations: mean %.1fs, max %.1fs; verified: %lld, newest %s\n",
           (double)json_integer_value(json_object_get(tr, "meanDurationMs")) / 1000.0,
           (double)json_integer_value(json_object_get(tr, "maxDurationMs")) / 1000.0,
           (long long)json_integer_value(json_object_get(tr, "verified")),
           json_string_value(json_object_get(tr, "newestVerified")) ? json_string_value(json_object_get(tr, "newestVerified"))
                                                                    : "none");
}

/* sqlvault stats --ws WS [--limit N] [--json]; see the top of the file. */
int cmd_stats_ws(sv_config *cfg, const char *ws, long limit, bool as_json)
{
    store_t *s = NULL;
    catalog_entry *v = NULL;
    size_t n = 0, committed = 0, start;
    json_t *rows = json_array(), *tr = NULL;
    sv_err err;
    int rc = 1;
    sv_err_clear(&err);
    if (sv_check_workspace(ws, &err) != 0) {
        json_decref(rows);
        return cli_fail(&err);
    }
    if (store_open(cfg, sv_clock_system(), &s, &err) != 0 || catalog_list(s, ws, &v, &n, &err) != 0) {
        rc = cli_fail(&err);
        goto done;
    }
    /* catalog_list is newest first: keep the newest `limit` committed ones. */
    for (start = 0; start < n; start++) {
        if (!v[start].committed) continue;
        if ((long)committed == limit) break;
        committed++;
    }
    for (size_t i = start; i-- > 0;) {
        if (!v[i].committed) continue;
        json_array_append_new(rows, backup_row(s, ws, &v[i], &err));
    }
    tr = trend(rows);
    if (as_json) {
        json_t *o = json_pack("{s:s, s:O, s:O}", "workspace", ws, "backups", rows, "trend", tr);
        char *txt = o ? json_dumps(o, JSON_INDENT(2)) : NULL;
        if (txt) printf("%s\n", txt);
        free(txt);
        json_decref(o);
    } else {
        print_text(ws, rows, tr);
        if (committed == 0) fprintf(stderr, "no committed backups of '%s'\n", ws);
    }
    rc = 0;
done:
    json_decref(rows);
    json_decref(tr);
    free(v);
    store_free(s);
    return rc;
}
