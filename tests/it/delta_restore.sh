#!/usr/bin/env bash
# delta_restore.sh -- delta restore (issue 26, src/restore/delta.c) on the S3
# store through the R2-rules proxy: a restore of a single-file workspace's
# backup fetches and rewrites only the pages that differ. Every case ends
# with the live file's content exactly the target's (sqlite3 .dump recorded
# when its backup ran; for some, the bytes of a --no-delta restore of the
# same point into another file) and integrity_check ok:
#  - no divergence (latest right after its backup): swap delta, 0 pages
#    rewritten, and the proxy saw no range GET of a frame (only metadata,
#    the page index and the hashes: far below one frame's bytes);
#  - 1 page, ~1% and ~50% of the pages; a live file shrunk (rows deleted,
#    VACUUM) and one grown (rows inserted) after the backup; a point several
#    incrementals back in a chain; an encrypted workspace;
#  - the live hashes come from the pre-restore backup's chain state (not
#    from hashing the file) even right after the WAL checkpoint, and never
#    from a state the pre-restore backup did not save (a clock stopped:
#    its folder was already committed);
#  - the full path instead: the live file VACUUMed to another page size
#    (why_not names it), `--no-delta`, and another process holding the
#    database open (WAL mode: its page cache would not see the pages);
#  - a rollback-mode database (journal_mode TRUNCATE: its journal file
#    stays) with an idle connection of another process: the restore moves
#    the change counter, so that connection reads the target, not its cache;
#  - through the queue: sqlvault_restores_total{kind="delta"|"full"}, and a
#    delta that gives way after its pause (the file open elsewhere) keeps
#    that one pause for the full path: one restore.started, one end event.
# The kill points and a damaged frame: delta_restore_kill.sh.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/queue_lib.sh"
source "$(dirname "$0")/ops_lib.sh"
source "$SV_SOURCE_DIR/tests/tools/restore_lib.sh"
sv_setup
sv_use_incrementals
export SQLVAULT_LOG_FORMAT=text
SEED="${SV_TEST_SEED:-$RANDOM}"
note "seed $SEED (SV_TEST_SEED to repeat)"

ws=dl
live="$SQLVAULT_DATA_DIR/$ws/livestore.db"
pages() { echo $(($(stat -c %s "$1") / $(sqlite3 "$1" 'PRAGMA page_size'))); }

# backup VAR: a backup of ws (incremental when the chain allows); its ts in
# VAR, the content's dump hash in DUMP[ts].
declare -A DUMP
backup() {
  local out ts
  out="$(sv backup "$ws" --inline --json 2>"$SV_SCRATCH/err.txt")" || fail "backup: $(tail -3 "$SV_SCRATCH/err.txt")"
  ts="$(jq -r .ts <<<"$out")"
  DUMP[$ts]="$(dump_sha "$live")"
  printf -v "$1" %s "$ts"
  note "backup $ts: $(jq -r '.metadata.backupType // .backupType // "?"' <<<"$out"), $(pages "$live") pages"
}

# restore TS [args]: an inline restore of TS; the result in R.
restore() {
  local ts="$1"
  shift
  R="$(sv restore "$ws" --from "$ts" --yes --inline --json "$@" 2>"$SV_SCRATCH/err.txt")" ||
    fail "restore $ts: $(tail -3 "$SV_SCRATCH/err.txt")"
  note "restore $ts: swap $(jq -r .swap <<<"$R"), delta $(jq -c .delta <<<"$R")"
}

# is_target TS WHAT: the live content is TS's, integrity ok, no journal left.
is_target() {
  assert_eq "${DUMP[$1]}" "$(dump_sha "$live")" "$2: content (.dump) is backup $1's"
  assert_eq ok "$(db_integrity "$live")" "$2: integrity_check"
  [[ ! -e "$live-journal" ]] || fail "$2: a journal is left beside the live file"
}

# hold_open NAME: another process holds the live database open (a read done,
# the connection kept for 60 s); its pid in holder.
hold_open() {
  python3 - "$live" "$SV_SCRATCH/$1.ready" <<'PY' &
import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute("SELECT count(*) FROM todos").fetchone()
open(sys.argv[2], "w").close()
time.sleep(60)
PY
  holder=$!
  wait_for --timeout 20 test -f "$SV_SCRATCH/$1.ready"
}

# delta_ok WHAT: the last restore was a delta one, its live hashes from the chain state.
delta_ok() {
  assert_eq delta "$(jq -r .swap <<<"$R")" "$1: swap"
  assert_eq true "$(jq -r .delta.live_hashes_from_state <<<"$R")" "$1: live hashes from the pre-restore backup's chain state"
}

# same_bytes_as_full TS WHAT: the live file's bytes are those of a
# --no-delta restore of TS into a new file.
same_bytes_as_full() {
  local ref="$SQLVAULT_DATA_DIR/ref/$RANDOM.db" out
  mkdir -p "$(dirname "$ref")"
  out="$(sv restore "$ws" --from "$1" --yes --inline --json --no-delta --db "$ref" 2>"$SV_SCRATCH/err.txt")" ||
    fail "reference restore of $1: $(tail -3 "$SV_SCRATCH/err.txt")"
  assert_eq "$(file_sha256 "$ref")" "$(file_sha256 "$live")" "$2: live bytes equal a --no-delta restore of $1 into a new file"
  rm -f "$ref"
}

stats_reset() { proxy_api POST "/stats/reset?prefix=$SV_PREFIX" >/dev/null; }
stat_of() { proxy_api GET "/stats?prefix=$SV_PREFIX" | jq -r ".$1"; }

step "a workspace of several 2 MiB frames, backed up (a full)"
make_workspace "$ws" 5000
sqlite3 "$live" "CREATE TABLE blobs (id INTEGER PRIMARY KEY, b BLOB);
  WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2400)
  INSERT INTO blobs (b) SELECT randomblob(3900) FROM n"
backup B0
meta0="$SV_SCRATCH/m0.json"
s3_get "${SV_PREFIX}full/$ws/$B0/metadata.json" "$meta0"
frames="$(jq -r .seekable.frames "$meta0")"
ixoff="$(jq -r .seekable.indexOffset "$meta0")"
npages="$(pages "$live")"
note "$npages pages, $frames frames, index at $ixoff"
assert_ge "$frames" 4 "frames of the base object"

step "no divergence: latest right after its backup rewrites nothing and fetches no frame"
stats_reset
restore latest
delta_ok "no divergence"
assert_eq 0 "$(jq -r .delta.pages_rewritten <<<"$R")" "pages rewritten"
is_target "$B0" "no divergence"
bytes="$(stat_of bytesOut)"
note "proxy: $(proxy_api GET "/stats?prefix=$SV_PREFIX")"
assert_le "$bytes" $((256 * 1024)) "bytes the proxy sent (one frame is ~2 MiB)"
# every range GET of the object read the index or the hashes, none a frame
low="$(proxy_log GetObject | jq -r --arg k "${SV_PREFIX}full/$ws/$B0/livestore.db.zst" \
  'select(.key == $k and .range != null) | .range | capture("bytes=(?<a>[0-9]+)-").a' | sort -n | head -1)"
[[ -n "$low" ]] || fail "no range GET of the base object was seen"
assert_ge "$low" "$ixoff" "lowest range start on the base object (frames end at the index)"

step "1 page differs"
k=$(((SEED % 2000) + 100))
sqlite3 "$live" "UPDATE blobs SET b = randomblob(3900) WHERE id = $k"
restore "$B0"
delta_ok "1 page"
assert_eq 1 "$(jq -r .delta.pages_rewritten <<<"$R")" "pages rewritten"
assert_le "$(jq -r .delta.bytes <<<"$R")" $((3 * 1024 * 1024)) "bytes fetched (metadata, index, hashes, one frame)"
is_target "$B0" "1 page"

step "~1% of the pages differ"
sqlite3 "$live" "UPDATE blobs SET b = randomblob(3900) WHERE (id * 7 + $SEED) % 100 = 0"
restore "$B0"
delta_ok "1%"
n="$(jq -r .delta.pages_rewritten <<<"$R")"
assert_ge "$n" $((npages / 200)) "pages rewritten (of $npages)"
assert_le "$n" $((npages * 3 / 100)) "pages rewritten (of $npages)"
is_target "$B0" "1%"
same_bytes_as_full "$B0" "1%"

step "~50% of the pages differ"
sqlite3 "$live" "UPDATE blobs SET b = randomblob(3900) WHERE id % 2 = $((SEED % 2))"
restore "$B0"
delta_ok "50%"
n="$(jq -r .delta.pages_rewritten <<<"$R")"
assert_ge "$n" $((npages * 40 / 100)) "pages rewritten (of $npages)"
assert_le "$n" $((npages * 60 / 100)) "pages rewritten (of $npages)"
is_target "$B0" "50%"

step "a live file shrunk after the backup (rows deleted, VACUUM)"
sqlite3 "$live" "DELETE FROM blobs WHERE id > 1200; VACUUM"
note "live: $(pages "$live") pages, the backup $npages"
restore "$B0"
delta_ok "shrunk"
assert_eq 0 "$(jq -r .delta.pages_cut <<<"$R")" "pages cut"
assert_ge "$(jq -r .delta.pages_rewritten <<<"$R")" $((npages / 2 - 50)) "pages rewritten (the ones past the live end among them)"
is_target "$B0" "shrunk"
assert_eq "$npages" "$(pages "$live")" "page count after the restore"

step "a live file grown after the backup (rows inserted)"
sqlite3 "$live" "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 500)
  INSERT INTO blobs (b) SELECT randomblob(3900) FROM n"
grown="$(pages "$live")"
restore "$B0"
delta_ok "grown"
assert_eq $((grown - npages)) "$(jq -r .delta.pages_cut <<<"$R")" "pages cut"
is_target "$B0" "grown"
assert_eq "$npages" "$(pages "$live")" "page count after the restore"
same_bytes_as_full "$B0" "grown"

step "a point several incrementals back in a chain"
sqlite3 "$live" "UPDATE blobs SET b = randomblob(3900) WHERE id % 10 = 1"
backup B1
sqlite3 "$live" "DELETE FROM eventlog WHERE seq % 3 = 0; INSERT INTO todos VALUES ('c2', 'point 2', 0)"
backup B2
sqlite3 "$live" "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200)
  INSERT INTO blobs (b) SELECT randomblob(3900) FROM n"
backup B3
sqlite3 "$live" "UPDATE blobs SET b = randomblob(3900) WHERE id % 10 = 5"
backup B4
s3_get "${SV_PREFIX}full/$ws/$B2/metadata.json" "$SV_SCRATCH/m2.json"
assert_eq incremental "$(jq -r .backupType "$SV_SCRATCH/m2.json")" "backup type of the point"
chain2="$(jq -r .chainLength "$SV_SCRATCH/m2.json")"
assert_ge "$chain2" 2 "chain length of the point"
sqlite3 "$live" "UPDATE todos SET done = 1 WHERE rowid % 4 = 0"
restore "$B2"
delta_ok "chain point"
assert_eq "$B0" "$(jq -r .chain.base <<<"$R")" "chain point: the result's chain base"
assert_eq "$chain2" "$(jq -r .chain.links <<<"$R")" "chain point: the result's links"
is_target "$B2" "chain point (2 incrementals back from the head $B4)"
same_bytes_as_full "$B2" "chain point"

step "the full path: the live file VACUUMed to another page size after the backup"
sqlite3 "$live" "PRAGMA journal_mode=DELETE; PRAGMA page_size=8192; VACUUM; PRAGMA journal_mode=WAL" >/dev/null
assert_eq 8192 "$(sqlite3 "$live" 'PRAGMA page_size')" "live page size"
restore "$B4"
assert_ne delta "$(jq -r .swap <<<"$R")" "page size change: swap"
assert_eq false "$(jq -r .delta.used <<<"$R")" "page size change: delta used"
assert_contains "$(jq -r .delta.why_not <<<"$R")" "pages" "page size change: why_not"
note "why_not: $(jq -r .delta.why_not <<<"$R")"
is_target "$B4" "page size change"
assert_eq 4096 "$(sqlite3 "$live" 'PRAGMA page_size')" "page size after the restore"

step "the full path: --no-delta"
sqlite3 "$live" "UPDATE blobs SET b = randomblob(3900) WHERE id = 7"
restore "$B4" --no-delta
assert_ne delta "$(jq -r .swap <<<"$R")" "--no-delta: swap"
assert_eq "--no-delta" "$(jq -r .delta.why_not <<<"$R")" "--no-delta: why_not"
is_target "$B4" "--no-delta"

step "the full path: another process has the database open (WAL mode)"
sqlite3 "$live" "UPDATE blobs SET b = randomblob(3900) WHERE id = 9"
hold_open holder
restore "$B4"
assert_ne delta "$(jq -r .swap <<<"$R")" "open elsewhere: swap"
assert_contains "$(jq -r .delta.why_not <<<"$R")" "open" "open elsewhere: why_not"
kill "$holder"
wait "$holder" 2>/dev/null || true
is_target "$B4" "open elsewhere"

step "the live hashes from the chain state after a checkpoint of WAL frames (a writer killed)"
python3 - "$live" "$SV_SCRATCH/writer.ready" <<'PY' &
import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute("PRAGMA wal_autocheckpoint=0")
c.execute("UPDATE blobs SET b = randomblob(3900) WHERE id % 50 = 3")
open(sys.argv[2], "w").close()
time.sleep(60)
PY
writer=$!
wait_for --timeout 20 test -f "$SV_SCRATCH/writer.ready"
kill -9 "$writer"
wait "$writer" 2>/dev/null || true
assert_ge "$(stat -c %s "$live-wal")" 4096 "bytes in the -wal left by the killed writer"
restore "$B4"
delta_ok "WAL frames checkpointed in the pause"
assert_ge "$(jq -r .delta.pages_rewritten <<<"$R")" 10 "pages rewritten"
is_target "$B4" "WAL frames checkpointed in the pause"

step "two restores with the clock stopped: the second's pre-restore backup finds its folder committed"
# (SQLVAULT_FAKE_NOW with SQLVAULT_FAKE_CLOCK=stopped: both pre-restore
# backups are labelled alike, to the ms; the
# second saves no chain state, and the one there is of another content)
stopped=$(( ($(date +%s) + 86400) * 1000 ))
sqlite3 "$live" "UPDATE blobs SET b = randomblob(3900) WHERE id = 21"
SQLVAULT_FAKE_CLOCK=stopped SQLVAULT_FAKE_NOW=$stopped restore "$B4"
delta_ok "clock stopped, first"
is_target "$B4" "clock stopped, first"
sqlite3 "$live" "UPDATE blobs SET b = randomblob(3900) WHERE id = 22"
SQLVAULT_FAKE_CLOCK=stopped SQLVAULT_FAKE_NOW=$stopped restore "$B4"
assert_eq "$(jq -r .safety_backup <<<"$R")" "$(SQLVAULT_FAKE_NOW=$stopped python3 -c 'import os,time; t=int(os.environ["SQLVAULT_FAKE_NOW"]); print(time.strftime("%Y%m%dT%H%M%S", time.gmtime(t//1000)) + ".%03dZ" % (t%1000))')" "the second's pre-restore backup (the same folder)"
is_target "$B4" "clock stopped, second (the live hashes not from the other content's state)"

step "an encrypted workspace"
kek_file "$SV_SCRATCH/kek" 1
export SQLVAULT_ENCRYPTION_KEY_FILE="$SV_SCRATCH/kek"
ws=de
live="$SQLVAULT_DATA_DIR/$ws/livestore.db"
make_workspace "$ws" 3000
sqlite3 "$live" "CREATE TABLE blobs (id INTEGER PRIMARY KEY, b BLOB);
  WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1200)
  INSERT INTO blobs (b) SELECT randomblob(3900) FROM n"
backup E0
s3_get "${SV_PREFIX}full/$ws/$E0/livestore.db.zst" "$SV_SCRATCH/e0.zst"
assert_eq "SQLVENC1" "$(head -c 8 "$SV_SCRATCH/e0.zst")" "the object is sealed"
sqlite3 "$live" "UPDATE blobs SET b = randomblob(3900) WHERE (id + $SEED) % 20 = 0; DELETE FROM todos WHERE rowid % 7 = 0"
restore "$E0"
delta_ok "encrypted"
assert_ge "$(jq -r .delta.pages_rewritten <<<"$R")" 30 "pages rewritten"
is_target "$E0" "encrypted"
same_bytes_as_full "$E0" "encrypted"
unset SQLVAULT_ENCRYPTION_KEY_FILE
ws=dl
live="$SQLVAULT_DATA_DIR/$ws/livestore.db"

step "rollback mode, an idle connection open elsewhere, journal_mode TRUNCATE: that connection sees the target"
ws=dr
live="$SQLVAULT_DATA_DIR/$ws/livestore.db"
make_workspace "$ws" 3000
sqlite3 "$live" "PRAGMA journal_mode=DELETE" >/dev/null
backup R0
want="$(sqlite3 "$live" "SELECT title FROM todos WHERE id = 't5'")"
# one commit after the backup: the live change counter is then the one the
# backup's copy has (a copy moves its own), so only moving it drops the
# cache of a connection that read the live content
python3 - "$live" "$SV_SCRATCH/idle" <<'PY' &
import os, sqlite3, sys, time
live, base = sys.argv[1], sys.argv[2]
c = sqlite3.connect(live, isolation_level=None)
c.execute("PRAGMA journal_mode=TRUNCATE")
c.execute("UPDATE todos SET title = 'changed after the backup' WHERE id = 't5'")
first = c.execute("SELECT title FROM todos WHERE id = 't5'").fetchone()[0]
open(base + ".ready", "w").write(first)
deadline = time.time() + 60
while not os.path.exists(base + ".go") and time.time() < deadline:
    time.sleep(0.05)
open(base + ".after", "w").write(c.execute("SELECT title FROM todos WHERE id = 't5'").fetchone()[0])
PY
idle=$!
wait_for --timeout 20 test -f "$SV_SCRATCH/idle.ready"
assert_eq "changed after the backup" "$(cat "$SV_SCRATCH/idle.ready")" "the idle connection's read before the restore"
[[ -e "$live-journal" ]] || fail "journal_mode TRUNCATE left no journal file"
note "ok: a journal file of $(stat -c %s "$live-journal") bytes stays beside the live file (journal_mode TRUNCATE)"
restore "$R0"
assert_eq delta "$(jq -r .swap <<<"$R")" "rollback mode: swap"
touch "$SV_SCRATCH/idle.go"
wait_for --timeout 20 test -s "$SV_SCRATCH/idle.after"
wait "$idle" || fail "the idle connection's process failed"
assert_eq "$want" "$(cat "$SV_SCRATCH/idle.after")" "the idle connection's read after the restore (not its stale cache)"
assert_eq true "$(jq -r .delta.change_counter_moved <<<"$R")" "rollback mode: the change counter moved"
assert_eq "${DUMP[$R0]}" "$(dump_sha "$live")" "rollback mode: content (.dump) is backup $R0's"
assert_eq ok "$(db_integrity "$live")" "rollback mode: integrity_check"
ws=dl
live="$SQLVAULT_DATA_DIR/$ws/livestore.db"

step "through the queue: sqlvault_restores_total by kind"
port=$(free_port)
addr="127.0.0.1:$port"
start_worker w1 --metrics-addr "$addr"
wait_for --timeout 10 curl -fsS "http://$addr/healthz"
m0="$(scrape "$addr")"
assert_eq 0 "$(metric_value "$m0" 'sqlvault_restores_total{kind="delta"}')" "delta restores before"
assert_eq 0 "$(metric_value "$m0" 'sqlvault_restores_total{kind="full"}')" "full restores before"
sqlite3 "$live" "UPDATE blobs SET b = randomblob(3900) WHERE id = 11"
out="$(sv restore "$ws" --from "$B4" --yes --json 2>"$SV_SCRATCH/err.txt")" || fail "queued restore: $(tail -3 "$SV_SCRATCH/err.txt")"
assert_eq delta "$(jq -r '(.result // .).swap' <<<"$out")" "queued restore: swap"
is_target "$B4" "queued delta restore"
wait_metric "$addr" 'sqlvault_restores_total{kind="delta"}' -eq 1 10
sqlite3 "$live" "UPDATE blobs SET b = randomblob(3900) WHERE id = 12"
out="$(sv restore "$ws" --from "$B4" --yes --json --no-delta 2>"$SV_SCRATCH/err.txt")" || fail "queued restore: $(tail -3 "$SV_SCRATCH/err.txt")"
assert_eq "--no-delta" "$(jq -r '(.result // .).delta.why_not' <<<"$out")" "queued --no-delta restore: why_not"
is_target "$B4" "queued full restore"
wait_metric "$addr" 'sqlvault_restores_total{kind="full"}' -eq 1 10
# a delta that gives way after its pause (another process has the file open)
# hands the pause to the full path: one restore.started, one end event
sqlite3 "$live" "UPDATE blobs SET b = randomblob(3900) WHERE id = 13"
hold_open holder2
out="$(sv restore "$ws" --from "$B4" --yes --json --id dq-held 2>"$SV_SCRATCH/err.txt")" || fail "queued restore: $(tail -3 "$SV_SCRATCH/err.txt")"
kill "$holder"
wait "$holder" 2>/dev/null || true
assert_contains "$(jq -r '(.result // .).delta.why_not' <<<"$out")" "open" "queued restore, file open elsewhere: why_not"
is_target "$B4" "queued restore, file open elsewhere"
events=$(qpy XRANGE "$(qbase)events" - + |
  jq -r '.[] | .[1] | [range(0; length; 2) as $i | {(.[$i]): .[$i + 1]}] | add | select(.job == "dq-held") | .event')
assert_eq "queued active restore.started restore.completed succeeded" "$(tr '\n' ' ' <<<"$events" | sed 's/ $//')" \
  "events of a delta restore that gave way after its pause (one pause)"
assert_eq 0 "$(redis_cli EXISTS "$SQLVAULT_REDIS_PREFIX:pause:{$ws}")" "pause flag after the restore"
wait_metric "$addr" 'sqlvault_restores_total{kind="full"}' -eq 2 10
m1="$(scrape "$addr")"
assert_eq 1 "$(metric_value "$m1" 'sqlvault_restores_total{kind="delta"}')" "delta restores after"
assert_eq 2 "$(metric_value "$m1" 'sqlvault_restores_total{kind="full"}')" "full restores after"

no_restore_temps
sv_pass
