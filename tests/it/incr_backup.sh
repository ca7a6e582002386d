#!/usr/bin/env bash
# incr_backup.sh -- incremental backups (chain.h, docs/DESIGN.md "Incremental
# backups") through the S3 server and the R2-rules proxy: a full, then small
# changes stored as incrementals (pages-PARENT.zst, the metadata's chain
# fields, few bytes); every point rebuilt from its chain with chain_apply
# (tests/tools/sv_chainapply) equals the database at that point and its
# stateChecksum; growth, shrink (VACUUM) and a WAL checkpoint between
# backups; an unchanged workspace answers "unchanged" with no request at
# the proxy; --full, SQLVAULT_MAX_CHAIN, a missing, damaged or foreign chain
# state, a pruned head and SQLVAULT_FULL_EVERY (fake clock) make fulls; an
# idle workspace's head is re-proven with one GET per SQLVAULT_FULL_EVERY,
# and a head deleted from the store makes a full (a store directory's too); a
# concurrent writer during an incremental; kill -9 mid-incremental leaves
# nothing committed and the next backup is right.
source "$(dirname "$0")/lib.sh"
sv_setup
sv_use_incrementals 24h
APPLY="$SV_BUILD_DIR/sv_chainapply"
[[ -x "$APPLY" ]] || fail "missing $APPLY (build the tests/tools targets)"
seed="${SV_TEST_SEED:-$RANDOM}"
note "seed $seed (replay with SV_TEST_SEED=$seed)"
RANDOM=$seed

ws=ws-incr
make_workspace "$ws" 3000
db="$SQLVAULT_DATA_DIR/$ws/livestore.db"
state="$SQLVAULT_DATA_DIR/.sqlvault-state/$ws.state"
work="$SV_SCRATCH/work"
mkdir -p "$work"
CHAIN=()   # the folders of the current chain: the full first
EXPECT=()  # for each: the .sha3sum of the database when it was taken

# bk ARGS...: sqlvault backup WS --inline --json ARGS; prints the result.
bk() { "$SV_BIN" backup "$ws" --inline --json "$@" 2>"$work/bk.err" || { cat "$work/bk.err" >&2; fail "backup $* failed"; }; }

# fetch TS NAME: prints the path of a local copy of a backup's object
# (objects never change once committed: each is fetched once).
fetch() {
  local f="$work/cache/$1-$2"
  mkdir -p "$work/cache"
  [[ -f "$f" ]] || s3_get "${SV_PREFIX}full/$ws/$1/$2" "$f"
  echo "$f"
}

# meta TS: prints metadata.json of a backup folder.
meta() { cat "$(fetch "$1" metadata.json)"; }

# field JSON NAME: one field of a JSON text.
field() { jq -r ".$2" <<<"$1"; }

# rebuild OUT N: rebuilds chain point N (0 = the full) into OUT; prints its state checksum.
rebuild() {
  local out="$1" n="$2" i links=() m obj
  zstd -dqf "$(fetch "${CHAIN[0]}" livestore.db.zst)" -o "$work/base.db"
  for ((i = 1; i <= n; i++)); do
    m="$(meta "${CHAIN[$i]}")"
    obj="$(field "$m" object)"
    assert_eq "pages-${CHAIN[$((i - 1))]}.zst" "$obj" "link $i names its parent" >/dev/null
    links+=("$(fetch "${CHAIN[$i]}" "$obj")")
  done
  "$APPLY" "$out" "$work/base.db" "${links[@]+"${links[@]}"}" 2>>"$work/apply.log"
}

# check_point N: point N of the chain rebuilt equals the database it was
# taken of (content and the metadata's stateChecksum).
check_point() {
  local n="$1" sum m
  sum="$(rebuild "$work/p$n.db" "$n")" || fail "rebuilding point $n failed: $(tail -n 2 "$work/apply.log")"
  m="$(meta "${CHAIN[$n]}")"
  assert_eq "$(field "$m" stateChecksum)" "$sum" "point $n: the rebuilt state checksum is the metadata's"
  assert_eq ok "$(db_integrity "$work/p$n.db")" "point $n: integrity_check"
  assert_eq "${EXPECT[$n]}" "$(sqlite3 "$work/p$n.db" .sha3sum)" "point $n: content equals the database then"
}

# took RESULT: records a committed backup in CHAIN (a full starts it again).
took() {
  local r="$1"
  if [[ "$(field "$r" backupType)" == full ]]; then CHAIN=(); EXPECT=(); fi
  CHAIN+=("$(field "$r" ts)")
  EXPECT+=("$(sqlite3 "$db" .sha3sum)")
}

# change SQL: runs SQL on the live database.
change() { sqlite3 "$db" "$1" >/dev/null; }

# age FILE...: moves the files' mtimes 10 s back, as an idle workspace's are.
# A fingerprint is trusted only once the database file's mtime is older than
# SNAPSHOT_FP_RACY_MS (include/snapshot.h): a write in place within the file
# system's timestamp granularity could leave it unmoved.
age() {
  local f
  for f in "$@"; do [[ -e "$f" ]] && touch -m -d "@$(($(date +%s) - 10))" "$f"; done
  return 0
}

# writer LOG [WAL]: commits transactions into $db until $work/writer.stop
# exists, each inserting the next n into seq and writing 'w' || n into a todo
# (so a consistent state holds 1..max(n) and the last one's update); prints
# the last n to LOG, and how many it committed so far to $work/writer.count
# (every 10 commits: waits read that file, not the database, whose locks a
# rollback-mode writer holds nearly all the time). WAL: the connection asks
# for WAL mode.
writer() {
  rm -f "$work/writer.count"
  python3 - "$db" "$work/writer.stop" "${2:-}" "$work/writer.count" >"$1" 2>&1 <<'PY'
import os, sqlite3, sys
db = sqlite3.connect(sys.argv[1], timeout=30, isolation_level=None)
if sys.argv[3] == "WAL":
    db.execute("PRAGMA journal_mode=WAL")
n = db.execute("SELECT coalesce(max(n), 0) FROM seq").fetchone()[0]
done = 0
while not os.path.exists(sys.argv[2]):
    n += 1
    db.execute("BEGIN IMMEDIATE")
    db.execute("INSERT INTO seq (n, pad) VALUES (?, hex(randomblob(200)))", (n,))
    db.execute("UPDATE todos SET title = 'w' || ? WHERE rowid = ?", (n, n % 3000 + 1))
    db.execute("COMMIT")
    done += 1
    if done % 10 == 0:
        with open(sys.argv[4] + ".tmp", "w") as f:
            f.write(str(done))
        os.replace(sys.argv[4] + ".tmp", sys.argv[4])
print(n)
PY
}

# writer_committed N: true once the running writer has committed N transactions.
writer_committed() { [[ -s "$work/writer.count" && $(cat "$work/writer.count") -ge $1 ]]; }

step "the first backup is a full that records its stateChecksum and starts the chain state"
r="$(bk)"
assert_eq full "$(field "$r" backupType)" "backupType"
assert_eq false "$(field "$r" unchanged)" "unchanged"
assert_eq "no chain state" "$(field "$r" fullReason)" "why a full"
assert_eq 0 "$(field "$r" chainLength)" "chainLength"
took "$r"
full_size="$(field "$r" compressedSize)"
[[ -f "$state" ]] || fail "no chain state at $state"
s3_get "${SV_PREFIX}full/$ws/${CHAIN[0]}/livestore.db.zst" "$work/f.zst"
zstd -dqf "$work/f.zst" -o "$work/f.db"
assert_eq "$(field "$r" stateChecksum)" "$("$APPLY" --sum "$work/f.db" "$(sqlite3 "$work/f.db" 'PRAGMA page_size')")" \
  "stateChecksum of the full's database"
check_point 0

step "a small change is an incremental: pages-PARENT.zst, chain fields, few bytes"
change "UPDATE todos SET done = done + 1 WHERE rowid = $((RANDOM % 3000 + 1))"
r="$(bk)"
assert_eq incremental "$(field "$r" backupType)" "backupType"
assert_eq "${CHAIN[0]}" "$(field "$r" parent)" "parent"
assert_eq "${CHAIN[0]}" "$(field "$r" base)" "base"
assert_eq 1 "$(field "$r" chainLength)" "chainLength"
assert_le "$(field "$r" changedPages)" 6 "changedPages of a one-row update"
took "$r"
keys="$(s3_keys "${SV_PREFIX}full/$ws/${CHAIN[1]}/")"
assert_eq 2 "$(wc -l <<<"$keys")" "objects in the incremental's folder"
assert_contains "$keys" "pages-${CHAIN[0]}.zst" "the object names its parent"
m="$(meta "${CHAIN[1]}")"
assert_eq incremental "$(field "$m" backupType)" "metadata backupType"
assert_eq "$(meta "${CHAIN[0]}" | jq -r .stateChecksum)" "$(field "$m" parentStateChecksum)" "parentStateChecksum"
assert_eq "$(field "$m" changedPages)" "$(field "$r" changedPages)" "metadata changedPages"
assert_eq "$(stat -c %s "$db")" "$(field "$m" databaseSize)" "databaseSize is the database's"
s3_get "${SV_PREFIX}full/$ws/${CHAIN[1]}/pages-${CHAIN[0]}.zst" "$work/l.zst"
assert_eq "$(field "$m" compressedSize)" "$(stat -c %s "$work/l.zst")" "compressedSize"
assert_eq "$(field "$m" checksum)" "sha256:$(zstd -dqc "$work/l.zst" | sha256sum | cut -d' ' -f1)" \
  "checksum is of the page stream"
assert_le "$(field "$m" compressedSize)" $((full_size / 10)) "an incremental's bytes (full: $full_size)"
check_point 1

step "an unchanged workspace: \"unchanged\", the head named, no request at the proxy"
# The sqlite3 shell that read the database above (took) deleted its -wal on
# close: the fingerprint moved, so this first one reads the pages and finds
# none changed; the second matches the fingerprint (a stat and small reads).
# A fingerprint taken within SNAPSHOT_FP_RACY_MS of the last write is not
# trusted: the next backup reads the pages (and finds none changed).
r="$(bk)"
assert_eq true "$(field "$r" unchanged)" "unchanged right after a write"
assert_contains "$(cat "$work/bk.err")" "(no page changed)" "a fresh mtime is not trusted"
age "$db" "$db-wal"
for how in "no page changed" fingerprint; do
  proxy_reset
  r="$(bk)"
  assert_eq true "$(field "$r" unchanged)" "unchanged ($how)"
  assert_contains "$(cat "$work/bk.err")" "($how)" "how it was found"
  assert_eq "${CHAIN[1]}" "$(field "$r" ts)" "names the head"
  assert_eq incremental "$(field "$r" backupType)" "the head's type"
  assert_eq 0 "$(curl -fsS "$SV_PROXY_CONTROL/log?pending=1" | jq '.entries | length')" "requests at the proxy"
done
# the job time is printed, not asserted (a shared machine, a sanitizer build:
# timings belong to scripts/bench.sh); no store request above is the proof
for k in 1 2; do
  r="$(bk)"
  assert_eq true "$(field "$r" unchanged)" "unchanged again"
done
note "job time of the fingerprint's answer: $(field "$r" durationMs) ms"
assert_eq 2 "$(s3_keys "${SV_PREFIX}full/$ws/" | grep -c metadata.json)" "backups in the store"

step "growth, updates, deletes, VACUUM and a WAL checkpoint: every point rebuilds exactly"
change "INSERT INTO eventlog (name, args, created_at) SELECT 'grow', hex(randomblob(300)), datetime('now') FROM eventlog LIMIT 2000"
r="$(bk)"
took "$r"
assert_eq 2 "$(field "$(meta "${CHAIN[2]}")" chainLength)" "chainLength after growth"
change "UPDATE todos SET title = title || ' edited' WHERE rowid % 7 = $((RANDOM % 7))"
r="$(bk)"
took "$r"
change "DELETE FROM eventlog WHERE name = 'grow'; VACUUM;"
r="$(bk)"
assert_eq incremental "$(field "$r" backupType)" "a shrunk database is an incremental too"
took "$r"
assert_le "$(field "$(meta "${CHAIN[4]}")" sqlite.pageCount)" "$(field "$(meta "${CHAIN[3]}")" sqlite.pageCount)" \
  "the page count went down"
change "PRAGMA wal_checkpoint(TRUNCATE); INSERT INTO todos (id, title) VALUES ('after-ckpt', 'x');"
r="$(bk)"
took "$r"
for ((i = 1; i < ${#CHAIN[@]}; i++)); do check_point "$i"; done

step "--full forces a full; the chain starts again from it"
r="$(bk --full)"
assert_eq full "$(field "$r" backupType)" "backupType with --full"
assert_contains "$(field "$r" fullReason)" "asked" "why a full"
took "$r"
change "UPDATE todos SET done = done + 1 WHERE rowid = 1"
r="$(bk)"
assert_eq "${CHAIN[0]}" "$(field "$r" parent)" "the next incremental builds on the forced full"
assert_eq 1 "$(field "$r" chainLength)" "chainLength"
took "$r"
check_point 1

step "SQLVAULT_MAX_CHAIN: a chain that long makes a full"
change "UPDATE todos SET done = done + 1 WHERE rowid = 2"
r="$(SQLVAULT_MAX_CHAIN=2 bk)"
assert_eq incremental "$(field "$r" backupType)" "the second link is still an incremental"
took "$r"
change "UPDATE todos SET done = done + 1 WHERE rowid = 3"
r="$(SQLVAULT_MAX_CHAIN=2 bk)"
assert_eq full "$(field "$r" backupType)" "the third is a full"
assert_contains "$(field "$r" fullReason)" "SQLVAULT_MAX_CHAIN" "why a full"
took "$r"

step "a missing chain state makes a full"
rm -f "$state"
change "UPDATE todos SET done = done + 1 WHERE rowid = 3"
r="$(bk)"
assert_eq full "$(field "$r" backupType)" "backupType without a state"
assert_eq "no chain state" "$(field "$r" fullReason)" "why a full"
took "$r"

step "a damaged chain state (a page hash, then the header) makes a full, never a wrong incremental"
printf '\xff' | dd of="$state" bs=1 seek=20 conv=notrunc status=none
change "UPDATE todos SET done = done + 1 WHERE rowid = 4"
r="$(bk)"
assert_eq full "$(field "$r" backupType)" "damaged hashes"
assert_contains "$(field "$r" fullReason)" "damaged" "why a full"
took "$r"
sz=$(stat -c %s "$state")
printf 'X' | dd of="$state" bs=1 seek=$((sz - 3)) conv=notrunc status=none
change "UPDATE todos SET done = done + 1 WHERE rowid = 4"
r="$(bk)"
assert_eq full "$(field "$r" backupType)" "damaged header"
took "$r"

step "a state of another store, or a head no longer in the store, makes a full"
change "UPDATE todos SET done = done + 1 WHERE rowid = 5"
r="$(SQLVAULT_STORE="s3://$SV_S3_BUCKET/${SV_PREFIX}other/" bk)"
assert_eq full "$(field "$r" backupType)" "another store"
assert_contains "$(field "$r" fullReason)" "unusable" "why a full"
# that full went to the other store and wrote the state: the state is foreign to ours now
change "UPDATE todos SET done = done + 1 WHERE rowid = 5"
r="$(bk)"
assert_eq full "$(field "$r" backupType)" "back in our store: a full"
took "$r"
change "UPDATE todos SET done = done + 1 WHERE rowid = 6"
r="$(bk)"
took "$r"
aws_s3 s3 rm --only-show-errors "s3://$SV_S3_BUCKET/${SV_PREFIX}full/$ws/${CHAIN[1]}/metadata.json"
change "UPDATE todos SET done = done + 1 WHERE rowid = 6"
r="$(bk)"
assert_eq full "$(field "$r" backupType)" "a pruned head"
assert_contains "$(field "$r" fullReason)" "not in the store" "why a full"
took "$r"

step "a concurrent writer during an incremental: the backup is one consistent state"
change "CREATE TABLE IF NOT EXISTS seq (n INTEGER PRIMARY KEY, pad TEXT)"
r="$(bk)"
took "$r"
rm -f "$work/writer.count" # here, not in the background job: a wait must not see the last writer's count
writer "$work/writer.log" WAL &
wpid=$!
SV_CLEANUP_PIDS+=("$wpid")
wait_for --timeout 60 writer_committed 200
rs=()
for k in 1 2 3; do
  r="$(bk)"
  [[ "$(field "$r" unchanged)" == false ]] || fail "a workspace under a writer was reported unchanged"
  assert_eq incremental "$(field "$r" backupType)" "backup $k under the writer"
  rs+=("$r")
done
touch "$work/writer.stop"
wait "$wpid"
note "writer committed $(cat "$work/writer.log") transactions"
for r in "${rs[@]}"; do
  CHAIN+=("$(field "$r" ts)")
  EXPECT+=("-")
done
for ((i = ${#CHAIN[@]} - 3; i < ${#CHAIN[@]}; i++)); do
  sum="$(rebuild "$work/c.db" "$i")" || fail "rebuilding point $i failed"
  assert_eq "$(field "$(meta "${CHAIN[$i]}")" stateChecksum)" "$sum" "point $i taken under the writer: state checksum"
  assert_eq ok "$(db_integrity "$work/c.db")" "point $i: integrity_check"
  # every transaction inserts n and writes 'w' || n: a consistent state holds 1..max, no gap
  read -r cnt mx < <(sqlite3 -separator ' ' "$work/c.db" 'SELECT count(*), coalesce(max(n), 0) FROM seq')
  assert_eq "$mx" "$cnt" "point $i: rows 1..$mx, no gap"
  assert_eq 1 "$(sqlite3 "$work/c.db" "SELECT count(*) FROM todos WHERE title = 'w$mx'")" \
    "point $i: the last insert's update is there too"
done
r="$(bk)"
took "$r"
check_point $((${#CHAIN[@]} - 1))

step "rollback-journal mode (the snapshot is a copy), with a writer, and back to WAL"
change "PRAGMA journal_mode=delete; UPDATE todos SET title = 'rollback' WHERE rowid = 21;"
r="$(bk)"
assert_eq incremental "$(field "$r" backupType)" "after the switch to rollback mode"
assert_eq copy "$(field "$r" snapshot)" "a rollback-mode snapshot is a copy"
took "$r"
check_point $((${#CHAIN[@]} - 1))
rm -f "$work/writer.stop"
rm -f "$work/writer.count" # here, not in the background job: a wait must not see the last writer's count
writer "$work/writer2.log" &
wpid=$!
SV_CLEANUP_PIDS+=("$wpid")
wait_for --timeout 60 writer_committed 50
r="$(bk)"
assert_eq false "$(field "$r" unchanged)" "a workspace under a writer is not unchanged"
assert_eq incremental "$(field "$r" backupType)" "under a rollback-mode writer"
touch "$work/writer.stop"
wait "$wpid"
CHAIN+=("$(field "$r" ts)")
EXPECT+=("-")
i=$((${#CHAIN[@]} - 1))
sum="$(rebuild "$work/c.db" "$i")" || fail "rebuilding point $i failed"
assert_eq "$(field "$(meta "${CHAIN[$i]}")" stateChecksum)" "$sum" "point $i: state checksum"
assert_eq ok "$(db_integrity "$work/c.db")" "point $i: integrity_check"
read -r cnt mx < <(sqlite3 -separator ' ' "$work/c.db" 'SELECT count(*), coalesce(max(n), 0) FROM seq')
assert_eq "$mx" "$cnt" "point $i: rows 1..$mx, no gap"
change "PRAGMA journal_mode=wal; UPDATE todos SET title = 'wal again' WHERE rowid = 22;"
r="$(bk)"
assert_eq incremental "$(field "$r" backupType)" "after the switch back to WAL"
took "$r"
check_point $((${#CHAIN[@]} - 1))

step "kill -9 mid-incremental: nothing half-committed, the state untouched, the next backup right"
head_before="$(python3 -c 'import json, struct, sys
b = open(sys.argv[1], "rb").read()
n = struct.unpack("<I", b[-12:-8])[0]
print(json.loads(b[-12 - n:-12])["head"])' "$state")"
assert_eq "${CHAIN[-1]}" "$head_before" "the state's head"
state_sum_before="$(sha256sum <"$state")"
change "UPDATE todos SET title = 'killed' WHERE rowid = 10"
proxy_faults "{\"rules\":[{\"op\":\"PutObject\",\"prefix\":\"${SV_PREFIX}full/$ws/\",\"latencyMs\":60000,\"name\":\"stall\"}]}"
"$SV_BIN" backup "$ws" --inline --json >"$work/killed.out" 2>&1 &
kpid=$!
SV_CLEANUP_PIDS+=("$kpid")
wait_for --timeout 30 bash -c "curl -fsS '$SV_PROXY_CONTROL/log?pending=1&op=PutObject' | jq -e '[.entries[] | select(.status == null and (.key | test(\"pages-\")))] | length > 0' >/dev/null"
kill -9 "$kpid"
wait "$kpid" 2>/dev/null || true
proxy_reset
killed_ts="$(s3_keys "${SV_PREFIX}full/$ws/" | grep "/pages-${CHAIN[-1]}.zst" | grep -v "${CHAIN[-1]}/" | cut -d/ -f4 | head -n 1 || true)"
note "the killed attempt's folder: ${killed_ts:-none}"
if [[ -n "$killed_ts" ]]; then
  s3_keys "${SV_PREFIX}full/$ws/$killed_ts/" | grep -q metadata.json && fail "the killed incremental has a metadata.json"
fi
assert_eq "$state_sum_before" "$(sha256sum <"$state")" "the chain state is untouched"
assert_eq 1 "$(find "$(dirname "$state")" -type f | wc -l)" "files in the state folder (no temporary left)"
r="$(bk)"
assert_eq incremental "$(field "$r" backupType)" "the next backup"
assert_eq "${CHAIN[-1]}" "$(field "$r" parent)" "builds on the last committed backup"
took "$r"
check_point $((${#CHAIN[@]} - 1))

step "through the queue: a worker takes the incremental, then finds the workspace unchanged"
sv_bg "$SV_BIN" worker --threads 1
change "UPDATE todos SET title = 'queued' WHERE rowid = 20"
r="$("$SV_BIN" backup "$ws" --json 2>"$work/q.err" | jq ".result // .")" || fail "queued backup failed: $(cat "$work/q.err")"
assert_eq incremental "$(field "$r" backupType)" "a queued backup"
assert_eq "${CHAIN[-1]}" "$(field "$r" parent)" "its parent"
took "$r"
check_point $((${#CHAIN[@]} - 1))
r="$("$SV_BIN" backup "$ws" --json 2>"$work/q.err" | jq ".result // .")" || fail "queued backup failed: $(cat "$work/q.err")"
assert_eq true "$(field "$r" unchanged)" "the next queued backup"
assert_eq "${CHAIN[-1]}" "$(field "$r" ts)" "names the head"
kill "$SV_BG_PID"
wait "$SV_BG_PID" 2>/dev/null || true

step "SQLVAULT_FULL_EVERY: a base older than it makes a full (fake clock)"
now_ms=$(($(date +%s%3N) + 25 * 3600 * 1000))
change "UPDATE todos SET done = done + 1 WHERE rowid = 11"
r="$(SQLVAULT_FAKE_NOW=$now_ms bk)"
assert_eq full "$(field "$r" backupType)" "25 hours after the base"
assert_contains "$(field "$r" fullReason)" "SQLVAULT_FULL_EVERY" "why a full"
change "UPDATE todos SET done = done + 1 WHERE rowid = 11"
r="$(SQLVAULT_FAKE_NOW=$((now_ms + 1000)) bk)"
assert_eq incremental "$(field "$r" backupType)" "one second after that full"

step "an idle workspace's head is re-proven in the store once per SQLVAULT_FULL_EVERY; a head gone makes a full (fake clock)"
# state_field NAME: a field of the chain state's header.
state_field() {
  python3 -c 'import json, struct, sys
b = open(sys.argv[1], "rb").read()
n = struct.unpack("<I", b[-12:-8])[0]
print(json.loads(b[-12 - n:-12]).get(sys.argv[2], "-"))' "$state" "$1"
}
# requests: what the proxy saw since proxy_reset.
requests() { curl -fsS "$SV_PROXY_CONTROL/log?pending=1"; }
t=$((now_ms + 60000))
change "UPDATE todos SET done = done + 1 WHERE rowid = 13"
r="$(SQLVAULT_FAKE_NOW=$t bk)"
assert_eq incremental "$(field "$r" backupType)" "a change"
took "$r"
head="${CHAIN[-1]}"
checked="$(state_field checkedAt)"
assert_le "$t" "$checked" "checkedAt: the commit's time (fake clock)"
# as in the unchanged step above: the pages once (sqlite3 moved the -wal, then the mtimes), then the fingerprint
r="$(SQLVAULT_FAKE_NOW=$((t + 1000)) bk)"
age "$db" "$db-wal"
r="$(SQLVAULT_FAKE_NOW=$((t + 2000)) bk)"
assert_eq true "$(field "$r" unchanged)" "unchanged after aging"
proxy_reset
r="$(SQLVAULT_FAKE_NOW=$((t + 3000)) bk)"
assert_eq true "$(field "$r" unchanged)" "right after a backup: unchanged"
assert_contains "$(cat "$work/bk.err")" "(fingerprint)" "by the fingerprint"
assert_eq 0 "$(requests | jq '.entries | length')" "requests at the proxy right after a backup"
assert_eq "$checked" "$(state_field checkedAt)" "checkedAt untouched by an answer from the state alone"
# 25 h later (SQLVAULT_FULL_EVERY is 24 h), the head still there: one GET of its metadata.json, still unchanged
t2=$((checked + 25 * 3600 * 1000))
proxy_reset
r="$(SQLVAULT_FAKE_NOW=$t2 bk)"
assert_eq true "$(field "$r" unchanged)" "a day later, the head in the store: unchanged"
assert_eq "$head" "$(field "$r" ts)" "names the head"
assert_contains "$(cat "$work/bk.err")" "the head is still in the store" "the head was proven"
log="$(requests)"
assert_eq 1 "$(jq '.entries | length' <<<"$log")" "requests at the proxy: the one GET"
assert_eq "GetObject ${SV_PREFIX}full/$ws/$head/metadata.json" "$(jq -r '.entries[0] | "\(.op) \(.key)"' <<<"$log")" \
  "the request: the head's metadata.json"
checked2="$(state_field checkedAt)"
assert_le "$t2" "$checked2" "checkedAt moved on to the proof"
assert_eq "$head" "$(state_field head)" "the state's head"
proxy_reset
r="$(SQLVAULT_FAKE_NOW=$((t2 + 1000)) bk)"
assert_eq true "$(field "$r" unchanged)" "the next backup: unchanged"
assert_contains "$(cat "$work/bk.err")" "(fingerprint)" "from the state alone"
assert_eq 0 "$(requests | jq '.entries | length')" "requests at the proxy after the proof"
# the head's folder deleted by hand: within the hour no request, so still unchanged; 25 h after the proof, a full
aws_s3 s3 rm --only-show-errors --recursive "s3://$SV_S3_BUCKET/${SV_PREFIX}full/$ws/$head/"
assert_eq "" "$(s3_keys "${SV_PREFIX}full/$ws/$head/")" "the head's folder is gone"
r="$(SQLVAULT_FAKE_NOW=$((checked2 + 25 * 3600 * 1000)) bk)"
assert_eq false "$(field "$r" unchanged)" "a day later, the head gone from the store: not unchanged"
assert_eq full "$(field "$r" backupType)" "a full"
assert_eq "the chain's head is not in the store" "$(field "$r" fullReason)" "why a full"
assert_ne "$head" "$(field "$r" ts)" "a new backup"
took "$r"
check_point 0
"$SV_BIN" restore "$ws" --from "${CHAIN[0]}" --db "$work/headgone.db" --inline --yes >/dev/null 2>"$work/r.err" ||
  fail "restore of ${CHAIN[0]} failed: $(cat "$work/r.err")"
assert_eq "${EXPECT[0]}" "$(sqlite3 "$work/headgone.db" .sha3sum)" "the workspace's data restores from the new full"
assert_le "$((checked2 + 25 * 3600 * 1000))" "$(state_field checkedAt)" "the new full's state: checkedAt"

step "a state folder that cannot be written: the backup is a full all the same"
touch "$SV_SCRATCH/not-a-dir"
change "UPDATE todos SET done = done + 1 WHERE rowid = 12"
r="$(SQLVAULT_STATE_DIR="$SV_SCRATCH/not-a-dir/state" bk)"
assert_eq full "$(field "$r" backupType)" "without a writable state folder"
assert_contains "$(field "$r" fullReason)" "cannot be written" "why a full"

step "a LiveStore store directory: fulls, and the unchanged skip with no request"
sws=ws-store
sdir="$SQLVAULT_DATA_DIR/$sws"
mkdir -p "$sdir"
mini_livestore "$sdir"
sbk() { "$SV_BIN" backup "$sws" --inline --json "$@" 2>"$work/sbk.err" || { cat "$work/sbk.err" >&2; fail "store backup failed"; }; }
age "$sdir/eventlog@6.db" "$sdir/state-1@6.db"
r="$(sbk)"
assert_eq store "$(field "$r" shape)" "shape"
assert_eq full "$(field "$r" backupType)" "a store's backup"
sts="$(field "$r" ts)"
proxy_reset
r="$(sbk)"
assert_eq true "$(field "$r" unchanged)" "an unchanged store"
assert_eq "$sts" "$(field "$r" ts)" "names its last backup"
assert_eq store "$(field "$r" shape)" "shape"
assert_eq 0 "$(curl -fsS "$SV_PROXY_CONTROL/log?pending=1" | jq '.entries | length')" "requests at the proxy"
sqlite3 "$sdir/eventlog@6.db" "INSERT INTO eventlog VALUES (51,0,0,50,0,0,'v1.ItemAdded','{}','c','s',1,'{}')"
sqlite3 "$sdir/state-1@6.db" "INSERT INTO __livestore_session_changeset VALUES (51,0,0,NULL,NULL)"
r="$(sbk)"
assert_eq false "$(field "$r" unchanged)" "a store with a new event"
assert_eq full "$(field "$r" backupType)" "is backed up in full"
assert_ne "$sts" "$(field "$r" ts)" "a new backup"
age "$sdir/eventlog@6.db" "$sdir/state-1@6.db"
r="$(sbk --full)"
assert_eq false "$(field "$r" unchanged)" "--full on an unchanged store"
sts="$(field "$r" ts)"
r="$(sbk)"
assert_eq true "$(field "$r" unchanged)" "unchanged after --full"
# a day later (fake clock), the store's head still there: one GET, unchanged
st2=$(($(date +%s%3N) + 25 * 3600 * 1000))
proxy_reset
r="$(SQLVAULT_FAKE_NOW=$st2 sbk)"
assert_eq true "$(field "$r" unchanged)" "a day later, the store's head in the store"
assert_eq "$sts" "$(field "$r" ts)" "names its last backup"
assert_eq 1 "$(curl -fsS "$SV_PROXY_CONTROL/log?pending=1" | jq '.entries | length')" "requests at the proxy: the one GET"
proxy_reset
r="$(SQLVAULT_FAKE_NOW=$((st2 + 1000)) sbk)"
assert_eq true "$(field "$r" unchanged)" "the next one"
assert_eq 0 "$(curl -fsS "$SV_PROXY_CONTROL/log?pending=1" | jq '.entries | length')" "requests at the proxy after the proof"
# its folder deleted by hand: a day after the proof, a new backup of the store
aws_s3 s3 rm --only-show-errors --recursive "s3://$SV_S3_BUCKET/${SV_PREFIX}full/$sws/$sts/"
r="$(SQLVAULT_FAKE_NOW=$((st2 + 25 * 3600 * 1000)) sbk)"
assert_eq false "$(field "$r" unchanged)" "the store's head gone: not unchanged"
assert_eq full "$(field "$r" backupType)" "a store's backup"
assert_eq "the chain's head is not in the store" "$(field "$r" fullReason)" "why a new backup"
assert_ne "$sts" "$(field "$r" ts)" "a new backup"
assert_contains "$(s3_keys "${SV_PREFIX}full/$sws/$(field "$r" ts)/")" metadata.json "it is committed"

sv_pass
