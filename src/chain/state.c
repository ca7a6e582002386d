/* state.c -- the local chain state of a workspace (chain.h): the head's page
 * hashes followed by a JSON header, read by header alone for the unchanged
 * check, streamed for a diff, replaced atomically after a commit.
 *
 * File: hashes (page_count * 16 bytes) | header JSON | u32 LE length | "SVSTATE1".
 * A new state is written into an unnamed O_TMPFILE in the state folder, so
 * a process killed mid-backup leaves nothing behind; commit links it under a
 * temporary name and renames it over WS.state. chain_state_rewrite makes a
 * new header for the same hashes the same way (copied, streamed). */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "chain.h"
#include "digest.h"
#include "util.h"

#define STATE_MAGIC "SVSTATE1"
#define STATE_TAIL 12           /* u32 length + magic */
#define STATE_MAX_HEADER 16384
#define HBUF 65536              /* hashes per buffered read or write: 4096 */

/* sha256(url)[:32] */
void chain_store_id(const char *store_url, char out[CHAIN_STORE_ID_LEN])
{
    char hex[SV_SHA256_HEX_LEN];
    sv_sha256_hex(store_url, strlen(store_url), hex);
    memcpy(out, hex, CHAIN_STORE_ID_LEN - 1);
    out[CHAIN_STORE_ID_LEN - 1] = '\0';
}

/* STATE_DIR/WS.state */
char *chain_state_path(const char *state_dir, const char *ws)
{
    return sv_asprintf("%s/%s.state", state_dir, ws);
}

/* Copies a JSON string field into out; -1 when missing or too long. */
static int str_field(json_t *j, const char *name, char *out, size_t cap)
{
    const char *v = json_string_value(json_object_get(j, name));
    if (!v || strlen(v) >= cap) return -1;
    memcpy(out, v, strlen(v) + 1);
    return 0;
}

/* Reads exactly n bytes at off. */
static int read_at(int fd, void *buf, size_t n, off_t off)
{
    for (size_t done = 0; done < n;) {
        ssize_t r = pread(fd, (char *)buf + done, n - done, off + (off_t)done);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return -1;
        done += (size_t)r;
    }
    return 0;
}

/* Writes exactly n bytes at the file's offset. */
static int write_all(int fd, const void *buf, size_t n)
{
    for (size_t done = 0; done < n;) {
        ssize_t w = write(fd, (const char *)buf + done, n - done);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        done += (size_t)w;
    }
    return 0;
}

/* Parses the header (see above) of the state open on fd. */
static int load_fd(int fd, const char *path, const char *store_id, const char *ws, chain_state *st, sv_err *err)
{
    struct stat sb;
    unsigned char tail[STATE_TAIL];
    char *text = NULL;
    json_t *j = NULL;
    uint32_t len;
    json_int_t v;
    int rc = -1;
    memset(st, 0, sizeof *st);
    if (fstat(fd, &sb) != 0 || sb.st_size < STATE_TAIL || read_at(fd, tail, STATE_TAIL, sb.st_size - STATE_TAIL) != 0 ||
        memcmp(tail + 4, STATE_MAGIC, 8) != 0) {
        sv_err_set(err, SV_ECORRUPT, "chain state '%s' is damaged (no trailer)", path);
        goto done;
    }
    len = (uint32_t)tail[0] | (uint32_t)tail[1] << 8 | (uint32_t)tail[2] << 16 | (uint32_t)tail[3] << 24;
    if (len == 0 || len > STATE_MAX_HEADER || (off_t)len + STATE_TAIL > sb.st_size) {
        sv_err_set(err, SV_ECORRUPT, "chain state '%s' is damaged (header length %u)", path, len);
        goto done;
    }
    text = malloc(len + 1);
    if (!text) {
        sv_err_set(err, SV_ENOMEM, "out of memory");
        goto done;
    }
    if (read_at(fd, text, len, sb.st_size - STATE_TAIL - (off_t)len) != 0) {
        sv_err_set(err, SV_ECORRUPT, "chain state '%s' is unreadable: %s", path, strerror(errno));
        goto done;
    }
    text[len] = '\0';
    j = json_loads(text, 0, NULL);
    if (!j || json_integer_value(json_object_get(j, "version")) != 1 ||
        str_field(j, "workspace", st->workspace, sizeof st->workspace) != 0 ||
        str_field(j, "store", st->store_id, sizeof st->store_id) != 0 ||
        str_field(j, "head", st->head, sizeof st->head) != 0 ||
        str_field(j, "headType", st->head_type, sizeof st->head_type) != 0 ||
        str_field(j, "base", st->base, sizeof st->base) != 0 ||
        str_field(j, "stateChecksum", st->state_sum, sizeof st->state_sum) != 0 ||
        str_field(j, "fingerprint", st->fingerprint, sizeof st->fingerprint) != 0 ||
        !json_is_integer(json_object_get(j, "baseTime")) || !json_is_integer(json_object_get(j, "chainLength")) ||
        !json_is_integer(json_object_get(j, "pageSize")) || !json_is_integer(json_object_get(j, "pageCount"))) {
        sv_err_set(err, SV_ECORRUPT, "chain state '%s' is damaged (header)", path);
        goto done;
    }
    st->base_ms = json_integer_value(json_object_get(j, "baseTime"));
    v = json_integer_value(json_object_get(j, "chainLength"));
    st->chain_length = v >= 0 && v <= UINT32_MAX ? (uint32_t)v : 0;
    v = json_integer_value(json_object_get(j, "pageSize"));
    st->page_size = v > 0 && v <= 65536 ? (uint32_t)v : 0;
    /* checkedAt came later: a state without it was last proven at its base's
     * time at the latest (every backup of the chain proved its head), so it
     * is due for a re-proof no later than the base's age says. */
    if (json_object_get(j, "checkedAt") && !json_is_integer(json_object_get(j, "checkedAt"))) {
        sv_err_set(err, SV_ECORRUPT, "chain state '%s' is damaged (checkedAt)", path);
        goto done;
    }
    st->checked_ms = json_object_get(j, "checkedAt") ? json_integer_value(json_object_get(j, "checkedAt"))
                                                     : st->base_ms;
    v = json_integer_value(json_object_get(j, "pageCount"));
    st->page_count = v >= 0 && v <= UINT32_MAX ? (uint32_t)v : 0;
    if (!chain_page_size_ok(st->page_size) || v < 0 || v > UINT32_MAX ||
        (off_t)st->page_count * CHAIN_HASH_LEN + (off_t)len + STATE_TAIL != sb.st_size) {
        sv_err_set(err, SV_ECORRUPT, "chain state '%s' is damaged (its size does not match its page count)", path);
        goto done;
    }
    if (strcmp(st->workspace, ws) != 0) {
        sv_err_set(err, SV_ECORRUPT, "chain state '%s' belongs to workspace '%s'", path, st->workspace);
        goto done;
    }
    if (strcmp(st->store_id, store_id) != 0) {
        sv_err_set(err, SV_ECORRUPT, "chain state '%s' belongs to another store", path);
        goto done;
    }
    rc = 0;
done:
    json_decref(j);
    free(text);
    return rc;
}

/* Reads the header of the state at path. */
int chain_state_load(const char *path, const char *store_id, const char *ws, chain_state *st, sv_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    int rc;
    if (fd < 0) {
        if (errno == ENOENT) return sv_err_set(err, SV_ENOTFOUND, "no chain state at '%s'", path);
        return sv_err_set(err, SV_ECORRUPT, "chain state '%s' is unreadable: %s", path, strerror(errno));
    }
    rc = load_fd(fd, path, store_id, ws, st, err);
    close(fd);
    return rc;
}

struct chain_hashes {
    int fd;
    chain_state st;
    uint32_t next;           /* 0-based index of the next hash */
    unsigned char *buf;      /* HBUF bytes */
    size_t have, pos;
    chain_state_sum *sum;
};

/* Opens the hashes of the state at path; the header read must match st. */
int chain_hashes_open(const char *path, const chain_state *st, chain_hashes **out, sv_err *err)
{
    chain_hashes *h = calloc(1, sizeof *h);
    chain_state now;
    *out = NULL;
    if (!h) return sv_err_set(err, SV_ENOMEM, "out of memory");
    h->fd = open(path, O_RDONLY | O_CLOEXEC);
    h->buf = malloc(HBUF);
    h->sum = chain_state_sum_new();
    h->st = *st;
    if (!h->buf || !h->sum) {
        sv_err_set(err, SV_ENOMEM, "out of memory");
        goto fail;
    }
    if (h->fd < 0) {
        sv_err_set(err, SV_ECORRUPT, "chain state '%s' is unreadable: %s", path, strerror(errno));
        goto fail;
    }
    /* The file may have been replaced since st was read: it must be the same state. */
    if (load_fd(h->fd, path, st->store_id, st->workspace, &now, err) != 0) goto fail;
    if (strcmp(now.head, st->head) != 0 || strcmp(now.state_sum, st->state_sum) != 0) {
        sv_err_set(err, SV_ECORRUPT, "chain state '%s' changed while it was read", path);
        goto fail;
    }
    posix_fadvise(h->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    *out = h;
    return 0;
fail:
    chain_hashes_close(h);
    return -1;
}

/* The next hash, in page order. */
int chain_hashes_next(chain_hashes *h, unsigned char out[CHAIN_HASH_LEN], sv_err *err)
{
    if (h->next >= h->st.page_count) return 0;
    if (h->pos == h->have) {
        uint64_t left = (uint64_t)(h->st.page_count - h->next) * CHAIN_HASH_LEN;
        size_t want = left < HBUF ? (size_t)left : HBUF;
        if (read_at(h->fd, h->buf, want, (off_t)h->next * CHAIN_HASH_LEN) != 0)
            return sv_err_set(err, SV_ECORRUPT, "chain state of '%s' is unreadable (page %u)", h->st.workspace,
                              h->next + 1);
        h->have = want;
        h->pos = 0;
    }
    memcpy(out, h->buf + h->pos, CHAIN_HASH_LEN);
    chain_state_sum_hash(h->sum, out);
    h->pos += CHAIN_HASH_LEN;
    h->next++;
    return 1;
}

/* Reads the rest and compares the sum with the state's stateChecksum. */
int chain_hashes_verify(chain_hashes *h, sv_err *err)
{
    unsigned char x[CHAIN_HASH_LEN];
    char sum[72];
    int r;
    while ((r = chain_hashes_next(h, x, err)) == 1) {
    }
    if (r < 0) return -1;
    chain_state_sum_finish(h->sum, sum);
    h->sum = NULL;
    if (strcmp(sum, h->st.state_sum) != 0)
        return sv_err_set(err, SV_ECORRUPT, "chain state of '%s' is damaged: its hashes do not sum to %s's checksum",
                          h->st.workspace, h->st.head);
    return 0;
}

/* Closes the reader. */
void chain_hashes_close(chain_hashes *h)
{
    if (!h) return;
    if (h->fd >= 0) close(h->fd);
    chain_state_sum_free(h->sum);
    free(h->buf);
    free(h);
}

struct chain_state_writer {
    int fd, dirfd;
    char *dir;
    char *named;             /* no O_TMPFILE here: the temporary's name, removed unless committed */
    const sv_clock *clock;
    unsigned char *buf;      /* HBUF: pending writes, then the read window */
    size_t pending;          /* bytes of buf not yet written */
    uint32_t count;          /* hashes written */
    uint32_t win_first, win_n; /* the read window: hashes win_first.. (0-based) */
    unsigned char *rbuf;
};

/* A new writer: an unnamed file in state_dir. */
int chain_state_writer_new(const char *state_dir, const sv_clock *clock, chain_state_writer **out, sv_err *err)
{
    chain_state_writer *w = calloc(1, sizeof *w);
    *out = NULL;
    if (!w) return sv_err_set(err, SV_ENOMEM, "out of memory");
    w->fd = w->dirfd = -1;
    w->clock = clock;
    w->dir = sv_strdup(state_dir);
    w->buf = malloc(HBUF);
    w->rbuf = malloc(HBUF);
    if (!w->dir || !w->buf || !w->rbuf) {
        sv_err_set(err, SV_ENOMEM, "out of memory");
        goto fail;
    }
    if (sv_mkdirs(state_dir, err) != 0) goto fail;
    w->dirfd = open(state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    w->fd = open(state_dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (w->fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
        /* A file system without O_TMPFILE: a named temporary (a killed process
         * may leave it; it never shadows WS.state). */
        char id[33];
        sv_random_id(clock, id);
        w->named = sv_asprintf("%s/.state.tmp-%ld-%.12s", state_dir, (long)getpid(), id);
        if (!w->named) {
            sv_err_set(err, SV_ENOMEM, "out of memory");
            goto fail;
        }
        w->fd = open(w->named, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    }
    if (w->dirfd < 0 || w->fd < 0) {
        sv_err_set(err, errno == ENOSPC ? SV_ENOSPC : SV_EIO, "unable to write a chain state in '%s': %s", state_dir,
                   strerror(errno));
        sv_err_hint(err, "SQLVAULT_STATE_DIR must be a writable folder on a file system with O_TMPFILE (ext4, xfs, tmpfs, btrfs)");
        goto fail;
    }
    *out = w;
    return 0;
fail:
    chain_state_writer_free(w);
    return -1;
}

/* Writes the buffered hashes. */
static int flush_hashes(chain_state_writer *w, sv_err *err)
{
    if (w->pending && write_all(w->fd, w->buf, w->pending) != 0)
        return sv_err_set(err, errno == ENOSPC ? SV_ENOSPC : SV_EIO, "unable to write the chain state: %s",
                          strerror(errno));
    w->pending = 0;
    return 0;
}

/* Appends one page's hash. */
int chain_state_writer_hash(chain_state_writer *w, const unsigned char hash[CHAIN_HASH_LEN], sv_err *err)
{
    if (w->pending + CHAIN_HASH_LEN > HBUF && flush_hashes(w, err) != 0) return -1;
    memcpy(w->buf + w->pending, hash, CHAIN_HASH_LEN);
    w->pending += CHAIN_HASH_LEN;
    w->count++;
    w->win_n = 0; /* the read window may be stale */
    return 0;
}

/* Starts the hashes over. */
int chain_state_writer_reset(chain_state_writer *w, sv_err *err)
{
    w->pending = 0;
    w->count = 0;
    w->win_n = 0;
    if (ftruncate(w->fd, 0) != 0 || lseek(w->fd, 0, SEEK_SET) != 0)
        return sv_err_set(err, SV_EIO, "unable to reset the chain state: %s", strerror(errno));
    return 0;
}

/* The hash of page pgno, through a window of 4096 hashes (sequential reads
 * cost one pread per window). */
int chain_state_writer_read(chain_state_writer *w, uint32_t pgno, unsigned char out[CHAIN_HASH_LEN], sv_err *err)
{
    uint32_t i = pgno - 1;
    if (pgno == 0 || pgno > w->count) return sv_err_set(err, SV_EINTERNAL, "chain state: no hash for page %u", pgno);
    if (flush_hashes(w, err) != 0) return -1;
    if (i < w->win_first || i >= w->win_first + w->win_n) {
        uint32_t n = w->count - i < HBUF / CHAIN_HASH_LEN ? w->count - i : HBUF / CHAIN_HASH_LEN;
        if (read_at(w->fd, w->rbuf, (size_t)n * CHAIN_HASH_LEN, (off_t)i * CHAIN_HASH_LEN) != 0)
            return sv_err_set(err, SV_EIO, "unable to read the new chain state: %s", strerror(errno));
        w->win_first = i;
        w->win_n = n;
    }
    memcpy(out, w->rbuf + (size_t)(i - w->win_first) * CHAIN_HASH_LEN, CHAIN_HASH_LEN);
    return 0;
}

/* Writes the header, fsyncs, and replaces STATE_DIR/WS.state. */
int chain_state_writer_commit(chain_state_writer *w, const chain_state *st, sv_err *err)
{
    json_t *j = NULL;
    char *text = NULL, *final = NULL, *tmp = NULL, proc[64], id[33];
    unsigned char tail[STATE_TAIL];
    size_t len;
    int rc = -1;
    if (st->page_count != w->count) {
        sv_err_set(err, SV_EINTERNAL, "chain state: %u hashes for %u pages", w->count, st->page_count);
        goto done;
    }
    if (flush_hashes(w, err) != 0) goto done;
    j = json_pack("{s:i, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:s, s:I, s:I, s:s, s:I}", "version", 1, "workspace",
                  st->workspace, "store", st->store_id, "head", st->head, "headType", st->head_type, "base", st->base,
                  "baseTime", (json_int_t)st->base_ms, "chainLength", (json_int_t)st->chain_length, "stateChecksum",
                  st->state_sum, "pageSize", (json_int_t)st->page_size, "pageCount", (json_int_t)st->page_count,
                  "fingerprint", st->fingerprint, "checkedAt", (json_int_t)st->checked_ms);
    text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    final = chain_state_path(w->dir, st->workspace);
    sv_random_id(w->clock, id);
    tmp = sv_asprintf("%s/.%s.state.tmp-%.12s", w->dir, st->workspace, id);
    if (!text || !final || !tmp) {
        sv_err_set(err, SV_ENOMEM, "out of memory");
        goto done;
    }
    len = strlen(text);
    tail[0] = (unsigned char)len;
    tail[1] = (unsigned char)(len >> 8);
    tail[2] = (unsigned char)(len >> 16);
    tail[3] = (unsigned char)(len >> 24);
    memcpy(tail + 4, STATE_MAGIC, 8);
    if (write_all(w->fd, text, len) != 0 || write_all(w->fd, tail, sizeof tail) != 0 || fsync(w->fd) != 0) {
        sv_err_set(err, errno == ENOSPC ? SV_ENOSPC : SV_EIO, "unable to write the chain state: %s", strerror(errno));
        goto done;
    }
    if (w->named) {
        /* The named temporary is the file itself. */
        if (rename(w->named, final) != 0) {
            sv_err_set(err, SV_EIO, "unable to replace the chain state '%s': %s", final, strerror(errno));
            goto done;
        }
        free(w->named);
        w->named = NULL;
        fsync(w->dirfd);
        rc = 0;
        goto done;
    }
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", w->fd);
    if (linkat(AT_FDCWD, proc, AT_FDCWD, tmp, AT_SYMLINK_FOLLOW) != 0) {
        sv_err_set(err, SV_EIO, "unable to name the chain state '%s': %s", tmp, strerror(errno));
        goto done;
    }
    if (rename(tmp, final) != 0) {
        sv_err_set(err, SV_EIO, "unable to replace the chain state '%s': %s", final, strerror(errno));
        unlink(tmp);
        goto done;
    }
    fsync(w->dirfd);
    rc = 0;
done:
    json_decref(j);
    free(text);
    free(final);
    free(tmp);
    return rc;
}

/* A new header for the same hashes: they are copied in HBUF pieces into a
 * writer's unnamed file, whose commit replaces WS.state. Rewriting in place
 * would leave a torn state after a crash; the copy costs page_count * 16
 * bytes (16 MiB for a 4 GiB database of 4 KiB pages), once per
 * SQLVAULT_FULL_EVERY for an idle workspace. */
int chain_state_rewrite(const char *state_dir, const chain_state *st, const sv_clock *clock, sv_err *err)
{
    char *path = chain_state_path(state_dir, st->workspace);
    chain_state_writer *w = NULL;
    chain_state now;
    uint64_t total = (uint64_t)st->page_count * CHAIN_HASH_LEN;
    int fd = -1, rc = -1;
    if (!path) {
        sv_err_set(err, SV_ENOMEM, "out of memory");
        goto done;
    }
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        sv_err_set(err, errno == ENOENT ? SV_ENOTFOUND : SV_ECORRUPT, "chain state '%s' is unreadable: %s", path,
                   strerror(errno));
        goto done;
    }
    if (load_fd(fd, path, st->store_id, st->workspace, &now, err) != 0) goto done;
    if (strcmp(now.head, st->head) != 0 || strcmp(now.state_sum, st->state_sum) != 0 ||
        now.page_count != st->page_count) {
        sv_err_set(err, SV_ECORRUPT, "chain state '%s' changed since it was read", path);
        goto done;
    }
    if (chain_state_writer_new(state_dir, clock, &w, err) != 0) goto done;
    for (uint64_t off = 0; off < total;) {
        size_t n = total - off < HBUF ? (size_t)(total - off) : HBUF;
        if (read_at(fd, w->buf, n, (off_t)off) != 0) {
            sv_err_set(err, SV_ECORRUPT, "chain state '%s' is unreadable: %s", path, strerror(errno));
            goto done;
        }
        if (write_all(w->fd, w->buf, n) != 0) {
            sv_err_set(err, errno == ENOSPC ? SV_ENOSPC : SV_EIO, "unable to write the chain state: %s",
                       strerror(errno));
            goto done;
        }
        off += n;
    }
    w->count = st->page_count;
    rc = chain_state_writer_commit(w, st, err);
done:
    chain_state_writer_free(w);
    if (fd >= 0) close(fd);
    free(path);
    return rc;
}

/* Frees the writer; an uncommitted file vanishes with its descriptor. */
void chain_state_writer_free(chain_state_writer *w)
{
    if (!w) return;
    if (w->fd >= 0) close(w->fd);
    if (w->dirfd >= 0) close(w->dirfd);
    if (w->named) unlink(w->named);
    free(w->named);
    free(w->dir);
    free(w->buf);
    free(w->rbuf);
    free(w);
}
