/* scope.c -- a queued job stays inside its workspace.
 *
 * A job that arrives through Redis may have been written by anyone who can
 * reach Redis (the Node API, a script), so the paths and keys in its options
 * are held to the job's workspace:
 *   - object keys under full/WS/, uploads/WS/ or exports/WS/ (or those of the
 *     workspace named by the explicit clone_from option);
 *   - file: sources and db paths inside DATA_DIR/WS/ (or DATA_DIR/OTHER/ of
 *     clone_from for a source), or inside one of SQLVAULT_ALLOW_DIRS, after
 *     resolving symbolic links and "..".
 * Jobs run with --inline keep every path the operator gives them: the checks
 * apply only when ctx->queued. Refusals are SV_EINVAL (never retried) and
 * name the rule. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"
#include "restore.h"
#include "util.h"

/* True if key starts with one of WS's three prefixes. */
static bool key_in(const char *key, const char *ws)
{
    static const char *const roots[] = {"full/", "uploads/", "exports/"};
    size_t wl = strlen(ws);
    for (size_t i = 0; i < 3; i++) {
        size_t rl = strlen(roots[i]);
        if (strncmp(key, roots[i], rl) == 0 && strncmp(key + rl, ws, wl) == 0 && key[rl + wl] == '/') return true;
    }
    return false;
}

/* Checks an object key of a queued job (see restore.h). */
int restore_scope_key(job_ctx *ctx, const char *key, const char *clone_from, sv_err *err)
{
    if (!ctx->queued) return 0;
    if (key_in(key, ctx->workspace) || (clone_from && key_in(key, clone_from))) return 0;
    sv_err_set(err, SV_EINVAL, "refused by the workspace scope rule: object key '%s' is outside %s's prefixes "
               "full/%s/, uploads/%s/ and exports/%s/", key, clone_from ? "the job's workspaces" : ctx->workspace,
               ctx->workspace, ctx->workspace, ctx->workspace);
    return sv_err_hint(err, "to restore another workspace's backup, name it with --clone-from OTHER "
                       "(option clone_from)");
}

/* realpath of path, or of its deepest existing ancestor with the rest
 * appended (a database that does not exist yet). NULL if the rest holds
 * "." or ".." components or nothing resolves. Heap. */
static char *resolve(const char *path)
{
    char *copy = sv_strdup(path), *cut = NULL, *res = NULL;
    if (!copy) return NULL;
    for (;;) {
        char buf[PATH_MAX];
        if (realpath(copy, buf)) {
            const char *rest = cut ? path + (cut - copy) : "";
            for (const char *p = rest; *p; p = strchr(p, '/') ? strchr(p, '/') + 1 : p + strlen(p)) {
                size_t n = strcspn(p, "/");
                if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.')) goto done;
            }
            res = sv_asprintf("%s%s", strcmp(buf, "/") == 0 && *rest == '/' ? "" : buf, rest);
            goto done;
        }
        if (errno != ENOENT && errno != ENOTDIR) goto done;
        {
            char *slash = strrchr(copy, '/');
            if (!slash || slash == copy) goto done;
            if (cut) *cut = '/';
            *slash = '\0';
            cut = slash;
        }
    }
done:
    free(copy);
    return res;
}

/* True if the resolved path lies strictly inside dir (resolved too). */
static bool inside(const char *real, const char *dir)
{
    char *rd = resolve(dir);
    bool yes = false;
    if (rd) {
        size_t n = strlen(rd);
        yes = strncmp(real, rd, n) == 0 && (real[n] == '/' || (n > 0 && rd[n - 1] == '/')) && real[n + 1] != '\0';
        free(rd);
    }
    return yes;
}

/* Checks a path option of a queued job (see restore.h). */
int restore_scope_path(job_ctx *ctx, const char *path, const char *what, const char *clone_from, sv_err *err)
{
    char *real = NULL, *own = NULL, *other = NULL, *allow = NULL;
    bool ok = false;
    if (!ctx->queued) return 0;
    if (path[0] != '/') {
        sv_err_set(err, SV_EINVAL, "refused by the workspace scope rule: %s '%s' is not an absolute path", what,
                   path);
        return sv_err_hint(err, "the CLI resolves relative paths before it enqueues; other clients must send "
                           "absolute ones");
    }
    real = resolve(path);
    own = sv_asprintf("%s/%s", ctx->cfg->data_dir, ctx->workspace);
    other = clone_from ? sv_asprintf("%s/%s", ctx->cfg->data_dir, clone_from) : NULL;
    if (!own || (clone_from && !other)) {
        sv_err_set(err, SV_ENOMEM, "out of memory");
        goto done;
    }
    if (real) {
        ok = inside(real, own) || (other && inside(real, other));
        if (!ok && ctx->cfg->allow_dirs && (allow = sv_strdup(ctx->cfg->allow_dirs))) {
            char *save = NULL;
            for (char *d = strtok_r(allow, ":", &save); d && !ok; d = strtok_r(NULL, ":", &save))
                ok = *d == '/' && inside(real, d);
        }
    }
    if (!ok) {
        sv_err_set(err, SV_EINVAL, "refused by the workspace scope rule: %s '%s' is outside the workspace's "
                   "folder %s/%s/%s", what, path, ctx->cfg->data_dir, ctx->workspace,
                   ctx->cfg->allow_dirs ? " and SQLVAULT_ALLOW_DIRS" : "");
        sv_err_hint(err, "queued jobs read and write only their own workspace's files; run it with --inline, "
                    "or list the folder in SQLVAULT_ALLOW_DIRS");
        goto done;
    }
done:
    free(real);
    free(own);
    free(other);
    free(allow);
    return ok ? 0 : -1;
}
