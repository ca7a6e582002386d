/* sv_chaingen.c -- writes backups in the chain format of include/chain.h
 * straight into the store, for the tests and the bench of the restore side
 * (independent of the backup side, which writes the same format):
 *
 *   sv_chaingen full WS TS DB
 *       a full: full/WS/TS/livestore.db.zst + metadata.json with
 *       stateChecksum and chainLength 0;
 *   sv_chaingen incr WS TS PARENT_TS PARENT_DB DB [--id INSTANCE]
 *       an incremental: the pages of DB that differ from PARENT_DB (the
 *       database file the parent backup holds), as a page stream in
 *       full/WS/TS/pages-PARENT_TS.zst + metadata.json naming the parent,
 *       its state checksum (read from its metadata.json), the base and the
 *       chain length. --id writes another instanceId (a foreign link).
 *   --hashes OUT (both): also writes the page hashes of DB to OUT; a
 *       PARENT_DB whose name ends in .hashes is such a file, compared with
 *       DB's page hashes instead of its pages (the bench's long chains of a
 *       large database, without a copy of it per point).
 *
 * DB files must be quiescent database files (no -wal content). Everything
 * is streamed: memory is a few pages and zstd's buffers. The store comes
 * from the usual SQLVAULT_* environment. Prints the state checksum. */
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>
#include "backup.h"
#include "catalog.h"
#include "chain.h"
#include "config.h"
#include "digest.h"
#include "store.h"
#include "util.h"

typedef struct out_obj {
    store_t *s;
    store_writer_t *w;
    ZSTD_CCtx *z;
    EVP_MD_CTX *md_plain, *md_obj;
    unsigned char *zbuf;
    size_t zcap;
    uint64_t plain, stored;
} out_obj;

static int die(const sv_err *e)
{
    fprintf(stderr, "sv_chaingen: %s%s%s\n", e->msg, e->hint[0] ? "\nHINT: " : "", e->hint);
    return 1;
}

/* Plain bytes through zstd into the object. */
static int obj_write(void *ud, const void *data, size_t n, sv_err *err)
{
    out_obj *o = ud;
    ZSTD_inBuffer ib = {data, n, 0};
    EVP_DigestUpdate(o->md_plain, data, n);
    o->plain += n;
    while (ib.pos < ib.size) {
        ZSTD_outBuffer ob = {o->zbuf, o->zcap, 0};
        size_t r = ZSTD_compressStream2(o->z, &ob, &ib, ZSTD_e_continue);
        if (ZSTD_isError(r)) return sv_err_set(err, SV_EINTERNAL, "zstd: %s", ZSTD_getErrorName(r));
        if (ob.pos) {
            EVP_DigestUpdate(o->md_obj, o->zbuf, ob.pos);
            o->stored += ob.pos;
            if (store_writer_write(o->s, o->w, o->zbuf, ob.pos, err) != 0) return -1;
        }
    }
    return 0;
}

/* Ends the zstd frame and commits the object. */
static int obj_finish(out_obj *o, sv_err *err)
{
    size_t r;
    do {
        ZSTD_inBuffer ib = {NULL, 0, 0};
        ZSTD_outBuffer ob = {o->zbuf, o->zcap, 0};
        r = ZSTD_compressStream2(o->z, &ob, &ib, ZSTD_e_end);
        if (ZSTD_isError(r)) return sv_err_set(err, SV_EINTERNAL, "zstd: %s", ZSTD_getErrorName(r));
        if (ob.pos) {
            EVP_DigestUpdate(o->md_obj, o->zbuf, ob.pos);
            o->stored += ob.pos;
            if (store_writer_write(o->s, o->w, o->zbuf, ob.pos, err) != 0) return -1;
        }
    } while (r != 0);
    if (store_writer_commit(o->s, o->w, err) != 0) return -1;
    o->w = NULL;
    return 0;
}

static int obj_open(out_obj *o, store_t *s, const char *key, sv_err *err)
{
    store_writer_opts wo = {0};
    memset(o, 0, sizeof *o);
    o->s = s;
    o->z = ZSTD_createCCtx();
    o->zcap = ZSTD_CStreamOutSize();
    o->zbuf = malloc(o->zcap);
    o->md_plain = EVP_MD_CTX_new();
    o->md_obj = EVP_MD_CTX_new();
    EVP_DigestInit_ex(o->md_plain, EVP_sha256(), NULL);
    EVP_DigestInit_ex(o->md_obj, EVP_sha256(), NULL);
    ZSTD_CCtx_setParameter(o->z, ZSTD_c_compressionLevel, 3);
    return store_writer_open(s, key, &wo, &o->w, err);
}

static void obj_free(out_obj *o)
{
    if (o->w) store_writer_abort(o->s, o->w);
    ZSTD_freeCCtx(o->z);
    free(o->zbuf);
    EVP_MD_CTX_free(o->md_plain);
    EVP_MD_CTX_free(o->md_obj);
}

/* The page size of a database file from its header. */
static uint32_t page_size_of(int fd)
{
    unsigned char h[100];
    uint32_t ps;
    if (pread(fd, h, sizeof h, 0) != (ssize_t)sizeof h || memcmp(h, "SQLite format 3", 16) != 0) return 0;
    ps = (uint32_t)h[16] << 8 | h[17];
    return ps == 1 ? 65536 : ps;
}

/* Writes metadata.json of ts. */
static int put_meta(store_t *s, const char *ws, const char *ts, json_t *m, sv_err *err)
{
    char *key = backup_key(ws, ts, "metadata.json"), *text = json_dumps(m, JSON_INDENT(2));
    store_put_opts po = {.content_type = "application/json"};
    int rc = store_put(s, key, text, strlen(text), &po, err);
    free(key);
    free(text);
    return rc;
}

/* The common metadata fields. */
static json_t *meta_new(const char *id, const char *ts, const char *type, const char *object, uint64_t size,
                        uint32_t ps, const out_obj *o, const char *state)
{
    char iso[SV_ISO_LEN], sum[72], osum[72];
    int64_t ms = 0;
    sv_ts_parse(ts, &ms);
    sv_iso_format(ms, iso);
    sv_digest_checksum(o->md_plain, sum);
    sv_digest_checksum(o->md_obj, osum);
    return json_pack("{s:s, s:n, s:s, s:I, s:s, s:s, s:s, s:s, s:s, s:I, s:s, s:{s:s, s:i, s:I, s:s}, s:s, s:s, s:s}",
                     "instanceId", id, "userId", "timestamp", iso, "databaseSize", (json_int_t)size, "backupType", type,
                     "version", BACKUP_META_VERSION, "checksum", sum, "compression", "zstd", "object", object,
                     "compressedSize", (json_int_t)o->stored, "compressedChecksum", osum, "sqlite", "version",
                     "chaingen", "pageSize", (int)ps, "pageCount", (json_int_t)(size / ps), "journalMode", "delete",
                     "reason", "test", "producer", "sv_chaingen", "stateChecksum", state);
}

/* sv_chaingen full WS TS DB */
static int save_hashes(const char *path, int fd, uint32_t ps, sv_err *err);

static int gen_full(store_t *s, const char *ws, const char *ts, const char *db, const char *hashes, sv_err *err)
{
    out_obj o;
    int fd = open(db, O_RDONLY), rc = -1;
    uint32_t ps;
    unsigned char *b = malloc(1 << 20);
    chain_state_sum *ss = chain_state_sum_new();
    char state[72], *key = backup_key(ws, ts, BACKUP_OBJECT);
    uint64_t size = 0;
    json_t *m = NULL;
    memset(&o, 0, sizeof o);
    if (fd < 0 || !(ps = page_size_of(fd))) {
        sv_err_set(err, SV_EINVAL, "%s is not a database file", db);
        goto done;
    }
    if (obj_open(&o, s, key, err) != 0) goto done;
    for (;;) {
        ssize_t n = read(fd, b, (1 << 20) / ps * ps);
        if (n < 0) {
            sv_err_set(err, SV_EIO, "read %s: %s", db, strerror(errno));
            goto done;
        }
        if (n == 0) break;
        chain_state_sum_pages(ss, b, (size_t)n, ps);
        size += (uint64_t)n;
        if (obj_write(&o, b, (size_t)n, err) != 0) goto done;
    }
    if (obj_finish(&o, err) != 0) goto done;
    chain_state_sum_finish(ss, state);
    ss = NULL;
    m = meta_new(ws, ts, "full", BACKUP_OBJECT, size, ps, &o, state);
    json_object_set_new(m, "chainLength", json_integer(0));
    if (put_meta(s, ws, ts, m, err) != 0) goto done;
    if (hashes && save_hashes(hashes, fd, ps, err) != 0) goto done;
    printf("%s\n", state);
    rc = 0;
done:
    chain_state_sum_free(ss);
    json_decref(m);
    obj_free(&o);
    if (fd >= 0) close(fd);
    free(b);
    free(key);
    return rc;
}

/* Reads page pgno (1-based) of fd into b; 0 bytes past the end. */
static ssize_t read_page(int fd, uint32_t pgno, uint32_t ps, unsigned char *b)
{
    return pread(fd, b, ps, (off_t)(pgno - 1) * ps);
}

/* Writes the page hashes of the database on fd to path. */
static int save_hashes(const char *path, int fd, uint32_t ps, sv_err *err)
{
    FILE *f = fopen(path, "wb");
    unsigned char *b = malloc(ps), h[CHAIN_HASH_LEN];
    int rc = 0;
    for (uint32_t pg = 1; f && b && pread(fd, b, ps, (off_t)(pg - 1) * ps) == (ssize_t)ps; pg++) {
        chain_page_hash(b, ps, h);
        fwrite(h, 1, sizeof h, f);
    }
    if (!f || !b || fclose(f) != 0) rc = sv_err_set(err, SV_EIO, "writing %s", path);
    free(b);
    return rc;
}

/* Reads a page hash file (heap, *n hashes). */
static unsigned char *load_hashes(const char *path, uint32_t *n)
{
    FILE *f = fopen(path, "rb");
    long len;
    unsigned char *v = NULL;
    *n = 0;
    if (!f) return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
        (v = malloc((size_t)len + 1)) && fread(v, 1, (size_t)len, f) == (size_t)len)
        *n = (uint32_t)(len / CHAIN_HASH_LEN);
    fclose(f);
    return v;
}

/* True when page pg (contents b) differs from the parent's. */
static bool page_changed(int pfd, const unsigned char *ph, uint32_t pn, uint32_t pg, uint32_t ps,
                         const unsigned char *b, unsigned char *a)
{
    if (ph) {
        unsigned char h[CHAIN_HASH_LEN];
        if (pg > pn) return true;
        chain_page_hash(b, ps, h);
        return memcmp(h, ph + (size_t)(pg - 1) * CHAIN_HASH_LEN, CHAIN_HASH_LEN) != 0;
    }
    return read_page(pfd, pg, ps, a) != (ssize_t)ps || memcmp(a, b, ps) != 0;
}

/* sv_chaingen incr WS TS PARENT_TS PARENT_DB DB [--id ID] [--hashes OUT] */
static int gen_incr(store_t *s, const char *ws, const char *ts, const char *pts, const char *pdb, const char *db,
                    const char *id, const char *hashes, sv_err *err)
{
    out_obj o;
    size_t plen_name = strlen(pdb);
    bool hmode = plen_name > 7 && strcmp(pdb + plen_name - 7, ".hashes") == 0;
    int pfd = hmode ? -1 : open(pdb, O_RDONLY), fd = open(db, O_RDONLY), rc = -1;
    uint32_t ps = 0, count, n = 0, pn = 0;
    unsigned char *ph = hmode ? load_hashes(pdb, &pn) : NULL;
    struct stat sb;
    unsigned char *a = NULL, *b = NULL;
    chain_state_sum *ss = chain_state_sum_new();
    chain_writer *w = NULL;
    char state[72], obj[64], *key = NULL;
    json_t *pm = NULL, *m = NULL;
    const char *pstate, *base;
    int64_t plen;
    memset(&o, 0, sizeof o);
    if ((hmode ? !ph : pfd < 0) || fd < 0 || !(ps = page_size_of(fd)) || (!hmode && page_size_of(pfd) != ps) ||
        fstat(fd, &sb) != 0) {
        sv_err_set(err, SV_EINVAL, "%s and %s must be database files of one page size", pdb, db);
        goto done;
    }
    if (catalog_read_meta(s, ws, pts, &pm, err) != 0) goto done;
    pstate = json_string_value(json_object_get(pm, "stateChecksum"));
    plen = json_integer_value(json_object_get(pm, "chainLength"));
    base = json_string_value(json_object_get(pm, "base"));
    if (!base) base = pts;
    if (!pstate) {
        sv_err_set(err, SV_EINVAL, "backup %s has no stateChecksum", pts);
        goto done;
    }
    count = (uint32_t)(sb.st_size / ps);
    a = malloc(ps);
    b = malloc(ps);
    for (uint32_t pg = 1; pg <= count; pg++) { /* pass 1: count the changed pages */
        if (read_page(fd, pg, ps, b) != (ssize_t)ps) {
            sv_err_set(err, SV_EIO, "short read of %s", db);
            goto done;
        }
        chain_state_sum_pages(ss, b, ps, ps);
        if (page_changed(pfd, ph, pn, pg, ps, b, a)) n++;
    }
    chain_state_sum_finish(ss, state);
    ss = NULL;
    chain_object_name(pts, obj, sizeof obj);
    key = backup_key(ws, ts, obj);
    if (obj_open(&o, s, key, err) != 0 || chain_writer_new(ps, count, n, obj_write, &o, &w, err) != 0) goto done;
    for (uint32_t pg = 1; pg <= count; pg++) { /* pass 2: the stream */
        if (read_page(fd, pg, ps, b) != (ssize_t)ps) {
            sv_err_set(err, SV_EIO, "short read of %s", db);
            goto done;
        }
        if (page_changed(pfd, ph, pn, pg, ps, b, a) && chain_writer_page(w, pg, b, err) != 0) goto done;
    }
    if (chain_writer_finish(w, NULL, err) != 0 || obj_finish(&o, err) != 0) goto done;
    m = meta_new(id ? id : ws, ts, "incremental", obj, (uint64_t)count * ps, ps, &o, state);
    json_object_set_new(m, "parent", json_string(pts));
    json_object_set_new(m, "parentStateChecksum", json_string(pstate));
    json_object_set_new(m, "base", json_string(base));
    json_object_set_new(m, "chainLength", json_integer(plen + 1));
    json_object_set_new(m, "changedPages", json_integer(n));
    if (put_meta(s, ws, ts, m, err) != 0) goto done;
    if (hashes && save_hashes(hashes, fd, ps, err) != 0) goto done;
    printf("%s %u\n", state, n);
    rc = 0;
done:
    chain_state_sum_free(ss);
    chain_writer_free(w);
    json_decref(pm);
    json_decref(m);
    obj_free(&o);
    if (pfd >= 0) close(pfd);
    if (fd >= 0) close(fd);
    free(a);
    free(b);
    free(ph);
    free(key);
    return rc;
}

int main(int argc, char **argv)
{
    sv_config cfg;
    store_t *s = NULL;
    sv_err e;
    int rc = 2;
    sv_err_clear(&e);
    if (config_load(&cfg, &argc, argv, &e) != 0) return die(&e);
    if (store_open(&cfg, sv_clock_system(), &s, &e) != 0) {
        config_free(&cfg);
        return die(&e);
    }
    {
        const char *id = NULL, *hashes = NULL, *pos[8];
        int np = 0;
        for (int i = 1; i < argc; i++) {
            if (strcmp(argv[i], "--id") == 0 && i + 1 < argc) id = argv[++i];
            else if (strcmp(argv[i], "--hashes") == 0 && i + 1 < argc) hashes = argv[++i];
            else if (np < 8) pos[np++] = argv[i];
        }
        if (np == 4 && strcmp(pos[0], "full") == 0) rc = gen_full(s, pos[1], pos[2], pos[3], hashes, &e) ? die(&e) : 0;
        else if (np == 6 && strcmp(pos[0], "incr") == 0)
            rc = gen_incr(s, pos[1], pos[2], pos[3], pos[4], pos[5], id, hashes, &e) ? die(&e) : 0;
        else
            fprintf(stderr, "usage: sv_chaingen full WS TS DB [--hashes OUT] | incr WS TS PARENT_TS PARENT_DB|PARENT.hashes "
                            "DB [--id INSTANCE] [--hashes OUT]\n");
    }
    store_free(s);
    config_free(&cfg);
    return rc;
}
