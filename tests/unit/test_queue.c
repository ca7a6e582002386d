/* test_queue.c -- the queue module's pure parts: msgpack options both ways,
 * pool key prefixes, the pool set's workspace-to-pool function (on the
 * vectors of tests/unit/fixtures/pool_set.tsv, which the Node client's test
 * reads too), the Redis layer's error classifier and routing key, its
 * reconnect giving up at the deadline (a refused port), and the embedded function library being byte for byte
 * the shipped src/queue/sqlvault.lua (the build embeds it with src/queue/embed.sh). */
#include <stdlib.h>
#include <string.h>
#include "clock.h"
#include "queue.h"
#include "testlib.h"

/* Reads a whole small file into a heap string. */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) { free(buf); buf = NULL; }
    if (buf) buf[n] = '\0';
    fclose(f);
    return buf;
}

/* The pool-set vectors (tests/unit/fixtures/pool_set.tsv): every line's
 * hash, and its pool in "a,b,c" and in the same set written loosely. */
static void check_pool_set(const sv_config *cfg)
{
    const char *src = getenv("SV_SOURCE_DIR");
    char path[1024], line[512];
    int lines = 0;
    FILE *f;
    snprintf(path, sizeof path, "%s/tests/unit/fixtures/pool_set.tsv", src ? src : ".");
    f = fopen(path, "r");
    CHECK(f != NULL);
    if (!f) return;
    while (fgets(line, sizeof line, f)) {
        char ws[256], pool[64], want[128];
        unsigned long h;
        if (line[0] == '#' || sscanf(line, "%255s %lu %63s", ws, &h, pool) != 3) continue;
        if (strcmp(ws, "-") == 0) ws[0] = 0;
        CHECK_INT(queue_pool_hash(ws), h);
        snprintf(want, sizeof want, "sqlvault:{%s}:", pool);
        for (int k = 0; k < 2; k++) {
            char *b = queue_pool_base_for(cfg, k ? "a, b,,a ,c" : "a,b,c", ws);
            CHECK_STR(b, want);
            free(b);
        }
        {   /* a single name: that pool for every workspace */
            char *b = queue_pool_base_for(cfg, "solo", ws);
            CHECK_STR(b, "sqlvault:{solo}:");
            free(b);
        }
        lines++;
    }
    fclose(f);
    CHECK(lines >= 10);
    {
        char *b = queue_pool_base_for(cfg, NULL, "ws-1");
        CHECK_STR(b, "sqlvault:{default}:");
        free(b);
    }
}

int main(void)
{
    sv_err err;
    sv_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.redis_prefix = "sqlvault";

    { /* options round trip */
        json_t *in = json_pack("{s:s, s:I, s:b, s:f, s:n, s:[i,s], s:{s:i}}", "db", "/x/y.db",
                               "ts", (json_int_t)1767225600123LL, "dry_run", 1, "ratio", 0.25, "none",
                               "list", 1, "two", "obj", "k", -7);
        json_t *out = NULL;
        char *buf = NULL;
        size_t len = 0;
        CHECK(queue_opts_pack(in, &buf, &len, &err) == 0);
        CHECK(len > 0 && (unsigned char)buf[0] == 0x87);
        CHECK(queue_opts_unpack(buf, len, &out, &err) == 0);
        CHECK(out && json_equal(in, out));
        CHECK_INT(json_integer_value(json_object_get(out, "ts")), 1767225600123LL);
        json_decref(out);
        /* truncated input is refused */
        CHECK(queue_opts_unpack(buf, len - 1, &out, &err) == -1);
        CHECK_INT(err.code, SV_EINVAL);
        free(buf);
        json_decref(in);
    }
    { /* NULL opts is an empty map; empty bytes decode to {} */
        char *buf = NULL;
        size_t len = 0;
        json_t *out = NULL;
        CHECK(queue_opts_pack(NULL, &buf, &len, &err) == 0);
        CHECK_INT(len, 1);
        CHECK_INT((unsigned char)buf[0], 0x80);
        CHECK(queue_opts_unpack("", 0, &out, &err) == 0);
        CHECK(json_is_object(out) && json_object_size(out) == 0);
        json_decref(out);
        free(buf);
        /* an array is not a map */
        CHECK(queue_opts_unpack("\x91\x01", 2, &out, &err) == -1);
        /* not an object */
        {
            json_t *arr = json_array();
            CHECK(queue_opts_pack(arr, &buf, &len, &err) == -1);
            json_decref(arr);
        }
    }
    { /* a map written by another client: bin values and integer keys */
        const char mp[] = "\x82\xa2id\xc4\x03" "abc" "\x07\xc3";
        json_t *out = NULL;
        CHECK(queue_opts_unpack(mp, sizeof mp - 1, &out, &err) == 0);
        CHECK_STR(json_string_value(json_object_get(out, "id")), "abc");
        CHECK(json_is_true(json_object_get(out, "7")));
        json_decref(out);
    }
    { /* pool prefixes */
        char *b = queue_pool_base(&cfg, NULL);
        size_t n = 0;
        char **v;
        CHECK_STR(b, "sqlvault:{default}:");
        free(b);
        check_pool_set(&cfg);
        b = queue_pool_base(&cfg, "hostA");
        CHECK_STR(b, "sqlvault:{hostA}:");
        free(b);
        v = queue_pool_bases(&cfg, "a, b,a", &n);
        CHECK_INT(n, 2);
        CHECK_STR(v[0], "sqlvault:{a}:");
        CHECK_STR(v[1], "sqlvault:{b}:");
        CHECK(v[2] == NULL);
        queue_bases_free(v);
        queue_bases_free(NULL);
        queue_conn_free(NULL);
    }
    { /* the one classifier of Redis errors */
        CHECK_INT(queue_conn_classify(NULL), QC_ERR_IO);
        CHECK_INT(queue_conn_classify("LOADING Redis is loading the dataset in memory"), QC_ERR_NOT_READY);
        CHECK_INT(queue_conn_classify("BUSY Redis is busy running a script"), QC_ERR_NOT_READY);
        CHECK_INT(queue_conn_classify("READONLY You can't write against a read only replica."), QC_ERR_NOT_READY);
        CHECK_INT(queue_conn_classify("NOSCRIPT No matching script"), QC_ERR_NO_FUNCTION);
        CHECK_INT(queue_conn_classify("ERR Function not found"), QC_ERR_NO_FUNCTION);
        CHECK_INT(queue_conn_classify("MOVED 3999 127.0.0.1:6381"), QC_ERR_MOVED);
        CHECK_INT(queue_conn_classify("ASK 3999 127.0.0.1:6381"), QC_ERR_ASK);
        CHECK_INT(queue_conn_classify("ERR invalid job id"), QC_ERR_REFUSED);
        CHECK_INT(queue_conn_classify("ERR unknown command 'FOO'"), QC_ERR_OTHER);
        CHECK_INT(queue_conn_err_code(QC_ERR_NOT_READY), SV_EUNREACH);
        CHECK_INT(queue_conn_err_code(QC_ERR_MOVED), SV_EUNREACH);
        CHECK_INT(queue_conn_err_code(QC_ERR_REFUSED), SV_EINVAL);
        CHECK_INT(queue_conn_err_code(QC_ERR_OTHER), SV_EINTERNAL);
    }
    { /* the key a command is routed by */
        size_t len = 99;
        const char *fc[] = {"FCALL", "sqlvault_claim", "1", "sqlvault:{a}:", "w"};
        const char *f0[] = {"FCALL_RO", "sqlvault_version", "0"};
        const char *hg[] = {"HGET", "sqlvault:{a}:job:x", "state"};
        const char *in[] = {"INFO", "memory"};
        CHECK_STR(queue_command_key(5, fc, NULL, &len), "sqlvault:{a}:");
        CHECK_INT(len, 13);
        CHECK(queue_command_key(3, f0, NULL, &len) == NULL);
        CHECK_INT(len, 0);
        CHECK_STR(queue_command_key(3, hg, NULL, &len), "sqlvault:{a}:job:x");
        CHECK(queue_command_key(2, in, NULL, &len) == NULL);
    }
    { /* ensure gives up at its deadline when nothing listens */
        sv_config c2 = cfg;
        queue_conn *c = NULL;
        const sv_clock *clk = sv_clock_system();
        int64_t t0;
        c2.redis_host = "127.0.0.1";
        c2.redis_port = 1; /* nothing listens on port 1 */
        CHECK(queue_conn_new(&c2, &c, &err) == 0);
        CHECK(queue_conn_broken(c));
        t0 = sv_mono_ms(clk);
        CHECK(queue_conn_ensure(c, t0 + 400, NULL, NULL, &err) == -1);
        CHECK_INT(err.code, SV_EUNREACH);
        CHECK(sv_mono_ms(clk) - t0 >= 300);
        CHECK(sv_mono_ms(clk) - t0 < 3000);
        t0 = sv_mono_ms(clk);
        CHECK(queue_conn_ensure(c, QC_ENSURE_ONCE, NULL, NULL, &err) == -1); /* one try, no wait */
        CHECK(sv_mono_ms(clk) - t0 < 1500);
        queue_conn_free(c);
    }
    { /* embedded library == shipped file */
        const char *src = getenv("SV_SOURCE_DIR");
        char path[1024];
        char *text;
        snprintf(path, sizeof path, "%s/src/queue/sqlvault.lua", src ? src : ".");
        text = slurp(path);
        CHECK(text != NULL);
        if (text) CHECK(strcmp(text, queue_script_lua) == 0);
        free(text);
        CHECK(strncmp(queue_script_lua, "#!lua name=sqlvault\n", 20) == 0);
        {
            const char *v = strstr(queue_script_lua, "local VERSION = ");
            CHECK(v != NULL);
            if (v) CHECK_INT(atoi(v + 16), QUEUE_LIBRARY_VERSION);
        }
    }
    TEST_DONE();
}
