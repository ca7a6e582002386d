#!/usr/bin/env bash
# A swap that fails (injected with the test-only SQLVAULT_TEST_FAIL_SWAP=1,
# after the new content was written) puts the pre-restore copy back: the
# live content is what it was, no safety copy is left next to it (nothing
# needs undoing, so no pre-restore backup), and no temporary file is left. A failed restore into a workspace that had no
# database leaves no file. Through the queue: restore.started then
# restore.failed are emitted and the pause flag is cleared; a good queued
# restore emits restore.completed and clears it too.
source "$(dirname "$0")/lib.sh"
source "$SV_SOURCE_DIR/tests/tools/restore_lib.sh"
sv_setup
# This test is about the full restore path (download, validate, swap); delta
# restores have tests of their own (delta_restore.sh).
export SQLVAULT_RESTORE_DELTA=off
export SQLVAULT_LOG_FORMAT=text

ws=swapfail
live="$SQLVAULT_DATA_DIR/$ws/livestore.db"
make_workspace "$ws" 2000
out="$(sv backup "$ws" --inline --json)"
ts="$(json_get "$out" ts)"
h_backup="$(db_sha3 "$live")"
sqlite3 "$live" "DELETE FROM todos WHERE rowid % 2 = 0; INSERT INTO todos VALUES ('live', 'only in the live database', 0)"
h_live="$(db_sha3 "$live")"

step "an injected swap failure puts the previous database back"
rc=0
out="$(SQLVAULT_TEST_FAIL_SWAP=1 sv restore "$ws" --from "$ts" --yes --inline 2>&1)" || rc=$?
assert_eq 1 "$rc" "exit status"
assert_contains "$out" "injected swap failure" "error"
assert_contains "$out" "the previous database was put back" "error"
assert_eq "$h_live" "$(db_sha3 "$live")" "live content after the failed swap"
assert_eq ok "$(db_integrity "$live")" "integrity after the rollback"
left=$(ls "$live".pre-restore-* 2>/dev/null || true)
[[ -z "$left" ]] || fail "a safety copy was left next to the database: $left"
no_restore_temps

step "a failed swap into a workspace with no database leaves no file"
fresh="$SQLVAULT_DATA_DIR/fresh/livestore.db"
rc=0
SQLVAULT_TEST_FAIL_SWAP=1 sv restore "$ws" --from "$ts" --db "$fresh" --yes --inline >/dev/null 2>&1 || rc=$?
assert_eq 1 "$rc" "exit status"
[[ ! -e "$fresh" && ! -e "$fresh-wal" ]] || fail "a failed restore left $fresh behind"
note "ok: no file at $fresh"

# stream_events: the event names in the run's streams, one a line.
stream_events() {
  redis_cli --scan --pattern "$SQLVAULT_REDIS_PREFIX*" | while read -r k; do
    [[ "$(redis_cli TYPE "$k")" == stream ]] || continue
    redis_cli XRANGE "$k" - + | awk 'prev == "event" { print } { prev = $0 }'
  done
}

step "through the queue: restore.started, restore.failed, pause flag cleared"
SQLVAULT_TEST_FAIL_SWAP=1 SQLVAULT_MAX_ATTEMPTS=1 sv_bg "$SV_BIN" worker --threads 1
worker1=$SV_BG_PID
rc=0
out="$(SQLVAULT_MAX_ATTEMPTS=1 sv restore "$ws" --from "$ts" --yes 2>&1)" || rc=$?
assert_eq 1 "$rc" "queued restore exit status"
assert_contains "$out" "injected swap failure" "queued restore error"
ev="$(stream_events)"
note "events: $(echo $ev)"
assert_contains "$ev" "restore.started" "events"
assert_contains "$ev" "restore.failed" "events"
assert_eq 0 "$(redis_cli EXISTS "$SQLVAULT_REDIS_PREFIX:pause:{$ws}")" "pause flag after the failed swap"
assert_eq "$h_live" "$(db_sha3 "$live")" "live content after the queued failed swap"
kill -TERM "$worker1"
wait_for --timeout 40 bash -c "! kill -0 $worker1 2>/dev/null"

step "through the queue: a good restore emits restore.completed and clears the flag"
sv_bg "$SV_BIN" worker --threads 1
sv restore "$ws" --from "$ts" --yes >/dev/null
assert_eq "$h_backup" "$(db_sha3 "$live")" "live content after the queued restore"
assert_contains "$(stream_events)" "restore.completed" "events"
assert_eq 0 "$(redis_cli EXISTS "$SQLVAULT_REDIS_PREFIX:pause:{$ws}")" "pause flag after the restore"
no_restore_temps

sv_pass
