/* discovery.c -- which workspaces the scheduler backs up: the union of
 * DATA_DIR/ * /livestore.db and the LiveStore store directories DATA_DIR/ * /
 * (an eventlog@N.db inside: livestore.h), the static SQLVAULT_WORKSPACES list and the Redis
 * set PREFIX:workspaces that the Node server adds to. Ids that are not valid
 * workspace ids are skipped with a warning, never passed on to a key or path.
 * The result is sorted and de-duplicated. */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "livestore.h"
#include "log.h"
#include "sched_int.h"
#include "util.h"

/* Frees a list's names; the struct itself is the caller's. */
void sched_ws_list_free(sched_ws_list *l)
{
    if (!l) return;
    for (size_t i = 0; i < l->n; i++) free(l->names[i]);
    free(l->names);
    l->names = NULL;
    l->n = l->cap = 0;
}

/* Adds [ws, ws+len) after checking it is a workspace id. */
int sched_ws_add(sched_ws_list *l, const char *ws, size_t len, sv_err *err)
{
    char *name = strndup(ws, len);
    sv_err tmp;
    if (!name) return sv_err_set(err, SV_ENOMEM, "out of memory");
    if (sv_check_workspace(name, &tmp) != 0) {
        log_warn(NULL, NULL, "scheduler: skipping '%.64s': %s", name, tmp.msg);
        free(name);
        return 0;
    }
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 256;
        char **nn = realloc(l->names, cap * sizeof *nn);
        if (!nn) {
            free(name);
            return sv_err_set(err, SV_ENOMEM, "out of memory");
        }
        l->names = nn;
        l->cap = cap;
    }
    l->names[l->n++] = name;
    return 0;
}

/* qsort comparator over strings. */
static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorts the list and drops duplicates. */
void sched_ws_finish(sched_ws_list *l)
{
    size_t k = 0;
    qsort(l->names, l->n, sizeof *l->names, cmp_str);
    for (size_t i = 0; i < l->n; i++) {
        if (k && strcmp(l->names[k - 1], l->names[i]) == 0) free(l->names[i]);
        else l->names[k++] = l->names[i];
    }
    l->n = k;
}

/* Every WS directory of DATA_DIR holding livestore.db or a LiveStore store.
 * A missing data dir is not an error (the workspaces may all come from Redis). */
static int from_data_dir(const sv_config *cfg, sched_ws_list *l, sv_err *err)
{
    DIR *d = opendir(cfg->data_dir);
    struct dirent *de;
    int rc = 0;
    if (!d) return 0;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.') continue;
        bool ok = livestore_shape(cfg->data_dir, de->d_name) != LS_SHAPE_NONE;
        if (ok && sched_ws_add(l, de->d_name, strlen(de->d_name), err) != 0) {
            rc = -1;
            break;
        }
    }
    closedir(d);
    return rc;
}

/* The static comma list. */
static int from_static(const sv_config *cfg, sched_ws_list *l, sv_err *err)
{
    const char *s = cfg->workspaces;
    while (s && *s) {
        size_t len = strcspn(s, ", \t");
        if (len && sched_ws_add(l, s, len, err) != 0) return -1;
        s += len;
        s += strspn(s, ", \t");
    }
    return 0;
}

/* The Redis set, read with SSCAN so a large set never blocks Redis. */
static int from_redis(sched_t *s, sched_ws_list *l, sv_err *err)
{
    char cursor[32] = "0";
    do {
        redisReply *r = SCHED_CMD(s, err, "SSCAN", s->k_set, cursor, "COUNT", "5000");
        if (!r) return sv_err_wrap(err, "reading the workspace set %s", s->k_set);
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
            r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_ARRAY) {
            freeReplyObject(r);
            return sv_err_set(err, SV_EINTERNAL, "unexpected SSCAN reply");
        }
        snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
        redisReply *arr = r->element[1];
        for (size_t i = 0; i < arr->elements; i++) {
            if (arr->element[i]->type != REDIS_REPLY_STRING) continue;
            if (sched_ws_add(l, arr->element[i]->str, arr->element[i]->len, err) != 0) {
                freeReplyObject(r);
                return -1;
            }
        }
        freeReplyObject(r);
    } while (strcmp(cursor, "0") != 0);
    return 0;
}

/* Every workspace, from the three sources; see scheduler.h. */
int sched_discover(sched_t *s, sched_ws_list *out, sv_err *err)
{
    memset(out, 0, sizeof *out);
    if (from_data_dir(s->cfg, out, err) != 0 || from_static(s->cfg, out, err) != 0 ||
        from_redis(s, out, err) != 0) {
        sched_ws_list_free(out);
        return -1;
    }
    sched_ws_finish(out);
    return 0;
}
