/* xml.c -- expat-driven walk over S3 replies, and XML escaping for requests. */
#include "store/s3/xml.h"

#include <expat.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define XML_PATH_MAX 512
#define XML_TEXT_MAX 8192

/* Parser state shared with the expat callbacks. */
typedef struct walk {
    XML_Parser p;
    s3_xml_fn fn;
    void *ud;
    sv_err *err;
    char path[XML_PATH_MAX];
    size_t path_len;
    char text[XML_TEXT_MAX];
    size_t text_len;
    bool failed;      /* fn failed: err filled */
    bool overflow;    /* path or text past its cap */
} walk;

/* Strips a namespace prefix ("s3:Key" -> "Key"). */
static const char *local_name(const char *name)
{
    const char *c = strrchr(name, ':');
    return c ? c + 1 : name;
}

/* Element start: extend the path, reset the text. */
static void on_start(void *ud, const XML_Char *name, const XML_Char **attrs)
{
    (void)attrs;
    walk *w = ud;
    const char *n = local_name(name);
    size_t nl = strlen(n);
    size_t need = w->path_len + (w->path_len ? 1 : 0) + nl;
    if (need >= XML_PATH_MAX) {
        w->overflow = true;
        XML_StopParser(w->p, XML_FALSE);
        return;
    }
    if (w->path_len)
        w->path[w->path_len++] = '/';
    memcpy(w->path + w->path_len, n, nl + 1);
    w->path_len += nl;
    w->text_len = 0;
    w->text[0] = '\0';
}

/* Element end: report path and text, then drop the last path segment. */
static void on_end(void *ud, const XML_Char *name)
{
    (void)name;
    walk *w = ud;
    if (w->fn(w->ud, w->path, w->text, w->err) != 0) {
        w->failed = true;
        XML_StopParser(w->p, XML_FALSE);
        return;
    }
    char *slash = strrchr(w->path, '/');
    w->path_len = slash ? (size_t)(slash - w->path) : 0;
    w->path[w->path_len] = '\0';
    w->text_len = 0;
    w->text[0] = '\0';
}

/* Character data: accumulate into the current element's text. */
static void on_text(void *ud, const XML_Char *s, int len)
{
    walk *w = ud;
    if (w->text_len + (size_t)len >= XML_TEXT_MAX) {
        w->overflow = true;
        XML_StopParser(w->p, XML_FALSE);
        return;
    }
    memcpy(w->text + w->text_len, s, (size_t)len);
    w->text_len += (size_t)len;
    w->text[w->text_len] = '\0';
}

/* Parses doc and reports element ends (see xml.h). */
int s3_xml_walk(const char *doc, size_t len, s3_xml_fn fn, void *ud, sv_err *err)
{
    walk *w = calloc(1, sizeof *w);
    if (!w)
        return sv_err_set(err, SV_ENOMEM, "out of memory parsing xml");
    int rc = -1;
    w->fn = fn;
    w->ud = ud;
    w->err = err;
    w->p = XML_ParserCreate(NULL);
    if (!w->p) {
        sv_err_set(err, SV_ENOMEM, "out of memory parsing xml");
        goto done;
    }
    XML_SetUserData(w->p, w);
    XML_SetElementHandler(w->p, on_start, on_end);
    XML_SetCharacterDataHandler(w->p, on_text);
    enum XML_Status st = XML_Parse(w->p, doc ? doc : "", (int)len, XML_TRUE);
    if (w->failed)
        goto done;
    if (w->overflow) {
        sv_err_set(err, SV_EREMOTE, "s3 reply has an element too long to parse");
        goto done;
    }
    if (st != XML_STATUS_OK) {
        sv_err_set(err, SV_EREMOTE, "malformed xml in s3 reply: %s at line %lu",
                   XML_ErrorString(XML_GetErrorCode(w->p)),
                   (unsigned long)XML_GetCurrentLineNumber(w->p));
        goto done;
    }
    rc = 0;
done:
    if (w->p)
        XML_ParserFree(w->p);
    free(w);
    return rc;
}

/* State of s3_xml_find. */
typedef struct find {
    const char *path;
    char *found;
} find;

/* Keeps the first text at the wanted path. */
static int find_cb(void *ud, const char *path, const char *text, sv_err *err)
{
    (void)err;
    find *f = ud;
    if (!f->found && strcmp(path, f->path) == 0)
        f->found = sv_strdup(text);
    return 0;
}

/* Text of the first element at path (heap) or NULL. */
char *s3_xml_find(const char *doc, size_t len, const char *path)
{
    find f = {path, NULL};
    sv_err err;
    if (!doc || !len)
        return NULL;
    if (s3_xml_walk(doc, len, find_cb, &f, &err) != 0) {
        free(f.found);
        return NULL;
    }
    return f.found;
}

/* Appends s escaped for XML text. */
int s3_xml_escape(sv_buf *b, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        int rc;
        switch (*p) {
        case '&': rc = sv_buf_adds(b, "&amp;"); break;
        case '<': rc = sv_buf_adds(b, "&lt;"); break;
        case '>': rc = sv_buf_adds(b, "&gt;"); break;
        case '"': rc = sv_buf_adds(b, "&quot;"); break;
        case '\'': rc = sv_buf_adds(b, "&apos;"); break;
        default:
            if (*p < 0x20)
                rc = sv_buf_addf(b, "&#x%X;", *p);
            else
                rc = sv_buf_add(b, p, 1);
        }
        if (rc != 0)
            return -1;
    }
    return 0;
}
