#!/usr/bin/env bash
# restore_followup.sh -- a queued restore does not upload its safety copy
# itself: it enqueues, before it reports success, a follow-up backup job
# (result pre_restore_job) that uploads the durable local copy
# LIVE.pre-restore-TS as the workspace's pre-restore backup and removes the
# copy once that backup is committed (docs/DESIGN.md):
#  1. the follow-up commits a pre-restore backup whose content equals the
#     live database just before the restore, and the local copy is gone;
#  2. a worker killed (kill -9) while the follow-up runs (its upload held by
#     the proxy) leaves the local copy and the job, which another worker
#     takes over and completes: same content, copy gone afterwards.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/queue_lib.sh"
sv_setup
# This test is about the full restore path (download, validate, swap); delta
# restores have tests of their own (delta_restore.sh).
export SQLVAULT_RESTORE_DELTA=off
export SQLVAULT_LOG_FORMAT=text SQLVAULT_RETRY_BASE=100ms SQLVAULT_LEASE=2s SQLVAULT_PAUSE_TIMEOUT=1s
ws=ws-fu
db="$SQLVAULT_DATA_DIR/$ws/livestore.db"
make_workspace "$ws" 20000

# fingerprint DB: a digest of the event log's content.
fingerprint() { sqlite3 "$1" "SELECT count(*) || ':' || coalesce(sum(length(args)), 0) || ':' || max(seq) FROM eventlog"; }

# backup_fingerprint TS: the fingerprint of the committed backup TS.
backup_fingerprint() {
  rm -f "$SV_SCRATCH/fu.db.zst" "$SV_SCRATCH/fu.db"
  s3_get "${SV_PREFIX}full/$ws/$1/livestore.db.zst" "$SV_SCRATCH/fu.db.zst"
  zstd -q -d "$SV_SCRATCH/fu.db.zst" -o "$SV_SCRATCH/fu.db"
  [[ "$(db_integrity "$SV_SCRATCH/fu.db")" == ok ]] || fail "backup $1 fails its integrity check"
  fingerprint "$SV_SCRATCH/fu.db"
}

step "a backup, then the live database changes"
start_worker w1 --threads 1
w1=$WORKER_PID
timeout 60 "$SV_BIN" backup "$ws" --id fu-b1 >/dev/null || fail "backup failed"
b1=$(qfield fu-b1 result | jq -r .ts)
want=$(fingerprint "$db")
sqlite3 "$db" "DELETE FROM eventlog WHERE seq % 2 = 0; INSERT INTO eventlog (name, args, created_at) VALUES ('x', 'before-r1', 'now')"
pre1=$(fingerprint "$db")
assert_ne "$want" "$pre1" "the live content differs from the backup"

step "the follow-up job commits the pre-restore backup and removes the local copy"
timeout 120 "$SV_BIN" restore "$ws" --from "$b1" --yes --id fu-r1 --no-delta >/dev/null ||
  fail "restore failed: $(qfield fu-r1 error)"
result=$(qfield fu-r1 result)
note "result: $result"
assert_eq "$want" "$(fingerprint "$db")" "live content = the backup restored"
fu1=$(jq -r .pre_restore_job <<<"$result")
copy1=$(jq -r .safety_copy <<<"$result")
[[ "$copy1" == "$db.pre-restore-"* ]] || fail "safety_copy is [$copy1], expected $db.pre-restore-TS"
assert_eq null "$(jq -r .safety_backup <<<"$result")" "no pre-restore backup inside the restore job"
ts1=$(followup_ts fu-r1)
note "follow-up $fu1 committed $ts1"
assert_eq pre-restore "$("$SV_BIN" list "$ws" --json | jq -r --arg t "$ts1" '.[] | select(.ts == $t) | .backupType')" \
  "the follow-up's backup type"
assert_eq "$pre1" "$(backup_fingerprint "$ts1")" "pre-restore backup = the live database before the restore"
[[ ! -e "$copy1" ]] || fail "the local safety copy $copy1 is still there after its backup committed"
left=$(ls "$db".* 2>/dev/null || true)
[[ -z "$left" ]] || fail "files left next to the database: $left"

step "kill -9 while the follow-up runs: the copy and the job stay, another worker completes it"
sqlite3 "$db" "DELETE FROM eventlog WHERE seq % 3 = 0; INSERT INTO eventlog (name, args, created_at) VALUES ('x', 'before-r2', 'now')"
pre2=$(fingerprint "$db")
assert_ne "$want" "$pre2" "the live content differs from the backup again"
# the follow-up's upload (the only write under full/WS/ from now on) is held
proxy_faults "{\"rules\": [{\"op\": [\"PutObject\", \"CreateMultipartUpload\"], \"prefix\": \"${SV_PREFIX}full/$ws/\", \"latencyMs\": 60000, \"times\": 1}]}"
sv_on_exit proxy_reset
timeout 120 "$SV_BIN" restore "$ws" --from "$b1" --yes --id fu-r2 --no-delta >/dev/null ||
  fail "restore failed: $(qfield fu-r2 error)"
result=$(qfield fu-r2 result)
fu2=$(jq -r .pre_restore_job <<<"$result")
copy2=$(jq -r .safety_copy <<<"$result")
assert_eq "$want" "$(fingerprint "$db")" "live content = the backup restored"
wait_state "$fu2" active 30
kill -9 "$w1"
wait "$w1" 2>/dev/null || true
proxy_reset
[[ -f "$copy2" ]] || fail "the local safety copy $copy2 is gone though its backup never committed"
assert_eq "$pre2" "$(fingerprint "$copy2")" "the local copy holds the live database before the restore"
assert_ne succeeded "$(qfield "$fu2" state)" "the follow-up's state after the kill"
start_worker w2 --threads 1
ts2=$(followup_ts fu-r2 90)
note "follow-up $fu2 committed $ts2 at attempt $(qfield "$fu2" attempt)"
assert_ge "$(qfield "$fu2" attempt)" 2 "the follow-up's attempts (taken over)"
assert_eq "$pre2" "$(backup_fingerprint "$ts2")" "pre-restore backup = the live database before the restore"
[[ ! -e "$copy2" ]] || fail "the local safety copy $copy2 is still there after its backup committed"
kill "$WORKER_PID" && wait "$WORKER_PID" 2>/dev/null || true
sv_pass
