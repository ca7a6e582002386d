/* cluster.c -- Redis Cluster routing over plain hiredis connections; see
 * cluster.h. The map is a table of 16384 node indexes; nodes are the
 * masters of the last CLUSTER SLOTS reply (plus any node a MOVED named
 * since), each with a connection opened on first use. Replicas' addresses
 * are remembered only as places to ask for a fresh map. */
#include "queue/cluster.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>

#define QCL_MAX_NODES 64
#define QCL_MAX_REDIRECTS 5
#define QCL_ASK_WAIT_MS 2000

typedef struct qcl_node {
    char host[128];
    int port;
    int replicas;        /* replicas the map lists for this master */
    bool master;         /* a master in the current map */
    redisContext *rc;    /* NULL until first used */
} qcl_node;

struct qcl {
    const sv_config *cfg;
    qcl_seed seeds[QCL_MAX_SEEDS];
    int nseeds;
    qcl_node nodes[QCL_MAX_NODES];
    int nnodes;
    qcl_seed others[QCL_MAX_NODES]; /* replicas of the last map: more places to ask */
    int nothers;
    int16_t slot[QCL_SLOTS];        /* node index, -1 unknown */
    int last;                       /* node of the last keyed command, -1 none */
    bool stale;
};

/* ------------------------------------------------------------- pure parts */

/* CRC16 XMODEM (poly 0x1021), bit by bit: small and plenty fast for keys. */
uint16_t qcl_crc16(const char *buf, size_t len)
{
    uint16_t crc = 0;
    for (size_t i = 0; i < len; i++) {
        crc ^= (uint16_t)((unsigned char)buf[i] << 8);
        for (int b = 0; b < 8; b++) crc = (crc & 0x8000) ? (uint16_t)((crc << 1) ^ 0x1021) : (uint16_t)(crc << 1);
    }
    return crc;
}

/* See cluster.h (the rule of the Redis Cluster specification). */
int qcl_key_slot(const char *key, size_t len)
{
    size_t s, e;
    for (s = 0; s < len; s++)
        if (key[s] == '{') break;
    if (s == len) return qcl_crc16(key, len) & (QCL_SLOTS - 1);
    for (e = s + 1; e < len; e++)
        if (key[e] == '}') break;
    if (e == len || e == s + 1) return qcl_crc16(key, len) & (QCL_SLOTS - 1);
    return qcl_crc16(key + s + 1, e - s - 1) & (QCL_SLOTS - 1);
}

/* True when argv[i] equals word, ignoring case. */
static bool arg_is(const char **argv, const size_t *lens, int i, const char *word)
{
    return lens[i] == strlen(word) && strncasecmp(argv[i], word, lens[i]) == 0;
}

/* See cluster.h. */
int qcl_command_key(int argc, const char **argv, const size_t *lens)
{
    static const char *const keyless[] = {"PING", "INFO", "TIME", "WAIT", "CLUSTER", "AUTH", "SELECT",
                                          "ROLE", "ECHO", "DBSIZE", "SCRIPT", "ASKING", "READONLY",
                                          "PUBLISH", "CLIENT", "HELLO", "COMMAND", NULL};
    if (argc < 1) return -1;
    if (arg_is(argv, lens, 0, "FUNCTION"))
        return argc >= 2 && (arg_is(argv, lens, 1, "LOAD") || arg_is(argv, lens, 1, "DELETE") ||
                             arg_is(argv, lens, 1, "FLUSH") || arg_is(argv, lens, 1, "RESTORE"))
                   ? -2 : -1;
    for (int i = 0; keyless[i]; i++)
        if (arg_is(argv, lens, 0, keyless[i])) return -1;
    if (arg_is(argv, lens, 0, "FCALL") || arg_is(argv, lens, 0, "FCALL_RO") || arg_is(argv, lens, 0, "EVAL") ||
        arg_is(argv, lens, 0, "EVALSHA") || arg_is(argv, lens, 0, "EVAL_RO") || arg_is(argv, lens, 0, "EVALSHA_RO")) {
        if (argc < 4 || lens[2] != 1 || argv[2][0] == '0') return -1;
        return 3;
    }
    return argc >= 2 ? 1 : -1;
}

/* Parses "host:port" (host may be "[v6]" or empty) of n bytes into host/port. */
static bool parse_hostport(const char *s, size_t n, char *host, size_t cap, int *port)
{
    size_t colon = n, hl, dl;
    char digits[8], *end;
    long p;
    while (colon > 0 && s[colon - 1] != ':') colon--;
    if (colon == 0) return false;
    colon--;                                /* index of the last ':' */
    hl = colon;
    dl = n - colon - 1;
    if (dl == 0 || dl >= sizeof digits) return false;
    memcpy(digits, s + colon + 1, dl);
    digits[dl] = '\0';
    p = strtol(digits, &end, 10);
    if (*end || p <= 0 || p > 65535) return false;
    if (hl >= 2 && s[0] == '[' && s[hl - 1] == ']') { s++; hl -= 2; }
    if (hl >= cap) return false;
    memcpy(host, s, hl);
    host[hl] = '\0';
    *port = (int)p;
    return true;
}

/* See cluster.h. */
bool qcl_parse_redirect(const char *s, qcl_redirect *out)
{
    const char *p;
    char *end;
    long slot;
    memset(out, 0, sizeof *out);
    if (strncmp(s, "MOVED ", 6) == 0) p = s + 6;
    else if (strncmp(s, "ASK ", 4) == 0) { p = s + 4; out->ask = true; }
    else return false;
    slot = strtol(p, &end, 10);
    if (end == p || *end != ' ' || slot < 0 || slot >= QCL_SLOTS) return false;
    out->slot = (int)slot;
    p = end + 1;
    if (!parse_hostport(p, strlen(p), out->host, sizeof out->host, &out->port)) return false;
    return true;
}

/* See cluster.h. */
int qcl_parse_seeds(const char *url, qcl_seed *out, int cap, sv_err *err)
{
    const char *p, *end, *at;
    int n = 0;
    if (!url || strncmp(url, "redis://", 8) != 0) goto bad;
    p = url + 8;
    end = strchr(p, '/');
    if (!end) end = p + strlen(p);
    at = memchr(p, '@', (size_t)(end - p));
    if (at) p = at + 1;
    while (p < end) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *stop = comma ? comma : end;
        size_t len = (size_t)(stop - p);
        if (n == cap) return sv_err_set(err, SV_EINVAL, "SQLVAULT_REDIS_URL: more than %d seed nodes", cap);
        if (len == 0) goto bad;
        if (memchr(p, ':', len) && !(p[0] == '[' && p[len - 1] == ']')) {
            if (!parse_hostport(p, len, out[n].host, sizeof out[n].host, &out[n].port)) goto bad;
        } else {
            if (len >= sizeof out[n].host) goto bad;
            memcpy(out[n].host, p, len);
            out[n].host[len] = '\0';
            out[n].port = 6379;
        }
        n++;
        p = comma ? comma + 1 : end;
        if (comma && p == end) goto bad;
    }
    if (n == 0) goto bad;
    return n;
bad:
    sv_err_set(err, SV_EINVAL, "SQLVAULT_REDIS_URL: invalid node list");
    sv_err_hint(err, "use redis://[:password@]host:port[,host:port...][/db]");
    return -1;
}

/* ------------------------------------------------------------------ map */

/* See cluster.h. */
qcl *qcl_new(const sv_config *cfg)
{
    qcl *cl = calloc(1, sizeof *cl);
    sv_err e;
    if (!cl) return NULL;
    cl->cfg = cfg;
    cl->last = -1;
    cl->stale = true;
    for (int i = 0; i < QCL_SLOTS; i++) cl->slot[i] = -1;
    if (cfg && cfg->redis_url) {
        int n = qcl_parse_seeds(cfg->redis_url, cl->seeds, QCL_MAX_SEEDS, &e);
        cl->nseeds = n > 0 ? n : 0;
    }
    if (cl->nseeds == 0 && cfg && cfg->redis_host) {
        snprintf(cl->seeds[0].host, sizeof cl->seeds[0].host, "%s", cfg->redis_host);
        cl->seeds[0].port = cfg->redis_port;
        cl->nseeds = 1;
    }
    return cl;
}

/* See cluster.h. */
void qcl_disconnect(qcl *cl)
{
    if (!cl) return;
    for (int i = 0; i < cl->nnodes; i++)
        if (cl->nodes[i].rc) {
            redisFree(cl->nodes[i].rc);
            cl->nodes[i].rc = NULL;
        }
    cl->stale = true;
    cl->last = -1;
}

/* See cluster.h. */
void qcl_free(qcl *cl)
{
    if (!cl) return;
    qcl_disconnect(cl);
    free(cl);
}

/* The index of node host:port, added (not a master yet) if new; -1 if full. */
static int node_find_add(qcl *cl, const char *host, int port)
{
    for (int i = 0; i < cl->nnodes; i++)
        if (cl->nodes[i].port == port && strcmp(cl->nodes[i].host, host) == 0) return i;
    if (cl->nnodes == QCL_MAX_NODES) return -1;
    qcl_node *n = &cl->nodes[cl->nnodes];
    memset(n, 0, sizeof *n);
    snprintf(n->host, sizeof n->host, "%s", host);
    n->port = port;
    return cl->nnodes++;
}

/* Copies a bulk/status string element into buf. */
static bool elem_str(const redisReply *e, char *buf, size_t cap)
{
    if (!e || (e->type != REDIS_REPLY_STRING && e->type != REDIS_REPLY_STATUS) || e->len >= cap) return false;
    memcpy(buf, e->str, e->len);
    buf[e->len] = '\0';
    return true;
}

/* See cluster.h. Each element: start, end, master [host, port, id, ...],
 * replicas... An empty host means the node that answered; we keep "" and
 * connect to the seed's host then (rare: only announced-less setups). */
int qcl_apply_slots(qcl *cl, const redisReply *r, sv_err *err)
{
    int16_t map[QCL_SLOTS];
    cl->stale = true; /* until this reply is applied whole */
    if (!r || r->type != REDIS_REPLY_ARRAY) return sv_err_set(err, SV_EINTERNAL, "unexpected CLUSTER SLOTS reply");
    for (int i = 0; i < QCL_SLOTS; i++) map[i] = -1;
    for (int i = 0; i < cl->nnodes; i++) {
        cl->nodes[i].master = false;
        cl->nodes[i].replicas = 0;
    }
    cl->nothers = 0;
    for (size_t k = 0; k < r->elements; k++) {
        const redisReply *e = r->element[k];
        char host[128];
        int idx;
        if (e->type != REDIS_REPLY_ARRAY || e->elements < 3 || e->element[0]->type != REDIS_REPLY_INTEGER ||
            e->element[1]->type != REDIS_REPLY_INTEGER || e->element[2]->type != REDIS_REPLY_ARRAY ||
            e->element[2]->elements < 2 || e->element[2]->element[1]->type != REDIS_REPLY_INTEGER ||
            !elem_str(e->element[2]->element[0], host, sizeof host))
            return sv_err_set(err, SV_EINTERNAL, "unexpected CLUSTER SLOTS reply");
        long long lo = e->element[0]->integer, hi = e->element[1]->integer;
        if (lo < 0 || hi >= QCL_SLOTS || lo > hi)
            return sv_err_set(err, SV_EINTERNAL, "CLUSTER SLOTS: bad range %lld-%lld", lo, hi);
        if (!host[0] && cl->nseeds > 0) snprintf(host, sizeof host, "%s", cl->seeds[0].host);
        idx = node_find_add(cl, host, (int)e->element[2]->element[1]->integer);
        if (idx < 0) return sv_err_set(err, SV_EINTERNAL, "CLUSTER SLOTS: more than %d nodes", QCL_MAX_NODES);
        cl->nodes[idx].master = true;
        cl->nodes[idx].replicas = (int)e->elements - 3;
        for (long long s = lo; s <= hi; s++) map[s] = (int16_t)idx;
        for (size_t j = 3; j < e->elements && cl->nothers < QCL_MAX_NODES; j++) {
            const redisReply *rep = e->element[j];
            qcl_seed *o = &cl->others[cl->nothers];
            if (rep->type == REDIS_REPLY_ARRAY && rep->elements >= 2 &&
                rep->element[1]->type == REDIS_REPLY_INTEGER && elem_str(rep->element[0], o->host, sizeof o->host)) {
                o->port = (int)rep->element[1]->integer;
                cl->nothers++;
            }
        }
    }
    /* a node that is no longer a master keeps no connection */
    for (int i = 0; i < cl->nnodes; i++)
        if (!cl->nodes[i].master && cl->nodes[i].rc) {
            redisFree(cl->nodes[i].rc);
            cl->nodes[i].rc = NULL;
        }
    memcpy(cl->slot, map, sizeof map);
    cl->stale = false;
    return 0;
}

/* Opens a connection to host:port (timeouts, keepalive, AUTH). */
static redisContext *open_node(const qcl *cl, const char *host, int port, sv_err *err)
{
    struct timeval tv = {2, 0}, cmd_tv = {10, 0};
    redisContext *rc = redisConnectWithTimeout(host, port, tv);
    const char *pw = cl->cfg ? cl->cfg->redis_password : NULL;
    if (!rc || rc->err) {
        sv_err_set(err, SV_EUNREACH, "unable to connect to redis at %s:%d: %s", host, port,
                   rc ? rc->errstr : "out of memory");
        sv_err_hint(err, "is redis-server running? set SQLVAULT_REDIS_URL");
        if (rc) redisFree(rc);
        return NULL;
    }
    redisSetTimeout(rc, cmd_tv);
    redisEnableKeepAlive(rc);
    if (pw && pw[0]) {
        redisReply *r = redisCommand(rc, "AUTH %s", pw);
        bool ok = r && r->type != REDIS_REPLY_ERROR;
        if (r) freeReplyObject(r);
        if (!ok) {
            sv_err_set(err, r ? SV_EAUTH : SV_EUNREACH, "redis at %s:%d refused the password", host, port);
            sv_err_hint(err, "check the password in SQLVAULT_REDIS_URL");
            redisFree(rc);
            return NULL;
        }
    }
    return rc;
}

/* Asks host:port for CLUSTER SLOTS: 1 map applied, 0 not a cluster, -1 no answer. */
static int ask_slots(qcl *cl, const char *host, int port, sv_err *err)
{
    redisContext *rc = open_node(cl, host, port, err);
    redisReply *r;
    int rc2 = -1;
    if (!rc) return -1;
    r = redisCommand(rc, "CLUSTER SLOTS");
    if (!r) {
        sv_err_set(err, SV_EUNREACH, "redis at %s:%d: %s", host, port, rc->errstr[0] ? rc->errstr : "connection lost");
    } else if (r->type == REDIS_REPLY_ERROR) {
        if (strstr(r->str, "cluster support disabled")) rc2 = 0;
        else sv_err_set(err, SV_EUNREACH, "redis at %s:%d: %.200s", host, port, r->str);
    } else if (r->type == REDIS_REPLY_ARRAY && r->elements == 0) {
        sv_err_set(err, SV_EUNREACH, "redis at %s:%d: the cluster has no slots assigned yet", host, port);
    } else if (qcl_apply_slots(cl, r, err) == 0) {
        rc2 = 1;
    }
    if (r) freeReplyObject(r);
    redisFree(rc);
    return rc2;
}

/* See cluster.h. */
int qcl_refresh(qcl *cl, bool *is_cluster, sv_err *err)
{
    qcl_seed tries[QCL_MAX_SEEDS + 2 * QCL_MAX_NODES];
    int n = 0;
    *is_cluster = false;
    for (int i = 0; i < cl->nnodes; i++)
        if (cl->nodes[i].master) tries[n++] = (qcl_seed){.port = cl->nodes[i].port};
    for (int i = 0, k = 0; i < cl->nnodes; i++)
        if (cl->nodes[i].master) snprintf(tries[k++].host, sizeof tries[0].host, "%s", cl->nodes[i].host);
    for (int i = 0; i < cl->nothers; i++) tries[n++] = cl->others[i];
    for (int i = 0; i < cl->nseeds; i++) tries[n++] = cl->seeds[i];
    if (n == 0) return sv_err_set(err, SV_EINVAL, "no redis node to connect to");
    for (int i = 0; i < n; i++) {
        int got = ask_slots(cl, tries[i].host, tries[i].port, err);
        if (got == 1) {
            *is_cluster = true;
            return 0;
        }
        if (got == 0) return 0;
    }
    return -1;
}

/* ---------------------------------------------------------------- routing */

/* The connection of node i, opened if needed. */
static redisContext *node_ctx(qcl *cl, int i, sv_err *err)
{
    if (!cl->nodes[i].rc) cl->nodes[i].rc = open_node(cl, cl->nodes[i].host, cl->nodes[i].port, err);
    return cl->nodes[i].rc;
}

/* Drops node i's connection after an i/o error and marks the map stale. */
static void node_broken(qcl *cl, int i, sv_err *err)
{
    qcl_node *n = &cl->nodes[i];
    sv_err_set(err, SV_EUNREACH, "redis cluster node %s:%d: %s", n->host, n->port,
               n->rc && n->rc->errstr[0] ? n->rc->errstr : "connection lost");
    sv_err_hint(err, "is redis-server running? set SQLVAULT_REDIS_URL");
    if (n->rc) redisFree(n->rc);
    n->rc = NULL;
    cl->stale = true;
}

/* Any master with a connection, else the first master; -1 when none. */
static int any_master(qcl *cl)
{
    int first = -1;
    for (int i = 0; i < cl->nnodes; i++) {
        if (!cl->nodes[i].master) continue;
        if (cl->nodes[i].rc) return i;
        if (first < 0) first = i;
    }
    return first;
}

/* Sleeps ms milliseconds. */
static void nap_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* True when argv[0] is a function or script call. */
static bool is_fcall(const char **argv, const size_t *lens)
{
    return (lens[0] >= 5 && strncasecmp(argv[0], "FCALL", 5) == 0) ||
           (lens[0] >= 4 && strncasecmp(argv[0], "EVAL", 4) == 0);
}

/* Sends the command to every master and hands each reply to take, which
 * owns it; stops at the first failure of a connection or of take. */
static int for_masters(qcl *cl, int argc, const char **argv, const size_t *lens,
                       int (*take)(void *ud, int node, redisReply *r, sv_err *err), void *ud, sv_err *err)
{
    bool dummy;
    if (cl->stale && qcl_refresh(cl, &dummy, err) != 0) return -1;
    for (int i = 0; i < cl->nnodes; i++) {
        redisContext *rc;
        redisReply *r;
        if (!cl->nodes[i].master) continue;
        if (!(rc = node_ctx(cl, i, err))) {
            cl->stale = true;
            return -1;
        }
        if (!(r = redisCommandArgv(rc, argc, argv, lens))) {
            node_broken(cl, i, err);
            return -1;
        }
        if (take(ud, i, r, err) != 0) return -1;
    }
    return 0;
}

/* every_master's take: keeps the first error reply, else the last reply. */
static int keep_reply(void *ud, int node, redisReply *r, sv_err *err)
{
    redisReply **keep = ud;
    (void)node;
    (void)err;
    if (*keep && (*keep)->type == REDIS_REPLY_ERROR) {
        freeReplyObject(r);
        return 0;
    }
    if (*keep) freeReplyObject(*keep);
    *keep = r;
    return 0;
}

/* Sends the command to every master; returns the first error reply or the
 * last reply. */
static redisReply *every_master(qcl *cl, int argc, const char **argv, const size_t *lens, sv_err *err)
{
    redisReply *keep = NULL;
    if (for_masters(cl, argc, argv, lens, keep_reply, &keep, err) != 0) {
        if (keep) freeReplyObject(keep);
        return NULL;
    }
    if (!keep) sv_err_set(err, SV_EUNREACH, "redis cluster: no master known");
    return keep;
}

/* See cluster.h. */
redisReply *qcl_command(qcl *cl, int argc, const char **argv, const size_t *lens, sv_err *err)
{
    int key = qcl_command_key(argc, argv, lens), node, asked = -1, ask_waited = 0;
    bool dummy;
    if (key == -2) return every_master(cl, argc, argv, lens, err);
    if (cl->stale && qcl_refresh(cl, &dummy, err) != 0) return NULL;
    int slot = key >= 0 ? qcl_key_slot(argv[key], lens[key]) : -1;
    for (int hop = 0; hop <= QCL_MAX_REDIRECTS;) {
        redisContext *rc;
        redisReply *r;
        qcl_redirect rd;
        node = asked >= 0 ? asked : slot >= 0 ? cl->slot[slot] : any_master(cl);
        if (node < 0) {
            if (qcl_refresh(cl, &dummy, err) != 0) return NULL;
            node = slot >= 0 ? cl->slot[slot] : any_master(cl);
            if (node < 0) {
                sv_err_set(err, SV_EUNREACH, "redis cluster: no master serves slot %d", slot);
                return NULL;
            }
        }
        if (!(rc = node_ctx(cl, node, err))) {
            cl->stale = true;
            return NULL;
        }
        if (asked >= 0) {
            redisReply *ok = NULL;
            redisAppendCommand(rc, "ASKING");
            redisAppendCommandArgv(rc, argc, argv, lens);
            if (redisGetReply(rc, (void **)&ok) != REDIS_OK) { node_broken(cl, node, err); return NULL; }
            freeReplyObject(ok);
            r = NULL;
            if (redisGetReply(rc, (void **)&r) != REDIS_OK) r = NULL;
        } else {
            r = redisCommandArgv(rc, argc, argv, lens);
        }
        if (!r) {
            node_broken(cl, node, err);
            return NULL;
        }
        if (slot >= 0) cl->last = node;
        asked = -1;
        if (r->type != REDIS_REPLY_ERROR || !qcl_parse_redirect(r->str, &rd)) return r;
        freeReplyObject(r);
        int to = node_find_add(cl, rd.host[0] ? rd.host : cl->nodes[node].host, rd.port);
        if (to < 0) return (void)sv_err_set(err, SV_EUNREACH, "redis cluster: too many nodes"), NULL;
        if (!rd.ask) {
            /* the map changed: ask for the whole of it, then resend */
            cl->slot[rd.slot] = (int16_t)to;
            cl->nodes[to].master = true;
            if (qcl_refresh(cl, &dummy, err) != 0) cl->slot[rd.slot] = (int16_t)to;
            if (cl->slot[rd.slot] < 0) cl->slot[rd.slot] = (int16_t)to;
            hop++;
        } else if (is_fcall(argv, lens) && ask_waited < QCL_ASK_WAIT_MS) {
            /* the slot is migrating: a function must see all of its pool's
             * keys, so wait on the owner until the move completes (MOVED) */
            nap_ms(20);
            ask_waited += 20;
        } else if (is_fcall(argv, lens)) {
            sv_err_set(err, SV_EUNREACH, "redis cluster: slot %d is still migrating after %d ms", rd.slot,
                       QCL_ASK_WAIT_MS);
            return NULL;
        } else {
            asked = to;
            hop++;
        }
    }
    sv_err_set(err, SV_EUNREACH, "redis cluster: more than %d redirections for slot %d", QCL_MAX_REDIRECTS, slot);
    return NULL;
}

/* qcl_each_master's visit: the caller's each, then an error reply is an error. */
typedef struct each_ctx {
    qcl *cl;
    const char *cmd;
    int cmd_len;
    int (*each)(void *ud, const redisReply *r, sv_err *err);
    void *ud;
} each_ctx;

static int each_reply(void *ud, int node, redisReply *r, sv_err *err)
{
    each_ctx *e = ud;
    int rc = e->each ? e->each(e->ud, r, err) : 0;
    if (rc == 0 && r->type == REDIS_REPLY_ERROR)
        rc = sv_err_set(err, SV_EINTERNAL, "redis %.*s at %s:%d: %.300s", e->cmd_len, e->cmd,
                        e->cl->nodes[node].host, e->cl->nodes[node].port, r->str);
    freeReplyObject(r);
    return rc != 0 ? -1 : 0;
}

/* See cluster.h. */
int qcl_each_master(qcl *cl, int argc, const char **argv, const size_t *lens,
                    int (*each)(void *ud, const redisReply *r, sv_err *err), void *ud, sv_err *err)
{
    each_ctx e = {.cl = cl, .cmd = argv[0], .cmd_len = (int)lens[0], .each = each, .ud = ud};
    return for_masters(cl, argc, argv, lens, each_reply, &e, err);
}

/* See cluster.h. */
redisContext *qcl_context_for_key(qcl *cl, const char *key, size_t len, sv_err *err)
{
    bool dummy;
    int node;
    redisContext *rc;
    if (cl->stale && qcl_refresh(cl, &dummy, err) != 0) return NULL;
    node = key ? cl->slot[qcl_key_slot(key, len)] : any_master(cl);
    if (node < 0) {
        cl->stale = true;
        sv_err_set(err, SV_EUNREACH, "redis cluster: no master serves slot %d", key ? qcl_key_slot(key, len) : -1);
        return NULL;
    }
    if (!(rc = node_ctx(cl, node, err))) {
        cl->stale = true;
        return NULL;
    }
    if (key) cl->last = node;
    return rc;
}

/* See cluster.h. */
int qcl_last_replicas(const qcl *cl) { return cl->last >= 0 ? cl->nodes[cl->last].replicas : 0; }

/* See cluster.h. */
redisContext *qcl_last_context(qcl *cl) { return cl->last >= 0 ? cl->nodes[cl->last].rc : NULL; }

/* See cluster.h. */
size_t qcl_masters(const qcl *cl)
{
    size_t n = 0;
    for (int i = 0; i < cl->nnodes; i++) n += cl->nodes[i].master;
    return n;
}

/* See cluster.h. */
int qcl_slot_owner(const qcl *cl, int slot, char *buf, size_t cap)
{
    if (slot < 0 || slot >= QCL_SLOTS || cl->slot[slot] < 0) return -1;
    snprintf(buf, cap, "%s:%d", cl->nodes[cl->slot[slot]].host, cl->nodes[cl->slot[slot]].port);
    return 0;
}
