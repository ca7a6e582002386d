/* stream.c -- the sealed-object format: a header, then AES-256-GCM chunks.
 *
 * header (48 bytes): "SQLVENC1", version 1, algorithm 1 (AES-256-GCM), two
 * zero bytes, the chunk size (u32 big-endian), the data key's 16-byte id and
 * a 16-byte random salt. Then chunks of exactly chunk-size plaintext bytes
 * (the last one 0..chunk-size bytes), each stored as ciphertext + 16-byte tag.
 *
 * Object key: HKDF-SHA256(ikm = DK, salt = header salt,
 *                         info = "sqlvault object v1" NUL context), context
 * being the object's store key. Chunk i: nonce = 4 zero bytes || i (u64 BE),
 * associated data = the 48 header bytes || i (u64 BE) || final (1 byte).
 * The header is authenticated by every chunk; a reordered chunk fails on its
 * index, a cut at a chunk boundary fails on the final flag, a moved object on
 * its key. */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>
#include "crypto.h"
#include "util.h"

static const unsigned char MAGIC[8] = {'S', 'Q', 'L', 'V', 'E', 'N', 'C', '1'};

struct crypto_stream {
    bool seal;
    EVP_CIPHER_CTX *c;
    unsigned char hdr[CRYPTO_HDR_LEN];
    size_t hdr_len;          /* open: header bytes received so far */
    unsigned char dk_id[16];
    unsigned char dk[CRYPTO_KEY_LEN];
    char *context;
    uint32_t chunk;
    unsigned char *buf;      /* seal: plaintext; open: ciphertext + tag */
    size_t pos;
    unsigned char *out;      /* open: chunk + tag; seal: a batch of sealed chunks */
    size_t out_len, out_cap; /* seal: bytes batched in out, its size */
    uint64_t index;
    bool started, finished;
    crypto_out_fn fn;
    void *ud;
};

/* True when the bytes start with the sealed-object magic. */
bool crypto_is_sealed(const void *data, size_t len)
{
    return len >= sizeof MAGIC && memcmp(data, MAGIC, sizeof MAGIC) == 0;
}

/* Big-endian u64 into 8 bytes. */
static void be64(unsigned char *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8) p[i] = (unsigned char)v;
}

/* HKDF-SHA256 (one 32-byte block) of the object key; sets it on the cipher. */
static int derive(crypto_stream *s, sv_err *err)
{
    unsigned char prk[32], okm[32], *info;
    unsigned int n = 0;
    static const char label[] = "sqlvault object v1";
    size_t cl = strlen(s->context), il = sizeof label + cl + 1; /* label NUL context 0x01 */
    int rc = -1;
    info = malloc(il);
    if (!info) return sv_err_set(err, SV_ENOMEM, "out of memory");
    memcpy(info, label, sizeof label);
    memcpy(info + sizeof label, s->context, cl);
    info[il - 1] = 1;
    if (!HMAC(EVP_sha256(), s->hdr + 32, 16, s->dk, sizeof s->dk, prk, &n) ||
        !HMAC(EVP_sha256(), prk, sizeof prk, info, il, okm, &n)) {
        sv_err_set(err, SV_EINTERNAL, "hkdf failed");
        goto done;
    }
    if ((s->seal ? EVP_EncryptInit_ex(s->c, EVP_aes_256_gcm(), NULL, okm, NULL)
                 : EVP_DecryptInit_ex(s->c, EVP_aes_256_gcm(), NULL, okm, NULL)) != 1) {
        sv_err_set(err, SV_EINTERNAL, "unable to set up aes-256-gcm");
        goto done;
    }
    rc = 0;
done:
    OPENSSL_cleanse(prk, sizeof prk);
    OPENSSL_cleanse(okm, sizeof okm);
    free(info);
    return rc;
}

/* Nonce and associated data of chunk index/final. */
static int chunk_begin(crypto_stream *s, bool final)
{
    unsigned char iv[12] = {0}, aad[CRYPTO_HDR_LEN + 9];
    int n;
    be64(iv + 4, s->index);
    memcpy(aad, s->hdr, CRYPTO_HDR_LEN);
    be64(aad + CRYPTO_HDR_LEN, s->index);
    aad[CRYPTO_HDR_LEN + 8] = final ? 1 : 0;
    if (s->seal)
        return EVP_EncryptInit_ex(s->c, NULL, NULL, NULL, iv) == 1 &&
                       EVP_EncryptUpdate(s->c, NULL, &n, aad, sizeof aad) == 1 ? 0 : -1;
    return EVP_DecryptInit_ex(s->c, NULL, NULL, NULL, iv) == 1 &&
                   EVP_DecryptUpdate(s->c, NULL, &n, aad, sizeof aad) == 1 ? 0 : -1;
}

/* Common constructor. */
static int stream_new(bool seal, const crypto_dk *dk, const char *context, crypto_out_fn fn, void *ud,
                      crypto_stream **out, sv_err *err)
{
    crypto_stream *s = calloc(1, sizeof *s);
    *out = NULL;
    if (!s) return sv_err_set(err, SV_ENOMEM, "out of memory");
    s->seal = seal;
    s->chunk = CRYPTO_CHUNK;
    s->fn = fn;
    s->ud = ud;
    memcpy(s->dk, dk->key, sizeof s->dk);
    memcpy(s->dk_id, dk->id, sizeof s->dk_id);
    s->context = strdup(context ? context : "");
    s->c = EVP_CIPHER_CTX_new();
    if (!s->context || !s->c) {
        crypto_stream_free(s);
        return sv_err_set(err, SV_ENOMEM, "out of memory");
    }
    *out = s;
    return 0;
}

/* Sealed chunks handed to the output function at once: fewer, larger store writes. */
#define SEAL_BATCH 16

/* Allocates the chunk buffers once the chunk size is known. */
static int stream_buffers(crypto_stream *s, sv_err *err)
{
    s->buf = malloc((size_t)s->chunk + CRYPTO_TAG_LEN);
    s->out_cap = s->seal ? CRYPTO_HDR_LEN + SEAL_BATCH * ((size_t)s->chunk + CRYPTO_TAG_LEN)
                         : (size_t)s->chunk + CRYPTO_TAG_LEN;
    s->out = malloc(s->out_cap);
    if (!s->buf || !s->out) return sv_err_set(err, SV_ENOMEM, "out of memory");
    return 0;
}

/* An encrypting filter (see crypto.h). */
int crypto_seal_new(const crypto_dk *dk, const char *context, const unsigned char *salt, crypto_out_fn out,
                    void *ud, crypto_stream **sp, sv_err *err)
{
    crypto_stream *s;
    if (stream_new(true, dk, context, out, ud, &s, err) != 0) return -1;
    memcpy(s->hdr, MAGIC, 8);
    s->hdr[8] = 1;
    s->hdr[9] = 1;
    s->hdr[12] = (unsigned char)(s->chunk >> 24);
    s->hdr[13] = (unsigned char)(s->chunk >> 16);
    s->hdr[14] = (unsigned char)(s->chunk >> 8);
    s->hdr[15] = (unsigned char)s->chunk;
    memcpy(s->hdr + 16, dk->id, 16);
    if (salt) memcpy(s->hdr + 32, salt, 16);
    else if (RAND_bytes(s->hdr + 32, 16) != 1) {
        crypto_stream_free(s);
        return sv_err_set(err, SV_EINTERNAL, "no randomness for the object salt");
    }
    s->hdr_len = CRYPTO_HDR_LEN;
    if (stream_buffers(s, err) != 0 || derive(s, err) != 0) {
        crypto_stream_free(s);
        return -1;
    }
    *sp = s;
    return 0;
}

/* A decrypting filter (see crypto.h); the header comes with the first bytes. */
int crypto_open_new(const crypto_dk *dk, const char *context, crypto_out_fn out, void *ud, crypto_stream **sp,
                    sv_err *err)
{
    return stream_new(false, dk, context, out, ud, sp, err);
}

/* Hands the batched sealed bytes to the output function. */
static int seal_flush(crypto_stream *s, sv_err *err)
{
    size_t n = s->out_len;
    s->out_len = 0;
    return n ? s->fn(s->ud, s->out, n, err) : 0;
}

/* Seals buf[0..pos) as chunk index into the batch (the header first), flushing
 * the batch when the next chunk might not fit and after the final chunk. */
static int seal_chunk(crypto_stream *s, bool final, sv_err *err)
{
    int n = 0, m = 0;
    unsigned char *o;
    if (!s->started) {
        s->started = true;
        memcpy(s->out, s->hdr, CRYPTO_HDR_LEN);
        s->out_len = CRYPTO_HDR_LEN;
    }
    if (s->out_cap - s->out_len < (size_t)s->chunk + CRYPTO_TAG_LEN && seal_flush(s, err) != 0) return -1;
    o = s->out + s->out_len;
    if (chunk_begin(s, final) != 0 || EVP_EncryptUpdate(s->c, o, &n, s->buf, (int)s->pos) != 1 ||
        EVP_EncryptFinal_ex(s->c, o + n, &m) != 1 ||
        EVP_CIPHER_CTX_ctrl(s->c, EVP_CTRL_GCM_GET_TAG, CRYPTO_TAG_LEN, o + n + m) != 1)
        return sv_err_set(err, SV_EINTERNAL, "aes-256-gcm encryption failed");
    s->index++;
    s->pos = 0;
    s->out_len += (size_t)(n + m) + CRYPTO_TAG_LEN;
    return final ? seal_flush(s, err) : 0;
}

/* Checks buf[0..pos) (ciphertext + tag) as chunk index and emits the plaintext. */
static int open_chunk(crypto_stream *s, bool final, sv_err *err)
{
    int n = 0, m = 0;
    size_t clen;
    if (s->pos < CRYPTO_TAG_LEN) {
        sv_err_set(err, SV_ECORRUPT, "the encrypted object is truncated (chunk %llu is incomplete)",
                   (unsigned long long)s->index);
        return sv_err_hint(err, "the object was cut short in the store; restore an older backup");
    }
    clen = s->pos - CRYPTO_TAG_LEN;
    if (chunk_begin(s, final) != 0 || EVP_DecryptUpdate(s->c, s->out, &n, s->buf, (int)clen) != 1 ||
        EVP_CIPHER_CTX_ctrl(s->c, EVP_CTRL_GCM_SET_TAG, CRYPTO_TAG_LEN, s->buf + clen) != 1)
        return sv_err_set(err, SV_EINTERNAL, "aes-256-gcm decryption failed");
    if (EVP_DecryptFinal_ex(s->c, s->out + n, &m) != 1) {
        if (s->index == 0)
            sv_err_set(err, SV_ECORRUPT, "the encrypted object fails authentication at its first chunk: it was "
                       "modified, or it was written for another key than '%s' (moved or copied)", s->context);
        else if (final)
            sv_err_set(err, SV_ECORRUPT, "the encrypted object fails authentication at its last chunk (%llu): it "
                       "was truncated or modified", (unsigned long long)s->index);
        else
            sv_err_set(err, SV_ECORRUPT, "the encrypted object fails authentication at chunk %llu: it was "
                       "modified or its chunks reordered", (unsigned long long)s->index);
        return sv_err_hint(err, "the stored object is not what sqlvault wrote; restore an older backup");
    }
    s->index++;
    s->pos = 0;
    return n + m > 0 ? s->fn(s->ud, s->out, (size_t)(n + m), err) : 0; /* only an empty object has an empty chunk */
}

/* Parses and checks the header once complete. */
static int open_header(crypto_stream *s, sv_err *err)
{
    char want[33], got[33];
    if (memcmp(s->hdr, MAGIC, 8) != 0) {
        sv_err_set(err, SV_ECORRUPT, "the object is not a sqlvault encrypted object (bad magic bytes)");
        return sv_err_hint(err, "metadata.json says it is encrypted; the object was replaced");
    }
    if (s->hdr[8] != 1 || s->hdr[9] != 1) {
        sv_err_set(err, SV_ECORRUPT, "unknown encrypted object format (version %u, algorithm %u)", s->hdr[8],
                   s->hdr[9]);
        return sv_err_hint(err, "upgrade sqlvault to read objects written by a newer version");
    }
    s->chunk = (uint32_t)s->hdr[12] << 24 | (uint32_t)s->hdr[13] << 16 | (uint32_t)s->hdr[14] << 8 | s->hdr[15];
    if (s->chunk < 4096 || s->chunk > 16u << 20)
        return sv_err_set(err, SV_ECORRUPT, "the encrypted object's header has an invalid chunk size %u", s->chunk);
    if (memcmp(s->hdr + 16, s->dk_id, 16) != 0) {
        sv_hex(s->hdr + 16, 16, got);
        sv_hex(s->dk_id, 16, want);
        sv_err_set(err, SV_ECORRUPT, "the object was encrypted with data key %s, not this workspace's key %s: it "
                   "belongs to another workspace (moved or copied here)", got, want);
        return sv_err_hint(err, "restore it in its own workspace, or restore another backup");
    }
    if (stream_buffers(s, err) != 0 || derive(s, err) != 0) return -1;
    return 0;
}

/* Filters bytes (see crypto.h). */
int crypto_stream_write(crypto_stream *s, const void *data, size_t len, sv_err *err)
{
    const unsigned char *d = data;
    if (s->finished) return sv_err_set(err, SV_EINTERNAL, "write after finish");
    if (!s->seal && s->hdr_len < CRYPTO_HDR_LEN) {
        size_t n = CRYPTO_HDR_LEN - s->hdr_len;
        if (n > len) n = len;
        memcpy(s->hdr + s->hdr_len, d, n);
        s->hdr_len += n;
        d += n;
        len -= n;
        if (s->hdr_len < CRYPTO_HDR_LEN) return 0;
        if (open_header(s, err) != 0) return -1;
    }
    size_t full = s->seal ? s->chunk : (size_t)s->chunk + CRYPTO_TAG_LEN;
    while (len) {
        /* A full buffer is sealed/opened only once more bytes follow: the last
         * chunk is the one finish sees. */
        if (s->pos == full && (s->seal ? seal_chunk(s, false, err) : open_chunk(s, false, err)) != 0) return -1;
        size_t n = full - s->pos;
        if (n > len) n = len;
        memcpy(s->buf + s->pos, d, n);
        s->pos += n;
        d += n;
        len -= n;
    }
    return 0;
}

/* Ends the stream (see crypto.h). */
int crypto_stream_finish(crypto_stream *s, sv_err *err)
{
    if (s->finished) return 0;
    s->finished = true;
    if (s->seal) return seal_chunk(s, true, err);
    if (s->hdr_len < CRYPTO_HDR_LEN) {
        sv_err_set(err, SV_ECORRUPT, "the encrypted object is truncated (%zu of %d header bytes)", s->hdr_len,
                   CRYPTO_HDR_LEN);
        return sv_err_hint(err, "the object was cut short in the store; restore an older backup");
    }
    return open_chunk(s, true, err);
}

/* Frees the filter and wipes its keys. */
void crypto_stream_free(crypto_stream *s)
{
    if (!s) return;
    EVP_CIPHER_CTX_free(s->c);
    if (s->buf) OPENSSL_cleanse(s->buf, (size_t)s->chunk + CRYPTO_TAG_LEN);
    if (s->out) OPENSSL_cleanse(s->out, s->out_cap);
    free(s->buf);
    free(s->out);
    free(s->context);
    OPENSSL_cleanse(s->dk, sizeof s->dk);
    free(s);
}

/* ---- random access (issue 25: a range of a sealed object) ---------------- */

/* Where crypto_random_chunk's plaintext goes. */
typedef struct chunk_out {
    unsigned char *dst;
    size_t cap, n;
} chunk_out;

static int chunk_capture(void *ud, const void *data, size_t len, sv_err *err)
{
    chunk_out *o = ud;
    if (len > o->cap - o->n) return sv_err_set(err, SV_ECORRUPT, "an encrypted chunk is larger than its size");
    memcpy(o->dst + o->n, data, len);
    o->n += len;
    return 0;
}

int crypto_random_new(const crypto_dk *dk, const char *context, const unsigned char *hdr, crypto_stream **sp,
                      sv_err *err)
{
    crypto_stream *s;
    *sp = NULL;
    if (stream_new(false, dk, context, NULL, NULL, &s, err) != 0) return -1;
    memcpy(s->hdr, hdr, CRYPTO_HDR_LEN);
    s->hdr_len = CRYPTO_HDR_LEN;
    if (open_header(s, err) != 0) {
        crypto_stream_free(s);
        return -1;
    }
    s->started = true;
    *sp = s;
    return 0;
}

uint32_t crypto_stream_chunk(const crypto_stream *s) { return s->chunk; }

int crypto_random_chunk(crypto_stream *s, uint64_t index, bool final, const void *in, size_t len, void *out,
                        size_t *n, sv_err *err)
{
    chunk_out o = {out, s->chunk, 0};
    if (len > (size_t)s->chunk + CRYPTO_TAG_LEN)
        return sv_err_set(err, SV_ECORRUPT, "an encrypted chunk of %zu bytes is larger than the chunk size", len);
    memcpy(s->buf, in, len);
    s->pos = len;
    s->index = index;
    s->fn = chunk_capture;
    s->ud = &o;
    if (open_chunk(s, final, err) != 0) return -1;
    *n = o.n;
    return 0;
}
