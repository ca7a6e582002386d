#!/usr/bin/env bash
# restore_takeover.sh -- a restore restores what was asked, whatever happens
# to its attempts. The source is resolved once (first attempt) and recorded
# on the job; `latest` never becomes the job's own pre-restore backup:
#  1. a queued `restore --from latest` whose worker is killed (kill -9) after
#     its safety copy was taken (the swap waits on a held write lock), taken
#     over by another worker: the live file ends equal to the backup that was
#     latest when it was asked; the pre-restore backup is the follow-up job's;
#  2. the same when the first attempt fails (a write lock held on the live
#     database makes the swap time out) and the retry runs;
#  3. a backup whose drill passed on the same checksum is not integrity-
#     checked again.
# The restores are the full path's (--no-delta): a delta restore's
# (delta_restore*.sh) has no safety copy to wait after, nor integrity_check.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/queue_lib.sh"
sv_setup
# This test is about the full restore path (download, validate, swap); delta
# restores have tests of their own (delta_restore.sh).
export SQLVAULT_RESTORE_DELTA=off
export SQLVAULT_LOG_FORMAT=text SQLVAULT_RETRY_BASE=100ms SQLVAULT_LEASE=2s SQLVAULT_PAUSE_TIMEOUT=1s
ws=ws-take
db="$SQLVAULT_DATA_DIR/$ws/livestore.db"
make_workspace "$ws" 20000

# fingerprint DB: a digest of the event log's content.
fingerprint() { sqlite3 "$1" "SELECT count(*) || ':' || coalesce(sum(length(args)), 0) || ':' || max(seq) FROM eventlog"; }

# hold_lock DB SECONDS: holds a write transaction on DB in the background
# until $SV_SCRATCH/unlock exists (or SECONDS pass); sets LOCK_PID.
hold_lock() {
  rm -f "$SV_SCRATCH/unlock" "$SV_SCRATCH/locked"
  (
    {
      echo "BEGIN IMMEDIATE;"
      echo "INSERT INTO eventlog (name, args, created_at) VALUES ('lock', 'held', 'now');"
      echo ".system touch $SV_SCRATCH/locked"
      for ((i = 0; i < $2 * 10; i++)); do
        [[ -e "$SV_SCRATCH/unlock" ]] && break
        sleep 0.1
      done
      echo "ROLLBACK;"
    } | sqlite3 "$1"
  ) &
  LOCK_PID=$!
  wait_for --timeout 10 test -e "$SV_SCRATCH/locked"
}

step "a backup (the one asked for), then the live database changes"
start_worker w1 --threads 1
w1=$WORKER_PID
timeout 60 "$SV_BIN" backup "$ws" --id tk-b1 >/dev/null || fail "backup failed"
want=$(fingerprint "$db")
b1=$(qfield tk-b1 result | jq -r .ts)
sqlite3 "$db" "DELETE FROM eventlog WHERE seq % 2 = 0; INSERT INTO eventlog (name, args, created_at) VALUES ('x', 'changed', 'now')"
changed=$(fingerprint "$db")
assert_ne "$want" "$changed" "the live content differs from the backup"

step "kill -9 after the safety copy was taken (the swap waits on a held write lock)"
SQLVAULT_TEST_SWAP_BUSY_MS=60000 start_worker w-killed --threads 1
killed=$WORKER_PID
kill "$w1" && wait "$w1" 2>/dev/null || true
hold_lock "$db" 60
"$SV_BIN" restore "$ws" --from latest --yes --id tk-r1 --no-wait --no-delta >/dev/null
wait_for --timeout 60 grep -q 'safety copy .* taken' "$SV_SCRATCH/w-killed.log"
assert_eq "backup:$b1" "$(qfield tk-r1 source)" "source recorded at the first attempt"
kill -9 "$killed"
wait "$killed" 2>/dev/null || true
touch "$SV_SCRATCH/unlock"
wait "$LOCK_PID" 2>/dev/null || true
committed=$(s3_keys "${SV_PREFIX}full/$ws/" | grep -c metadata.json)
assert_eq 1 "$committed" "committed backups: the one asked for (the killed attempt uploaded nothing)"
start_worker w2 --threads 1
wait_state tk-r1 succeeded 90
result=$(qfield tk-r1 result)
note "result: $result"
assert_eq 2 "$(qfield tk-r1 attempt)" "attempts"
assert_eq "$b1" "$(jq -r .backup <<<"$result")" "the backup restored (result)"
assert_eq "$want" "$(fingerprint "$db")" "live content = the backup asked for"
assert_eq ok "$(db_integrity "$db")" "live integrity"
tk_r1_safety=$(followup_ts tk-r1)
note "tk-r1's pre-restore backup (its follow-up job): $tk_r1_safety"
kill "$WORKER_PID" && wait "$WORKER_PID" 2>/dev/null || true

step "a first attempt that fails on a held write lock, then the retry"
sqlite3 "$db" "DELETE FROM eventlog WHERE seq % 3 = 0"
assert_ne "$want" "$(fingerprint "$db")" "the live content differs from the backup again"
SQLVAULT_TEST_SWAP_BUSY_MS=1500 start_worker w3 --threads 1
hold_lock "$db" 60
"$SV_BIN" restore "$ws" --from latest --yes --id tk-r2 --no-wait --no-delta >/dev/null
wait_for --timeout 60 bash -c "(( \$(redis-cli -u '$SQLVAULT_REDIS_URL' HGET '$(qbase)job:tk-r2' attempt) >= 2 ))"
assert_contains "$(grep tk-r2 "$SV_SCRATCH/w3.log")" "stayed locked" "the first attempt failed on the lock"
touch "$SV_SCRATCH/unlock"
wait "$LOCK_PID" 2>/dev/null || true
wait_state tk-r2 succeeded 90
result=$(qfield tk-r2 result)
latest_then=$(qfield tk-r2 source)
note "recorded source $latest_then; result backup $(jq -r .backup <<<"$result")"
assert_eq "backup:$(jq -r .backup <<<"$result")" "$latest_then" "the retry restored the recorded source"
# latest at the time of the request was tk-r1's safety backup (the state just before
# that restore); tk-r2's own safety backups are newer and never chosen
assert_eq "backup:$tk_r1_safety" "$latest_then" "latest = the newest backup when the restore was asked"
assert_ne "$(followup_ts tk-r2)" "$(jq -r .backup <<<"$result")" "not the job's own safety backup"
s3_get "${SV_PREFIX}full/$ws/$tk_r1_safety/livestore.db.zst" "$SV_SCRATCH/expect.db.zst"
zstd -q -d "$SV_SCRATCH/expect.db.zst" -o "$SV_SCRATCH/expect.db"
assert_eq "$(fingerprint "$SV_SCRATCH/expect.db")" "$(fingerprint "$db")" "live content = the backup asked for"

step "a backup whose restore drill passed skips the repeated integrity_check; one without a drill runs it"
assert_eq ok "$(jq -r .integrity_check <<<"$result")" "integrity_check of an undrilled backup"
timeout 60 "$SV_BIN" verify "$ws" --at "$b1" --id tk-v1 >/dev/null || fail "verify failed"
timeout 60 "$SV_BIN" restore "$ws" --from "$b1" --yes --id tk-r3 --no-delta >/dev/null || fail "restore tk-r3 failed"
assert_contains "$(qfield tk-r3 result | jq -r .integrity_check)" "skipped" "integrity_check of a drilled backup"
assert_eq "$want" "$(fingerprint "$db")" "live content = the drilled backup"
assert_eq ok "$(db_integrity "$db")" "live integrity"
sv_pass
