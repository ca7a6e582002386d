/* livestore.c -- LiveStore stores: shape, file list, and the optimistic copy.
 *
 * Why a copy can be trusted without a lock. LiveStore's SQLite runs in
 * journal_mode=delete: a write transaction creates NAME-journal before it
 * changes NAME, writes pages, increments the file change counter (header
 * bytes 24-27) and deletes the journal at commit. One try here
 *   1. reads each file's size and header,           (h1)
 *   2. checks that no hot NAME-journal exists,      (j1)
 *   3. copies every file with read(),
 *   4. checks again that no journal exists,         (j2)
 *   5. reads each size and header again.            (h2)
 * If a transaction wrote NAME during the copy, its journal was hot (SQLite
 * writes the journal magic before the first database page) over an
 * interval that overlaps the copy; since neither j1 nor j2 saw it, the
 * interval lies wholly between them, so its commit bumped the change counter
 * between h1 and h2: the counters differ and the try is dropped. Equal
 * counters, equal sizes and no journal at j1 and j2 therefore mean no write
 * touched NAME while it was copied, and since every file's window covers the
 * whole try, all files are from one moment. The copies are then opened
 * (ours, never the live files) for integrity_check, and the state file's
 * last applied event (__livestore_session_changeset) must be the event log's
 * last event: LiveStore commits the state and the event log in two
 * transactions, and a moment between them is a real but unpaired moment.
 *
 * Never does this module open a live file with SQLite or for writing. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "livestore.h"
#include "util.h"

#define COPY_BUF (1024 * 1024)

/* True when path is a regular file. */
static bool is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* N from "eventlog@N.db" or "state...@N.db" (after prefix); -1 if the name does not fit. */
static int format_of(const char *name, const char *prefix)
{
    size_t pl = strlen(prefix), nl = strlen(name);
    const char *at;
    char *end;
    long n;
    if (strncmp(name, prefix, pl) != 0 || nl < pl + 5 || strcmp(name + nl - 3, ".db") != 0) return -1;
    at = strrchr(name, '@');
    if (!at || at < name + pl) return -1;
    n = strtol(at + 1, &end, 10);
    if (end == at + 1 || strcmp(end, ".db") != 0 || n < 0 || n > 1000000) return -1;
    if (strcmp(prefix, "eventlog") == 0 && at != name + pl) return -1;
    return (int)n;
}

/* See livestore.h. */
ls_shape livestore_shape(const char *data_dir, const char *ws)
{
    char *p = sv_asprintf("%s/%s/livestore.db", data_dir, ws);
    ls_shape s = LS_SHAPE_NONE;
    DIR *d;
    struct dirent *de;
    if (!p) return LS_SHAPE_NONE;
    if (is_file(p)) {
        free(p);
        return LS_SHAPE_FILE;
    }
    free(p);
    p = sv_asprintf("%s/%s", data_dir, ws);
    d = p ? opendir(p) : NULL;
    while (d && (de = readdir(d)) != NULL) {
        if (format_of(de->d_name, "eventlog") >= 0) {
            char *f = sv_asprintf("%s/%s", p, de->d_name);
            if (f && is_file(f)) s = LS_SHAPE_STORE;
            free(f);
            if (s) break;
        }
    }
    if (d) closedir(d);
    free(p);
    return s;
}

/* See livestore.h. */
void livestore_files_free(ls_files *f)
{
    if (!f) return;
    free(f->eventlog);
    free(f->state);
    memset(f, 0, sizeof *f);
}

/* See livestore.h. */
int livestore_files(const char *dir, ls_files *out, sv_err *err)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int best = -1, nstate = 0;
    int64_t state_mtime = 0;
    memset(out, 0, sizeof *out);
    if (!d) return sv_err_set(err, errno == ENOENT ? SV_ENOTFOUND : SV_EIO, "unable to list the store %s: %s", dir,
                              strerror(errno));
    /* pass 1: the event log with the highest format */
    while ((de = readdir(d)) != NULL) {
        int n = format_of(de->d_name, "eventlog");
        if (n > best) {
            char *f = sv_asprintf("%s/%s", dir, de->d_name);
            if (f && is_file(f)) {
                free(out->eventlog);
                out->eventlog = sv_strdup(de->d_name);
                best = n;
            }
            free(f);
        }
    }
    if (!out->eventlog) {
        closedir(d);
        return sv_err_set(err, SV_ENOTFOUND, "no LiveStore event log (eventlog@N.db) in %s", dir);
    }
    out->format = best;
    /* pass 2: state files of that format, the one modified last is current */
    rewinddir(d);
    while ((de = readdir(d)) != NULL) {
        struct stat st;
        char *f;
        if (format_of(de->d_name, "state") != best) continue;
        f = sv_asprintf("%s/%s", dir, de->d_name);
        if (f && stat(f, &st) == 0 && S_ISREG(st.st_mode)) {
            int64_t mt = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
            nstate++;
            if (!out->state || mt > state_mtime || (mt == state_mtime && strcmp(de->d_name, out->state) > 0)) {
                free(out->state);
                out->state = sv_strdup(de->d_name);
                state_mtime = mt;
            }
        }
        free(f);
    }
    closedir(d);
    out->n_stale = nstate > 0 ? nstate - 1 : 0;
    if (!out->eventlog || (nstate && !out->state)) {
        livestore_files_free(out);
        return sv_err_set(err, SV_ENOMEM, "out of memory");
    }
    return 0;
}

/* Big-endian u32 at p. */
static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* One file's size and header as seen at one instant. */
typedef struct probe {
    uint64_t size;
    uint32_t counter;
    unsigned char hdr[100];
    bool has_hdr;
} probe_t;

/* Reads fd's size and its 100-byte header. */
static int probe_fd(int fd, probe_t *p, sv_err *err)
{
    struct stat st;
    ssize_t n;
    memset(p, 0, sizeof *p);
    if (fstat(fd, &st) != 0) return sv_err_set(err, SV_EIO, "stat: %s", strerror(errno));
    p->size = (uint64_t)st.st_size;
    n = pread(fd, p->hdr, sizeof p->hdr, 0);
    if (n < 0) return sv_err_set(err, SV_EIO, "reading a header: %s", strerror(errno));
    p->has_hdr = n == (ssize_t)sizeof p->hdr;
    if (p->has_hdr) p->counter = be32(p->hdr + 24);
    return 0;
}

/* True when a journal that may hold a transaction in flight exists next to
 * path: a -wal file, or a -journal whose header carries the journal magic.
 * A -journal whose first 8 bytes are zero (or shorter than that) is cold:
 * SQLite writes the magic before it writes the first page into the database
 * (syncJournal), so no page of that transaction is in the file yet, and
 * SQLite itself ignores such a journal. LiveStore leaves cold journals behind
 * when it is killed, and never removes them; refusing them would fail every
 * backup of that store forever. *cold counts them. */
static bool journal_hot(const char *path, int *cold)
{
    static const unsigned char zero[8];
    unsigned char hdr[8];
    char buf[4096];
    struct stat st;
    int fd;
    ssize_t n;
    snprintf(buf, sizeof buf, "%s-wal", path);
    if (lstat(buf, &st) == 0) return true;
    snprintf(buf, sizeof buf, "%s-journal", path);
    fd = open(buf, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) return errno != ENOENT; /* unreadable: assume the worst */
    n = pread(fd, hdr, sizeof hdr, 0);
    close(fd);
    if (n < 0) return true;
    if (n < (ssize_t)sizeof hdr || memcmp(hdr, zero, sizeof hdr) == 0) {
        (*cold)++;
        return false;
    }
    return true;
}

/* Copies src_fd (from offset 0 to EOF) into a new temporary file under
 * tmp_dir. *tmp_path is the file's path (heap), *copied the bytes. */
static int copy_fd(int src_fd, const char *tmp_dir, uint64_t max_size, unsigned char *buf, char **tmp_path,
                   int *out_fd, uint64_t *copied, sv_err *err)
{
    char *path = sv_asprintf("%s/snap-ls-XXXXXX", tmp_dir);
    int fd = -1;
    uint64_t off = 0;
    *tmp_path = NULL;
    *out_fd = -1;
    *copied = 0;
    if (!path) return sv_err_set(err, SV_ENOMEM, "out of memory");
    fd = mkostemp(path, O_CLOEXEC);
    if (fd < 0) {
        sv_err_set(err, errno == ENOSPC ? SV_ENOSPC : SV_EIO, "unable to create a copy in %s: %s", tmp_dir,
                   strerror(errno));
        free(path);
        return -1;
    }
    for (;;) {
        ssize_t n = pread(src_fd, buf, COPY_BUF, (off_t)off);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            sv_err_set(err, SV_EIO, "reading a store file: %s", strerror(errno));
            goto fail;
        }
        if (n == 0) break;
        if (off + (uint64_t)n > max_size) {
            sv_err_set(err, SV_ETOOBIG, "a store file is larger than SQLVAULT_MAX_DB_SIZE");
            goto fail;
        }
        if (sv_write_all(fd, buf, (size_t)n) != 0) {
            sv_err_set(err, errno == ENOSPC ? SV_ENOSPC : SV_EIO, "writing a copy in %s: %s", tmp_dir,
                       strerror(errno));
            goto fail;
        }
        off += (uint64_t)n;
    }
    *tmp_path = path;
    *out_fd = fd;
    *copied = off;
    return 0;
fail:
    close(fd);
    unlink(path);
    free(path);
    return -1;
}

/* file:PATH?immutable=1 with the URI's special characters escaped. */
static char *immutable_uri(const char *path)
{
    size_t n = strlen(path);
    char *u = malloc(n * 3 + 32), *q = u;
    if (!u) return NULL;
    q += sprintf(q, "file:");
    for (const char *p = path; *p; p++) {
        if (*p == '%' || *p == '?' || *p == '#') q += sprintf(q, "%%%02X", (unsigned char)*p);
        else *q++ = *p;
    }
    strcpy(q, "?immutable=1");
    return u;
}

/* Opens a file that is not live (a copy, an upload) read-only and immutable:
 * SQLite neither locks it nor looks at a journal next to it. */
static int open_copy(const char *path, sqlite3 **db)
{
    char *uri = immutable_uri(path);
    int rc;
    *db = NULL;
    if (!uri) return SQLITE_NOMEM;
    rc = sqlite3_open_v2(uri, db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL);
    free(uri);
    return rc;
}

/* One integer from sql (NULL -> dflt); SQLite's rc. */
static int query_int(sqlite3 *db, const char *sql, int64_t dflt, int64_t *out)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    *out = dflt;
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (sqlite3_column_type(st, 0) != SQLITE_NULL) *out = sqlite3_column_int64(st, 0);
        rc = SQLITE_OK;
    } else if (rc == SQLITE_DONE) {
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    return rc;
}

/* integrity_check of an open copy: 0 when "ok". */
static int integrity(sqlite3 *db, const char *what, sv_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, "PRAGMA integrity_check(1)", -1, &st, NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *r = (const char *)sqlite3_column_text(st, 0);
        if (r && strcmp(r, "ok") == 0) {
            sqlite3_finalize(st);
            return 0;
        }
        sv_err_set(err, SV_ECORRUPT, "%s fails integrity_check: %.200s", what, r ? r : "?");
        sqlite3_finalize(st);
        return -1;
    }
    sqlite3_finalize(st);
    return sv_err_set(err, SV_ECORRUPT, "%s is not a readable SQLite database: %s", what, sqlite3_errstr(rc));
}

/* The columns LiveStore 0.4's eventlog table has (format 6). */
static const char *const EVENTLOG_COLS[] = {"seqNumGlobal", "seqNumClient", "seqNumRebaseGeneration",
                                            "parentSeqNumGlobal", "parentSeqNumClient", "name", "argsJson",
                                            "clientId", "sessionId"};

/* Checks an open event log (see livestore.h). */
static int check_eventlog_db(sqlite3 *db, const char *what, int64_t *events, int64_t *head, sv_err *err)
{
    int64_t n = 0, mx = 0, distinct = 0, mn = 0, badparent = 0;
    if (integrity(db, what, err) != 0) return -1;
    for (size_t i = 0; i < sizeof EVENTLOG_COLS / sizeof EVENTLOG_COLS[0]; i++) {
        char sql[160];
        int64_t has = 0;
        snprintf(sql, sizeof sql, "SELECT count(*) FROM pragma_table_info('eventlog') WHERE name='%s'",
                 EVENTLOG_COLS[i]);
        if (query_int(db, sql, 0, &has) != SQLITE_OK || !has) {
            sv_err_set(err, SV_ECORRUPT, "%s is not a LiveStore event log: no column eventlog.%s", what,
                       EVENTLOG_COLS[i]);
            return sv_err_hint(err, "upload the store's eventlog@N.db file");
        }
    }
    if (query_int(db, "SELECT count(*) FROM eventlog", 0, &n) != SQLITE_OK ||
        query_int(db, "SELECT max(seqNumGlobal) FROM eventlog WHERE seqNumClient=0", 0, &mx) != SQLITE_OK ||
        query_int(db, "SELECT min(seqNumGlobal) FROM eventlog WHERE seqNumClient=0", 0, &mn) != SQLITE_OK ||
        query_int(db, "SELECT count(DISTINCT seqNumGlobal) FROM eventlog WHERE seqNumClient=0", 0, &distinct) !=
            SQLITE_OK ||
        query_int(db,
                  "SELECT count(*) FROM eventlog a WHERE a.seqNumClient=0 AND a.seqNumGlobal>1 AND NOT EXISTS "
                  "(SELECT 1 FROM eventlog b WHERE b.seqNumClient=0 AND b.seqNumGlobal=a.parentSeqNumGlobal)",
                  0, &badparent) != SQLITE_OK)
        return sv_err_set(err, SV_ECORRUPT, "%s: reading the eventlog table: %s", what, sqlite3_errmsg(db));
    if (distinct && (mn != 1 || distinct != mx))
        return sv_err_set(err, SV_ECORRUPT, "%s: event sequence has gaps: %lld distinct events numbered %lld..%lld",
                          what, (long long)distinct, (long long)mn, (long long)mx);
    if (badparent)
        return sv_err_set(err, SV_ECORRUPT, "%s: %lld events name a parent that is not in the log", what,
                          (long long)badparent);
    if (events) *events = n;
    if (head) *head = distinct ? mx : 0;
    return 0;
}

/* See livestore.h. */
int livestore_check_eventlog(const char *path, int64_t *events, int64_t *head, sv_err *err)
{
    sqlite3 *db = NULL;
    int rc = open_copy(path, &db);
    if (rc != SQLITE_OK) {
        sv_err_set(err, SV_ECORRUPT, "unable to open %s: %s", path, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        sqlite3_close(db);
        return -1;
    }
    rc = check_eventlog_db(db, "the event log", events, head, err);
    sqlite3_close(db);
    return rc;
}

/* See livestore.h. */
bool livestore_is_eventlog(const char *path)
{
    sqlite3 *db = NULL;
    int64_t has = 0;
    if (open_copy(path, &db) == SQLITE_OK)
        query_int(db, "SELECT count(*) FROM sqlite_master WHERE type='table' AND name='eventlog'", 0, &has);
    sqlite3_close(db);
    return has > 0;
}

/* Fills a copy-mode snapshot_info from a copied header. */
static void fill_snap(snapshot_info *s, int fd, uint64_t size, const unsigned char *hdr)
{
    uint32_t ps = (uint32_t)hdr[16] << 8 | hdr[17];
    memset(s, 0, sizeof *s);
    s->fd = fd;
    s->size = size;
    s->page_size = ps == 1 ? 65536 : (int)ps;
    s->page_count = s->page_size ? (int64_t)(size / (uint64_t)s->page_size) : 0;
    snprintf(s->journal_mode, sizeof s->journal_mode, "delete");
}

/* Validates the copies of one try: integrity, the event log's shape and
 * sequence, and the pairing of state and event log. 1 = keep, 0 = unpaired
 * (try again), -1 = error (err). */
static int validate(char *const paths[], int n, ls_copy *out, sv_err *err)
{
    sqlite3 *db = NULL;
    int rc = open_copy(paths[0], &db), keep = -1;
    int64_t client = 0, sclient = 0;
    if (rc != SQLITE_OK) {
        sv_err_set(err, SV_ECORRUPT, "unable to open the event log copy: %s", sqlite3_errstr(rc));
        goto done;
    }
    if (check_eventlog_db(db, "the event log copy", &out->events, &out->eventlog_head, err) != 0) goto done;
    query_int(db,
              "SELECT seqNumClient FROM eventlog ORDER BY seqNumGlobal DESC, seqNumClient DESC LIMIT 1", 0,
              &client);
    if (out->events == 0) out->eventlog_head = -1;
    sqlite3_close(db);
    db = NULL;
    out->state_head = -1;
    if (n > 1) {
        int64_t has = 0, mx = -1;
        if (open_copy(paths[1], &db) != SQLITE_OK) {
            sv_err_set(err, SV_ECORRUPT, "unable to open the state copy");
            goto done;
        }
        if (integrity(db, "the state file copy", err) != 0) goto done;
        query_int(db,
                  "SELECT count(*) FROM sqlite_master WHERE type='table' AND name='__livestore_session_changeset'",
                  0, &has);
        if (has) {
            query_int(db, "SELECT max(seqNumGlobal) FROM __livestore_session_changeset", -1, &mx);
            if (mx >= 0)
                query_int(db,
                          "SELECT seqNumClient FROM __livestore_session_changeset WHERE seqNumGlobal = "
                          "(SELECT max(seqNumGlobal) FROM __livestore_session_changeset) "
                          "ORDER BY seqNumClient DESC LIMIT 1",
                          0, &sclient);
        }
        out->state_head = mx;
        /* An empty changeset table (a state just rebuilt) cannot be paired; LiveStore
         * applies and logs an event in one batch, so heads that differ are a moment
         * between its two commits. */
        if (mx >= 0 && (mx != out->eventlog_head || sclient != client)) {
            keep = 0;
            goto done;
        }
    }
    keep = 1;
done:
    sqlite3_close(db);
    return keep;
}

/* See livestore.h. */
void livestore_copy_release(ls_copy *c)
{
    if (!c) return;
    for (int i = 0; i < LS_MAX_FILES; i++) {
        snapshot_release(&c->snap[i]);
        free(c->name[i]);
        c->name[i] = NULL;
    }
    c->n = 0;
}

/* One try: 1 kept, 0 not consistent (counters in out), -1 error. */
static int one_try(const char *dir, const ls_files *fl, const char *tmp_dir, const ls_copy_opts *o,
                   unsigned char *buf, ls_copy *out, sv_err *err)
{
    const char *names[LS_MAX_FILES] = {fl->eventlog, fl->state};
    int n = fl->state ? 2 : 1, res = -1;
    char *paths[LS_MAX_FILES] = {0}, *tmp[LS_MAX_FILES] = {0};
    int src[LS_MAX_FILES] = {-1, -1}, dst[LS_MAX_FILES] = {-1, -1};
    probe_t before[LS_MAX_FILES], after[LS_MAX_FILES];
    uint64_t copied[LS_MAX_FILES] = {0};
    bool journal = false;
    int cold = 0;

    for (int i = 0; i < n; i++) {
        paths[i] = sv_asprintf("%s/%s", dir, names[i]);
        if (!paths[i]) {
            sv_err_set(err, SV_ENOMEM, "out of memory");
            goto done;
        }
        /* read-only, and never through SQLite: the live file is not ours */
        src[i] = open(paths[i], O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (src[i] < 0) {
            if (errno == ENOENT) { /* a state file replaced by a rebuild: list again */
                res = 0;
                out->changed++;
                goto done;
            }
            sv_err_set(err, SV_EIO, "unable to open %s read-only: %s", paths[i], strerror(errno));
            goto done;
        }
    }
    for (int i = 0; i < n; i++)
        if (probe_fd(src[i], &before[i], err) != 0) goto done;
    for (int i = 0; i < n; i++) journal = journal_hot(paths[i], &cold) || journal;
    if (journal) {
        out->journal_seen++;
        res = 0;
        goto done;
    }
    for (int i = 0; i < n; i++)
        if (copy_fd(src[i], tmp_dir, o->max_size, buf, &tmp[i], &dst[i], &copied[i], err) != 0) goto done;
    for (int i = 0; i < n; i++) journal = journal_hot(paths[i], &cold) || journal;
    for (int i = 0; i < n; i++)
        if (probe_fd(src[i], &after[i], err) != 0) goto done;
    if (journal) {
        out->journal_seen++;
        res = 0;
        goto done;
    }
    for (int i = 0; i < n; i++) {
        unsigned char hdr[100];
        bool same = before[i].has_hdr && after[i].has_hdr && before[i].size == after[i].size &&
                    before[i].counter == after[i].counter && copied[i] == before[i].size &&
                    pread(dst[i], hdr, sizeof hdr, 0) == (ssize_t)sizeof hdr && be32(hdr + 24) == before[i].counter;
        if (!same) {
            out->changed++;
            res = 0;
            goto done;
        }
    }
    {
        int v = validate(tmp, n, out, err);
        if (v < 0) goto done;
        if (v == 0) {
            out->unpaired++;
            res = 0;
            goto done;
        }
    }
    for (int i = 0; i < n; i++) {
        unsigned char hdr[100];
        if (pread(dst[i], hdr, sizeof hdr, 0) != (ssize_t)sizeof hdr) {
            sv_err_set(err, SV_EIO, "re-reading a copy: %s", strerror(errno));
            goto done;
        }
        fill_snap(&out->snap[i], dst[i], copied[i], hdr);
        lseek(dst[i], 0, SEEK_SET);
        dst[i] = -1;
        unlink(tmp[i]); /* open for reading; gone when closed */
        out->name[i] = sv_strdup(names[i]);
        if (!out->name[i]) {
            sv_err_set(err, SV_ENOMEM, "out of memory");
            goto done;
        }
    }
    out->n = n;
    out->cold_journals = cold > 0;
    res = 1;
done:
    for (int i = 0; i < LS_MAX_FILES; i++) {
        if (src[i] >= 0) close(src[i]);
        if (dst[i] >= 0) close(dst[i]);
        if (tmp[i]) unlink(tmp[i]);
        free(tmp[i]);
        free(paths[i]);
    }
    if (res < 0 || res == 0) livestore_copy_release(out);
    return res;
}

/* See livestore.h. */
int livestore_copy_take(const char *dir, const char *tmp_dir, const ls_copy_opts *o, ls_copy *out, sv_err *err)
{
    unsigned char *buf = NULL;
    int rc = -1, max = o->max_tries > 0 ? o->max_tries : 1;
    memset(out, 0, sizeof *out);
    for (int i = 0; i < LS_MAX_FILES; i++) out->snap[i].fd = -1;
    out->eventlog_head = out->state_head = -1;
    if (sv_mkdirs(tmp_dir, err) != 0) return -1;
    buf = malloc(COPY_BUF);
    if (!buf) return sv_err_set(err, SV_ENOMEM, "out of memory");
    while (out->tries < max) {
        ls_files fl;
        int r;
        if (o->cancelled && o->cancelled(o->ud)) {
            sv_err_set(err, SV_ECANCEL, "cancelled while copying the store");
            goto done;
        }
        if (out->tries > 0) sv_sleep_ms(o->clock, sv_backoff_ms(o->clock, out->tries - 1, o->backoff_ms, o->backoff_max_ms));
        if (livestore_files(dir, &fl, err) != 0) goto done;
        out->n_stale = fl.n_stale;
        out->tries++;
        r = one_try(dir, &fl, tmp_dir, o, buf, out, err);
        livestore_files_free(&fl);
        if (r < 0) goto done;
        if (r == 1) {
            rc = 0;
            goto done;
        }
    }
    sv_err_set(err, SV_EBUSY,
               "no consistent copy of the store in %d tries (%d saw a journal, %d saw a file change, %d caught the "
               "state and the event log at different events)",
               out->tries, out->journal_seen, out->changed, out->unpaired);
    if (out->journal_seen == out->tries)
        sv_err_hint(err, "a -journal file stayed next to the store's files: LiveStore is in a transaction, or "
                         "crashed in one (it rolls it back when it reopens the store); the live files were not "
                         "touched");
    else
        sv_err_hint(err, "the store is written too often for an optimistic copy: register onBackup in the Node "
                         "server so sqlvault can quiesce it");
done:
    free(buf);
    return rc;
}
