#!/usr/bin/env bash
# delta_restore_kill.sh -- a delta restore (issue 26, src/restore/delta.c)
# killed, and one of a damaged backup, on the S3 store through the proxy:
#  - killed (SQLVAULT_TEST_DELTA_KILL, the process _exits 137) with the
#    rollback journal written (1), in the middle of the page writes (2) and
#    before the journal is deleted (3): a hot LIVE-journal is left, and the
#    first opener (sqlite3) rolls it back: the content is the old live
#    content exactly (.dump, and the file's bytes), integrity ok, the
#    journal gone; a second restore then gives the target. Point 2 also
#    leaves the file torn without its journal (a copy of the file alone is
#    not the old one), and sqlvault itself rolls the journal back when it
#    restores over it;
#  - killed (kill -9 by pid) while it fetches pages (the proxy delays the
#    range GETs of the frames): the live file is untouched byte for byte,
#    no journal; a restore then succeeds;
#  - a frame of the target damaged in the store (a byte flipped in the base
#    object): the delta stops at that frame (the log names the backup and
#    the frame) and gives way to the full path, which refuses the object
#    (its checksum): the job fails, the live file byte-identical, no
#    journal; once the object is put back the restore succeeds.
source "$(dirname "$0")/lib.sh"
source "$SV_SOURCE_DIR/tests/tools/restore_lib.sh"
sv_setup
sv_use_incrementals
export SQLVAULT_LOG_FORMAT=text
SEED="${SV_TEST_SEED:-$RANDOM}"
note "seed $SEED (SV_TEST_SEED to repeat)"

ws=dk
live="$SQLVAULT_DATA_DIR/$ws/livestore.db"

step "a workspace of several frames, backed up; then ~40% of its pages changed"
make_workspace "$ws" 3000
sqlite3 "$live" "CREATE TABLE blobs (id INTEGER PRIMARY KEY, b BLOB);
  WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1600)
  INSERT INTO blobs (b) SELECT randomblob(3900) FROM n"
B0="$(sv backup "$ws" --inline --json | jq -r .ts)"
TARGET="$(dump_sha "$live")"
obj="${SV_PREFIX}full/$ws/$B0/livestore.db.zst"
s3_get "${SV_PREFIX}full/$ws/$B0/metadata.json" "$SV_SCRATCH/m0.json"
ixoff="$(jq -r .seekable.indexOffset "$SV_SCRATCH/m0.json")"
note "backup $B0: $(jq -r .seekable.frames "$SV_SCRATCH/m0.json") frames, index at $ixoff"
round=0
# diverge: a different ~40% of the blobs each round, checkpointed; OLD_* of the result.
diverge() {
  round=$((round + 1))
  sqlite3 "$live" "UPDATE blobs SET b = randomblob(3900) WHERE (id + $SEED + $round) % 5 IN (0, 2);
    INSERT INTO todos VALUES ('r$round', 'round $round', 0)"
  OLD_DUMP="$(dump_sha "$live")"
  OLD_FILE="$(file_sha256 "$live")"
  assert_ne "$TARGET" "$OLD_DUMP" "round $round: the live content differs from the target"
}

# restore_ok WHAT: a normal inline restore of B0 gives the target.
restore_ok() {
  local out
  out="$(sv restore "$ws" --from "$B0" --yes --inline --json 2>"$SV_SCRATCH/err.txt")" ||
    fail "$1: the restore after failed: $(tail -3 "$SV_SCRATCH/err.txt")"
  assert_eq delta "$(jq -r .swap <<<"$out")" "$1: the next restore's swap"
  assert_eq "$TARGET" "$(dump_sha "$live")" "$1: the next restore gives the target"
  assert_eq ok "$(db_integrity "$live")" "$1: integrity after the next restore"
  [[ ! -e "$live-journal" ]] || fail "$1: a journal is left after the next restore"
}

# killed_at K: a restore killed at point K leaves a hot journal.
killed_at() {
  local rc=0
  SQLVAULT_TEST_DELTA_KILL="$1" sv restore "$ws" --from "$B0" --yes --inline >"$SV_SCRATCH/kill.txt" 2>&1 || rc=$?
  assert_eq 137 "$rc" "kill point $1: exit status"
  [[ -s "$live-journal" ]] || fail "kill point $1: no journal beside the live file"
  note "ok: kill point $1: $(stat -c %s "$live-journal") bytes of journal beside the live file"
}

for k in 1 2 3; do
  step "killed at point $k: sqlite3 rolls the hot journal back to the old content"
  diverge
  killed_at "$k"
  case "$k" in
    1) assert_eq "$OLD_FILE" "$(file_sha256 "$live")" "kill point 1: nothing written yet" ;;
    2) assert_ne "$OLD_FILE" "$(file_sha256 "$live")" "kill point 2: the file is torn (some pages written)" ;;
  esac
  if ((k == 2)); then
    # the file alone is neither database; sqlvault's own restore rolls the journal back first
    restore_ok "kill point 2 (restored over the hot journal)"
    diverge
    killed_at 2
    cp "$live" "$SV_SCRATCH/alone.db"
    assert_ne "$OLD_DUMP" "$(dump_sha "$SV_SCRATCH/alone.db" 2>/dev/null)" "kill point 2: the torn file without its journal"
  fi
  assert_eq "$OLD_DUMP" "$(dump_sha "$live")" "kill point $k: content after sqlite3 opened it (.dump)"
  [[ ! -e "$live-journal" ]] || fail "kill point $k: the journal is still there after sqlite3 opened the file"
  assert_eq "$OLD_FILE" "$(file_sha256 "$live")" "kill point $k: the file's bytes are the old ones"
  assert_eq ok "$(db_integrity "$live")" "kill point $k: integrity_check"
  restore_ok "kill point $k"
done

step "killed (kill -9) while it fetches the pages: the live file untouched"
diverge
proxy_faults "{\"seed\": $SEED, \"rules\": [{\"name\": \"slow-frames\", \"op\": \"GetObject\", \"prefix\": \"$obj\", \"skip\": 2, \"latencyMs\": 4000}]}"
sv_on_exit proxy_reset
# the binary itself in the background (not the sv function, whose subshell
# would be what $! names and kill -9 ends, leaving the restore running)
"$SV_BIN" restore "$ws" --from "$B0" --yes --inline >"$SV_SCRATCH/fetch.txt" 2>&1 &
pid=$!
# a range GET of a frame of the base object in flight (it starts below the index)
frame_get_pending() {
  curl -fsS -G "$SV_PROXY_CONTROL/log" --data-urlencode pending=1 --data-urlencode op=GetObject |
    jq -e --arg k "$obj" --argjson ix "$ixoff" '[.entries[] | select(.key == $k and .status == null and .range != null)
      | select((.range | capture("bytes=(?<a>[0-9]+)-").a | tonumber) < $ix)] | length > 0'
}
wait_for --timeout 30 frame_get_pending
kill -9 "$pid"
rc=0
wait "$pid" || rc=$?
assert_eq 137 "$rc" "the restore's exit status (killed)"
pgrep -f "restore $ws --from $B0" >/dev/null && fail "a restore process is still running after the kill"
proxy_api DELETE /faults >/dev/null
assert_eq "$OLD_FILE" "$(file_sha256 "$live")" "killed while fetching: the live file's bytes"
[[ ! -e "$live-journal" ]] || fail "killed while fetching: a journal was left"
assert_eq "$OLD_DUMP" "$(dump_sha "$live")" "killed while fetching: content"
restore_ok "killed while fetching"

step "a damaged frame of the target: the job fails, the live file byte-identical"
diverge
s3_get "$obj" "$SV_SCRATCH/good.zst"
cp "$SV_SCRATCH/good.zst" "$SV_SCRATCH/bad.zst"
flip_byte "$SV_SCRATCH/bad.zst" $((ixoff / 2))
s3_put "$SV_SCRATCH/bad.zst" "$obj"
rc=0
out="$(sv restore "$ws" --from "$B0" --yes --inline 2>&1)" || rc=$?
[[ "$rc" == 1 ]] || fail "damaged frame: exit status $rc, not 1: $out"
note "ok: damaged frame: exit status 1"
note "error: $(grep -m1 '^error' <<<"$out")"
assert_contains "$out" "delta restore not possible (the backup could not be read in place: backup $B0: frame" \
  "damaged frame: the delta names the backup and the frame, and gives way to the full path"
grep -Eq "^error: .*(checksum mismatch|corrupt)" <<<"$out" || fail "damaged frame: the full path's error: $out"
note "ok: the full path refused the object too"
assert_eq "$OLD_FILE" "$(file_sha256 "$live")" "damaged frame: the live file's bytes"
[[ ! -e "$live-journal" ]] || fail "damaged frame: a journal was left"
s3_put "$SV_SCRATCH/good.zst" "$obj"
restore_ok "the object put back"

no_restore_temps
sv_pass
