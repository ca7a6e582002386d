/* keys.c -- key-encryption keys, workspace data keys and their records.
 *
 * keys/WS.json holds a workspace's data key wrapped by a KEK:
 *   {"version": 1, "workspace": WS, "dataKeyId": HEX32, "kekId": HEX16,
 *    "alg": "AES-256-GCM", "nonce": HEX24, "wrapped": HEX96,
 *    "createdAt": ISO, "wrappedAt": ISO}
 * wrapped = AES-256-GCM(KEK, nonce, DK) || tag with associated data
 * "sqlvault data key v1" NUL WS NUL dataKeyId, so a record copied to another
 * workspace does not unwrap. A shredded workspace's record is a tombstone:
 *   {"version": 1, "workspace": WS, "dataKeyId": HEX32, "shredded": true,
 *    "shreddedAt": ISO}
 * Key material comes from RAND_bytes (never the injectable clock's random
 * source, which is for jitter) and is wiped after use. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "crypto.h"
#include "util.h"

#define REC_MAX 65536

/* Decodes exactly n bytes of hex; -1 on bad input. */
static int unhex(const char *s, unsigned char *out, size_t n)
{
    if (!s || strlen(s) != 2 * n) return -1;
    for (size_t i = 0; i < n; i++) {
        int v = 0;
        for (int j = 0; j < 2; j++) {
            char c = s[2 * i + (size_t)j];
            int d = isdigit((unsigned char)c) ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10
                                                        : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
            if (d < 0) return -1;
            v = v * 16 + d;
        }
        out[i] = (unsigned char)v;
    }
    return 0;
}

/* The public id of a KEK: 16 hex digits of SHA-256("sqlvault kek id v1" || KEK). */
static void kek_id(crypto_kek *k)
{
    unsigned char d[32];
    unsigned int n = 0;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    static const char label[] = "sqlvault kek id v1";
    if (md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 && EVP_DigestUpdate(md, label, sizeof label - 1) == 1 &&
        EVP_DigestUpdate(md, k->key, sizeof k->key) == 1 && EVP_DigestFinal_ex(md, d, &n) == 1)
        sv_hex(d, 8, k->id);
    else strcpy(k->id, "0000000000000000");
    EVP_MD_CTX_free(md);
}

/* Reads a KEK file: 32 raw bytes, 64 hex digits or base64 of 32 bytes. */
int crypto_kek_load(const char *path, const char *what, crypto_kek *out, sv_err *err)
{
    unsigned char buf[258], dec[200];
    ssize_t n;
    size_t len = 0;
    int fd, rc = -1;
    memset(out, 0, sizeof *out);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        sv_err_set(err, SV_EINVAL, "%s: unable to read the key file '%s': %s", what, path, strerror(errno));
        return sv_err_hint(err, "make a key with: head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \\n' > FILE");
    }
    while (len < sizeof buf && (n = read(fd, buf + len, sizeof buf - len)) != 0) {
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) break;
        len += (size_t)n;
    }
    close(fd);
    if (len == CRYPTO_KEY_LEN) {
        memcpy(out->key, buf, CRYPTO_KEY_LEN);
        rc = 0;
    } else if (len < sizeof buf) {
        while (len && isspace(buf[len - 1])) len--;
        buf[len] = '\0';
        if (len == 2 * CRYPTO_KEY_LEN && unhex((char *)buf, out->key, CRYPTO_KEY_LEN) == 0) rc = 0;
        else if (len == 44 && buf[43] == '=' && buf[42] != '=' &&
                 EVP_DecodeBlock(dec, buf, (int)len) == 33) { /* 32 bytes + 1 for the '=' pad */
            memcpy(out->key, dec, CRYPTO_KEY_LEN);
            rc = 0;
        }
    }
    OPENSSL_cleanse(buf, sizeof buf);
    OPENSSL_cleanse(dec, sizeof dec);
    if (rc != 0) {
        memset(out, 0, sizeof *out);
        sv_err_set(err, SV_EINVAL, "%s: the key file '%s' must hold a 32-byte key: 32 raw bytes, 64 hex digits "
                   "or base64", what, path);
        return sv_err_hint(err, "make a key with: head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \\n' > FILE");
    }
    kek_id(out);
    return 0;
}

/* The keyring of cfg. */
int crypto_keyring_load(const sv_config *cfg, crypto_keyring *kr, sv_err *err)
{
    memset(kr, 0, sizeof *kr);
    if (!cfg->encryption_key_file) {
        if (cfg->encryption_old_key_file) {
            sv_err_set(err, SV_EINVAL, "SQLVAULT_ENCRYPTION_OLD_KEY_FILE is set without SQLVAULT_ENCRYPTION_KEY_FILE");
            return sv_err_hint(err, "the old key only unwraps during a rotation; set the current key too");
        }
        return 0;
    }
    if (crypto_kek_load(cfg->encryption_key_file, "SQLVAULT_ENCRYPTION_KEY_FILE", &kr->kek[0], err) != 0) return -1;
    kr->n = 1;
    if (cfg->encryption_old_key_file) {
        if (crypto_kek_load(cfg->encryption_old_key_file, "SQLVAULT_ENCRYPTION_OLD_KEY_FILE", &kr->kek[1], err) != 0) {
            crypto_keyring_clear(kr);
            return -1;
        }
        kr->n = 2;
    }
    return 0;
}

/* Wipes the key material. */
void crypto_keyring_clear(crypto_keyring *kr)
{
    OPENSSL_cleanse(kr, sizeof *kr);
    kr->n = 0;
}

void crypto_dk_clear(crypto_dk *dk) { OPENSSL_cleanse(dk, sizeof *dk); }

/* keys/WS.json */
char *crypto_dk_key(const char *ws) { return sv_asprintf("keys/%s.json", ws); }

/* Associated data of a wrapped key. */
static size_t wrap_aad(const char *ws, const char *dk_id_hex, unsigned char *out, size_t cap)
{
    static const char label[] = "sqlvault data key v1";
    size_t wl = strlen(ws), n = sizeof label + wl + 1 + 32;
    if (n > cap) return 0;
    memcpy(out, label, sizeof label);
    memcpy(out + sizeof label, ws, wl);
    out[sizeof label + wl] = '\0';
    memcpy(out + sizeof label + wl + 1, dk_id_hex, 32);
    return n;
}

/* A wrapped-key record (see the top of this file). */
json_t *crypto_dk_wrap(const crypto_kek *kek, const char *ws, const crypto_dk *dk, int64_t now_ms, sv_err *err)
{
    unsigned char nonce[12], ct[CRYPTO_KEY_LEN + CRYPTO_TAG_LEN], aad[256];
    char nonce_hex[25], ct_hex[2 * sizeof ct + 1], iso[SV_ISO_LEN];
    size_t al = wrap_aad(ws, dk->id_hex, aad, sizeof aad);
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int n = 0, m = 0;
    json_t *rec = NULL;
    if (!c || !al) {
        sv_err_set(err, SV_ENOMEM, "out of memory");
        goto done;
    }
    if (RAND_bytes(nonce, sizeof nonce) != 1 || EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, kek->key, nonce) != 1 ||
        EVP_EncryptUpdate(c, NULL, &n, aad, (int)al) != 1 || EVP_EncryptUpdate(c, ct, &n, dk->key, CRYPTO_KEY_LEN) != 1 ||
        EVP_EncryptFinal_ex(c, ct + n, &m) != 1 ||
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, CRYPTO_TAG_LEN, ct + CRYPTO_KEY_LEN) != 1) {
        sv_err_set(err, SV_EINTERNAL, "unable to wrap the data key");
        goto done;
    }
    sv_hex(nonce, sizeof nonce, nonce_hex);
    sv_hex(ct, sizeof ct, ct_hex);
    sv_iso_format(now_ms, iso);
    rec = json_pack("{s:i, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "version", 1, "workspace", ws, "dataKeyId",
                    dk->id_hex, "kekId", kek->id, "alg", CRYPTO_ALG, "nonce", nonce_hex, "wrapped", ct_hex,
                    "createdAt", iso, "wrappedAt", iso);
    if (!rec) sv_err_set(err, SV_ENOMEM, "out of memory");
done:
    EVP_CIPHER_CTX_free(c);
    return rec;
}

/* Unwraps a record with the KEK it names (see crypto.h). */
int crypto_dk_unwrap(const crypto_keyring *kr, const char *ws, json_t *rec, crypto_dk *dk, sv_err *err)
{
    const char *rws = json_string_value(json_object_get(rec, "workspace"));
    const char *id = json_string_value(json_object_get(rec, "dataKeyId"));
    const char *kid = json_string_value(json_object_get(rec, "kekId"));
    const char *nh = json_string_value(json_object_get(rec, "nonce"));
    const char *wh = json_string_value(json_object_get(rec, "wrapped"));
    unsigned char nonce[12], ct[CRYPTO_KEY_LEN + CRYPTO_TAG_LEN], aad[256];
    const crypto_kek *k = NULL;
    EVP_CIPHER_CTX *c = NULL;
    int n = 0, m = 0, rc = -1;
    size_t al;

    memset(dk, 0, sizeof *dk);
    if (!rws || strcmp(rws, ws) != 0 || !id || unhex(id, dk->id, 16) != 0)
        return sv_err_set(err, SV_ECORRUPT, "the data key record of workspace '%s' is damaged or belongs to "
                          "another workspace ('%s')", ws, rws ? rws : "?");
    if (json_is_true(json_object_get(rec, "shredded"))) {
        const char *at = json_string_value(json_object_get(rec, "shreddedAt"));
        sv_err_set(err, SV_ENOTFOUND, "the data key of workspace '%s' was shredded at %s (sqlvault keys shred): "
                   "its encrypted backups can no longer be decrypted, by design", ws, at ? at : "?");
        return sv_err_hint(err, "the data of this workspace was crypto-shredded; nothing can bring it back");
    }
    if (kr->n == 0) {
        sv_err_set(err, SV_EINVAL, "workspace '%s' is encrypted and no key is configured", ws);
        return sv_err_hint(err, "set SQLVAULT_ENCRYPTION_KEY_FILE to the key-encryption key file");
    }
    for (int i = 0; i < kr->n; i++)
        if (kid && strcmp(kr->kek[i].id, kid) == 0) k = &kr->kek[i];
    if (!k) {
        sv_err_set(err, SV_EINVAL, "wrong encryption key: the data key of workspace '%s' is wrapped by key %s, "
                   "and the configured key is %s", ws, kid ? kid : "?", kr->kek[0].id);
        return sv_err_hint(err, "set SQLVAULT_ENCRYPTION_KEY_FILE to the right key file (during a rotation, "
                           "SQLVAULT_ENCRYPTION_OLD_KEY_FILE to the previous one)");
    }
    if (unhex(nh, nonce, sizeof nonce) != 0 || unhex(wh, ct, sizeof ct) != 0)
        return sv_err_set(err, SV_ECORRUPT, "the data key record of workspace '%s' is damaged (nonce or wrapped "
                          "key)", ws);
    memcpy(dk->id_hex, id, 32);
    for (int i = 0; i < 32; i++) dk->id_hex[i] = (char)tolower((unsigned char)dk->id_hex[i]);
    dk->id_hex[32] = '\0';
    al = wrap_aad(ws, dk->id_hex, aad, sizeof aad);
    c = EVP_CIPHER_CTX_new();
    if (!c || !al) {
        sv_err_set(err, SV_ENOMEM, "out of memory");
        goto done;
    }
    if (EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, k->key, nonce) != 1 ||
        EVP_DecryptUpdate(c, NULL, &n, aad, (int)al) != 1 ||
        EVP_DecryptUpdate(c, dk->key, &n, ct, CRYPTO_KEY_LEN) != 1 ||
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, CRYPTO_TAG_LEN, ct + CRYPTO_KEY_LEN) != 1 ||
        EVP_DecryptFinal_ex(c, dk->key + n, &m) != 1) {
        sv_err_set(err, SV_ECORRUPT, "the data key of workspace '%s' does not unwrap with key %s: the record was "
                   "modified or copied from another workspace", ws, k->id);
        goto done;
    }
    rc = 0;
done:
    if (rc != 0) crypto_dk_clear(dk);
    EVP_CIPHER_CTX_free(c);
    return rc;
}

/* Reads keys/WS.json into *rec (NULL with SV_ENOTFOUND if absent). */
static int read_record(store_t *s, const char *ws, json_t **rec, sv_err *err)
{
    char *key = crypto_dk_key(ws), *text = NULL;
    json_error_t je;
    int rc = -1;
    *rec = NULL;
    if (!key) return sv_err_set(err, SV_ENOMEM, "out of memory");
    if (store_get_small(s, key, REC_MAX, &text, NULL, err) != 0) goto done;
    *rec = json_loads(text, 0, &je);
    if (!json_is_object(*rec)) {
        json_decref(*rec);
        *rec = NULL;
        sv_err_set(err, SV_ECORRUPT, "%s is not valid json: %s", key, je.text);
        goto done;
    }
    rc = 0;
done:
    free(text);
    free(key);
    return rc;
}

/* The workspace's data key, made on first use when create is set. */
int crypto_dk_get(store_t *s, const crypto_keyring *kr, const sv_clock *clock, const char *ws, bool create,
                  crypto_dk *dk, bool *created, sv_err *err)
{
    json_t *rec = NULL;
    char *key = NULL, *text = NULL;
    int rc = -1;
    if (created) *created = false;
    memset(dk, 0, sizeof *dk);
    for (int attempt = 0; attempt < 2; attempt++) {
        if (read_record(s, ws, &rec, err) == 0) {
            rc = crypto_dk_unwrap(kr, ws, rec, dk, err);
            if (rc != 0 && err->code == SV_ENOTFOUND && create) {
                sv_err_wrap(err, "refusing to back up workspace '%s' again", ws);
                sv_err_hint(err, "a shredded workspace is not backed up; delete keys/%s.json from the store "
                            "to start it afresh under a new data key", ws);
            }
            goto done;
        }
        if (err->code != SV_ENOTFOUND) goto done;
        if (!create) {
            sv_err_set(err, SV_ENOTFOUND, "no data key for workspace '%s' in the store (keys/%s.json is "
                       "missing): its encrypted backups cannot be decrypted", ws, ws);
            sv_err_hint(err, "the key record was deleted; restore it from a copy of the bucket if there is one");
            goto done;
        }
        if (kr->n == 0) {
            sv_err_set(err, SV_EINTERNAL, "no key to wrap a new data key with");
            goto done;
        }
        sv_err_clear(err);
        /* A new data key, written only if none exists. */
        if (RAND_bytes(dk->key, sizeof dk->key) != 1 || RAND_bytes(dk->id, sizeof dk->id) != 1) {
            sv_err_set(err, SV_EINTERNAL, "no randomness for a data key");
            goto done;
        }
        sv_hex(dk->id, sizeof dk->id, dk->id_hex);
        rec = crypto_dk_wrap(&kr->kek[0], ws, dk, sv_now_ms(clock), err);
        key = crypto_dk_key(ws);
        text = rec ? json_dumps(rec, JSON_INDENT(2)) : NULL;
        if (!rec || !key || !text) {
            if (rec) sv_err_set(err, SV_ENOMEM, "out of memory");
            goto done;
        }
        store_put_opts po = {.if_none_match = true, .content_type = "application/json"};
        if (store_put(s, key, text, strlen(text), &po, err) == 0) {
            if (created) *created = true;
            rc = 0;
            goto done;
        }
        if (err->code != SV_ECONFLICT) {
            sv_err_wrap(err, "writing %s", key);
            goto done;
        }
        /* Someone else made it first: use theirs. */
        sv_err_clear(err);
        crypto_dk_clear(dk);
        json_decref(rec);
        rec = NULL;
        free(key);
        free(text);
        key = text = NULL;
    }
    sv_err_set(err, SV_ECONFLICT, "the data key of workspace '%s' changes under us", ws);
done:
    if (rc != 0) crypto_dk_clear(dk);
    json_decref(rec);
    free(key);
    free(text);
    return rc;
}

/* The data key for a backup, or *on = false (see crypto.h). */
int crypto_for_backup(const sv_config *cfg, store_t *s, const sv_clock *clock, const char *ws, crypto_dk *dk,
                      bool *on, sv_err *err)
{
    crypto_keyring kr;
    int rc = -1;
    *on = false;
    if (crypto_keyring_load(cfg, &kr, err) != 0) return -1;
    if (kr.n == 0) {
        /* Encryption off: refuse a workspace whose backups are encrypted. */
        char *key = crypto_dk_key(ws);
        store_stat st;
        if (!key) return sv_err_set(err, SV_ENOMEM, "out of memory");
        rc = store_stat_key(s, key, &st, err);
        free(key);
        if (rc == 0) {
            sv_err_set(err, SV_EINVAL, "workspace '%s' has a data key in the store (its backups are encrypted) but "
                       "no encryption key is configured: refusing to back it up in the clear", ws);
            return sv_err_hint(err, "set SQLVAULT_ENCRYPTION_KEY_FILE to the key-encryption key file");
        }
        if (err->code != SV_ENOTFOUND) return -1;
        sv_err_clear(err);
        return 0;
    }
    rc = crypto_dk_get(s, &kr, clock, ws, true, dk, NULL, err);
    crypto_keyring_clear(&kr);
    if (rc == 0) *on = true;
    return rc;
}

/* The data key to read an encrypted object (see crypto.h). */
int crypto_for_restore(const sv_config *cfg, store_t *s, const sv_clock *clock, const char *ws, crypto_dk *dk,
                       sv_err *err)
{
    crypto_keyring kr;
    int rc;
    if (crypto_keyring_load(cfg, &kr, err) != 0) return -1;
    if (kr.n == 0) {
        sv_err_set(err, SV_EINVAL, "the backup is encrypted and no encryption key is configured");
        return sv_err_hint(err, "set SQLVAULT_ENCRYPTION_KEY_FILE to the key-encryption key file");
    }
    rc = crypto_dk_get(s, &kr, clock, ws, false, dk, NULL, err);
    crypto_keyring_clear(&kr);
    return rc;
}

/* metadata.json's "encryption" object. */
json_t *crypto_meta(const crypto_dk *dk, const char *ws)
{
    char *key = crypto_dk_key(ws);
    json_t *m = key ? json_pack("{s:s, s:s, s:i, s:s, s:s, s:s}", "format", CRYPTO_FORMAT, "alg", CRYPTO_ALG,
                                "chunkSize", CRYPTO_CHUNK, "keyDerivation", "HKDF-SHA256(data key, salt, object key)",
                                "dataKeyId", dk->id_hex, "keyRecord", key)
                    : NULL;
    free(key);
    return m;
}

/* Replaces the data key by a tombstone (see crypto.h). */
int crypto_shred(store_t *s, const sv_clock *clock, const char *ws, sv_err *err)
{
    json_t *rec = NULL, *tomb = NULL, *back = NULL;
    char *key = NULL, *text = NULL, iso[SV_ISO_LEN];
    const char *id;
    int rc = -1;
    if (read_record(s, ws, &rec, err) != 0) {
        if (err->code == SV_ENOTFOUND)
            sv_err_set(err, SV_ENOTFOUND, "workspace '%s' has no data key (its backups are not encrypted): nothing "
                       "to shred", ws);
        goto done;
    }
    if (json_is_true(json_object_get(rec, "shredded"))) {
        rc = 0; /* already shredded */
        goto done;
    }
    id = json_string_value(json_object_get(rec, "dataKeyId"));
    sv_iso_format(sv_now_ms(clock), iso);
    tomb = json_pack("{s:i, s:s, s:s, s:b, s:s}", "version", 1, "workspace", ws, "dataKeyId", id ? id : "",
                     "shredded", 1, "shreddedAt", iso);
    key = crypto_dk_key(ws);
    text = tomb ? json_dumps(tomb, JSON_INDENT(2)) : NULL;
    if (!key || !text) {
        sv_err_set(err, SV_ENOMEM, "out of memory");
        goto done;
    }
    store_put_opts po = {.content_type = "application/json"};
    if (store_put(s, key, text, strlen(text), &po, err) != 0) goto done;
    /* Read back: the wrapped key must be gone. */
    if (read_record(s, ws, &back, err) != 0) goto done;
    if (!json_is_true(json_object_get(back, "shredded"))) {
        sv_err_set(err, SV_EINTERNAL, "%s still holds a data key after shredding", key);
        goto done;
    }
    rc = 0;
done:
    json_decref(rec);
    json_decref(tomb);
    json_decref(back);
    free(key);
    free(text);
    return rc;
}
