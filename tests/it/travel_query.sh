#!/usr/bin/env bash
# travel_query.sh -- time travel (issue 25): `sqlvault query` and `sqlvault
# inspect` read a point of a workspace's backups in place, through the
# R2-rules proxy, and answer exactly what a full restore of that point holds.
#
# A workspace of several tables (accounts, orders with an index, a WITHOUT
# ROWID kv, docs: most of its ~11 MiB) gets a full, then incrementals over
# seeded random changes: updates, inserts and deletes; a table dropped and
# another created; many rows deleted, then VACUUM (the file shrinks); a large
# insert (it grows); changes left in the WAL. For every point (each backup's
# folder time, latest, and an ISO time between two backups) the answers of a
# set of queries (the schema, count(*) of every table, point lookups by
# primary key and by an index, range scans, aggregates, pragma
# integrity_check) from `query --json` equal the same queries by SQLite on a
# restore of that point (`restore --db` into a scratch file), whose content
# is the live database's when its backup ran; `inspect --json` gives the
# tables, row counts, page count and size of that copy. The proxy's counters
# (scoped to this test's prefix) count the query's requests and its range
# GETs; in a larger workspace (~40 MiB, 20+ frames) a point lookup fetches
# under 20% of the stored bytes (frame 0 with the schema, the frame of an
# interior page, the leaf's). The live workspace is never touched.
source "$(dirname "$0")/lib.sh"
source "$SV_SOURCE_DIR/tests/tools/restore_lib.sh"
sv_setup
sv_use_incrementals
export SQLVAULT_LOG_FORMAT=text

SEED="${SV_TEST_SEED:-$RANDOM}"
note "seed $SEED (SV_TEST_SEED=$SEED to repeat)"
ws=travel-q
live="$SQLVAULT_DATA_DIR/$ws/livestore.db"
W="$SV_SCRATCH"
mkdir -p "$SQLVAULT_DATA_DIR/$ws" "$W/pts"

stat_of() {
  curl -fsS -G "$SV_PROXY_CONTROL/stats" --data-urlencode "prefix=$SV_PREFIX" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"
}
stats_reset() { curl -fsS -X POST -G "$SV_PROXY_CONTROL/stats/reset" --data-urlencode "prefix=$SV_PREFIX" >/dev/null; }

# The workspace's writer: gen.py DB SEED ACTION [N]: seeded changes.
cat >"$W/gen.py" <<'EOF'
import random, sqlite3, sys
db, seed, action = sys.argv[1], int(sys.argv[2]), sys.argv[3]
n = int(sys.argv[4]) if len(sys.argv) > 4 else 0
r = random.Random(f"{seed}:{action}:{n}")
vocab = random.Random(seed)
WORDS = ["".join(vocab.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(3 + i % 7)) for i in range(2000)]
def text(k): return " ".join(r.choice(WORDS) for _ in range(k))
c = sqlite3.connect(db, isolation_level=None)
if action == "init":
    c.execute("PRAGMA journal_mode=WAL")
c.execute("BEGIN")
ids = lambda t: [x for (x,) in c.execute(f"SELECT id FROM {t}")] if action != "init" else []
if action == "init":
    c.execute("CREATE TABLE accounts (id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT UNIQUE, balance INTEGER)")
    c.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, account INTEGER NOT NULL, amount REAL, note TEXT)")
    c.execute("CREATE INDEX orders_account ON orders(account)")
    c.execute("CREATE TABLE kv (k TEXT PRIMARY KEY, v BLOB) WITHOUT ROWID")
    c.execute("CREATE TABLE docs (id INTEGER PRIMARY KEY, title TEXT, body TEXT)")
    for i in range(1, 2001):
        c.execute("INSERT INTO accounts VALUES (?,?,?,?)", (i, text(2), f"u{i}@example.org", r.randrange(-1000, 100000)))
    for i in range(1, 4001):
        c.execute("INSERT INTO orders VALUES (?,?,?,?)", (i, r.randrange(1, 2001), round(r.uniform(1, 500), 2), text(r.randrange(1, 12))))
    for i in range(800):
        c.execute("INSERT INTO kv VALUES (?,?)", (f"key-{i:05d}-{r.randrange(10**6)}", r.randbytes(r.randrange(8, 64))))
    for i in range(1, n + 1):
        c.execute("INSERT INTO docs VALUES (?,?,?)", (i, text(5), text(r.randrange(300, 700))))
elif action == "churn":          # updates, inserts, deletes
    acc, orders, docs = ids("accounts"), ids("orders"), ids("docs")
    for i in r.sample(acc, 300): c.execute("UPDATE accounts SET balance = ?, name = ? WHERE id = ?", (r.randrange(-5000, 100000), text(2), i))
    for i in r.sample(docs, 40): c.execute("UPDATE docs SET body = ? WHERE id = ?", (text(r.randrange(100, 900)), i))
    top = max(orders)
    for i in range(top + 1, top + 1 + n): c.execute("INSERT INTO orders VALUES (?,?,?,?)", (i, r.choice(acc), round(r.uniform(1, 900), 2), text(3)))
    for i in r.sample(orders, n // 2): c.execute("DELETE FROM orders WHERE id = ?", (i,))
    c.execute("DELETE FROM accounts WHERE id IN (SELECT id FROM accounts ORDER BY random() LIMIT 25)")
elif action == "reshape":        # a table dropped, another created
    c.execute("DROP TABLE kv")
    c.execute("CREATE TABLE tags (id INTEGER PRIMARY KEY, doc INTEGER, tag TEXT, weight REAL)")
    c.execute("CREATE INDEX tags_tag ON tags(tag)")
    docs = ids("docs")
    for i in range(1, n + 1): c.execute("INSERT INTO tags VALUES (?,?,?,?)", (i, r.choice(docs), r.choice(WORDS[:60]), r.random()))
elif action == "cut":            # many rows deleted (the file keeps its size: free pages)
    docs = ids("docs")
    for i in r.sample(docs, len(docs) * n // 100): c.execute("DELETE FROM docs WHERE id = ?", (i,))
elif action == "grow":           # a large insert: the file grows
    top = max(ids("docs"))
    for i in range(top + 1, top + 1 + n): c.execute("INSERT INTO docs VALUES (?,?,?)", (i, text(4), text(r.randrange(200, 800))))
c.execute("COMMIT")
if action == "vacuum":
    c.execute("VACUUM")
if action == "wal":              # small changes left in the WAL (no checkpoint)
    c.execute("PRAGMA wal_autocheckpoint=0")
    for k in range(n):
        c.execute("INSERT INTO tags (doc, tag, weight) VALUES (?,?,?)", (k, "wal", r.random()))
        c.execute("UPDATE accounts SET balance = balance + 1 WHERE id = (SELECT id FROM accounts ORDER BY id LIMIT 1 OFFSET ?)", (r.randrange(100),))
    import os
    os._exit(0)                  # leave the WAL as it is
EOF

# queries.py DB: the queries of a point (they depend on its tables), one a line.
cat >"$W/queries.py" <<'EOF'
import random, sqlite3, sys
db, seed = sys.argv[1], int(sys.argv[2])
c = sqlite3.connect(f"file:{db}?immutable=1", uri=True)
tables = [t for (t,) in c.execute("SELECT name FROM sqlite_schema WHERE type='table' AND name NOT LIKE 'sqlite%' ORDER BY name")]
r = random.Random(seed)
q = ["SELECT type, name, tbl_name FROM sqlite_schema ORDER BY name",
     " UNION ALL ".join(f"SELECT '{t}' AS t, count(*) AS n FROM {t}" for t in tables)]
maxdoc = c.execute("SELECT max(id) FROM docs").fetchone()[0]
q += [f"SELECT * FROM docs WHERE id = {r.randrange(1, maxdoc + 1)}",
      f"SELECT id, title, length(body) FROM docs WHERE id = {maxdoc}",
      f"SELECT * FROM accounts WHERE id = {r.randrange(1, 2001)}",
      f"SELECT id, name, balance FROM accounts WHERE email = 'u{r.randrange(1, 2001)}@example.org'",
      f"SELECT * FROM orders WHERE account = {r.randrange(1, 2001)} ORDER BY id"]
lo = r.randrange(1, 4000)
q += [f"SELECT id, account, amount, note FROM orders WHERE id BETWEEN {lo} AND {lo + 150} ORDER BY id",
      f"SELECT id, title FROM docs WHERE id >= {r.randrange(1, maxdoc)} ORDER BY id LIMIT 60",
      "SELECT account % 7 AS g, count(*), sum(amount), round(avg(amount), 6), max(note) FROM orders GROUP BY 1 ORDER BY 1",
      "SELECT count(*), sum(length(body)), min(id), max(id), total(length(title)) FROM docs",
      "SELECT sum(balance), min(balance), max(balance) FROM accounts"]
if "kv" in tables:
    q.append(f"SELECT k, v FROM kv WHERE k >= 'key-{r.randrange(800):05d}' ORDER BY k LIMIT 40")
if "tags" in tables:
    q.append("SELECT tag, count(*), round(sum(weight), 9) FROM tags GROUP BY tag ORDER BY tag")
q.append("PRAGMA integrity_check")
print("\n".join(q))
EOF

# compare.py DB DIR: each DIR/N.sql's answer by SQLite on DB equals DIR/N.json (query --json).
cat >"$W/compare.py" <<'EOF'
import json, os, sqlite3, sys
db, d = sys.argv[1], sys.argv[2]
c = sqlite3.connect(f"file:{db}?immutable=1", uri=True)
def val(v): return v.hex() if isinstance(v, bytes) else v
n = 0
for f in sorted(os.listdir(d)):
    if not f.endswith(".sql"): continue
    sql = open(os.path.join(d, f)).read()
    got = json.load(open(os.path.join(d, f[:-4] + ".json")))
    cur = c.execute(sql)
    cols = [x[0] for x in cur.description]
    rows = [[val(v) for v in row] for row in cur.fetchall()]
    if got["columns"] != cols or got["rows"] != rows:
        print(f"DIFF {f}: {sql}\n  query:   {got['columns']} {json.dumps(got['rows'])[:600]}\n  restore: {cols} {json.dumps(rows)[:600]}")
        sys.exit(1)
    n += len(rows)
print(f"{n}")
EOF

ts_ms() { python3 -c 'import sys,datetime as d; print(int(d.datetime.strptime(sys.argv[1], "%Y%m%dT%H%M%S.%fZ").replace(tzinfo=d.timezone.utc).timestamp()*1000))' "$1"; }
iso_ms() { python3 -c 'import sys,datetime as d; t=d.datetime.fromtimestamp(int(sys.argv[1])/1000, d.timezone.utc); print(t.strftime("%Y-%m-%dT%H:%M:%S.")+"%03dZ"%(int(sys.argv[1])%1000))' "$1"; }

declare -a TS HASH
# point I WHAT: backs the workspace up (through its WAL), records the live content.
point() {
  local i="$1" out
  HASH[$i]="$(sqlite3 "file:$live?mode=ro" .sha3sum)" # read only: closing it checkpoints nothing
  out="$(sv backup "$ws" --inline --json 2>"$W/berr.txt")" || fail "backup $i: $(tail -3 "$W/berr.txt")"
  TS[$i]="$(jq -r .ts <<<"$out")"
  note "backup $i ${TS[$i]} ($2): $(jq -r '"\(.backupType) chain \(.chainLength) changed pages \(.changedPages // "-"), stored \(.compressedSize) B"' <<<"$out"), file $(stat -c %s "$live") B"
  if ((i == 0)); then assert_eq full "$(jq -r .backupType <<<"$out")" "backup 0's type"
  else assert_eq incremental "$(jq -r .backupType <<<"$out")" "backup $i's type"; fi
}

step "a workspace of several tables: a full, then incrementals over seeded random changes"
python3 "$W/gen.py" "$live" "$SEED" init 2500
point 0 "initial: 4 tables, $(db_count "$live" docs) docs"
python3 "$W/gen.py" "$live" "$SEED" churn 300
point 1 "updates, inserts, deletes"
python3 "$W/gen.py" "$live" "$SEED" reshape 1500
point 2 "kv dropped, tags created"
python3 "$W/gen.py" "$live" "$SEED" cut 45
point 3 "45% of docs deleted"
size3=$(stat -c %s "$live")
python3 "$W/gen.py" "$live" "$SEED" vacuum
point 4 "VACUUM"
size4=$(stat -c %s "$live")
assert_le "$size4" $((size3 * 3 / 4)) "file size after VACUUM (was $size3)"
python3 "$W/gen.py" "$live" "$SEED" grow 1200
point 5 "grown by 1200 docs"
assert_ge "$(stat -c %s "$live")" $((size4 * 5 / 4)) "file size after the growth (was $size4)"
python3 "$W/gen.py" "$live" "$SEED" wal 40
[[ -s "$live-wal" ]] || fail "no WAL content before backup 6"
point 6 "changes in the WAL"
last=6

mid_ms=$(( ($(ts_ms "${TS[2]}") + $(ts_ms "${TS[3]}")) / 2 ))
ISO="$(iso_ms "$mid_ms")"
POINTS=("${TS[@]}" latest "$ISO")
declare -A WANT=([latest]=$last ["$ISO"]=2)
for ((i = 0; i <= last; i++)); do WANT[${TS[$i]}]=$i; done
live_before="$(file_sha256 "$live")"
wal_before="$(file_sha256 "$live-wal")"

step "every point: query --json answers equal SQLite's on a restore of that point; inspect's row counts too"
# (latest and the time between backups 2 and 3 are compared with the restore of
# the backup restore picks for them, restored once)
total_q=0 total_ms=0 k=0
for at in "${POINTS[@]}"; do
  k=$((k + 1))
  pi="${WANT[$at]}"
  want="${TS[$pi]}"
  d="$W/pts/$k"
  copy="$W/pts/restored-$pi.db"
  mkdir -p "$d"
  out="$(sv restore "$ws" --from "$at" --db "$W/pts/try.db" --yes --inline --json 2>"$W/rerr.txt")" ||
    fail "restore --from $at: $(tail -3 "$W/rerr.txt")"
  assert_eq "$want" "$(jq -r .backup <<<"$out")" "restore --from $at: the backup" >/dev/null
  if [[ -f "$copy" ]]; then
    cmp -s "$copy" "$W/pts/try.db" || fail "restore --from $at differs from the restore of $want"
    rm -f "$W/pts/try.db"
  else
    mv "$W/pts/try.db" "$copy"
  fi
  assert_eq "${HASH[$pi]}" "$(db_sha3 "$copy")" "restore of point $at: the live content when backup $pi ran"
  n=0
  while IFS= read -r sql; do
    n=$((n + 1))
    f="$d/q$(printf %02d $n)"
    printf '%s' "$sql" >"$f.sql"
    t0=$(date +%s%N)
    sv query "$ws" --at "$at" --json "$sql" >"$f.json" 2>"$d/err.txt" || fail "query --at $at [$sql]: $(cat "$d/err.txt")"
    total_ms=$((total_ms + ($(date +%s%N) - t0) / 1000000))
    [[ "$(jq -r .backup "$f.json")" == "$want" ]] || fail "query --at $at answered from $(jq -r .backup "$f.json"), not $want"
  done < <(python3 "$W/queries.py" "$copy" $((SEED + k)))
  total_q=$((total_q + n))
  rows="$(python3 "$W/compare.py" "$copy" "$d")" || fail "point $at (backup $want): $rows"
  assert_eq ok "$(jq -r '.rows[0][0]' "$f.json")" "point $at: integrity_check through the VFS" >/dev/null
  note "ok: point $at (backup $pi, $want): $n queries, $rows rows, each equal to SQLite's on the restore"
  ins="$(sv inspect "$ws" --at "$at" --inline --json 2>"$d/err.txt")" || fail "inspect --at $at: $(cat "$d/err.txt")"
  assert_eq "$want" "$(jq -r .backup <<<"$ins")" "inspect --at $at: the backup" >/dev/null
  assert_eq "$pi" "$(jq -r .chainLength <<<"$ins")" "inspect --at $at: chain length" >/dev/null
  counted="$(sqlite3 "file:$copy?immutable=1" "SELECT name FROM sqlite_schema WHERE type='table' AND name NOT LIKE 'sqlite%' ORDER BY name" |
    while read -r t; do printf '%s=%s ' "$t" "$(sqlite3 "file:$copy?immutable=1" "SELECT count(*) FROM \"$t\"")"; done)"
  assert_eq "$counted" "$(jq -r '[.tables[] | "\(.name)=\(.rows) "] | join("")' <<<"$ins")" "inspect --at $at: tables and rows"
  assert_eq "$(sqlite3 "file:$copy?immutable=1" 'PRAGMA page_count')" "$(jq -r .pageCount <<<"$ins")" "inspect --at $at: page count" >/dev/null
  assert_eq "$(stat -c %s "$copy")" "$(jq -r .size <<<"$ins")" "inspect --at $at: size" >/dev/null
done
note "$total_q queries over ${#POINTS[@]} points in $((total_ms / 1000)).$(printf %03d $((total_ms % 1000))) s: $((total_ms / total_q)) ms a query (a process each: listing, metadata, page indexes, frames)"

step "the text output: a header line, tab-separated rows"
out="$(sv query "$ws" --at "${TS[0]}" "SELECT id, email FROM accounts WHERE id IN (3, 4) ORDER BY id" 2>"$W/err.txt")"
assert_eq "$(printf 'id\temail\n3\tu3@example.org\n4\tu4@example.org')" "$out" "tab-separated answer"
assert_contains "$(cat "$W/err.txt")" "2 rows from backup ${TS[0]} (0 incrementals after its full)" "the summary on stderr"

step "the proxy's counters: a query at latest reads the chain's page indexes and frames with range GETs"
stats_reset
out="$(sv query "$ws" --json "SELECT count(*) FROM docs" 2>"$W/err.txt")" || fail "count at latest: $(cat "$W/err.txt")"
note "count(*) of docs at latest: $(tail -1 "$W/err.txt"); proxy: $(stat_of requests) requests, $(stat_of rangeGets) range GETs, $(stat_of bytesOut) bytes out"
assert_eq "$(jq -r .fetched.requests <<<"$out")" "$(stat_of requests)" "requests counted by query and by the proxy"
assert_eq "$(stat_of gets)" "$(($(stat_of rangeGets) + last + 1))" "GETs: range GETs and one metadata.json per member of the chain"
assert_ge "$(stat_of rangeGets)" $((last + 2)) "range GETs: an index per member and frames"
assert_ge "$(stat_of bytesOut)" "$(jq -r .fetched.bytes <<<"$out")" "bytes out of the proxy (the ranges, metadata.json, the listing)"

step "a point lookup in a larger workspace (20+ frames) fetches a small part of its stored bytes"
big=travel-big
blive="$SQLVAULT_DATA_DIR/$big/livestore.db"
mkdir -p "$(dirname "$blive")"
python3 "$W/gen.py" "$blive" "$SEED" init 10000
out="$(sv backup "$big" --inline --json 2>"$W/berr.txt")" || fail "backup of $big: $(tail -3 "$W/berr.txt")"
bts="$(jq -r .ts <<<"$out")"
stored="$(jq -r .compressedSize <<<"$out")"
s3_get "${SV_PREFIX}full/$big/$bts/metadata.json" "$W/big.json"
frames="$(jq -r .seekable.frames "$W/big.json")"
note "$big: $(stat -c %s "$blive") bytes, stored $stored bytes in $frames frames"
assert_ge "$frames" 20 "frames of the full"
lookup=$((1 + SEED % 10000))
for sql in "SELECT id, title FROM docs WHERE id = $lookup" "SELECT * FROM accounts WHERE email = 'u$((1 + SEED % 2000))@example.org'"; do
  stats_reset
  out="$(sv query "$big" --json "$sql" 2>"$W/err.txt")" || fail "lookup [$sql]: $(cat "$W/err.txt")"
  assert_eq 1 "$(jq '.rows | length' <<<"$out")" "rows of [$sql]" >/dev/null
  proxy_bytes="$(stat_of bytesOut)"
  note "[$sql]: $(tail -1 "$W/err.txt"); proxy: $(stat_of requests) requests, $(stat_of rangeGets) range GETs, $proxy_bytes bytes out: $((proxy_bytes * 1000 / stored / 10)).$((proxy_bytes * 1000 / stored % 10))% of $stored"
  assert_ge "$(stat_of rangeGets)" 2 "range GETs (the index and a frame at least)"
  assert_le $((proxy_bytes * 100)) $((stored * 20)) "bytes out x100 against 20% of the stored bytes"
done
stats_reset
t0=$(date +%s%N)
out="$(sv query "$big" --json "PRAGMA integrity_check" 2>"$W/err.txt")" || fail "integrity_check of $big: $(cat "$W/err.txt")"
assert_eq '[["ok"]]' "$(jq -c .rows <<<"$out")" "integrity_check of $big in place"
note "integrity_check (every page): $(tail -1 "$W/err.txt"); proxy: $(stat_of bytesOut) bytes out, the object is $stored"

step "the live workspace was not touched by any query or inspect"
assert_eq "$live_before" "$(file_sha256 "$live")" "live database bytes"
assert_eq "$wal_before" "$(file_sha256 "$live-wal")" "live WAL bytes"
sv_pass
