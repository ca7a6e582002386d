/* sv_s3tool.c -- drives a store through the store interface from the shell,
 * so the S3 driver can be tested on its own (tests/it/s3_*.sh).
 *
 * Configuration comes from the environment and flags, as for sqlvault
 * (SQLVAULT_STORE, SQLVAULT_S3_ENDPOINT, AWS_*, --part-size, ...). Commands:
 *
 *   put KEY FILE [--if-none-match]   small PUT of FILE's content
 *   write KEY FILE [CHUNK]           streamed writer (multipart past one part)
 *   get KEY FILE [OFFSET]            streamed GET into FILE ("-" = stdout)
 *   get-range KEY OFFSET LEN [FILE [REPEAT]]
 *                                    store_get_range into FILE (default stdout);
 *                                    with REPEAT, that many range GETs one after
 *                                    the other on the same store (the bytes of
 *                                    the first are written), and their wall times
 *                                    on stderr: "range gets: N median_us ..."
 *   stat KEY                         "size mtime_ms etag"
 *   list PREFIX [DELIM]              one key a line ("P key" for prefixes)
 *   put-many PREFIX N                N tiny objects PREFIX00000..
 *   delete-prefix PREFIX             delete_many of every key under PREFIX
 *   presign METHOD KEY TTL [DISPOSITION]
 *   uploads PREFIX                   unfinished multipart uploads
 *   abort-upload KEY UPLOAD_ID
 *   ping
 *
 * On failure: "error: CODE: message" (and the hint) on stderr, exit code per
 * sv_err_exit_code. Never prints a secret: it only prints what the driver
 * puts in messages, which is what the tests check. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "config.h"
#include "err.h"
#include "store.h"
#include "util.h"

/* Prints an error the way the CLI would, and returns its exit code. */
static int report(const sv_err *e)
{
    fprintf(stderr, "error: %s: %s\n", sv_code_name(e->code), e->msg);
    if (e->hint[0])
        fprintf(stderr, "HINT: %s\n", e->hint);
    return sv_err_exit_code(e);
}

/* Sink of get: writes to a FILE. */
static int file_sink(void *ud, const void *data, size_t len, sv_err *err)
{
    if (fwrite(data, 1, len, ud) != len)
        return sv_err_set(err, SV_EIO, "writing the output file");
    return 0;
}

/* Sink of the repeated range GETs: counts bytes. */
static int count_sink(void *ud, const void *data, size_t len, sv_err *err)
{
    (void)data;
    (void)err;
    *(uint64_t *)ud += len;
    return 0;
}

/* Parses a decimal uint64 argument; false when it is not one. */
static bool parse_u64(const char *s, uint64_t *out)
{
    char *end = NULL;
    if (!s || !*s || *s == '-')
        return false;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end)
        return false;
    *out = v;
    return true;
}

/* qsort order of int64_t. */
static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* get-range: one range GET into f, then repeat - 1 more timed ones. */
static int get_range_cmd(store_t *st, const char *key, uint64_t off, uint64_t len, FILE *f,
                         uint64_t repeat, sv_err *err)
{
    int64_t *us = calloc(repeat ? repeat : 1, sizeof *us);
    int rc = -1;
    if (!us)
        return sv_err_set(err, SV_ENOMEM, "out of memory");
    for (uint64_t i = 0; i < (repeat ? repeat : 1); i++) {
        uint64_t got = 0;
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        int r = i == 0 ? store_get_range(st, key, off, len, file_sink, f, err)
                       : store_get_range(st, key, off, len, count_sink, &got, err);
        clock_gettime(CLOCK_MONOTONIC, &b);
        if (r != 0)
            goto done;
        if (i > 0 && got != len) {
            sv_err_set(err, SV_EINTERNAL, "range GET %llu delivered %llu bytes, not %llu",
                       (unsigned long long)i, (unsigned long long)got, (unsigned long long)len);
            goto done;
        }
        us[i] = (int64_t)(b.tv_sec - a.tv_sec) * 1000000 + (b.tv_nsec - a.tv_nsec) / 1000;
    }
    if (repeat) {
        qsort(us, repeat, sizeof *us, cmp_i64);
        fprintf(stderr, "range gets: %llu median_us %lld p90_us %lld min_us %lld max_us %lld\n",
                (unsigned long long)repeat, (long long)us[(repeat - 1) / 2],
                (long long)us[(repeat * 9 + 9) / 10 - 1], (long long)us[0], (long long)us[repeat - 1]);
    }
    rc = 0;
done:
    free(us);
    return rc;
}

/* Collects keys for delete-prefix. */
typedef struct keyvec {
    char **k;
    size_t n, cap;
} keyvec;

/* list callback of delete-prefix. */
static int collect(void *ud, const store_entry *e, sv_err *err)
{
    keyvec *v = ud;
    if (v->n == v->cap) {
        v->cap = v->cap ? v->cap * 2 : 256;
        v->k = realloc(v->k, v->cap * sizeof *v->k);
        if (!v->k)
            return sv_err_set(err, SV_ENOMEM, "out of memory");
    }
    v->k[v->n++] = sv_strdup(e->key);
    return 0;
}

/* list callback: prints one entry. */
static int print_entry(void *ud, const store_entry *e, sv_err *err)
{
    (void)ud;
    (void)err;
    if (e->is_prefix)
        printf("P %s\n", e->key);
    else
        printf("%s\n", e->key);
    return 0;
}

/* uploads callback: prints one upload. */
static int print_upload(void *ud, const store_upload *u, sv_err *err)
{
    (void)ud;
    (void)err;
    printf("%s %s %lld\n", u->key, u->upload_id, (long long)u->initiated_ms);
    return 0;
}

/* progress callback of write: counts calls. */
static void on_progress(void *ud, uint64_t bytes)
{
    (void)bytes;
    (*(int *)ud)++;
}

/* Reads a whole (small) file. */
static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return b;
}

/* Entry: parse config, open the store, run one command. */
int main(int argc, char **argv)
{
    sv_config cfg;
    sv_err err = {0};
    store_t *st = NULL;
    int rc = 1;
    if (config_load(&cfg, &argc, argv, &err) != 0)
        return report(&err);
    if (argc < 2) {
        fprintf(stderr, "usage: sv_s3tool CMD ARGS... (see the source)\n");
        config_free(&cfg);
        return 2;
    }
    if (store_open(&cfg, sv_clock_system(), &st, &err) != 0) {
        rc = report(&err);
        goto done;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "put") == 0 && argc >= 4) {
        size_t len = 0;
        char *data = slurp(argv[3], &len);
        if (!data) {
            fprintf(stderr, "cannot read %s\n", argv[3]);
            goto done;
        }
        store_put_opts o = {.if_none_match = argc > 4 && strcmp(argv[4], "--if-none-match") == 0};
        int r = store_put(st, argv[2], data, len, &o, &err);
        free(data);
        if (r != 0)
            goto fail;
    } else if (strcmp(cmd, "write") == 0 && argc >= 4) {
        size_t chunk = argc > 4 ? strtoull(argv[4], NULL, 10) : (1u << 20);
        FILE *f = strcmp(argv[3], "-") == 0 ? stdin : fopen(argv[3], "rb");
        if (!f || !chunk) {
            fprintf(stderr, "cannot read %s\n", argv[3]);
            goto done;
        }
        char *buf = malloc(chunk);
        store_writer_t *w = NULL;
        int progress = 0;
        store_writer_opts o = {.content_type = "application/zstd", .on_progress = on_progress,
                               .progress_ud = &progress};
        if (store_writer_open(st, argv[2], &o, &w, &err) != 0) {
            free(buf);
            goto fail;
        }
        size_t n;
        while ((n = fread(buf, 1, chunk, f)) > 0) {
            if (store_writer_write(st, w, buf, n, &err) != 0) {
                store_writer_abort(st, w);
                free(buf);
                goto fail;
            }
        }
        free(buf);
        if (f != stdin)
            fclose(f);
        if (store_writer_commit(st, w, &err) != 0)
            goto fail;
        fprintf(stderr, "progress calls: %d\n", progress);
    } else if (strcmp(cmd, "get") == 0 && argc >= 4) {
        FILE *f = strcmp(argv[3], "-") == 0 ? stdout : fopen(argv[3], "wb");
        uint64_t off = argc > 4 ? strtoull(argv[4], NULL, 10) : 0;
        if (!f)
            goto done;
        int r = store_get(st, argv[2], off, file_sink, f, &err);
        if (f != stdout)
            fclose(f);
        if (r != 0)
            goto fail;
    } else if (strcmp(cmd, "get-range") == 0 && argc >= 5) {
        uint64_t off = 0, len = 0, repeat = 0;
        if (!parse_u64(argv[3], &off) || !parse_u64(argv[4], &len) ||
            (argc > 6 && (!parse_u64(argv[6], &repeat) || repeat == 0))) {
            fprintf(stderr, "get-range: OFFSET, LEN and REPEAT are decimal numbers (REPEAT > 0)\n");
            rc = 2;
            goto done;
        }
        FILE *f = argc <= 5 || strcmp(argv[5], "-") == 0 ? stdout : fopen(argv[5], "wb");
        if (!f) {
            fprintf(stderr, "cannot write %s\n", argv[5]);
            goto done;
        }
        int r = get_range_cmd(st, argv[2], off, len, f, repeat, &err);
        if (f != stdout)
            fclose(f);
        if (r != 0)
            goto fail;
    } else if (strcmp(cmd, "stat") == 0 && argc >= 3) {
        store_stat s;
        if (store_stat_key(st, argv[2], &s, &err) != 0)
            goto fail;
        printf("%llu %lld %s\n", (unsigned long long)s.size, (long long)s.mtime_ms, s.etag);
    } else if (strcmp(cmd, "list") == 0 && argc >= 3) {
        if (store_list(st, argv[2], argc > 3 ? argv[3] : NULL, print_entry, NULL, &err) != 0)
            goto fail;
    } else if (strcmp(cmd, "put-many") == 0 && argc >= 4) {
        int n = atoi(argv[3]);
        for (int i = 0; i < n; i++) {
            char key[512];
            snprintf(key, sizeof key, "%s%05d", argv[2], i);
            if (store_put(st, key, key, strlen(key), NULL, &err) != 0)
                goto fail;
        }
    } else if (strcmp(cmd, "delete-prefix") == 0 && argc >= 3) {
        keyvec v = {0};
        int r = store_list(st, argv[2], NULL, collect, &v, &err);
        if (r == 0)
            r = store_delete_many(st, (const char *const *)v.k, v.n, &err);
        if (r == 0)
            printf("%zu deleted\n", v.n);
        for (size_t i = 0; i < v.n; i++)
            free(v.k[i]);
        free(v.k);
        if (r != 0)
            goto fail;
    } else if (strcmp(cmd, "presign") == 0 && argc >= 5) {
        char *url = NULL;
        if (store_presign(st, argv[2], argv[3], atoll(argv[4]), argc > 5 ? argv[5] : NULL, &url,
                          &err) != 0)
            goto fail;
        printf("%s\n", url);
        free(url);
    } else if (strcmp(cmd, "uploads") == 0 && argc >= 3) {
        if (store_list_uploads(st, argv[2], print_upload, NULL, &err) != 0)
            goto fail;
    } else if (strcmp(cmd, "abort-upload") == 0 && argc >= 4) {
        if (store_abort_upload(st, argv[2], argv[3], &err) != 0)
            goto fail;
    } else if (strcmp(cmd, "ping") == 0) {
        if (store_ping(st, &err) != 0)
            goto fail;
        printf("ok\n");
    } else {
        fprintf(stderr, "unknown command or missing arguments: %s\n", cmd);
        rc = 2;
        goto done;
    }
    rc = 0;
    goto done;
fail:
    rc = report(&err);
done:
    store_free(st);
    config_free(&cfg);
    return rc;
}
