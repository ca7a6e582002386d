/* gen_livestore.c -- makes a LiveStore-like SQLite workspace for benchmarks.
 *
 *   gen_livestore PATH SIZE [--seed N]
 *
 * writes PATH (replacing it) with about SIZE bytes ("1GiB", "32MiB", "1048576"):
 * an event log of JSON events (taskCreated, taskUpdated, commentAdded, ...) and
 * the state tables those events project into (users, projects, tasks,
 * comments) with their indexes, the way a LiveStore server keeps one database
 * per workspace. Texts are drawn from a word list with a skewed distribution,
 * ids are nanoid-like random strings, timestamps increase, so the file
 * compresses about 4x under `zstd -3`, like real workspaces do.
 *
 * The output is deterministic: the same SIZE and seed give the same rows.
 * Generation is fast (journal off, synchronous off, big transactions, one
 * prepared statement per table); the file is switched to WAL mode at the end
 * and checkpointed, so it is left with an empty WAL like a quiet live
 * workspace. Prints one line: path, bytes, events, seconds. */
#include <sqlite3.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "err.h"
#include "util.h"

/* Tuning: share of description words that are rare tokens (the entropy knob). */
#define GEN_RARE_PCT 4
#define GEN_USERS 240
#define GEN_BATCH 20000

/* ------------------------------------------------------------------ prng */

typedef struct gen_rng {
    uint64_t s;
} gen_rng;

/* splitmix64: returns the next 64-bit value of the stream. */
static uint64_t gen_next(gen_rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Returns a uniform integer in [0, n). */
static uint32_t gen_below(gen_rng *r, uint32_t n)
{
    return (uint32_t)(((gen_next(r) >> 32) * (uint64_t)n) >> 32);
}

/* Returns a skewed index in [0, n): small indexes are much more likely. */
static uint32_t gen_skewed(gen_rng *r, uint32_t n)
{
    uint32_t a = gen_below(r, n), b = gen_below(r, n), c = gen_below(r, n);
    uint32_t m = a < b ? a : b;
    return m < c ? m : c;
}

/* Hash of (seed, kind, index), used to derive stable ids without storing them. */
static uint64_t gen_hash(uint64_t seed, uint64_t kind, uint64_t i)
{
    gen_rng r = {seed ^ (kind * 0xd1b54a32d192ed03ULL) ^ (i * 0x9e3779b97f4a7c15ULL)};
    gen_next(&r);
    return gen_next(&r);
}

/* ------------------------------------------------------------------ text */

static const char *const gen_words[] = {
    "the", "a", "to", "and", "of", "for", "in", "on", "with", "is", "this", "that", "we",
    "it", "be", "should", "can", "need", "add", "fix", "update", "remove", "check", "make",
    "sure", "when", "after", "before", "user", "users", "page", "button", "login", "error",
    "issue", "bug", "feature", "task", "project", "design", "review", "draft", "release",
    "build", "test", "tests", "deploy", "server", "client", "sync", "offline", "mobile",
    "web", "app", "api", "endpoint", "request", "response", "timeout", "retry", "cache",
    "database", "query", "index", "migration", "schema", "event", "events", "store", "state",
    "view", "list", "table", "filter", "sort", "search", "settings", "profile", "account",
    "email", "notification", "message", "comment", "thread", "reply", "mention", "team",
    "member", "invite", "role", "permission", "admin", "owner", "workspace", "board", "card",
    "column", "label", "tag", "priority", "status", "done", "todo", "blocked", "progress",
    "deadline", "sprint", "milestone", "roadmap", "quarter", "week", "today", "tomorrow",
    "monday", "friday", "meeting", "notes", "agenda", "customer", "feedback", "support",
    "ticket", "invoice", "payment", "billing", "plan", "upgrade", "onboarding", "docs",
    "guide", "copy", "text", "image", "upload", "download", "export", "import", "backup",
    "restore", "share", "link", "preview", "dark", "mode", "theme", "color", "font",
    "layout", "spacing", "modal", "dialog", "menu", "sidebar", "header", "footer", "icon",
    "performance", "slow", "fast", "memory", "leak", "crash", "freeze", "scroll", "render",
    "loading", "spinner", "empty", "placeholder", "validation", "form", "input", "field",
    "date", "time", "zone", "calendar", "reminder", "recurring", "draft", "archive",
    "delete", "undo", "redo", "keyboard", "shortcut", "drag", "drop", "resize", "browser",
    "safari", "chrome", "firefox", "android", "ios", "desktop", "tablet", "screen", "reader",
    "accessibility", "contrast", "translation", "locale", "german", "french", "spanish",
    "analytics", "tracking", "metrics", "dashboard", "chart", "report", "weekly", "monthly",
    "please", "thanks", "looks", "good", "agree", "not", "sure", "maybe", "later", "now",
    "asap", "blocked", "waiting", "on", "design", "spec", "approved", "merged", "shipped",
    "reverted", "flaky", "still", "again", "works", "broken", "for", "me", "too", "some",
    "all", "any", "every", "new", "old", "first", "last", "next", "small", "big", "quick",
    "minor", "major", "critical", "typo", "wording", "icon", "missing", "wrong", "duplicate",
};
#define GEN_NWORDS (sizeof gen_words / sizeof gen_words[0])

static const char *const gen_statuses[] = {"todo", "in_progress", "in_review", "done", "blocked"};
static const char *const gen_labels[] = {"bug", "feature", "design", "backend", "frontend",
                                         "mobile", "docs", "infra", "urgent", "customer"};

typedef struct gen_buf {
    char *p;
    size_t len, cap;
} gen_buf;

/* Appends n bytes to the buffer, growing it (aborts the run on OOM). */
static void gen_put(gen_buf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 4096;
        while (cap < b->len + n + 1) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            fprintf(stderr, "gen_livestore: out of memory\n");
            exit(1);
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

/* Appends a NUL-terminated string. */
static void gen_puts(gen_buf *b, const char *s) { gen_put(b, s, strlen(s)); }

/* Appends printf-formatted text. */
static void gen_printf(gen_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void gen_printf(gen_buf *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0) gen_put(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* Writes a nanoid-like id (prefix + 16 url-safe chars) derived from a hash. */
static void gen_id(char out[32], const char *prefix, uint64_t h)
{
    static const char al[] = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_-";
    size_t n = strlen(prefix);
    memcpy(out, prefix, n);
    uint64_t h2 = h * 0x9e3779b97f4a7c15ULL + 1;
    for (int i = 0; i < 16; i++) {
        uint64_t src = i < 10 ? h : h2;
        out[n + i] = al[(src >> ((i % 10) * 6)) & 63];
    }
    out[n + 16] = '\0';
}

/* Appends nw words of prose; a share of them are rare tokens (misspellings,
 * numbers, code-ish identifiers) that keep the text from compressing too well. */
static void gen_words_put(gen_buf *b, gen_rng *r, int nw)
{
    for (int i = 0; i < nw; i++) {
        if (i) gen_put(b, " ", 1);
        uint32_t roll = gen_below(r, 100);
        if (roll < GEN_RARE_PCT) {
            char tok[24];
            static const char al[] = "abcdefghijklmnopqrstuvwxyz0123456789";
            int len = 3 + (int)gen_below(r, 7);
            for (int k = 0; k < len; k++) tok[k] = al[gen_below(r, 36)];
            gen_put(b, tok, (size_t)len);
        } else {
            gen_puts(b, gen_words[gen_skewed(r, GEN_NWORDS)]);
        }
    }
}

/* ------------------------------------------------------------------ model */

typedef struct gen {
    sqlite3 *db;
    sqlite3_stmt *ins_event, *ins_user, *ins_project, *ins_task, *upd_task, *upd_status,
        *ins_comment;
    gen_rng rng;
    uint64_t seed;
    int64_t now_ms;     /* event clock */
    uint64_t seq;       /* events written */
    uint64_t nprojects; /* projects created */
    uint64_t ntasks;    /* tasks created */
    uint64_t ncomments; /* comments created */
    gen_buf args, title, body;
    char client[32], session[32];
} gen;

/* Runs one SQL statement, exiting with the message on failure. */
static void gen_exec(gen *g, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(g->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        fprintf(stderr, "gen_livestore: %s: %s\n", sql, msg ? msg : "?");
        exit(1);
    }
}

/* Prepares a statement, exiting on failure. */
static sqlite3_stmt *gen_prepare(gen *g, const char *sql)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(g->db, sql, -1, &st, NULL) != SQLITE_OK) {
        fprintf(stderr, "gen_livestore: %s: %s\n", sql, sqlite3_errmsg(g->db));
        exit(1);
    }
    return st;
}

/* Steps a bound statement to completion and resets it, exiting on failure. */
static void gen_step(gen *g, sqlite3_stmt *st)
{
    if (sqlite3_step(st) != SQLITE_DONE) {
        fprintf(stderr, "gen_livestore: step: %s\n", sqlite3_errmsg(g->db));
        exit(1);
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

/* Binds a text parameter (copied). */
static void gen_bind_text(sqlite3_stmt *st, int i, const char *s)
{
    sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
}

/* Returns a user id string for user index u. */
static void gen_user_id(gen *g, uint32_t u, char out[32]) { gen_id(out, "usr_", gen_hash(g->seed, 1, u)); }

/* Appends an event row (the log) with the JSON args built in g->args. */
static void gen_event(gen *g, const char *name)
{
    char iso[SV_ISO_LEN];
    g->seq++;
    sv_iso_format(g->now_ms, iso);
    sqlite3_stmt *st = g->ins_event;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)g->seq);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)(g->seq - 1));
    gen_bind_text(st, 3, name);
    gen_bind_text(st, 4, g->args.p);
    gen_bind_text(st, 5, g->client);
    gen_bind_text(st, 6, g->session);
    sqlite3_bind_int64(st, 7, g->now_ms);
    gen_step(g, st);
}

/* Creates the schema: event log, state tables, indexes. */
static void gen_schema(gen *g)
{
    gen_exec(g,
             "CREATE TABLE eventlog (id INTEGER PRIMARY KEY, seq INTEGER NOT NULL, "
             "parent_seq INTEGER NOT NULL, name TEXT NOT NULL, args_json TEXT NOT NULL, "
             "client_id TEXT NOT NULL, session_id TEXT NOT NULL, created_at INTEGER NOT NULL);"
             "CREATE UNIQUE INDEX eventlog_seq ON eventlog(seq);"
             "CREATE TABLE users (id TEXT PRIMARY KEY, name TEXT NOT NULL, email TEXT NOT NULL, "
             "created_at TEXT NOT NULL);"
             "CREATE TABLE projects (id TEXT PRIMARY KEY, name TEXT NOT NULL, owner_id TEXT NOT NULL, "
             "color TEXT NOT NULL, created_at TEXT NOT NULL, archived INTEGER NOT NULL DEFAULT 0);"
             "CREATE TABLE tasks (id TEXT PRIMARY KEY, project_id TEXT NOT NULL, title TEXT NOT NULL, "
             "description TEXT NOT NULL, status TEXT NOT NULL, priority INTEGER NOT NULL, "
             "assignee_id TEXT, labels TEXT NOT NULL, estimate INTEGER, created_at TEXT NOT NULL, "
             "updated_at TEXT NOT NULL);"
             "CREATE INDEX tasks_project ON tasks(project_id, status);"
             "CREATE INDEX tasks_assignee ON tasks(assignee_id, status);"
             "CREATE TABLE comments (id TEXT PRIMARY KEY, task_id TEXT NOT NULL, author_id TEXT NOT NULL, "
             "body TEXT NOT NULL, created_at TEXT NOT NULL);"
             "CREATE INDEX comments_task ON comments(task_id, created_at);"
             "CREATE TABLE livestore_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);");
    g->ins_event = gen_prepare(g, "INSERT INTO eventlog (seq, parent_seq, name, args_json, client_id, "
                                  "session_id, created_at) VALUES (?,?,?,?,?,?,?)");
    g->ins_user = gen_prepare(g, "INSERT INTO users VALUES (?,?,?,?)");
    g->ins_project = gen_prepare(g, "INSERT INTO projects VALUES (?,?,?,?,?,0)");
    g->ins_task = gen_prepare(g, "INSERT INTO tasks VALUES (?,?,?,?,?,?,?,?,?,?,?)");
    g->upd_task = gen_prepare(g, "UPDATE tasks SET title = ?2, description = ?3, updated_at = ?4 "
                                 "WHERE id = ?1");
    g->upd_status = gen_prepare(g, "UPDATE tasks SET status = ?2, assignee_id = ?3, updated_at = ?4 "
                                   "WHERE id = ?1");
    g->ins_comment = gen_prepare(g, "INSERT INTO comments VALUES (?,?,?,?,?)");
}

/* Event: userJoined (the workspace's members, created first). */
static void gen_user(gen *g, uint32_t u)
{
    char id[32], iso[SV_ISO_LEN], name[64], email[96];
    gen_user_id(g, u, id);
    sv_iso_format(g->now_ms, iso);
    snprintf(name, sizeof name, "%s %s%u", gen_words[gen_below(&g->rng, GEN_NWORDS)],
             gen_words[gen_below(&g->rng, GEN_NWORDS)], u);
    snprintf(email, sizeof email, "user%u@example.com", u);
    g->args.len = 0;
    gen_printf(&g->args, "{\"id\":\"%s\",\"name\":\"%s\",\"email\":\"%s\",\"joinedAt\":\"%s\"}", id,
               name, email, iso);
    gen_event(g, "v1.UserJoined");
    gen_bind_text(g->ins_user, 1, id);
    gen_bind_text(g->ins_user, 2, name);
    gen_bind_text(g->ins_user, 3, email);
    gen_bind_text(g->ins_user, 4, iso);
    gen_step(g, g->ins_user);
}

/* Event: projectCreated. */
static void gen_project(gen *g)
{
    char id[32], owner[32], iso[SV_ISO_LEN], color[8];
    uint64_t p = g->nprojects++;
    gen_id(id, "prj_", gen_hash(g->seed, 2, p));
    gen_user_id(g, gen_skewed(&g->rng, GEN_USERS), owner);
    sv_iso_format(g->now_ms, iso);
    snprintf(color, sizeof color, "#%06x", (unsigned)gen_below(&g->rng, 0xffffff));
    g->title.len = 0;
    gen_words_put(&g->title, &g->rng, 2 + (int)gen_below(&g->rng, 3));
    g->args.len = 0;
    gen_printf(&g->args, "{\"id\":\"%s\",\"name\":\"%s\",\"ownerId\":\"%s\",\"color\":\"%s\",\"createdAt\":\"%s\"}",
               id, g->title.p, owner, color, iso);
    gen_event(g, "v1.ProjectCreated");
    gen_bind_text(g->ins_project, 1, id);
    gen_bind_text(g->ins_project, 2, g->title.p);
    gen_bind_text(g->ins_project, 3, owner);
    gen_bind_text(g->ins_project, 4, color);
    gen_bind_text(g->ins_project, 5, iso);
    gen_step(g, g->ins_project);
}

/* Picks an existing task, recent ones more likely; writes its id. */
static void gen_pick_task(gen *g, char out[32])
{
    uint64_t t = g->ntasks - 1 - gen_skewed(&g->rng, (uint32_t)(g->ntasks < 5000 ? g->ntasks : 5000));
    if (gen_below(&g->rng, 10) == 0) t = gen_below(&g->rng, (uint32_t)g->ntasks);
    gen_id(out, "tsk_", gen_hash(g->seed, 3, t));
}

/* Event: taskCreated. */
static void gen_task(gen *g)
{
    char id[32], prj[32], who[32], by[32], iso[SV_ISO_LEN], labels[96];
    uint64_t t = g->ntasks++;
    gen_id(id, "tsk_", gen_hash(g->seed, 3, t));
    gen_id(prj, "prj_", gen_hash(g->seed, 2, g->nprojects - 1 - gen_skewed(&g->rng, (uint32_t)g->nprojects)));
    gen_user_id(g, gen_skewed(&g->rng, GEN_USERS), who);
    gen_user_id(g, gen_skewed(&g->rng, GEN_USERS), by);
    sv_iso_format(g->now_ms, iso);
    snprintf(labels, sizeof labels, "[\"%s\",\"%s\"]", gen_labels[gen_below(&g->rng, 10)],
             gen_labels[gen_below(&g->rng, 10)]);
    int prio = (int)gen_below(&g->rng, 4);
    int est = 1 + (int)gen_below(&g->rng, 13);
    g->title.len = 0;
    gen_words_put(&g->title, &g->rng, 3 + (int)gen_below(&g->rng, 6));
    g->body.len = 0;
    gen_words_put(&g->body, &g->rng, 8 + (int)gen_below(&g->rng, 40));
    g->args.len = 0;
    gen_printf(&g->args, "{\"id\":\"%s\",\"projectId\":\"%s\",\"title\":\"", id, prj);
    gen_puts(&g->args, g->title.p);
    gen_puts(&g->args, "\",\"description\":\"");
    gen_puts(&g->args, g->body.p);
    gen_printf(&g->args, "\",\"status\":\"todo\",\"priority\":%d,\"assigneeId\":\"%s\",\"labels\":%s,"
                         "\"estimate\":%d,\"createdBy\":\"%s\",\"createdAt\":\"%s\"}",
               prio, who, labels, est, by, iso);
    gen_event(g, "v1.TaskCreated");
    sqlite3_stmt *st = g->ins_task;
    gen_bind_text(st, 1, id);
    gen_bind_text(st, 2, prj);
    gen_bind_text(st, 3, g->title.p);
    gen_bind_text(st, 4, g->body.p);
    gen_bind_text(st, 5, "todo");
    sqlite3_bind_int(st, 6, prio);
    gen_bind_text(st, 7, who);
    gen_bind_text(st, 8, labels);
    sqlite3_bind_int(st, 9, est);
    gen_bind_text(st, 10, iso);
    gen_bind_text(st, 11, iso);
    gen_step(g, st);
}

/* Event: taskUpdated (title and description edited). */
static void gen_task_update(gen *g)
{
    char id[32], by[32], iso[SV_ISO_LEN];
    gen_pick_task(g, id);
    gen_user_id(g, gen_skewed(&g->rng, GEN_USERS), by);
    sv_iso_format(g->now_ms, iso);
    g->title.len = 0;
    gen_words_put(&g->title, &g->rng, 3 + (int)gen_below(&g->rng, 6));
    g->body.len = 0;
    gen_words_put(&g->body, &g->rng, 8 + (int)gen_below(&g->rng, 40));
    g->args.len = 0;
    gen_printf(&g->args, "{\"id\":\"%s\",\"title\":\"", id);
    gen_puts(&g->args, g->title.p);
    gen_puts(&g->args, "\",\"description\":\"");
    gen_puts(&g->args, g->body.p);
    gen_printf(&g->args, "\",\"updatedBy\":\"%s\",\"updatedAt\":\"%s\"}", by, iso);
    gen_event(g, "v1.TaskUpdated");
    gen_bind_text(g->upd_task, 1, id);
    gen_bind_text(g->upd_task, 2, g->title.p);
    gen_bind_text(g->upd_task, 3, g->body.p);
    gen_bind_text(g->upd_task, 4, iso);
    gen_step(g, g->upd_task);
}

/* Event: taskStatusChanged (status and assignee). */
static void gen_task_status(gen *g)
{
    char id[32], who[32], iso[SV_ISO_LEN];
    gen_pick_task(g, id);
    gen_user_id(g, gen_skewed(&g->rng, GEN_USERS), who);
    sv_iso_format(g->now_ms, iso);
    const char *status = gen_statuses[gen_below(&g->rng, 5)];
    g->args.len = 0;
    gen_printf(&g->args, "{\"id\":\"%s\",\"status\":\"%s\",\"assigneeId\":\"%s\",\"changedAt\":\"%s\"}",
               id, status, who, iso);
    gen_event(g, "v1.TaskStatusChanged");
    gen_bind_text(g->upd_status, 1, id);
    gen_bind_text(g->upd_status, 2, status);
    gen_bind_text(g->upd_status, 3, who);
    gen_bind_text(g->upd_status, 4, iso);
    gen_step(g, g->upd_status);
}

/* Event: commentAdded. */
static void gen_comment(gen *g)
{
    char id[32], task[32], who[32], iso[SV_ISO_LEN];
    gen_id(id, "cmt_", gen_hash(g->seed, 4, g->ncomments++));
    gen_pick_task(g, task);
    gen_user_id(g, gen_skewed(&g->rng, GEN_USERS), who);
    sv_iso_format(g->now_ms, iso);
    g->body.len = 0;
    gen_words_put(&g->body, &g->rng, 4 + (int)gen_below(&g->rng, 50));
    g->args.len = 0;
    gen_printf(&g->args, "{\"id\":\"%s\",\"taskId\":\"%s\",\"authorId\":\"%s\",\"body\":\"", id, task, who);
    gen_puts(&g->args, g->body.p);
    gen_printf(&g->args, "\",\"createdAt\":\"%s\"}", iso);
    gen_event(g, "v1.CommentAdded");
    gen_bind_text(g->ins_comment, 1, id);
    gen_bind_text(g->ins_comment, 2, task);
    gen_bind_text(g->ins_comment, 3, who);
    gen_bind_text(g->ins_comment, 4, g->body.p);
    gen_bind_text(g->ins_comment, 5, iso);
    gen_step(g, g->ins_comment);
}

/* Writes one random event, advancing the clock. */
static void gen_one(gen *g)
{
    g->now_ms += 200 + gen_below(&g->rng, 20000);
    if (gen_below(&g->rng, 40) == 0) {
        /* a new client session now and then */
        gen_id(g->session, "ses_", gen_next(&g->rng));
        if (gen_below(&g->rng, 4) == 0) gen_id(g->client, "cli_", gen_next(&g->rng));
    }
    uint32_t roll = gen_below(&g->rng, 1000);
    if (roll < 4 || g->nprojects == 0) gen_project(g);
    else if (roll < 300 || g->ntasks == 0) gen_task(g);
    else if (roll < 480) gen_task_update(g);
    else if (roll < 700) gen_task_status(g);
    else gen_comment(g);
}

/* Returns the database's current size in bytes (page_count * page_size). */
static int64_t gen_db_size(gen *g)
{
    sqlite3_stmt *st = gen_prepare(g, "SELECT page_count * page_size FROM pragma_page_count, pragma_page_size");
    int64_t n = 0;
    if (sqlite3_step(st) == SQLITE_ROW) n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}

/* Parses arguments, generates the database, prints a summary line. */
int main(int argc, char **argv)
{
    gen g;
    memset(&g, 0, sizeof g);
    g.seed = 42;
    const char *path = NULL, *size_s = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc) g.seed = strtoull(argv[++i], NULL, 10);
        else if (!path) path = argv[i];
        else if (!size_s) size_s = argv[i];
        else size_s = NULL, path = NULL, i = argc;
    }
    if (!path || !size_s) {
        fprintf(stderr, "usage: gen_livestore PATH SIZE [--seed N]   (SIZE like 1GiB, 32MiB)\n");
        return 2;
    }
    uint64_t target;
    sv_err err = {0};
    if (sv_parse_size(size_s, &target, &err) != 0) {
        fprintf(stderr, "gen_livestore: %s\n", err.msg);
        return 2;
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    char aux[4096];
    unlink(path);
    snprintf(aux, sizeof aux, "%s-wal", path);
    unlink(aux);
    snprintf(aux, sizeof aux, "%s-shm", path);
    unlink(aux);
    snprintf(aux, sizeof aux, "%s-journal", path);
    unlink(aux);
    if (sqlite3_open(path, &g.db) != SQLITE_OK) {
        fprintf(stderr, "gen_livestore: cannot open %s: %s\n", path, sqlite3_errmsg(g.db));
        return 1;
    }
    gen_exec(&g, "PRAGMA page_size=4096; PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;"
                 "PRAGMA cache_size=-262144; PRAGMA temp_store=MEMORY;");
    g.rng.s = g.seed;
    g.now_ms = 1735689600000LL; /* 2025-01-01T00:00:00Z */
    gen_id(g.client, "cli_", gen_next(&g.rng));
    gen_id(g.session, "ses_", gen_next(&g.rng));
    gen_schema(&g);
    gen_exec(&g, "BEGIN");
    for (uint32_t u = 0; u < GEN_USERS; u++) gen_user(&g, u);
    /* batches sized from the bytes per event so far, so small targets
     * (1 MiB) stop close to SIZE and big ones run in big transactions */
    int64_t size = gen_db_size(&g);
    while ((uint64_t)size < target) {
        uint64_t per = g.seq > 500 ? (uint64_t)size / g.seq + 1 : 400;
        uint64_t n = (target - (uint64_t)size) / per / 2 + 50;
        if (n > GEN_BATCH) n = GEN_BATCH;
        for (uint64_t i = 0; i < n; i++) gen_one(&g);
        size = gen_db_size(&g);
    }
    char meta[160];
    snprintf(meta, sizeof meta,
             "INSERT INTO livestore_meta VALUES ('seed','%llu'),('events','%llu'),('schemaHash','%016llx')",
             (unsigned long long)g.seed, (unsigned long long)g.seq,
             (unsigned long long)gen_hash(g.seed, 9, 9));
    gen_exec(&g, meta);
    gen_exec(&g, "COMMIT");
    sqlite3_finalize(g.ins_event);
    sqlite3_finalize(g.ins_user);
    sqlite3_finalize(g.ins_project);
    sqlite3_finalize(g.ins_task);
    sqlite3_finalize(g.upd_task);
    sqlite3_finalize(g.upd_status);
    sqlite3_finalize(g.ins_comment);
    gen_exec(&g, "PRAGMA journal_mode=WAL; PRAGMA wal_checkpoint(TRUNCATE);");
    size = gen_db_size(&g);
    if (sqlite3_close(g.db) != SQLITE_OK) {
        fprintf(stderr, "gen_livestore: close: %s\n", sqlite3_errmsg(g.db));
        return 1;
    }
    free(g.args.p);
    free(g.title.p);
    free(g.body.p);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("%s %lld bytes, %llu events, %llu tasks, %llu comments, %.1f s\n", path, (long long)size,
           (unsigned long long)g.seq, (unsigned long long)g.ntasks, (unsigned long long)g.ncomments, secs);
    return 0;
}
