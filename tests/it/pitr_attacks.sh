#!/usr/bin/env bash
# pitr_attacks.sh -- point-in-time restore attacked as an auditor would
# (issue 22, PITR part; docs/SECURITY.md "Point-in-time restore"), on the S3
# store behind the R2-rules proxy, with the commands a user runs
# (`sqlvault backup WS`, mode auto, production chain settings;
# `sqlvault restore WS --from TIME`) and the injected clock
# (SQLVAULT_FAKE_NOW: every backup's time is exact).
#
# One workspace goes through one chain of backups, each point after one kind
# of change: plain updates; 200 KiB blobs (overflow pages); a mass delete
# (the freelist grows); VACUUM (the file shrinks); a page size change
# (PRAGMA page_size + VACUUM: a new chain); auto_vacuum=incremental, then a
# delete and incremental_vacuum (the file shrinks, root pages move); a
# dropped and recreated indexed table; a change still in the WAL while
# another connection holds a read transaction open (the backup must read
# the committed WAL); a header-only change (PRAGMA user_version: one page);
# a switch to rollback mode; a rewrite of page 1 at the same size with the
# file's mtime put back (only the change counter tells); an idle backup
# (unchanged); a byte-level write that also puts back the change counter
# (the fingerprint's documented limit: unchanged, and --full takes it); a
# backup whose clock is behind its chain's head; and one after the clock
# recovered. After each point its exact content is recorded (sha256 of
# `sqlite3 .dump` and PRAGMA user_version, page_size, auto_vacuum,
# page_count, freelist_count).
#
# Then every point is restored in a shuffled order (seeded: SV_TEST_SEED
# replays it) with `restore --from TS`: its exact content, integrity_check
# ok, the backup and chain length the result names; times between two
# backups (seeded sample, plus the idle and forged minutes) give the
# earlier, and digits past the ms never round up to a newer one; a time
# after the last gives the last; a restore followed by a backup makes a link
# of the chain's head holding the restored state; a time before the first
# is refused with a clear error naming the oldest backup, and malformed
# times are refused, both with the live file byte-identical.
export SQLVAULT_FULL_EVERY=24h
source "$(dirname "$0")/lib.sh"
source "$SV_SOURCE_DIR/tests/tools/restore_lib.sh"
sv_setup
# The full path: a delta restore's pre-restore backup is a link of the chain,
# labelled by the clock, after this test's hand-made backup labels (delta
# restores of chain points: delta_restore.sh).
export SQLVAULT_RESTORE_DELTA=off
export SQLVAULT_LOG_FORMAT=text SQLVAULT_STATE_DIR="$SV_SCRATCH/state"
unset SQLVAULT_MAX_CHAIN
seed="${SV_TEST_SEED:-$RANDOM}"
note "seed $seed (replay with SV_TEST_SEED=$seed)"
RANDOM=$seed

ws=pitr-ws
live="$SQLVAULT_DATA_DIR/$ws/livestore.db"
work="$SV_SCRATCH/work"
mkdir -p "$work"
# the chain's minutes: two days back, so every restore's pre-restore backup
# (taken at the real now) comes after all of them
T0=$(( ($(date +%s) / 86400 - 2) * 86400 * 1000 ))
M=60000

iso_ms() { date -u -d "@$(($1 / 1000)).$(printf %03d $(($1 % 1000)))" +%Y-%m-%dT%H:%M:%S.%3NZ; }
# ts_ms TS: the ms of a folder time 20260115T103000.000Z
ts_ms() {
  local t="$1"
  echo $(( $(date -u -d "${t:0:4}-${t:4:2}-${t:6:2}T${t:9:2}:${t:11:2}:${t:13:2}Z" +%s) * 1000 + 10#${t:16:3} ))
}
# content PATH: what a point must restore to exactly
content() {
  local d m
  d="$(sqlite3 "$1" .dump | sha256sum | cut -c1-16)"
  m="$(sqlite3 "$1" 'PRAGMA user_version; PRAGMA page_size; PRAGMA auto_vacuum; PRAGMA page_count; PRAGMA freelist_count' | paste -sd/)"
  echo "dump=$d uv/ps/av/pc/fl=$m"
}
pragma() { sqlite3 "$live" "PRAGMA $1"; }
mtime_ns() { python3 -c 'import os,sys; print(os.stat(sys.argv[1]).st_mtime_ns)' "$1"; }
set_mtime_ns() { python3 -c 'import os,sys; n=int(sys.argv[2]); os.utime(sys.argv[1], ns=(n, n))' "$1" "$2"; }

declare -a PT_TS PT_C PT_TYPE PT_CL PT_WHAT   # per point: folder, content, type, chain length, what changed
declare -A CONTENT_OF CL_OF                  # per folder
NP=0
# bk MINUTE_MS WHAT [backup args]: backs the workspace up at that time on the
# fake clock, records the point; R is the JSON result.
bk() {
  local ms="$1" what="$2"
  shift 2
  local c
  c="$(content "$live")"
  [[ "$(db_integrity "$live")" == ok ]] || fail "point $NP ($what): the live database is not sound before its backup"
  R="$(SQLVAULT_FAKE_NOW="$ms" "$SV_BIN" backup "$ws" --inline --json "$@" 2>"$work/bk.err")" ||
    fail "backup of point $NP ($what): $(tail -3 "$work/bk.err")"
  PT_TS[NP]="$(jq -r .ts <<<"$R")" PT_C[NP]="$c" PT_WHAT[NP]="$what"
  PT_TYPE[NP]="$(jq -r 'if .unchanged then "unchanged" else .backupType end' <<<"$R")"
  PT_CL[NP]="$(jq -r '.chainLength // 0' <<<"$R")"
  note "point $NP ${PT_TS[NP]} ($what): $(jq -c '{backupType, unchanged, chainLength, changedPages, snapshot, fullReason}' <<<"$R") $c"
  if [[ "${PT_TYPE[NP]}" != unchanged ]]; then
    CONTENT_OF[${PT_TS[NP]}]="$c"
    CL_OF[${PT_TS[NP]}]="${PT_CL[NP]}"
  fi
  NP=$((NP + 1))
}
rj() { jq -r "$1" <<<"$R"; }

step "one chain of backups across every kind of change (fake clock, a minute apart)"
make_workspace "$ws" 400
sqlite3 "$live" "CREATE INDEX todos_title ON todos(title); CREATE TABLE blobs (id INTEGER PRIMARY KEY, b BLOB)"
bk $((T0 + 0 * M)) "the base"
assert_eq full "$(rj .backupType)" "point 0"

sqlite3 "$live" "UPDATE todos SET done = 1, title = title || ' (done)' WHERE rowid % 7 = 0; UPDATE eventlog SET name = 'todoUpdated' WHERE seq % 11 = 0"
bk $((T0 + 1 * M)) "plain updates"
assert_eq incremental "$(rj .backupType)" "point 1"

sqlite3 "$live" "INSERT INTO blobs (id, b) VALUES (1, randomblob(204800)), (2, randomblob(204800))"
bk $((T0 + 2 * M)) "two 200 KiB blobs (overflow pages)"
assert_eq incremental "$(rj .backupType)" "point 2"
assert_ge "$(rj .changedPages)" 100 "pages of the blobs' overflow chains"

fl_before="$(pragma freelist_count)"
sqlite3 "$live" "DELETE FROM eventlog WHERE seq % 10 != 0; DELETE FROM todos WHERE rowid % 4 != 0"
assert_ge "$(pragma freelist_count)" $((fl_before + 5)) "freelist after the mass delete"
bk $((T0 + 3 * M)) "mass delete (the freelist grows)"
assert_eq incremental "$(rj .backupType)" "point 3"

pc_before="$(pragma page_count)"
sqlite3 "$live" "VACUUM"
assert_le "$(pragma page_count)" $((pc_before - 5)) "page count after VACUUM"
bk $((T0 + 4 * M)) "VACUUM (the file shrinks)"
assert_eq incremental "$(rj .backupType)" "point 4"

sqlite3 "$live" "PRAGMA journal_mode=DELETE; PRAGMA page_size=8192; VACUUM; PRAGMA journal_mode=WAL" >/dev/null
assert_eq 8192 "$(pragma page_size)" "page size after PRAGMA page_size + VACUUM"
bk $((T0 + 5 * M)) "page size 4096 -> 8192"
assert_eq full "$(rj .backupType)" "point 5 (a link cannot change the page size)"
assert_contains "$(rj .fullReason)" "page size" "why a full"

sqlite3 "$live" "PRAGMA auto_vacuum=INCREMENTAL; VACUUM"
assert_eq 2 "$(pragma auto_vacuum)" "auto_vacuum after VACUUM"
bk $((T0 + 6 * M)) "auto_vacuum=incremental"
assert_eq incremental "$(rj .backupType)" "point 6"

pc_before="$(pragma page_count)"
sqlite3 "$live" "DELETE FROM blobs WHERE id = 1" >/dev/null
assert_ge "$(pragma freelist_count)" 20 "freelist after deleting a blob"
sqlite3 "$live" "PRAGMA incremental_vacuum" >/dev/null
assert_eq 0 "$(pragma freelist_count)" "freelist after incremental_vacuum"
assert_le "$(pragma page_count)" $((pc_before - 20)) "page count after incremental_vacuum"
bk $((T0 + 7 * M)) "a blob deleted, incremental_vacuum (the file shrinks)"
assert_eq incremental "$(rj .backupType)" "point 7"

sqlite3 "$live" "DROP TABLE todos;
CREATE TABLE todos (id TEXT PRIMARY KEY, title TEXT NOT NULL, done INTEGER NOT NULL DEFAULT 0);
CREATE INDEX todos_done ON todos(done, title);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300)
INSERT INTO todos SELECT 'n' || i, 'recreated ' || i || ' ' || hex(randomblob(6)), i % 2 FROM n"
bk $((T0 + 8 * M)) "an indexed table dropped and recreated"
assert_eq incremental "$(rj .backupType)" "point 8"

# a reader holds a read transaction begun before the write: no checkpoint
# (ours included) can move the new frames into the file
cat >"$work/holder.py" <<'EOF'
import os, sqlite3, sys, time
path, ready, stop = sys.argv[1:4]
c = sqlite3.connect(path, isolation_level=None)
c.execute("BEGIN")
c.execute("SELECT count(*) FROM todos").fetchall()
open(ready, "w").close()
deadline = time.time() + 120
while not os.path.exists(stop) and time.time() < deadline:
    time.sleep(0.02)
c.execute("COMMIT")
c.close()
EOF
sv_bg python3 "$work/holder.py" "$live" "$work/held" "$work/release"
holder=$SV_BG_PID
wait_for --timeout 20 test -e "$work/held"
sqlite3 "$live" "INSERT INTO todos VALUES ('wal-1', 'committed, still in the WAL', 0); UPDATE eventlog SET name = 'inWal' WHERE seq % 20 = 0"
cp "$live" "$work/main-only.db"
assert_eq 0 "$(sqlite3 "$work/main-only.db" "SELECT count(*) FROM todos WHERE id = 'wal-1'")" "the row is not in the main file (only in the WAL)"
assert_ge "$(stat -c %s "$live-wal")" 1 "WAL bytes"
bk $((T0 + 9 * M)) "a change still in the WAL, another connection holding a read transaction"
assert_eq incremental "$(rj .backupType)" "point 9"
assert_eq copy "$(rj .snapshot)" "snapshot through SQLite (the WAL is not backfilled)"
touch "$work/release"
wait_for --timeout 20 bash -c "! kill -0 $holder 2>/dev/null"

sqlite3 "$live" "PRAGMA user_version = 42"
bk $((T0 + 10 * M)) "header only (PRAGMA user_version)"
assert_eq incremental "$(rj .backupType)" "point 10"
assert_eq 1 "$(rj .changedPages)" "pages changed by PRAGMA user_version"

# rollback mode, the file's mtime set an hour back: the next fingerprint is
# stable (not racy), so only what it reads can tell a change
sqlite3 "$live" "PRAGMA journal_mode=DELETE" >/dev/null
set_mtime_ns "$live" $(( ($(date +%s) - 3600) * 1000000000 ))
bk $((T0 + 11 * M)) "switch to rollback mode"
assert_eq incremental "$(rj .backupType)" "point 11"

size_before="$(stat -c %s "$live")" mt="$(mtime_ns "$live")"
sqlite3 "$live" "ALTER TABLE blobs RENAME TO blobs_renamed"
set_mtime_ns "$live" "$mt"
assert_eq "$size_before" "$(stat -c %s "$live")" "file size after the page 1 rewrite"
assert_eq "$mt" "$(mtime_ns "$live")" "mtime put back"
bk $((T0 + 12 * M)) "page 1 rewritten at the same size, mtime put back"
assert_eq incremental "$(rj .backupType)" "point 12 (the change counter tells)"
assert_eq 1 "$(rj .changedPages)" "pages changed by the schema rename"
head12="${PT_TS[12]}"

bk $((T0 + 13 * M)) "idle"
assert_eq unchanged "${PT_TYPE[13]}" "point 13 (nothing written)"
assert_eq "$head12" "${PT_TS[13]}" "unchanged names the head"

# a write outside SQLite that puts back the change counter and the mtime:
# the fingerprint cannot see it (documented); --full reads every page
python3 - "$live" <<'EOF'
import os, sys
p = sys.argv[1]; st = os.stat(p)
with open(p, "r+b") as f:
    f.seek(60); f.write((777).to_bytes(4, "big"))
os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))
EOF
assert_eq 777 "$(pragma user_version)" "user_version forged in place"
bk $((T0 + 14 * M)) "forged in place, change counter and mtime put back"
assert_eq unchanged "${PT_TYPE[14]}" "point 14 (the fingerprint's limit)"
assert_eq "$head12" "${PT_TS[14]}" "the forged write is not in a new backup"
forged_c="${PT_C[14]}"
bk $((T0 + 15 * M)) "backup --full after the forged write" --full
assert_eq full "$(rj .backupType)" "point 15"
assert_contains "${PT_C[15]}" "uv/ps/av/pc/fl=777/" "point 15 holds the forged user_version"

sqlite3 "$live" "INSERT INTO todos VALUES ('behind', 'the clock went back', 0)"
bk $((T0 + 15 * M - 30000)) "the clock 30 s behind the head"
[[ "${PT_TS[16]}" < "${PT_TS[15]}" ]] || fail "point 16 is not older than its head"
assert_eq full "$(rj .backupType)" "point 16 (a link must be newer than its parent)"
assert_contains "$(rj .fullReason)" "clock" "why a full"

sqlite3 "$live" "INSERT INTO todos VALUES ('after', 'the clock recovered', 1)"
bk $((T0 + 17 * M)) "the clock recovered"
assert_eq incremental "$(rj .backupType)" "point 17"
assert_eq "${PT_TS[16]}" "$(rj .parent)" "point 17 builds on point 16"
note "$NP backups, ${#CONTENT_OF[@]} folders; $(stat -c %s "$live") bytes live"
sv list "$ws" | sed 's/^/   /'

# restore_at FROM EXPECTED_TS WHY: restores --from FROM, checks the content,
# integrity and the backup and chain length the result names. The full path
# (--no-delta): a delta restore's pre-restore backup would join the chain at
# the real clock's time, after every backup of this test's made-up times.
restore_at() {
  local from="$1" want="$2" why="$3" out t1
  t1="$(date +%s%N)"
  out="$(sv restore "$ws" --from "$from" --yes --inline --json --no-delta 2>"$work/rs.err")" ||
    fail "restore --from $from ($why): $(tail -3 "$work/rs.err")"
  note "--from $from ($why): backup $(jq -r .backup <<<"$out"), $(jq -r '.chain.links // 0' <<<"$out") links, swap $(jq -r .swap <<<"$out"), $((($(date +%s%N) - t1) / 1000000)) ms"
  assert_eq "$want" "$(jq -r .backup <<<"$out")" "the backup restored for $from"
  assert_eq "${CONTENT_OF[$want]}" "$(content "$live")" "content restored for $from"
  assert_eq ok "$(db_integrity "$live")" "integrity_check for $from"
  assert_eq "${CL_OF[$want]}" "$(jq -r '.chain.links // 0' <<<"$out")" "links applied for $from"
}

step "every point restored, in a shuffled order (seed $seed)"
FOLDERS=($(printf '%s\n' "${!CONTENT_OF[@]}" | sort))
read -ra ORDER < <(python3 -c 'import random, sys; r = random.Random(int(sys.argv[1])); l = sys.argv[2:]; r.shuffle(l); print(*l)' "$seed" "${FOLDERS[@]}")
for f in "${ORDER[@]}"; do restore_at "$f" "$f" "its folder time"; done

step "times between two backups give the earlier; after the last, the last"
# the newest folder at or before a time
newest_at() {
  local t="$1" best="" f
  for f in "${FOLDERS[@]}"; do (($(ts_ms "$f") <= t)) && best="$f"; done
  echo "$best"
}
declare -a WHEN WHY
WHEN+=($((T0 + 13 * M + 20000))) WHY+=("the idle minute: its head")
WHEN+=($((T0 + 14 * M + 20000))) WHY+=("the forged minute: the head before it")
WHEN+=($(( $(ts_ms "${PT_TS[16]}") + 1 ))) WHY+=("1 ms after the backup whose clock was behind")
for k in 1 2 3; do
  i=$((RANDOM % (${#FOLDERS[@]} - 1)))
  a="$(ts_ms "${FOLDERS[i]}")" b="$(ts_ms "${FOLDERS[i + 1]}")"
  WHEN+=($((a + 1 + RANDOM % (b - a - 1)))) WHY+=("random, between ${FOLDERS[i]} and ${FOLDERS[i + 1]}")
done
WHEN+=($((T0 + 30 * M))) WHY+=("after the last")
for ((k = 0; k < ${#WHEN[@]}; k++)); do
  restore_at "$(iso_ms "${WHEN[k]}")" "$(newest_at "${WHEN[k]}")" "${WHY[k]}"
done
assert_eq "${CONTENT_OF[$head12]}" "$(sv restore "$ws" --from "$(iso_ms $((T0 + 14 * M + 20000)))" --yes --inline --no-delta >/dev/null 2>&1; content "$live")" \
  "the forged minute restores the head before the forged write"
assert_ne "$forged_c" "${CONTENT_OF[$head12]}" "the forged content"
# digits past the ms are cut, never rounded up to a newer backup: 1 ms and
# 0.1 ms before a folder's time gives the one before it
t4="$(ts_ms "${PT_TS[4]}")"
restore_at "$(iso_ms $((t4 - 1)) | sed 's/Z$/9Z/')" "${PT_TS[3]}" "0.1 ms before point 4"

step "a restore, then a backup: the link builds on the chain's head and holds the restored state"
restore_at "${PT_TS[9]}" "${PT_TS[9]}" "point 9 again"
bk $((T0 + 20 * M)) "after restoring point 9"
assert_eq incremental "$(rj .backupType)" "the backup after the restore"
assert_eq "${PT_TS[17]}" "$(rj .parent)" "it builds on the chain's head"
assert_eq "${PT_C[9]}" "${PT_C[18]}" "it holds point 9's content"
restore_at "${PT_TS[17]}" "${PT_TS[17]}" "the head"
restore_at "${PT_TS[18]}" "${PT_TS[18]}" "the backup taken after the restore"

step "a time before the first backup, and a malformed time: refused, the live file intact"
expect_restore_fail "$ws" "$(iso_ms $((T0 - 60000)))" "no committed backup at or before"
out="$(sv restore "$ws" --from "$(iso_ms $((T0 - 60000)))" --yes --inline 2>&1)" || true
assert_contains "$out" "its oldest is ${FOLDERS[0]}" "the error names the oldest backup"
# a date that does not exist, a leap second, a zone offset (never read as
# UTC), a time without its zone, a folder time one digit short: a usage
# error (exit 2) before anything is read, the live file intact
before="$(live_state "$live")"
for bad in 2026-02-30T10:00:00Z 2026-12-05T23:59:60Z 2026-12-05T00:05:00+02:00 2026-12-05T00:05:00 \
  20261205T00050.000Z; do
  rc=0
  out="$(sv restore "$ws" --from "$bad" --yes --inline 2>&1)" || rc=$?
  assert_eq 2 "$rc" "exit status of --from $bad"
  assert_contains "$out" "invalid restore source '$bad'" "--from $bad refused"
done
assert_eq "$before" "$(live_state "$live")" "live database bytes after the malformed times"
no_restore_temps
sv_pass
