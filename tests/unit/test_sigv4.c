/* test_sigv4.c -- known-answer tests of the SigV4 signer and presigner.
 *
 * The vectors come from botocore, an independent implementation
 * (tests/tools/sigv4_vectors.py, checked in as tests/unit/fixtures/
 * sigv4_vectors.json). Every vector pins the clock, so signatures are exact.
 * With a path argument the same checks run on another vectors file: the
 * integration test s3_sigv4_botocore.sh feeds it freshly generated random
 * vectors. Plus hand-written checks: the published AWS example (IAM
 * ListUsers, 2015-08-30), URI encoding, and the per-day key cache. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "store/s3/sigv4.h"
#include "testlib.h"
#include "digest.h"
#include "util.h"

/* A JSON string member, or NULL. */
static const char *jstr(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* Raw pairs from a JSON [[name, value], ...] array; strings stay owned by j. */
static sigv4_pair *pairs_of(json_t *arr, size_t *n)
{
    *n = json_array_size(arr);
    sigv4_pair *p = calloc(*n ? *n : 1, sizeof *p);
    for (size_t i = 0; i < *n; i++) {
        json_t *pr = json_array_get(arr, i);
        p[i].name = json_string_value(json_array_get(pr, 0));
        p[i].value = json_string_value(json_array_get(pr, 1));
    }
    return p;
}

/* The canonical URI our driver would use for bucket/key. */
static char *uri_of(json_t *v)
{
    const char *bucket = jstr(v, "bucket");
    const char *key = jstr(v, "key");
    if (!bucket)
        return sv_strdup("/");
    if (!key)
        return sv_asprintf("/%s", bucket);
    char *ek = sigv4_uri_encode(key, true);
    char *u = sv_asprintf("/%s/%s", bucket, ek);
    free(ek);
    return u;
}

/* Checks one header-signing vector. */
static void check_header_vector(json_t *v)
{
    const char *name = jstr(v, "name");
    sigv4_signer sg;
    sigv4_init(&sg, jstr(v, "access_key"), jstr(v, "secret"), jstr(v, "region"), jstr(v, "service"));
    size_t nq, nh;
    sigv4_pair *q = pairs_of(json_object_get(v, "query"), &nq);
    sigv4_pair *h = pairs_of(json_object_get(v, "headers"), &nh);
    char *uri = uri_of(v);
    char date[SIGV4_DATE_LEN], hash[SIGV4_HASH_LEN];
    sigv4_amz_date(json_integer_value(json_object_get(v, "time_ms")), date);
    const char *payload = jstr(v, "payload");
    sv_sha256_hex(payload, strlen(payload), hash);
    CHECK_STR(hash, jstr(v, "payload_hash"));
    for (size_t i = 0; i < nh; i++)
        if (strcmp(h[i].name, "x-amz-date") == 0)
            CHECK_STR(date, h[i].value);

    char *creq = sigv4_canonical_request(jstr(v, "method"), uri, q, nq, h, nh, hash);
    char *auth = NULL;
    sv_err err;
    int rc = sigv4_authorization(&sg, jstr(v, "method"), uri, q, nq, h, nh, hash, date, &auth, &err);
    CHECK_INT(rc, 0);
    CHECK_STR(creq, jstr(v, "expect_canonical_request"));
    CHECK_STR(auth, jstr(v, "expect_authorization"));
    if (!creq || !auth || strcmp(auth, jstr(v, "expect_authorization")) != 0)
        fprintf(stderr, "  in vector: %s\n", name);
    /* Signing again hits the cached key and must agree. */
    char *auth2 = NULL;
    sigv4_authorization(&sg, jstr(v, "method"), uri, q, nq, h, nh, hash, date, &auth2, &err);
    CHECK_STR(auth2, auth);
    free(auth2);
    free(auth);
    free(creq);
    free(uri);
    free(q);
    free(h);
}

/* Checks one presign vector: our query is the canonical one plus the signature. */
static void check_presign_vector(json_t *v)
{
    sigv4_signer sg;
    sigv4_init(&sg, jstr(v, "access_key"), jstr(v, "secret"), jstr(v, "region"), "s3");
    size_t nq;
    sigv4_pair *q = pairs_of(json_object_get(v, "query"), &nq);
    char *uri = uri_of(v);
    char date[SIGV4_DATE_LEN];
    sigv4_amz_date(json_integer_value(json_object_get(v, "time_ms")), date);
    char *qs = NULL;
    sv_err err;
    int rc = sigv4_presign_query(&sg, jstr(v, "method"), jstr(v, "host"), uri, q, nq,
                                 json_integer_value(json_object_get(v, "expires")), date, &qs, &err);
    CHECK_INT(rc, 0);
    char *want = sv_asprintf("%s&X-Amz-Signature=%s", jstr(v, "expect_query"),
                             jstr(v, "expect_signature"));
    CHECK_STR(qs, want);
    if (!qs || strcmp(qs, want) != 0)
        fprintf(stderr, "  in vector: %s\n", jstr(v, "name"));
    free(want);
    free(qs);
    free(uri);
    free(q);
}

/* Runs every vector of a file; returns how many ran. */
static size_t run_vectors(const char *path)
{
    json_error_t je;
    json_t *all = json_load_file(path, 0, &je);
    if (!all) {
        fprintf(stderr, "cannot load %s: %s\n", path, je.text);
        CHECK(all != NULL);
        return 0;
    }
    size_t i;
    json_t *v;
    json_array_foreach(all, i, v) {
        const char *kind = jstr(v, "kind");
        if (strcmp(kind, "header") == 0)
            check_header_vector(v);
        else
            check_presign_vector(v);
    }
    size_t n = json_array_size(all);
    json_decref(all);
    return n;
}

/* The published AWS example, independent of botocore. */
static void test_aws_example(void)
{
    sigv4_signer sg;
    sigv4_init(&sg, "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "us-east-1", "iam");
    sigv4_pair q[] = {{"Version", "2010-05-08"}, {"Action", "ListUsers"}};
    sigv4_pair h[] = {{"X-Amz-Date", "20150830T123600Z"},
                      {"Host", "iam.amazonaws.com"},
                      {"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"}};
    char date[SIGV4_DATE_LEN];
    sigv4_amz_date(1440938160000LL, date);
    CHECK_STR(date, "20150830T123600Z");
    char *creq = sigv4_canonical_request("GET", "/", q, 2, h, 3, sigv4_empty_sha256);
    char hash[SIGV4_HASH_LEN];
    sv_sha256_hex(creq, strlen(creq), hash);
    CHECK_STR(hash, "f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59");
    char *auth = NULL;
    sv_err err;
    CHECK_INT(sigv4_authorization(&sg, "GET", "/", q, 2, h, 3, sigv4_empty_sha256, date, &auth, &err), 0);
    CHECK_STR(auth, "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, "
                    "SignedHeaders=content-type;host;x-amz-date, "
                    "Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7");
    char key_hex[65];
    sv_hex(sg.key, 32, key_hex);
    CHECK_STR(key_hex, "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9");
    CHECK_STR(sg.key_day, "20150830");
    /* The next day re-derives the key. */
    free(auth);
    CHECK_INT(sigv4_authorization(&sg, "GET", "/", q, 2, h, 3, sigv4_empty_sha256,
                                  "20150831T000000Z", &auth, &err), 0);
    CHECK_STR(sg.key_day, "20150831");
    CHECK(strstr(auth, "/20150831/us-east-1/iam/aws4_request") != NULL);
    CHECK(strstr(auth, "wJalr") == NULL);
    free(auth);
    free(creq);
}

/* URI encoding: unreserved kept, '/' only in paths, bytes as uppercase %XX. */
static void test_uri_encode(void)
{
    struct { const char *in; bool slash; const char *out; } t[] = {
        {"abc-_.~XYZ09", true, "abc-_.~XYZ09"},
        {"a b/c", true, "a%20b/c"},
        {"a b/c", false, "a%20b%2Fc"},
        {"+=&?#%", true, "%2B%3D%26%3F%23%25"},
        {"caf\xc3\xa9", true, "caf%C3%A9"},
        {"", true, ""},
        {"*'()!", false, "%2A%27%28%29%21"},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        char *e = sigv4_uri_encode(t[i].in, t[i].slash);
        CHECK_STR(e, t[i].out);
        free(e);
    }
    sigv4_pair q[] = {{"b", "2"}, {"a", "z"}, {"a", "y"}, {"uploads", ""}, {"c d", "e/f"}};
    char *cq = sigv4_canonical_query(q, 5);
    CHECK_STR(cq, "a=y&a=z&b=2&c%20d=e%2Ff&uploads=");
    free(cq);
}

/* Entry: fixture vectors (or argv[1]), then the hand-written checks. */
int main(int argc, char **argv)
{
    char *path = NULL;
    if (argc > 1) {
        path = sv_strdup(argv[1]);
    } else {
        const char *src = getenv("SV_SOURCE_DIR");
        if (src) {
            path = sv_asprintf("%s/tests/unit/fixtures/sigv4_vectors.json", src);
        } else { /* __FILE__ is absolute in CMake builds */
            path = sv_strdup(__FILE__);
            char *slash = strrchr(path, '/');
            if (slash)
                *slash = '\0';
            char *p2 = sv_asprintf("%s/fixtures/sigv4_vectors.json", path);
            free(path);
            path = p2;
        }
    }
    size_t n = run_vectors(path);
    printf("%zu vectors from %s\n", n, path);
    CHECK(n >= 10);
    free(path);
    test_aws_example();
    test_uri_encode();
    TEST_DONE();
}
