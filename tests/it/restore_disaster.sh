#!/usr/bin/env bash
# restore_disaster.sh -- the disaster case through the queue: a restore onto a
# live file that is missing, garbage, a header with no pages, truncated, or
# fails its check succeeds, and a damaged file is kept aside next to the
# database (LIVE.damaged-TS, named in the result's kept_aside), never
# deleted; a file that opens but fails its check is copied page for page
# into the pre-restore safety backup. A healthy WAL database with another page size than the source
# (the backup API cannot copy across page sizes in WAL mode) is backed up,
# kept aside as LIVE.replaced-TS and the restored file moved into place.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/queue_lib.sh"
sv_setup
# This test is about the full restore path (download, validate, swap); delta
# restores have tests of their own (delta_restore.sh).
export SQLVAULT_RESTORE_DELTA=off
sv_use_file_store
export SQLVAULT_LOG_FORMAT=text SQLVAULT_PAUSE_TIMEOUT=1s
ws=ws-dis
db="$SQLVAULT_DATA_DIR/$ws/livestore.db"
make_workspace "$ws" 5000
start_worker w1 --threads 1
timeout 60 "$SV_BIN" backup "$ws" --id ds-b1 >/dev/null || fail "backup failed"
b1=$(qfield ds-b1 result | jq -r .ts)
rows=$(db_count "$db" eventlog)
cp "$db" "$SV_SCRATCH/good.db"
n=0

# restore_ok: restores b1 through the queue; checks the live file; prints the result.
restore_ok() {
  n=$((n + 1))
  timeout 90 "$SV_BIN" restore "$ws" --from "$b1" --yes --id "ds-r$n" >/dev/null ||
    fail "restore ds-r$n failed: $(qfield "ds-r$n" error)"
  assert_eq "$rows" "$(db_count "$db" eventlog)" "live rows after restore ds-r$n"
  assert_eq ok "$(db_integrity "$db")" "live integrity after restore ds-r$n"
  qfield "ds-r$n" result >"$SV_SCRATCH/result-$n.json"
}

# kept_as EXPECTED-FILE TAG: the result names a kept-aside file LIVE.TAG-TS
# holding exactly EXPECTED-FILE's bytes.
kept_as() {
  local kept
  kept=$(jq -r .kept_aside "$SV_SCRATCH/result-$n.json")
  [[ "$kept" == "$db.$2-"* ]] || fail "kept_aside is [$kept], expected $db.$2-TS"
  cmp -s "$1" "$kept" || fail "the kept-aside file $kept differs from the damaged one"
  note "ok: kept aside as $(basename "$kept") ($(jq -r .kept_aside_reason "$SV_SCRATCH/result-$n.json"))"
}

step "a missing live file"
rm -f "$db" "$db-wal" "$db-shm"
restore_ok
assert_eq null "$(jq -r .kept_aside "$SV_SCRATCH/result-$n.json")" "nothing kept aside"

step "a garbage live file"
rm -f "$db-wal" "$db-shm"
head -c 16384 /dev/urandom >"$db"
cp "$db" "$SV_SCRATCH/damaged.db"
restore_ok
kept_as "$SV_SCRATCH/damaged.db" damaged

step "a header with no pages (the first 100 bytes of a database)"
rm -f "$db-wal" "$db-shm"
head -c 100 "$SV_SCRATCH/good.db" >"$db"
cp "$db" "$SV_SCRATCH/damaged.db"
restore_ok
kept_as "$SV_SCRATCH/damaged.db" damaged

step "a truncated live file"
rm -f "$db-wal" "$db-shm"
head -c $(($(stat -c %s "$SV_SCRATCH/good.db") / 2)) "$SV_SCRATCH/good.db" >"$db"
cp "$db" "$SV_SCRATCH/damaged.db"
restore_ok
kept_as "$SV_SCRATCH/damaged.db" damaged

step "a live file that fails its check (a b-tree page overwritten)"
rm -f "$db-wal" "$db-shm"
cp "$SV_SCRATCH/good.db" "$db"
sqlite3 "$db" 'PRAGMA journal_mode=DELETE' >/dev/null
dd if=/dev/urandom of="$db" bs=4096 seek=5 count=2 conv=notrunc status=none
[[ "$(db_integrity "$db" 2>&1)" != ok ]] || fail "the overwritten file still passes its check"
cp "$db" "$SV_SCRATCH/damaged.db"
restore_ok
kept=$(jq -r .kept_aside "$SV_SCRATCH/result-$n.json")
if [[ "$kept" != null ]]; then
  cmp -s "$SV_SCRATCH/damaged.db" "$kept" || fail "the kept-aside file differs from the damaged one"
  note "ok: kept aside as $(basename "$kept")"
else
  safety=$(followup_ts "ds-r$n") # the pre-restore backup is the follow-up job's
  zstd -q -d "$SV_SCRATCH/store/full/$ws/$safety/livestore.db.zst" -o "$SV_SCRATCH/safety.db"
  # the backup API copies every page as it is; only the header's counters differ
  cmp -s -i 100 "$SV_SCRATCH/damaged.db" "$SV_SCRATCH/safety.db" ||
    fail "the safety backup does not hold the damaged file's pages"
  note "ok: the damaged pages are kept in the safety backup $safety (byte for byte past the header)"
fi

step "a WAL database with another page size (8192, the source has 4096)"
rm -f "$db" "$db-wal" "$db-shm"
sqlite3 "$db" >/dev/null <<'EOF'
PRAGMA page_size=8192;
PRAGMA journal_mode=WAL;
CREATE TABLE other (x);
INSERT INTO other VALUES ('kept');
EOF
assert_eq 8192 "$(sqlite3 "$db" 'PRAGMA page_size')" "live page size"
assert_eq wal "$(sqlite3 "$db" 'PRAGMA journal_mode')" "live journal mode"
restore_ok
kept=$(jq -r .kept_aside "$SV_SCRATCH/result-$n.json")
[[ "$kept" == "$db.replaced-"* ]] || fail "kept_aside is [$kept], expected $db.replaced-TS"
assert_eq kept "$(sqlite3 "file:$kept?mode=ro" 'SELECT x FROM other')" "the kept-aside database reads"
assert_eq 4096 "$(sqlite3 "$db" 'PRAGMA page_size')" "live page size after the restore"
safety=$(followup_ts "ds-r$n") # the pre-restore backup is the follow-up job's
zstd -q -d "$SV_SCRATCH/store/full/$ws/$safety/livestore.db.zst" -o "$SV_SCRATCH/safety2.db"
assert_eq kept "$(sqlite3 "$SV_SCRATCH/safety2.db" 'SELECT x FROM other')" "the safety backup holds the replaced database"

step "the kept-aside files are listed and nothing swept them"
listing=$("$SV_BIN" list "$ws" 2>&1)
assert_contains "$listing" "kept aside" "sqlvault list"
assert_eq 4 "$(ls "$db".damaged-* "$db".replaced-* 2>/dev/null | grep -vcE -- '-(wal|shm)$')" "kept-aside files on disk"
sv_pass
