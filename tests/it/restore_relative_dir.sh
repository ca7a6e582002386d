#!/usr/bin/env bash
# restore_relative_dir.sh -- the quickstart's relative SQLVAULT_DATA_DIR
# (./data) is made absolute when the configuration loads, so paths recorded
# on jobs mean the same to every process: a queued restore's follow-up
# backup uploads the safety copy as the pre-restore backup (it used to fail
# "db ... is not an absolute path" under the workspace scope rule, leaving the
# copy on disk, never uploaded), and the safety copy is then removed.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/queue_lib.sh"
sv_setup
# This test is about the full restore path (download, validate, swap); delta
# restores have tests of their own (delta_restore.sh).
export SQLVAULT_RESTORE_DELTA=off
source "$SV_SOURCE_DIR/tests/tools/restore_lib.sh"
export SQLVAULT_LOG_FORMAT=text SQLVAULT_RETRY_BASE=100ms
ws=rel
make_workspace "$ws" 2000
cd "$SV_SCRATCH" || fail "no scratch folder"
export SQLVAULT_DATA_DIR=./data
db="$SV_SCRATCH/data/$ws/livestore.db"

step "a queued backup, a change, a queued restore: the follow-up commits the pre-restore backup"
start_worker w1 --threads 1
timeout 60 "$SV_BIN" backup "$ws" --id rel-b1 >/dev/null || fail "backup failed: $(qfield rel-b1 error)"
b1="$(qfield rel-b1 result | jq -r .ts)"
want="$(db_sha3 "$db")"
sqlite3 "$db" "DELETE FROM eventlog WHERE seq % 3 = 0"
pre="$(db_sha3 "$db")"
timeout 120 "$SV_BIN" restore "$ws" --from "$b1" --yes --id rel-r1 --no-delta >/dev/null ||
  fail "restore failed: $(qfield rel-r1 error)"
assert_eq "$want" "$(db_sha3 "$db")" "live content = the backup restored"
copy="$(qfield rel-r1 result | jq -r .safety_copy)"
[[ "$copy" == "$db.pre-restore-"* ]] || fail "safety_copy is [$copy], expected the absolute $db.pre-restore-TS"
ts="$(followup_ts rel-r1)"
note "pre-restore backup $ts"
assert_eq pre-restore "$("$SV_BIN" list "$ws" --json | jq -r --arg t "$ts" '.[] | select(.ts == $t) | .backupType')" \
  "the follow-up's backup type"
"$SV_BIN" restore "$ws" --from "$ts" --yes --inline >/dev/null || fail "restore of the pre-restore backup failed"
assert_eq "$pre" "$(db_sha3 "$db")" "the pre-restore backup holds the live content before the restore"
left="$(ls "$db".pre-restore-* 2>/dev/null || true)"
[[ -z "$left" ]] || fail "safety copies left on disk: $left"
sv_pass
