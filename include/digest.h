/* digest.h -- the one digest-to-hex: OpenSSL digests as lowercase hex, and
 * the "sha256:HEX" checksum format of metadata.json. */
#ifndef SV_DIGEST_H
#define SV_DIGEST_H

#include <stddef.h>
#include <openssl/evp.h>

#define SV_SHA256_HEX_LEN 65 /* 64 hex digits + NUL */
#define SV_CHECKSUM_LEN 72   /* "sha256:" + 64 hex digits + NUL */

/* Finalizes md (any EVP digest) and writes its lowercase hex, NUL-terminated,
 * into out (room for 2 * EVP_MAX_MD_SIZE + 1). */
void sv_digest_hex(EVP_MD_CTX *md, char *out);
/* Finalizes a sha256 md as "sha256:HEX". */
void sv_digest_checksum(EVP_MD_CTX *md, char out[SV_CHECKSUM_LEN]);
/* Lowercase hex sha256 of a memory block. */
void sv_sha256_hex(const void *data, size_t len, char out[SV_SHA256_HEX_LEN]);

#endif
