#!/usr/bin/env bash
# restore_rename.sh -- the swap by rename (docs/DESIGN.md): a WAL database
# that no process has open is swapped by linking it aside and renaming the
# validated file onto it; the old file linked aside is the safety copy,
# uploaded after the swap (by the restore itself when inline, as here; by a
# follow-up job when queued, restore_followup.sh). The new
# file keeps WAL mode and the live file's permissions, nothing is left next
# to it, and the safety backup holds the replaced content. A database that
# another process holds open, or one in rollback-journal mode, still goes
# through the backup API (that process sees the new content), with one
# pre-restore backup of the content it replaced.
source "$(dirname "$0")/lib.sh"
source "$SV_SOURCE_DIR/tests/tools/restore_lib.sh"
sv_setup
# This test is about the full restore path (download, validate, swap); delta
# restores have tests of their own (delta_restore.sh).
export SQLVAULT_RESTORE_DELTA=off
export SQLVAULT_LOG_FORMAT=text

ws=ren
live="$SQLVAULT_DATA_DIR/$ws/livestore.db"
make_workspace "$ws" 4000
out="$(sv backup "$ws" --inline --json)"
ts="$(json_get "$out" ts)"
h_backup="$(db_sha3 "$live")"

# edit_live TAG: a change after the backup (a connection that closes at once).
edit_live() { sqlite3 "$live" "INSERT INTO todos VALUES ('$1', 'only in the live database', 0)"; }

# safety_holds TS TAG: the pre-restore backup TS holds the row TAG.
safety_holds() {
  rm -f "$SV_SCRATCH/safety.db"
  sv restore "$ws" --from "$1" --db "$SV_SCRATCH/safety.db" --yes --inline >/dev/null 2>&1 ||
    fail "restoring the safety backup $1 failed"
  assert_eq 1 "$(sqlite3 "$SV_SCRATCH/safety.db" "SELECT count(*) FROM todos WHERE id = '$2'")" \
    "row $2 in the safety backup $1"
}

# pre_restore_count: the number of pre-restore backups listed.
pre_restore_count() { sv list "$ws" | grep -c pre-restore || true; }

step "nobody has the database open: swapped by rename, the early backup is the safety backup"
edit_live r1
chmod 640 "$live"
ino_before=$(stat -c %i "$live")
n0=$(pre_restore_count)
out="$(sv restore "$ws" --from "$ts" --yes --inline --json --no-delta)"
assert_eq rename "$(json_get "$out" swap)" "swap method"
assert_contains "$(json_get "$out" safety_source)" "the copy taken in the pause" "safety source"
assert_eq "$h_backup" "$(db_sha3 "$live")" "live content after the restore"
assert_eq ok "$(db_integrity "$live")" "integrity after the restore"
assert_eq wal "$(sqlite3 "$live" 'PRAGMA journal_mode')" "journal mode kept"
assert_eq 640 "$(stat -c %a "$live")" "file mode kept"
assert_ne "$ino_before" "$(stat -c %i "$live")" "a new file is live"
assert_eq $((n0 + 1)) "$(pre_restore_count)" "one pre-restore backup"
left=$(ls "$live".* 2>/dev/null || true)
[[ -z "$left" ]] || fail "files left next to the database: $left"
safety_holds "$(json_get "$out" safety_backup)" r1
no_restore_temps
note "pause $(json_get "$out" pause_ms) ms (safety $(json_get "$out" safety_ms) ms)"

step "another process holds the database open: the backup API, that process sees the new content"
edit_live r2
fifo="$SV_SCRATCH/peer.fifo"
mkfifo "$fifo"
# the peer: one connection that reads, waits on the fifo, then reads again
python3 - "$live" "$fifo" >"$SV_SCRATCH/peer.out" 2>&1 <<'PY' &
import sqlite3, sys
c = sqlite3.connect(sys.argv[1], isolation_level=None)
print("before", c.execute("SELECT count(*) FROM todos WHERE id = 'r2'").fetchone()[0], flush=True)
open(sys.argv[2]).read()
print("after", c.execute("SELECT count(*) FROM todos WHERE id = 'r2'").fetchone()[0], flush=True)
PY
peer=$!
wait_for --timeout 20 grep -q '^before 1' "$SV_SCRATCH/peer.out"
n0=$(pre_restore_count)
out="$(sv restore "$ws" --from "$ts" --yes --inline --json --no-delta)"
echo go >"$fifo"
wait "$peer" || fail "the peer failed: $(cat "$SV_SCRATCH/peer.out")"
assert_eq backup-api "$(json_get "$out" swap)" "swap method"
assert_contains "$(cat "$SV_SCRATCH/peer.out")" "after 0" "the open connection sees the restored content"
assert_eq "$h_backup" "$(db_sha3 "$live")" "live content after the restore"
safety_holds "$(json_get "$out" safety_backup)" r2
assert_eq $((n0 + 1)) "$(pre_restore_count)" "one pre-restore backup"
no_restore_temps

step "a rollback-journal database: the backup API"
sqlite3 "$live" 'PRAGMA journal_mode=DELETE' >/dev/null
edit_live r3
out="$(sv restore "$ws" --from "$ts" --yes --inline --json --no-delta)"
assert_eq backup-api "$(json_get "$out" swap)" "swap method"
assert_eq "$h_backup" "$(db_sha3 "$live")" "live content after the restore"
safety_holds "$(json_get "$out" safety_backup)" r3
no_restore_temps
sv_pass
