/* test_crypto.c -- the sealed-object chunk format and the key records
 * (crypto.h): round trips at chunk edges fed in random pieces, a pinned
 * known answer, and every tampering the format must refuse: a flipped byte
 * anywhere, truncation mid-chunk and at a chunk boundary, swapped and
 * duplicated chunks, another object key (moved object), another data key
 * (another workspace); KEK files in three encodings; wrap/unwrap refusals;
 * keyed checksums (no plaintext digest in an encrypted backup's metadata). */
#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "crypto.h"
#include "testlib.h"
#include "util.h"

typedef struct buf {
    unsigned char *d;
    size_t n, cap;
} buf;

/* Output sink: appends to a buf. */
static int sink(void *ud, const void *data, size_t len, sv_err *err)
{
    buf *b = ud;
    (void)err;
    if (len == 0) return 0;
    if (b->n + len > b->cap) {
        b->cap = (b->n + len) * 2;
        b->d = realloc(b->d, b->cap);
    }
    memcpy(b->d + b->n, data, len);
    b->n += len;
    return 0;
}

static uint64_t rng = 1;
/* xorshift64 */
static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* Feeds data into a stream in random-sized pieces. */
static int feed(crypto_stream *s, const unsigned char *d, size_t n, sv_err *err)
{
    while (n) {
        size_t k = 1 + rnd() % (CRYPTO_CHUNK + 5000);
        if (k > n) k = n;
        if (crypto_stream_write(s, d, k, err) != 0) return -1;
        d += k;
        n -= k;
    }
    return crypto_stream_finish(s, err);
}

static crypto_dk DK;
static const unsigned char SALT[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

/* Seals pt under context into out. */
static void seal(const unsigned char *pt, size_t n, const char *ctx, buf *out)
{
    crypto_stream *s = NULL;
    sv_err e;
    memset(out, 0, sizeof *out);
    CHECK(crypto_seal_new(&DK, ctx, SALT, sink, out, &s, &e) == 0);
    CHECK(feed(s, pt, n, &e) == 0);
    crypto_stream_free(s);
}

/* Opens ct with dk/context; returns 0 and the plaintext, or -1 with e. */
static int open_ct(const crypto_dk *dk, const char *ctx, const unsigned char *ct, size_t n, buf *out, sv_err *e)
{
    crypto_stream *s = NULL;
    int rc;
    memset(out, 0, sizeof *out);
    sv_err_clear(e);
    if (crypto_open_new(dk, ctx, sink, out, &s, e) != 0) return -1;
    rc = feed(s, ct, n, e);
    crypto_stream_free(s);
    return rc;
}

/* Expects ct to be refused with a message containing what. */
static void refused(const char *label, const unsigned char *ct, size_t n, const char *ctx, const crypto_dk *dk,
                    const char *what)
{
    buf out;
    sv_err e;
    int rc = open_ct(dk ? dk : &DK, ctx, ct, n, &out, &e);
    CHECK(rc != 0);
    if (rc != 0) {
        CHECK_INT(e.code, SV_ECORRUPT);
        if (!strstr(e.msg, what)) {
            fprintf(stderr, "%s: message [%s] lacks [%s]\n", label, e.msg, what);
            CHECK(0);
        }
    } else fprintf(stderr, "%s: accepted\n", label);
    free(out.d);
}

/* sha256 hex of a buffer. */
static void sha(const unsigned char *d, size_t n, char out[65])
{
    unsigned char h[32];
    unsigned int hl = 0;
    EVP_Digest(d, n, h, &hl, EVP_sha256(), NULL);
    sv_hex(h, 32, out);
}

static void test_roundtrip(void)
{
    size_t sizes[] = {0, 1, 100, CRYPTO_CHUNK - 1, CRYPTO_CHUNK, CRYPTO_CHUNK + 1, 2 * CRYPTO_CHUNK,
                      3 * CRYPTO_CHUNK + 12345};
    unsigned char *pt = malloc(4 * CRYPTO_CHUNK);
    for (size_t i = 0; i < 4 * CRYPTO_CHUNK; i++) pt[i] = (unsigned char)rnd();
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i], chunks = n == 0 ? 1 : (n + CRYPTO_CHUNK - 1) / CRYPTO_CHUNK;
        buf ct, back;
        sv_err e;
        seal(pt, n, "full/ws/ts/livestore.db.zst", &ct);
        /* header + every byte + one tag per chunk (a full last chunk is the final one; only an
         * empty object has an empty chunk) */
        CHECK_INT(ct.n, CRYPTO_HDR_LEN + n + chunks * CRYPTO_TAG_LEN);
        CHECK(crypto_is_sealed(ct.d, ct.n));
        CHECK(open_ct(&DK, "full/ws/ts/livestore.db.zst", ct.d, ct.n, &back, &e) == 0);
        CHECK_INT(back.n, n);
        CHECK(n == 0 || memcmp(back.d, pt, n) == 0);
        /* The plaintext appears nowhere in the ciphertext. */
        if (n >= 64) CHECK(memmem(ct.d, ct.n, pt, 32) == NULL);
        free(ct.d);
        free(back.d);
    }
    free(pt);
}

static void test_known_answer(void)
{
    /* Pinned: a format change must be deliberate (bump the version byte). */
    buf ct;
    char h[65];
    seal((const unsigned char *)"abc", 3, "ctx", &ct);
    sha(ct.d, ct.n, h);
    CHECK_INT(ct.n, 48 + 3 + 16);
    CHECK(memcmp(ct.d, "SQLVENC1\x01\x01\x00\x00\x00\x01\x00\x00", 16) == 0);
    CHECK_STR(h, "6816088a0483b3abbfc10aad12b35c56b0f5e2b62089684be7f82d158f0e228f");
    free(ct.d);
}

static void test_tamper(void)
{
    size_t n = 3 * CRYPTO_CHUNK + 777, cl = CRYPTO_CHUNK + CRYPTO_TAG_LEN;
    unsigned char *pt = malloc(n);
    buf ct;
    for (size_t i = 0; i < n; i++) pt[i] = (unsigned char)rnd();
    seal(pt, n, "full/a/t/o", &ct);
    unsigned char *t = malloc(ct.n);

    /* A flipped bit at random places, and at each structural spot. */
    size_t spots[] = {0, 9, 13, 20, 40, 47, 48, 48 + cl - 1, 48 + cl, 48 + 2 * cl + 5, ct.n - 1};
    for (int k = 0; k < 40; k++) {
        size_t pos = k < 11 ? spots[k] : CRYPTO_HDR_LEN + rnd() % (ct.n - CRYPTO_HDR_LEN);
        memcpy(t, ct.d, ct.n);
        t[pos] ^= (unsigned char)(1u << (rnd() % 8));
        refused("flipped bit", t, ct.n, "full/a/t/o", NULL, pos < 8 ? "magic" : "");
    }
    /* Truncated mid-chunk, at a chunk boundary, to the header only, to nothing. */
    refused("cut mid-chunk", ct.d, ct.n - 100, "full/a/t/o", NULL, "last chunk");
    refused("cut at a boundary", ct.d, 48 + 3 * cl, "full/a/t/o", NULL, "truncated");
    refused("header only", ct.d, 48, "full/a/t/o", NULL, "truncated");
    refused("half a header", ct.d, 20, "full/a/t/o", NULL, "truncated");
    /* Chunks 1 and 2 swapped. */
    memcpy(t, ct.d, ct.n);
    memcpy(t + 48 + cl, ct.d + 48 + 2 * cl, cl);
    memcpy(t + 48 + 2 * cl, ct.d + 48 + cl, cl);
    refused("swapped chunks", t, ct.n, "full/a/t/o", NULL, "chunk 1");
    /* Chunk 1 duplicated in place of chunk 2. */
    memcpy(t, ct.d, ct.n);
    memcpy(t + 48 + 2 * cl, ct.d + 48 + cl, cl);
    refused("duplicated chunk", t, ct.n, "full/a/t/o", NULL, "chunk 2");
    /* An extra chunk appended after the final one. */
    {
        unsigned char *x = malloc(ct.n + cl);
        memcpy(x, ct.d, ct.n);
        memcpy(x + ct.n, ct.d + 48, cl);
        refused("appended chunk", x, ct.n + cl, "full/a/t/o", NULL, "chunk 3");
        free(x);
    }
    /* The object moved to another key: same data key, other context. */
    refused("moved object", ct.d, ct.n, "full/b/t/o", NULL, "another key");
    /* Another workspace's data key. */
    {
        crypto_dk other = DK;
        other.id[0] ^= 1;
        refused("other data key", ct.d, ct.n, "full/a/t/o", &other, "another workspace");
        other = DK;
        other.key[0] ^= 1; /* same id, wrong key bytes */
        refused("wrong key bytes", ct.d, ct.n, "full/a/t/o", &other, "first chunk");
    }
    free(t);
    free(ct.d);
    free(pt);
}

/* Writes a file. */
static void put_file(const char *path, const void *d, size_t n)
{
    FILE *f = fopen(path, "wb");
    fwrite(d, 1, n, f);
    fclose(f);
}

static void test_kek_files(void)
{
    char dir[] = "/tmp/sv-test-crypto-XXXXXX", p[256];
    unsigned char raw[32];
    const char *hex = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n";
    const char *b64 = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n";
    crypto_kek a, b, c;
    sv_err e;
    CHECK(mkdtemp(dir) != NULL);
    for (int i = 0; i < 32; i++) raw[i] = (unsigned char)i;
    snprintf(p, sizeof p, "%s/raw", dir);
    put_file(p, raw, 32);
    CHECK(crypto_kek_load(p, "T", &a, &e) == 0);
    snprintf(p, sizeof p, "%s/hex", dir);
    put_file(p, hex, strlen(hex));
    CHECK(crypto_kek_load(p, "T", &b, &e) == 0);
    snprintf(p, sizeof p, "%s/b64", dir);
    put_file(p, b64, strlen(b64));
    CHECK(crypto_kek_load(p, "T", &c, &e) == 0);
    CHECK(memcmp(a.key, raw, 32) == 0 && memcmp(b.key, raw, 32) == 0 && memcmp(c.key, raw, 32) == 0);
    CHECK_STR(a.id, b.id);
    CHECK_STR(a.id, c.id);
    CHECK_INT(strlen(a.id), 16);
    snprintf(p, sizeof p, "%s/short", dir);
    put_file(p, "SECRETSECRET0123", 16);
    CHECK(crypto_kek_load(p, "T", &a, &e) != 0);
    CHECK_INT(e.code, SV_EINVAL);
    CHECK(strstr(e.msg, "SECRET") == NULL);
    snprintf(p, sizeof p, "%s/none", dir);
    CHECK(crypto_kek_load(p, "T", &a, &e) != 0);
    CHECK_INT(e.code, SV_EINVAL);
    snprintf(p, sizeof p, "rm -rf %s", dir);
    CHECK(system(p) == 0);
}

static void test_wrap(void)
{
    crypto_keyring kr = {.n = 1}, other = {.n = 1};
    crypto_dk back;
    sv_err e;
    json_t *rec;
    memset(kr.kek[0].key, 7, 32);
    strcpy(kr.kek[0].id, "aaaaaaaaaaaaaaaa");
    memset(other.kek[0].key, 8, 32);
    strcpy(other.kek[0].id, "bbbbbbbbbbbbbbbb");
    rec = crypto_dk_wrap(&kr.kek[0], "ws1", &DK, 0, &e);
    CHECK(rec != NULL);
    {
        char *txt = json_dumps(rec, 0);
        CHECK(txt && strstr(txt, "07070707") == NULL);
        free(txt);
    }
    CHECK(crypto_dk_unwrap(&kr, "ws1", rec, &back, &e) == 0);
    CHECK(memcmp(back.key, DK.key, 32) == 0 && strcmp(back.id_hex, DK.id_hex) == 0);
    /* Another workspace's record. */
    CHECK(crypto_dk_unwrap(&kr, "ws2", rec, &back, &e) != 0);
    CHECK_INT(e.code, SV_ECORRUPT);
    /* The wrong KEK: a configuration error, exit 2. */
    CHECK(crypto_dk_unwrap(&other, "ws1", rec, &back, &e) != 0);
    CHECK_INT(e.code, SV_EINVAL);
    CHECK(strstr(e.msg, "wrong encryption key") != NULL);
    /* No key configured. */
    {
        crypto_keyring none = {0};
        CHECK(crypto_dk_unwrap(&none, "ws1", rec, &back, &e) != 0);
        CHECK_INT(e.code, SV_EINVAL);
    }
    /* A record whose workspace was edited: the associated data no longer matches. */
    json_object_set_new(rec, "workspace", json_string("ws2"));
    CHECK(crypto_dk_unwrap(&kr, "ws2", rec, &back, &e) != 0);
    CHECK_INT(e.code, SV_ECORRUPT);
    json_object_set_new(rec, "workspace", json_string("ws1"));
    /* A tampered wrapped key. */
    {
        char *w = strdup(json_string_value(json_object_get(rec, "wrapped")));
        w[3] = w[3] == '0' ? '1' : '0';
        json_object_set_new(rec, "wrapped", json_string(w));
        CHECK(crypto_dk_unwrap(&kr, "ws1", rec, &back, &e) != 0);
        CHECK_INT(e.code, SV_ECORRUPT);
        free(w);
    }
    /* A tombstone says shredded. */
    json_object_set_new(rec, "shredded", json_true());
    json_object_set_new(rec, "shreddedAt", json_string("2026-01-01T00:00:00.000Z"));
    CHECK(crypto_dk_unwrap(&kr, "ws1", rec, &back, &e) != 0);
    CHECK_INT(e.code, SV_ENOTFOUND);
    CHECK(strstr(e.msg, "shredded") != NULL);
    json_decref(rec);
}

/* Keyed checksums: not the plain digest, deterministic per data key (a
 * chain compares them), another key gives another, hex case does not
 * matter, a keyed one is never keyed twice, and crypto_sum_as keys only
 * for a keyed expectation. */
static void test_keyed_sums(void)
{
    const char *plain = "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
    const char *upper = "sha256:9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08";
    char a[CRYPTO_SUM_LEN], b[CRYPTO_SUM_LEN], c[CRYPTO_SUM_LEN], d[CRYPTO_SUM_LEN];
    crypto_dk other = DK;
    sv_err e;
    json_t *o;
    other.key[0] ^= 1;
    CHECK(crypto_sum_keyed(&DK, plain, a, &e) == 0);
    CHECK(strncmp(a, "hmac:", 5) == 0 && strlen(a) == 69);
    CHECK(crypto_sum_is_keyed(a) && !crypto_sum_is_keyed(plain) && !crypto_sum_is_keyed(NULL));
    CHECK(strstr(a, plain + 7) == NULL);
    CHECK(crypto_sum_keyed(&DK, upper, b, &e) == 0);
    CHECK_STR(a, b);
    CHECK(crypto_sum_keyed(&other, plain, c, &e) == 0);
    CHECK(strcmp(a, c) != 0);
    CHECK(crypto_sum_keyed(&DK, a, d, &e) != 0); /* never keyed twice */
    CHECK(crypto_sum_as(&DK, a, plain, d, &e) == 0);
    CHECK_STR(a, d);
    CHECK(crypto_sum_as(NULL, plain, upper, d, &e) == 0); /* a plain expectation: compared as it is */
    CHECK_STR(upper, d);
    CHECK(crypto_sum_as(NULL, a, plain, d, &e) != 0);     /* keyed, no data key: cannot match */
    o = json_pack("{s:s, s:s, s:n}", "checksum", plain, "stateChecksum", a, "none");
    CHECK(crypto_sum_key_field(&DK, o, "checksum", &e) == 0);
    CHECK(crypto_sum_key_field(&DK, o, "stateChecksum", &e) == 0);
    CHECK(crypto_sum_key_field(&DK, o, "none", &e) == 0);
    CHECK(crypto_sum_key_field(&DK, o, "absent", &e) == 0);
    CHECK_STR(a, json_string_value(json_object_get(o, "checksum")));
    CHECK_STR(a, json_string_value(json_object_get(o, "stateChecksum")));
    CHECK(json_is_null(json_object_get(o, "none")));
    json_decref(o);
}

int main(void)
{
    const char *s = getenv("SV_TEST_SEED");
    rng = s ? strtoull(s, NULL, 10) : (uint64_t)time(NULL);
    if (!rng) rng = 1;
    printf("seed %llu (SV_TEST_SEED to repeat)\n", (unsigned long long)rng);
    for (int i = 0; i < 32; i++) DK.key[i] = (unsigned char)(0x40 + i);
    for (int i = 0; i < 16; i++) DK.id[i] = (unsigned char)(0xa0 + i);
    sv_hex(DK.id, 16, DK.id_hex);
    test_roundtrip();
    test_known_answer();
    test_tamper();
    test_kek_files();
    test_wrap();
    test_keyed_sums();
    TEST_DONE();
}
