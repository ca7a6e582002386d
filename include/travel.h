/* travel.h -- time travel without restoring (issue 25): a point of a
 * workspace's backups read in place, page by page.
 *
 * travel_open resolves a point (latest, a backup's folder time, or an ISO
 * time: the newest backup at or before it) to its chain (base first),
 * reads each member's metadata.json, and each member's page index with one
 * range GET (seek.h), proven by its checksum. travel_read then gives any
 * page of the point's database: the newest link holding it, else the base,
 * one zstd frame fetched with one range GET (through the encryption's
 * chunks when the backup is sealed), checked by zstd's content checksum,
 * kept in a bounded cache (SQLVAULT_QUERY_CACHE). Nothing is written
 * anywhere; memory is the cache plus the links' page numbers.
 *
 * Hostile or damaged backups are refused with SV_ECORRUPT naming the backup
 * and what is wrong (metadata, index, frame); backups older than the
 * page-addressable format are refused with a hint (SV_ENOTSUP). */
#ifndef SV_TRAVEL_H
#define SV_TRAVEL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include "clock.h"
#include "config.h"
#include "err.h"
#include "seek.h"
#include "store.h"

typedef struct travel_point travel_point;

typedef struct travel_opts {
    const sv_config *cfg;
    const sv_clock *clock;
    store_t *store;     /* borrowed, used by the calling thread only */
    const char *ws;
    const char *at;     /* latest | 20260115T103000.000Z | 2026-01-15T10:30:00Z */
    bool exact;         /* a folder time names only that backup */
    const char *file;   /* a LiveStore store backup's file ("eventlog", "state" or a file name); NULL: the first */
    uint64_t cache;     /* bytes of decompressed frames kept; 0: the configuration's */
} travel_opts;

int travel_open(const travel_opts *o, travel_point **out, sv_err *err);
void travel_close(travel_point *p); /* NULL is a no-op */

uint32_t travel_page_size(const travel_point *p);
uint32_t travel_page_count(const travel_point *p);
const char *travel_ts(const travel_point *p);        /* the point's backup folder */
const char *travel_base(const travel_point *p);      /* its chain's full */
json_t *travel_meta(const travel_point *p);          /* its metadata.json (borrowed) */
size_t travel_chain_length(const travel_point *p);   /* links after the base */
/* The files of the point's backup (a LiveStore store's: more than one). */
json_t *travel_files(const travel_point *p);         /* borrowed: metadata.json "files" */

/* Page pgno (1..page count) into page (page size bytes). */
int travel_read(travel_point *p, uint32_t pgno, void *page, sv_err *err);

/* What was fetched from the store since travel_open (requests, bytes). */
void travel_counters(const travel_point *p, uint64_t *requests, uint64_t *bytes);

/* The point's page hash prefixes (seek.h) in page order, 1..page count,
 * streamed: the base's, overridden by each link's (delta restore). */
typedef int (*travel_hash_fn)(void *ud, uint32_t pgno, const unsigned char hash[SEEK_HASH_LEN], sv_err *err);
int travel_hashes(travel_point *p, travel_hash_fn fn, void *ud, sv_err *err);

/* The frames holding pages: fetches the page's frame into the cache (no copy)
 * -- the same as travel_read without the page. */
int travel_prefetch(travel_point *p, uint32_t pgno, sv_err *err);

/* ---- the read-only SQLite VFS over a point (vfs.c) ---------------------- */

typedef struct sqlite3 sqlite3;
/* Opens the point as a read-only SQLite database (its own VFS, registered
 * once per process as "sqlvault-point"), hardened for untrusted content:
 * query_only, no triggers or views from the schema run with authority
 * (trusted_schema off, defensive), bounded by the limits restore uses. The
 * point must outlive the connection. */
int travel_sqlite_open(travel_point *p, sqlite3 **db, sv_err *err);
/* Opens an open file descriptor (an unlinked snapshot copy, which SQLite's
 * own VFS cannot open as /proc/self/fd/N) as a read-only, hardened database
 * (fdvfs.c, its VFS "sqlvault-fd"); the connection reads a dup of fd. */
int travel_sqlite_open_fd(int fd, sqlite3 **db, sv_err *err);

/* ---- what a database holds (inspect.c) --------------------------------- */

/* [{name, rows}] of the user tables, by name; rows from recorded ({name:
 * rows}, metadata.json "tables" of a backup) where it has the table, else
 * counted. */
int travel_count_tables(sqlite3 *db, const json_t *recorded, json_t **out, sv_err *err);
/* {name: rows} from travel_count_tables's array (new reference, NULL: out of memory). */
json_t *travel_tables_object(const json_t *arr);
/* A LiveStore event log's {head, events: newest first}, or JSON null. */
int travel_events(sqlite3 *db, json_t **out, sv_err *err);
/* Fills out with size, pageSize, pageCount, tables and livestore. */
int travel_describe(sqlite3 *db, const json_t *recorded, json_t *out, sv_err *err);

#endif
