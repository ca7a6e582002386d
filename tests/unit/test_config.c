/* test_config.c -- defaults, flags over environment, every problem at once,
 * R2 aliases, and no secret in any message. */
#include <stdlib.h>
#include <string.h>
#include "config.h"
#include "testlib.h"

/* Clears every variable config reads. */
static void clear_env(void)
{
    for (const sv_config_var *v = sv_config_vars; v->env; v++) unsetenv(v->env);
    unsetenv("R2_ENDPOINT");
    unsetenv("R2_ACCESS_KEY_ID");
    unsetenv("R2_SECRET_ACCESS_KEY");
    unsetenv("R2_BUCKET_NAME");
}

int main(void)
{
    sv_config c;
    sv_err e;

    clear_env();
    {
        char *argv[] = {"backup", "ws1", NULL};
        int argc = 2;
        CHECK(config_load(&c, &argc, argv, &e) == 0);
        CHECK_STR(c.redis_host, "127.0.0.1");
        CHECK_INT(c.redis_port, 6379);
        CHECK_STR(c.store_url, "file://./var/backups");
        CHECK_INT(c.threads, 4);
        CHECK_INT(c.lease_ms, 30000);
        CHECK_INT(c.part_size, 16 * 1048576);
        CHECK_INT(c.upload_concurrency, 2);
        CHECK_INT(c.zstd_level, 3);
        CHECK_INT(c.export_ttl_s, 3600);
        CHECK(c.max_db_size == 32ULL << 30);
        CHECK_STR(c.s3_region, "auto");
        CHECK(c.log_json);
        config_free(&c);
    }
    /* flags win over the environment and are removed from argv */
    setenv("SQLVAULT_ZSTD_LEVEL", "5", 1);
    {
        char *argv[] = {"backup", "--zstd-level", "7", "ws1", "--threads=9", NULL};
        int argc = 5;
        CHECK(config_load(&c, &argc, argv, &e) == 0);
        CHECK_INT(c.zstd_level, 7);
        CHECK_INT(c.threads, 9);
        CHECK_INT(argc, 2);
        CHECK_STR(argv[1], "ws1");
        config_free(&c);
    }
    clear_env();
    /* every problem at once, each naming its variable; the secret never shown */
    setenv("SQLVAULT_ZSTD_LEVEL", "99", 1);
    setenv("SQLVAULT_PART_SIZE", "1MiB", 1);
    setenv("SQLVAULT_REDIS_URL", "http://x", 1);
    setenv("SQLVAULT_STORE", "s3://bk/prefix/", 1);
    setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE", 1);
    setenv("SQLVAULT_LEASE", "soon", 1);
    {
        char *argv[] = {"backup", NULL};
        int argc = 1;
        CHECK(config_load(&c, &argc, argv, &e) != 0);
        CHECK(e.code == SV_EINVAL);
        CHECK(strstr(e.msg, "SQLVAULT_ZSTD_LEVEL") != NULL);
        CHECK(strstr(e.msg, "SQLVAULT_PART_SIZE") != NULL);
        CHECK(strstr(e.msg, "SQLVAULT_REDIS_URL") != NULL);
        CHECK(strstr(e.msg, "SQLVAULT_LEASE") != NULL);
        CHECK(strstr(e.msg, "AWS_SECRET_ACCESS_KEY") != NULL);
        config_free(&c);
    }
    clear_env();
    setenv("SQLVAULT_REDIS_URL", "redis://:s3cr3tpw@10.1.2.3:6380/4", 1);
    setenv("SQLVAULT_ZSTD_LEVEL", "0", 1);
    {
        char *argv[] = {"backup", NULL};
        int argc = 1;
        CHECK(config_load(&c, &argc, argv, &e) != 0);
        CHECK(strstr(e.msg, "s3cr3tpw") == NULL);
        config_free(&c);
    }
    unsetenv("SQLVAULT_ZSTD_LEVEL");
    {
        char *argv[] = {"backup", NULL};
        int argc = 1;
        CHECK(config_load(&c, &argc, argv, &e) == 0);
        CHECK_STR(c.redis_host, "10.1.2.3");
        CHECK_INT(c.redis_port, 6380);
        CHECK_INT(c.redis_db, 4);
        CHECK_STR(c.redis_password, "s3cr3tpw");
        config_free(&c);
    }
    clear_env();
    /* the seed's R2 names */
    setenv("R2_BUCKET_NAME", "work-squared-backups", 1);
    setenv("R2_ENDPOINT", "https://acct.r2.cloudflarestorage.com", 1);
    setenv("R2_ACCESS_KEY_ID", "id", 1);
    setenv("R2_SECRET_ACCESS_KEY", "secret", 1);
    {
        char *argv[] = {"backup", NULL};
        int argc = 1;
        CHECK(config_load(&c, &argc, argv, &e) == 0);
        CHECK_STR(c.store_url, "s3://work-squared-backups/backups/");
        CHECK_STR(c.s3_endpoint, "https://acct.r2.cloudflarestorage.com");
        CHECK_STR(c.secret_access_key, "secret");
        config_free(&c);
    }
    clear_env();
    {
        char *argv[] = {"backup", "--store", NULL};
        int argc = 2;
        CHECK(config_load(&c, &argc, argv, &e) != 0);
        CHECK(strstr(e.msg, "--store: missing value") != NULL);
        config_free(&c);
    }
    clear_env();
    { /* the knobs: defaults, then the environment; test knobs take no flag */
        char *argv[] = {"worker", "--test-fail-swap", "1", NULL};
        int argc = 3;
        CHECK(config_load(&c, &argc, argv, &e) == 0);
        CHECK(!c.snapshot_copy && !c.debug && !c.test_jobs && !c.test_fail_swap && !c.test_store_busy &&
              !c.store_no_quiesce);
        CHECK_INT(c.retry_base_ms, 1000);
        CHECK_INT(c.store_copy_tries, 60);
        CHECK_INT(c.quiesce_timeout_ms, 10000);
        CHECK_INT(c.test_swap_busy_ms, 0);
        CHECK_INT(argc, 3); /* --test-fail-swap is not a flag: left for the command */
        config_free(&c);
    }
    setenv("SQLVAULT_SNAPSHOT_COPY", "1", 1);
    setenv("SQLVAULT_DEBUG", "1", 1);
    setenv("SQLVAULT_RETRY_BASE", "200ms", 1);
    setenv("SQLVAULT_QUIESCE_TIMEOUT_MS", "2500", 1);
    setenv("SQLVAULT_TEST_JOBS", "1", 1);
    setenv("SQLVAULT_TEST_FAIL_SWAP", "0", 1); /* only 1 turns it on */
    setenv("SQLVAULT_TEST_SWAP_BUSY_MS", "300", 1);
    setenv("SQLVAULT_TEST_STORE_BUSY", "1", 1);
    setenv("SQLVAULT_TEST_QUERY_LIMIT_MS", "250", 1);
    setenv("SQLVAULT_STORE_NO_QUIESCE", "1", 1);
    {
        char *argv[] = {"worker", "--store-copy-tries", "7", NULL};
        int argc = 3;
        CHECK(config_load(&c, &argc, argv, &e) == 0);
        CHECK(c.snapshot_copy && c.debug && c.test_jobs && !c.test_fail_swap && c.test_store_busy &&
              c.store_no_quiesce);
        CHECK_INT(c.retry_base_ms, 200);
        CHECK_INT(c.store_copy_tries, 7);
        CHECK_INT(c.quiesce_timeout_ms, 2500);
        CHECK_INT(c.test_swap_busy_ms, 300);
        CHECK_INT(c.test_query_limit_ms, 250);
        CHECK_INT(argc, 1);
        config_free(&c);
    }
    clear_env();
    setenv("SQLVAULT_RETRY_BASE", "soon", 1);
    setenv("SQLVAULT_STORE_COPY_TRIES", "0", 1);
    {
        char *argv[] = {"worker", NULL};
        int argc = 1;
        CHECK(config_load(&c, &argc, argv, &e) != 0);
        CHECK(strstr(e.msg, "SQLVAULT_RETRY_BASE: ") != NULL);
        CHECK(strstr(e.msg, "SQLVAULT_STORE_COPY_TRIES: '0' is not an integer between 1 and 1000000") != NULL);
        config_free(&c);
    }
    clear_env();
    TEST_DONE();
}
