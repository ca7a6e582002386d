/* sums.c -- keyed checksums: the plaintext digests of an encrypted backup's
 * metadata.json without a confirmation oracle.
 *
 * A sha256 of a database (metadata.json "checksum", a LiveStore file's
 * "checksum", a chain's "stateChecksum") stored in the clear lets anyone who
 * reads the bucket confirm a guess of the database's content. In an
 * encrypted backup each is stored keyed instead:
 *   "hmac:" HEX(HMAC-SHA256(digest key, lowercase "sha256:HEX"))
 *   digest key = HMAC-SHA256(DK, "sqlvault digest v1")
 * The sha256 is computed as before (restore, verify) and keyed with the
 * workspace's data key before it is compared or recorded, so a wrong or
 * missing data key can never match and nothing sqlvault writes to the store
 * carries the plain digest. Backups written before this (a plain "sha256:"
 * checksum beside an encrypted object) are compared as they always were. */
#include <ctype.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <string.h>
#include "crypto.h"
#include "util.h"

/* True when sum is a keyed checksum. */
bool crypto_sum_is_keyed(const char *sum)
{
    return sum && strncmp(sum, CRYPTO_SUM_PREFIX, sizeof CRYPTO_SUM_PREFIX - 1) == 0;
}

/* The keyed form of a plain checksum (see above). */
int crypto_sum_keyed(const crypto_dk *dk, const char *plain, char out[CRYPTO_SUM_LEN], sv_err *err)
{
    static const char label[] = "sqlvault digest v1";
    unsigned char k[32], tag[32];
    char low[CRYPTO_SUM_LEN];
    unsigned int n = 0;
    size_t len = plain ? strlen(plain) : 0;
    int rc = -1;
    out[0] = '\0';
    if (!plain || len == 0 || len >= sizeof low || crypto_sum_is_keyed(plain))
        return sv_err_set(err, SV_EINTERNAL, "not a plain checksum: '%.80s'", plain ? plain : "");
    for (size_t i = 0; i <= len; i++) low[i] = (char)tolower((unsigned char)plain[i]);
    if (!HMAC(EVP_sha256(), dk->key, sizeof dk->key, (const unsigned char *)label, sizeof label - 1, k, &n) ||
        !HMAC(EVP_sha256(), k, sizeof k, (const unsigned char *)low, len, tag, &n)) {
        sv_err_set(err, SV_EINTERNAL, "hmac-sha256 failed");
        goto done;
    }
    memcpy(out, CRYPTO_SUM_PREFIX, sizeof CRYPTO_SUM_PREFIX - 1);
    sv_hex(tag, sizeof tag, out + sizeof CRYPTO_SUM_PREFIX - 1);
    rc = 0;
done:
    OPENSSL_cleanse(k, sizeof k);
    return rc;
}

/* Replaces a plain checksum field of o by its keyed form (absent, null or
 * already keyed: left alone). */
int crypto_sum_key_field(const crypto_dk *dk, json_t *o, const char *field, sv_err *err)
{
    const char *v = json_string_value(json_object_get(o, field));
    char k[CRYPTO_SUM_LEN];
    if (!v || crypto_sum_is_keyed(v)) return 0;
    if (crypto_sum_keyed(dk, v, k, err) != 0) return -1;
    if (json_object_set_new(o, field, json_string(k)) != 0) return sv_err_set(err, SV_ENOMEM, "out of memory");
    return 0;
}

/* The form of a computed checksum that compares with expected (see crypto.h). */
int crypto_sum_as(const crypto_dk *dk, const char *expected, const char *computed, char out[CRYPTO_SUM_LEN],
                  sv_err *err)
{
    if (!crypto_sum_is_keyed(expected) || crypto_sum_is_keyed(computed)) {
        snprintf(out, CRYPTO_SUM_LEN, "%s", computed);
        return 0;
    }
    if (!dk) return sv_err_set(err, SV_EINTERNAL, "a keyed checksum and no data key to compare it with");
    return crypto_sum_keyed(dk, computed, out, err);
}
