#!/usr/bin/env bash
# chain_restore.sh -- point-in-time restore through incremental chains
# (issue 12 item 4), on the S3 store (s3rver through the harness) and, for
# one restore, through the queue (real redis, a worker).
#
# A workspace goes through many kinds of change: inserts, updates, deletes,
# VACUUM (the page count shrinks), a large insert (it grows), a WAL
# checkpointed and reset, a switch to rollback mode and back to WAL. After
# each change the quiescent database file is backed up: the first as a full,
# every other as an incremental of the previous one, written in the format of
# include/chain.h by tests/tools/sv_chaingen (the restore side is tested on
# its own; the backup side writes the same format). The content hash
# (sqlite3 .sha3sum) of every point is recorded. Then:
#  - every point restores to exactly its state (--from its folder time);
#  - --from a time between two points gives the older one, after the last
#    gives the last, before the first is refused naming the oldest backup;
#  - a damaged link (one byte flipped), a missing link (its object deleted,
#    or its metadata.json), a chain copied in from another workspace and a
#    link built on another chain's pages are each refused naming the link,
#    with the live database byte-identical (sha256 before and after);
#  - verify --at a chain point writes verify.json with the chain and ok; at
#    a damaged one ok false;
#  - a queued restore's result names the chain (base, links);
#  - part 2, with the backup side (`sqlvault backup`, mode auto): the same
#    kinds of change on a live database backed up by sqlvault itself (a
#    full, then incrementals, WAL content included): every point restores
#    to the content it had when its backup ran, and a restore of a chain
#    point restores over the live file while a second chain grows after it.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/queue_lib.sh"
source "$SV_SOURCE_DIR/tests/tools/restore_lib.sh"
sv_setup
export SQLVAULT_LOG_FORMAT=text
GEN="$SV_BUILD_DIR/sv_chaingen"
[[ -x "$GEN" ]] || fail "missing $GEN (build the tests/tools)"

ws=chain-a
live="$SQLVAULT_DATA_DIR/$ws/livestore.db"
snap="$SV_SCRATCH/snap"
mkdir -p "$snap"
t0_ms=$(( ($(date +%s) - 86400) * 1000 ))
declare -a TS HASH

ts_of() { python3 -c 'import sys,datetime as d; t=d.datetime.fromtimestamp(int(sys.argv[1])/1000, d.timezone.utc); print(t.strftime("%Y%m%dT%H%M%S.")+"%03dZ"%(int(sys.argv[1])%1000))' "$1"; }
iso_of() { python3 -c 'import sys,datetime as d; t=d.datetime.fromtimestamp(int(sys.argv[1])/1000, d.timezone.utc); print(t.strftime("%Y-%m-%dT%H:%M:%SZ"))' "$1"; }
file_sha() { sha256sum "$1" | cut -d' ' -f1; }
obj_key() { echo "${SV_PREFIX}full/$1/$2/$3"; }

# point I: snapshot the live file (checkpointed, quiescent) and back it up.
point() {
  local i="$1" ms=$((t0_ms + $1 * 600000)) out
  sqlite3 "$live" 'PRAGMA wal_checkpoint(TRUNCATE)' >/dev/null
  cp "$live" "$snap/$i.db"
  TS[$i]="$(ts_of "$ms")"
  HASH[$i]="$(db_sha3 "$snap/$i.db")"
  if ((i == 0)); then
    out="$("$GEN" full "$ws" "${TS[0]}" "$snap/0.db")" || fail "full: $out"
  else
    out="$("$GEN" incr "$ws" "${TS[$i]}" "${TS[$((i - 1))]}" "$snap/$((i - 1)).db" "$snap/$i.db")" || fail "incr $i: $out"
  fi
  note "point $i ${TS[$i]}: $(stat -c %s "$snap/$i.db") bytes, $(sqlite3 "$live" 'PRAGMA journal_mode'), state/changed pages: $out"
}

step "a chain over many kinds of change"
make_workspace "$ws" 3000
point 0
sqlite3 "$live" "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 500)
  INSERT INTO eventlog (name, args, created_at) SELECT 'added', hex(randomblob(40)), datetime('now') FROM n"
point 1                                                             # inserts
sqlite3 "$live" "UPDATE eventlog SET args = hex(randomblob(30)) WHERE seq % 3 = 0"
point 2                                                             # updates
sqlite3 "$live" "DELETE FROM eventlog WHERE seq % 5 IN (1, 2); DELETE FROM todos WHERE rowid % 2 = 0"
point 3                                                             # deletes
sqlite3 "$live" "VACUUM"
point 4                                                             # page count shrinks
sqlite3 "$live" "CREATE TABLE blobs (id INTEGER PRIMARY KEY, b BLOB);
  WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300) INSERT INTO blobs (b) SELECT randomblob(3000) FROM n"
point 5                                                             # grows
sqlite3 "$live" "INSERT INTO todos VALUES ('w1', 'in the WAL', 0); PRAGMA wal_checkpoint(TRUNCATE);
  INSERT INTO todos VALUES ('w2', 'after the reset', 1); UPDATE blobs SET b = randomblob(100) WHERE id < 50" >/dev/null
point 6                                                             # WAL checkpointed and reset
sqlite3 "$live" "PRAGMA journal_mode=DELETE; DELETE FROM blobs WHERE id > 200; INSERT INTO todos VALUES ('r', 'rollback mode', 0)" >/dev/null
point 7                                                             # rollback mode
sqlite3 "$live" "PRAGMA journal_mode=WAL; CREATE INDEX ev_name ON eventlog(name); DROP TABLE blobs; VACUUM" >/dev/null
point 8                                                             # back to WAL, shrinks
sqlite3 "$live" "INSERT INTO todos VALUES ('last', 'the last point', 0)"
point 9
last=9
for ((i = 1; i <= last; i++)); do assert_ne "$(file_sha "$snap/$i.db")" "$(file_sha "$snap/$((i - 1)).db")" "point $i changed the file"; done
sv list "$ws" >"$SV_SCRATCH/list.txt"
sed 's/^/   /' "$SV_SCRATCH/list.txt"
assert_contains "$(cat "$SV_SCRATCH/list.txt")" "incremental" "list shows incrementals"
lj="$(sv list "$ws" --json)"
assert_eq "${TS[0]}" "$(jq -r --arg t "${TS[5]}" '.[] | select(.ts == $t) | .base' <<<"$lj")" "list: base of point 5"
assert_eq "${TS[4]}" "$(jq -r --arg t "${TS[5]}" '.[] | select(.ts == $t) | .parent' <<<"$lj")" "list: parent of point 5"
assert_eq "5" "$(jq -r --arg t "${TS[5]}" '.[] | select(.ts == $t) | .chainLength' <<<"$lj")" "list: chain length of point 5"

step "every point restores to exactly its state"
for ((i = last; i >= 0; i--)); do
  out="$(sv restore "$ws" --from "${TS[$i]}" --yes --inline --json 2>"$SV_SCRATCH/err.txt")" || fail "restore point $i: $(tail -3 "$SV_SCRATCH/err.txt")"
  assert_eq "${HASH[$i]}" "$(db_sha3 "$live")" "content of point $i"
  assert_eq "ok" "$(db_integrity "$live")" "integrity of point $i"
  assert_eq "${TS[0]}" "$(jq -r .chain.base <<<"$out")" "point $i: chain base"
  assert_eq "$i" "$(jq -r .chain.links <<<"$out")" "point $i: links applied"
  assert_eq "ok" "$(jq -r .integrity_check <<<"$out")" "point $i: integrity_check ran"
done

step "--from a time between two points, after the last, before the first"
sv restore "$ws" --from "$(iso_of $((t0_ms + 6 * 600000 + 300000)))" --yes --inline >/dev/null 2>&1
assert_eq "${HASH[6]}" "$(db_sha3 "$live")" "between points 6 and 7: point 6"
sv restore "$ws" --from "$(ts_of $((t0_ms + 3 * 600000 + 1)))" --yes --inline >/dev/null 2>&1
assert_eq "${HASH[3]}" "$(db_sha3 "$live")" "one ms after point 3 (folder form): point 3"
# the restores above made pre-restore backups (now): a time after the last point but before them
sv restore "$ws" --from "$(iso_of $((t0_ms + 20 * 600000)))" --yes --inline >/dev/null 2>&1
assert_eq "${HASH[$last]}" "$(db_sha3 "$live")" "after the last point: the last"
before="$(file_sha "$live")"
out="$(sv restore "$ws" --from "$(iso_of $((t0_ms - 60000)))" --yes --inline 2>&1)" && fail "a time before the first backup was restored"
assert_contains "$out" "at or before" "before the first: refused"
assert_contains "$out" "${TS[0]}" "before the first: names the oldest backup"
assert_eq "$before" "$(file_sha "$live")" "before the first: live untouched"

# refused TS PATTERN WHAT: a restore of TS fails with PATTERN, the live file unchanged.
refused() {
  local before out
  before="$(file_sha "$live")"
  out="$(sv restore "$ws" --from "$1" --yes --inline 2>&1)" && fail "$3: the restore succeeded"
  assert_contains "$out" "$2" "$3: the error names the link"
  note "$3: $(grep -m1 '^error' <<<"$out")"
  assert_eq "$before" "$(file_sha "$live")" "$3: live byte-identical"
}

step "a damaged link: one byte of its object flipped"
k3="$(obj_key "$ws" "${TS[3]}" "pages-${TS[2]}.zst")"
s3_get "$k3" "$SV_SCRATCH/l3.zst"
cp "$SV_SCRATCH/l3.zst" "$SV_SCRATCH/l3.bad"
python3 - "$SV_SCRATCH/l3.bad" <<'EOF'
import sys
p = sys.argv[1]; b = bytearray(open(p, 'rb').read()); b[len(b) // 2] ^= 0x40; open(p, 'wb').write(b)
EOF
s3_put "$SV_SCRATCH/l3.bad" "$k3"
refused "${TS[7]}" "link ${TS[3]}" "damaged link 3, restoring point 7"
out="$(sv verify "$ws" --at "${TS[7]}" --inline 2>&1)" && fail "verify of a chain with a damaged link passed"
s3_get "$(obj_key "$ws" "${TS[7]}" verify.json)" "$SV_SCRATCH/v7.json"
assert_eq "false" "$(jq -r .ok "$SV_SCRATCH/v7.json")" "verify.json of point 7 records the failure"
assert_contains "$(jq -r .error "$SV_SCRATCH/v7.json")" "link ${TS[3]}" "verify.json names the link"
sv restore "$ws" --from "${TS[2]}" --yes --inline >/dev/null 2>&1
assert_eq "${HASH[2]}" "$(db_sha3 "$live")" "a point before the damaged link still restores"
s3_put "$SV_SCRATCH/l3.zst" "$k3"

step "a damaged base: one byte of its object flipped; then a base replaced whole, metadata.json kept consistent"
# The base of a chain is proven by its object checksum as stored (its
# database bytes are not hashed as well) and the result by the target's
# state checksum: a flipped byte is refused naming the base, and a base
# whose object and object checksum were both replaced (a database of the
# same size in another state) is refused by the state proof.
m0="$(obj_key "$ws" "${TS[0]}" metadata.json)"
s3_get "$m0" "$SV_SCRATCH/m0.json"
k0="$(obj_key "$ws" "${TS[0]}" "$(jq -r .object "$SV_SCRATCH/m0.json")")"
s3_get "$k0" "$SV_SCRATCH/b0.zst"
cp "$SV_SCRATCH/b0.zst" "$SV_SCRATCH/b0.bad"
python3 - "$SV_SCRATCH/b0.bad" <<'EOF'
import sys
p = sys.argv[1]; b = bytearray(open(p, 'rb').read()); b[len(b) // 2] ^= 0x40; open(p, 'wb').write(b)
EOF
s3_put "$SV_SCRATCH/b0.bad" "$k0"
refused "${TS[5]}" "base ${TS[0]}" "damaged base, restoring point 5"
zstd -d -q -c "$SV_SCRATCH/b0.zst" >"$SV_SCRATCH/b0.other.db"
# one byte changed in a page that no link up to point P rewrites (the same
# in every snapshot 0..P; P as far along the chain as there is one): a
# database of the same size, in another state
P="$(python3 - "$SV_SCRATCH/b0.other.db" "$snap" "$last" <<'EOF'
import sys
p, snap, last = sys.argv[1], sys.argv[2], int(sys.argv[3])
b = bytearray(open(p, 'rb').read())
ps = int.from_bytes(b[16:18], 'big') or 65536
same = set(range(1, len(b) // ps))
best = None
for i in range(1, last + 1):
    t = open(f"{snap}/{i}.db", 'rb').read()
    same = {g for g in same if b[g * ps:(g + 1) * ps] == t[g * ps:(g + 1) * ps]}
    if not same:
        break
    best = (i, min(same))
i, g = best
b[g * ps + ps // 2] ^= 0x01
open(p, 'wb').write(b)
print(i)
EOF
)" || fail "no page of the base survives to point 1"
note "the replaced base differs in a page no link rewrites up to point $P"
zstd -3 -q -f "$SV_SCRATCH/b0.other.db" -o "$SV_SCRATCH/b0.other.zst"
jq --arg s "sha256:$(file_sha "$SV_SCRATCH/b0.other.zst")" --argjson n "$(stat -c %s "$SV_SCRATCH/b0.other.zst")" \
  '.compressedChecksum = $s | .compressedSize = $n' "$SV_SCRATCH/m0.json" >"$SV_SCRATCH/m0.other.json"
s3_put "$SV_SCRATCH/b0.other.zst" "$k0"
s3_put "$SV_SCRATCH/m0.other.json" "$m0"
refused "${TS[$P]}" "does not reproduce backup ${TS[$P]}" "a base replaced with its checksums, restoring point $P"
s3_put "$SV_SCRATCH/b0.zst" "$k0"
s3_put "$SV_SCRATCH/m0.json" "$m0"
sv restore "$ws" --from "${TS[$P]}" --yes --inline >/dev/null 2>&1
assert_eq "${HASH[$P]}" "$(db_sha3 "$live")" "point $P once the base is back"

step "a missing link: its object deleted, then its metadata.json"
k4="$(obj_key "$ws" "${TS[4]}" "pages-${TS[3]}.zst")"
m4="$(obj_key "$ws" "${TS[4]}" metadata.json)"
s3_get "$k4" "$SV_SCRATCH/l4.zst"
s3_get "$m4" "$SV_SCRATCH/m4.json"
aws_s3 s3 rm --only-show-errors "s3://$SV_S3_BUCKET/$k4"
refused "${TS[6]}" "link ${TS[4]}" "link 4 without its object, restoring point 6"
s3_put "$SV_SCRATCH/l4.zst" "$k4"
aws_s3 s3 rm --only-show-errors "s3://$SV_S3_BUCKET/$m4"
refused "${TS[6]}" "link ${TS[4]}" "link 4 without metadata.json, restoring point 6"
s3_put "$SV_SCRATCH/m4.json" "$m4"
sv restore "$ws" --from "${TS[6]}" --yes --inline >/dev/null 2>&1
assert_eq "${HASH[6]}" "$(db_sha3 "$live")" "point 6 once the link is back"

step "a chain from another workspace, and a link built on another chain"
wsb=chain-b
make_db "$SV_SCRATCH/b0.db" 500
sqlite3 "$SV_SCRATCH/b0.db" 'PRAGMA journal_mode=DELETE' >/dev/null
cp "$SV_SCRATCH/b0.db" "$SV_SCRATCH/b1.db"
sqlite3 "$SV_SCRATCH/b1.db" "INSERT INTO todos VALUES ('b', 'in b', 0)"
tb0="$(ts_of $((t0_ms + 95 * 60000)))"
tb1="$(ts_of $((t0_ms + 96 * 60000)))"
"$GEN" full "$wsb" "$tb0" "$SV_SCRATCH/b0.db" >/dev/null
"$GEN" incr "$wsb" "$tb1" "$tb0" "$SV_SCRATCH/b0.db" "$SV_SCRATCH/b1.db" >/dev/null
aws_s3 s3 cp --only-show-errors --recursive "s3://$SV_S3_BUCKET/${SV_PREFIX}full/$wsb/" "s3://$SV_S3_BUCKET/${SV_PREFIX}full/$ws/"
refused "$tb1" "belongs to workspace '$wsb'" "workspace B's chain copied into A"
aws_s3 s3 rm --only-show-errors --recursive "s3://$SV_S3_BUCKET/${SV_PREFIX}full/$ws/$tb0/"
refused "$tb1" "link $tb0" "B's link copied alone into A (its parent is not in A)"
aws_s3 s3 rm --only-show-errors --recursive "s3://$SV_S3_BUCKET/${SV_PREFIX}full/$ws/$tb1/"
# a link of A whose pages were computed against another database (its
# metadata consistent, its pages from another chain): the state proof
# refuses it
tf="$(ts_of $((t0_ms + 97 * 60000)))"
cp "$snap/$last.db" "$SV_SCRATCH/x.db"
sqlite3 "$SV_SCRATCH/x.db" "UPDATE eventlog SET args = 'other chain' WHERE seq % 2 = 0"
cp "$SV_SCRATCH/x.db" "$SV_SCRATCH/y.db"
sqlite3 "$SV_SCRATCH/y.db" "INSERT INTO todos VALUES ('y', 'y', 0)"
"$GEN" incr "$ws" "$tf" "${TS[$last]}" "$SV_SCRATCH/x.db" "$SV_SCRATCH/y.db" >/dev/null
refused "$tf" "does not reproduce backup $tf" "a link built on another chain's pages"
aws_s3 s3 rm --only-show-errors --recursive "s3://$SV_S3_BUCKET/${SV_PREFIX}full/$ws/$tf/"
# a link of A that claims to be another workspace's
tg="$(ts_of $((t0_ms + 98 * 60000)))"
cp "$snap/$last.db" "$SV_SCRATCH/g.db"
sqlite3 "$SV_SCRATCH/g.db" "INSERT INTO todos VALUES ('g', 'g', 0)"
"$GEN" incr "$ws" "$tg" "${TS[$last]}" "$snap/$last.db" "$SV_SCRATCH/g.db" --id "$wsb" >/dev/null
refused "$tg" "link $tg" "a link whose instanceId is another workspace's"
aws_s3 s3 rm --only-show-errors --recursive "s3://$SV_S3_BUCKET/${SV_PREFIX}full/$ws/$tg/"

step "verify --at a chain point"
out="$(sv verify "$ws" --at "$(iso_of $((t0_ms + 5 * 600000 + 1000)))" --inline --json)"
assert_eq "true" "$(jq -r .ok <<<"$out")" "verify of point 5"
assert_eq "${TS[5]}" "$(jq -r .ts <<<"$out")" "verify --at a time names point 5"
s3_get "$(obj_key "$ws" "${TS[5]}" verify.json)" "$SV_SCRATCH/v5.json"
assert_eq "5" "$(jq -r .chain.links "$SV_SCRATCH/v5.json")" "verify.json: links"
assert_eq "${TS[0]}" "$(jq -r .chain.base "$SV_SCRATCH/v5.json")" "verify.json: base"
assert_eq "$(jq -r .stateChecksum <<<"$(s3_get "$(obj_key "$ws" "${TS[5]}" metadata.json)" - 2>/dev/null || cat /dev/null)")" \
  "$(jq -r .stateChecksum "$SV_SCRATCH/v5.json")" "verify.json: the state proven"

step "a queued restore names the chain in its result"
start_worker w1 --threads 1
sv restore "$ws" --from "${TS[8]}" --yes --no-wait --id chain-q1 >/dev/null
id=chain-q1
wait_state "$id" succeeded 60 || fail "queued restore: $(qfield "$id" state) $(qfield "$id" error)"
res="$(qfield "$id" result)"
assert_eq "${TS[0]}" "$(jq -r .chain.base <<<"$res")" "queued: chain base"
assert_eq "8" "$(jq -r .chain.links <<<"$res")" "queued: links"
assert_eq "${HASH[8]}" "$(db_sha3 "$live")" "queued: content of point 8"

step "part 2: chains written by sqlvault backup (mode auto) over the same kinds of change"
sv_use_incrementals
wr=chain-real
lr="$SQLVAULT_DATA_DIR/$wr/livestore.db"
declare -a RT RH
# rpoint I: back up the live workspace (through its WAL, no checkpoint), record its content.
rpoint() {
  local out
  RH[$1]="$(db_sha3 "$lr")"
  out="$(sv backup "$wr" --inline --json 2>"$SV_SCRATCH/berr.txt")" || fail "backup $1: $(tail -3 "$SV_SCRATCH/berr.txt")"
  RT[$1]="$(jq -r .ts <<<"$out")"
  note "backup $1 ${RT[$1]}: $(jq -r '"\(.backupType) \(.fullReason // "") chainLength \(.chainLength // "-") changedPages \(.changedPages // "-")"' <<<"$out")"
  [[ "$1" == 0 ]] || assert_eq incremental "$(jq -r .backupType <<<"$out")" "backup $1 is an incremental"
}
make_workspace "$wr" 2000
rpoint 0
sqlite3 "$lr" "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300)
  INSERT INTO eventlog (name, args, created_at) SELECT 'added', hex(randomblob(40)), datetime('now') FROM n"
rpoint 1
sqlite3 "$lr" "UPDATE eventlog SET args = hex(randomblob(30)) WHERE seq % 4 = 0; DELETE FROM todos WHERE rowid % 3 = 0"
rpoint 2
sqlite3 "$lr" "VACUUM"
rpoint 3
sqlite3 "$lr" "CREATE TABLE blobs (id INTEGER PRIMARY KEY, b BLOB);
  WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200) INSERT INTO blobs (b) SELECT randomblob(3000) FROM n"
rpoint 4
sqlite3 "$lr" "PRAGMA wal_checkpoint(TRUNCATE); INSERT INTO todos VALUES ('w', 'after a WAL reset', 0)" >/dev/null
rpoint 5
sqlite3 "$lr" "PRAGMA journal_mode=DELETE; DELETE FROM blobs WHERE id > 100" >/dev/null
rpoint 6
sqlite3 "$lr" "PRAGMA journal_mode=WAL; DROP TABLE blobs; INSERT INTO todos VALUES ('z', 'back in WAL', 1)" >/dev/null
rpoint 7
rlast=7
for ((i = rlast; i >= 0; i--)); do
  out="$(sv restore "$wr" --from "${RT[$i]}" --yes --inline --json 2>"$SV_SCRATCH/err.txt")" || fail "restore backup $i: $(tail -3 "$SV_SCRATCH/err.txt")"
  assert_eq "${RH[$i]}" "$(db_sha3 "$lr")" "content of backup $i"
  assert_eq "$i" "$(jq -r .chain.links <<<"$out")" "backup $i: links applied"
  assert_eq "${RT[0]}" "$(jq -r .chain.base <<<"$out")" "backup $i: base"
done

step "part 2: an encrypted chain (SQLVAULT_ENCRYPTION_KEY_FILE): links decrypted as they are applied"
we=chain-enc
le="$SQLVAULT_DATA_DIR/$we/livestore.db"
python3 -c "import os,sys; sys.stdout.write(os.urandom(32).hex())" >"$SV_SCRATCH/kek"
export SQLVAULT_ENCRYPTION_KEY_FILE="$SV_SCRATCH/kek"
make_workspace "$we" 1000
declare -a ET EH
for i in 0 1 2; do
  ((i == 0)) || sqlite3 "$le" "UPDATE eventlog SET args = hex(randomblob(20)) WHERE seq % 7 = $i; INSERT INTO todos VALUES ('e$i', 'enc $i', 0)"
  EH[$i]="$(db_sha3 "$le")"
  out="$(sv backup "$we" --inline --json 2>/dev/null)" || fail "encrypted backup $i"
  ET[$i]="$(jq -r .ts <<<"$out")"
  ((i == 0)) || assert_eq incremental "$(jq -r .backupType <<<"$out")" "encrypted backup $i is an incremental"
done
s3_get "$(obj_key "$we" "${ET[2]}" metadata.json)" "$SV_SCRATCH/em2.json"
assert_eq true "$(jq 'has("encryption") and (.encryption != null)' "$SV_SCRATCH/em2.json")" "the link is encrypted"
for i in 2 1; do
  out="$(sv restore "$we" --from "${ET[$i]}" --yes --inline --json 2>"$SV_SCRATCH/err.txt")" || fail "encrypted restore $i: $(tail -3 "$SV_SCRATCH/err.txt")"
  assert_eq "${EH[$i]}" "$(db_sha3 "$le")" "content of encrypted point $i"
  assert_eq "$i" "$(jq -r .chain.links <<<"$out")" "encrypted point $i: links applied"
done
before="$(file_sha "$le")"
out="$(env -u SQLVAULT_ENCRYPTION_KEY_FILE "$SV_BIN" restore "$we" --from "${ET[2]}" --yes --inline 2>&1)" && fail "an encrypted chain restored without its key"
assert_eq "$before" "$(file_sha "$le")" "without the key: live untouched"
unset SQLVAULT_ENCRYPTION_KEY_FILE

step "no temporary file is left behind (fetched bases, prefetched links)"
left="$(find "$SQLVAULT_DATA_DIR/.sqlvault-tmp" -name 'restore-*' 2>/dev/null)"
assert_eq "" "$left" "files left in the temporary folder"
sv_pass
