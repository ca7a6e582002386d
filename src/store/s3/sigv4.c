/* sigv4.c -- AWS Signature Version 4 (header signing and query presigning).
 *
 * Follows the published algorithm: canonical request -> string to sign ->
 * HMAC with a key derived from the secret, the date, the region and the
 * service. Known-answer tests against botocore live in tests/unit. */
#include "store/s3/sigv4.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "digest.h"
#include "util.h"

const char sigv4_empty_sha256[SIGV4_HASH_LEN] =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/* Borrows the credentials and scope strings. */
void sigv4_init(sigv4_signer *s, const char *access_key_id, const char *secret,
                const char *region, const char *service)
{
    memset(s, 0, sizeof *s);
    s->access_key_id = access_key_id ? access_key_id : "";
    s->secret = secret ? secret : "";
    s->region = region ? region : "auto";
    s->service = service ? service : "s3";
}

/* YYYYMMDDTHHMMSSZ of ms since the epoch, UTC. */
void sigv4_amz_date(int64_t now_ms, char out[SIGV4_DATE_LEN])
{
    time_t t = (time_t)(now_ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, SIGV4_DATE_LEN, "%Y%m%dT%H%M%SZ", &tm);
}

/* HMAC-SHA256 of msg under key. */
static void hmac(const void *key, size_t klen, const char *msg, unsigned char out[32])
{
    unsigned int n = 32;
    HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)msg, strlen(msg), out, &n);
}

/* Percent-encodes per SigV4 (see sigv4.h). */
char *sigv4_uri_encode(const char *s, bool keep_slash)
{
    static const char hexd[] = "0123456789ABCDEF";
    size_t n = strlen(s);
    char *out = malloc(n * 3 + 1);
    if (!out)
        return NULL;
    char *o = out;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        unsigned char ch = *p;
        if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
            ch == '-' || ch == '_' || ch == '.' || ch == '~' || (keep_slash && ch == '/')) {
            *o++ = (char)ch;
        } else {
            *o++ = '%';
            *o++ = hexd[ch >> 4];
            *o++ = hexd[ch & 15];
        }
    }
    *o = '\0';
    return out;
}

/* An encoded query pair, for sorting. */
typedef struct enc_pair {
    char *name;
    char *value;
} enc_pair;

/* Orders encoded pairs by name, then value (byte order). */
static int enc_pair_cmp(const void *a, const void *b)
{
    const enc_pair *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : strcmp(x->value, y->value);
}

/* Appends the canonical query string (encoded, sorted) of pairs to b. */
static int add_canonical_query(sv_buf *b, const sigv4_pair *q, size_t nq)
{
    int rc = -1;
    enc_pair *e = calloc(nq ? nq : 1, sizeof *e);
    if (!e)
        return -1;
    for (size_t i = 0; i < nq; i++) {
        e[i].name = sigv4_uri_encode(q[i].name, false);
        e[i].value = sigv4_uri_encode(q[i].value ? q[i].value : "", false);
        if (!e[i].name || !e[i].value)
            goto fail;
    }
    qsort(e, nq, sizeof *e, enc_pair_cmp);
    for (size_t i = 0; i < nq; i++) {
        if ((i && sv_buf_adds(b, "&") != 0) || sv_buf_adds(b, e[i].name) != 0 ||
            sv_buf_adds(b, "=") != 0 || sv_buf_adds(b, e[i].value) != 0)
            goto fail;
    }
    rc = 0;
fail:
    for (size_t i = 0; i < nq; i++) {
        free(e[i].name);
        free(e[i].value);
    }
    free(e);
    return rc;
}

/* The canonical query string as a heap string (see sigv4.h). */
char *sigv4_canonical_query(const sigv4_pair *query, size_t nq)
{
    sv_buf b;
    sv_buf_init(&b, 0);
    char *out = NULL;
    if (add_canonical_query(&b, query, nq) == 0)
        out = sv_buf_take(&b);
    sv_buf_free(&b);
    return out;
}

/* A header with its lowercased name and canonical value. */
typedef struct canon_header {
    char *name;
    char *value;
} canon_header;

/* Orders headers by lowercased name. */
static int canon_header_cmp(const void *a, const void *b)
{
    return strcmp(((const canon_header *)a)->name, ((const canon_header *)b)->name);
}

/* Lowercased copy of a header name. */
static char *lower_dup(const char *s)
{
    char *d = sv_strdup(s);
    if (d)
        for (char *p = d; *p; p++)
            if (*p >= 'A' && *p <= 'Z')
                *p = (char)(*p - 'A' + 'a');
    return d;
}

/* Trimmed copy of a header value with whitespace runs collapsed to one space. */
static char *canon_value(const char *v)
{
    char *d = malloc(strlen(v) + 1);
    if (!d)
        return NULL;
    char *o = d;
    bool space = false;
    for (const char *p = v; *p; p++) {
        if (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') {
            space = o != d;
            continue;
        }
        if (space)
            *o++ = ' ';
        space = false;
        *o++ = *p;
    }
    *o = '\0';
    return d;
}

/* Builds the canonical request into b and the signed-header list into sh. */
static int build_canonical(sv_buf *b, sv_buf *sh, const char *method, const char *uri,
                           const sigv4_pair *q, size_t nq, const sigv4_pair *h, size_t nh,
                           const char *payload_hash)
{
    int rc = -1;
    canon_header *ch = calloc(nh ? nh : 1, sizeof *ch);
    if (!ch)
        return -1;
    for (size_t i = 0; i < nh; i++) {
        ch[i].name = lower_dup(h[i].name);
        ch[i].value = canon_value(h[i].value ? h[i].value : "");
        if (!ch[i].name || !ch[i].value)
            goto fail;
    }
    qsort(ch, nh, sizeof *ch, canon_header_cmp);
    if (sv_buf_addf(b, "%s\n%s\n", method, uri) != 0 || add_canonical_query(b, q, nq) != 0 ||
        sv_buf_adds(b, "\n") != 0)
        goto fail;
    for (size_t i = 0; i < nh; i++)
        if (sv_buf_addf(b, "%s:%s\n", ch[i].name, ch[i].value) != 0)
            goto fail;
    for (size_t i = 0; i < nh; i++)
        if ((i && sv_buf_adds(sh, ";") != 0) || sv_buf_adds(sh, ch[i].name) != 0)
            goto fail;
    if (!sh->p && sv_buf_adds(sh, "") != 0)
        goto fail;
    if (sv_buf_addf(b, "\n%s\n%s", sh->p, payload_hash) != 0)
        goto fail;
    rc = 0;
fail:
    for (size_t i = 0; i < nh; i++) {
        free(ch[i].name);
        free(ch[i].value);
    }
    free(ch);
    return rc;
}

/* The canonical request as a heap string (see sigv4.h). */
char *sigv4_canonical_request(const char *method, const char *canonical_uri,
                              const sigv4_pair *query, size_t nq, const sigv4_pair *headers,
                              size_t nh, const char *payload_hash)
{
    sv_buf b, sh;
    sv_buf_init(&b, 0);
    sv_buf_init(&sh, 0);
    char *out = NULL;
    if (build_canonical(&b, &sh, method, canonical_uri, query, nq, headers, nh, payload_hash) == 0)
        out = sv_buf_take(&b);
    sv_buf_free(&b);
    sv_buf_free(&sh);
    return out;
}

/* The signing key of the day, recomputed only when the day changes. */
static const unsigned char *signing_key(sigv4_signer *s, const char *day)
{
    if (strcmp(s->key_day, day) == 0)
        return s->key;
    size_t sl = strlen(s->secret);
    char *k = malloc(sl + 5);
    if (!k)
        return NULL;
    memcpy(k, "AWS4", 4);
    memcpy(k + 4, s->secret, sl + 1);
    unsigned char t1[32], t2[32], t3[32];
    hmac(k, sl + 4, day, t1);
    OPENSSL_cleanse(k, sl + 5);
    free(k);
    hmac(t1, 32, s->region, t2);
    hmac(t2, 32, s->service, t3);
    hmac(t3, 32, "aws4_request", s->key);
    memcpy(s->key_day, day, 8);
    s->key_day[8] = '\0';
    return s->key;
}

/* Signature hex of a canonical request at amz_date. */
static int signature(sigv4_signer *s, const char *canonical, const char *amz_date,
                     char out[SIGV4_HASH_LEN])
{
    char day[9];
    char creq_hash[SIGV4_HASH_LEN];
    memcpy(day, amz_date, 8);
    day[8] = '\0';
    sv_sha256_hex(canonical, strlen(canonical), creq_hash);
    char *sts = sv_asprintf("AWS4-HMAC-SHA256\n%s\n%s/%s/%s/aws4_request\n%s", amz_date, day,
                            s->region, s->service, creq_hash);
    const unsigned char *key = signing_key(s, day);
    if (!sts || !key) {
        free(sts);
        return -1;
    }
    unsigned char sig[32];
    hmac(key, 32, sts, sig);
    free(sts);
    sv_hex(sig, 32, out);
    return 0;
}

/* The Authorization header value (see sigv4.h). */
int sigv4_authorization(sigv4_signer *s, const char *method, const char *canonical_uri,
                        const sigv4_pair *query, size_t nq, const sigv4_pair *headers,
                        size_t nh, const char *payload_hash, const char *amz_date, char **out,
                        sv_err *err)
{
    sv_buf b, sh;
    char sig[SIGV4_HASH_LEN];
    int rc = -1;
    *out = NULL;
    sv_buf_init(&b, 0);
    sv_buf_init(&sh, 0);
    if (strlen(amz_date) != 16) {
        sv_err_set(err, SV_EINTERNAL, "bad x-amz-date for signing");
        goto fail;
    }
    if (build_canonical(&b, &sh, method, canonical_uri, query, nq, headers, nh, payload_hash) != 0 ||
        signature(s, b.p, amz_date, sig) != 0)
        goto oom;
    *out = sv_asprintf("AWS4-HMAC-SHA256 Credential=%s/%.8s/%s/%s/aws4_request, "
                       "SignedHeaders=%s, Signature=%s",
                       s->access_key_id, amz_date, s->region, s->service, sh.p, sig);
    if (!*out)
        goto oom;
    rc = 0;
    goto fail;
oom:
    sv_err_set(err, SV_ENOMEM, "out of memory signing a request");
fail:
    sv_buf_free(&b);
    sv_buf_free(&sh);
    return rc;
}

/* A presigned query string (see sigv4.h). */
int sigv4_presign_query(sigv4_signer *s, const char *method, const char *host,
                        const char *canonical_uri, const sigv4_pair *query, size_t nq,
                        int64_t expires_s, const char *amz_date, char **out, sv_err *err)
{
    int rc = -1;
    char *cred = NULL, *canon = NULL;
    char expires[24];
    char sig[SIGV4_HASH_LEN];
    sigv4_pair *q = NULL;
    sv_buf b;
    sv_buf_init(&b, 0);
    *out = NULL;
    if (strlen(amz_date) != 16) {
        sv_err_set(err, SV_EINTERNAL, "bad x-amz-date for signing");
        goto fail;
    }
    snprintf(expires, sizeof expires, "%lld", (long long)expires_s);
    cred = sv_asprintf("%s/%.8s/%s/%s/aws4_request", s->access_key_id, amz_date, s->region,
                       s->service);
    q = calloc(nq + 6, sizeof *q);
    if (!cred || !q)
        goto oom;
    if (nq)
        memcpy(q, query, nq * sizeof *q);
    q[nq + 0] = (sigv4_pair){"X-Amz-Algorithm", "AWS4-HMAC-SHA256"};
    q[nq + 1] = (sigv4_pair){"X-Amz-Credential", cred};
    q[nq + 2] = (sigv4_pair){"X-Amz-Date", amz_date};
    q[nq + 3] = (sigv4_pair){"X-Amz-Expires", expires};
    q[nq + 4] = (sigv4_pair){"X-Amz-SignedHeaders", "host"};
    sigv4_pair h = {"host", host};
    canon = sigv4_canonical_request(method, canonical_uri, q, nq + 5, &h, 1, "UNSIGNED-PAYLOAD");
    if (!canon || signature(s, canon, amz_date, sig) != 0)
        goto oom;
    q[nq + 5] = (sigv4_pair){"X-Amz-Signature", sig};
    /* The canonical (sorted) order, then the signature last. */
    if (add_canonical_query(&b, q, nq + 5) != 0 || sv_buf_addf(&b, "&X-Amz-Signature=%s", sig) != 0)
        goto oom;
    *out = sv_buf_take(&b);
    if (!*out)
        goto oom;
    rc = 0;
    goto fail;
oom:
    sv_err_set(err, SV_ENOMEM, "out of memory presigning a request");
fail:
    sv_buf_free(&b);
    free(cred);
    free(canon);
    free(q);
    return rc;
}
