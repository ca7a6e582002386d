#!/usr/bin/env bash
# livestore_node_client.sh -- the whole loop with the real pieces: a Node
# server (tests/livestore/server.mjs) writing a real LiveStore 0.4 store and
# listening through the Node client (clients/node: onBackup, onRestore), a
# worker, and backups and a restore through the queue.
#  - backups of a store too busy for the optimistic copy (forced with
#    SQLVAULT_TEST_STORE_BUSY) take the quiesce path: the client's onBackup
#    holds the writes after isSynced, acks, resumes; each backup holds
#    exactly the events committed before the quiesce;
#  - a restore under the pause protocol: the client's onRestore shuts the
#    store down after isSynced and reopens it after restore.completed; the
#    server writes on from the restored store;
#  - the live store loses nothing.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/queue_lib.sh"
source "$SV_SOURCE_DIR/tests/livestore/lib.sh"
ls_require
[[ -d "$SV_SOURCE_DIR/clients/node/node_modules/ioredis" ]] ||
  fail "the Node client is not installed
HINT: run scripts/install-deps.sh (npm ci in clients/node)"
sv_setup
sv_use_file_store
export SQLVAULT_LEASE=5s SQLVAULT_LOG_FORMAT=text
store_root="${SQLVAULT_STORE#file://}"
ws=ls-nc
live="$SQLVAULT_DATA_DIR/$ws"
stopf="$SV_SCRATCH/stop" countf="$SV_SCRATCH/count" logf="$SV_SCRATCH/server.log"

ls_node write "$SQLVAULT_DATA_DIR" "$ws" --count 100 >/dev/null
SQLVAULT_TEST_STORE_BUSY=1 start_worker w1 --threads 2
node "$LS_DIR/server.mjs" "$SQLVAULT_DATA_DIR" "$ws" --rate 50 --stop "$stopf" --out "$countf" --log "$logf" \
  >"$SV_SCRATCH/server.out" 2>&1 &
server=$!
wait_for --timeout 90 test -s "$countf"

step "3 backups through the queue, each quiesced by the Node client's onBackup"
for i in 1 2 3; do
  timeout 120 "$SV_BIN" backup "$ws" --id "nc-b$i" >/dev/null || fail "backup $i failed: $(qfield "nc-b$i" error)"
  res=$(qfield "nc-b$i" result)
  assert_eq "quiesce true" "$(jq -r '.livestore.method + " " + (.livestore.quiesceAcked | tostring)' <<<"$res")" "backup $i: method, acked"
  at=$(grep "quiesce nc-b$i at" "$logf" | awk '{print $4}')
  assert_eq "$at" "$(jq -r .livestore.events <<<"$res")" "backup $i: events = the server's last commit at the quiesce"
  wait_for --timeout 10 grep -q "resume nc-b$i" "$logf"
  sleep 1
done

step "restore the first backup under the pause: the client shuts the store down and reopens it"
b1=$(qfield nc-b1 result | jq -r .ts)
n1=$(qfield nc-b1 result | jq -r .livestore.events)
timeout 120 "$SV_BIN" restore "$ws" --from "$b1" --yes --id nc-r1 >/dev/null ||
  fail "restore failed: $(qfield nc-r1 error); worker: $(tail -3 "$SV_SCRATCH/w1.log")"
res=$(qfield nc-r1 result)
assert_eq true "$(jq -r .pause_acked <<<"$res")" "pause acked by onRestore"
wait_for --timeout 60 grep -q "reopen nc-r1 at $n1" "$logf"
note "ok: the server reopened the restored store at event $n1"
paused_at=$(grep "pause nc-r1 at" "$logf" | awk '{print $4}')
safety=$(jq -r .safety_backup <<<"$res")
assert_eq "$paused_at" "$(jq -r .livestore.events "$store_root/full/$ws/$safety/metadata.json")" \
  "the pre-restore backup holds every event up to the pause"

step "the server writes on from the restored store; nothing is lost"
sleep 3
touch "$stopf"
wait "$server" || fail "server failed: $(tail -5 "$SV_SCRATCH/server.out")"
final=$(cat "$countf")
((final > n1)) || fail "no events after the restore ($final <= $n1)"
ls_expect_state "$(ls_state "$SQLVAULT_DATA_DIR" "$ws")" "$final" "LiveStore's state at the end"
read -r ev head gaps < <(ls_log_check "$live/eventlog@6.db")
assert_eq "$final $final 0" "$ev $head $gaps" "event log at the end: events, head, gaps"
note "server log: $(tr '\n' ';' <"$logf")"
sv_pass
