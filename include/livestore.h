/* livestore.h -- LiveStore stores: recognising them and copying them
 * consistently although their writer takes no locks.
 *
 * A workspace is either the plan's single SQLite file DATA_DIR/WS/livestore.db
 * or a LiveStore store directory DATA_DIR/WS/ (LiveStore's node adapter with
 * baseDirectory = DATA_DIR, storeId = WS), which holds
 *   eventlog@N.db          every event: the source of truth
 *   state<hash>@N.db       the tables materialised from it, one per schema
 * Both are journal_mode=delete files that LiveStore's WASM SQLite writes
 * through a file layer whose locks do nothing. So this module never opens a
 * live store file with SQLite (SQLite would take an absent lock for a
 * protection, and may treat LiveStore's journal as hot and roll it back into
 * the live file): it reads the bytes with plain read() into copies of its
 * own, and keeps a copy only when it can prove the copy is one moment of the
 * store (livestore_copy_take). */
#ifndef SV_LIVESTORE_H
#define SV_LIVESTORE_H

#include <stdbool.h>
#include <stdint.h>
#include "clock.h"
#include "err.h"
#include "snapshot.h"

typedef enum { LS_SHAPE_NONE = 0, LS_SHAPE_FILE, LS_SHAPE_STORE } ls_shape;

/* What DATA_DIR/WS is: LS_SHAPE_FILE when livestore.db is there (the plan's
 * shape wins when both are present), LS_SHAPE_STORE when an eventlog@N.db
 * is, LS_SHAPE_NONE otherwise. */
ls_shape livestore_shape(const char *data_dir, const char *ws);

/* A store's files (heap basenames; the struct is the caller's, free with
 * livestore_files_free). */
typedef struct ls_files {
    char *eventlog;    /* eventlog@N.db with the highest N */
    char *state;       /* the current state file (below); NULL if none */
    int n_stale;       /* state files of other schemas, left out */
    int format;        /* N */
} ls_files;

/* Lists the store in dir. The current state file is the state*@N.db (same
 * N as the event log) modified last: LiveStore writes only the state file of
 * the schema it runs, and a schema change makes a new file while the old one
 * is never written again. SV_ENOTFOUND when there is no event log. */
int livestore_files(const char *dir, ls_files *out, sv_err *err);
void livestore_files_free(ls_files *f);

typedef struct ls_copy_opts {
    const sv_clock *clock;
    uint64_t max_size;       /* per file; SV_ETOOBIG past it */
    int max_tries;           /* optimistic tries before giving up (>= 1) */
    int64_t backoff_ms;      /* first pause between tries; doubles, jittered */
    int64_t backoff_max_ms;
    bool (*cancelled)(void *ud); /* may be NULL */
    void *ud;
} ls_copy_opts;

#define LS_MAX_FILES 2

typedef struct ls_copy {
    int n;                              /* files: the event log first, then the state file */
    char *name[LS_MAX_FILES];           /* basenames, heap */
    snapshot_info snap[LS_MAX_FILES];   /* copy mode: unlinked temporary copies */
    int tries;                          /* tries made, the kept one included */
    int journal_seen;                   /* tries refused because a journal existed */
    int changed;                        /* tries refused because a file changed */
    int unpaired;                       /* tries refused: state and event log at different events */
    int64_t eventlog_head;              /* highest seqNumGlobal in the copied event log (-1: empty) */
    int64_t state_head;                 /* highest event the copied state applied (-1: unknown) */
    int64_t events;                     /* rows in the copied event log */
    int n_stale;
    bool cold_journals;                 /* a cold -journal (zero header) lay next to a file: ignored */
} ls_copy;

/* Copies the store in dir optimistically (see livestore.c): a try is kept
 * only when no hot -journal (livestore.c) existed before or after it, every file's size and
 * change counter (header bytes 24-27) were the same before and after, the
 * copies pass integrity_check, and the state file has applied exactly the
 * event log's last event. Otherwise it tries again after a backoff, up to
 * o->max_tries; then SV_EBUSY, with out's counters filled (the caller may
 * quiesce the writer and call again). Copies go under tmp_dir. On success
 * out owns open copies; livestore_copy_release on every path. */
int livestore_copy_take(const char *dir, const char *tmp_dir, const ls_copy_opts *o, ls_copy *out, sv_err *err);
void livestore_copy_release(ls_copy *c);

/* Checks an event log file (a copy or an upload, never a live file): SQLite
 * header, integrity_check, the eventlog table's expected columns, and
 * seqNumGlobal gap-free from 1 (rebased client events aside). Fills events
 * and head when not NULL. SV_ECORRUPT with the reason otherwise. */
int livestore_check_eventlog(const char *path, int64_t *events, int64_t *head, sv_err *err);

/* True when the file at path looks like a LiveStore event log (has an
 * eventlog table). Opens it read-only and immutable: not for live files. */
bool livestore_is_eventlog(const char *path);

#endif
