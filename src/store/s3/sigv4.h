/* sigv4.h -- AWS Signature Version 4: header signing and query presigning.
 *
 * Pure functions of their inputs (the caller passes the x-amz-date it wants
 * signed, taken from the injected clock), so known-answer tests are exact.
 * The signer caches the derived signing key per day: HMAC chains are
 * recomputed only when the date changes.
 *
 * Nothing here logs; the secret is only ever used as HMAC key material and
 * never copied into any output.
 *
 * THREAD SAFETY NOTES: a sigv4_signer caches a key, so one signer serves one
 * thread. Threads that sign in parallel each take a copy (struct assignment
 * is enough: it holds only borrowed pointers and the cache). */
#ifndef SV_SIGV4_H
#define SV_SIGV4_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "err.h"

#define SIGV4_DATE_LEN 17 /* "20150830T123600Z" + NUL */
#define SIGV4_HASH_LEN 65 /* 64 hex chars + NUL */

/* A name/value pair: a query parameter (raw, not yet encoded) or a header. */
typedef struct sigv4_pair {
    const char *name;
    const char *value;
} sigv4_pair;

typedef struct sigv4_signer {
    const char *access_key_id; /* borrowed */
    const char *secret;        /* borrowed, secret */
    const char *region;        /* borrowed */
    const char *service;       /* borrowed, "s3" */
    char key_day[9];           /* YYYYMMDD of the cached key, "" when none */
    unsigned char key[32];     /* cached signing key */
} sigv4_signer;

/* Initializes a signer over borrowed strings that must outlive it. */
void sigv4_init(sigv4_signer *s, const char *access_key_id, const char *secret,
                const char *region, const char *service);

/* Formats ms since the epoch as an x-amz-date ("20150830T123600Z"). */
void sigv4_amz_date(int64_t now_ms, char out[SIGV4_DATE_LEN]);

/* The sha256 of an empty payload, in hex. */
extern const char sigv4_empty_sha256[SIGV4_HASH_LEN];

/* URI-encodes s per SigV4: A-Z a-z 0-9 - _ . ~ are kept, every other byte is
 * %XX (uppercase); '/' is kept when keep_slash (object key paths). Returns a
 * heap string the caller frees, NULL on OOM. */
char *sigv4_uri_encode(const char *s, bool keep_slash);

/* The canonical query string of raw pairs: encoded, sorted, joined with
 * '&' (heap, caller frees; "" for none; NULL on OOM). Also a valid URL query. */
char *sigv4_canonical_query(const sigv4_pair *query, size_t nq);

/* The canonical request (heap, caller frees; NULL on OOM). canonical_uri is
 * the already-encoded path ("/bucket/a%20b"); query pairs are raw and get
 * encoded and sorted here; every header given is signed (names any case,
 * values trimmed, inner whitespace runs collapsed). */
char *sigv4_canonical_request(const char *method, const char *canonical_uri,
                              const sigv4_pair *query, size_t nq, const sigv4_pair *headers,
                              size_t nh, const char *payload_hash);

/* The Authorization header value for a request (heap, caller frees). The
 * headers must include the x-amz-date header carrying amz_date and, for S3,
 * x-amz-content-sha256 carrying payload_hash. */
int sigv4_authorization(sigv4_signer *s, const char *method, const char *canonical_uri,
                        const sigv4_pair *query, size_t nq, const sigv4_pair *headers,
                        size_t nh, const char *payload_hash, const char *amz_date, char **out,
                        sv_err *err);

/* A presigned query string (heap, caller frees): the caller's query pairs
 * plus X-Amz-Algorithm, -Credential, -Date, -Expires, -SignedHeaders (host
 * only) and -Signature, encoded, signature last. The payload is
 * UNSIGNED-PAYLOAD, as S3 requires for presigned URLs. */
int sigv4_presign_query(sigv4_signer *s, const char *method, const char *host,
                        const char *canonical_uri, const sigv4_pair *query, size_t nq,
                        int64_t expires_s, const char *amz_date, char **out, sv_err *err);

#endif
