#!/usr/bin/env bash
# livestore_restore.sh -- restoring a real LiveStore 0.4 store (npm):
#  - through the queue under the pause protocol, with redis-cli playing the
#    Node server's listener (registry, shut the writer down, ack): the event
#    log and its state file go back together, the pre-restore backup holds
#    every event the writer committed, and LiveStore reopens the store with
#    exactly the backup's state;
#  - event-log-only after a schema change: every state file removed, LiveStore
#    with the new schema rebuilds exactly the backup's state;
#  - "Download Backup" of a store is its event log, and importing that file
#    into an empty workspace makes a store LiveStore opens;
#  - bad uploads (not an event log, a gap in the sequence) are refused and the
#    live store stays byte-for-byte as it was.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/queue_lib.sh"
source "$SV_SOURCE_DIR/tests/livestore/lib.sh"
ls_require
sv_setup
sv_use_file_store
export SQLVAULT_LEASE=5s SQLVAULT_LOG_FORMAT=text
store_root="${SQLVAULT_STORE#file://}"
P="$SQLVAULT_REDIS_PREFIX"
ws=ls-rs
live="$SQLVAULT_DATA_DIR/$ws"

step "a store of 200 events, backed up"
ls_node write "$SQLVAULT_DATA_DIR" "$ws" --count 200 >/dev/null
b1=$("$SV_BIN" backup "$ws" --inline --json | jq -r .ts)
note "backup $b1"

step "restore through the queue while LiveStore writes: the listener shuts the writer down and acks"
start_worker w1 --threads 2
stopf="$SV_SCRATCH/stop" countf="$SV_SCRATCH/count"
ls_node serve "$SQLVAULT_DATA_DIR" "$ws" --rate 100 --stop "$stopf" --out "$countf" >"$SV_SCRATCH/writer.log" 2>&1 &
writer=$!
wait_for --timeout 60 test -s "$countf"
# The listener, as the Node server's onRestore would: on the pause flag stop
# the store (the writer waits for isSynced) and ack.
ls_listener pause "$ws" "$writer" "$stopf" "$countf"
sleep 1
out=$(timeout 120 "$SV_BIN" restore "$ws" --from "$b1" --yes --id rs-1 --json) ||
  fail "restore through the queue failed: $out; worker: $(tail -5 "$SV_SCRATCH/w1.log")"
wait "$writer" || fail "writer failed: $(tail -3 "$SV_SCRATCH/writer.log")"
final=$(cat "$countf")
note "writer had committed up to event $final when it was shut down"
res=$(qfield rs-1 result)
assert_eq true "$(jq -r .pause_acked <<<"$res")" "pause acked by the listener"
assert_eq "eventlog@6.db $(basename "$(ls "$live"/state*@6.db)")" "$(jq -r '.files | join(" ")' <<<"$res")" "files restored"
assert_contains "$(cat "$SV_SCRATCH/listener.log")" "resumed rs-1" "listener resumed after the restore"
safety=$(jq -r .safety_backup <<<"$res")
assert_eq "$final" "$(jq -r .livestore.events "$store_root/full/$ws/$safety/metadata.json")" \
  "events in the pre-restore backup (everything the writer committed)"
ls_expect_state "$(ls_state "$SQLVAULT_DATA_DIR" "$ws")" 200 "LiveStore reopening the restored store"
read -r ev head gaps < <(ls_log_check "$live/eventlog@6.db")
assert_eq "200 200 0" "$ev $head $gaps" "restored event log: events, head, gaps"
touch "$SV_SCRATCH/listener-stop"

step "event-log-only restore after a schema change"
ls_node write "$SQLVAULT_DATA_DIR" "$ws" --count 30 --schema 2 >/dev/null
assert_eq 2 "$(ls "$live"/state*@6.db | wc -l)" "state files after the schema change"
ls_expect_state "$(ls_state "$SQLVAULT_DATA_DIR" "$ws" --schema 2)" 230 "state under schema 2 before the restore"
out=$("$SV_BIN" restore "$ws" --from "$b1" --eventlog-only --yes --inline --json) || fail "event-log-only restore failed: $out"
assert_eq true "$(jq -r .eventlog_only <<<"$out")" "eventlog_only"
assert_eq 2 "$(jq -r .state_files_removed <<<"$out")" "state files removed"
assert_eq "eventlog@6.db" "$(cd "$live" && ls)" "files of the store after the restore"
ls_expect_state "$(ls_state "$SQLVAULT_DATA_DIR" "$ws" --schema 2)" 200 "LiveStore (schema 2) rebuilt the state from the event log"

step "Download Backup of a store is its event log; importing it makes a store LiveStore opens"
exp=$("$SV_BIN" export "$ws" --inline --json)
file=$(jq -r .url <<<"$exp")
[[ "$(jq -r .filename <<<"$exp")" == "$ws-"*.db ]] || fail "export file name: $(jq -r .filename <<<"$exp")"
read -r ev head gaps < <(ls_log_check "$file")
assert_eq "200 200 0" "$ev $head $gaps" "exported event log: events, head, gaps"
out=$("$SV_BIN" restore ls-imported --from "file:$file" --yes --inline --json) || fail "import failed: $out"
assert_eq "store eventlog@6.db" "$(jq -r '.shape + " " + (.files | join(" "))' <<<"$out")" "imported as a store"
ls_expect_state "$(ls_state "$SQLVAULT_DATA_DIR" ls-imported --schema 2)" 200 "LiveStore opening the imported store"

step "an encrypted store backup (docs/ENCRYPTION.md) restores the same way"
python3 -c "import os,sys; sys.stdout.write(os.urandom(32).hex())" >"$SV_SCRATCH/kek"
enc=$(SQLVAULT_ENCRYPTION_KEY_FILE="$SV_SCRATCH/kek" "$SV_BIN" backup "$ws" --inline --json)
eb="$store_root/full/$ws/$(jq -r .ts <<<"$enc")"
[[ "$(jq -r '.encryption != null' "$eb/metadata.json")" == true ]] || fail "the backup is not encrypted"
out=$(SQLVAULT_ENCRYPTION_KEY_FILE="$SV_SCRATCH/kek" "$SV_BIN" restore ls-enc --from "object:full/$ws/$(jq -r .ts <<<"$enc")/eventlog.db.zst" --yes --inline --json 2>&1) &&
  fail "a sealed object restored without its metadata: $out"
out=$(SQLVAULT_ENCRYPTION_KEY_FILE="$SV_SCRATCH/kek" "$SV_BIN" restore "$ws" --from "$(jq -r .ts <<<"$enc")" --yes --inline --json) ||
  fail "restore of the encrypted store backup failed: $out"
assert_eq 200 "$(jq -r .events <<<"$out")" "events restored from the encrypted backup"

step "bad uploads are refused and the live store is untouched"
sum_before=$(cd "$live" && sha256sum ./* | sha256sum)
make_db "$SV_SCRATCH/plain.db" 10
expect_status 1 "$SV_BIN" restore "$ws" --from "file:$SV_SCRATCH/plain.db" --yes --inline 2>"$SV_SCRATCH/e1"
assert_contains "$(cat "$SV_SCRATCH/e1")" "not a LiveStore event log" "error for a plain SQLite file"
cp "$file" "$SV_SCRATCH/gap.db"
sqlite3 "$SV_SCRATCH/gap.db" "DELETE FROM eventlog WHERE seqNumGlobal = 100"
expect_status 1 "$SV_BIN" restore "$ws" --from "file:$SV_SCRATCH/gap.db" --yes --inline 2>"$SV_SCRATCH/e2"
assert_contains "$(cat "$SV_SCRATCH/e2")" "gaps" "error for an event log with a gap"
head -c $(($(stat -c %s "$file") / 2)) "$file" >"$SV_SCRATCH/trunc.db"
expect_status 1 "$SV_BIN" restore "$ws" --from "file:$SV_SCRATCH/trunc.db" --yes --inline 2>/dev/null
assert_eq "$sum_before" "$(cd "$live" && sha256sum ./* | sha256sum)" "live store files after the refused uploads"

sv_pass
