/* request.c -- one signed S3 request, and the one place S3 replies become
 * sv_code.
 *
 * Every attempt is signed afresh (x-amz-date from the injected clock, the
 * payload's real sha256 in x-amz-content-sha256) in the prepare callback
 * http_do calls before each try. Retrying is http_do's business; this file
 * only classifies what comes back after the last attempt:
 *
 *   403 SignatureDoesNotMatch, InvalidAccessKeyId, AccessDenied, ...  SV_EAUTH
 *   404 (but not NoSuchBucket)                                      SV_ENOTFOUND
 *   412                                                              SV_ECONFLICT
 *   501 (NotImplemented: an optional call the store lacks), never retried  SV_ENOTSUP
 *   5xx, 408, 429 after retries                                      SV_ETRANSIENT
 *   any other status                                       SV_EREMOTE, Code + Message
 *   unreachable endpoint after retries (from http_do)                SV_EUNREACH
 *
 * Messages name the endpoint's origin, the bucket and the key, never the
 * secret, the Authorization header or a query string. */
#include "store/s3/s3.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/s3/xml.h"
#include "digest.h"
#include "timefmt.h"
#include "util.h"

/* Makes a client: a connection with the store's retry policy, a signer copy. */
int s3_client_init(s3_client *c, const s3_store *s, sv_err *err)
{
    c->s = s;
    sigv4_init(&c->signer, s->cfg->access_key_id, s->cfg->secret_access_key, s->region, "s3");
    return http_conn_new(s->base.clock, s->origin, &s->http, &c->http, err);
}

/* Closes the client's connection. */
void s3_client_fini(s3_client *c)
{
    http_conn_free(c->http);
    c->http = NULL;
}

/* The signing time (see s3.h). */
int64_t s3_sign_now(const s3_store *s)
{
    if (s->base.clock != sv_clock_system())
        return sv_now_ms(s->base.clock);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* prefix + key, heap. */
char *s3_full_key(const s3_store *s, const char *key)
{
    return sv_asprintf("%s%s", s->prefix, key);
}

/* Parses an S3 timestamp; 0 when it does not parse. */
int64_t s3_parse_time(const char *s)
{
    int y, mo, d, h, mi, sec, ms = 0;
    if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d", &y, &mo, &d, &h, &mi, &sec) != 6)
        return 0;
    const char *dot = strchr(s, '.');
    if (dot) { /* fraction of a second: up to 3 digits count */
        int scale = 100;
        for (const char *p = dot + 1; *p >= '0' && *p <= '9' && scale > 0; p++, scale /= 10)
            ms += (*p - '0') * scale;
    }
    if (mo < 1 || mo > 12 || d < 1 || d > 31)
        return 0;
    int64_t days = sv_days_from_civil(y, (unsigned)mo, (unsigned)d);
    return ((days * 24 + h) * 60 + mi) * 60000LL + sec * 1000LL + ms;
}

/* One request's state across attempts. */
typedef struct s3_call {
    s3_client *c;
    const s3_req *r;
    char *uri;          /* canonical (encoded) path */
    char *url;          /* origin + uri + ?query */
    char hash[SIGV4_HASH_LEN];
} s3_call;

#define S3_MAX_HEADERS 16

/* Signs one attempt and hands URL and headers to http_do. */
static int s3_prepare(void *ud, http_attempt *a, int attempt, sv_err *err)
{
    (void)attempt;
    s3_call *call = ud;
    const s3_req *r = call->r;
    const s3_store *s = call->c->s;
    char date[SIGV4_DATE_LEN];
    char range[64];
    sigv4_pair h[S3_MAX_HEADERS];
    size_t nh = 0;
    char *auth = NULL;

    sigv4_amz_date(s3_sign_now(s), date);
    h[nh++] = (sigv4_pair){"Host", s->host};
    h[nh++] = (sigv4_pair){"x-amz-content-sha256", call->hash};
    h[nh++] = (sigv4_pair){"x-amz-date", date};
    if (r->range_end) {
        if (*r->range_from >= *r->range_end)
            return sv_err_set(err, SV_EINTERNAL, "%s: a resume past the end of the range", r->what);
        snprintf(range, sizeof range, "bytes=%llu-%llu", (unsigned long long)*r->range_from,
                 (unsigned long long)(*r->range_end - 1));
        h[nh++] = (sigv4_pair){"Range", range};
        if (r->if_match && r->if_match[0])
            h[nh++] = (sigv4_pair){"If-Match", r->if_match};
    } else if (r->range_from && *r->range_from > 0) {
        snprintf(range, sizeof range, "bytes=%llu-", (unsigned long long)*r->range_from);
        h[nh++] = (sigv4_pair){"Range", range};
        if (r->if_match && r->if_match[0])
            h[nh++] = (sigv4_pair){"If-Match", r->if_match};
    }
    if (r->nh > S3_MAX_HEADERS - nh)
        return sv_err_set(err, SV_EINTERNAL, "too many headers on an s3 request");
    for (size_t i = 0; i < r->nh; i++)
        h[nh++] = r->headers[i];
    if (sigv4_authorization(&call->c->signer, r->method, call->uri, r->query, r->nq, h, nh,
                            call->hash, date, &auth, err) != 0)
        return -1;
    int rc = http_attempt_url(a, call->url);
    for (size_t i = 0; i < nh && rc == 0; i++)
        rc = http_attempt_header(a, "%s: %s", h[i].name, h[i].value);
    if (rc == 0)
        rc = http_attempt_header(a, "Authorization: %s", auth);
    free(auth);
    if (rc != 0)
        return sv_err_set(err, SV_ENOMEM, "out of memory preparing an s3 request");
    return 0;
}

/* Keeps a message short and on one line. */
static void one_line(char *dst, size_t cap, const char *src)
{
    size_t i = 0;
    for (; src && src[i] && i + 1 < cap; i++)
        dst[i] = (src[i] == '\n' || src[i] == '\r') ? ' ' : src[i];
    dst[i] = '\0';
}

/* Classifies a final non-2xx reply (see the table at the top). */
int s3_classify(const s3_store *s, const char *what, const http_response *resp, sv_err *err)
{
    char *code = s3_xml_find(resp->body, resp->body_len, "Error/Code");
    char *msg = s3_xml_find(resp->body, resp->body_len, "Error/Message");
    char c[96], m[200];
    one_line(c, sizeof c, code ? code : "");
    one_line(m, sizeof m, msg ? msg : "");
    free(code);
    free(msg);
    long st = resp->status;
    const char *sep = c[0] && m[0] ? ": " : "";

    if (st == 403 || (st == 400 && (strcmp(c, "InvalidAccessKeyId") == 0 ||
                                     strcmp(c, "AuthorizationHeaderMalformed") == 0))) {
        if (strcmp(c, "RequestTimeTooSkewed") == 0) {
            sv_err_set(err, SV_EAUTH, "%s: s3 at %s refused the request time (%s%s%s)", what,
                       s->origin, c, sep, m);
            sv_err_hint(err, "the system clock is off: sync it (ntp)");
        } else if (strcmp(c, "AccessDenied") == 0) {
            sv_err_set(err, SV_EAUTH, "%s: access denied by s3 at %s on bucket %s (%s%s%s)", what,
                       s->origin, s->bucket, c, sep, m);
            sv_err_hint(err, "the credentials lack permission on this bucket: check the key's "
                             "scope, AWS_ACCESS_KEY_ID / R2_ACCESS_KEY_ID");
        } else {
            sv_err_set(err, SV_EAUTH, "%s: s3 at %s rejected the credentials (%s%s%s)", what,
                       s->origin, c[0] ? c : "http 403", sep, m);
            sv_err_hint(err, "check AWS_SECRET_ACCESS_KEY / R2_SECRET_ACCESS_KEY and "
                             "AWS_ACCESS_KEY_ID / R2_ACCESS_KEY_ID (and SQLVAULT_S3_REGION)");
        }
        return -1;
    }
    if (strcmp(c, "NoSuchBucket") == 0) {
        sv_err_set(err, SV_EREMOTE, "%s: bucket %s does not exist at %s", what, s->bucket,
                   s->origin);
        return sv_err_hint(err, "check the bucket in SQLVAULT_STORE (or R2_BUCKET_NAME)");
    }
    if (st == 404)
        return sv_err_set(err, SV_ENOTFOUND, "%s: not found%s%s", what, c[0] ? " " : "", c);
    if (st == 412)
        return sv_err_set(err, SV_ECONFLICT, "%s: precondition failed (%s)", what,
                          c[0] ? c : "the object exists or changed");
    if (st == 501 || strcmp(c, "NotImplemented") == 0)
        return sv_err_set(err, SV_ENOTSUP, "%s: s3 at %s does not implement this call (http %ld %s%s%s)",
                          what, s->origin, st, c, sep, m);
    if (http_status_retryable(st)) {
        if (resp->first_error[0] && strcmp(resp->first_error, "") != 0)
            return sv_err_set(err, SV_ETRANSIENT,
                              "%s: s3 at %s answered http %ld %s%s%s after %d attempts "
                              "(first error: %s)",
                              what, s->origin, st, c, sep, m, resp->attempts, resp->first_error);
        return sv_err_set(err, SV_ETRANSIENT, "%s: s3 at %s answered http %ld %s%s%s", what,
                          s->origin, st, c, sep, m);
    }
    return sv_err_set(err, SV_EREMOTE, "%s: s3 at %s answered http %ld %s%s%s", what, s->origin,
                      st, c[0] ? c : "", sep, m);
}

/* Runs a signed request; see s3.h. */
int s3_request(s3_client *c, const s3_req *r, http_response *resp, sv_err *err)
{
    const s3_store *s = c->s;
    s3_call call = {.c = c, .r = r};
    char *qs = NULL, *ekey = NULL;
    int rc = -1;

    if (r->payload_hash)
        snprintf(call.hash, sizeof call.hash, "%s", r->payload_hash);
    else if (r->body && r->body_len)
        sv_sha256_hex(r->body, (size_t)r->body_len, call.hash);
    else
        memcpy(call.hash, sigv4_empty_sha256, SIGV4_HASH_LEN);

    if (r->key) {
        ekey = sigv4_uri_encode(r->key, true);
        call.uri = ekey ? sv_asprintf("/%s/%s", s->bucket, ekey) : NULL;
    } else {
        call.uri = sv_asprintf("/%s", s->bucket);
    }
    qs = sigv4_canonical_query(r->query, r->nq);
    if (!call.uri || !qs)
        goto oom;
    call.url = sv_asprintf("%s%s%s%s", s->origin, call.uri, qs[0] ? "?" : "", qs);
    if (!call.url)
        goto oom;

    http_request hr = {
        .method = r->method,
        .prepare = s3_prepare,
        .ud = &call,
        .body = r->body,
        .body_len = r->body_len,
        .body_fd = r->body_from_fd ? r->body_fd : -1,
        .body_off = r->body_off,
        .sink = r->sink,
        .sink_ud = r->sink_ud,
        .body_cap = r->body_cap,
        .retry_response = r->retry_response,
    };
    if (!r->body && !r->body_from_fd)
        hr.body_len = 0;
    if (http_do(c->http, &hr, resp, err) != 0) {
        sv_err_wrap(err, "%s", r->what);
        if (err->code == SV_EUNREACH)
            sv_err_hint(err, "is the s3 endpoint up? check SQLVAULT_S3_ENDPOINT (or R2_ENDPOINT)");
        goto fail;
    }
    if (resp->status < 200 || resp->status >= 300) {
        s3_classify(s, r->what, resp, err);
        goto fail;
    }
    rc = 0;
    goto fail;
oom:
    sv_err_set(err, SV_ENOMEM, "%s: out of memory", r->what);
fail:
    free(qs);
    free(ekey);
    free(call.uri);
    free(call.url);
    return rc;
}
