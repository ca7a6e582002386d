#!/usr/bin/env bash
# livestore_quiesce.sh -- the backup quiesce of a LiveStore store through the
# queue (docs/PROTOCOL.md "Backup quiesce"), with redis-cli playing the Node
# server's onBackup listener while a real LiveStore 0.4 writer commits. The
# optimistic phase is made to fail (SQLVAULT_TEST_STORE_BUSY, as for a store
# written without pause): the job sets PREFIX:quiesce:{WS}, emits
# backup.quiesce, the listener stops the writer (after isSynced) and acks,
# the copy is taken, the flag cleared and backup.resume emitted; the backup
# holds every event the writer committed, and LiveStore reopens it with
# exactly that state. Without a listener the job reports why it failed.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/queue_lib.sh"
source "$SV_SOURCE_DIR/tests/livestore/lib.sh"
ls_require
sv_setup
sv_use_file_store
export SQLVAULT_LEASE=5s SQLVAULT_LOG_FORMAT=text
store_root="${SQLVAULT_STORE#file://}"
P="$SQLVAULT_REDIS_PREFIX"
ws=ls-q
live="$SQLVAULT_DATA_DIR/$ws"
stopf="$SV_SCRATCH/stop" countf="$SV_SCRATCH/count"

ls_node write "$SQLVAULT_DATA_DIR" "$ws" --count 100 >/dev/null

step "without a listener the busy store's backup fails and says why"
out=$(SQLVAULT_TEST_STORE_BUSY=1 SQLVAULT_MAX_ATTEMPTS=1 "$SV_BIN" backup "$ws" --inline 2>&1) && fail "backup succeeded: $out"
assert_contains "$out" "busy" "error"
assert_contains "$out" "onBackup" "hint"

step "through the queue: the listener quiesces the writer, the copy is taken, the writer resumes"
SQLVAULT_TEST_STORE_BUSY=1 start_worker w1 --threads 1
ls_node serve "$SQLVAULT_DATA_DIR" "$ws" --rate 100 --stop "$stopf" --out "$countf" >"$SV_SCRATCH/writer.log" 2>&1 &
writer=$!
wait_for --timeout 60 test -s "$countf"
# The listener, as the Node server's onBackup would.
ls_listener quiesce "$ws" "$writer" "$stopf" "$countf"
out=$(timeout 120 "$SV_BIN" backup "$ws" --id q-1 --json) ||
  fail "backup through the queue failed: $out; worker: $(tail -5 "$SV_SCRATCH/w1.log")"
wait "$writer" || fail "writer failed: $(tail -3 "$SV_SCRATCH/writer.log")"
final=$(cat "$countf")
res=$(qfield q-1 result)
note "result: $(jq -c .livestore <<<"$res")"
assert_eq quiesce "$(jq -r .livestore.method <<<"$res")" "method"
assert_eq true "$(jq -r .livestore.quiesceAcked <<<"$res")" "listener acked"
assert_eq 1 "$(jq -r .livestore.listeners <<<"$res")" "live listeners"
assert_eq "$final" "$(jq -r .livestore.events <<<"$res")" "events in the backup = events the writer committed"
wait_for --timeout 10 grep -q "resumed q-1" "$SV_SCRATCH/listener.log"
note "ok: $(tr '\n' ';' <"$SV_SCRATCH/listener.log")"
assert_eq 0 "$(redis_cli EXISTS "$P:quiesce:{$ws}")" "quiesce flag after the backup"
events=$(qpy XRANGE "$(qbase)events" - + |
  jq -r '.[] | .[1] | [range(0; length; 2) as $i | {(.[$i]): .[$i + 1]}] | add | select(.job == "q-1") | .event' | tr '\n' ' ')
assert_contains "$events" "backup.quiesce backup.resume" "events of the backup job"
touch "$SV_SCRATCH/listener-stop"

step "the quiesced backup restores as a store LiveStore opens with exactly its events"
b="$store_root/full/$ws/$(jq -r .ts <<<"$res")"
ls_unpack "$b" "$SV_SCRATCH/r/$ws"
read -r ev head gaps < <(ls_log_check "$SV_SCRATCH/r/$ws/eventlog@6.db")
assert_eq "$final $final 0" "$ev $head $gaps" "event log: events, head, gaps"
ls_expect_state "$(ls_state "$SV_SCRATCH/r" "$ws")" "$final" "LiveStore reopening the backup"
ls_expect_state "$(ls_state "$SQLVAULT_DATA_DIR" "$ws")" "$final" "the live store lost nothing"
sv_pass
