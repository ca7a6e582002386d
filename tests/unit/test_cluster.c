/* test_cluster.c -- the pure parts of the Redis Cluster router
 * (src/queue/cluster.c): CRC16 and key slots with hash tags (answers taken
 * from redis-server's CLUSTER KEYSLOT), which argument routes a command,
 * MOVED/ASK parsing, the seed list of SQLVAULT_REDIS_URL, and a CLUSTER
 * SLOTS reply (raw RESP from a 3+3 cluster) turned into a slot map. */
#include <hiredis/hiredis.h>
#include <string.h>
#include "queue/cluster.h"
#include "testlib.h"

/* Parses one RESP reply from raw bytes with hiredis' own reader. */
static redisReply *resp(const char *raw)
{
    redisReader *rd = redisReaderCreate();
    void *out = NULL;
    redisReaderFeed(rd, raw, strlen(raw));
    if (redisReaderGetReply(rd, &out) != REDIS_OK) out = NULL;
    redisReaderFree(rd);
    return out;
}

/* The routing argument of a command given as a NULL-terminated list. */
static int key_of(const char *const *args)
{
    size_t lens[16];
    int n = 0;
    while (args[n]) { lens[n] = strlen(args[n]); n++; }
    return qcl_command_key(n, (const char **)args, lens);
}

int main(void)
{
    sv_err err;

    /* CRC16 XMODEM check value, and slots as redis-server computes them */
    CHECK_INT(qcl_crc16("123456789", 9), 0x31C3);
    static const struct { const char *key; int slot; } slots[] = {
        {"foo", 12182}, {"sqlvault:{default}:", 5718}, {"{user1000}.following", 3443},
        {"foo{}{bar}", 8363}, {"foo{{bar}}zap", 4015}, {"foo{bar}{zap}", 5061},
        {"sqlvault:pause:{ws-1}", 1224}, {"sqlvault:{ws-1}:pause", 1224}, {"", 0},
    };
    for (size_t i = 0; i < sizeof slots / sizeof slots[0]; i++)
        CHECK_INT(qcl_key_slot(slots[i].key, strlen(slots[i].key)), slots[i].slot);
    /* every key of a pool shares the tag's slot */
    CHECK_INT(qcl_key_slot("sqlvault:{default}:job:abc", 26), 5718);
    CHECK_INT(qcl_key_slot("sqlvault:{default}:q:interactive", 32), 5718);
    CHECK_INT(qcl_key_slot("sqlvault:{default}:q:dirty", 26), 5718);
    CHECK_INT(qcl_key_slot("sqlvault:{default}:q:scheduled", 30), 5718);

    /* which argument routes */
    CHECK_INT(key_of((const char *[]){"FCALL", "sqlvault_claim", "1", "sv:{p}:", "w", NULL}), 3);
    CHECK_INT(key_of((const char *[]){"fcall_ro", "sqlvault_version", "0", NULL}), -1);
    CHECK_INT(key_of((const char *[]){"EVAL", "return 1", "1", "k", "a", NULL}), 3);
    CHECK_INT(key_of((const char *[]){"HGETALL", "sv:{p}:job:1", NULL}), 1);
    CHECK_INT(key_of((const char *[]){"FUNCTION", "LOAD", "REPLACE", "code", NULL}), -2);
    CHECK_INT(key_of((const char *[]){"FUNCTION", "LIST", NULL}), -1);
    CHECK_INT(key_of((const char *[]){"WAIT", "1", "100", NULL}), -1);
    CHECK_INT(key_of((const char *[]){"PUBLISH", "ch", "m", NULL}), -1);
    CHECK_INT(key_of((const char *[]){"PING", NULL}), -1);

    /* redirections */
    qcl_redirect rd;
    CHECK(qcl_parse_redirect("MOVED 3999 127.0.0.1:6381", &rd));
    CHECK(!rd.ask);
    CHECK_INT(rd.slot, 3999);
    CHECK_STR(rd.host, "127.0.0.1");
    CHECK_INT(rd.port, 6381);
    CHECK(qcl_parse_redirect("ASK 16383 [::1]:7000", &rd));
    CHECK(rd.ask);
    CHECK_INT(rd.slot, 16383);
    CHECK_STR(rd.host, "::1");
    CHECK_INT(rd.port, 7000);
    CHECK(qcl_parse_redirect("MOVED 1 :7001", &rd));
    CHECK_STR(rd.host, "");
    CHECK_INT(rd.port, 7001);
    CHECK(!qcl_parse_redirect("MOVED 16384 127.0.0.1:1", &rd));
    CHECK(!qcl_parse_redirect("MOVED x 127.0.0.1:1", &rd));
    CHECK(!qcl_parse_redirect("MOVED 1 127.0.0.1", &rd));
    CHECK(!qcl_parse_redirect("MOVED 1 127.0.0.1:99999", &rd));
    CHECK(!qcl_parse_redirect("ERR unknown command", &rd));
    CHECK(!qcl_parse_redirect("ASKING", &rd));

    /* seeds */
    qcl_seed seeds[4];
    CHECK_INT(qcl_parse_seeds("redis://127.0.0.1:7000", seeds, 4, &err), 1);
    CHECK_INT(seeds[0].port, 7000);
    CHECK_INT(qcl_parse_seeds("redis://:pw@a:1,b,c:3/0", seeds, 4, &err), 3);
    CHECK_STR(seeds[0].host, "a");
    CHECK_INT(seeds[0].port, 1);
    CHECK_STR(seeds[1].host, "b");
    CHECK_INT(seeds[1].port, 6379);
    CHECK_STR(seeds[2].host, "c");
    CHECK_INT(seeds[2].port, 3);
    CHECK_INT(qcl_parse_seeds("redis://[::1]:7000,[::1]", seeds, 4, &err), 2);
    CHECK_STR(seeds[0].host, "::1");
    CHECK_STR(seeds[1].host, "[::1]");
    CHECK_INT(qcl_parse_seeds("redis://a:1,,b:2", seeds, 4, &err), -1);
    CHECK_INT(qcl_parse_seeds("redis://a:1,", seeds, 4, &err), -1);
    CHECK_INT(qcl_parse_seeds("redis://a:0", seeds, 4, &err), -1);
    CHECK_INT(qcl_parse_seeds("http://a:1", seeds, 4, &err), -1);
    CHECK_INT(qcl_parse_seeds("redis://a,b,c,d,e", seeds, 4, &err), -1);

    /* CLUSTER SLOTS of a 3 masters + 3 replicas cluster, as sent on the wire */
    const char *raw =
        "*3\r\n"
        "*4\r\n:0\r\n:5460\r\n*3\r\n$9\r\n127.0.0.1\r\n:52951\r\n$2\r\nm1\r\n*3\r\n$9\r\n127.0.0.1\r\n:41895\r\n$2\r\nr1\r\n"
        "*4\r\n:5461\r\n:10922\r\n*3\r\n$9\r\n127.0.0.1\r\n:39129\r\n$2\r\nm2\r\n*3\r\n$9\r\n127.0.0.1\r\n:52561\r\n$2\r\nr2\r\n"
        "*3\r\n:10923\r\n:16383\r\n*3\r\n$9\r\n127.0.0.1\r\n:40877\r\n$2\r\nm3\r\n";
    redisReply *r = resp(raw);
    CHECK(r != NULL);
    sv_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.redis_url = "redis://127.0.0.1:52951";
    qcl *cl = qcl_new(&cfg);
    char owner[64];
    CHECK(cl != NULL);
    CHECK_INT(qcl_apply_slots(cl, r, &err), 0);
    CHECK_INT(qcl_masters(cl), 3);
    CHECK_INT(qcl_slot_owner(cl, 0, owner, sizeof owner), 0);
    CHECK_STR(owner, "127.0.0.1:52951");
    CHECK_INT(qcl_slot_owner(cl, 5718, owner, sizeof owner), 0);
    CHECK_STR(owner, "127.0.0.1:39129");
    CHECK_INT(qcl_slot_owner(cl, 16383, owner, sizeof owner), 0);
    CHECK_STR(owner, "127.0.0.1:40877");
    freeReplyObject(r);

    /* a failover: the replica of the second range is now its master; a
     * partial map leaves the rest unknown */
    r = resp("*1\r\n*3\r\n:5461\r\n:10922\r\n*3\r\n$9\r\n127.0.0.1\r\n:52561\r\n$2\r\nr2\r\n");
    CHECK_INT(qcl_apply_slots(cl, r, &err), 0);
    CHECK_INT(qcl_masters(cl), 1);
    CHECK_INT(qcl_slot_owner(cl, 5718, owner, sizeof owner), 0);
    CHECK_STR(owner, "127.0.0.1:52561");
    CHECK_INT(qcl_slot_owner(cl, 0, owner, sizeof owner), -1);
    freeReplyObject(r);

    /* not a slot map */
    r = resp("*1\r\n*2\r\n:0\r\n:5\r\n");
    CHECK_INT(qcl_apply_slots(cl, r, &err), -1);
    freeReplyObject(r);
    r = resp("*1\r\n*3\r\n:9\r\n:5\r\n*2\r\n$1\r\na\r\n:1\r\n");
    CHECK_INT(qcl_apply_slots(cl, r, &err), -1);
    freeReplyObject(r);
    r = resp(":1\r\n");
    CHECK_INT(qcl_apply_slots(cl, r, &err), -1);
    freeReplyObject(r);
    qcl_free(cl);

    TEST_DONE();
}
