/* prune.h -- the prune job's helpers other modules call.
 *
 * The job body itself is job_prune (job.h). Options (ctx->opts):
 *   "dry_run": true        decide and report, delete nothing
 *   "max_decisions": N     a shorter decision list (default and most
 *                          PRUNE_MAX_DECISIONS)
 * Result:
 *   {"kept":N, "deleted":N, "leftovers":N, "exports":N, "uploads":N,
 *    "aborted_uploads":N, "workspaces":N, "policy":"all:30d,daily:365d",
 *    "dry_run":bool, "broken":N,
 *    "decisions":[{"workspace":..., "ts":"YYYYMMDDTHHMMSS.mmmZ",
 *                  "action":"keep"|"delete", "reason":"daily:365d",
 *                  "parent":"YYYYMMDDTHHMMSS.mmmZ" (incrementals only)}]}
 * "broken" counts incrementals whose chain is broken (retention.h); chain
 * reasons read "base of TS", "link of TS", "broken chain (TS missing), ...".
 * In a dry run "decisions" lists every backup; in a real run only the deleted
 * ones (results live in Redis, and a kept backup is the common case). When a
 * workspace's decisions would not fit in what is left of the list
 * (a month of minute-level incrementals is 43,200 backups), each run of
 * consecutive backups (newest first) with the same action and reason is one
 * decision naming the newest ("ts"), the oldest ("oldest") and "count". The
 * list stops at max_decisions entries and then "decisions_truncated"
 * is true. Counts are always complete; in a dry run they say what would go. */
#ifndef SV_PRUNE_H
#define SV_PRUNE_H

#include <jansson.h>
#include <stdio.h>

#define PRUNE_MAX_DECISIONS 20000
/* Uncommitted leftovers, exports, uploads and unfinished multipart uploads
 * older than this are removed. */
#define PRUNE_LEFTOVER_AGE_MS (24LL * 3600 * 1000)
/* Exports live at least as long as the longest URL to them: a presigned URL
 * lasts at most 7 days (SQLVAULT_EXPORT_TTL and --ttl are capped there), so
 * exports/ objects go once 7 days and an hour old. */
#define PRUNE_EXPORT_AGE_MS ((7LL * 24 + 1) * 3600 * 1000)

/* Prints a prune result as a human table: one line per backup (workspace,
 * ts, keep/delete, reason), then the totals. */
void prune_print(json_t *result, FILE *out);

#endif
