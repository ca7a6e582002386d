#!/usr/bin/env bash
# Live connections: while another process holds the database open (WAL
# mode), a restore swaps the content in with the backup API; that process's
# open connection sees the restored content afterwards. A writer inserting
# continuously is blocked during the swap and carries on after it without
# errors, and the database passes integrity_check.
source "$(dirname "$0")/lib.sh"
source "$SV_SOURCE_DIR/tests/tools/restore_lib.sh"
sv_setup
export SQLVAULT_LOG_FORMAT=text
peer="$SV_SOURCE_DIR/tests/tools/restore_peer.py"

ws=live
live="$SQLVAULT_DATA_DIR/$ws/livestore.db"
step "a ~30 MB workspace with a marker row, backed up; then the marker goes"
make_workspace "$ws" 120000
sqlite3 "$live" "CREATE TABLE wlog (n INTEGER, at REAL); INSERT INTO todos VALUES ('marker', 'in the backup', 0)"
note "database: $(stat -c %s "$live") bytes"
out="$(sv backup "$ws" --inline --json)"
ts="$(json_get "$out" ts)"
h_todos="$(sqlite3 "$live" '.sha3sum todos')"
sqlite3 "$live" "UPDATE todos SET title = 'changed after the backup' WHERE id = 'marker'; DELETE FROM todos WHERE rowid % 2 = 0"

step "a reader and a writer hold the database open"
coproc READER { python3 "$peer" reader "$live" "$SV_SCRATCH/go"; }
SV_CLEANUP_PIDS+=("$READER_PID")
read -r -t 30 mode before <&"${READER[0]}" || fail "reader did not start"
assert_eq wal "$mode" "reader's journal mode"
assert_eq "changed" "${before%% *}" "reader sees the changed marker before the restore"
python3 "$peer" writer "$live" "$SV_SCRATCH/stop" "$SV_SCRATCH/progress" >"$SV_SCRATCH/writer.out" 2>"$SV_SCRATCH/writer.err" &
writer_pid=$!
SV_CLEANUP_PIDS+=("$writer_pid")
wait_for --timeout 30 bash -c "[[ -s '$SV_SCRATCH/progress' && \$(cat '$SV_SCRATCH/progress') -ge 50 ]]"

step "restore while both are connected"
out="$(sv restore "$ws" --from "$ts" --yes --inline --json)"
note "pause (swap) took $(json_get "$out" pause_ms) ms"
n_after_swap="$(cat "$SV_SCRATCH/progress")"
wait_for --timeout 30 bash -c "[[ \$(cat '$SV_SCRATCH/progress') -ge $((n_after_swap + 50)) ]]"
touch "$SV_SCRATCH/go" "$SV_SCRATCH/stop"

step "the reader's open connection sees the restored content"
read -r -t 30 mode after <&"${READER[0]}" || fail "reader gave no answer"
assert_eq "in the backup" "$after" "marker seen by the reader after the restore"
read -r -t 30 qc <&"${READER[0]}" || fail "reader gave no quick_check"
assert_eq ok "$qc" "reader's quick_check"

step "the writer carried on without errors"
wait "$writer_pid" || fail "writer failed: $(cat "$SV_SCRATCH/writer.err")"
read -r n slowest <"$SV_SCRATCH/writer.out"
note "writer: $n commits, slowest $slowest ms"
assert_ge "$n" $((n_after_swap + 50)) "writer commits"
wait "$READER_PID" 2>/dev/null || true
# the last connection to close checkpoints: wait for locks rather than race it
q() { sqlite3 -cmd ".timeout 10000" "$live" "$@"; }
assert_eq ok "$(q 'PRAGMA integrity_check')" "integrity after restore and writes"
assert_eq "$h_todos" "$(q '.sha3sum todos')" "todos equal the backup's"
post="$(q 'SELECT count(*) FROM wlog')"
note "wlog rows after the restore (written after the swap): $post"
assert_ge "$post" 50 "writes after the swap kept"
pre_swap_rows="$(q "SELECT count(*) FROM wlog WHERE n < 50")"
assert_eq 0 "$pre_swap_rows" "writes from before the swap are gone with the old content"

sv_pass
