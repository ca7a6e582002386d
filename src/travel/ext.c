/* ext.c -- sqlvault.so: the time-travel VFS as a loadable SQLite extension
 * (issue 25, docs/TIMETRAVEL.md).
 *
 * Loading it (sqlite3_sqlvault_init) registers the read-only VFS
 * "sqlvault-point" (vfs.c) in the host's SQLite. A database opened with that
 * VFS is named
 *
 *     WS[@TIME][/FILE]      e.g. ws1   ws1@latest   ws1@2026-01-15T10:30:00Z
 *                                ws1@20260115T103000.000Z/eventlog
 *
 * TIME: latest (the default), a backup folder time or an ISO time (the
 * newest committed backup at or before it, as `sqlvault query --at`); FILE:
 * a LiveStore store backup's file, eventlog or state ('#' works as well in a
 * plain file name; in a URI it starts the fragment SQLite drops, so write '/').
 * The first open loads the configuration from the environment as the binary
 * does (config_load: SQLVAULT_STORE, SQLVAULT_S3_*, the AWS_* or R2_* keys,
 * SQLVAULT_ENCRYPTION_KEY_FILE, SQLVAULT_QUERY_CACHE, SQLVAULT_LOG_FORMAT,
 * SQLVAULT_DEBUG); a configuration that fails is tried again at the next open.
 *
 * It also makes the VFS "sqlvault" the default (vfs.c's router): a plain
 * database name "sqlvault:WS[@TIME][#FILE]" opens that point, for programs
 * that can name no VFS (better-sqlite3); every other name and call goes to
 * the default VFS it replaced, unchanged.
 *
 * Every connection opened after the load runs conn_init (an auto-extension):
 * it gives the connection sqlvault_error(), and when its main database is a
 * point, hardens it as travel_sqlite_open does (sv_sqlite_harden and
 * TRAVEL_SQLITE_PRAGMAS) -- or, when the name was refused, fails the open
 * with our message instead of SQLite's "unable to open database file". Open
 * and read errors also go to stderr through the logger.
 *
 * Everything reaches the host's SQLite through sqlite3_api (sqlite3ext.h):
 * the host may link a SQLite of its own. The library stays loaded for the
 * life of the process (SQLITE_OK_LOAD_PERMANENTLY): the VFS and the
 * auto-extension point into it.
 *
 * THREAD SAFETY NOTES: the configuration is loaded once under mu and only
 * read after; each opened database file has a store_t and a travel_point of
 * its own, used by its connection only (SQLite serializes a connection's
 * calls); the list of open points is under mu. */
#include <sqlite3ext.h>
SQLITE_EXTENSION_INIT1
#include <ctype.h>
#include <curl/curl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "config.h"
#include "log.h"
#include "sqlerr.h"
#include "store.h"
#include "timefmt.h"
#include "travel.h"
#include "travel_vfs.h"
#include "util.h"

#define VFS_NAME "sqlvault-point"
#define ROUTER_NAME "sqlvault" /* the default VFS: "sqlvault:" names are points (vfs.c) */
#define NAME_MAX_LEN 300
#define NAME_HINT                                                                                                     \
    "name a point WS, WS@TIME or WS@TIME/FILE (TIME: latest, 20260115T103000.000Z or 2026-01-15T10:30:00Z; FILE: "  \
    "eventlog or state), e.g. file:ws1@latest?vfs=" VFS_NAME "&mode=ro"

/* An open point and the store it reads, owned by the list until its file closes. */
typedef struct open_point {
    travel_point *p;
    store_t *store;
    struct open_point *next;
} open_point;

/* A database name's parts. */
typedef struct point_name {
    char ws[NAME_MAX_LEN + 1];   /* each as long as the name: checked after the split */
    char at[NAME_MAX_LEN + 1];
    char file[NAME_MAX_LEN + 1];
} point_name;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static bool cfg_ready;
static sv_config cfg;
static open_point *opened;

/* The name as it may be shown: printable, at most 80 characters. */
static void show_name(const char *name, char out[96])
{
    size_t n = 0;
    for (; name && name[n] && n < 80; n++) out[n] = isprint((unsigned char)name[n]) ? name[n] : '?';
    out[n] = '\0';
    if (name && name[n]) strcpy(out + n, "...");
}

/* Copies [from, to) into out (cap bytes); -1 when it does not fit or is empty. */
static int take(const char *from, const char *to, char *out, size_t cap)
{
    size_t n = (size_t)(to - from);
    if (n == 0 || n >= cap) return -1;
    memcpy(out, from, n);
    out[n] = '\0';
    return 0;
}

/* Splits "WS[@TIME][/FILE]" (or '#FILE') into its parts, each checked. */
static int parse_name(const char *name, point_name *pn, sv_err *err)
{
    const char *at, *sep, *end;
    int64_t ms;
    memset(pn, 0, sizeof *pn);
    if (!name || !*name) {
        sv_err_set(err, SV_EINVAL, "no backup named: the database name is empty");
        return sv_err_hint(err, NAME_HINT);
    }
    end = name + strlen(name);
    if (end - name > NAME_MAX_LEN) {
        sv_err_set(err, SV_EINVAL, "the database name is longer than %d characters", NAME_MAX_LEN);
        return sv_err_hint(err, NAME_HINT);
    }
    for (const char *c = name; c < end; c++)
        if (!isprint((unsigned char)*c)) {
            sv_err_set(err, SV_EINVAL, "the database name holds a control or non-ASCII character");
            return sv_err_hint(err, NAME_HINT);
        }
    sep = name + strcspn(name, "/#");
    at = memchr(name, '@', (size_t)(sep - name));
    if (take(name, at ? at : sep, pn->ws, sizeof pn->ws) != 0) {
        char shown[96];
        show_name(name, shown);
        sv_err_set(err, SV_EINVAL, "'%s' names no workspace", shown);
        return sv_err_hint(err, NAME_HINT);
    }
    if (sv_check_workspace(pn->ws, err) != 0) return sv_err_hint(err, NAME_HINT);
    if (at && take(at + 1, sep, pn->at, sizeof pn->at) != 0) {
        sv_err_set(err, SV_EINVAL, "'%.*s' names no backup time", (int)(sep - name), name);
        return sv_err_hint(err, NAME_HINT);
    }
    if (pn->at[0] && strcmp(pn->at, "latest") != 0 && sv_ts_parse(pn->at, &ms) != 0 && sv_iso_parse(pn->at, &ms) != 0) {
        sv_err_set(err, SV_EINVAL, "invalid backup time '%s' (expected latest, 20260115T103000.000Z, "
                                   "2026-01-15T10:30:00Z or 2026-01-15T10:30:00.000Z)", pn->at);
        return sv_err_hint(err, NAME_HINT);
    }
    if (*sep && (take(sep + 1, end, pn->file, sizeof pn->file) != 0 || strpbrk(pn->file, "/#"))) {
        sv_err_set(err, SV_EINVAL, "'%.*s' names no file of the backup after '%c'", 80, name, *sep);
        return sv_err_hint(err, NAME_HINT);
    }
    return 0;
}

/* The configuration, loaded from the environment at the first open. */
static int ensure_config(sv_err *err)
{
    int rc = 0;
    pthread_mutex_lock(&mu);
    if (!cfg_ready) {
        char arg0[] = "sqlvault.so", *argv[] = {arg0, NULL};
        int argc = 1;
        if (config_load(&cfg, &argc, argv, err) != 0) {
            for (char *c = err->msg; *c; c++)
                if (*c == '\n') *c = ';';
            sv_err_wrap(err, "invalid configuration");
            sv_err_hint(err, "the extension reads the SQLVAULT_* variables of its process's environment, as sqlvault does");
            config_free(&cfg);
            rc = -1;
        } else {
            log_init(cfg.log_json, cfg.debug ? LOG_DEBUG : LOG_INFO);
            curl_global_init(CURL_GLOBAL_DEFAULT);
            cfg_ready = true;
        }
    }
    pthread_mutex_unlock(&mu);
    return rc;
}

/* The VFS's opener: the point a main database name gives (travel_vfs_hooks). */
static int open_named(const char *name, travel_point **out, sv_err *err)
{
    point_name pn;
    store_t *s = NULL;
    travel_point *p = NULL;
    open_point *e = NULL;
    char shown[96];
    *out = NULL;
    show_name(name, shown);
    if (ensure_config(err) != 0 || parse_name(name, &pn, err) != 0) goto fail;
    e = calloc(1, sizeof *e);
    if (!e) {
        sv_err_set(err, SV_ENOMEM, "out of memory");
        goto fail;
    }
    if (store_open(&cfg, sv_clock_system(), &s, err) != 0) goto fail;
    {
        travel_opts o = {.cfg = &cfg, .clock = sv_clock_system(), .store = s, .ws = pn.ws,
                         .at = pn.at[0] ? pn.at : "latest", .file = pn.file[0] ? pn.file : NULL};
        /* page 1 now: SQLite reads its header while opening, and a failure there would
         * only say "disk I/O error" */
        if (travel_open(&o, &p, err) != 0 || travel_prefetch(p, 1, err) != 0) goto fail;
    }
    e->p = p;
    e->store = s;
    pthread_mutex_lock(&mu);
    e->next = opened;
    opened = e;
    pthread_mutex_unlock(&mu);
    log_debug(NULL, pn.ws, VFS_NAME ": opened '%s': backup %s (%zu incrementals after its full), %u pages", shown,
              travel_ts(p), travel_chain_length(p), travel_page_count(p));
    *out = p;
    return 0;
fail:
    sv_err_wrap(err, "cannot open '%s'", shown);
    log_error(NULL, NULL, VFS_NAME ": %s%s%s%s", err->msg, err->hint[0] ? " (HINT: " : "", err->hint,
              err->hint[0] ? ")" : "");
    free(e);
    travel_close(p);
    store_free(s);
    return -1;
}

/* Closes a point open_named gave, and its store (travel_vfs_hooks). */
static void close_named(travel_point *p)
{
    open_point **pp, *e = NULL;
    pthread_mutex_lock(&mu);
    for (pp = &opened; *pp; pp = &(*pp)->next)
        if ((*pp)->p == p) {
            e = *pp;
            *pp = e->next;
            break;
        }
    pthread_mutex_unlock(&mu);
    travel_close(p);
    if (e) store_free(e->store);
    free(e);
}

/* Logs a failed read of a point (SQLite says only "disk I/O error"). */
static void read_failed(const sv_err *e)
{
    log_error(NULL, NULL, VFS_NAME ": a read failed: %s%s%s%s", e->msg, e->hint[0] ? " (HINT: " : "", e->hint,
              e->hint[0] ? ")" : "");
}

/* sqlvault_error(): this thread's last open or read error of a point, or NULL. */
static void fn_error(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    const sv_err *e = travel_vfs_error();
    (void)argc, (void)argv;
    if (e->code == SV_OK) {
        sqlite3_result_null(ctx);
        return;
    }
    sqlite3_result_text(ctx, sqlite3_mprintf("%s%s%s", e->msg, e->hint[0] ? "\nHINT: " : "", e->hint), -1,
                        sqlite3_free);
}

/* Each connection's set-up (an auto-extension): sqlvault_error(), and for a
 * point as its main database the hardening, or the open's error. */
static int conn_init(sqlite3 *db, char **errmsg, const sqlite3_api_routines *api)
{
    sqlite3_vfs *v = NULL;
    sqlite3_file *f = NULL;
    const sv_err *e;
    int rc;
    (void)api;
    if (sqlite3_create_function(db, "sqlvault_error", 0, SQLITE_UTF8 | SQLITE_DIRECTONLY, NULL, fn_error, NULL,
                                NULL) != SQLITE_OK)
        return SQLITE_OK; /* out of memory: the connection is still usable */
    if (sqlite3_file_control(db, "main", SQLITE_FCNTL_VFS_POINTER, &v) != SQLITE_OK || !v || !v->zName ||
        (strcmp(v->zName, VFS_NAME) != 0 && strcmp(v->zName, ROUTER_NAME) != 0))
        return SQLITE_OK;
    if (sqlite3_file_control(db, "main", SQLITE_FCNTL_FILE_POINTER, &f) != SQLITE_OK || !travel_vfs_file_is_point(f))
        return SQLITE_OK; /* a file of the default VFS, through the router */
    if ((e = travel_vfs_file_error(f)) != NULL) {
        *errmsg = sqlite3_mprintf("%s%s%s", e->msg, e->hint[0] ? "\nHINT: " : "", e->hint);
        return SQLITE_CANTOPEN;
    }
    sv_sqlite_harden_with(db, sqlite3_db_config, sqlite3_limit);
    rc = sqlite3_exec(db, TRAVEL_SQLITE_PRAGMAS, NULL, NULL, errmsg);
    if (rc != SQLITE_OK && (e = travel_vfs_error())->code != SV_OK) { /* reading its schema failed: say why */
        sqlite3_free(*errmsg);
        *errmsg = sqlite3_mprintf("%s%s%s", e->msg, e->hint[0] ? "\nHINT: " : "", e->hint);
    }
    return rc;
}

/* The entry point SQLite derives from the file name (sqlvault.so). */
int sqlite3_sqlvault_init(sqlite3 *db, char **errmsg, const sqlite3_api_routines *api)
{
    travel_vfs_hooks h = {0};
    int rc;
    SQLITE_EXTENSION_INIT2(api);
    h.open = open_named;
    h.close = close_named;
    h.read_error = read_failed;
    h.vfs_find = sqlite3_vfs_find;
    h.vfs_register = sqlite3_vfs_register;
    if (travel_vfs_register_hooks(&h) != SQLITE_OK) {
        *errmsg = sqlite3_mprintf("sqlvault: unable to register the SQLite VFS " VFS_NAME);
        return SQLITE_ERROR;
    }
    if (travel_vfs_register_router() != SQLITE_OK) /* plain names "sqlvault:WS@TIME" (better-sqlite3) */
        log_warn(NULL, NULL, "sqlvault: the VFS " ROUTER_NAME " did not register: only file:...?vfs=" VFS_NAME
                 " names open points");
    rc = sqlite3_auto_extension((void (*)(void))conn_init);
    if (rc != SQLITE_OK) {
        *errmsg = sqlite3_mprintf("sqlvault: unable to register the per-connection hook");
        return rc;
    }
    rc = conn_init(db, errmsg, api);
    return rc == SQLITE_OK ? SQLITE_OK_LOAD_PERMANENTLY : rc;
}

/* The generic entry point (sqlite3_load_extension without an entry name). */
int sqlite3_extension_init(sqlite3 *db, char **errmsg, const sqlite3_api_routines *api)
{
    return sqlite3_sqlvault_init(db, errmsg, api);
}
