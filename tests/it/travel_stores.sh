#!/usr/bin/env bash
# travel_stores.sh -- time travel (issue 25) on the other kinds of backup:
#  - an encrypted workspace (SQLVAULT_ENCRYPTION_KEY_FILE): a full of a few
#    frames and incrementals (updates, deletes, VACUUM, growth); at every
#    point and latest, `query --json` answers (counts, lookups, ranges,
#    aggregates, integrity_check) equal SQLite's on a restore of that point
#    and `inspect` gives its row counts; the frames are read through the
#    sealed chunks with range GETs (a lookup fetches a part of the object);
#    without the key, or with another key, query and inspect fail at once
#    with the key's message;
#  - a real LiveStore 0.4 store (tests/livestore) backed up twice as it
#    grows: at every point `inspect` gives the event log's head and
#    newest events equal to SQLite's on the restored event log file, and the
#    state file's tables and row counts; `query --file eventlog|state`
#    answers equal SQLite's on the restored files.
source "$(dirname "$0")/lib.sh"
source "$SV_SOURCE_DIR/tests/tools/restore_lib.sh"
source "$SV_SOURCE_DIR/tests/livestore/lib.sh"
ls_require
sv_setup
sv_use_incrementals
export SQLVAULT_LOG_FORMAT=text

SEED="${SV_TEST_SEED:-$RANDOM}"
note "seed $SEED (SV_TEST_SEED=$SEED to repeat)"
W="$SV_SCRATCH"

stat_of() {
  curl -fsS -G "$SV_PROXY_CONTROL/stats" --data-urlencode "prefix=$SV_PREFIX" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"
}
stats_reset() { curl -fsS -X POST -G "$SV_PROXY_CONTROL/stats/reset" --data-urlencode "prefix=$SV_PREFIX" >/dev/null; }

# compare.py DB DIR: each DIR/N.sql's answer by SQLite on DB equals DIR/N.json
# (query --json); prints the rows compared.
cat >"$W/compare.py" <<'EOF'
import json, os, sqlite3, sys
db, d = sys.argv[1], sys.argv[2]
c = sqlite3.connect(f"file:{db}?immutable=1", uri=True)
n = 0
for f in sorted(x for x in os.listdir(d) if x.endswith(".sql")):
    sql = open(os.path.join(d, f)).read()
    got = json.load(open(os.path.join(d, f[:-4] + ".json")))
    cur = c.execute(sql)
    cols = [x[0] for x in cur.description]
    rows = [[v.hex() if isinstance(v, bytes) else v for v in row] for row in cur.fetchall()]
    if got["columns"] != cols or got["rows"] != rows:
        print(f"differs: {sql}\n  query:   {got['columns']} {json.dumps(got['rows'])[:500]}\n  restore: {cols} {json.dumps(rows)[:500]}")
        sys.exit(1)
    n += len(rows)
print(n)
EOF
# ask WS AT DIR SQL [query args]: query --at AT --json into DIR (N.sql, N.json).
ask() {
  local ws="$1" at="$2" d="$3" sql="$4" f
  shift 4
  mkdir -p "$d"
  f="$d/$(printf %02d $(($(find "$d" -name '*.sql' | wc -l) + 1)))"
  printf '%s' "$sql" >"$f.sql"
  sv query "$ws" --at "$at" --json "$@" "$sql" >"$f.json" 2>"$W/q.err" || fail "query $ws --at $at [$sql]: $(cat "$W/q.err")"
}
# same DB DIR WHAT: the answers in DIR equal SQLite's on DB; prints the rows compared.
same() {
  local n
  n="$(python3 "$W/compare.py" "$1" "$2")" || fail "$3: $n"
  echo "$n"
}

# ---------------------------------------------------------------- encrypted
kek_file "$W/k1" 1
kek_file "$W/k2" 2
export SQLVAULT_ENCRYPTION_KEY_FILE="$W/k1"
ws=travel-enc
live="$SQLVAULT_DATA_DIR/$ws/livestore.db"
mkdir -p "$(dirname "$live")"
cat >"$W/gen.py" <<'EOF'
import random, sqlite3, sys
db, seed, action = sys.argv[1], int(sys.argv[2]), sys.argv[3]
r = random.Random(f"{seed}:{action}")
W = ["".join(random.Random(i).choice("abcdefghijklmnopqrstuvwxyz") for _ in range(3 + i % 6)) for i in range(1500)]
text = lambda k: " ".join(r.choice(W) for _ in range(k))
c = sqlite3.connect(db, isolation_level=None)
if action == "init":
    c.execute("PRAGMA journal_mode=WAL")
c.execute("BEGIN")
if action == "init":
    c.execute("CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT, email TEXT UNIQUE)")
    c.execute("CREATE TABLE ledger (id INTEGER PRIMARY KEY, person INTEGER, amount REAL, memo TEXT)")
    c.execute("CREATE INDEX ledger_person ON ledger(person)")
    c.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, secret BLOB, body TEXT)")
    for i in range(1, 1501): c.execute("INSERT INTO people VALUES (?,?,?)", (i, text(2), f"p{i}@example.org"))
    for i in range(1, 3001): c.execute("INSERT INTO ledger VALUES (?,?,?,?)", (i, r.randrange(1, 1501), round(r.uniform(-100, 900), 2), text(4)))
    for i in range(1, 1801): c.execute("INSERT INTO notes VALUES (?,?,?)", (i, r.randbytes(24), text(r.randrange(200, 600))))
elif action == "churn":
    for i in r.sample(range(1, 3001), 400): c.execute("UPDATE ledger SET amount = ?, memo = ? WHERE id = ?", (round(r.uniform(0, 50), 2), text(2), i))
    c.execute("DELETE FROM notes WHERE id % 3 = ?", (r.randrange(3),))
    c.execute("DELETE FROM people WHERE id IN (SELECT id FROM people ORDER BY random() LIMIT 40)")
elif action == "grow":
    for i in range(1801, 2801): c.execute("INSERT INTO notes VALUES (?,?,?)", (i, r.randbytes(24), text(r.randrange(100, 500))))
    c.execute("INSERT INTO ledger (person, amount, memo) SELECT person, -amount, 'refund' FROM ledger WHERE id % 10 = 0")
c.execute("COMMIT")
if action == "vacuum": c.execute("VACUUM")
EOF
queries() {
  local r=$(( $1 % 1400 + 1 ))
  printf '%s\n' \
    "SELECT 'people', count(*) FROM people UNION ALL SELECT 'ledger', count(*) FROM ledger UNION ALL SELECT 'notes', count(*) FROM notes" \
    "SELECT * FROM notes WHERE id = $((r + 2))" \
    "SELECT id, name FROM people WHERE email = 'p$r@example.org'" \
    "SELECT id, amount, memo FROM ledger WHERE person = $r ORDER BY id" \
    "SELECT id, person, amount FROM ledger WHERE id BETWEEN $r AND $((r + 120)) ORDER BY id" \
    "SELECT person % 5, count(*), sum(amount), max(memo) FROM ledger GROUP BY 1 ORDER BY 1" \
    "SELECT count(*), sum(length(body)), hex(max(secret)) FROM notes" \
    "PRAGMA integrity_check"
}
declare -a ETS EH
epoint() {
  local out
  EH[$1]="$(sqlite3 "file:$live?mode=ro" .sha3sum)"
  out="$(sv backup "$ws" --inline --json 2>"$W/berr.txt")" || fail "backup $1: $(tail -3 "$W/berr.txt")"
  ETS[$1]="$(jq -r .ts <<<"$out")"
  note "encrypted backup $1 ${ETS[$1]} ($2): $(jq -r '"\(.backupType), stored \(.compressedSize) B"' <<<"$out"), file $(stat -c %s "$live") B"
}

step "an encrypted workspace: a full of a few frames, then incrementals"
python3 "$W/gen.py" "$live" "$SEED" init
epoint 0 initial
python3 "$W/gen.py" "$live" "$SEED" churn
epoint 1 "updates, deletes"
python3 "$W/gen.py" "$live" "$SEED" vacuum
epoint 2 VACUUM
python3 "$W/gen.py" "$live" "$SEED" grow
epoint 3 grown
s3_get "${SV_PREFIX}full/$ws/${ETS[0]}/metadata.json" "$W/em0.json"
assert_eq "sqlvault-enc-1" "$(jq -r .encryption.format "$W/em0.json")" "the full is encrypted"
assert_ge "$(jq -r .seekable.frames "$W/em0.json")" 3 "frames of the encrypted full"
s3_get "${SV_PREFIX}full/$ws/${ETS[3]}/metadata.json" "$W/em3.json"
assert_eq "incremental sqlvault-enc-1" "$(jq -r '"\(.backupType) \(.encryption.format)"' "$W/em3.json")" "the last link is encrypted"

step "encrypted: every point's answers equal SQLite's on its restore; inspect's row counts too"
for at in "${ETS[@]}" latest; do
  pi=3
  for i in 0 1 2 3; do [[ "${ETS[$i]}" == "$at" ]] && pi=$i; done
  copy="$W/enc-$pi.db"
  rm -f "$copy"
  sv restore "$ws" --from "$at" --db "$copy" --yes --inline >/dev/null 2>"$W/rerr.txt" || fail "restore --from $at: $(tail -3 "$W/rerr.txt")"
  assert_eq "${EH[$pi]}" "$(db_sha3 "$copy")" "restore of $at: the content backup $pi had" >/dev/null
  d="$W/enc-q-$at"
  nq=0
  while IFS= read -r sql; do
    ask "$ws" "$at" "$d" "$sql"
    nq=$((nq + 1))
  done < <(queries $((SEED + pi)))
  rows="$(same "$copy" "$d" "encrypted point $at")"
  assert_eq '[["ok"]]' "$(jq -c .rows "$d/$(printf %02d $nq).json")" "integrity_check of $at in place" >/dev/null
  ins="$(sv inspect "$ws" --at "$at" --inline --json 2>"$W/ierr.txt")" || fail "inspect --at $at: $(cat "$W/ierr.txt")"
  counted="$(for t in ledger notes people; do printf '%s=%s ' $t "$(sqlite3 "file:$copy?immutable=1" "SELECT count(*) FROM $t")"; done)"
  assert_eq "$counted" "$(jq -r '[.tables[] | "\(.name)=\(.rows) "] | join("")' <<<"$ins")" "inspect --at $at: tables and rows" >/dev/null
  assert_eq "${ETS[$pi]} $pi" "$(jq -r '"\(.backup) \(.chainLength)"' <<<"$ins")" "inspect --at $at: backup and chain" >/dev/null
  note "ok: encrypted point $at (backup $pi): $nq queries, $rows rows equal to the restore's; inspect: $counted"
done

step "encrypted: a lookup reads whole sealed chunks with range GETs, a part of the object"
stored0="$(jq -r .compressedSize "$W/em0.json")"
stats_reset
out="$(sv query "$ws" --at "${ETS[0]}" --json "SELECT id, length(body) FROM notes WHERE id = 1700" 2>"$W/q.err")" || fail "lookup: $(cat "$W/q.err")"
note "lookup: $(tail -1 "$W/q.err"); proxy: $(stat_of requests) requests, $(stat_of rangeGets) range GETs, $(stat_of bytesOut) bytes out of $stored0 stored"
assert_ge "$(stat_of rangeGets)" 3 "range GETs (the header, the index, a frame)"
assert_le "$(stat_of bytesOut)" $((stored0 * 3 / 4)) "bytes out against 3/4 of the object (2 of its $(jq -r .seekable.frames "$W/em0.json") frames at most)"

step "encrypted: without the key, or with another, query and inspect fail at once"
before="$(file_sha256 "$live")"
st=0
out="$(env -u SQLVAULT_ENCRYPTION_KEY_FILE "$SV_BIN" query "$ws" "SELECT count(*) FROM people" 2>&1)" || st=$?
assert_ne 0 "$st" "exit status of a query without the key"
assert_contains "$out" "encrypted and no encryption key is configured" "query without the key"
st=0
out="$(SQLVAULT_ENCRYPTION_KEY_FILE="$W/k2" "$SV_BIN" query "$ws" "SELECT count(*) FROM people" 2>&1)" || st=$?
assert_ne 0 "$st" "exit status of a query with another key"
assert_contains "$out" "wrong encryption key" "query with another key"
st=0
out="$(SQLVAULT_ENCRYPTION_KEY_FILE="$W/k2" "$SV_BIN" inspect "$ws" --inline --json 2>&1)" || st=$?
assert_ne 0 "$st" "exit status of inspect with another key"
assert_contains "$out" "wrong encryption key" "inspect with another key"
assert_eq "$before" "$(file_sha256 "$live")" "the live workspace after the refusals"
unset SQLVAULT_ENCRYPTION_KEY_FILE

# ---------------------------------------------------------------- LiveStore
step "a real LiveStore store, backed up twice as it grows"
lws=travel-ls
lstore="$SQLVAULT_DATA_DIR/$lws"
declare -a LTS LN
n=0
for i in 0 1; do
  add=$((200 + (SEED + i * 37) % 200))
  ls_node write "$SQLVAULT_DATA_DIR" "$lws" --count "$add" >/dev/null || fail "LiveStore write of $add events"
  n=$((n + add))
  out="$(sv backup "$lws" --inline --json 2>"$W/berr.txt")" || fail "store backup $i: $(tail -3 "$W/berr.txt")"
  assert_eq store "$(jq -r .shape <<<"$out")" "shape of store backup $i" >/dev/null
  LTS[$i]="$(jq -r .ts <<<"$out")" LN[$i]=$n
  note "store backup $i ${LTS[$i]}: $n events"
done

step "LiveStore: at every point, inspect's event log head, newest events and state tables equal SQLite's on its restore"
for at in "${LTS[@]}" latest; do
  pi=1
  for i in 0 1; do [[ "${LTS[$i]}" == "$at" ]] && pi=$i; done
  rd="$W/ls-$pi"
  rm -rf "$rd"
  mkdir -p "$rd"
  SQLVAULT_DATA_DIR="$rd" sv restore "$lws" --from "$at" --yes --inline >/dev/null 2>"$W/rerr.txt" ||
    fail "restore of the store --from $at: $(tail -3 "$W/rerr.txt")"
  log="$rd/$lws/eventlog@6.db"
  state="$(ls "$rd/$lws"/state*@6.db)"
  read -r ev head gaps < <(ls_log_check "$log")
  assert_eq "${LN[$pi]} ${LN[$pi]} 0" "$ev $head $gaps" "restored event log of $at: events, head, gaps" >/dev/null
  ins="$(sv inspect "$lws" --at "$at" --inline --json 2>"$W/ierr.txt")" || fail "inspect --at $at: $(cat "$W/ierr.txt")"
  assert_eq "${LTS[$pi]}" "$(jq -r .backup <<<"$ins")" "inspect --at $at: the backup" >/dev/null
  assert_eq "$head" "$(jq -r .livestore.head <<<"$ins")" "inspect --at $at: the event log's head"
  want="$(sqlite3 "file:$log?immutable=1" "SELECT seqNumGlobal || ' ' || name FROM eventlog ORDER BY seqNumGlobal DESC LIMIT 10" | paste -sd,)"
  assert_eq "$want" "$(jq -r '[.livestore.events[] | "\(.seq) \(.name)"] | join(",")' <<<"$ins")" "inspect --at $at: the newest events" >/dev/null
  counted="$(sqlite3 "file:$state?immutable=1" "SELECT name FROM sqlite_schema WHERE type='table' AND name NOT LIKE 'sqlite%' ORDER BY name" |
    while read -r t; do printf '%s=%s ' "$t" "$(sqlite3 "file:$state?immutable=1" "SELECT count(*) FROM \"$t\"")"; done)"
  assert_eq "$counted" "$(jq -r '[.tables[] | "\(.name)=\(.rows) "] | join("")' <<<"$ins")" "inspect --at $at: the state's tables and rows"
  assert_contains "$counted" "items=${LN[$pi]} " "the state holds an item per event" >/dev/null
  ins_log="$(sv inspect "$lws" --at "$at" --file eventlog --inline --json 2>"$W/ierr.txt")" || fail "inspect --file eventlog: $(cat "$W/ierr.txt")"
  assert_eq "$head" "$(jq -r .livestore.head <<<"$ins_log")" "inspect --at $at --file eventlog: the head" >/dev/null
  assert_eq "$(stat -c %s "$log")" "$(jq -r .size <<<"$ins_log")" "inspect --file eventlog: the event log's size" >/dev/null
  ask "$lws" "$at" "$rd/q-log" "SELECT seqNumGlobal, seqNumClient, parentSeqNumGlobal, name, argsJson, clientId FROM eventlog ORDER BY seqNumGlobal DESC LIMIT 25" --file eventlog
  ask "$lws" "$at" "$rd/q-log" "SELECT count(*), max(seqNumGlobal), count(DISTINCT name) FROM eventlog" --file eventlog
  ask "$lws" "$at" "$rd/q-log" "PRAGMA integrity_check" --file eventlog
  ask "$lws" "$at" "$rd/q-state" "SELECT * FROM items ORDER BY rowid DESC LIMIT 30" --file state
  ask "$lws" "$at" "$rd/q-state" "SELECT count(*), sum(n) FROM items" --file state
  ask "$lws" "$at" "$rd/q-state" "PRAGMA integrity_check" --file state
  r1="$(same "$log" "$rd/q-log" "store point $at, the event log")"
  r2="$(same "$state" "$rd/q-state" "store point $at, the state")"
  assert_eq '[["ok"]]' "$(jq -c .rows "$rd/q-state/03.json")" "integrity_check of the state at $at in place" >/dev/null
  note "ok: store point $at (backup $pi): head $head, $((r1 + r2)) rows of query --file eventlog|state equal to the restored files'"
done

sv_pass
