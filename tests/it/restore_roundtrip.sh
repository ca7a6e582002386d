#!/usr/bin/env bash
# Round trip: back up, change the live database, restore --from latest and
# --from TIMESTAMP (backups a week, a day and minutes old, made with
# SQLVAULT_FAKE_NOW), on the S3 store behind the R2 proxy and on a file://
# store. The restored content equals the backup's (sqlite3 .sha3sum), a
# pre-restore safety backup appears in `sqlvault list`, a workspace with no
# database yet can be restored into, and --require-table is enforced.
source "$(dirname "$0")/lib.sh"
source "$SV_SOURCE_DIR/tests/tools/restore_lib.sh"
sv_setup

now_ms=$(($(date +%s) * 1000))
week_ago=$((now_ms - 7 * 86400000))
day_ago=$((now_ms - 86400000))

for store in s3 file; do
  if [[ "$store" == file ]]; then sv_use_file_store; fi
  ws="rt-$store"
  live="$SQLVAULT_DATA_DIR/$ws/livestore.db"

  step "[$store] three backups: a week old, a day old, and now"
  make_workspace "$ws" 200
  SQLVAULT_FAKE_NOW="$week_ago" sv backup "$ws" --inline >/dev/null
  h_week="$(db_sha3 "$live")"
  sqlite3 "$live" "INSERT INTO todos VALUES ('day', 'made a day ago', 0)"
  SQLVAULT_FAKE_NOW="$day_ago" sv backup "$ws" --inline >/dev/null
  h_day="$(db_sha3 "$live")"
  sqlite3 "$live" "INSERT INTO todos VALUES ('now', 'made now', 0)"
  sv backup "$ws" --inline >/dev/null
  h_now="$(db_sha3 "$live")"
  list="$(sv list "$ws" --json)"
  ts_all="$(python3 -c 'import json,sys; print(" ".join(b["ts"] for b in json.load(sys.stdin)))' <<<"$list")"
  read -r ts_now ts_day ts_week <<<"$ts_all"
  note "backups: $ts_all"
  assert_eq "${ts_week:0:8}" "$(date -u -d "@$((week_ago / 1000))" +%Y%m%d)" "week-old backup's day"
  assert_eq "${ts_day:0:8}" "$(date -u -d "@$((day_ago / 1000))" +%Y%m%d)" "day-old backup's day"

  step "[$store] change the live database, restore --from latest"
  export SQLVAULT_LOG_FORMAT=text
  sqlite3 "$live" "DELETE FROM todos WHERE rowid % 3 = 0; INSERT INTO todos VALUES ('later', 'after the backup', 1)"
  h_changed="$(db_sha3 "$live")"
  assert_ne "$h_now" "$h_changed" "content changed"
  out="$(sv restore "$ws" --from latest --yes --inline --json)"
  assert_eq "$h_now" "$(db_sha3 "$live")" "content after restore --from latest"
  assert_eq ok "$(db_integrity "$live")" "integrity after restore"
  assert_eq wal "$(sqlite3 "$live" 'PRAGMA journal_mode')" "journal mode kept"
  safety="$(json_get "$out" safety_backup)"
  [[ -n "$safety" ]] || fail "no safety backup in the result: $out"
  listing="$(sv list "$ws")"
  assert_contains "$listing" "$safety" "list shows the pre-restore backup"
  assert_contains "$listing" "pre-restore" "list shows its type"

  step "[$store] the pre-restore backup holds the content the restore replaced"
  sv restore "$ws" --from "$safety" --yes --inline >/dev/null
  assert_eq "$h_changed" "$(db_sha3 "$live")" "content after restoring the safety backup"

  step "[$store] restore each TIMESTAMP: a week old, a day old, the newest"
  sv restore "$ws" --from "$ts_week" --yes --inline >/dev/null
  assert_eq "$h_week" "$(db_sha3 "$live")" "content of the week-old backup"
  sv restore "$ws" --from "$ts_day" --yes --inline >/dev/null
  assert_eq "$h_day" "$(db_sha3 "$live")" "content of the day-old backup"
  iso_now="$(python3 -c 'import sys; t=sys.argv[1]; print(f"{t[0:4]}-{t[4:6]}-{t[6:8]}T{t[9:11]}:{t[11:13]}:{t[13:19]}Z")' "$ts_now")"
  sv restore "$ws" --from "$iso_now" --yes --inline >/dev/null
  assert_eq "$h_now" "$(db_sha3 "$live")" "content of the newest backup, named by ISO time"
  out="$(sv restore "$ws" --from 20000101T000000.000Z --yes --inline 2>&1)" && fail "restore of a missing backup succeeded"
  assert_contains "$out" "no committed backup" "missing backup error"

  step "[$store] restore into a workspace that has no database yet"
  fresh="$SQLVAULT_DATA_DIR/$ws-fresh/livestore.db"
  out="$(sv restore "$ws" --from "$ts_now" --db "$fresh" --yes --inline --json)"
  assert_eq "$h_now" "$(db_sha3 "$fresh")" "content of the new database"
  assert_eq "" "$(json_get "$out" safety_backup)" "no safety backup without a live database"

  step "[$store] --require-table"
  sv restore "$ws" --from latest --require-table eventlog,todos --yes --inline >/dev/null
  before="$(live_state "$live")"
  out="$(sv restore "$ws" --from latest --require-table nosuchtable --yes --inline 2>&1)" && fail "restore with a missing required table succeeded"
  assert_contains "$out" "no table 'nosuchtable'" "required table error"
  assert_eq "$before" "$(live_state "$live")" "live database untouched"
  no_restore_temps
done

sv_pass
