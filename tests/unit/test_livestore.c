/* test_livestore.c -- the livestore module: a workspace's shape, the current
 * state file, the optimistic copy of a quiet store, a journal that never goes
 * away (the copy gives up and the live files stay byte-for-byte as they
 * were), a state file at another event than the log (refused as unpaired),
 * and the event log checks (gaps, wrong table shape). The store files are
 * made with SQLite in LiveStore's layout; the concurrent cases run against
 * the real LiveStore in tests/it/livestore_*.sh. */
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>
#include "clock.h"
#include "livestore.h"
#include "testlib.h"
#include "util.h"

static char root[256];

/* Runs sql on a new (or existing) database file; 0 on success. */
static int exec_db(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    int rc = sqlite3_open(path, &db);
    if (rc == SQLITE_OK) rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    if (rc != SQLITE_OK) fprintf(stderr, "%s: %s\n", path, sqlite3_errmsg(db));
    sqlite3_close(db);
    return rc;
}

/* A store in root/ws with n events (state applied up to state_head). */
static void make_store(const char *ws, int n, int state_head)
{
    char dir[512], p[600], sql[2048];
    snprintf(dir, sizeof dir, "%s/%s", root, ws);
    mkdir(dir, 0755);
    snprintf(p, sizeof p, "%s/eventlog@6.db", dir);
    snprintf(sql, sizeof sql,
             "PRAGMA page_size=8192; PRAGMA journal_mode=delete;"
             "CREATE TABLE eventlog (seqNumGlobal integer not null, seqNumClient integer not null,"
             " seqNumRebaseGeneration integer not null, parentSeqNumGlobal integer not null,"
             " parentSeqNumClient integer not null, parentSeqNumRebaseGeneration integer not null,"
             " name text not null, argsJson text not null, clientId text not null, sessionId text not null,"
             " schemaHash integer not null, syncMetadataJson text not null,"
             " PRIMARY KEY (seqNumGlobal, seqNumClient, seqNumRebaseGeneration)) strict;"
             "WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM k WHERE i < %d)"
             " INSERT INTO eventlog SELECT i,0,0,i-1,0,0,'v1.ItemAdded','{}','c','s',1,'{}' FROM k;",
             n);
    CHECK_INT(exec_db(p, sql), 0);
    snprintf(p, sizeof p, "%s/state-1@6.db", dir);
    snprintf(sql, sizeof sql,
             "PRAGMA page_size=8192;"
             "CREATE TABLE __livestore_session_changeset (seqNumGlobal integer not null, seqNumClient integer"
             " not null, seqNumRebaseGeneration integer not null, changeset blob, debug text) strict;"
             "CREATE TABLE items (id text primary key, n integer) strict;"
             "WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM k WHERE i < %d)"
             " INSERT INTO __livestore_session_changeset SELECT i,0,0,NULL,NULL FROM k;",
             state_head);
    CHECK_INT(exec_db(p, sql), 0);
}

/* sha256 of a file, hex, into out[65] ("" if unreadable). */
static void file_sum(const char *path, char out[65])
{
    char cmd[700];
    FILE *f;
    snprintf(cmd, sizeof cmd, "sha256sum '%s' | cut -c1-64", path);
    out[0] = 0;
    f = popen(cmd, "r");
    if (f) {
        if (!fgets(out, 65, f)) out[0] = 0;
        pclose(f);
    }
}

int main(void)
{
    sv_fake_clock fc;
    sv_err err = {0};
    ls_files fl;
    ls_copy c;
    char dir[512], p[600], tmp[512];
    sv_fake_clock_init(&fc, 1700000000000, 42);
    snprintf(root, sizeof root, "/tmp/sv-test-livestore-%d", (int)getpid());
    CHECK_INT(sv_mkdirs(root, &err), 0);
    snprintf(tmp, sizeof tmp, "%s/.tmp", root);
    ls_copy_opts o = {.clock = &fc.clock, .max_size = 1 << 30, .max_tries = 4, .backoff_ms = 5, .backoff_max_ms = 50};

    /* shapes */
    make_store("st", 50, 50);
    snprintf(p, sizeof p, "%s/plain", root);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/plain/livestore.db", root);
    CHECK_INT(exec_db(p, "CREATE TABLE t(x)"), 0);
    snprintf(p, sizeof p, "%s/empty", root);
    mkdir(p, 0755);
    CHECK_INT(livestore_shape(root, "st"), LS_SHAPE_STORE);
    CHECK_INT(livestore_shape(root, "plain"), LS_SHAPE_FILE);
    CHECK_INT(livestore_shape(root, "empty"), LS_SHAPE_NONE);
    CHECK_INT(livestore_shape(root, "missing"), LS_SHAPE_NONE);

    /* the current state file is the one written last */
    snprintf(dir, sizeof dir, "%s/st", root);
    snprintf(p, sizeof p, "%s/state-2@6.db", dir);
    CHECK_INT(exec_db(p, "CREATE TABLE old(x)"), 0);
    {
        struct timeval tv[2] = {{1000000000, 0}, {1000000000, 0}};
        utimes(p, tv); /* the old schema's file: not written for a long time */
    }
    snprintf(p, sizeof p, "%s/state-3@5.db", dir); /* another storage format: never current */
    CHECK_INT(exec_db(p, "CREATE TABLE other(x)"), 0);
    CHECK_INT(livestore_files(dir, &fl, &err), 0);
    CHECK_STR(fl.eventlog, "eventlog@6.db");
    CHECK_STR(fl.state, "state-1@6.db");
    CHECK_INT(fl.n_stale, 1);
    CHECK_INT(fl.format, 6);
    livestore_files_free(&fl);
    CHECK_INT(livestore_files(root, &fl, &err), -1);
    CHECK_INT(err.code, SV_ENOTFOUND);

    /* a quiet store: first try, both files, paired at event 50 */
    CHECK_INT(livestore_copy_take(dir, tmp, &o, &c, &err), 0);
    CHECK_INT(c.n, 2);
    CHECK_INT(c.tries, 1);
    CHECK_STR(c.name[0], "eventlog@6.db");
    CHECK_STR(c.name[1], "state-1@6.db");
    CHECK_INT(c.eventlog_head, 50);
    CHECK_INT(c.state_head, 50);
    CHECK_INT(c.events, 50);
    CHECK_INT(c.snap[0].page_size, 8192);
    {
        struct stat st;
        snprintf(p, sizeof p, "%s/eventlog@6.db", dir);
        stat(p, &st);
        CHECK_INT(c.snap[0].size, st.st_size);
    }
    livestore_copy_release(&c);

    /* a journal that stays: every try refused, the live files untouched */
    {
        char sum_db[65], sum_j[65], after_db[65], after_j[65], jp[640];
        snprintf(p, sizeof p, "%s/eventlog@6.db", dir);
        snprintf(jp, sizeof jp, "%s-journal", p);
        FILE *f = fopen(jp, "w");
        fputs("a journal LiveStore left behind", f);
        fclose(f);
        file_sum(p, sum_db);
        file_sum(jp, sum_j);
        sv_err_clear(&err);
        CHECK_INT(livestore_copy_take(dir, tmp, &o, &c, &err), -1);
        CHECK_INT(err.code, SV_EBUSY);
        CHECK_INT(c.tries, 4);
        CHECK_INT(c.journal_seen, 4);
        CHECK(strstr(err.hint, "journal") != NULL);
        livestore_copy_release(&c);
        file_sum(p, after_db);
        file_sum(jp, after_j);
        CHECK_STR(after_db, sum_db);
        CHECK_STR(after_j, sum_j);
        unlink(jp);
    }

    /* state one event ahead of the log: a moment between LiveStore's two commits */
    make_store("ahead", 20, 21);
    snprintf(dir, sizeof dir, "%s/ahead", root);
    sv_err_clear(&err);
    CHECK_INT(livestore_copy_take(dir, tmp, &o, &c, &err), -1);
    CHECK_INT(err.code, SV_EBUSY);
    CHECK_INT(c.unpaired, 4);
    livestore_copy_release(&c);

    /* event log checks: a gap, and a table that is not LiveStore's */
    make_store("gap", 30, 30);
    snprintf(p, sizeof p, "%s/gap/eventlog@6.db", root);
    CHECK_INT(exec_db(p, "DELETE FROM eventlog WHERE seqNumGlobal = 7"), 0);
    sv_err_clear(&err);
    CHECK_INT(livestore_check_eventlog(p, NULL, NULL, &err), -1);
    CHECK_INT(err.code, SV_ECORRUPT);
    CHECK(strstr(err.msg, "gaps") != NULL);
    {
        int64_t ev = 0, head = 0;
        snprintf(p, sizeof p, "%s/st/eventlog@6.db", root);
        CHECK_INT(livestore_check_eventlog(p, &ev, &head, &err), 0);
        CHECK_INT(ev, 50);
        CHECK_INT(head, 50);
        CHECK(livestore_is_eventlog(p));
    }
    snprintf(p, sizeof p, "%s/plain/livestore.db", root);
    CHECK(!livestore_is_eventlog(p));
    sv_err_clear(&err);
    CHECK_INT(livestore_check_eventlog(p, NULL, NULL, &err), -1);
    CHECK(strstr(err.msg, "not a LiveStore event log") != NULL);

    {
        char cmd[300];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
        CHECK_INT(system(cmd), 0);
    }
    TEST_DONE();
}
