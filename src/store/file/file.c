/* file.c -- the file:// store driver.
 *
 * Keys map to files under the root. Every object is written to a temporary
 * name in its final directory (".NAME.tmp-RANDOM"), fsynced, and renamed, and
 * the directory fsynced, so a crash leaves either the old state or the new one,
 * never a partial file under a real key. Conditional puts use link(2), which
 * fails if the name exists. Temporary names are hidden from list and reported
 * by list_uploads, so prune can remove leftovers of a crash. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "store.h"
#include "store/store_intern.h"
#include "util.h"

typedef struct file_store {
    store_t base;
    char *root; /* absolute, no trailing slash */
} file_store;

typedef struct file_writer {
    store_writer_t base; /* must be first */
    file_store *fs;
    int fd;
    char *tmp;
    char *final;
    const store_writer_opts *opts_unused;
    uint64_t written;
    void (*on_progress)(void *, uint64_t);
    void *progress_ud;
} file_writer;

/* Maps an errno to a code and fills err. */
static int io_fail(sv_err *err, int e, const char *what, const char *path)
{
    return sv_err_set(err, e == ENOSPC || e == EDQUOT ? SV_ENOSPC : e == ENOENT ? SV_ENOTFOUND : SV_EIO,
                      "%s '%s': %s", what, path, strerror(e));
}

/* Refuses keys that could leave the root. */
static int check_key(const char *key, sv_err *err)
{
    if (!key || !*key || key[0] == '/' || strstr(key, "..") || strstr(key, "//"))
        return sv_err_set(err, SV_EINVAL, "invalid object key '%s'", key ? key : "");
    return 0;
}

/* root/key, heap. */
static char *full_path(file_store *fs, const char *key) { return sv_asprintf("%s/%s", fs->root, key); }

/* Temporary name next to path: dir/.base.tmp-RANDOM */
static char *temp_path(file_store *fs, const char *path)
{
    char id[33];
    const char *slash = strrchr(path, '/');
    sv_random_id(fs->base.clock, id);
    return sv_asprintf("%.*s/.%s.tmp-%.16s", (int)(slash - path), path, slash + 1, id);
}

/* mkdir -p of the directory holding path. */
static int ensure_parent(const char *path, sv_err *err)
{
    char *dir = strdup(path);
    int rc;
    if (!dir) return sv_err_set(err, SV_ENOMEM, "out of memory");
    *strrchr(dir, '/') = '\0';
    rc = sv_mkdirs(dir, err);
    free(dir);
    return rc;
}

/* fsync the parent directory of path. */
static int sync_parent(const char *path, sv_err *err)
{
    char *dir = strdup(path);
    int rc;
    if (!dir) return sv_err_set(err, SV_ENOMEM, "out of memory");
    *strrchr(dir, '/') = '\0';
    rc = sv_fsync_dir(dir, err);
    free(dir);
    return rc;
}

/* Opens a streamed writer on a temporary file. */
static int fw_open(store_t *s, const char *key, const store_writer_opts *o, file_writer **out,
                          sv_err *err)
{
    file_store *fs = (file_store *)s;
    file_writer *w = NULL;
    *out = NULL;
    if (check_key(key, err) != 0) return -1;
    w = calloc(1, sizeof *w);
    if (!w) return sv_err_set(err, SV_ENOMEM, "out of memory");
    w->base.vt = fs->base.vt;
    w->fs = fs;
    w->fd = -1;
    w->final = full_path(fs, key);
    if (!w->final || ensure_parent(w->final, err) != 0) goto fail;
    w->tmp = temp_path(fs, w->final);
    if (!w->tmp) goto fail;
    w->fd = open(w->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (w->fd < 0) {
        io_fail(err, errno, "unable to create", w->tmp);
        goto fail;
    }
    if (o) {
        w->on_progress = o->on_progress;
        w->progress_ud = o->progress_ud;
    }
    *out = w;
    return 0;
fail:
    if (err->code == SV_OK) sv_err_set(err, SV_ENOMEM, "out of memory");
    free(w->final);
    free(w->tmp);
    free(w);
    return -1;
}

/* Appends to the temporary file. */
static int fw_write(file_writer *w, const void *data, size_t len, sv_err *err)
{
    if (sv_write_all(w->fd, data, len) != 0) return io_fail(err, errno, "unable to write", w->tmp);
    w->written += len;
    return 0;
}

/* Frees a writer's memory and fd. */
static void writer_release(file_writer *w)
{
    if (w->fd >= 0) close(w->fd);
    free(w->tmp);
    free(w->final);
    free(w);
}

/* fsync, rename into place, fsync the directory; frees the writer. */
static int fw_commit(file_writer *w, sv_err *err)
{
    if (fsync(w->fd) != 0) {
        io_fail(err, errno, "unable to fsync", w->tmp);
        goto fail;
    }
    if (close(w->fd) != 0) {
        w->fd = -1;
        io_fail(err, errno, "unable to close", w->tmp);
        goto fail;
    }
    w->fd = -1;
    if (rename(w->tmp, w->final) != 0) {
        io_fail(err, errno, "unable to rename into", w->final);
        goto fail;
    }
    if (sync_parent(w->final, err) != 0) {
        writer_release(w);
        return -1;
    }
    if (w->on_progress) w->on_progress(w->progress_ud, w->written);
    writer_release(w);
    return 0;
fail:
    unlink(w->tmp);
    writer_release(w);
    return -1;
}

/* Removes the temporary file; frees the writer. */
static void fw_abort(file_writer *w)
{
    unlink(w->tmp);
    writer_release(w);
}

/* Small object: temp + fsync + rename (or link for if_none_match). */
static int fs_put(store_t *s, const char *key, const void *data, size_t len, const store_put_opts *o,
                  sv_err *err)
{
    file_writer *w;
    if (!o || !o->if_none_match) {
        if (fw_open(s, key, NULL, &w, err) != 0) return -1;
        if (fw_write(w, data, len, err) != 0) {
            fw_abort(w);
            return -1;
        }
        return fw_commit(w, err);
    }
    if (fw_open(s, key, NULL, &w, err) != 0) return -1;
    if (fw_write(w, data, len, err) != 0 || fsync(w->fd) != 0) {
        if (err->code == SV_OK) io_fail(err, errno, "unable to fsync", w->tmp);
        fw_abort(w);
        return -1;
    }
    if (link(w->tmp, w->final) != 0) {
        int e = errno;
        if (e == EEXIST) sv_err_set(err, SV_ECONFLICT, "object '%s' already exists", key);
        else io_fail(err, e, "unable to create", w->final);
        fw_abort(w);
        return -1;
    }
    unlink(w->tmp);
    if (sync_parent(w->final, err) != 0) {
        writer_release(w);
        return -1;
    }
    writer_release(w);
    return 0;
}

/* Streams a file from offset to the sink. */
static int fs_get(store_t *s, const char *key, uint64_t offset, store_sink_fn sink, void *ud, sv_err *err)
{
    file_store *fs = (file_store *)s;
    char *path = NULL, *buf = NULL;
    int fd = -1, rc = -1;
    if (check_key(key, err) != 0) return -1;
    path = full_path(fs, key);
    buf = malloc(256 * 1024);
    if (!path || !buf) {
        sv_err_set(err, SV_ENOMEM, "out of memory");
        goto fail;
    }
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) sv_err_set(err, SV_ENOTFOUND, "object '%s' not found", key);
        else io_fail(err, errno, "unable to open", path);
        goto fail;
    }
    if (offset && lseek(fd, (off_t)offset, SEEK_SET) < 0) {
        io_fail(err, errno, "unable to seek in", path);
        goto fail;
    }
    for (;;) {
        ssize_t n = read(fd, buf, 256 * 1024);
        if (n < 0) {
            if (errno == EINTR) continue;
            io_fail(err, errno, "unable to read", path);
            goto fail;
        }
        if (n == 0) break;
        if (sink(ud, buf, (size_t)n, err) != 0) goto fail;
    }
    rc = 0;
fail:
    if (fd >= 0) close(fd);
    free(buf);
    free(path);
    return rc;
}

#define FS_RANGE_BUF (256 * 1024)

/* Streams exactly [offset, offset+len) of a file to the sink: the size is
 * checked first (past the end: nothing delivered), then a pread loop through
 * a buffer of at most FS_RANGE_BUF bytes. A file that shrinks under the read
 * is the same past-the-end error. */
static int fs_get_range(store_t *s, const char *key, uint64_t offset, uint64_t len, store_sink_fn sink,
                        void *ud, sv_err *err)
{
    file_store *fs = (file_store *)s;
    char *path = NULL, *buf = NULL;
    size_t cap = len < FS_RANGE_BUF ? (size_t)len : FS_RANGE_BUF;
    uint64_t done = 0;
    struct stat sb;
    int fd = -1, rc = -1;
    if (check_key(key, err) != 0) return -1;
    path = full_path(fs, key);
    if (!path) {
        sv_err_set(err, SV_ENOMEM, "out of memory");
        goto fail;
    }
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT || errno == ENOTDIR) sv_err_set(err, SV_ENOTFOUND, "object '%s' not found", key);
        else io_fail(err, errno, "unable to open", path);
        goto fail;
    }
    if (fstat(fd, &sb) != 0) {
        io_fail(err, errno, "unable to stat", path);
        goto fail;
    }
    if (!S_ISREG(sb.st_mode)) {
        sv_err_set(err, SV_ENOTFOUND, "object '%s' not found", key);
        goto fail;
    }
    if (offset + len > (uint64_t)sb.st_size) {
        store_range_past_end(err, key, offset, len, (uint64_t)sb.st_size);
        goto fail;
    }
    buf = malloc(cap);
    if (!buf) {
        sv_err_set(err, SV_ENOMEM, "out of memory");
        goto fail;
    }
    while (done < len) {
        size_t want = len - done < cap ? (size_t)(len - done) : cap;
        ssize_t n = pread(fd, buf, want, (off_t)(offset + done));
        if (n < 0) {
            if (errno == EINTR) continue;
            io_fail(err, errno, "unable to read", path);
            goto fail;
        }
        if (n == 0) { /* shrank since the fstat */
            store_range_past_end(err, key, offset, len, offset + done);
            goto fail;
        }
        if (sink(ud, buf, (size_t)n, err) != 0) goto fail;
        done += (uint64_t)n;
    }
    rc = 0;
fail:
    if (fd >= 0) close(fd);
    free(buf);
    free(path);
    return rc;
}

/* stat(2) of an object. */
static int fs_stat(store_t *s, const char *key, store_stat *st, sv_err *err)
{
    file_store *fs = (file_store *)s;
    struct stat sb;
    char *path;
    if (check_key(key, err) != 0) return -1;
    path = full_path(fs, key);
    if (!path) return sv_err_set(err, SV_ENOMEM, "out of memory");
    if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        int e = errno;
        free(path);
        if (e == ENOENT || e == 0 || e == ENOTDIR) return sv_err_set(err, SV_ENOTFOUND, "object '%s' not found", key);
        return io_fail(err, e, "unable to stat", key);
    }
    free(path);
    memset(st, 0, sizeof *st);
    st->size = (uint64_t)sb.st_size;
    st->mtime_ms = (int64_t)sb.st_mtim.tv_sec * 1000 + sb.st_mtim.tv_nsec / 1000000;
    return 0;
}

typedef struct key_list {
    char **keys;
    uint64_t *sizes;
    int64_t *mtimes;
    bool *is_prefix;
    size_t n, cap;
} key_list;

/* Appends one entry. */
static int kl_add(key_list *kl, char *key, uint64_t size, int64_t mtime, bool pfx)
{
    if (kl->n == kl->cap) {
        size_t cap = kl->cap ? kl->cap * 2 : 64;
        char **k = realloc(kl->keys, cap * sizeof *k);
        if (k) kl->keys = k;
        uint64_t *sz = realloc(kl->sizes, cap * sizeof *sz);
        if (sz) kl->sizes = sz;
        int64_t *mt = realloc(kl->mtimes, cap * sizeof *mt);
        if (mt) kl->mtimes = mt;
        bool *ip = realloc(kl->is_prefix, cap * sizeof *ip);
        if (ip) kl->is_prefix = ip;
        if (!k || !sz || !mt || !ip) {
            free(key);
            return -1;
        }
        kl->cap = cap;
    }
    kl->keys[kl->n] = key;
    kl->sizes[kl->n] = size;
    kl->mtimes[kl->n] = mtime;
    kl->is_prefix[kl->n] = pfx;
    kl->n++;
    return 0;
}

/* Walks dir (key prefix rel, "" or ending in '/'), adding keys that start with
 * prefix; with a delimiter, directories below the prefix's level become prefixes. */
static int walk(file_store *fs, const char *rel, const char *prefix, bool delim, key_list *kl, sv_err *err)
{
    char *dirpath = sv_asprintf("%s/%s", fs->root, rel);
    DIR *d;
    struct dirent *de;
    int rc = 0;
    if (!dirpath) return sv_err_set(err, SV_ENOMEM, "out of memory");
    d = opendir(dirpath);
    if (!d) {
        int e = errno;
        free(dirpath);
        if (e == ENOENT || e == ENOTDIR) return 0;
        return io_fail(err, e, "unable to list", rel);
    }
    while ((de = readdir(d)) != NULL) {
        struct stat sb;
        char *key, *path;
        size_t kl_len, pl = strlen(prefix);
        if (de->d_name[0] == '.') continue; /* ., .., temporary files */
        key = sv_asprintf("%s%s", rel, de->d_name);
        path = key ? sv_asprintf("%s/%s", fs->root, key) : NULL;
        if (!key || !path || stat(path, &sb) != 0) {
            free(key);
            free(path);
            continue;
        }
        free(path);
        kl_len = strlen(key);
        if (S_ISDIR(sb.st_mode)) {
            /* Descend only if the directory can hold matching keys. */
            size_t cmp = kl_len < pl ? kl_len : pl;
            if (strncmp(key, prefix, cmp) != 0) { free(key); continue; }
            if (delim && kl_len >= pl) {
                char *p = sv_asprintf("%s/", key);
                free(key);
                if (!p || kl_add(kl, p, 0, 0, true) != 0) { rc = sv_err_set(err, SV_ENOMEM, "out of memory"); break; }
                continue;
            }
            char *sub = sv_asprintf("%s/", key);
            free(key);
            if (!sub) { rc = sv_err_set(err, SV_ENOMEM, "out of memory"); break; }
            rc = walk(fs, sub, prefix, delim, kl, err);
            free(sub);
            if (rc != 0) break;
        } else if (S_ISREG(sb.st_mode) && strncmp(key, prefix, pl) == 0) {
            int64_t mt = (int64_t)sb.st_mtim.tv_sec * 1000 + sb.st_mtim.tv_nsec / 1000000;
            if (kl_add(kl, key, (uint64_t)sb.st_size, mt, false) != 0) {
                rc = sv_err_set(err, SV_ENOMEM, "out of memory");
                break;
            }
        } else free(key);
    }
    closedir(d);
    free(dirpath);
    return rc;
}

static key_list *sort_kl; /* qsort has no user data; list calls are serialised per thread */
static __thread key_list *tl_sort_kl;
/* Orders indices by key. */
static int idx_cmp(const void *a, const void *b)
{
    const size_t *x = a, *y = b;
    return strcmp(tl_sort_kl->keys[*x], tl_sort_kl->keys[*y]);
}

/* Lists keys under prefix in lexicographic order. */
static int fs_list(store_t *s, const char *prefix, const char *delimiter, store_list_fn fn, void *ud,
                   sv_err *err)
{
    file_store *fs = (file_store *)s;
    key_list kl = {0};
    size_t *idx = NULL;
    const char *slash = strrchr(prefix, '/');
    char *rel = slash ? strndup(prefix, (size_t)(slash - prefix + 1)) : strdup("");
    int rc = -1;
    (void)sort_kl;
    if (!rel) return sv_err_set(err, SV_ENOMEM, "out of memory");
    if (strstr(prefix, "..")) {
        free(rel);
        return sv_err_set(err, SV_EINVAL, "invalid prefix '%s'", prefix);
    }
    if (walk(fs, rel, prefix, delimiter && *delimiter, &kl, err) != 0) goto done;
    idx = malloc((kl.n ? kl.n : 1) * sizeof *idx);
    if (!idx) {
        sv_err_set(err, SV_ENOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < kl.n; i++) idx[i] = i;
    tl_sort_kl = &kl;
    qsort(idx, kl.n, sizeof *idx, idx_cmp);
    for (size_t i = 0; i < kl.n; i++) {
        store_entry e = {kl.keys[idx[i]], kl.sizes[idx[i]], kl.mtimes[idx[i]], kl.is_prefix[idx[i]]};
        if (fn(ud, &e, err) != 0) goto done;
    }
    rc = 0;
done:
    for (size_t i = 0; i < kl.n; i++) free(kl.keys[i]);
    free(kl.keys);
    free(kl.sizes);
    free(kl.mtimes);
    free(kl.is_prefix);
    free(idx);
    free(rel);
    return rc;
}

/* Removes empty directories from path's parent up to the root. */
static void prune_dirs(file_store *fs, char *path)
{
    size_t rl = strlen(fs->root);
    for (char *slash = strrchr(path, '/'); slash && (size_t)(slash - path) > rl; slash = strrchr(path, '/')) {
        *slash = '\0';
        if (rmdir(path) != 0) break;
    }
}

/* Unlinks each key; missing ones are fine. */
static int fs_delete_many(store_t *s, const char *const *keys, size_t n, sv_err *err)
{
    file_store *fs = (file_store *)s;
    for (size_t i = 0; i < n; i++) {
        char *path;
        if (check_key(keys[i], err) != 0) return -1;
        path = full_path(fs, keys[i]);
        if (!path) return sv_err_set(err, SV_ENOMEM, "out of memory");
        if (unlink(path) != 0 && errno != ENOENT) {
            int e = errno;
            free(path);
            return io_fail(err, e, "unable to delete", keys[i]);
        }
        prune_dirs(fs, path);
        free(path);
    }
    return 0;
}

/* The file's absolute path stands in for a URL. */
static int fs_presign(store_t *s, const char *method, const char *key, int64_t ttl, const char *cd,
                      char **out, sv_err *err)
{
    file_store *fs = (file_store *)s;
    (void)method, (void)ttl, (void)cd;
    if (check_key(key, err) != 0) return -1;
    *out = full_path(fs, key);
    return *out ? 0 : sv_err_set(err, SV_ENOMEM, "out of memory");
}

typedef struct tmp_walk {
    file_store *fs;
    store_upload_fn fn;
    void *ud;
} tmp_walk;

/* Reports temporary files (crash leftovers) under rel. */
static int walk_tmp(tmp_walk *tw, const char *rel, const char *prefix, sv_err *err)
{
    char *dirpath = sv_asprintf("%s/%s", tw->fs->root, rel);
    DIR *d;
    struct dirent *de;
    int rc = 0;
    if (!dirpath) return sv_err_set(err, SV_ENOMEM, "out of memory");
    d = opendir(dirpath);
    free(dirpath);
    if (!d) return 0;
    while (rc == 0 && (de = readdir(d)) != NULL) {
        struct stat sb;
        char *key, *path;
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) continue;
        key = sv_asprintf("%s%s", rel, de->d_name);
        path = key ? sv_asprintf("%s/%s", tw->fs->root, key) : NULL;
        if (path && stat(path, &sb) == 0) {
            size_t pl = strlen(prefix), kl = strlen(key);
            if (S_ISDIR(sb.st_mode) && de->d_name[0] != '.' && strncmp(key, prefix, kl < pl ? kl : pl) == 0) {
                char *sub = sv_asprintf("%s/", key);
                if (sub) rc = walk_tmp(tw, sub, prefix, err);
                free(sub);
            } else if (S_ISREG(sb.st_mode) && de->d_name[0] == '.' && strstr(de->d_name, ".tmp-") &&
                       strncmp(key, prefix, strlen(rel) < pl ? strlen(rel) : pl) == 0) {
                store_upload u = {key, key, (int64_t)sb.st_mtim.tv_sec * 1000};
                rc = tw->fn(tw->ud, &u, err);
            }
        }
        free(key);
        free(path);
    }
    closedir(d);
    return rc;
}

/* Temporary files under prefix, as "unfinished uploads". */
static int fs_list_uploads(store_t *s, const char *prefix, store_upload_fn fn, void *ud, sv_err *err)
{
    tmp_walk tw = {(file_store *)s, fn, ud};
    const char *slash = strrchr(prefix, '/');
    char *rel = slash ? strndup(prefix, (size_t)(slash - prefix + 1)) : strdup("");
    int rc;
    if (!rel) return sv_err_set(err, SV_ENOMEM, "out of memory");
    rc = walk_tmp(&tw, rel, prefix, err);
    free(rel);
    return rc;
}

/* Removes a temporary file reported by list_uploads. */
static int fs_abort_upload(store_t *s, const char *key, const char *upload_id, sv_err *err)
{
    file_store *fs = (file_store *)s;
    char *path;
    (void)key;
    if (!upload_id || strstr(upload_id, "..") || !strstr(upload_id, ".tmp-"))
        return sv_err_set(err, SV_EINVAL, "invalid upload id");
    path = full_path(fs, upload_id);
    if (!path) return sv_err_set(err, SV_ENOMEM, "out of memory");
    if (unlink(path) != 0 && errno != ENOENT) {
        int e = errno;
        free(path);
        return io_fail(err, e, "unable to delete", upload_id);
    }
    free(path);
    return 0;
}

/* The root exists (or can be made) and is writable. */
static int fs_ping(store_t *s, sv_err *err)
{
    file_store *fs = (file_store *)s;
    if (sv_mkdirs(fs->root, err) != 0) return -1;
    if (access(fs->root, W_OK) != 0) return io_fail(err, errno, "store not writable:", fs->root);
    return 0;
}

/* Frees the driver. */
static void fs_free(store_t *s)
{
    file_store *fs = (file_store *)s;
    free(fs->root);
    free(fs);
}

/* The writer entries of the table: the writer starts with its header. */
static int fs_writer_open(store_t *s, const char *key, const store_writer_opts *o, store_writer_t **out,
                          sv_err *err)
{
    file_writer *w = NULL;
    int rc = fw_open(s, key, o, &w, err);
    *out = w ? &w->base : NULL;
    return rc;
}
static int fs_writer_write(store_writer_t *w, const void *data, size_t len, sv_err *err)
{ return fw_write((file_writer *)w, data, len, err); }
static int fs_writer_commit(store_writer_t *w, sv_err *err) { return fw_commit((file_writer *)w, err); }
static void fs_writer_abort(store_writer_t *w) { fw_abort((file_writer *)w); }

static const store_vt file_vt = {
    .scheme = "file",
    .put = fs_put,
    .writer_open = fs_writer_open,
    .writer_write = fs_writer_write,
    .writer_commit = fs_writer_commit,
    .writer_abort = fs_writer_abort,
    .get = fs_get,
    .get_range = fs_get_range,
    .stat = fs_stat,
    .list = fs_list,
    .delete_many = fs_delete_many,
    .presign = fs_presign,
    .list_uploads = fs_list_uploads,
    .abort_upload = fs_abort_upload,
    .ping = fs_ping,
    .free = fs_free,
};

/* Opens a file store rooted at root (relative paths from the cwd). */
int store_file_new(const sv_config *cfg, const sv_clock *clock, const char *root, store_t **out, sv_err *err)
{
    file_store *fs;
    char cwd[PATH_MAX];
    size_t n;
    (void)cfg;
    *out = NULL;
    fs = calloc(1, sizeof *fs);
    if (!fs) return sv_err_set(err, SV_ENOMEM, "out of memory");
    fs->base.vt = &file_vt;
    fs->base.clock = clock;
    if (root[0] == '/') fs->root = strdup(root);
    else if (getcwd(cwd, sizeof cwd)) fs->root = sv_asprintf("%s/%s", cwd, strncmp(root, "./", 2) == 0 ? root + 2 : root);
    if (!fs->root) {
        free(fs);
        return sv_err_set(err, SV_ENOMEM, "out of memory");
    }
    n = strlen(fs->root);
    while (n > 1 && fs->root[n - 1] == '/') fs->root[--n] = '\0';
    *out = &fs->base;
    return 0;
}
