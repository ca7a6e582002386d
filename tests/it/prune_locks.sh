#!/usr/bin/env bash
# prune_locks.sh -- prune, verify and restore never trip over each other.
# A prune of a workspace enqueued while a verify (then a restore) reads an
# old backup that the policy dooms waits for the workspace lock: the verify
# records its verdict, the restore restores, and only then does the prune
# delete what the policy dooms, with the new verdict pinning the newest
# verified backup. A prune of every workspace skips a workspace whose lock
# another job holds. A lowered SQLVAULT_MAX_DB_SIZE does not rewrite a past
# verdict.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/queue_lib.sh"
sv_setup
export SQLVAULT_LOG_FORMAT=text SQLVAULT_RETENTION=all:1d
WS=lock-ws
make_workspace "$WS" 300
DAY=86400000
NOW=$(($(date +%s) * 1000))
OLD1=$((NOW - 10 * DAY))
OLD2=$((NOW - 5 * DAY))
tsname() { python3 -c 'import sys,datetime; ms=int(sys.argv[1]); print(datetime.datetime.fromtimestamp(ms//1000, datetime.timezone.utc).strftime("%Y%m%dT%H%M%S") + ".%03dZ" % (ms % 1000))' "$1"; }
for t in "$OLD1" "$OLD2"; do "$SV_BIN" backup "$WS" --inline --ts "$t" >/dev/null || fail "backup at $t failed"; done
"$SV_BIN" backup "$WS" --inline >/dev/null || fail "fresh backup failed"
T1="$(tsname "$OLD1")" T2="$(tsname "$OLD2")"
sv_on_exit "proxy_reset"
held() { curl -fsS "$SV_PROXY_CONTROL/log?pending=1&op=GetObject" | grep -q "full/$WS/$1/.*\"status\":null"; }
start_worker w --threads 2

step "a prune enqueued while a verify reads the doomed backup $T1 waits for it"
proxy_faults "{\"rules\": [{\"op\": \"GetObject\", \"prefix\": \"${SV_PREFIX}full/$WS/$T1/livestore\", \"latencyMs\": 3000, \"times\": 1}]}"
"$SV_BIN" verify "$WS" --at "$T1" --no-wait --id v-1 >/dev/null
wait_for --timeout 20 bash -c "$(declare -f held); SV_PROXY_CONTROL='$SV_PROXY_CONTROL' WS='$WS' held '$T1'"
"$SV_BIN" prune "$WS" --no-wait --id p-1 >/dev/null
wait_for --timeout 10 bash -c "[[ \"\$(redis-cli -u '$SQLVAULT_REDIS_URL' HGET '$(qbase)job:p-1' stage)\" == 'waiting for workspace lock' ]]"
note "ok: the prune waits for the workspace lock"
wait_state v-1 succeeded 30
wait_state p-1 succeeded 30
assert_eq true "$(jq -r .ok <<<"$(qfield v-1 result)")" "verdict of the verify"
assert_ge "$(qfield p-1 started_at)" "$(qfield v-1 finished_at)" "the prune started after the verify finished"
# The pins come from a listing made under the lock: the verdict just written
# makes $T1 the newest verified backup, which the policy keeps.
assert_eq 1 "$(jq -r .deleted <<<"$(qfield p-1 result)")" "backups the prune deleted afterwards ($T2)"
assert_eq "$T1" "$("$SV_BIN" list "$WS" --json | jq -r '.[] | select(.verified == true) | .ts' | head -1)" \
  "the verified backup is kept (newest verified)"

step "a prune enqueued while a restore reads the doomed backup waits for it"
OLD3=$((NOW - 3 * DAY))
"$SV_BIN" backup "$WS" --inline --ts "$OLD3" >/dev/null || fail "backup at $OLD3 failed"
T3="$(tsname "$OLD3")"
proxy_faults "{\"rules\": [{\"op\": \"GetObject\", \"prefix\": \"${SV_PREFIX}full/$WS/$T3/livestore\", \"latencyMs\": 3000, \"times\": 1}]}"
"$SV_BIN" restore "$WS" --from "$T3" --yes --no-wait --id r-1 >/dev/null
wait_for --timeout 20 bash -c "$(declare -f held); SV_PROXY_CONTROL='$SV_PROXY_CONTROL' WS='$WS' held '$T3'"
"$SV_BIN" prune "$WS" --no-wait --id p-2 >/dev/null
wait_state r-1 succeeded 60
wait_state p-2 succeeded 30
assert_ge "$(qfield p-2 started_at)" "$(qfield r-1 finished_at)" "the prune started after the restore finished"
assert_eq 1 "$(jq -r .deleted <<<"$(qfield p-2 result)")" "backups the prune deleted afterwards ($T3)"
assert_eq ok "$(db_integrity "$SQLVAULT_DATA_DIR/$WS/livestore.db")" "the restored database"
proxy_reset

step "a prune of every workspace skips one whose lock another job holds"
kill -TERM "$WORKER_PID"
wait "$WORKER_PID" 2>/dev/null || true
sv_use_file_store
export SQLVAULT_TEST_JOBS=1
for ws in busy-ws free-ws; do
  make_workspace "$ws" 20
  "$SV_BIN" backup "$ws" --inline --ts "$OLD2" >/dev/null || fail "old backup of $ws failed"
  "$SV_BIN" backup "$ws" --inline >/dev/null || fail "backup of $ws failed"
done
start_worker w2 --threads 2
qpy enqueue hold-1 sleep busy-ws interactive 1 '{"ms": 4000}' >/dev/null
wait_state hold-1 active 10
"$SV_BIN" prune --no-wait --id p-all >/dev/null
wait_state p-all succeeded 30
res="$(qfield p-all result)"
note "$(jq -c 'del(.decisions)' <<<"$res")"
assert_eq 1 "$(jq -r .workspaces_busy <<<"$res")" "workspaces skipped as busy"
assert_eq 1 "$(jq -r .deleted <<<"$res")" "backups deleted (free-ws's old one)"
assert_eq 2 "$(ls "$SV_SCRATCH/store/full/busy-ws" | wc -l)" "busy-ws keeps both backups"
wait_state hold-1 succeeded 15

step "a lowered size cap does not rewrite a past verdict"
"$SV_BIN" verify free-ws --inline >/dev/null || fail "verify of free-ws failed"
vj="$(ls "$SV_SCRATCH"/store/full/free-ws/*/verify.json)"
before="$(cat "$vj")"
assert_eq true "$(jq -r .ok <<<"$before")" "first verdict"
set +e
SQLVAULT_MAX_DB_SIZE=1KiB "$SV_BIN" verify free-ws --inline >/dev/null 2>"$SV_SCRATCH/v.err"
rc=$?
set -e
assert_ne 0 "$rc" "exit code of a verify over the cap"
assert_contains "$(cat "$SV_SCRATCH/v.err")" "over SQLVAULT_MAX_DB_SIZE" "message"
assert_eq "$before" "$(cat "$vj")" "verify.json after the verify over the cap"
sv_pass
