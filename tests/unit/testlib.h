/* testlib.h -- a tiny table-friendly assertion kit for unit tests.
 * Each failed CHECK prints file:line and the expression, and the test exits 1
 * at the end (TEST_DONE) if any check failed. */
#ifndef SV_TESTLIB_H
#define SV_TESTLIB_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tl_failures = 0;
static int tl_checks = 0;
#define CHECK(cond) do { tl_checks++; if (!(cond)) { tl_failures++; \
    fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); } } while (0)
#define CHECK_STR(a, b) do { const char *_a = (a), *_b = (b); tl_checks++; \
    if (!_a || !_b || strcmp(_a, _b) != 0) { tl_failures++; \
    fprintf(stderr, "%s:%d: CHECK_STR failed: %s\n  got:  %s\n  want: %s\n", __FILE__, __LINE__, \
            #a, _a ? _a : "(null)", _b ? _b : "(null)"); } } while (0)
#define CHECK_INT(a, b) do { long long _a = (long long)(a), _b = (long long)(b); tl_checks++; \
    if (_a != _b) { tl_failures++; fprintf(stderr, "%s:%d: CHECK_INT failed: %s: got %lld want %lld\n", \
    __FILE__, __LINE__, #a, _a, _b); } } while (0)
#define TEST_DONE() do { printf("%d checks, %d failed\n", tl_checks, tl_failures); \
    return tl_failures ? 1 : 0; } while (0)
#endif
