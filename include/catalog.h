/* catalog.h -- what backups a workspace has in the store.
 *
 * One listing of full/WS/ tells every backup folder, whether it is committed
 * (metadata.json exists) and verified (verify.json exists). Listing, restore,
 * verify and prune all read backups through here. */
#ifndef SV_CATALOG_H
#define SV_CATALOG_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include "store.h"
#include "util.h"

typedef struct catalog_entry {
    char ts[SV_TS_LEN];     /* folder name */
    int64_t ts_ms;
    bool committed;         /* metadata.json present */
    bool verified;          /* verify.json present */
    bool has_object;        /* livestore.db.zst (or an incremental's pages-PARENT.zst) present */
    uint64_t object_size;   /* size of that object */
    bool incremental;       /* an incremental: its object is pages-PARENT.zst (chain.h) */
    char parent[SV_TS_LEN]; /* an incremental's parent folder; "" for a full */
    int64_t mtime_ms;       /* newest object mtime in the folder */
} catalog_entry;

/* Every backup folder of ws (committed or not), newest first. *out is a heap
 * array the caller frees. Folders whose name is not a timestamp are skipped. */
int catalog_list(store_t *s, const char *ws, catalog_entry **out, size_t *n, sv_err *err);
/* Finds the committed backup named by at: "latest", or the newest one whose
 * snapshot time (folder name) is at or before a time given as a folder
 * timestamp (20260115T103000.000Z) or an ISO time (2026-01-15T10:30:00Z,
 * millis optional); an exact backup time names that backup. SV_ENOTFOUND
 * with a hint when there is none (before the first backup: naming the
 * oldest), SV_EINVAL for a time in neither form. */
int catalog_find(store_t *s, const char *ws, const char *at, catalog_entry *out, sv_err *err);
/* The same over a listing already read (v, n newest first, as catalog_list
 * gives): *idx gets the index. exact: only a backup at exactly that time (a
 * source recorded on a job), never an older one. */
int catalog_pick(const catalog_entry *v, size_t n, const char *ws, const char *at, bool exact, size_t *idx,
                 sv_err *err);
/* The chain of v[target] from the same listing: the indexes of its base (a
 * full) and every incremental up to target, base first, in *chain (heap,
 * the caller frees), *len of them (1 for a full). Every link must be
 * committed and hold its object, and every parent folder must exist;
 * otherwise SV_ENOTFOUND (SV_ECORRUPT for a parent that is not older)
 * naming the link. The metadata of each link is the caller's to check. */
int catalog_chain(const catalog_entry *v, size_t n, size_t target, size_t **chain, size_t *len, sv_err *err);
/* Reads and checks a backup's metadata.json (new reference in *meta). */
int catalog_read_meta(store_t *s, const char *ws, const char *ts, json_t **meta, sv_err *err);
/* Reads verify.json if present (*v NULL if absent). */
int catalog_read_verify(store_t *s, const char *ws, const char *ts, json_t **v, sv_err *err);

#endif
