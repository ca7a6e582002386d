/* chain.c -- page hashes, state checksums, and the page stream: its writer
 * (the backup side) and its applier (the restore side). The format is
 * include/chain.h's; nothing here allocates more than one page (the applier)
 * or a fixed header, whatever the database size. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>
#include "chain.h"
#include "digest.h"

#define SUM_CHUNK (1024 * 1024)

/* Little-endian u32 out of / into 4 bytes. */
static uint32_t get_u32(const unsigned char *b)
{
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static void put_u32(unsigned char *b, uint32_t v)
{
    b[0] = (unsigned char)v;
    b[1] = (unsigned char)(v >> 8);
    b[2] = (unsigned char)(v >> 16);
    b[3] = (unsigned char)(v >> 24);
}

/* True for a valid SQLite page size: a power of two in 512..65536. */
bool chain_page_size_ok(uint32_t page_size)
{
    return page_size >= 512 && page_size <= 65536 && (page_size & (page_size - 1)) == 0;
}

/* ---- page hashes and state checksums ---------------------------------- */

/* XXH3-128 of one page, canonical (big-endian) form. */
void chain_page_hash(const void *page, size_t page_size, unsigned char out[CHAIN_HASH_LEN])
{
    XXH128_canonical_t c;
    XXH128_canonicalFromHash(&c, XXH3_128bits(page, page_size));
    memcpy(out, c.digest, CHAIN_HASH_LEN);
}

struct chain_state_sum {
    EVP_MD_CTX *md;
    bool failed; /* allocation failed: finish reports "sha256:" + nothing valid */
};

/* A new accumulator (NULL when out of memory). */
chain_state_sum *chain_state_sum_new(void)
{
    chain_state_sum *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->md = EVP_MD_CTX_new();
    if (!s->md || EVP_DigestInit_ex(s->md, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(s->md);
        free(s);
        return NULL;
    }
    return s;
}

/* Folds one page hash in (the state file's hashes are fed this way). */
void chain_state_sum_hash(chain_state_sum *s, const unsigned char hash[CHAIN_HASH_LEN])
{
    EVP_DigestUpdate(s->md, hash, CHAIN_HASH_LEN);
}

/* Hashes each whole page of pages and folds the hashes in. */
void chain_state_sum_pages(chain_state_sum *s, const void *pages, size_t n, size_t page_size)
{
    const unsigned char *p = pages;
    unsigned char h[CHAIN_HASH_LEN];
    for (size_t off = 0; page_size && off + page_size <= n; off += page_size) {
        chain_page_hash(p + off, page_size, h);
        EVP_DigestUpdate(s->md, h, sizeof h);
    }
}

/* Frees s without producing a sum (NULL is a no-op). */
void chain_state_sum_free(chain_state_sum *s)
{
    if (!s) return;
    EVP_MD_CTX_free(s->md);
    free(s);
}

/* "sha256:HEX"; frees s. */
void chain_state_sum_finish(chain_state_sum *s, char out[72])
{
    sv_digest_checksum(s->md, out);
    chain_state_sum_free(s);
}

/* The state checksum of the file on fd, read in 1 MiB chunks with pread. */
int chain_state_sum_fd(int fd, uint32_t page_size, char out[72], sv_err *err)
{
    unsigned char *buf = NULL;
    chain_state_sum *s = NULL;
    off_t size, off = 0;
    int rc = -1;
    if (!chain_page_size_ok(page_size))
        return sv_err_set(err, SV_EINVAL, "page size %u is not a power of two in 512..65536", page_size);
    size = lseek(fd, 0, SEEK_END);
    if (size < 0) return sv_err_set(err, SV_EIO, "unable to size the database: %s", strerror(errno));
    size -= size % (off_t)page_size; /* a torn tail is not a page */
    buf = malloc(SUM_CHUNK);
    s = chain_state_sum_new();
    if (!buf || !s) {
        sv_err_set(err, SV_ENOMEM, "out of memory");
        goto done;
    }
    while (off < size) {
        size_t want = (size_t)(size - off < SUM_CHUNK ? size - off : SUM_CHUNK);
        ssize_t n = pread(fd, buf, want, off);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            sv_err_set(err, SV_EIO, "unable to read the database: %s", strerror(errno));
            goto done;
        }
        if (n == 0 || (size_t)n % page_size != 0) {
            /* Short read of a regular file: read the rest of the page next round. */
            if (n == 0) {
                sv_err_set(err, SV_EIO, "the database shrank while its checksum was computed");
                goto done;
            }
            n -= (ssize_t)((size_t)n % page_size);
            if (n == 0) continue;
        }
        chain_state_sum_pages(s, buf, (size_t)n, page_size);
        off += n;
    }
    chain_state_sum_finish(s, out);
    s = NULL;
    rc = 0;
done:
    chain_state_sum_free(s);
    free(buf);
    return rc;
}

/* ---- writing a page stream -------------------------------------------- */

struct chain_writer {
    chain_sink sink;
    void *ud;
    uint32_t page_size, page_count, n;
    uint32_t written;   /* records so far */
    uint32_t last;      /* pgno of the last record, 0 before the first */
    uint64_t bytes;     /* stream bytes emitted */
};

/* Starts a stream: checks the header's numbers and emits the header. */
int chain_writer_new(uint32_t page_size, uint32_t page_count, uint32_t n, chain_sink sink, void *ud,
                     chain_writer **out, sv_err *err)
{
    unsigned char hdr[CHAIN_HEADER_LEN];
    chain_writer *w;
    *out = NULL;
    if (!chain_page_size_ok(page_size))
        return sv_err_set(err, SV_EINVAL, "page size %u is not a power of two in 512..65536", page_size);
    if (n > page_count)
        return sv_err_set(err, SV_EINVAL, "a page stream of %u pages cannot hold %u records", page_count, n);
    w = calloc(1, sizeof *w);
    if (!w) return sv_err_set(err, SV_ENOMEM, "out of memory");
    w->sink = sink;
    w->ud = ud;
    w->page_size = page_size;
    w->page_count = page_count;
    w->n = n;
    memcpy(hdr, CHAIN_MAGIC, 8);
    put_u32(hdr + 8, page_size);
    put_u32(hdr + 12, page_count);
    put_u32(hdr + 16, n);
    put_u32(hdr + 20, 0);
    if (sink(ud, hdr, sizeof hdr, err) != 0) {
        free(w);
        return -1;
    }
    w->bytes = sizeof hdr;
    *out = w;
    return 0;
}

/* Emits one record (pgno strictly above the previous, at most page_count). */
int chain_writer_page(chain_writer *w, uint32_t pgno, const void *page, sv_err *err)
{
    unsigned char b[4];
    if (w->written >= w->n)
        return sv_err_set(err, SV_EINTERNAL, "page stream: more than the %u records its header announced", w->n);
    if (pgno == 0 || pgno <= w->last || pgno > w->page_count)
        return sv_err_set(err, SV_EINTERNAL, "page stream: page %u out of order (after %u, of %u)", pgno, w->last,
                          w->page_count);
    put_u32(b, pgno);
    if (w->sink(w->ud, b, 4, err) != 0 || w->sink(w->ud, page, w->page_size, err) != 0) return -1;
    w->written++;
    w->last = pgno;
    w->bytes += 4 + (uint64_t)w->page_size;
    return 0;
}

/* Checks the record count and emits the trailer; the stream's length in *bytes. */
int chain_writer_finish(chain_writer *w, uint64_t *bytes, sv_err *err)
{
    if (w->written != w->n)
        return sv_err_set(err, SV_EINTERNAL, "page stream: %u records written, its header announced %u", w->written,
                          w->n);
    if (w->sink(w->ud, CHAIN_TRAILER, CHAIN_TRAILER_LEN, err) != 0) return -1;
    w->bytes += CHAIN_TRAILER_LEN;
    if (bytes) *bytes = w->bytes;
    return 0;
}

/* Frees a writer (NULL is a no-op). */
void chain_writer_free(chain_writer *w)
{
    free(w);
}

/* ---- applying a page stream ------------------------------------------- */

enum { ST_HEADER, ST_PGNO, ST_PAGE, ST_TRAILER, ST_DONE, ST_FAILED };

struct chain_applier {
    int fd;
    uint32_t expect_page_size;
    uint64_t max_size;
    int state;
    unsigned char small[CHAIN_HEADER_LEN]; /* header, pgno or trailer being gathered */
    size_t have;                           /* bytes of the current item gathered */
    unsigned char *page;                   /* one page, allocated once the header is read */
    uint32_t page_size, page_count, n;
    uint32_t records, last, pgno;
    uint64_t pages_written;
};

/* A new applier writing into fd. */
int chain_apply_new(int fd, uint32_t expect_page_size, uint64_t max_size, chain_applier **out, sv_err *err)
{
    chain_applier *a = calloc(1, sizeof *a);
    *out = NULL;
    if (!a) return sv_err_set(err, SV_ENOMEM, "out of memory");
    a->fd = fd;
    a->expect_page_size = expect_page_size;
    a->max_size = max_size;
    a->state = ST_HEADER;
    *out = a;
    return 0;
}

/* Fails the applier with SV_ECORRUPT and a message. */
static int corrupt(chain_applier *a, sv_err *err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int corrupt(chain_applier *a, sv_err *err, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    a->state = ST_FAILED;
    return sv_err_set(err, SV_ECORRUPT, "page stream: %s", msg);
}

/* Checks the gathered header and sets up the page buffer. */
static int take_header(chain_applier *a, sv_err *err)
{
    const unsigned char *h = a->small;
    if (memcmp(h, CHAIN_MAGIC, 8) != 0) return corrupt(a, err, "bad magic (not an incremental's page stream)");
    a->page_size = get_u32(h + 8);
    a->page_count = get_u32(h + 12);
    a->n = get_u32(h + 16);
    if (!chain_page_size_ok(a->page_size))
        return corrupt(a, err, "page size %u is not a power of two in 512..65536", a->page_size);
    if (a->expect_page_size && a->page_size != a->expect_page_size)
        return corrupt(a, err, "page size %u differs from the parent's %u", a->page_size, a->expect_page_size);
    if ((uint64_t)a->page_count * a->page_size > a->max_size) {
        a->state = ST_FAILED;
        return sv_err_set(err, SV_ETOOBIG, "page stream: %u pages of %u bytes exceed the %llu byte limit",
                          a->page_count, a->page_size, (unsigned long long)a->max_size);
    }
    if (a->n > a->page_count)
        return corrupt(a, err, "%u records for a database of %u pages", a->n, a->page_count);
    a->page = malloc(a->page_size);
    if (!a->page) {
        a->state = ST_FAILED;
        return sv_err_set(err, SV_ENOMEM, "out of memory");
    }
    a->state = a->n ? ST_PGNO : ST_TRAILER;
    return 0;
}

/* Writes the gathered page at its place in the file. */
static int write_page(chain_applier *a, sv_err *err)
{
    off_t off = (off_t)(a->pgno - 1) * (off_t)a->page_size;
    size_t done = 0;
    while (done < a->page_size) {
        ssize_t w = pwrite(a->fd, a->page + done, a->page_size - done, off + (off_t)done);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            a->state = ST_FAILED;
            return sv_err_set(err, errno == ENOSPC ? SV_ENOSPC : SV_EIO, "unable to write page %u: %s", a->pgno,
                              w < 0 ? strerror(errno) : "short write");
        }
        done += (size_t)w;
    }
    a->pages_written++;
    return 0;
}

/* Consumes n bytes of the stream, in whatever pieces it arrives. */
int chain_apply_feed(chain_applier *a, const void *buf, size_t n, sv_err *err)
{
    const unsigned char *p = buf;
    while (n > 0) {
        size_t take;
        switch (a->state) {
        case ST_HEADER:
            take = CHAIN_HEADER_LEN - a->have < n ? CHAIN_HEADER_LEN - a->have : n;
            memcpy(a->small + a->have, p, take);
            a->have += take;
            if (a->have == CHAIN_HEADER_LEN) {
                a->have = 0;
                if (take_header(a, err) != 0) return -1;
            }
            break;
        case ST_PGNO:
            take = 4 - a->have < n ? 4 - a->have : n;
            memcpy(a->small + a->have, p, take);
            a->have += take;
            if (a->have == 4) {
                a->have = 0;
                a->pgno = get_u32(a->small);
                if (a->pgno == 0) return corrupt(a, err, "record %u names page 0", a->records + 1);
                if (a->pgno <= a->last)
                    return corrupt(a, err, "record %u: page %u after page %u (not strictly ascending)",
                                   a->records + 1, a->pgno, a->last);
                if (a->pgno > a->page_count)
                    return corrupt(a, err, "record %u: page %u beyond the page count %u", a->records + 1, a->pgno,
                                   a->page_count);
                a->state = ST_PAGE;
            }
            break;
        case ST_PAGE:
            take = a->page_size - a->have < n ? a->page_size - a->have : n;
            memcpy(a->page + a->have, p, take);
            a->have += take;
            if (a->have == a->page_size) {
                a->have = 0;
                if (write_page(a, err) != 0) return -1;
                a->last = a->pgno;
                a->records++;
                a->state = a->records == a->n ? ST_TRAILER : ST_PGNO;
            }
            break;
        case ST_TRAILER:
            take = CHAIN_TRAILER_LEN - a->have < n ? CHAIN_TRAILER_LEN - a->have : n;
            memcpy(a->small + a->have, p, take);
            a->have += take;
            if (a->have == CHAIN_TRAILER_LEN) {
                a->have = 0;
                if (memcmp(a->small, CHAIN_TRAILER, CHAIN_TRAILER_LEN) != 0)
                    return corrupt(a, err, "bad trailer after %u records (more records than the header's %u?)",
                                   a->records, a->n);
                a->state = ST_DONE;
            }
            break;
        case ST_DONE:
            return corrupt(a, err, "%zu bytes after the trailer", n);
        default:
            return sv_err_set(err, SV_ECORRUPT, "page stream: fed after a failure");
        }
        p += take;
        n -= take;
    }
    return 0;
}

/* Checks the end of the stream and truncates the file to its page count. */
int chain_apply_finish(chain_applier *a, uint64_t *page_count, uint64_t *pages_written, sv_err *err)
{
    switch (a->state) {
    case ST_DONE:
        break;
    case ST_HEADER:
        return corrupt(a, err, "truncated: %zu of the header's %d bytes", a->have, CHAIN_HEADER_LEN);
    case ST_PGNO:
    case ST_PAGE:
        return corrupt(a, err, "truncated after %u of %u records", a->records, a->n);
    case ST_TRAILER:
        return corrupt(a, err, "truncated: missing or short trailer (%zu of %d bytes)", a->have, CHAIN_TRAILER_LEN);
    default:
        return sv_err_set(err, SV_ECORRUPT, "page stream: finished after a failure");
    }
    if (ftruncate(a->fd, (off_t)a->page_count * (off_t)a->page_size) != 0) {
        a->state = ST_FAILED;
        return sv_err_set(err, SV_EIO, "unable to truncate the database to %u pages: %s", a->page_count,
                          strerror(errno));
    }
    if (page_count) *page_count = a->page_count;
    if (pages_written) *pages_written = a->pages_written;
    return 0;
}

/* Frees the applier (NULL is a no-op). */
void chain_apply_free(chain_applier *a)
{
    if (!a) return;
    free(a->page);
    free(a);
}
