/* crypto.h -- client-side envelope encryption of stored objects.
 *
 * Three layers (docs/ENCRYPTION.md has the byte layouts):
 *
 *   KEK   the key-encryption key, 32 bytes read from SQLVAULT_ENCRYPTION_KEY_FILE
 *         (raw, 64 hex digits or base64). It lives in this process only: never
 *         logged, never in Redis, never in the store. Its id is a 64-bit hash.
 *   DK    one random data key per workspace, stored at keys/WS.json wrapped by
 *         the KEK with AES-256-GCM (the workspace and the DK's id bound in as
 *         associated data) next to the KEK's id. Rotation re-wraps DKs; objects
 *         are never re-encrypted. Shredding replaces the record by a tombstone.
 *   object  a stream of AES-256-GCM chunks under a per-object key derived from
 *         the DK (HKDF-SHA256 over a random salt and the object's store key), so
 *         an object copied or moved to any other key is refused. Each chunk's
 *         nonce is its index; the index and a final-chunk flag are bound in as
 *         associated data, so reordering, truncation and tampering are detected.
 *
 * The stream filters (crypto_stream) take any number of bytes in and call an
 * output function with whole chunks (sealing batches up to 16 of them, 1 MiB, per call);
 * memory is bounded by that whatever the size.
 * They are a pure byte filter so any object (full backups, LiveStore extra
 * files, future incremental links) can be sealed with the same format.
 *
 * THREAD SAFETY NOTES: nothing is shared; every object belongs to one thread. */
#ifndef SV_CRYPTO_H
#define SV_CRYPTO_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "config.h"
#include "err.h"
#include "store.h"

#define CRYPTO_KEY_LEN 32
#define CRYPTO_TAG_LEN 16
#define CRYPTO_HDR_LEN 48
#define CRYPTO_CHUNK (64 * 1024)     /* plaintext bytes per chunk */
#define CRYPTO_FORMAT "sqlvault-enc-1"
#define CRYPTO_ALG "AES-256-GCM"

/* A key-encryption key and its public id (16 hex digits). */
typedef struct crypto_kek {
    unsigned char key[CRYPTO_KEY_LEN];
    char id[17];
} crypto_kek;

/* The configured KEKs: [0] the current one (wraps new data keys), then the
 * previous one (SQLVAULT_ENCRYPTION_OLD_KEY_FILE, only unwraps) and, during
 * `keys rotate`, the new one. n == 0 when encryption is off. */
typedef struct crypto_keyring {
    int n;
    crypto_kek kek[3];
} crypto_keyring;

/* A workspace's data key. */
typedef struct crypto_dk {
    unsigned char key[CRYPTO_KEY_LEN];
    unsigned char id[16];
    char id_hex[33];
} crypto_dk;

/* Reads a KEK file (what names the file in messages: the variable). SV_EINVAL
 * when missing, unreadable or not 32 bytes; the content is never echoed. */
int crypto_kek_load(const char *path, const char *what, crypto_kek *out, sv_err *err);
/* The keyring of cfg (n == 0 when no key file is set). SV_EINVAL on a bad file. */
int crypto_keyring_load(const sv_config *cfg, crypto_keyring *kr, sv_err *err);
/* Wipes the key material. */
void crypto_keyring_clear(crypto_keyring *kr);
void crypto_dk_clear(crypto_dk *dk);

/* keys/WS.json, heap string. */
char *crypto_dk_key(const char *ws);

/* A fresh wrapped-key record for dk under kek (new reference). */
json_t *crypto_dk_wrap(const crypto_kek *kek, const char *ws, const crypto_dk *dk, int64_t now_ms, sv_err *err);
/* Unwraps a record with whichever KEK of kr it names. SV_EINVAL when no
 * configured KEK matches (a wrong key), SV_ENOTFOUND for a tombstone
 * (shredded), SV_ECORRUPT when the record is damaged or not this workspace's. */
int crypto_dk_unwrap(const crypto_keyring *kr, const char *ws, json_t *rec, crypto_dk *dk, sv_err *err);

/* The workspace's data key from the store. With create, a missing one is
 * made and written with If-None-Match (a concurrent creator wins, and its key
 * is read back). *created tells (may be NULL). */
int crypto_dk_get(store_t *s, const crypto_keyring *kr, const sv_clock *clock, const char *ws, bool create,
                  crypto_dk *dk, bool *created, sv_err *err);

/* The data key for a backup of ws, or *on = false when encryption is off.
 * With no key configured, a workspace that has a data key record is refused
 * (SV_EINVAL): its backups are encrypted and must not go on in the clear. */
int crypto_for_backup(const sv_config *cfg, store_t *s, const sv_clock *clock, const char *ws, crypto_dk *dk,
                      bool *on, sv_err *err);
/* The data key to read an encrypted object of ws: SV_EINVAL if no key is
 * configured or it is the wrong one, SV_ENOTFOUND if shredded or missing. */
int crypto_for_restore(const sv_config *cfg, store_t *s, const sv_clock *clock, const char *ws, crypto_dk *dk,
                       sv_err *err);

/* metadata.json's "encryption" object for an object sealed with dk. */
json_t *crypto_meta(const crypto_dk *dk, const char *ws);

/* Keyed checksums (sums.c): an encrypted backup's metadata.json holds
 * "hmac:HEX" (HMAC-SHA256 under a key derived from the workspace's data key
 * of the "sha256:HEX" of the plaintext) where a plain backup holds the
 * sha256, so the bucket holds no plaintext digest to confirm a guess with. */
#define CRYPTO_SUM_PREFIX "hmac:"
#define CRYPTO_SUM_LEN 72 /* as a "sha256:HEX" checksum: "hmac:" + 64 hex digits + NUL fits */
bool crypto_sum_is_keyed(const char *sum);
/* The keyed form of plain ("sha256:HEX", any case). */
int crypto_sum_keyed(const crypto_dk *dk, const char *plain, char out[CRYPTO_SUM_LEN], sv_err *err);
/* Keys the string field of o in place (absent or keyed already: unchanged). */
int crypto_sum_key_field(const crypto_dk *dk, json_t *o, const char *field, sv_err *err);
/* computed (plain) in the form of expected: keyed with dk when expected is
 * keyed (dk NULL then fails), else copied. */
int crypto_sum_as(const crypto_dk *dk, const char *expected, const char *computed, char out[CRYPTO_SUM_LEN],
                  sv_err *err);

/* True when the bytes start with the sealed-object magic. */
bool crypto_is_sealed(const void *data, size_t len);

/* Output of a stream filter: whole chunks (and the header) in order. */
typedef int (*crypto_out_fn)(void *ud, const void *data, size_t len, sv_err *err);
typedef struct crypto_stream crypto_stream;

/* An encrypting filter for the object stored under context (its store key).
 * salt NULL = random (tests pass a fixed one). */
int crypto_seal_new(const crypto_dk *dk, const char *context, const unsigned char *salt, crypto_out_fn out,
                    void *ud, crypto_stream **s, sv_err *err);
/* A decrypting filter: ciphertext in, verified plaintext out. */
int crypto_open_new(const crypto_dk *dk, const char *context, crypto_out_fn out, void *ud, crypto_stream **s,
                    sv_err *err);
int crypto_stream_write(crypto_stream *s, const void *data, size_t len, sv_err *err);
/* Seals or checks the final chunk. Decrypting, a stream cut short fails here. */
int crypto_stream_finish(crypto_stream *s, sv_err *err);
void crypto_stream_free(crypto_stream *s); /* NULL is a no-op; wipes keys */
/* Random access to a sealed object (a byte range of it, issue 25): hdr is
 * its first CRYPTO_HDR_LEN bytes, checked (magic, version, this key's id) and
 * the object key derived for context. Chunk i of the object is stored at
 * CRYPTO_HDR_LEN + i * (chunk + CRYPTO_TAG_LEN); crypto_random_chunk
 * authenticates and decrypts one (final: it is the object's last) into out
 * (chunk bytes of room), *n its plaintext length. Free with crypto_stream_free. */
int crypto_random_new(const crypto_dk *dk, const char *context, const unsigned char *hdr, crypto_stream **s,
                      sv_err *err);
uint32_t crypto_stream_chunk(const crypto_stream *s);
int crypto_random_chunk(crypto_stream *s, uint64_t index, bool final, const void *in, size_t len, void *out,
                        size_t *n, sv_err *err);

/* `sqlvault keys rotate`: re-wraps every data key under newk. Keys already
 * under newk are skipped (idempotent, resumable); at most limit (0 = all) are
 * re-wrapped in this run; jobs threads, each with its own store. */
typedef struct crypto_rotate_stats {
    uint64_t seen, rewrapped, already, shredded, failed, requests;
    int64_t ms;
    char first_error[512];
} crypto_rotate_stats;
int crypto_rotate(const sv_config *cfg, const sv_clock *clock, const crypto_kek *newk, uint64_t limit, int jobs,
                  crypto_rotate_stats *st, sv_err *err);
/* `sqlvault keys shred WS`: replaces the data key by a tombstone. SV_ENOTFOUND
 * when the workspace has no data key. */
int crypto_shred(store_t *s, const sv_clock *clock, const char *ws, sv_err *err);

#endif
