/* test_seek.c -- page-addressable objects (seek.h): the writer's frames,
 * index and seek table round-trip through zstd and the parser; every page
 * is found where the index says; hostile indexes are refused. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>
#include "fixture.h"
#include "seek.h"
#include "testlib.h"

typedef struct grow {
    unsigned char *b;
    size_t n, cap;
} grow;

static int sink(void *ud, const void *d, size_t n, sv_err *err)
{
    grow *g = ud;
    (void)err;
    if (g->n + n > g->cap) {
        g->cap = (g->n + n) * 2;
        g->b = realloc(g->b, g->cap);
    }
    memcpy(g->b + g->n, d, n);
    g->n += n;
    return 0;
}

static int64_t jint(json_t *o, const char *k) { return (int64_t)json_integer_value(json_object_get(o, k)); }

/* A file of npages pages (kind 0) written with threads, read back page by page. */
static void test_file(fixture *f, uint32_t ps, uint32_t npages, int threads)
{
    seek_opts o = {.level = 1, .threads = threads, .kind = SEEK_KIND_FILE, .page_size = ps, .tmp_dir = f->dir};
    seek_writer *w = NULL;
    grow g = {0};
    json_t *meta = NULL;
    sv_err e;
    unsigned char *db = malloc((size_t)ps * npages), h[16];
    seek_index ix;
    for (size_t i = 0; i < (size_t)ps * npages; i++) db[i] = (unsigned char)(fx_rand(f) % 7); /* compressible */
    CHECK(seek_writer_new(&o, sink, &g, &w, &e) == 0);
    for (uint32_t p = 0; p < npages; p++) {
        memset(h, (int)(p & 0xff), sizeof h);
        CHECK(seek_page(w, p + 1, h, &e) == 0);
    }
    for (size_t off = 0; off < (size_t)ps * npages;) { /* odd pieces */
        size_t n = 1 + fx_rand(f) % 300000;
        if (n > (size_t)ps * npages - off) n = (size_t)ps * npages - off;
        CHECK(seek_write(w, db + off, n, &e) == 0);
        off += n;
    }
    CHECK(seek_writer_finish(w, npages, &meta, &e) == 0);
    seek_writer_free(w);
    CHECK(meta != NULL);
    /* any zstd decoder gives the whole file back */
    {
        size_t cap = (size_t)ps * npages + 1;
        unsigned char *out = malloc(cap);
        ZSTD_DCtx *z = ZSTD_createDCtx();
        ZSTD_inBuffer in = {g.b, g.n, 0};
        ZSTD_outBuffer ob = {out, cap, 0};
        size_t r = 1;
        while (in.pos < in.size && !ZSTD_isError(r)) r = ZSTD_decompressStream(z, &ob, &in);
        CHECK(!ZSTD_isError(r));
        CHECK_INT(ob.pos, (size_t)ps * npages);
        CHECK(memcmp(out, db, ob.pos) == 0);
        ZSTD_freeDCtx(z);
        free(out);
    }
    /* the seek table's footer */
    CHECK(g.n > 9 && g.b[g.n - 4] == 0xB1 && g.b[g.n - 3] == 0xEA && g.b[g.n - 2] == 0x92 && g.b[g.n - 1] == 0x8F);
    {
        uint64_t io = (uint64_t)jint(meta, "indexOffset"), is = (uint64_t)jint(meta, "indexSize");
        CHECK_INT(jint(meta, "hashesSize"), (int64_t)npages * SEEK_HASH_LEN);
        CHECK(seek_index_parse(g.b + io, (size_t)is, io, &ix, &e) == 0);
        CHECK_INT(ix.records, npages);
        CHECK_INT(ix.frames, jint(meta, "frames"));
        for (uint32_t p = 1; p <= npages; p += 1 + (uint32_t)(fx_rand(f) % 37)) {
            uint32_t fr, off;
            unsigned char *out = malloc(SEEK_FRAME_SIZE + 64);
            int64_t r = seek_index_find(&ix, p);
            CHECK(r == (int64_t)p - 1);
            CHECK(seek_index_locate(&ix, (uint32_t)r, &fr, &off, &e) == 0);
            CHECK_INT(ZSTD_decompress(out, SEEK_FRAME_SIZE + 64, g.b + ix.frame[fr].offset, ix.frame[fr].csize),
                      ix.frame[fr].dsize);
            CHECK(memcmp(out + off, db + (size_t)(p - 1) * ps, ps) == 0);
            /* the hash prefix of page p */
            CHECK(g.b[jint(meta, "hashesOffset") + (int64_t)(p - 1) * SEEK_HASH_LEN] == (unsigned char)((p - 1) & 0xff));
            free(out);
        }
        /* hostile: every truncation, and flipped counts, are refused */
        for (size_t cut = 0; cut < is; cut += 1 + is / 9) {
            seek_index bad;
            CHECK(seek_index_parse(g.b + io, cut, io, &bad, &e) != 0);
            CHECK_INT(e.code, SV_ECORRUPT);
        }
        {
            unsigned char *copy = malloc(is);
            seek_index bad;
            memcpy(copy, g.b + io, is);
            copy[28] ^= 1; /* records */
            CHECK(seek_index_parse(copy, is, io, &bad, &e) != 0);
            memcpy(copy, g.b + io, is);
            CHECK(seek_index_parse(copy, is, io + 1, &bad, &e) != 0); /* frames do not reach the index */
            memcpy(copy, g.b + io, is);
            copy[SEEK_INDEX_HEAD + 4] ^= 0x40; /* first frame's size */
            CHECK(seek_index_parse(copy, is, io, &bad, &e) != 0);
            free(copy);
        }
        seek_index_free(&ix);
    }
    json_decref(meta);
    free(g.b);
    free(db);
}

/* A page stream (kind 1): a header, records, the trailer; records never straddle frames. */
static void test_stream(fixture *f)
{
    const uint32_t ps = 4096, n = 1500;
    seek_opts o = {.level = 1, .threads = 2, .kind = SEEK_KIND_STREAM, .page_size = ps, .head_len = 24,
                   .tmp_dir = f->dir};
    seek_writer *w = NULL;
    grow g = {0};
    json_t *meta = NULL;
    sv_err e;
    unsigned char hdr[24] = "SVPAGES1", rec[4 + 4096], h[16] = {0};
    seek_index ix;
    CHECK(seek_writer_new(&o, sink, &g, &w, &e) == 0);
    CHECK(seek_write(w, hdr, sizeof hdr, &e) == 0);
    for (uint32_t i = 0; i < n; i++) {
        uint32_t pg = 3 + i * 2;
        rec[0] = (unsigned char)pg, rec[1] = (unsigned char)(pg >> 8), rec[2] = 0, rec[3] = 0;
        memset(rec + 4, (int)(pg % 251), ps);
        CHECK(seek_write(w, rec, sizeof rec, &e) == 0);
        CHECK(seek_page(w, pg, h, &e) == 0);
    }
    CHECK(seek_write(w, "SVPEND\0\0", 8, &e) == 0);
    CHECK(seek_writer_finish(w, 3 + n * 2, &meta, &e) == 0);
    seek_writer_free(w);
    {
        uint64_t io = (uint64_t)jint(meta, "indexOffset"), is = (uint64_t)jint(meta, "indexSize");
        CHECK(seek_index_parse(g.b + io, (size_t)is, io, &ix, &e) == 0);
        CHECK(ix.frames > 2);
        CHECK(seek_index_find(&ix, 4) < 0);
        CHECK(seek_index_find(&ix, 2) < 0);
        for (uint32_t i = 0; i < n; i += 97) {
            uint32_t pg = 3 + i * 2, fr, off;
            unsigned char *out = malloc(SEEK_FRAME_SIZE + 64);
            int64_t r = seek_index_find(&ix, pg);
            CHECK(r == (int64_t)i);
            CHECK(seek_index_locate(&ix, (uint32_t)r, &fr, &off, &e) == 0);
            CHECK_INT(ZSTD_decompress(out, SEEK_FRAME_SIZE + 64, g.b + ix.frame[fr].offset, ix.frame[fr].csize),
                      ix.frame[fr].dsize);
            CHECK(out[off - 4] == (unsigned char)pg && out[off] == (unsigned char)(pg % 251));
            free(out);
        }
        seek_index_free(&ix);
    }
    json_decref(meta);
    free(g.b);
}

int main(void)
{
    fixture f;
    fx_init(&f, "test_seek", 1764536400000LL);
    test_file(&f, 4096, 1, 0);       /* one page, one frame */
    test_file(&f, 4096, 2000, 2);    /* several frames, threads */
    test_file(&f, 65536, 70, 3);     /* big pages */
    test_file(&f, 512, 4100, 0);     /* a frame boundary inside no page */
    test_stream(&f);
    fx_done(&f);
    TEST_DONE();
}
