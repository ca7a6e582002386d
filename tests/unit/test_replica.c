/* test_replica.c -- SQLVAULT_REPLICAS: what the configuration refuses, and
 * each replica's configuration (its own URL and S3 settings, the primary's
 * where unset, everything else borrowed). The copying itself runs against
 * real stores in tests/it/replica_failover.sh. */
#include <stdlib.h>
#include <string.h>
#include "config.h"
#include "replica.h"
#include "testlib.h"

static int load(const char *replicas, sv_config *c, sv_err *e)
{
    char *argv[] = {"list", "ws1", NULL};
    int argc = 2;
    if (replicas) setenv("SQLVAULT_REPLICAS", replicas, 1);
    else unsetenv("SQLVAULT_REPLICAS");
    return config_load(c, &argc, argv, e);
}

int main(void)
{
    sv_config c;
    sv_err e;
    replica_set rs;
    static const char *const bad[] = {"primary=s3://b/x/", "Bad=s3://b/x/", "r1=http://x/", "r1=s3://b/a/,r1=s3://b/b/",
                                      "noequals", "=s3://b/x/", "r1=file:///srv/primary",
                                      "abcdefghijklmnopqrstuvwxyz0123456=s3://b/x/"};
    setenv("SQLVAULT_STORE", "file:///srv/primary", 1);
    setenv("SQLVAULT_S3_ENDPOINT", "https://primary.example", 1);
    setenv("AWS_ACCESS_KEY_ID", "PRIMARYKEY", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "primarysecret", 1);

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK(load(bad[i], &c, &e) != 0);
        CHECK(e.code == SV_EINVAL);
        CHECK(strstr(e.msg, "SQLVAULT_REPLICAS") != NULL);
        CHECK(strstr(e.msg, "primarysecret") == NULL);
        config_free(&c);
    }

    /* none: an empty set */
    CHECK(load(NULL, &c, &e) == 0);
    CHECK(c.replicas == NULL);
    CHECK(replica_parse(&c, &rs, &e) == 0 && rs.n == 0);
    config_free(&c);

    /* two: one with settings of its own, one borrowing the primary's */
    setenv("SQLVAULT_REPLICA_B2_S3_ENDPOINT", "https://b2.example", 1);
    setenv("SQLVAULT_REPLICA_B2_ACCESS_KEY_ID", "B2KEY", 1);
    setenv("SQLVAULT_REPLICA_B2_SECRET_ACCESS_KEY", "b2secret", 1);
    CHECK(load("b2=s3://other/p/, local_1=file:///srv/replica", &c, &e) == 0);
    CHECK(replica_parse(&c, &rs, &e) == 0);
    CHECK_INT(rs.n, 2);
    CHECK_STR(rs.r[0].name, "b2");
    CHECK_STR(rs.r[0].cfg.store_url, "s3://other/p/");
    CHECK_STR(rs.r[0].cfg.s3_endpoint, "https://b2.example");
    CHECK_STR(rs.r[0].cfg.access_key_id, "B2KEY");
    CHECK_STR(rs.r[0].cfg.secret_access_key, "b2secret");
    CHECK_STR(rs.r[0].cfg.s3_region, "auto");
    CHECK(rs.r[0].cfg.replicas == NULL);
    CHECK(rs.r[0].cfg.data_dir == c.data_dir);
    CHECK_STR(rs.r[1].name, "local_1");
    CHECK_STR(rs.r[1].cfg.store_url, "file:///srv/replica");
    CHECK_STR(rs.r[1].cfg.s3_endpoint, "https://primary.example");
    CHECK_STR(rs.r[1].cfg.secret_access_key, "primarysecret");
    CHECK(replica_find(&rs, "b2") == &rs.r[0]);
    CHECK(replica_find(&rs, "primary") == NULL);
    CHECK(replica_find(&rs, "nope") == NULL);
    replica_set_free(&rs);
    CHECK_INT(rs.n, 0);
    CHECK_STR(c.store_url, "file:///srv/primary");
    config_free(&c);

    /* the same settings as flags: --replica-NAME-WHAT, the secret scrubbed from argv */
    unsetenv("SQLVAULT_REPLICA_B2_S3_ENDPOINT");
    unsetenv("SQLVAULT_REPLICA_B2_SECRET_ACCESS_KEY");
    unsetenv("SQLVAULT_REPLICAS");
    {
        char a0[] = "list", a1[] = "ws1", a2[] = "--replicas", a3[] = "b2=s3://other/p/", a4[] = "--replica-b2-s3-endpoint",
             a5[] = "https://flag.example", a6[] = "--replica-b2-secret-access-key=flagsecret", a7[] = "--replica", a8[] = "b2";
        char *argv[] = {a0, a1, a2, a3, a4, a5, a6, a7, a8, NULL};
        int argc = 9;
        CHECK(config_load(&c, &argc, argv, &e) == 0);
        CHECK_INT(argc, 4); /* list ws1 --replica b2: the replicate command's own flag stays */
        CHECK_STR(argv[2], "--replica");
        CHECK(strstr(a6, "flagsecret") == NULL);
        CHECK(replica_parse(&c, &rs, &e) == 0);
        CHECK_INT(rs.n, 1);
        CHECK_STR(rs.r[0].cfg.s3_endpoint, "https://flag.example");
        CHECK_STR(rs.r[0].cfg.secret_access_key, "flagsecret");
        replica_set_free(&rs);
        config_free(&c);
    }
    TEST_DONE();
}
