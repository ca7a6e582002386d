/* http.c -- libcurl-backed requests with the project's one retry layer.
 *
 * Each http_conn wraps one CURL easy handle. curl_easy_reset between
 * requests keeps the handle's connection cache, so consecutive requests to
 * the same origin reuse a kept-alive connection.
 *
 * A request runs as attempts. Each attempt calls the caller's prepare (URL,
 * signed headers), performs the transfer, and either ends the request (any
 * non-retryable status, or a sink/local error) or waits a backoff with full
 * jitter and tries again. Timeouts: a connect timeout, and a low-speed limit
 * instead of a total timeout, so a large object can take as long as it needs
 * while a stalled one is cut. See http.h for the contract. */
#include "http/http.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "util.h"

struct http_conn {
    CURL *curl;
    const sv_clock *clock;
    char *origin;
    http_opts o;
    uint64_t retries;
    char errbuf[CURL_ERROR_SIZE];
};

struct http_attempt {
    char *url;
    struct curl_slist *headers;
    bool oom;
};

/* State of one attempt's transfer, shared with the curl callbacks. */
typedef struct xfer {
    CURL *curl;
    const http_request *r;
    http_response *resp;
    sv_buf body;
    uint64_t sent;       /* request body bytes handed to curl */
    bool sink_failed;
    sv_err sink_err;
    bool too_big;
    bool read_failed;
    int read_errno;
} xfer;

static pthread_once_t http_once = PTHREAD_ONCE_INIT;

/* Initializes libcurl once per process (not thread-safe on its own). */
static void http_global_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* ---- connections ---- */

/* The documented defaults. */
void http_opts_default(http_opts *o)
{
    o->max_attempts = 6;
    o->base_delay_ms = 100;
    o->max_delay_ms = 5000;
    o->max_total_ms = 120000;
    o->connect_timeout_s = 10;
    o->low_speed_time_s = 60;
}

/* Makes a keep-alive connection object for origin. */
int http_conn_new(const sv_clock *clock, const char *origin, const http_opts *o, http_conn **out,
                  sv_err *err)
{
    http_conn *c = NULL;
    *out = NULL;
    pthread_once(&http_once, http_global_init);
    c = calloc(1, sizeof *c);
    if (!c)
        goto oom;
    c->clock = clock;
    if (o)
        c->o = *o;
    else
        http_opts_default(&c->o);
    if (c->o.max_attempts < 1)
        c->o.max_attempts = 1;
    c->origin = sv_strdup(origin);
    c->curl = curl_easy_init();
    if (!c->origin || !c->curl)
        goto oom;
    *out = c;
    return 0;
oom:
    http_conn_free(c);
    return sv_err_set(err, SV_ENOMEM, "out of memory creating an http connection");
}

/* Frees the curl handle (closing its connections). */
void http_conn_free(http_conn *c)
{
    if (!c)
        return;
    if (c->curl)
        curl_easy_cleanup(c->curl);
    free(c->origin);
    free(c);
}

/* Retries made since creation. */
uint64_t http_conn_retries(const http_conn *c)
{
    return c->retries;
}

/* Sets the attempt's URL (copied). */
int http_attempt_url(http_attempt *a, const char *url)
{
    free(a->url);
    a->url = sv_strdup(url);
    if (!a->url) {
        a->oom = true;
        return -1;
    }
    return 0;
}

/* Adds one "Name: value" header (copied). */
int http_attempt_header(http_attempt *a, const char *fmt, ...)
{
    char line[4096];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof line) {
        a->oom = true;
        return -1;
    }
    struct curl_slist *l = curl_slist_append(a->headers, line);
    if (!l) {
        a->oom = true;
        return -1;
    }
    a->headers = l;
    return 0;
}

/* Frees what prepare put into an attempt. */
static void attempt_clear(http_attempt *a)
{
    free(a->url);
    curl_slist_free_all(a->headers);
    a->url = NULL;
    a->headers = NULL;
    a->oom = false;
}

/* True for statuses worth retrying: 5xx but 501 Not Implemented and 505
 * HTTP Version Not Supported (the server will answer them again), 408, 429. */
bool http_status_retryable(long status)
{
    if (status == 501 || status == 505)
        return false;
    return status >= 500 || status == 408 || status == 429;
}

/* Frees a response's body and resets it. */
void http_response_clear(http_response *r)
{
    free(r->body);
    memset(r, 0, sizeof *r);
    r->content_length = -1;
}

/* ---- curl callbacks ---- */

/* Trims ASCII whitespace at both ends of [s, s+n) in place; returns length. */
static size_t trim(const char **s, size_t n)
{
    while (n && (**s == ' ' || **s == '\t')) {
        (*s)++;
        n--;
    }
    while (n && ((*s)[n - 1] == ' ' || (*s)[n - 1] == '\t' || (*s)[n - 1] == '\r' ||
                 (*s)[n - 1] == '\n'))
        n--;
    return n;
}

/* Parses response headers we care about: ETag, Content-Length, Last-Modified.
 * A new status line (after 100 Continue, or a new attempt) resets them. */
static size_t on_header(char *buf, size_t size, size_t nitems, void *ud)
{
    xfer *x = ud;
    size_t n = size * nitems;
    if (n >= 5 && memcmp(buf, "HTTP/", 5) == 0) {
        const char *sp = memchr(buf, ' ', n);
        x->resp->status = sp ? strtol(sp + 1, NULL, 10) : 0;
        x->resp->received = 0;
        x->resp->etag[0] = '\0';
        x->resp->content_length = -1;
        x->resp->last_modified_ms = 0;
        return n;
    }
    const char *colon = memchr(buf, ':', n);
    if (!colon)
        return n;
    size_t nl = (size_t)(colon - buf);
    const char *v = colon + 1;
    size_t vl = trim(&v, n - nl - 1);
    char val[256];
    if (vl >= sizeof val)
        return n;
    memcpy(val, v, vl);
    val[vl] = '\0';
    if (nl == 4 && strncasecmp(buf, "etag", 4) == 0) {
        snprintf(x->resp->etag, sizeof x->resp->etag, "%.127s", val);
    } else if (nl == 14 && strncasecmp(buf, "content-length", 14) == 0) {
        char *end = NULL;
        long long cl = strtoll(val, &end, 10);
        if (end && *end == '\0' && cl >= 0)
            x->resp->content_length = cl;
    } else if (nl == 13 && strncasecmp(buf, "last-modified", 13) == 0) {
        time_t t = curl_getdate(val, NULL);
        if (t > 0)
            x->resp->last_modified_ms = (int64_t)t * 1000;
    }
    return n;
}

/* Response body: a 2xx body streams to the sink when there is one, anything
 * else is collected up to the cap. Returning short aborts the transfer. */
static size_t on_body(char *buf, size_t size, size_t nitems, void *ud)
{
    xfer *x = ud;
    size_t n = size * nitems;
    long status = 0;
    curl_easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE, &status);
    if (status >= 200 && status < 300 && x->r->sink) {
        if (x->r->sink(x->r->sink_ud, buf, n, &x->sink_err) != 0) {
            x->sink_failed = true;
            return 0;
        }
        x->resp->received += n;
        return n;
    }
    if (sv_buf_add(&x->body, buf, n) != 0) {
        x->too_big = true;
        return 0;
    }
    return n;
}

/* Request body from memory or from a file region (pread). */
static size_t on_read(char *buf, size_t size, size_t nitems, void *ud)
{
    xfer *x = ud;
    const http_request *r = x->r;
    size_t want = size * nitems;
    uint64_t left = r->body_len - x->sent;
    if (want > left)
        want = (size_t)left;
    if (want == 0)
        return 0;
    if (r->body_fd >= 0) {
        ssize_t got;
        do {
            got = pread(r->body_fd, buf, want, (off_t)(r->body_off + x->sent));
        } while (got < 0 && errno == EINTR);
        if (got <= 0) {
            x->read_failed = true;
            x->read_errno = got < 0 ? errno : EIO;
            return CURL_READFUNC_ABORT;
        }
        want = (size_t)got;
    } else {
        memcpy(buf, (const char *)r->body + x->sent, want);
    }
    x->sent += want;
    return want;
}

/* Lets curl rewind the request body (a resend on a reused connection). */
static int on_seek(void *ud, curl_off_t offset, int origin)
{
    xfer *x = ud;
    if (origin != SEEK_SET || offset < 0 || (uint64_t)offset > x->r->body_len)
        return CURL_SEEKFUNC_FAIL;
    x->sent = (uint64_t)offset;
    return CURL_SEEKFUNC_OK;
}

/* ---- the request loop ---- */

/* True when a curl failure means the server was never reached. */
static bool never_connected(CURL *curl, CURLcode rc)
{
    if (rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST ||
        rc == CURLE_COULDNT_RESOLVE_PROXY)
        return true;
    if (rc == CURLE_OPERATION_TIMEDOUT) {
        curl_off_t t = 0;
        curl_easy_getinfo(curl, CURLINFO_CONNECT_TIME_T, &t);
        return t == 0;
    }
    return false;
}

/* True for curl failures that a new attempt may fix. */
static bool curl_retryable(CURLcode rc)
{
    switch (rc) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_WEIRD_SERVER_REPLY:
        return true;
    default:
        return false;
    }
}

/* Sets the curl options of one attempt. */
static CURLcode setup(http_conn *c, const http_request *r, http_attempt *a, xfer *x)
{
    CURL *h = c->curl;
    CURLcode rc = CURLE_OK;
#define SETOPT(opt, val) do { if (rc == CURLE_OK) rc = curl_easy_setopt(h, opt, val); } while (0)
    SETOPT(CURLOPT_URL, a->url);
    SETOPT(CURLOPT_HTTPHEADER, a->headers);
    SETOPT(CURLOPT_NOSIGNAL, 1L);
    SETOPT(CURLOPT_CONNECTTIMEOUT, c->o.connect_timeout_s);
    SETOPT(CURLOPT_LOW_SPEED_LIMIT, 1024L);
    SETOPT(CURLOPT_LOW_SPEED_TIME, c->o.low_speed_time_s);
    SETOPT(CURLOPT_TCP_KEEPALIVE, 1L);
    SETOPT(CURLOPT_ERRORBUFFER, c->errbuf);
    SETOPT(CURLOPT_HEADERFUNCTION, on_header);
    SETOPT(CURLOPT_HEADERDATA, x);
    SETOPT(CURLOPT_WRITEFUNCTION, on_body);
    SETOPT(CURLOPT_WRITEDATA, x);
    SETOPT(CURLOPT_FOLLOWLOCATION, 0L);
    SETOPT(CURLOPT_PATH_AS_IS, 1L); /* keys may contain "./": never rewrite a signed path */
    if (strcmp(r->method, "HEAD") == 0) {
        SETOPT(CURLOPT_NOBODY, 1L);
    } else if (strcmp(r->method, "PUT") == 0 || strcmp(r->method, "POST") == 0) {
        SETOPT(CURLOPT_UPLOAD, 1L);
        SETOPT(CURLOPT_INFILESIZE_LARGE, (curl_off_t)r->body_len);
        SETOPT(CURLOPT_READFUNCTION, on_read);
        SETOPT(CURLOPT_READDATA, x);
        SETOPT(CURLOPT_SEEKFUNCTION, on_seek);
        SETOPT(CURLOPT_SEEKDATA, x);
        if (strcmp(r->method, "POST") == 0)
            SETOPT(CURLOPT_CUSTOMREQUEST, "POST");
    } else if (strcmp(r->method, "GET") == 0) {
        SETOPT(CURLOPT_HTTPGET, 1L);
    } else {
        SETOPT(CURLOPT_CUSTOMREQUEST, r->method);
    }
#undef SETOPT
    return rc;
}

/* What one attempt came to. */
typedef enum { ATTEMPT_FAILED = -1, ATTEMPT_DONE = 0, ATTEMPT_RETRY = 1 } attempt_result;

/* Starts attempt number attempt: resets the response and the transfer state,
 * lets the caller prepare the URL and headers (re-signed on every attempt),
 * and sets the curl options. -1 with err filled when it cannot start. */
static int attempt_start(http_conn *c, const http_request *r, http_response *resp, http_attempt *a,
                         xfer *x, int attempt, sv_err *err)
{
    memset(x, 0, sizeof *x);
    x->curl = c->curl;
    x->r = r;
    x->resp = resp;
    sv_buf_init(&x->body, r->body_cap ? r->body_cap : (1u << 20));
    free(resp->body);
    resp->body = NULL;
    resp->body_len = 0;
    resp->status = 0;
    resp->etag[0] = '\0';
    resp->content_length = -1;
    resp->last_modified_ms = 0;
    resp->attempts = attempt + 1;
    resp->received = 0;

    attempt_clear(a);
    if (r->prepare(r->ud, a, attempt, err) != 0)
        return -1;
    if (a->oom || !a->url || !(a->headers = curl_slist_append(a->headers, "Expect:")))
        return sv_err_set(err, SV_ENOMEM, "out of memory preparing a request to %s", c->origin);
    curl_easy_reset(c->curl);
    c->errbuf[0] = '\0';
    CURLcode cc = setup(c, r, a, x);
    if (cc != CURLE_OK)
        return sv_err_set(err, SV_EINTERNAL, "configuring a request to %s: %s", c->origin,
                          curl_easy_strerror(cc));
    return 0;
}

/* Classifies a finished transfer (cc is curl_easy_perform's answer). A local
 * failure (the sink, the body cap, reading the request body) or a transport
 * error retrying cannot fix fails with err filled; a final status is done
 * (resp holds it); a retryable status or transport error asks for another
 * attempt and is described in last. */
static attempt_result attempt_finish(http_conn *c, const http_request *r, http_response *resp, xfer *x,
                                     CURLcode cc, bool *ever_connected, char last[160], sv_err *err)
{
    if (x->sink_failed) {
        *err = x->sink_err;
        return ATTEMPT_FAILED;
    }
    if (x->too_big) {
        sv_err_set(err, SV_EREMOTE, "response from %s larger than %zu bytes", c->origin, x->body.max);
        return ATTEMPT_FAILED;
    }
    if (x->read_failed) {
        sv_err_set(err, SV_EIO, "reading the request body for %s: %s", c->origin, strerror(x->read_errno));
        return ATTEMPT_FAILED;
    }
    if (cc == CURLE_OK) {
        *ever_connected = true;
        curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &resp->status);
        resp->body_len = x->body.len;
        resp->body = x->body.len ? sv_buf_take(&x->body) : NULL;
        bool again = http_status_retryable(resp->status);
        if (!again && resp->status >= 200 && resp->status < 300 && r->retry_response)
            again = r->retry_response(r->ud, resp);
        if (!again)
            return ATTEMPT_DONE;
        snprintf(last, 160, "http status %ld", resp->status);
        return ATTEMPT_RETRY;
    }
    if (!curl_retryable(cc)) {
        sv_err_set(err, SV_EREMOTE, "request to %s failed: %s", c->origin,
                   c->errbuf[0] ? c->errbuf : curl_easy_strerror(cc));
        return ATTEMPT_FAILED;
    }
    if (!never_connected(c->curl, cc))
        *ever_connected = true;
    snprintf(last, 160, "%.159s", c->errbuf[0] ? c->errbuf : curl_easy_strerror(cc));
    return ATTEMPT_RETRY;
}

/* After a retryable attempt: 0 to sleep *delay ms and retry; 1 when the
 * budget (attempts, total time) is spent and the last answer was a status,
 * which the caller then classifies; -1 with err filled when it was a
 * transport failure (SV_EUNREACH if no attempt ever connected). */
static int retry_or_give_up(http_conn *c, int attempt, int64_t start, CURLcode cc, bool ever_connected,
                            const char *last, const char *first, int64_t *delay, sv_err *err)
{
    *delay = sv_backoff_ms(c->clock, attempt, c->o.base_delay_ms, c->o.max_delay_ms);
    int64_t elapsed = sv_mono_ms(c->clock) - start;
    if (attempt + 1 < c->o.max_attempts && elapsed + *delay <= c->o.max_total_ms)
        return 0;
    if (cc == CURLE_OK)
        return 1;
    if (ever_connected)
        return sv_err_set(err, SV_ETRANSIENT, "request to %s failed after %d attempts: %s (first error: %s)",
                          c->origin, attempt + 1, last, first);
    return sv_err_set(err, SV_EUNREACH, "%s unreachable after %d attempts: %s", c->origin, attempt + 1, last);
}

/* Runs the request with retries; see http.h. */
int http_do(http_conn *c, const http_request *r, http_response *resp, sv_err *err)
{
    http_attempt a = {0};
    xfer x;
    int64_t start = sv_mono_ms(c->clock), delay = 0;
    bool ever_connected = false;
    char first[160] = "";
    char last[160] = "";
    int rc = -1;

    memset(&x, 0, sizeof x);
    http_response_clear(resp);
    for (int attempt = 0;; attempt++) {
        if (attempt_start(c, r, resp, &a, &x, attempt, err) != 0)
            goto fail;
        CURLcode cc = curl_easy_perform(c->curl);
        attempt_result ar = attempt_finish(c, r, resp, &x, cc, &ever_connected, last, err);
        if (ar == ATTEMPT_FAILED)
            goto fail;
        if (ar == ATTEMPT_DONE) {
            rc = 0;
            break;
        }
        if (!first[0])
            snprintf(first, sizeof first, "%s", last);
        snprintf(resp->first_error, sizeof resp->first_error, "%s", first);
        int stop = retry_or_give_up(c, attempt, start, cc, ever_connected, last, first, &delay, err);
        if (stop != 0) {
            rc = stop > 0 ? 0 : -1;
            break;
        }
        sv_buf_free(&x.body);
        c->retries++;
        sv_sleep_ms(c->clock, delay);
    }
fail:
    sv_buf_free(&x.body);
    attempt_clear(&a);
    return rc;
}
