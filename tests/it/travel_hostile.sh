#!/usr/bin/env bash
# travel_hostile.sh -- time travel (issue 25) against damaged and hostile
# backups and statements. A workspace (a few frames) has a full and an
# incremental. Each damage is made in the store behind the proxy, then
# undone:
#  - a byte flipped inside a frame of the full: refused naming the backup
#    and the frame;
#  - a byte flipped inside the full's page index: its checksum does not match;
#  - metadata.json's seekable offsets past the end of the object;
#  - the object truncated (metadata.json unchanged);
#  - the link's page index rewritten to lie about a page number, its
#    checksum in metadata.json made to match: the frame's record says another
#    page;
#  - "seekable" removed from metadata.json (a backup from before the
#    page-addressable format): refused with the restore hint.
# Each: a non-zero exit, the message, the live workspace byte-identical
# (sha256 of the file and its WAL), no key added to or changed in the store
# but the damage, and the process's peak memory (/usr/bin/time %M) under
# 100 MiB; `inspect` is refused the same way. With every damage undone the
# same queries answer again. Statements: a write (DELETE) is refused as read
# only, two statements are refused, a statement that runs too long is stopped
# (SQLVAULT_TEST_QUERY_LIMIT_MS) -- none touches anything.
source "$(dirname "$0")/lib.sh"
source "$SV_SOURCE_DIR/tests/tools/restore_lib.sh"
sv_setup
sv_use_incrementals
export SQLVAULT_LOG_FORMAT=text
[[ -x /usr/bin/time ]] || fail "missing /usr/bin/time (GNU time, for the peak memory)"

SEED="${SV_TEST_SEED:-$RANDOM}"
note "seed $SEED (SV_TEST_SEED=$SEED to repeat)"
W="$SV_SCRATCH"
ws=travel-h
live="$SQLVAULT_DATA_DIR/$ws/livestore.db"
mkdir -p "$(dirname "$live")"
MEM_KB=$((100 * 1024))
# under the sanitizer build the shadow memory alone is more: the bound there is its own
[[ "$SV_BUILD_DIR" == *-asan ]] && MEM_KB=$((1024 * 1024)) && note "sanitizer build: peak memory bound 1 GiB"

step "a workspace of a few frames: a full, then an incremental of updates (no free pages)"
python3 - "$live" "$SEED" <<'EOF'
import random, sqlite3, sys
r = random.Random(int(sys.argv[2]))
W = ["".join(r.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(3 + i % 6)) for i in range(1500)]
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute("PRAGMA journal_mode=WAL")
c.execute("BEGIN")
c.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, k TEXT, body TEXT)")
c.execute("CREATE INDEX t_k ON t(k)")
for i in range(1, 4001):
    c.execute("INSERT INTO t VALUES (?,?,?)", (i, f"k{r.randrange(10**6):06d}", " ".join(r.choice(W) for _ in range(r.randrange(100, 400)))))
c.execute("COMMIT")
EOF
sv backup "$ws" --inline --json >"$W/b0.json" 2>"$W/err.txt" || fail "full: $(cat "$W/err.txt")"
sqlite3 "$live" "UPDATE t SET body = upper(body) WHERE id % 17 = $((SEED % 17))"
sv backup "$ws" --inline --json >"$W/b1.json" 2>"$W/err.txt" || fail "incremental: $(cat "$W/err.txt")"
T0="$(jq -r .ts "$W/b0.json")"
T1="$(jq -r .ts "$W/b1.json")"
assert_eq incremental "$(jq -r .backupType "$W/b1.json")" "the second backup's type"
assert_eq 0 "$(sqlite3 "file:$live?mode=ro" 'PRAGMA freelist_count')" "free pages (every page is read by integrity_check)"
KEY0="${SV_PREFIX}full/$ws/$T0/livestore.db.zst"
META0="${SV_PREFIX}full/$ws/$T0/metadata.json"
KEY1="${SV_PREFIX}full/$ws/$T1/pages-$T0.zst"
META1="${SV_PREFIX}full/$ws/$T1/metadata.json"
for k in "$KEY0" "$KEY1"; do s3_get "$k" "$W/orig-$(basename "$k")"; done
s3_get "$META0" "$W/m0.json"
s3_get "$META1" "$W/m1.json"
note "full $T0: $(jq -r .compressedSize "$W/m0.json") bytes, $(jq -r .seekable.frames "$W/m0.json") frames; link $T1: $(jq -r .compressedSize "$W/m1.json") bytes"
assert_ge "$(jq -r .seekable.frames "$W/m0.json")" 3 "frames of the full"
Q="PRAGMA integrity_check"
good="$(sv query "$ws" --at "$T1" --json "SELECT count(*), sum(length(body)) FROM t" 2>/dev/null | jq -c .rows)"
note "the answer before any damage: $good"

# s3tool ARGS...: sv_s3tool on the test's store, s3rver directly (keys relative to the prefix).
s3tool() { SQLVAULT_S3_ENDPOINT="$SV_S3_DIRECT_ENDPOINT" "$SV_BUILD_DIR/sv_s3tool" "$@"; }
# store_state: every key of the store with its size, time and ETag, one a line.
store_state() {
  local k
  s3tool list "" | sort | while read -r k; do echo "$k $(s3tool stat "$k")"; done
}
# put FILE KEY: replaces an object (s3rver directly); restore_all puts the originals back.
DAMAGED=()
put() {
  s3tool put "${2#"$SV_PREFIX"}" "$1" 2>"$W/put.err" || fail "put $2: $(cat "$W/put.err")"
  DAMAGED+=("$2")
}
declare -A ORIG=(["$KEY0"]="$W/orig-livestore.db.zst" ["$KEY1"]="$W/orig-pages-$T0.zst" ["$META0"]="$W/m0.json" ["$META1"]="$W/m1.json")
restore_all() {
  local k
  for k in "${DAMAGED[@]}"; do put "${ORIG[$k]}" "$k"; done
  DAMAGED=()
}

# refused [--frames] WHAT AT NEEDLE...: query (integrity_check, every page)
# and inspect --at AT fail (non-zero) naming each NEEDLE; the live files, the
# store and the process's memory as said. --frames: the damage is in frames
# inspect need not read (it reads page 1 and the row counts the backup
# recorded), so inspect may answer.
refused() {
  local frames=false what at st out mem before after sb sa needle
  [[ "$1" == --frames ]] && frames=true && shift
  what="$1" at="$2"
  shift 2
  before="$(live_state "$live") $(live_state "$live-wal")"
  sb="$(store_state)"
  st=0
  /usr/bin/time -f %M -o "$W/mem.txt" "$SV_BIN" query "$ws" --at "$at" "$Q" >"$W/out.txt" 2>"$W/err.txt" || st=$?
  out="$(grep -v '^Command exited' "$W/err.txt")"
  mem="$(tail -1 "$W/mem.txt")"
  ((st != 0)) || fail "$what: the query succeeded: $(head -c 300 "$W/out.txt")"
  for needle in "$@"; do
    [[ "$out" == *"$needle"* ]] || fail "$what: the error does not say [$needle]: $out"
  done
  note "ok: $what: exit $st, $(head -1 <<<"$out")"
  [[ "$out" != *HINT* ]] || note "    $(grep HINT <<<"$out")"
  assert_le "$mem" "$MEM_KB" "$what: peak memory (KiB) of the refused query" >/dev/null
  st=0
  out="$("$SV_BIN" inspect "$ws" --at "$at" --inline --json 2>"$W/ierr.txt")" || st=$?
  if $frames && ((st == 0)); then
    note "    inspect answered from the pages it reads: $(jq -c '{tables, fetched}' <<<"$out")"
  else
    ((st != 0)) || fail "$what: inspect succeeded: ${out:0:300}"
    out="$(jq -r .error <<<"$out") $(cat "$W/ierr.txt")"
    for needle in "$@"; do [[ "$out" == *"$needle"* ]] || fail "$what: inspect's error does not say [$needle]: $out"; done
    note "    inspect refused (exit $st): $(head -1 "$W/ierr.txt")"
  fi
  after="$(live_state "$live") $(live_state "$live-wal")"
  sa="$(store_state)"
  assert_eq "$before" "$after" "$what: the live database and WAL bytes" >/dev/null
  [[ "$sb" == "$sa" ]] || fail "$what: the store changed: $(diff <(echo "$sb") <(echo "$sa"))"
  note "    live files identical, the store unchanged, peak memory $((mem / 1024)) MiB"
}

step "a byte flipped inside frame 1 of the full"
# frame offsets from the zstd seekable table at the object's end
read -r f1_off f1_len < <(python3 - "$W/orig-livestore.db.zst" <<'EOF'
import struct, sys
b = open(sys.argv[1], "rb").read()
n = struct.unpack("<I", b[-9:-5])[0]
tab = b[-9 - 8 * n:-9]
sizes = [struct.unpack("<II", tab[8 * i:8 * i + 8])[0] for i in range(n)]
print(sizes[0], sizes[1])
EOF
)
cp "$W/orig-livestore.db.zst" "$W/bad.zst"
flip_byte "$W/bad.zst" $((f1_off + f1_len / 2))
put "$W/bad.zst" "$KEY0"
refused --frames "a flipped byte in frame 1" "$T0" "backup $T0" "frame 1"
refused --frames "the same, read through the link" "$T1" "backup $T0" "frame"
restore_all

step "a byte flipped inside the full's page index"
ioff="$(jq -r .seekable.indexOffset "$W/m0.json")"
cp "$W/orig-livestore.db.zst" "$W/bad.zst"
flip_byte "$W/bad.zst" $((ioff + 60))
put "$W/bad.zst" "$KEY0"
refused "a damaged page index" "$T0" "backup $T0" "page index does not match its checksum"
restore_all

step "metadata.json's seekable offsets point past the end of the object"
size0="$(jq -r .compressedSize "$W/m0.json")"
# (metadata.json says it at the top level and in files[0], the one readers use: both the same)
jq --argjson o $((size0 + 4096)) '(.seekable, .files[0].seekable) |= (.indexOffset = $o | .hashesOffset = ($o + .indexSize))' \
  "$W/m0.json" >"$W/bad.json"
put "$W/bad.json" "$META0"
refused "an index offset past the end" "$T0" "backup $T0" "past the end"
jq '(.seekable, .files[0].seekable) |= (.indexSize = 60000000)' "$W/m0.json" >"$W/bad.json"
put "$W/bad.json" "$META0"
refused "an index size past the end" "$T0" "backup $T0" "past the end"
restore_all

step "the object truncated (metadata.json unchanged)"
head -c $((size0 * 3 / 5)) "$W/orig-livestore.db.zst" >"$W/bad.zst"
put "$W/bad.zst" "$KEY0"
refused "a truncated object" "$T0" "backup $T0" "past the end"
restore_all

step "the link's page index lies about a page number, its checksum made to match"
python3 - "$W/orig-pages-$T0.zst" "$W/m1.json" "$W/bad.zst" "$W/bad.json" <<'EOF' >"$W/lie.txt" || fail "no page of the link to lie about: $(cat "$W/lie.txt")"
import hashlib, json, struct, sys
obj, meta_in, obj_out, meta_out = sys.argv[1:5]
b = bytearray(open(obj, "rb").read())
m = json.load(open(meta_in))
sk = m["seekable"]
o, n = sk["indexOffset"], sk["indexSize"]
ix = b[o:o + n]
kind, ps, pc, recs, fsize, frames = struct.unpack("<6I", ix[16:40])
assert kind == 1, kind
base = 48 + 12 * frames
pg = list(struct.unpack(f"<{recs}I", ix[base:base + 4 * recs]))
# a record whose next page number is free in the link's list: it now claims that page
for r in range(recs):
    nxt = pg[r + 1] if r + 1 < recs else pc + 1
    if pg[r] + 1 < nxt and pg[r] + 1 <= pc and pg[r] > 1:
        break
else:
    sys.exit("none")
print(f"record {r}: page {pg[r]} now claims page {pg[r] + 1} (of {pc})")
struct.pack_into("<I", ix, base + 4 * r, pg[r] + 1)
b[o:o + n] = ix
open(obj_out, "wb").write(b)
for f in [m] + m.get("files", []):
    f["seekable"]["indexChecksum"] = "sha256:" + hashlib.sha256(bytes(ix)).hexdigest()
json.dump(m, open(meta_out, "w"))
EOF
note "$(cat "$W/lie.txt")"
put "$W/bad.zst" "$KEY1"
put "$W/bad.json" "$META1"
refused --frames "a link whose index lies about a page" "$T1" "backup $T1" "holds page"
restore_all

step "a backup from before the page-addressable format (no \"seekable\" in metadata.json)"
jq 'del(.seekable) | if .files then .files |= map(del(.seekable)) else . end' "$W/m0.json" >"$W/bad.json"
put "$W/bad.json" "$META0"
refused "a backup without seekable" "$T0" "backup $T0 was written before backups were page-addressable" "sqlvault restore"
refused "the same, as the base of the link" "$T1" "backup $T0 was written before backups were page-addressable"
restore_all

step "with every damage undone the backups answer again"
assert_eq "$good" "$(sv query "$ws" --at "$T1" --json "SELECT count(*), sum(length(body)) FROM t" 2>/dev/null | jq -c .rows)" "the answer at the link"
assert_eq '[["ok"]]' "$(sv query "$ws" --at "$T0" --json "$Q" 2>/dev/null | jq -c .rows)" "integrity_check of the full"

step "statements: a write, two statements, one that runs too long"
before="$(live_state "$live") $(live_state "$live-wal")"
sb="$(store_state)"
expect_status 2 "$SV_BIN" query "$ws" "DELETE FROM t" 2>"$W/err.txt"
assert_contains "$(cat "$W/err.txt")" "a backup is read only: the statement would write" "a DELETE"
expect_status 2 "$SV_BIN" query "$ws" "UPDATE t SET k = 'x'" 2>"$W/err.txt"
assert_contains "$(cat "$W/err.txt")" "read only" "an UPDATE"
st=0
"$SV_BIN" query "$ws" "ATTACH '$W/evil.db' AS e" 2>"$W/err.txt" || st=$?
assert_ne 0 "$st" "exit status of an ATTACH"
[[ ! -e "$W/evil.db" ]] || fail "ATTACH created a file"
note "ok: ATTACH refused: $(head -1 "$W/err.txt")"
expect_status 2 "$SV_BIN" query "$ws" "SELECT 1; DELETE FROM t" 2>"$W/err.txt"
assert_contains "$(cat "$W/err.txt")" "query runs one statement; more follows" "two statements"
expect_status 2 "$SV_BIN" query "$ws" "SELECT 1; SELECT 2" 2>"$W/err.txt"
assert_contains "$(cat "$W/err.txt")" "more follows: 'SELECT 2'" "two reads"
out="$("$SV_BIN" query "$ws" --json "SELECT count(*) FROM t;  " 2>/dev/null)" || fail "a statement with a trailing ';' was refused"
assert_eq 4000 "$(jq -r '.rows[0][0]' <<<"$out")" "a trailing ';' is one statement"
t0=$(date +%s%N)
st=0
SQLVAULT_TEST_QUERY_LIMIT_MS=700 /usr/bin/time -f %M -o "$W/mem.txt" "$SV_BIN" query "$ws" \
  "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c" >"$W/out.txt" 2>"$W/err.txt" || st=$?
ms=$((($(date +%s%N) - t0) / 1000000))
assert_eq 1 "$st" "exit status of a statement that runs too long"
assert_contains "$(cat "$W/err.txt")" "the query ran longer than 0.7 s: it was stopped" "the stopped statement"
assert_le "$ms" 10000 "ms until the endless statement was stopped (limit 700)"
assert_le "$(tail -1 "$W/mem.txt")" "$MEM_KB" "peak memory (KiB) of the stopped statement"
note "stopped after $ms ms"
assert_eq "$before" "$(live_state "$live") $(live_state "$live-wal")" "the live database and WAL after the statements"
[[ "$sb" == "$(store_state)" ]] || fail "the statements changed the store"
assert_eq 4000 "$(sqlite3 "file:$live?mode=ro" 'SELECT count(*) FROM t')" "rows of the live table"
sv_pass
