/* test_chain.c -- the page stream (chain.h): writer and applier round trips
 * over seeded random page mutations (growth, shrink, pieces of any size down
 * to one byte), every hostile stream the applier must refuse, page hashes in
 * their canonical form and state checksums of a file against the same pages
 * summed one by one. */
#include <xxhash.h>
#include "chain.h"
#include "fixture.h"
#include "util.h"

/* A growing byte buffer: the sink of a writer. */
typedef struct sbuf {
    unsigned char *b;
    size_t n, cap;
} sbuf;

/* chain_sink into an sbuf. */
static int sink(void *ud, const void *d, size_t n, sv_err *err)
{
    sbuf *s = ud;
    if (s->n + n > s->cap) {
        size_t cap = (s->n + n) * 2;
        unsigned char *nb = realloc(s->b, cap);
        if (!nb) return sv_err_set(err, SV_ENOMEM, "out of memory");
        s->b = nb;
        s->cap = cap;
    }
    memcpy(s->b + s->n, d, n);
    s->n += n;
    return 0;
}

/* A sink that fails (the writer passes its error up). */
static int sink_fail(void *ud, const void *d, size_t n, sv_err *err)
{
    (void)ud, (void)d, (void)n;
    return sv_err_set(err, SV_EIO, "sink refused");
}

/* Random bytes. */
static void fill(fixture *f, unsigned char *b, size_t n)
{
    for (size_t i = 0; i < n; i++) b[i] = (unsigned char)fx_rand(f);
}

/* Writes a whole buffer to a fresh file at path; returns its fd (read-write). */
static int make_file(const char *path, const unsigned char *b, size_t n)
{
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    CHECK(fd >= 0);
    if (n) CHECK(pwrite(fd, b, n, 0) == (ssize_t)n);
    return fd;
}

/* The page stream from old (oc pages) to cur (nc pages): changed pages and
 * every page past the old count, as the backup emits it. */
static void diff_stream(const unsigned char *old, uint32_t oc, const unsigned char *cur, uint32_t nc, uint32_t ps,
                        sbuf *out, uint32_t *nrec)
{
    chain_writer *w = NULL;
    sv_err e;
    uint32_t n = 0;
    unsigned char h1[CHAIN_HASH_LEN], h2[CHAIN_HASH_LEN];
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1) CHECK(chain_writer_new(ps, nc, n, sink, out, &w, &e) == 0);
        for (uint32_t pg = 1; pg <= nc; pg++) {
            bool changed = pg > oc;
            if (!changed) {
                chain_page_hash(old + (size_t)(pg - 1) * ps, ps, h1);
                chain_page_hash(cur + (size_t)(pg - 1) * ps, ps, h2);
                changed = memcmp(h1, h2, sizeof h1) != 0;
            }
            if (!changed) continue;
            if (pass == 0) n++;
            else CHECK(chain_writer_page(w, pg, cur + (size_t)(pg - 1) * ps, &e) == 0);
        }
    }
    uint64_t bytes = 0;
    CHECK(chain_writer_finish(w, &bytes, &e) == 0);
    CHECK_INT(bytes, out->n);
    CHECK_INT(bytes, CHAIN_HEADER_LEN + CHAIN_TRAILER_LEN + (uint64_t)n * (4 + ps));
    chain_writer_free(w);
    *nrec = n;
}

/* Feeds a stream to an applier in random pieces (mode 0: random sizes,
 * 1: one byte at a time, 2: all at once). Returns the finish status. */
static int apply(fixture *f, int fd, uint32_t expect, uint64_t max, const unsigned char *s, size_t n, int mode,
                 uint64_t *pc, uint64_t *pw, sv_err *e)
{
    chain_applier *a = NULL;
    int rc = -1;
    size_t off = 0;
    CHECK(chain_apply_new(fd, expect, max, &a, e) == 0);
    while (off < n) {
        size_t take = mode == 1 ? 1 : mode == 2 ? n - off : (size_t)fx_range(f, 1, 9000);
        if (take > n - off) take = n - off;
        if (chain_apply_feed(a, s + off, take, e) != 0) goto done;
        off += take;
    }
    rc = chain_apply_finish(a, pc, pw, e);
done:
    chain_apply_free(a);
    return rc;
}

/* Round trips: random pages, random mutations, growth and shrink. */
static void test_roundtrip(fixture *f)
{
    static const uint32_t sizes[] = {512, 1024, 4096, 65536};
    for (int round = 0; round < 40; round++) {
        uint32_t ps = sizes[fx_range(f, 0, 3)];
        uint32_t oc = (uint32_t)fx_range(f, 0, ps == 65536 ? 12 : 60);
        uint32_t nc = (uint32_t)fx_range(f, 0, 2) == 0 ? (uint32_t)fx_range(f, 0, oc + 10) : oc;
        size_t osz = (size_t)oc * ps, nsz = (size_t)nc * ps;
        unsigned char *old = malloc(osz + 1), *cur = malloc(nsz + 1);
        uint32_t nrec = 0;
        sbuf s = {0};
        sv_err e;
        uint64_t pc = 0, pw = 0;
        int mode = round % 3;
        fill(f, old, osz);
        /* cur: old's pages (up to nc), some rewritten, new pages random. */
        for (uint32_t pg = 0; pg < nc; pg++) {
            unsigned char *dst = cur + (size_t)pg * ps;
            if (pg < oc) memcpy(dst, old + (size_t)pg * ps, ps);
            else fill(f, dst, ps);
            if (pg < oc && fx_range(f, 0, 4) == 0) {
                /* a small change somewhere in the page, or a whole new page */
                if (fx_range(f, 0, 1)) dst[fx_range(f, 0, ps - 1)] ^= (unsigned char)fx_range(f, 1, 255);
                else fill(f, dst, ps);
            }
        }
        diff_stream(old, oc, cur, nc, ps, &s, &nrec);
        const char *path = fx_path(f, "rt.db");
        int fd = make_file(path, old, osz);
        CHECK(apply(f, fd, ps, 1ULL << 40, s.b, s.n, mode, &pc, &pw, &e) == 0);
        CHECK_INT(pc, nc);
        CHECK_INT(pw, nrec);
        {
            size_t got = 0;
            char *data = fx_read(path, &got);
            CHECK_INT(got, nsz);
            CHECK(data && memcmp(data, cur, nsz) == 0);
            free(data);
        }
        /* The state checksum of the result equals the pages summed one by one. */
        {
            char a[72], b[72];
            chain_state_sum *sum = chain_state_sum_new();
            for (uint32_t pg = 0; pg < nc; pg++) chain_state_sum_pages(sum, cur + (size_t)pg * ps, ps, ps);
            chain_state_sum_finish(sum, a);
            CHECK(chain_state_sum_fd(fd, ps, b, &e) == 0);
            CHECK_STR(b, a);
            /* and the hashes folded in directly give the same */
            sum = chain_state_sum_new();
            for (uint32_t pg = 0; pg < nc; pg++) {
                unsigned char h[CHAIN_HASH_LEN];
                chain_page_hash(cur + (size_t)pg * ps, ps, h);
                chain_state_sum_hash(sum, h);
            }
            chain_state_sum_finish(sum, b);
            CHECK_STR(b, a);
        }
        close(fd);
        free(s.b);
        free(old);
        free(cur);
    }
}

/* A larger file than one 1 MiB chunk: chain_state_sum_fd's chunks agree. */
static void test_sum_fd_large(fixture *f)
{
    uint32_t ps = 4096, nc = 700; /* 2.7 MiB */
    size_t n = (size_t)ps * nc;
    unsigned char *b = malloc(n);
    char a[72], c[72];
    sv_err e;
    fill(f, b, n);
    int fd = make_file(fx_path(f, "big.db"), b, n);
    chain_state_sum *s = chain_state_sum_new();
    chain_state_sum_pages(s, b, n, ps); /* all at once: whole pages */
    chain_state_sum_finish(s, a);
    CHECK(chain_state_sum_fd(fd, ps, c, &e) == 0);
    CHECK_STR(c, a);
    CHECK(strncmp(a, "sha256:", 7) == 0 && strlen(a) == 71);
    CHECK(chain_state_sum_fd(fd, 1000, c, &e) != 0 && e.code == SV_EINVAL);
    /* empty file: the sha256 of nothing */
    CHECK(ftruncate(fd, 0) == 0);
    CHECK(chain_state_sum_fd(fd, ps, c, &e) == 0);
    CHECK_STR(c, "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    close(fd);
    free(b);
}

/* The page hash is XXH3-128 in canonical (big-endian) form. */
static void test_hash(fixture *f)
{
    unsigned char page[4096], h[CHAIN_HASH_LEN], want[CHAIN_HASH_LEN];
    fill(f, page, sizeof page);
    XXH128_hash_t x = XXH3_128bits(page, sizeof page);
    for (int i = 0; i < 8; i++) {
        want[i] = (unsigned char)(x.high64 >> (56 - 8 * i));
        want[8 + i] = (unsigned char)(x.low64 >> (56 - 8 * i));
    }
    chain_page_hash(page, sizeof page, h);
    CHECK(memcmp(h, want, sizeof h) == 0);
    page[100] ^= 1;
    chain_page_hash(page, sizeof page, want);
    CHECK(memcmp(h, want, sizeof h) != 0);
    CHECK(chain_page_size_ok(512) && chain_page_size_ok(65536) && chain_page_size_ok(4096));
    CHECK(!chain_page_size_ok(256) && !chain_page_size_ok(131072) && !chain_page_size_ok(1000) &&
          !chain_page_size_ok(0));
}

/* A valid stream to mangle: page size 512, 4 pages, records 1 and 3. */
static void sample(sbuf *s)
{
    chain_writer *w = NULL;
    sv_err e;
    unsigned char page[512];
    memset(page, 'x', sizeof page);
    CHECK(chain_writer_new(512, 4, 2, sink, s, &w, &e) == 0);
    CHECK(chain_writer_page(w, 1, page, &e) == 0);
    CHECK(chain_writer_page(w, 3, page, &e) == 0);
    CHECK(chain_writer_finish(w, NULL, &e) == 0);
    chain_writer_free(w);
}

/* Applies bytes (one byte at a time and all at once) to a file holding 4
 * pages of 'o'; expects failure with code and a message containing what.
 * Every mode must refuse. */
static void refused(fixture *f, const char *label, const unsigned char *b, size_t n, uint32_t expect, uint64_t max,
                    sv_code code, const char *what)
{
    for (int mode = 0; mode < 3; mode++) {
        unsigned char init[2048];
        sv_err e;
        memset(init, 'o', sizeof init);
        memset(&e, 0, sizeof e);
        int fd = make_file(fx_path(f, "h.db"), init, sizeof init);
        int rc = apply(f, fd, expect, max, b, n, mode, NULL, NULL, &e);
        if (rc == 0 || e.code != code || !strstr(e.msg, what))
            fprintf(stderr, "hostile '%s' (mode %d): rc %d code %s msg '%s' (want %s, '%s')\n", label, mode, rc,
                    sv_code_name(e.code), e.msg, sv_code_name(code), what);
        CHECK(rc != 0);
        CHECK_INT(e.code, code);
        CHECK(strstr(e.msg, what) != NULL);
        close(fd);
    }
}

/* Puts a u32 LE at off. */
static void set32(unsigned char *b, size_t off, uint32_t v)
{
    b[off] = (unsigned char)v;
    b[off + 1] = (unsigned char)(v >> 8);
    b[off + 2] = (unsigned char)(v >> 16);
    b[off + 3] = (unsigned char)(v >> 24);
}

/* Every hostile stream the applier refuses, with a clear message. */
static void test_hostile(fixture *f)
{
    sbuf s = {0};
    unsigned char *b;
    size_t rec2 = CHAIN_HEADER_LEN + 4 + 512; /* offset of the second record */
    size_t trailer = CHAIN_HEADER_LEN + 2 * (4 + 512);
    sample(&s);
    CHECK_INT(s.n, trailer + CHAIN_TRAILER_LEN);
    b = malloc(s.n + 16);
    /* the sample itself applies */
    {
        unsigned char init[2048];
        uint64_t pc = 0, pw = 0;
        sv_err e;
        memset(init, 'o', sizeof init);
        int fd = make_file(fx_path(f, "ok.db"), init, sizeof init);
        CHECK(apply(f, fd, 512, 1 << 20, s.b, s.n, 1, &pc, &pw, &e) == 0);
        CHECK_INT(pc, 4);
        CHECK_INT(pw, 2);
        close(fd);
        size_t got = 0;
        char *d = fx_read(fx_path(f, "ok.db"), &got);
        CHECK_INT(got, 2048);
        CHECK(d && d[0] == 'x' && d[511] == 'x' && d[512] == 'o' && d[1024] == 'x' && d[1536] == 'o');
        free(d);
    }
#define MANGLE(stmt)                                                                                                 \
    do {                                                                                                             \
        memcpy(b, s.b, s.n);                                                                                         \
        stmt;                                                                                                        \
    } while (0)
    MANGLE(b[0] = 'X');
    refused(f, "magic", b, s.n, 512, 1 << 20, SV_ECORRUPT, "bad magic");
    MANGLE(set32(b, 8, 1000));
    refused(f, "page size 1000", b, s.n, 0, 1 << 20, SV_ECORRUPT, "not a power of two");
    MANGLE(set32(b, 8, 256));
    refused(f, "page size 256", b, s.n, 0, 1 << 20, SV_ECORRUPT, "not a power of two");
    MANGLE(set32(b, 8, 131072));
    refused(f, "page size 128K", b, s.n, 0, 1ULL << 40, SV_ECORRUPT, "not a power of two");
    MANGLE(set32(b, 8, 0));
    refused(f, "page size 0", b, s.n, 0, 1 << 20, SV_ECORRUPT, "not a power of two");
    refused(f, "page size differs", s.b, s.n, 1024, 1 << 20, SV_ECORRUPT, "differs from the parent");
    refused(f, "too big", s.b, s.n, 512, 2047, SV_ETOOBIG, "exceed");
    MANGLE(set32(b, 12, 0xffffffffu));
    refused(f, "page count huge", b, s.n, 512, 1ULL << 32, SV_ETOOBIG, "exceed");
    MANGLE(set32(b, 16, 5));
    refused(f, "n > page count", b, s.n, 512, 1 << 20, SV_ECORRUPT, "records for a database of 4 pages");
    MANGLE(set32(b, CHAIN_HEADER_LEN, 0));
    refused(f, "pgno 0", b, s.n, 512, 1 << 20, SV_ECORRUPT, "page 0");
    MANGLE(set32(b, rec2, 1));
    refused(f, "pgno repeated", b, s.n, 512, 1 << 20, SV_ECORRUPT, "not strictly ascending");
    MANGLE((set32(b, CHAIN_HEADER_LEN, 3), set32(b, rec2, 2)));
    refused(f, "pgno descending", b, s.n, 512, 1 << 20, SV_ECORRUPT, "not strictly ascending");
    MANGLE(set32(b, rec2, 5));
    refused(f, "pgno > page count", b, s.n, 512, 1 << 20, SV_ECORRUPT, "beyond the page count");
    MANGLE(b[s.n] = 0);
    refused(f, "bytes after trailer", b, s.n + 1, 512, 1 << 20, SV_ECORRUPT, "after the trailer");
    MANGLE(memcpy(b + s.n, s.b, 16));
    refused(f, "a second stream after", b, s.n + 16, 512, 1 << 20, SV_ECORRUPT, "after the trailer");
    refused(f, "missing trailer", s.b, trailer, 512, 1 << 20, SV_ECORRUPT, "missing or short trailer");
    refused(f, "short trailer", s.b, trailer + 5, 512, 1 << 20, SV_ECORRUPT, "missing or short trailer");
    MANGLE(b[trailer + 2] = 'Q');
    refused(f, "bad trailer", b, s.n, 512, 1 << 20, SV_ECORRUPT, "bad trailer");
    MANGLE(set32(b, 16, 1)); /* header says 1 record, there are 2: the second pgno lands in the trailer */
    refused(f, "more records than n", b, s.n, 512, 1 << 20, SV_ECORRUPT, "bad trailer");
    refused(f, "truncated mid page", s.b, rec2 + 100, 512, 1 << 20, SV_ECORRUPT, "truncated after 1 of 2 records");
    refused(f, "truncated mid pgno", s.b, rec2 + 2, 512, 1 << 20, SV_ECORRUPT, "truncated after 1 of 2 records");
    refused(f, "truncated header", s.b, 10, 512, 1 << 20, SV_ECORRUPT, "truncated: 10 of the header");
    refused(f, "empty", s.b, 0, 512, 1 << 20, SV_ECORRUPT, "truncated: 0 of the header");
#undef MANGLE
    /* A feed after a failure is refused too, and finish after a failure. */
    {
        chain_applier *a = NULL;
        sv_err e;
        int fd = make_file(fx_path(f, "x.db"), NULL, 0);
        CHECK(chain_apply_new(fd, 0, 1 << 20, &a, &e) == 0);
        CHECK(chain_apply_feed(a, "NOTMAGIC", 8, &e) == 0); /* magic is checked with the whole header */
        CHECK(chain_apply_feed(a, s.b + 8, 16, &e) != 0);
        CHECK(chain_apply_feed(a, s.b, 1, &e) != 0 && e.code == SV_ECORRUPT);
        CHECK(chain_apply_finish(a, NULL, NULL, &e) != 0 && e.code == SV_ECORRUPT);
        chain_apply_free(a);
        chain_apply_free(NULL);
        close(fd);
    }
    free(b);
    free(s.b);
}

/* The writer refuses what would make a stream the applier refuses. */
static void test_writer_refusals(void)
{
    chain_writer *w = NULL;
    sbuf s = {0};
    sv_err e;
    unsigned char page[512] = {0};
    CHECK(chain_writer_new(1000, 4, 1, sink, &s, &w, &e) != 0 && e.code == SV_EINVAL && !w);
    CHECK(chain_writer_new(512, 2, 3, sink, &s, &w, &e) != 0 && e.code == SV_EINVAL && !w);
    CHECK(chain_writer_new(512, 2, 1, sink_fail, &s, &w, &e) != 0 && e.code == SV_EIO && !w);
    CHECK(chain_writer_new(512, 4, 2, sink, &s, &w, &e) == 0);
    CHECK(chain_writer_page(w, 0, page, &e) != 0);
    CHECK(chain_writer_page(w, 5, page, &e) != 0);
    CHECK(chain_writer_page(w, 2, page, &e) == 0);
    CHECK(chain_writer_page(w, 2, page, &e) != 0);
    CHECK(chain_writer_finish(w, NULL, &e) != 0); /* one of two records */
    CHECK(chain_writer_page(w, 4, page, &e) == 0);
    CHECK(chain_writer_page(w, 3, page, &e) != 0); /* past n anyway */
    CHECK(chain_writer_finish(w, NULL, &e) == 0);
    chain_writer_free(w);
    chain_writer_free(NULL);
    free(s.b);
}

/* pages-PARENT.zst and back. */
static void test_object_name(void)
{
    char name[64], parent[SV_TS_LEN];
    chain_object_name("20261130T211500.123Z", name, sizeof name);
    CHECK_STR(name, "pages-20261130T211500.123Z.zst");
    if (chain_object_parent(name, parent, sizeof parent) == 0) CHECK_STR(parent, "20261130T211500.123Z");
    else CHECK(0);
    CHECK(chain_object_parent("livestore.db.zst", parent, sizeof parent) != 0);
}

/* The header of the state at path (hashes of n pages first), NUL-terminated, heap. */
static char *state_header(const char *path, uint32_t n)
{
    struct stat sb;
    char *text = NULL;
    int fd = open(path, O_RDONLY);
    if (fd >= 0 && fstat(fd, &sb) == 0 && sb.st_size > (off_t)n * CHAIN_HASH_LEN + 12) {
        size_t len = (size_t)(sb.st_size - (off_t)n * CHAIN_HASH_LEN - 12);
        text = calloc(1, len + 1);
        if (text && pread(fd, text, len, (off_t)n * CHAIN_HASH_LEN) != (ssize_t)len) text[0] = '\0';
    }
    if (fd >= 0) close(fd);
    return text;
}

/* Replaces the header of the state at path (hashes of n pages kept) with text. */
static void set_state_header(const char *path, uint32_t n, const char *text)
{
    unsigned char tail[12];
    uint32_t len = (uint32_t)strlen(text);
    int fd = open(path, O_RDWR);
    tail[0] = (unsigned char)len, tail[1] = (unsigned char)(len >> 8), tail[2] = (unsigned char)(len >> 16);
    tail[3] = (unsigned char)(len >> 24);
    memcpy(tail + 4, "SVSTATE1", 8);
    CHECK(fd >= 0 && ftruncate(fd, (off_t)n * CHAIN_HASH_LEN) == 0);
    CHECK(pwrite(fd, text, len, (off_t)n * CHAIN_HASH_LEN) == (ssize_t)len);
    CHECK(pwrite(fd, tail, sizeof tail, (off_t)n * CHAIN_HASH_LEN + len) == (ssize_t)sizeof tail);
    if (fd >= 0) close(fd);
}

/* checkedAt (when the head was last proven in the store): it round-trips;
 * chain_state_rewrite moves it on with the hashes kept and nothing left
 * behind, and leaves a state that is no longer the caller's alone; a state
 * written before the field existed reads it as its baseTime; a checkedAt
 * that is not an integer is a damaged header. */
static void test_state_checked(fixture *f, const char *dir, const char *path, const char *sid, chain_state st)
{
    chain_state got, other;
    chain_hashes *h = NULL;
    sv_err e;
    char *hdr, *at, *end;
    CHECK(chain_state_load(path, sid, "ws1", &got, &e) == 0);
    CHECK_INT(got.checked_ms, st.checked_ms);
    got.checked_ms = st.checked_ms + 86400000LL;
    CHECK(chain_state_rewrite(dir, &got, &f->fc.clock, &e) == 0);
    CHECK_INT(fx_count_files(dir), 1);
    CHECK(chain_state_load(path, sid, "ws1", &got, &e) == 0);
    CHECK_INT(got.checked_ms, st.checked_ms + 86400000LL);
    CHECK_STR(got.head, st.head);
    CHECK_STR(got.state_sum, st.state_sum);
    CHECK_STR(got.fingerprint, st.fingerprint);
    CHECK_INT(got.base_ms, st.base_ms);
    CHECK_INT(got.chain_length, st.chain_length);
    CHECK_INT(got.page_count, st.page_count);
    CHECK(chain_hashes_open(path, &got, &h, &e) == 0);
    CHECK(chain_hashes_verify(h, &e) == 0); /* the hashes were copied whole */
    chain_hashes_close(h);
    /* a state that a backup replaced meanwhile is not rewritten */
    other = got;
    snprintf(other.head, sizeof other.head, "20261201T000000.000Z");
    other.checked_ms = 1;
    CHECK(chain_state_rewrite(dir, &other, &f->fc.clock, &e) != 0 && e.code == SV_ECORRUPT);
    CHECK(chain_state_load(path, sid, "ws1", &got, &e) == 0);
    CHECK_INT(got.checked_ms, st.checked_ms + 86400000LL);
    CHECK_INT(fx_count_files(dir), 1);
    /* an old state: no checkedAt, which reads as its baseTime */
    hdr = state_header(path, st.page_count);
    CHECK(hdr && (at = strstr(hdr, ",\"checkedAt\":")) != NULL);
    if (hdr && at) {
        end = at + strlen(",\"checkedAt\":");
        while (*end == '-' || (*end >= '0' && *end <= '9')) end++;
        memmove(at, end, strlen(end) + 1);
        set_state_header(path, st.page_count, hdr);
        CHECK(chain_state_load(path, sid, "ws1", &got, &e) == 0);
        CHECK_INT(got.checked_ms, st.base_ms);
        CHECK(chain_hashes_open(path, &got, &h, &e) == 0);
        CHECK(chain_hashes_verify(h, &e) == 0);
        chain_hashes_close(h);
        /* rewriting an old state adds the field */
        got.checked_ms = st.base_ms + 5;
        CHECK(chain_state_rewrite(dir, &got, &f->fc.clock, &e) == 0);
        CHECK(chain_state_load(path, sid, "ws1", &got, &e) == 0);
        CHECK_INT(got.checked_ms, st.base_ms + 5);
        /* a checkedAt that is not a number */
        hdr[strlen(hdr) - 1] = '\0';
        {
            char *bad = sv_asprintf("%s,\"checkedAt\":\"soon\"}", hdr);
            CHECK(bad != NULL);
            if (bad) set_state_header(path, st.page_count, bad);
            free(bad);
        }
        CHECK(chain_state_load(path, sid, "ws1", &got, &e) != 0 && e.code == SV_ECORRUPT && strstr(e.msg, "checkedAt"));
        /* back to a good state for the checks that follow */
        hdr[strlen(hdr)] = '}';
        set_state_header(path, st.page_count, hdr);
        CHECK(chain_state_load(path, sid, "ws1", &got, &e) == 0);
    }
    free(hdr);
}

/* The local chain state: written, read back by header and hashes, refused
 * when foreign or damaged; an uncommitted writer leaves nothing. */
static void test_state(fixture *f)
{
    const char *dir = fx_path(f, "state");
    char *path = chain_state_path(dir, "ws1"), sid[CHAIN_STORE_ID_LEN], other[CHAIN_STORE_ID_LEN];
    chain_state st, got;
    chain_state_writer *w = NULL;
    chain_hashes *h = NULL;
    chain_state_sum *sum = chain_state_sum_new();
    unsigned char hash[CHAIN_HASH_LEN], x[CHAIN_HASH_LEN];
    sv_err e;
    uint32_t n = (uint32_t)fx_range(f, 1, 9000);
    chain_store_id("s3://bucket/prefix/", sid);
    chain_store_id("file:///elsewhere", other);
    CHECK(strlen(sid) == 32 && strcmp(sid, other) != 0);
    CHECK(chain_state_load(path, sid, "ws1", &got, &e) != 0 && e.code == SV_ENOTFOUND);
    /* a writer freed without commit leaves no file */
    CHECK(chain_state_writer_new(dir, &f->fc.clock, &w, &e) == 0);
    memset(hash, 7, sizeof hash);
    CHECK(chain_state_writer_hash(w, hash, &e) == 0);
    chain_state_writer_free(w);
    CHECK_INT(fx_count_files(dir), 0);
    /* a real one */
    memset(&st, 0, sizeof st);
    snprintf(st.workspace, sizeof st.workspace, "ws1");
    memcpy(st.store_id, sid, sizeof sid);
    snprintf(st.head, sizeof st.head, "20261130T211500.123Z");
    snprintf(st.head_type, sizeof st.head_type, "incremental");
    snprintf(st.base, sizeof st.base, "20261130T200000.000Z");
    st.base_ms = 1764532800000LL;
    st.checked_ms = st.base_ms + 3600000LL;
    st.chain_length = 3;
    st.page_size = 4096;
    st.page_count = n;
    snprintf(st.fingerprint, sizeof st.fingerprint, "db=1:2:3 cc=- wal=- shm=-");
    CHECK(chain_state_writer_new(dir, &f->fc.clock, &w, &e) == 0);
    for (uint32_t i = 0; i < n; i++) {
        uint32_t v = i * 2654435761u;
        memset(hash, 0, sizeof hash);
        memcpy(hash, &v, sizeof v);
        CHECK(chain_state_writer_hash(w, hash, &e) == 0);
        chain_state_sum_hash(sum, hash);
    }
    chain_state_sum_finish(sum, st.state_sum);
    /* the hashes read back by page, before the commit (the second pass) */
    for (uint32_t pg = n; pg >= 1 && pg + 5 > n; pg--) {
        uint32_t v = (pg - 1) * 2654435761u;
        CHECK(chain_state_writer_read(w, pg, x, &e) == 0 && memcmp(x, &v, sizeof v) == 0);
    }
    CHECK(chain_state_writer_read(w, n + 1, x, &e) != 0);
    st.page_count = n + 1;
    CHECK(chain_state_writer_commit(w, &st, &e) != 0); /* hashes and page count disagree */
    st.page_count = n;
    CHECK(chain_state_writer_commit(w, &st, &e) == 0);
    chain_state_writer_free(w);
    CHECK_INT(fx_count_files(dir), 1);
    CHECK(chain_state_load(path, sid, "ws1", &got, &e) == 0);
    CHECK_STR(got.head, st.head);
    CHECK_STR(got.base, st.base);
    CHECK_STR(got.head_type, "incremental");
    CHECK_STR(got.state_sum, st.state_sum);
    CHECK_STR(got.fingerprint, st.fingerprint);
    CHECK_INT(got.base_ms, st.base_ms);
    CHECK_INT(got.chain_length, 3);
    CHECK_INT(got.page_count, n);
    CHECK(chain_hashes_open(path, &got, &h, &e) == 0);
    CHECK(chain_hashes_next(h, x, &e) == 1);
    CHECK(chain_hashes_verify(h, &e) == 0);
    CHECK(chain_hashes_next(h, x, &e) == 0);
    chain_hashes_close(h);
    test_state_checked(f, dir, path, sid, st);
    /* foreign: another workspace, another store */
    CHECK(chain_state_load(path, sid, "ws2", &got, &e) != 0 && e.code == SV_ECORRUPT && strstr(e.msg, "ws1"));
    CHECK(chain_state_load(path, other, "ws1", &got, &e) != 0 && strstr(e.msg, "another store"));
    /* a damaged hash: the header reads, the hashes do not sum */
    {
        int fd = open(path, O_RDWR);
        unsigned char b = 0xee;
        CHECK(pwrite(fd, &b, 1, (off_t)fx_range(f, 0, (int64_t)n * CHAIN_HASH_LEN - 1)) == 1);
        CHECK(chain_state_load(path, sid, "ws1", &got, &e) == 0);
        CHECK(chain_hashes_open(path, &got, &h, &e) == 0);
        CHECK(chain_hashes_verify(h, &e) != 0 && e.code == SV_ECORRUPT && strstr(e.msg, "do not sum"));
        chain_hashes_close(h);
        /* a truncated file, then a damaged trailer */
        struct stat sb;
        CHECK(fstat(fd, &sb) == 0);
        CHECK(ftruncate(fd, sb.st_size - 13) == 0);
        CHECK(chain_state_load(path, sid, "ws1", &got, &e) != 0 && e.code == SV_ECORRUPT);
        CHECK(ftruncate(fd, 5) == 0);
        CHECK(chain_state_load(path, sid, "ws1", &got, &e) != 0 && e.code == SV_ECORRUPT);
        close(fd);
    }
    /* a state dir that cannot be made */
    CHECK(chain_state_writer_new("/proc/sv-no-such/state", &f->fc.clock, &w, &e) != 0 && !w);
    free(path);
}

int main(void)
{
    fixture f;
    fx_init(&f, "test_chain", 1764536400000LL);
    test_hash(&f);
    test_roundtrip(&f);
    test_sum_fd_large(&f);
    test_hostile(&f);
    test_writer_refusals();
    test_object_name();
    test_state(&f);
    fx_done(&f);
    TEST_DONE();
}
