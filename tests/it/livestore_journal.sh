#!/usr/bin/env bash
# livestore_journal.sh -- a hot journal at backup time. A real LiveStore 0.4
# writer is killed (SIGKILL) while a transaction's -journal exists, which
# leaves a hot journal next to a half-written file. The backup never lets
# SQLite near the live files: it refuses every try, reports the journal, and
# the live files and the journal stay byte-for-byte as they were (nothing
# rolled back). LiveStore itself, reopening the store, rolls the journal back
# and has every event that was committed; then the backup succeeds.
source "$(dirname "$0")/lib.sh"
source "$SV_SOURCE_DIR/tests/livestore/lib.sh"
ls_require
sv_setup
sv_use_file_store
ws=ls-j
live="$SQLVAULT_DATA_DIR/$ws"
ls_node write "$SQLVAULT_DATA_DIR" "$ws" --count 50 >/dev/null

step "kill LiveStore while a journal exists"
got=0
for attempt in $(seq 1 15); do
  rm -f "$SV_SCRATCH/stop"
  node "$LS_DIR/store.mjs" serve "$SQLVAULT_DATA_DIR" "$ws" --rate 0 --burst 20 --pad 2000 --stop "$SV_SCRATCH/stop" >/dev/null 2>&1 &
  w=$!
  # poll fast for a journal, kill the moment one is seen
  for _ in $(seq 1 3000); do
    if compgen -G "$live/*-journal" >/dev/null; then
      kill -KILL "$w" 2>/dev/null
      break
    fi
    kill -0 "$w" 2>/dev/null || break
    sleep 0.005
  done
  kill -KILL "$w" 2>/dev/null || true
  wait "$w" 2>/dev/null || true
  if compgen -G "$live/*-journal" >/dev/null; then
    got=1
    break
  fi
done
((got)) || fail "no journal left behind after 15 kills (the store may have been idle)"
note "journal left by a killed LiveStore (attempt $attempt): $(cd "$live" && ls | tr '\n' ' ')"
sum_before=$(cd "$live" && sha256sum ./* | sha256sum)

# journal_kind [FILE]: "hot" when the -journal (any, without FILE) has a
# non-zero 8-byte header, else "cold" (an empty or shorter journal is cold,
# as it is to SQLite and to sqlvault)
journal_kind() {
  local j h
  for j in "$live"/${1:-*}-journal; do
    h="$(head -c 8 "$j" | od -An -tx1 | tr -d ' \n')"
    [[ ${#h} -eq 16 && "$h" != 0000000000000000 ]] && { echo hot; return; }
  done
  echo cold
}

step "the backup never rolls anything back: a hot journal is refused, a cold one (no page written yet) ignored"
kind=$(journal_kind)
note "the killed writer left a $kind journal"
if [[ "$kind" == hot ]]; then
  out=$(SQLVAULT_STORE_COPY_TRIES=5 "$SV_BIN" backup "$ws" --inline 2>&1) && fail "backup succeeded over a hot journal: $out"
  assert_contains "$out" "saw a journal" "error"
else
  out=$("$SV_BIN" backup "$ws" --inline --json) || fail "backup over a cold journal failed: $out"
  assert_eq true "$(jq -r .livestore.coldJournalIgnored <<<"$out")" "cold journal reported"
fi
assert_eq "$sum_before" "$(cd "$live" && sha256sum ./* | sha256sum)" "live files and journal after the backup"

step "LiveStore reopens the store (recovering by itself); then the backup succeeds"
st=$(ls_state "$SQLVAULT_DATA_DIR" "$ws")
n=$(jq -r .items <<<"$st")
ls_expect_state "$st" "$n" "LiveStore's state after its own recovery"
read -r ev head gaps < <(ls_log_check "$live/eventlog@6.db")
assert_eq "$n $n 0" "$ev $head $gaps" "event log after recovery: events, head, gaps"
out=$("$SV_BIN" backup "$ws" --inline --json) || fail "backup after recovery failed: $out"
assert_eq "$n" "$(jq -r .livestore.events <<<"$out")" "events in the backup"

step "a hot journal with half-written pages (a writer that died mid-commit)"
# A writer in journal_mode=delete that spills pages into the file, then dies
# without committing: the journal holds the old pages, the file new ones.
python3 - "$live/eventlog@6.db" <<'PY'
import os, sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("PRAGMA cache_size=2")
db.execute("BEGIN")
db.execute("UPDATE eventlog SET argsJson = argsJson || '" + "y" * 20000 + "'")
os._exit(0)
PY
assert_eq hot "$(journal_kind 'eventlog@6.db')" "the event log's journal left by the dead writer"
sum_before=$(cd "$live" && sha256sum ./* | sha256sum)
out=$(SQLVAULT_STORE_COPY_TRIES=5 "$SV_BIN" backup "$ws" --inline 2>&1) && fail "backup succeeded over a hot journal: $out"
assert_contains "$out" "5 saw a journal" "error"
assert_contains "$out" "not touched" "hint"
assert_eq "$sum_before" "$(cd "$live" && sha256sum ./* | sha256sum)" "live files and journal after the backup (nothing rolled back)"
ls_expect_state "$(ls_state "$SQLVAULT_DATA_DIR" "$ws")" "$n" "LiveStore after rolling the journal back itself"
read -r ev head gaps < <(ls_log_check "$live/eventlog@6.db")
assert_eq "$n $n 0" "$ev $head $gaps" "event log: events, head, gaps"
out=$("$SV_BIN" backup "$ws" --inline --json) || fail "backup after recovery failed: $out"
assert_eq "$n" "$(jq -r .livestore.events <<<"$out")" "events in the backup"
sv_pass
