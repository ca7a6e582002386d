/* xml.h -- the little XML the S3 driver reads and writes, with expat.
 *
 * S3 replies are shallow documents; s3_xml_walk reports every element's end
 * with its slash-separated path from the root ("ListBucketResult/Contents/Key")
 * and its text, so a driver function keeps a small record and flushes it when
 * the record's own element ends ("ListBucketResult/Contents"). Element texts
 * are capped (S3 keys are at most 1024 bytes), so a malformed or hostile
 * reply cannot make us allocate without bound. */
#ifndef SV_S3_XML_H
#define SV_S3_XML_H

#include <stddef.h>
#include "err.h"
#include "buf.h"

/* Called at each element end; return 0 to go on, -1 (err filled) to stop. */
typedef int (*s3_xml_fn)(void *ud, const char *path, const char *text, sv_err *err);

/* Parses doc, calling fn per element end. SV_EREMOTE on malformed XML. */
int s3_xml_walk(const char *doc, size_t len, s3_xml_fn fn, void *ud, sv_err *err);

/* Text of the first element at path, as a heap string, or NULL when absent
 * or unparsable. */
char *s3_xml_find(const char *doc, size_t len, const char *path);

/* Appends s to b with XML escaping (&, <, >, ", ' and control characters). */
int s3_xml_escape(sv_buf *b, const char *s);

#endif
