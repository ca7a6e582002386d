/* buf.h -- the one growable buffer: bounded, always NUL-terminated.
 *
 * Like curl's dynbuf: every buffer has a hard cap, so a malformed or hostile
 * reply cannot make us allocate without limit. When an append would pass the
 * cap (or memory runs out), the buffer frees its contents, remembers why, and
 * every later append fails the same way: a caller may append many pieces and
 * check once (sv_buf_failed) or check each append.
 *
 * Owner: whoever holds the sv_buf; sv_buf_free releases the contents,
 * sv_buf_take hands them over. */
#ifndef SV_BUF_H
#define SV_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include "err.h"

typedef struct sv_buf {
    char *p;      /* NULL until the first append, and after a failure */
    size_t len;
    size_t cap;   /* allocated bytes */
    size_t max;   /* hard cap on len */
    sv_code fail; /* SV_OK, or SV_ETOOBIG / SV_ENOMEM once an append failed */
} sv_buf;

/* Default cap when sv_buf_init is given 0: 1 GiB. */
#define SV_BUF_DEFAULT_MAX ((size_t)1 << 30)

/* An empty buffer capped at max bytes (0 = SV_BUF_DEFAULT_MAX). */
void sv_buf_init(sv_buf *b, size_t max);
/* Appends n bytes. SV_OK (0), or SV_ETOOBIG past the cap / SV_ENOMEM, after
 * which the contents are freed and every later append fails the same way. */
sv_code sv_buf_add(sv_buf *b, const void *d, size_t n);
sv_code sv_buf_adds(sv_buf *b, const char *s);
sv_code sv_buf_addf(sv_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
sv_code sv_buf_vaddf(sv_buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
/* Why an append failed (SV_OK when none did). */
static inline sv_code sv_buf_failed(const sv_buf *b) { return b->fail; }
/* The contents as a heap string owned by the caller ("" when empty, NULL on
 * OOM or after a failed append); the buffer is left empty and usable. */
char *sv_buf_take(sv_buf *b);
/* Frees the contents; the buffer is left empty and usable. */
void sv_buf_free(sv_buf *b);

#endif
