/* http.h -- the HTTP client under the S3 driver: one libcurl easy handle per
 * connection object (kept alive between requests), and the ONE layer where
 * requests are retried.
 *
 * http_do retries what retrying can fix -- 5xx, 408, 429 and transport errors
 * (refused, reset, timeouts) -- with exponential backoff and full jitter from
 * the injected clock, a bounded number of attempts and a bounded total time.
 * It never retries other 4xx. The first failure is kept for the report.
 * A final HTTP response of any status is returned as 0 with the status in the
 * response: the caller (the S3 driver) classifies statuses into sv_code once.
 * Transport failures after the last attempt return -1: SV_EUNREACH when no
 * attempt ever connected, SV_ETRANSIENT otherwise.
 *
 * Before every attempt the request's prepare callback sets the URL and the
 * headers, so a retry is re-signed with a fresh date and a streamed GET can
 * resume with a Range header at the offset its sink already received.
 * Bodies of 2xx responses go to the sink when one is given; any other body
 * is collected, bounded, into the response.
 *
 * Nothing here logs a URL or a header: URLs may carry presigned signatures
 * and headers carry Authorization. Messages name only the origin.
 *
 * THREAD SAFETY NOTES: an http_conn is used by one thread at a time. Upload
 * threads each own one. curl_global_init runs once (pthread_once). */
#ifndef SV_HTTP_H
#define SV_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "buf.h"
#include "clock.h"
#include "err.h"

/* ---- connections and requests ---- */

typedef struct http_conn http_conn;
typedef struct http_attempt http_attempt;

typedef struct http_opts {
    int max_attempts;        /* default 6 */
    int64_t base_delay_ms;   /* default 100 */
    int64_t max_delay_ms;    /* default 5000 */
    int64_t max_total_ms;    /* stop retrying after this much time; default 120000 */
    long connect_timeout_s;  /* default 10 */
    long low_speed_time_s;   /* abort when below 1 KiB/s for this long; default 60 */
} http_opts;

/* Fills o with the defaults above. */
void http_opts_default(http_opts *o);

/* A keep-alive connection. origin ("http://127.0.0.1:9000") names the server
 * in messages. o may be NULL for the defaults. */
int http_conn_new(const sv_clock *clock, const char *origin, const http_opts *o, http_conn **out,
                  sv_err *err);
void http_conn_free(http_conn *c); /* NULL is a no-op */
/* Retry counters since the connection was made (for tests and metrics). */
uint64_t http_conn_retries(const http_conn *c);

/* Called in prepare: the full URL of this attempt (copied). */
int http_attempt_url(http_attempt *a, const char *url);
/* Called in prepare: one "Name: value" header (copied). */
int http_attempt_header(http_attempt *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

typedef struct http_response {
    long status;          /* 0 when no response */
    char *body;           /* collected body (heap, NUL-terminated) or NULL */
    size_t body_len;
    char etag[128];       /* ETag header, quotes kept; "" when absent */
    int64_t content_length; /* -1 when absent */
    int64_t last_modified_ms; /* 0 when absent */
    int attempts;         /* attempts made */
    uint64_t received;    /* body bytes of this attempt received before the current
                           * sink call (0 on an attempt's first chunk) */
    char first_error[160];/* the first failed attempt's description, "" if none */
} http_response;

typedef struct http_request {
    const char *method; /* GET HEAD PUT POST DELETE */
    /* Called before each attempt (attempt counts from 0): set URL and headers. */
    int (*prepare)(void *ud, http_attempt *a, int attempt, sv_err *err);
    void *ud;
    /* Request body: memory, or body_len bytes of body_fd at body_off when
     * body_fd >= 0 (read with pread, so the fd can be shared). PUT and POST
     * always send a Content-Length, 0 when there is no body. */
    const void *body;
    uint64_t body_len;
    int body_fd;        /* -1 = none (set it: 0 is a valid fd) */
    uint64_t body_off;
    /* 2xx response body: streamed to sink when set, else collected. */
    int (*sink)(void *ud, const void *data, size_t len, sv_err *err);
    void *sink_ud;
    size_t body_cap;    /* cap of a collected body; 0 = 1 MiB */
    /* Optional: a final 2xx response the caller wants retried anyway
     * (S3's "200 OK with an <Error> body" on CompleteMultipartUpload). */
    bool (*retry_response)(void *ud, const http_response *resp);
} http_request;

/* Runs the request with retries. 0: a final response (any status) is in
 * resp; -1: err filled (transport failure after retries, a sink error, a
 * body past body_cap, or a local error). Free resp with http_response_clear. */
int http_do(http_conn *c, const http_request *r, http_response *resp, sv_err *err);
void http_response_clear(http_response *r);

/* True for statuses http_do retries (5xx but 501 and 505, 408, 429). */
bool http_status_retryable(long status);

#endif
