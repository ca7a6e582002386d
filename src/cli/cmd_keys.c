/* cmd_keys.c -- `sqlvault keys rotate|shred|show`: the workspace data keys
 * of client-side encryption (crypto.h, docs/ENCRYPTION.md). Reads and writes
 * the store directly; no Redis. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include "cli.h"
#include "replica.h"
#include "crypto.h"
#include "util.h"

#define USAGE "usage: sqlvault keys rotate --new-key-file FILE [--limit N] [--jobs N] [--json]\n" \
              "       sqlvault keys shred WS [--yes]\n" \
              "       sqlvault keys show WS [--json]\n"

/* keys rotate: re-wrap every data key under the new KEK. */
static int keys_rotate(sv_config *cfg, int argc, char **argv)
{
    const char *newfile = NULL;
    long long limit = 0, jobs = 8;
    bool as_json = false;
    crypto_kek newk;
    crypto_rotate_stats st;
    sv_err err;
    int rc;
    sv_err_clear(&err);
    for (int i = 2; i < argc; i++) {
        char *end = NULL;
        if (strcmp(argv[i], "--new-key-file") == 0 && i + 1 < argc) newfile = argv[++i];
        else if (strncmp(argv[i], "--new-key-file=", 15) == 0) newfile = argv[i] + 15;
        else if (strcmp(argv[i], "--limit") == 0 && i + 1 < argc) {
            limit = strtoll(argv[++i], &end, 10);
            if (*end || limit < 0) goto usage;
        } else if (strcmp(argv[i], "--jobs") == 0 && i + 1 < argc) {
            jobs = strtoll(argv[++i], &end, 10);
            if (*end || jobs < 1 || jobs > 64) goto usage;
        } else if (strcmp(argv[i], "--json") == 0) as_json = true;
        else goto usage;
    }
    if (!newfile) {
        fprintf(stderr, "error: keys rotate needs --new-key-file FILE\n" USAGE);
        return 2;
    }
    if (crypto_kek_load(newfile, "--new-key-file", &newk, &err) != 0) return cli_fail(&err);
    rc = crypto_rotate(cfg, sv_clock_system(), &newk, (uint64_t)limit, (int)jobs, &st, &err);
    /* each replica store holds its own copy of the key records: a replica
     * left under the old key would become unreadable when it is retired */
    if (rc == 0 && cfg->replicas) {
        replica_set rs;
        rc = replica_parse(cfg, &rs, &err);
        for (size_t i = 0; rc == 0 && i < rs.n; i++) {
            crypto_rotate_stats rst;
            if ((rc = crypto_rotate(&rs.r[i].cfg, sv_clock_system(), &newk, (uint64_t)limit, (int)jobs, &rst, &err)) != 0) {
                sv_err_wrap(&err, "replica %s", rs.r[i].name);
                break;
            }
            fprintf(stderr, "replica %s: %llu key record(s), %llu rewrapped, %llu failed\n", rs.r[i].name,
                    (unsigned long long)rst.seen, (unsigned long long)rst.rewrapped, (unsigned long long)rst.failed);
            st.seen += rst.seen, st.rewrapped += rst.rewrapped, st.already += rst.already;
            st.shredded += rst.shredded, st.failed += rst.failed, st.requests += rst.requests, st.ms += rst.ms;
            if (!st.first_error[0] && rst.first_error[0])
                snprintf(st.first_error, sizeof st.first_error, "replica %s: %.300s", rs.r[i].name, rst.first_error);
        }
        if (rs.n) replica_set_free(&rs);
    }
    OPENSSL_cleanse(&newk, sizeof newk);
    if (rc != 0) return cli_fail(&err);
    uint64_t pending = st.seen - st.rewrapped - st.already - st.shredded - st.failed;
    if (as_json) {
        json_t *o = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:b}", "workspaces", (json_int_t)st.seen,
                              "rewrapped", (json_int_t)st.rewrapped, "already", (json_int_t)st.already, "shredded",
                              (json_int_t)st.shredded, "failed", (json_int_t)st.failed, "pending",
                              (json_int_t)pending, "requests", (json_int_t)st.requests, "durationMs",
                              (json_int_t)st.ms, "complete", st.failed == 0 && pending == 0);
        if (o && st.first_error[0]) json_object_set_new(o, "firstError", json_string(st.first_error));
        char *s = o ? json_dumps(o, 0) : NULL;
        if (s) printf("%s\n", s);
        free(s);
        json_decref(o);
    } else {
        printf("workspaces: %llu\nrewrapped: %llu\nalready under the new key: %llu\nshredded (skipped): %llu\n"
               "failed: %llu\npending (--limit): %llu\nrequests: %llu\nduration: %lld ms\n",
               (unsigned long long)st.seen, (unsigned long long)st.rewrapped, (unsigned long long)st.already,
               (unsigned long long)st.shredded, (unsigned long long)st.failed, (unsigned long long)pending,
               (unsigned long long)st.requests, (long long)st.ms);
        if (st.first_error[0]) fprintf(stderr, "error: first failure: %s\n", st.first_error);
        if (st.failed == 0 && pending == 0)
            fprintf(stderr, "every data key is wrapped by the new key: switch SQLVAULT_ENCRYPTION_KEY_FILE to it "
                            "and retire the old key\n");
        else
            fprintf(stderr, "rotation not complete: run the same command again to continue (it skips what is done)\n");
    }
    return st.failed ? 1 : 0;
usage:
    fprintf(stderr, "error: invalid arguments\n" USAGE);
    return 2;
}

/* keys shred WS: destroys the workspace's data key after confirmation. */
static int keys_shred(sv_config *cfg, int argc, char **argv)
{
    const char *ws = NULL;
    bool yes = false;
    store_t *s = NULL;
    sv_err err;
    int rc;
    sv_err_clear(&err);
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--yes") == 0 || strcmp(argv[i], "-y") == 0) yes = true;
        else if (!ws && argv[i][0] != '-') ws = argv[i];
        else {
            fprintf(stderr, "error: unexpected argument '%s'\n" USAGE, argv[i]);
            return 2;
        }
    }
    if (!ws) {
        fprintf(stderr, "error: keys shred needs a workspace id\n" USAGE);
        return 2;
    }
    if (sv_check_workspace(ws, &err) != 0) return cli_fail(&err);
    if (!yes) {
        char line[256];
        if (!isatty(STDIN_FILENO)) {
            sv_err_set(&err, SV_EINVAL, "keys shred destroys every backup of '%s' for good and asks for confirmation",
                       ws);
            sv_err_hint(&err, "run it at a terminal, or pass --yes");
            return cli_fail(&err);
        }
        fprintf(stderr, "this destroys the data key of '%s': none of its encrypted backups can ever be read again.\n"
                        "type the workspace id to confirm: ", ws);
        fflush(stderr);
        if (!fgets(line, sizeof line, stdin)) return 2;
        line[strcspn(line, "\r\n")] = '\0';
        if (strcmp(line, ws) != 0) {
            fprintf(stderr, "error: confirmation does not match; nothing was shredded\n");
            return 2;
        }
    }
    if (store_open(cfg, sv_clock_system(), &s, &err) != 0) return cli_fail(&err);
    rc = crypto_shred(s, sv_clock_system(), ws, &err);
    store_free(s);
    if (rc != 0) return cli_fail(&err);
    /* every replica store's copy of the key goes too (one without a record
     * never had an encrypted backup of it); one that cannot be reached
     * leaves the shred unfinished, and says so: run it again */
    if (cfg->replicas) {
        replica_set rs;
        int left = 0;
        if (replica_parse(cfg, &rs, &err) != 0) return cli_fail(&err);
        for (size_t i = 0; i < rs.n; i++) {
            store_t *rsx = NULL;
            sv_err e = {0};
            if (replica_open(&rs.r[i], sv_clock_system(), &rsx, &e) == 0 &&
                crypto_shred(rsx, sv_clock_system(), ws, &e) == 0)
                fprintf(stderr, "replica %s: shredded\n", rs.r[i].name);
            else if (e.code == SV_ENOTFOUND)
                fprintf(stderr, "replica %s: no key record of '%s'\n", rs.r[i].name, ws);
            else {
                fprintf(stderr, "error: replica %s still holds the data key of '%s': %s\n", rs.r[i].name, ws, e.msg);
                left++;
            }
            store_free(rsx);
        }
        replica_set_free(&rs);
        if (left) {
            fprintf(stderr, "HINT: the shred is not finished: run the same command again when the replica is reachable\n");
            return 1;
        }
    }
    printf("shredded: the data key of '%s' is destroyed; its encrypted backups can no longer be decrypted\n", ws);
    return 0;
}

/* keys show WS: the workspace's key record without its secret part. */
static int keys_show(sv_config *cfg, int argc, char **argv)
{
    const char *ws = NULL;
    bool as_json = false;
    store_t *s = NULL;
    char *key = NULL, *text = NULL;
    json_t *rec = NULL;
    sv_err err;
    int rc = 1;
    sv_err_clear(&err);
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) as_json = true;
        else if (!ws && argv[i][0] != '-') ws = argv[i];
        else {
            fprintf(stderr, "error: unexpected argument '%s'\n" USAGE, argv[i]);
            return 2;
        }
    }
    if (!ws) {
        fprintf(stderr, "error: keys show needs a workspace id\n" USAGE);
        return 2;
    }
    if (sv_check_workspace(ws, &err) != 0) return cli_fail(&err);
    key = crypto_dk_key(ws);
    if (!key) return 1;
    if (store_open(cfg, sv_clock_system(), &s, &err) != 0 || store_get_small(s, key, 65536, &text, NULL, &err) != 0) {
        if (err.code == SV_ENOTFOUND) sv_err_set(&err, SV_ENOTFOUND, "workspace '%s' has no data key", ws);
        rc = cli_fail(&err);
        goto done;
    }
    rec = json_loads(text, 0, NULL);
    if (!json_is_object(rec)) {
        sv_err_set(&err, SV_ECORRUPT, "%s is not valid json", key);
        rc = cli_fail(&err);
        goto done;
    }
    json_object_del(rec, "wrapped");
    json_object_del(rec, "nonce");
    {
        crypto_keyring kr;
        if (crypto_keyring_load(cfg, &kr, &err) == 0 && kr.n > 0) {
            const char *kid = json_string_value(json_object_get(rec, "kekId"));
            json_object_set_new(rec, "configuredKekId", json_string(kr.kek[0].id));
            json_object_set_new(rec, "unwrapsWithConfiguredKey", json_boolean(kid && strcmp(kid, kr.kek[0].id) == 0));
        }
        crypto_keyring_clear(&kr);
        sv_err_clear(&err);
    }
    if (as_json) {
        char *o = json_dumps(rec, JSON_SORT_KEYS);
        if (o) printf("%s\n", o);
        free(o);
    } else cli_print_result(stdout, rec);
    rc = 0;
done:
    json_decref(rec);
    free(text);
    free(key);
    store_free(s);
    return rc;
}

/* sqlvault keys rotate|shred|show ... */
int cmd_keys(sv_config *cfg, int argc, char **argv)
{
    if (argc < 2 || cli_wants_help(argc, argv)) {
        printf(USAGE "\nrotate  re-wraps every workspace's data key under the new key-encryption key (resumable,\n"
                     "        idempotent; the current key comes from SQLVAULT_ENCRYPTION_KEY_FILE)\n"
                     "shred   destroys a workspace's data key: its encrypted backups become unreadable\n"
                     "show    a workspace's key record (ids and times, never key material)\n");
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "rotate") == 0) return keys_rotate(cfg, argc, argv);
    if (strcmp(argv[1], "shred") == 0) return keys_shred(cfg, argc, argv);
    if (strcmp(argv[1], "show") == 0) return keys_show(cfg, argc, argv);
    fprintf(stderr, "error: unknown keys command '%s'\n" USAGE, argv[1]);
    return 2;
}
