/* sv_keygen.c -- writes N workspace data-key records (keys/PREFIX000001.json
 * ...) wrapped by the key in SQLVAULT_ENCRYPTION_KEY_FILE into SQLVAULT_STORE,
 * with T threads: the fixture of the `keys rotate` benchmark and tests
 * (making 10,000 workspaces by backing each one up would measure backups).
 *
 *   sv_keygen N PREFIX [THREADS]
 *
 * THREAD SAFETY NOTES: each thread has its own store and takes indexes from
 * an atomic counter; the keyring is read-only. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/rand.h>
#include "crypto.h"
#include "util.h"

typedef struct gen {
    const sv_config *cfg;
    crypto_keyring kr;
    const char *prefix;
    long n;
    atomic_long next, failed;
} gen_t;

/* A thread: writes records until none is left. */
static void *gen_main(void *arg)
{
    gen_t *g = arg;
    store_t *s = NULL;
    sv_err e;
    if (store_open(g->cfg, sv_clock_system(), &s, &e) != 0) {
        fprintf(stderr, "sv_keygen: %s\n", e.msg);
        atomic_fetch_add(&g->failed, 1);
        return NULL;
    }
    for (;;) {
        long i = atomic_fetch_add(&g->next, 1);
        if (i >= g->n) break;
        char ws[160], *key, *text;
        crypto_dk dk;
        snprintf(ws, sizeof ws, "%s%06ld", g->prefix, i + 1);
        RAND_bytes(dk.key, sizeof dk.key);
        RAND_bytes(dk.id, sizeof dk.id);
        sv_hex(dk.id, sizeof dk.id, dk.id_hex);
        json_t *rec = crypto_dk_wrap(&g->kr.kek[0], ws, &dk, sv_now_ms(sv_clock_system()), &e);
        key = crypto_dk_key(ws);
        text = rec ? json_dumps(rec, JSON_INDENT(2)) : NULL;
        store_put_opts po = {.content_type = "application/json"};
        if (!text || !key || store_put(s, key, text, strlen(text), &po, &e) != 0) {
            fprintf(stderr, "sv_keygen: %s: %s\n", ws, e.msg);
            atomic_fetch_add(&g->failed, 1);
        }
        crypto_dk_clear(&dk);
        json_decref(rec);
        free(key);
        free(text);
    }
    store_free(s);
    return NULL;
}

int main(int argc, char **argv)
{
    sv_config cfg;
    sv_err e;
    gen_t g;
    pthread_t th[32];
    int threads = argc > 3 ? atoi(argv[3]) : 8;
    if (argc < 3 || atol(argv[1]) <= 0 || threads < 1 || threads > 32) {
        fprintf(stderr, "usage: sv_keygen N PREFIX [THREADS]\n");
        return 2;
    }
    argc = 1;
    if (config_load(&cfg, &argc, argv, &e) != 0) {
        fprintf(stderr, "sv_keygen: %s\n", e.msg);
        return 2;
    }
    memset(&g, 0, sizeof g);
    g.cfg = &cfg;
    g.n = atol(argv[1]);
    g.prefix = argv[2];
    if (crypto_keyring_load(&cfg, &g.kr, &e) != 0 || g.kr.n == 0) {
        fprintf(stderr, "sv_keygen: %s\n", g.kr.n == 0 ? "set SQLVAULT_ENCRYPTION_KEY_FILE" : e.msg);
        return 2;
    }
    for (int i = 0; i < threads; i++) pthread_create(&th[i], NULL, gen_main, &g);
    for (int i = 0; i < threads; i++) pthread_join(th[i], NULL);
    crypto_keyring_clear(&g.kr);
    config_free(&cfg);
    if (atomic_load(&g.failed)) return 1;
    printf("%ld records\n", g.n);
    return 0;
}
