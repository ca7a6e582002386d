#!/usr/bin/env bash
# travel_inspect.sh -- `sqlvault inspect` (issue 25) of what is not a backup
# point: the live workspace (--at live) and an uploaded file
# (--at object:KEY), inline and through the queue.
#  - live, a single file with changes still in its WAL and rows added after
#    its backup: the tables and row counts SQLite gives on the live file
#    (the backup point keeps the older counts); the live content unchanged;
#  - live, a real LiveStore store: the event log's head and newest events and
#    the state's tables and rows, as SQLite reads the live files;
#  - object:KEY, a plain SQLite file and a zstd-compressed one uploaded under
#    uploads/WS/: their tables and rows; a missing key, a file that is not a
#    database, and (queued) a key outside the workspace's prefixes are
#    refused with their messages;
#  - queued: inspect takes no workspace lock, so it runs and answers while a
#    job holding the workspace's exclusive lock (a test sleep job) runs.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/queue_lib.sh"
source "$SV_SOURCE_DIR/tests/tools/restore_lib.sh"
source "$SV_SOURCE_DIR/tests/livestore/lib.sh"
ls_require
sv_setup
export SQLVAULT_LOG_FORMAT=text
W="$SV_SCRATCH"
SEED="${SV_TEST_SEED:-$RANDOM}"
note "seed $SEED (SV_TEST_SEED=$SEED to repeat)"
RANDOM=$SEED

# counts DB: "table=rows " of the user tables, by name (SQLite on DB).
counts() {
  local db="$1" t
  sqlite3 "$db" "SELECT name FROM sqlite_schema WHERE type='table' AND name NOT LIKE 'sqlite%' ORDER BY name" |
    while read -r t; do printf '%s=%s ' "$t" "$(sqlite3 "$db" "SELECT count(*) FROM \"$t\"")"; done
}
# tables JSON: the same from inspect's answer.
tables() { jq -r '[.tables[] | "\(.name)=\(.rows) "] | join("")' <<<"$1"; }

step "live, a single file: rows added after its backup and changes left in its WAL"
ws=travel-i
live="$SQLVAULT_DATA_DIR/$ws/livestore.db"
n1=$((1500 + RANDOM % 1000))
make_workspace "$ws" "$n1"
sqlite3 "$live" "CREATE TABLE extra (id INTEGER PRIMARY KEY, v TEXT);
  WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300) INSERT INTO extra (v) SELECT hex(randomblob(20)) FROM n"
bts="$(sv backup "$ws" --inline --json 2>/dev/null | jq -r .ts)"
backed="$(counts "file:$live?mode=ro")"
add=$((100 + RANDOM % 400))
python3 - "$live" "$add" <<'EOF'
import os, sqlite3, sys
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute("PRAGMA wal_autocheckpoint=0")
for i in range(int(sys.argv[2])):
    c.execute("INSERT INTO eventlog (name, args, created_at) VALUES ('late', 'x', datetime('now'))")
c.execute("DELETE FROM extra WHERE id % 3 = 0")
os._exit(0)  # the WAL stays as it is
EOF
[[ -s "$live-wal" ]] || fail "no WAL content"
want="$(counts "file:$live?mode=ro")"
content="$(sqlite3 "file:$live?mode=ro" .sha3sum)"
assert_ne "$backed" "$want" "the live counts moved on from the backup's"
ins="$(sv inspect "$ws" --at live --inline --json 2>"$W/err.txt")" || fail "inspect --at live: $(cat "$W/err.txt")"
assert_eq "$want" "$(tables "$ins")" "inspect --at live: tables and rows (through the WAL)"
assert_eq "live  null null" "$(jq -r '"\(.source) \(.backup // "") \(.at) \(.backupType)"' <<<"$ins")" "inspect --at live: the source"
assert_eq "$(sqlite3 "file:$live?mode=ro" 'PRAGMA page_count')" "$(jq -r .pageCount <<<"$ins")" "inspect --at live: page count"
assert_eq 0 "$(jq -r .fetched.bytes <<<"$ins")" "inspect --at live: bytes fetched from the store"
ins="$(sv inspect "$ws" --at latest --inline --json 2>"$W/err.txt")" || fail "inspect --at latest: $(cat "$W/err.txt")"
assert_eq "$backed" "$(tables "$ins")" "inspect --at latest: the backup's counts"
assert_eq "$bts" "$(jq -r .backup <<<"$ins")" "inspect --at latest: the backup"
assert_eq "$content" "$(sqlite3 "file:$live?mode=ro" .sha3sum)" "the live content after the inspections"

step "live, a real LiveStore store"
lws=travel-ils
nev=$((150 + RANDOM % 150))
ls_node write "$SQLVAULT_DATA_DIR" "$lws" --count "$nev" >/dev/null || fail "LiveStore write"
lstore="$SQLVAULT_DATA_DIR/$lws"
log="$lstore/eventlog@6.db"
state="$(ls "$lstore"/state*@6.db)"
ins="$(sv inspect "$lws" --at live --inline --json 2>"$W/err.txt")" || fail "inspect --at live of the store: $(cat "$W/err.txt")"
assert_eq "$nev" "$(jq -r .livestore.head <<<"$ins")" "the event log's head"
assert_eq "$(sqlite3 "file:$log?immutable=1" "SELECT seqNumGlobal || ' ' || name FROM eventlog ORDER BY seqNumGlobal DESC LIMIT 10" | paste -sd,)" \
  "$(jq -r '[.livestore.events[] | "\(.seq) \(.name)"] | join(",")' <<<"$ins")" "the newest events"
assert_eq "$(counts "file:$state?immutable=1")" "$(tables "$ins")" "the state's tables and rows"
assert_contains "$(tables "$ins")" "items=$nev " "an item per event"

step "object:KEY: an uploaded SQLite file and a zstd-compressed one"
up="$W/up.db"
make_db "$up" $((200 + RANDOM % 300))
sqlite3 "$up" "PRAGMA journal_mode=DELETE; CREATE TABLE notes (id INTEGER PRIMARY KEY, t TEXT); INSERT INTO notes (t) VALUES ('a'), ('b'), ('c')" >/dev/null
zstd -q -3 -f "$up" -o "$up.zst"
s3tool() { "$SV_BUILD_DIR/sv_s3tool" "$@"; }
s3tool put "uploads/$ws/up.db" "$up" 2>"$W/err.txt" || fail "upload: $(cat "$W/err.txt")"
s3tool put "uploads/$ws/up.db.zst" "$up.zst" 2>"$W/err.txt" || fail "upload: $(cat "$W/err.txt")"
printf 'not a database\n' >"$W/text.db"
s3tool put "uploads/$ws/text.db" "$W/text.db" 2>"$W/err.txt" || fail "upload: $(cat "$W/err.txt")"
want="$(counts "file:$up?immutable=1")"
for key in "uploads/$ws/up.db" "uploads/$ws/up.db.zst"; do
  ins="$(sv inspect "$ws" --at "object:$key" --inline --json 2>"$W/err.txt")" || fail "inspect object:$key: $(cat "$W/err.txt")"
  assert_eq "$want" "$(tables "$ins")" "inspect object:$key: tables and rows"
  assert_eq "object $(stat -c %s "$up")" "$(jq -r '"\(.source) \(.size)"' <<<"$ins")" "inspect object:$key: source and size"
done
st=0
out="$(sv inspect "$ws" --at "object:uploads/$ws/missing.db" --inline --json 2>&1)" || st=$?
assert_ne 0 "$st" "exit status for a missing object"
assert_contains "$out" "uploads/$ws/missing.db" "a missing object: the key in the error"
st=0
out="$(sv inspect "$ws" --at "object:uploads/$ws/text.db" --inline --json 2>&1)" || st=$?
assert_ne 0 "$st" "exit status for a text file"
note "a text file: $(jq -r .error <<<"$(grep -v '^error\|^HINT' <<<"$out")" 2>/dev/null)"
assert_eq "$content" "$(sqlite3 "file:$live?mode=ro" .sha3sum)" "the live content after the object inspections"
left="$(find "$SQLVAULT_DATA_DIR/.sqlvault-tmp" -type f 2>/dev/null | head -3)"
assert_eq "" "$left" "temporary files left by the object inspections"

step "queued: inspect takes no workspace lock, and keeps to the workspace's keys"
SQLVAULT_TEST_JOBS=1 start_worker w1 --threads 2 --grace 1
qpy enqueue hold-1 sleep "$ws" interactive 1 '{"ms": 20000}' >/dev/null
wait_state hold-1 active 30 || fail "the sleep job did not start: $(qfield hold-1 state)"
assert_eq x "$(qfield hold-1 lock)" "the sleep job's lock"
t0=$SECONDS
for at in live latest "object:uploads/$ws/up.db"; do
  id="insp-$(tr -c 'a-z0-9' - <<<"$at" | head -c 20)"
  sv inspect "$ws" --at "$at" --no-wait --id "$id" >/dev/null
  wait_state "$id" succeeded 30 || fail "queued inspect --at $at: $(qfield "$id" state) $(qfield "$id" error)"
  assert_eq n "$(qfield "$id" lock)" "lock mode of the inspect job"
  res="$(qfield "$id" result)"
  case "$at" in
    live) assert_eq "$(counts "file:$live?mode=ro")" "$(tables "$res")" "queued inspect --at live" ;;
    latest) assert_eq "$backed" "$(tables "$res")" "queued inspect --at latest" ;;
    *) assert_eq "$want" "$(tables "$res")" "queued inspect --at $at" ;;
  esac
done
assert_eq active "$(qfield hold-1 state)" "the lock holder, still running"
note "three queued inspections answered in $((SECONDS - t0)) s while the workspace was locked"
other=travel-other
mkdir -p "$SQLVAULT_DATA_DIR/$other"
sv inspect "$other" --at "object:uploads/$ws/up.db" --no-wait --id insp-scope >/dev/null
wait_state insp-scope failed 30 || fail "the out-of-scope inspect: $(qfield insp-scope state)"
assert_contains "$(qfield insp-scope error)" "refused by the workspace scope rule" "an object of another workspace, queued"
sv_pass
