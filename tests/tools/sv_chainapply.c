/* sv_chainapply -- a test tool: rebuilds a database from a full's plain
 * database file and the page streams of its incrementals (zstd objects, not
 * encrypted), with chain_apply, and prints the result's state checksum.
 * Lets the backup side's tests check every point of a chain without the
 * restore command.
 *
 *   sv_chainapply OUT.db BASE.db [LINK.zst ...]   -> prints sha256:... (the stateChecksum)
 *   sv_chainapply --sum DB PAGE_SIZE              -> prints DB's stateChecksum */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zstd.h>
#include "chain.h"

/* Copies src to dst. */
static int copy_file(const char *src, const char *dst)
{
    char buf[65536];
    ssize_t n;
    int in = open(src, O_RDONLY), out = open(dst, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (in < 0 || out < 0) return -1;
    while ((n = read(in, buf, sizeof buf)) > 0)
        if (write(out, buf, (size_t)n) != n) return -1;
    close(in);
    close(out);
    return n < 0 ? -1 : 0;
}

/* The page size in a SQLite header (bytes 16-17; 1 means 65536). */
static uint32_t page_size_of(int fd)
{
    unsigned char h[2];
    if (pread(fd, h, 2, 16) != 2) return 0;
    uint32_t ps = (uint32_t)h[0] << 8 | h[1];
    return ps == 1 ? 65536 : ps;
}

/* Decompresses one link and applies it to fd. */
static int apply_link(int fd, const char *path)
{
    FILE *f = fopen(path, "rb");
    ZSTD_DCtx *z = ZSTD_createDCtx();
    size_t inCap = ZSTD_DStreamInSize(), outCap = ZSTD_DStreamOutSize(), r = 1;
    unsigned char *in = malloc(inCap), *out = malloc(outCap);
    chain_applier *a = NULL;
    sv_err e;
    uint64_t pc = 0, pw = 0;
    int rc = -1;
    if (!f || !z || !in || !out) {
        fprintf(stderr, "sv_chainapply: cannot open %s\n", path);
        goto done;
    }
    if (chain_apply_new(fd, page_size_of(fd), 1ULL << 40, &a, &e) != 0) goto fail;
    for (;;) {
        size_t n = fread(in, 1, inCap, f);
        if (n == 0) break;
        ZSTD_inBuffer ib = {in, n, 0};
        while (ib.pos < ib.size) {
            ZSTD_outBuffer ob = {out, outCap, 0};
            r = ZSTD_decompressStream(z, &ob, &ib);
            if (ZSTD_isError(r)) {
                fprintf(stderr, "sv_chainapply: %s: zstd: %s\n", path, ZSTD_getErrorName(r));
                goto done;
            }
            if (chain_apply_feed(a, out, ob.pos, &e) != 0) goto fail;
        }
    }
    if (r != 0) {
        fprintf(stderr, "sv_chainapply: %s: truncated zstd frame\n", path);
        goto done;
    }
    if (chain_apply_finish(a, &pc, &pw, &e) != 0) goto fail;
    fprintf(stderr, "sv_chainapply: %s: %llu pages written, %llu pages\n", path, (unsigned long long)pw,
            (unsigned long long)pc);
    rc = 0;
    goto done;
fail:
    fprintf(stderr, "sv_chainapply: %s: %s\n", path, e.msg);
done:
    chain_apply_free(a);
    if (f) fclose(f);
    ZSTD_freeDCtx(z);
    free(in);
    free(out);
    return rc;
}

int main(int argc, char **argv)
{
    char sum[72];
    sv_err e;
    int fd;
    if (argc == 4 && strcmp(argv[1], "--sum") == 0) {
        fd = open(argv[2], O_RDONLY);
        if (fd < 0 || chain_state_sum_fd(fd, (uint32_t)atoi(argv[3]), sum, &e) != 0) return 1;
        printf("%s\n", sum);
        return 0;
    }
    if (argc < 3) {
        fprintf(stderr, "usage: sv_chainapply OUT.db BASE.db [LINK.zst ...] | --sum DB PAGE_SIZE\n");
        return 2;
    }
    if (copy_file(argv[2], argv[1]) != 0) {
        fprintf(stderr, "sv_chainapply: cannot copy %s to %s\n", argv[2], argv[1]);
        return 1;
    }
    fd = open(argv[1], O_RDWR);
    if (fd < 0) return 1;
    for (int i = 3; i < argc; i++)
        if (apply_link(fd, argv[i]) != 0) return 1;
    if (chain_state_sum_fd(fd, page_size_of(fd), sum, &e) != 0) {
        fprintf(stderr, "sv_chainapply: %s\n", e.msg);
        return 1;
    }
    close(fd);
    printf("%s\n", sum);
    return 0;
}
