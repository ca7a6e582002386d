#!/usr/bin/env bash
# prune_no_proxy.sh -- a store without an optional call: s3rver alone (no
# R2-rules proxy) answers ListMultipartUploads with 501. The 501 is never
# retried, the upload sweep is skipped with one warning per process, and the
# rest of the prune succeeds (retention applied, result says so).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/queue_lib.sh"
sv_setup
export SQLVAULT_S3_ENDPOINT="$SV_S3_DIRECT_ENDPOINT" SQLVAULT_LOG_FORMAT=text
export SQLVAULT_RETENTION=all:1d
WS1=np-a WS2=np-b
OLD=$(( ($(date +%s) - 5 * 86400) * 1000 ))

step "two workspaces, each with an old backup (past retention) and a fresh one, on s3rver directly"
for ws in $WS1 $WS2; do
  make_workspace "$ws" 50
  "$SV_BIN" backup "$ws" --inline --ts "$OLD" >/dev/null || fail "old backup of $ws failed"
  "$SV_BIN" backup "$ws" --inline >/dev/null || fail "backup of $ws failed"
done

# (Per workspace: s3rver's ListObjectsV2 gives no CommonPrefixes two levels
# down, so a prune of every workspace finds none there; R2 and S3 do.)
step "prune of a workspace, inline: succeeds at once, one warning, the old backup gone"
t0=$(date +%s%N)
"$SV_BIN" prune "$WS1" --inline --json >"$SV_SCRATCH/prune.json" 2>"$SV_SCRATCH/prune.err" ||
  fail "prune failed: $(cat "$SV_SCRATCH/prune.err")"
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
note "prune took $ms ms"
assert_le "$ms" 5000 "prune time (no retried 501s)"
assert_eq 1 "$(grep -c 'does not implement ListMultipartUploads' "$SV_SCRATCH/prune.err")" "warnings in one process"
assert_eq true "$(jq -r '.uploads_unsupported' "$SV_SCRATCH/prune.json")" "result marks the skipped sweep"
assert_eq 1 "$(jq -r '.deleted' "$SV_SCRATCH/prune.json")" "old backup deleted"
assert_eq 1 "$(jq -r '.kept' "$SV_SCRATCH/prune.json")" "fresh backup kept"

step "three prunes through one worker: all succeed, one warning in its log"
start_worker w --threads 1
for i in 1 2 3; do qpy enqueue np-prune-$i prune "$WS2" scheduled 5 '{}' >/dev/null; done
for i in 1 2 3; do wait_state np-prune-$i succeeded 30; done
assert_eq 1 "$(jq -r '.deleted' <<<"$(qfield np-prune-1 result)")" "old backup of $WS2 deleted"
assert_eq 1 "$(grep -c 'does not implement ListMultipartUploads' "$SV_SCRATCH/w.log")" "warnings in the worker's log"
assert_eq 0 "$(redis_cli HGET "$(qbase)stats" retried | sed 's/^$/0/')" "retried jobs"
sv_pass
