/* digest.c -- digests as hex (see digest.h). */
#include <string.h>
#include "digest.h"
#include "util.h"

/* Finalizes md and writes its hex. */
void sv_digest_hex(EVP_MD_CTX *md, char *out)
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (EVP_DigestFinal_ex(md, d, &n) != 1) n = 0;
    sv_hex(d, n, out);
}

/* Finalizes a sha256 md as "sha256:HEX". */
void sv_digest_checksum(EVP_MD_CTX *md, char out[SV_CHECKSUM_LEN])
{
    memcpy(out, "sha256:", 7);
    sv_digest_hex(md, out + 7);
}

/* Hex sha256 of a buffer. */
void sv_sha256_hex(const void *data, size_t len, char out[SV_SHA256_HEX_LEN])
{
    unsigned char d[32];
    unsigned int n = 0;
    if (EVP_Digest(data, len, d, &n, EVP_sha256(), NULL) != 1) n = 0;
    sv_hex(d, n, out);
}
