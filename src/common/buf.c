/* buf.c -- the bounded growable buffer (see buf.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "buf.h"

/* An empty buffer capped at max bytes. */
void sv_buf_init(sv_buf *b, size_t max)
{
    b->p = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max ? max : SV_BUF_DEFAULT_MAX;
    b->fail = SV_OK;
}

/* Frees the contents and makes the failure sticky. */
static sv_code give_up(sv_buf *b, sv_code why)
{
    free(b->p);
    b->p = NULL;
    b->len = 0;
    b->cap = 0;
    b->fail = why;
    return why;
}

/* Appends n bytes, keeping a NUL after them. */
sv_code sv_buf_add(sv_buf *b, const void *d, size_t n)
{
    if (b->fail != SV_OK)
        return b->fail;
    if (n > b->max || b->len > b->max - n)
        return give_up(b, SV_ETOOBIG);
    if (b->len + n + 1 > b->cap) {
        size_t want = b->len + n + 1, cap = b->cap ? b->cap : 256;
        while (cap < want) /* doubling, never past max + 1 */
            cap = cap > (b->max + 1) / 2 ? b->max + 1 : cap * 2;
        char *p = realloc(b->p, cap);
        if (!p)
            return give_up(b, SV_ENOMEM);
        b->p = p;
        b->cap = cap;
    }
    if (n)
        memcpy(b->p + b->len, d, n);
    b->len += n;
    b->p[b->len] = '\0';
    return SV_OK;
}

/* Appends a C string. */
sv_code sv_buf_adds(sv_buf *b, const char *s)
{
    return sv_buf_add(b, s, strlen(s));
}

/* Appends printf-formatted text from a va_list. */
sv_code sv_buf_vaddf(sv_buf *b, const char *fmt, va_list ap)
{
    char small[512];
    va_list again;
    if (b->fail != SV_OK)
        return b->fail;
    va_copy(again, ap);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    if (n < 0 || (size_t)n < sizeof small) {
        va_end(again);
        return n < 0 ? give_up(b, SV_ENOMEM) : sv_buf_add(b, small, (size_t)n);
    }
    char *big = malloc((size_t)n + 1);
    if (!big) {
        va_end(again);
        return give_up(b, SV_ENOMEM);
    }
    vsnprintf(big, (size_t)n + 1, fmt, again);
    va_end(again);
    sv_code rc = sv_buf_add(b, big, (size_t)n);
    free(big);
    return rc;
}

/* Appends printf-formatted text. */
sv_code sv_buf_addf(sv_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sv_code rc = sv_buf_vaddf(b, fmt, ap);
    va_end(ap);
    return rc;
}

/* Hands the contents to the caller as a heap string; the buffer is emptied. */
char *sv_buf_take(sv_buf *b)
{
    char *p = b->fail != SV_OK ? NULL : b->p ? b->p : strdup("");
    b->p = NULL;
    b->len = 0;
    b->cap = 0;
    b->fail = SV_OK;
    return p;
}

/* Frees the contents. */
void sv_buf_free(sv_buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = 0;
    b->cap = 0;
    b->fail = SV_OK;
}
