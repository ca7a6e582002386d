/* sv_frames.c -- measures what independent zstd frames cost: compresses a
 * file as backups do (level 3, 2 worker threads for big inputs, 2 MiB jobs,
 * checksums on) once as one frame and once per frame size given, and prints
 * each one's compressed bytes and wall time against the single frame's. The
 * frame size of page-addressable backups (issue 25: a range of pages fetched
 * with one range GET and decompressed alone) is chosen from these figures.
 *
 *   sv_frames FILE [FRAME_KIB...]      (default 256 1024 4096 16384)
 *
 * Output is written nowhere (counted only); the file is read once before
 * the runs so that every run finds it in the page cache. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zstd.h>

#define IN_CHUNK (1 << 20)

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Compresses f in frames of frame bytes (0: one frame); *out_bytes gets the
 * compressed total, *frames the frame count. 0 on success. */
static int run(FILE *f, size_t frame, unsigned long long *out_bytes, unsigned long long *frames)
{
    ZSTD_CCtx *z = ZSTD_createCCtx();
    size_t outcap = ZSTD_CStreamOutSize() * 4, in_frame = 0;
    char *in = malloc(IN_CHUNK), *out = malloc(outcap);
    int rc = -1;
    *out_bytes = 0;
    *frames = 0;
    if (!z || !in || !out) goto done;
    ZSTD_CCtx_setParameter(z, ZSTD_c_compressionLevel, 3);
    ZSTD_CCtx_setParameter(z, ZSTD_c_checksumFlag, 1);
    ZSTD_CCtx_setParameter(z, ZSTD_c_nbWorkers, 2);
    ZSTD_CCtx_setParameter(z, ZSTD_c_jobSize, 2 << 20);
    rewind(f);
    for (;;) {
        size_t n = fread(in, 1, IN_CHUNK, f), off = 0;
        while (off < n) {
            size_t take = n - off;
            if (frame && take > frame - in_frame) take = frame - in_frame;
            ZSTD_inBuffer ib = {in + off, take, 0};
            bool end = frame && in_frame + take == frame;
            size_t r;
            do {
                ZSTD_outBuffer ob = {out, outcap, 0};
                r = ZSTD_compressStream2(z, &ob, &ib, end ? ZSTD_e_end : ZSTD_e_continue);
                if (ZSTD_isError(r)) {
                    fprintf(stderr, "zstd: %s\n", ZSTD_getErrorName(r));
                    goto done;
                }
                *out_bytes += ob.pos;
            } while (ib.pos < ib.size || (end && r != 0));
            off += take;
            in_frame += take;
            if (end) {
                (*frames)++;
                in_frame = 0;
            }
        }
        if (n < IN_CHUNK) break;
    }
    {
        size_t r;
        ZSTD_inBuffer ib = {NULL, 0, 0};
        do {
            ZSTD_outBuffer ob = {out, outcap, 0};
            r = ZSTD_compressStream2(z, &ob, &ib, ZSTD_e_end);
            if (ZSTD_isError(r)) goto done;
            *out_bytes += ob.pos;
        } while (r != 0);
        if (in_frame || !*frames) (*frames)++;
    }
    rc = 0;
done:
    ZSTD_freeCCtx(z);
    free(in);
    free(out);
    return rc;
}

int main(int argc, char **argv)
{
    static const long dflt[] = {256, 1024, 4096, 16384};
    unsigned long long b0, n0, b, n;
    double t, t0;
    FILE *f;
    char *buf = malloc(IN_CHUNK);
    if (argc < 2 || !buf) {
        fprintf(stderr, "usage: sv_frames FILE [FRAME_KIB...]\n");
        return 2;
    }
    if (!(f = fopen(argv[1], "rb"))) {
        perror(argv[1]);
        return 1;
    }
    while (fread(buf, 1, IN_CHUNK, f) == IN_CHUNK) {} /* into the page cache */
    free(buf);
    t = now_s();
    if (run(f, 0, &b0, &n0) != 0) return 1;
    t0 = now_s() - t;
    printf("%-12s %14s %8s %9s %8s %8s\n", "FRAME", "BYTES", "FRAMES", "SECONDS", "BYTES×", "TIME×");
    printf("%-12s %14llu %8llu %9.2f %8.4f %8.3f\n", "one frame", b0, n0, t0, 1.0, 1.0);
    for (int i = 2; i < argc + (argc == 2 ? 4 : 0); i++) {
        long kib = argc == 2 ? dflt[i - 2] : atol(argv[i]);
        char label[32];
        if (kib <= 0) continue;
        t = now_s();
        if (run(f, (size_t)kib * 1024, &b, &n) != 0) return 1;
        t = now_s() - t;
        snprintf(label, sizeof label, "%ld KiB", kib);
        printf("%-12s %14llu %8llu %9.2f %8.4f %8.3f\n", label, b, n, t, (double)b / (double)b0, t / t0);
    }
    fclose(f);
    return 0;
}
