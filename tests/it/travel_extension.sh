#!/usr/bin/env bash
# travel_extension.sh -- sqlvault.so, the time-travel VFS as a loadable SQLite
# extension (issue 25, docs/TIMETRAVEL.md), from the sqlite3 shell, from
# Python's sqlite3 module, and from better-sqlite3 (Node), which names no VFS
# and takes no URI: it opens the plain name "sqlvault:WS@TIME" through the
# extension's router, the default VFS once loaded (the shell too, checked);
#  - a workspace backed up twice (a full, then an incremental of it) on a
#    file:// store: each point (its folder time, an ISO time between the two,
#    an ISO time after the last, latest) answers through the shell and
#    through Python exactly what `sqlvault query` answers, which is what the
#    live database held when that backup ran; the two points differ;
#  - a connection to a point is hardened (query_only, trusted_schema off);
#    writes are refused, even after PRAGMA query_only=0, and the store and
#    the live database are byte-for-byte as before;
#  - malformed names, an unknown workspace, a time before the first backup,
#    a file the backup lacks, an unreachable store and an invalid
#    configuration each fail the open with our message (exit non-zero, no
#    crash), and Python's sqlite3.connect raises with the same message;
#  - a LiveStore store backup's files by name (/eventlog, /state; #state in a
#    plain name);
#  - with the extension loaded, local databases open through the router as
#    before: WAL and rollback, a temp table, a name that starts "sqlvault";
#  - the same comparisons on the S3 store through the R2-rules proxy with
#    encrypted backups: the endpoint, the keys and the key-encryption key
#    come from the environment, the reads go through the proxy; without the
#    key the open fails saying so.
# Under the sanitizer build the extension is built sanitized too: the
# unsanitized hosts (sqlite3, python3) get the sanitizer runtime preloaded.
source "$(dirname "$0")/lib.sh"
source "$SV_SOURCE_DIR/tests/tools/restore_lib.sh"
sv_setup
sv_use_incrementals
export SQLVAULT_LOG_FORMAT=text
S3_STORE="$SQLVAULT_STORE"
SEED="${SV_TEST_SEED:-$RANDOM}"
note "seed $SEED (SV_TEST_SEED to repeat)"

EXT="$SV_BUILD_DIR/sqlvault.so"
[[ -f "$EXT" ]] || fail "missing $EXT (the sqlvault_ext target)"
TOOL="$SV_SOURCE_DIR/tests/tools/ext_query.py"

HOST=()
if [[ "$SV_BUILD_DIR" == *-asan ]]; then
  rt="$(ldd "$EXT" | awk '/lib(asan|ubsan)\.so/ {print $3}' | paste -sd: -)"
  if [[ "$rt" != *libasan* ]]; then
    note "skipped: the sanitized sqlvault.so names no ASan runtime to preload into sqlite3 and python3"
    sv_pass
    exit 0
  fi
  # the hosts' own leaks (the shell's, Python's) are not ours: leak checks off in them
  HOST=(env "LD_PRELOAD=$rt" "ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0")
  note "sanitized build: sqlite3 and python3 run with $rt preloaded"
fi

# A Python whose sqlite3 has enable_load_extension, if there is one (ext_query.py
# falls back to ctypes otherwise).
PY=python3
for p in python3 /usr/bin/python3; do
  if command -v "$p" >/dev/null &&
    "$p" -c 'import sqlite3, sys; sys.exit(not hasattr(sqlite3.connect(":memory:"), "enable_load_extension"))'; then
    PY="$p"
    break
  fi
done
note "python: $PY"

Q="SELECT count(*), sum(length(title)), min(id), max(id), sum(done) FROM todos"
Q2="SELECT seq, name, json_extract(args, '\$.id') FROM eventlog ORDER BY seq DESC LIMIT 3"

# cli NAME SQL: SQL on the point NAME through the sqlite3 shell (rows
# tab-separated; stderr in $SV_SCRATCH/cli.err); its exit status.
cli() {
  "${HOST[@]+"${HOST[@]}"}" sqlite3 -bail -noheader -separator $'\t' -cmd ".load $EXT" \
    -cmd ".open file:$1?vfs=sqlvault-point&mode=ro" :memory: "$2" 2>"$SV_SCRATCH/cli.err"
}
# py NAME SQL: the same through Python (rows as JSON; stderr in $SV_SCRATCH/py.err).
py() { "${HOST[@]+"${HOST[@]}"}" "$PY" "$TOOL" "$EXT" "$1" "$2" 2>"$SV_SCRATCH/py.err"; }
# bsq NAME SQL: the same through better-sqlite3, by the plain name
# sqlvault:NAME (the router VFS; rows as JSON, stderr in $SV_SCRATCH/bsq.err).
# Not under the sanitizer build: Node with the ASan runtime preloaded is no
# host to test (the shell and Python cover the sanitized extension).
BSQ=1
if [[ "$SV_BUILD_DIR" == *-asan ]]; then
  BSQ=0
  note "better-sqlite3 (Node) not run against the sanitized extension"
elif [[ ! -f "$SV_SOURCE_DIR/tests/ext/node_modules/better-sqlite3/build/Release/better_sqlite3.node" ]]; then
  fail "better-sqlite3 is not built in tests/ext (scripts/install-deps.sh builds it)"
fi
bsq() { node "$SV_SOURCE_DIR/tests/tools/ext_bsq.mjs" "$EXT" "$1" "$2" 2>"$SV_SCRATCH/bsq.err"; }
# clir NAME SQL: the shell by the plain name sqlvault:NAME (.open --readonly).
clir() {
  "${HOST[@]+"${HOST[@]}"}" sqlite3 -bail -noheader -separator $'\t' -cmd ".load $EXT" \
    -cmd ".open --readonly sqlvault:$1" :memory: "$2" 2>"$SV_SCRATCH/cli.err"
}
# svq WS AT SQL: `sqlvault query` (rows tab-separated, no header); svqj: its --json rows.
svq() { sv query "$1" --at "$2" "$3" 2>/dev/null | tail -n +2; }
svqj() { sv query "$1" --at "$2" --json "$3" 2>/dev/null | jq -c .rows; }
# live WS SQL: SQL on the live database.
live() { sqlite3 -noheader -separator $'\t' "$SQLVAULT_DATA_DIR/$1/livestore.db" "$2"; }
# iso MS [ms]: the ISO time of MS (ms: with milliseconds).
iso() { python3 -c 'import sys, datetime as d; t = d.datetime.fromtimestamp(int(sys.argv[1]) / 1000, d.timezone.utc); print(t.strftime("%Y-%m-%dT%H:%M:%S") + (".%03dZ" % (int(sys.argv[1]) % 1000) if len(sys.argv) > 2 else "Z"))' "$@"; }
ts_ms() { python3 -c 'import sys, datetime as d; t = d.datetime.strptime(sys.argv[1], "%Y%m%dT%H%M%S.%fZ").replace(tzinfo=d.timezone.utc); print(int(t.timestamp() * 1000))' "$1"; }
# store_sum: a hash of every file of the file:// store.
store_sum() { (cd "${SQLVAULT_STORE#file://}" && find . -type f | sort | xargs sha256sum | sha256sum); }

# check_point WS NAME AT WANT WANT2: the point answers Q with WANT (and Q2 with
# WANT2) through sqlvault query, the shell and Python.
check_point() {
  local ws="$1" name="$2" at="$3" want="$4" want2="$5" got
  assert_eq "$want" "$(svq "$ws" "$at" "$Q")" "sqlvault query --at $at"
  got="$(cli "$name" "$Q")" || fail "the shell on $name: $(cat "$SV_SCRATCH/cli.err")"
  assert_eq "$want" "$got" "the shell on $name"
  assert_eq "$want2" "$(cli "$name" "$Q2")" "the shell on $name, the last events"
  got="$(py "$name" "$Q")" || fail "python on $name: $(cat "$SV_SCRATCH/py.err")"
  assert_eq "$(svqj "$ws" "$at" "$Q")" "$got" "python on $name (as sqlvault query --json)"
  assert_eq "$(svqj "$ws" "$at" "$Q2")" "$(py "$name" "$Q2")" "python on $name, the last events"
  assert_eq "$want" "$(clir "${name//\//#}" "$Q")" "the shell on the plain name sqlvault:${name//\//#}"
  if ((BSQ)); then
    got="$(bsq "${name//\//#}" "$Q")" || fail "better-sqlite3 on sqlvault:$name: $(cat "$SV_SCRATCH/bsq.err")"
    assert_eq "$(svqj "$ws" "$at" "$Q")" "$got" "better-sqlite3 on sqlvault:${name//\//#} (as sqlvault query --json)"
    assert_eq "$(svqj "$ws" "$at" "$Q2")" "$(bsq "${name//\//#}" "$Q2")" "better-sqlite3, the last events"
  fi
}

# refused NAME WANT: opening NAME fails in the shell and in Python, saying WANT.
refused() {
  local name="$1" want="$2" rc=0
  cli "$name" "SELECT count(*) FROM todos" >/dev/null || rc=$?
  ((rc != 0 && rc < 128)) || fail "the shell on '${name:0:60}': exit $rc (want a failure, not a crash): $(cat "$SV_SCRATCH/cli.err")"
  assert_contains "$(cat "$SV_SCRATCH/cli.err")" "$want" "the shell's error on '${name:0:60}' (exit $rc)"
  rc=0
  py "$name" "SELECT 1" >/dev/null || rc=$?
  assert_eq 1 "$rc" "python's exit status on '${name:0:60}'"
  assert_contains "$(cat "$SV_SCRATCH/py.err")" "$want" "python's error"
}

# ---------------------------------------------------------------- file store

sv_use_file_store
ws=tx-a
n1=$((40 + SEED % 20))
make_workspace "$ws" "$n1"

step "a full and an incremental of a workspace, on a file:// store"
want1="$(live "$ws" "$Q")"
want1b="$(live "$ws" "$Q2")"
ts1="$(sv backup "$ws" --inline --json 2>/dev/null | jq -r .ts)"
live "$ws" "INSERT INTO eventlog (name, args, created_at) SELECT 'todoCreated', json_object('id', 'n' || seq), datetime('now') FROM eventlog LIMIT 25;
  INSERT INTO todos (id, title) SELECT json_extract(args, '\$.id'), 'new ' || seq FROM eventlog WHERE seq > $n1;
  UPDATE todos SET done = 1 WHERE rowid % 3 = 0; DELETE FROM todos WHERE rowid % 7 = 0;"
want2="$(live "$ws" "$Q")"
want2b="$(live "$ws" "$Q2")"
r2="$(sv backup "$ws" --inline --json 2>/dev/null)"
ts2="$(jq -r .ts <<<"$r2")"
assert_eq "$ts1" "$(jq -r .parent <<<"$r2")" "the second backup's parent (an incremental of the first)"
assert_ne "$want1" "$want2" "the two points' answers"
between="$(iso $(($(ts_ms "$ts1") + 1)) ms)"
after="$(iso $(($(ts_ms "$ts2") + 1000)))"

step "each point through the shell and Python answers as sqlvault query and the live database did"
check_point "$ws" "$ws@$ts1" "$ts1" "$want1" "$want1b"
check_point "$ws" "$ws@$between" "$between" "$want1" "$want1b"
check_point "$ws" "$ws@$ts2" "$ts2" "$want2" "$want2b"
check_point "$ws" "$ws@$after" "$after" "$want2" "$want2b"
check_point "$ws" "$ws" latest "$want2" "$want2b"
check_point "$ws" "$ws@latest" latest "$want2" "$want2b"
got="$(SV_EXT_CTYPES=1 py "$ws@$ts1" "$Q")" || fail "python (ctypes) on $ws@$ts1: $(cat "$SV_SCRATCH/py.err")"
assert_eq "$(svqj "$ws" "$ts1" "$Q")" "$got" "python, the extension loaded through ctypes"
got="$("${HOST[@]+"${HOST[@]}"}" sqlite3 -cmd ".load ${EXT%.so}" -cmd ".open file:$ws@$ts1?vfs=sqlvault-point&immutable=1" \
  -separator $'\t' :memory: "$Q")" || fail "the shell with immutable=1 and .load without .so"
assert_eq "$want1" "$got" "the shell, .load without .so, immutable=1"

step "a point's connection is hardened; writes are refused and nothing changes"
assert_eq $'1\n0' "$(cli "$ws" "PRAGMA query_only; PRAGMA trusted_schema")" "query_only and trusted_schema"
before_store="$(store_sum)"
before_live="$(db_sha3 "$SQLVAULT_DATA_DIR/$ws/livestore.db")"
for sql in "INSERT INTO todos (id, title) VALUES ('zz', 'x')" "PRAGMA query_only=0; DELETE FROM todos" \
  "PRAGMA query_only=0; CREATE TABLE t2(x)" "PRAGMA query_only=0; DROP TABLE todos"; do
  rc=0
  cli "$ws" "$sql" >/dev/null || rc=$?
  ((rc != 0 && rc < 128)) || fail "[$sql]: exit $rc"
  assert_contains "$(cat "$SV_SCRATCH/cli.err")" "readonly database" "[$sql] refused (exit $rc)"
done
rc=0
py "$ws" "DELETE FROM todos" >/dev/null || rc=$?
assert_eq 1 "$rc" "python's exit status on a DELETE"
assert_contains "$(cat "$SV_SCRATCH/py.err")" "readonly database" "python's DELETE refused"
if ((BSQ)); then
  rc=0
  bsq "$ws" "DELETE FROM todos" >/dev/null || rc=$?
  assert_eq 1 "$rc" "better-sqlite3's exit status on a DELETE"
  assert_contains "$(cat "$SV_SCRATCH/bsq.err")" "readonly database" "better-sqlite3's DELETE refused"
  rc=0
  bsq "$ws@garbage" "SELECT 1" >/dev/null || rc=$?
  assert_eq 1 "$rc" "better-sqlite3's exit status on a bad name"
  assert_contains "$(cat "$SV_SCRATCH/bsq.err")" "invalid backup time 'garbage'" "better-sqlite3's error on a bad name"
fi
assert_eq "$before_store" "$(store_sum)" "the store's files after the writes"
assert_eq "$before_live" "$(db_sha3 "$SQLVAULT_DATA_DIR/$ws/livestore.db")" "the live database after the writes"
check_point "$ws" "$ws" latest "$want2" "$want2b"

step "through the router (the default VFS once the extension is loaded), other files open as before"
# a local database written and read in WAL and in rollback mode, a temporary
# table, a name that only starts like ours: the default VFS underneath
loc="$SV_SCRATCH/local.db"
got="$("${HOST[@]+"${HOST[@]}"}" sqlite3 -bail -noheader -cmd ".load $EXT" "$loc" "PRAGMA journal_mode=WAL;
  CREATE TABLE t (a); INSERT INTO t VALUES (1), (2); CREATE TEMP TABLE tt AS SELECT * FROM t;
  SELECT count(*) FROM tt; PRAGMA journal_mode=DELETE; INSERT INTO t VALUES (3); SELECT sum(a) FROM t;" 2>"$SV_SCRATCH/cli.err")" ||
  fail "a local database with the extension loaded: $(cat "$SV_SCRATCH/cli.err")"
assert_eq $'wal\n2\ndelete\n6' "$got" "a local database through the router (WAL, temp table, rollback)"
assert_eq 6 "$(sqlite3 "$loc" 'SELECT sum(a) FROM t')" "the same file without the extension"
assert_eq ok "$(db_integrity "$loc")" "its integrity"
(cd "$SV_SCRATCH" && "${HOST[@]+"${HOST[@]}"}" sqlite3 -cmd ".load $EXT" "sqlvaultx.db" "CREATE TABLE u (a)" 2>"$SV_SCRATCH/cli.err") ||
  fail "a local file named sqlvaultx.db: $(cat "$SV_SCRATCH/cli.err")"
[[ -f "$SV_SCRATCH/sqlvaultx.db" ]] || fail "sqlvaultx.db was not created as a local file"
if ((BSQ)); then
  got="$(node --input-type=module -e "
    import { createRequire } from 'node:module'
    const Database = createRequire('$SV_SOURCE_DIR/tests/ext/package.json')('better-sqlite3')
    const l = new Database(':memory:'); l.loadExtension('$EXT')
    const d = new Database('$loc'); d.pragma('journal_mode = WAL'); d.exec('INSERT INTO t VALUES (4)')
    console.log(d.prepare('SELECT sum(a) AS s FROM t').get().s); d.close()" 2>"$SV_SCRATCH/bsq.err")" ||
    fail "better-sqlite3 on a local file with the extension loaded: $(cat "$SV_SCRATCH/bsq.err")"
  assert_eq 10 "$got" "better-sqlite3 writes a local WAL database with the extension loaded"
  assert_eq 10 "$(sqlite3 "$loc" 'SELECT sum(a) FROM t')" "the same file without the extension"
fi

step "a bad name, an unknown workspace, a time before the first backup: the open fails saying why"
refused "nope-ws" "workspace 'nope-ws' has no committed backup"
refused "$ws@garbage" "invalid backup time 'garbage'"
refused "$ws@" "names no backup time"
refused "$ws@2001-01-01T00:00:00Z" "no committed backup at or before 2001-01-01T00:00:00Z: its oldest is $ts1"
refused "..%2Fetc%2Fpasswd" "invalid workspace id '..'"
refused "$ws@latest/eventlog" "has no file 'eventlog'"
refused "$ws@latest/" "names no file of the backup"
refused "$(printf 'a%.0s' {1..400})" "longer than 300 characters"
refused "$ws%01" "control or non-ASCII character"
assert_contains "$(cat "$SV_SCRATCH/cli.err")" "HINT: name a point WS, WS@TIME or WS@TIME/FILE" "the hint"
assert_eq "$before_store" "$(store_sum)" "the store's files after the refused opens"

step "an unreachable store and an invalid configuration: the open fails saying why, within bounds"
port="$(free_port)"
t0=$SECONDS
SQLVAULT_STORE="s3://$SV_S3_BUCKET/$SV_PREFIX" SQLVAULT_S3_ENDPOINT="http://127.0.0.1:$port" refused "$ws" "unreachable"
assert_le $((SECONDS - t0)) 60 "seconds to give up on an unreachable store (shell and python)"
SQLVAULT_QUERY_CACHE=1 refused "$ws" "invalid configuration: SQLVAULT_QUERY_CACHE"
SQLVAULT_QUERY_CACHE=4MiB check_point "$ws" "$ws@$ts1" "$ts1" "$want1" "$want1b"

step "a LiveStore store backup: its files by name"
sws=tx-store
sdir="$SQLVAULT_DATA_DIR/$sws"
mkdir -p "$sdir"
mini_livestore "$sdir"
sqlite3 "$sdir/state-1@6.db" "INSERT INTO items VALUES ('a', 1), ('b', 2), ('c', 3);"
assert_eq store "$(sv backup "$sws" --inline --json 2>/dev/null | jq -r .shape)" "the backup's shape"
assert_eq 50 "$(cli "$sws@latest/eventlog" "SELECT count(*) FROM eventlog")" "events in $sws@latest/eventlog"
assert_eq 50 "$(cli "$sws" "SELECT count(*) FROM eventlog")" "events in $sws (the event log first)"
assert_eq 6 "$(cli "$sws/state" "SELECT sum(n) FROM items")" "items in $sws/state"
assert_eq 6 "$(cli "$sws@latest%23state" "SELECT sum(n) FROM items")" "items in $sws@latest#state (%23 in a URI)"
assert_eq "[[3]]" "$(py "$sws/state-1@6.db" "SELECT count(*) FROM items")" "python on the state file by its name"
assert_eq 6 "$(clir "$sws@latest#state" "SELECT sum(n) FROM items")" "the shell on the plain name sqlvault:$sws@latest#state"
if ((BSQ)); then
  assert_eq "[[6]]" "$(bsq "$sws@latest#state" "SELECT sum(n) FROM items")" "better-sqlite3 on sqlvault:$sws@latest#state"
fi
assert_eq "$(sv query "$sws" --file state --json "SELECT * FROM items" 2>/dev/null | jq -c .rows)" \
  "$(py "$sws@latest/state" "SELECT * FROM items")" "python on $sws@latest/state as sqlvault query --file state"
refused "$sws/nope" "the backup has no file 'nope'"

# ------------------------------------------------------ S3 through the proxy

step "encrypted backups on the S3 store (through the proxy), configured from the environment"
export SQLVAULT_STORE="$S3_STORE"
kek_file "$SV_SCRATCH/k1" 1
export SQLVAULT_ENCRYPTION_KEY_FILE="$SV_SCRATCH/k1"
ws=tx-s3
make_workspace "$ws" 30
want1="$(live "$ws" "$Q")"
want1b="$(live "$ws" "$Q2")"
ts1="$(sv backup "$ws" --inline --json 2>/dev/null | jq -r .ts)"
live "$ws" "UPDATE todos SET done = 1, title = title || ' (done)' WHERE rowid % 2 = 0"
want2="$(live "$ws" "$Q")"
want2b="$(live "$ws" "$Q2")"
r2="$(sv backup "$ws" --inline --json 2>/dev/null)"
ts2="$(jq -r .ts <<<"$r2")"
assert_eq "$ts1" "$(jq -r .parent <<<"$r2")" "the second backup's parent"
SV_CURL_OUT="$SV_SCRATCH/meta.json" s3_curl GET "${SV_PREFIX}full/$ws/$ts2/metadata.json" >/dev/null
assert_eq "sqlvault-enc-1" "$(jq -r .encryption.format "$SV_SCRATCH/meta.json")" "the second backup's encryption"
gets0="$(proxy_count GetObject)"
check_point "$ws" "$ws@$ts1" "$ts1" "$want1" "$want1b"
check_point "$ws" "$ws" latest "$want2" "$want2b"
gets1="$(proxy_count GetObject)"
assert_ge $((gets1 - gets0)) 20 "GETs of the workspace's objects at the proxy during the queries"

step "without the key-encryption key, or with the wrong secret key: the open fails saying so"
rc=0
env -u SQLVAULT_ENCRYPTION_KEY_FILE "${HOST[@]+"${HOST[@]}"}" sqlite3 -bail -cmd ".load $EXT" \
  -cmd ".open file:$ws?vfs=sqlvault-point&mode=ro" :memory: "$Q" >/dev/null 2>"$SV_SCRATCH/cli.err" || rc=$?
((rc != 0 && rc < 128)) || fail "the shell without the key: exit $rc"
assert_contains "$(cat "$SV_SCRATCH/cli.err")" "no encryption key is configured" "the shell's error without the key"
AWS_SECRET_ACCESS_KEY=wrong-secret refused "$ws" "rejected the credentials"
note "$(grep -m1 'cannot open' "$SV_SCRATCH/py.err")"

sv_pass
