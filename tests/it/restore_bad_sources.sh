#!/usr/bin/env bash
# Bad sources: each is refused with a clear error (exit 1), the live
# database stays byte-for-byte unchanged and no temporary file is left:
# a flipped byte in the stored .zst, a truncated object (with and without
# metadata), a metadata.json whose checksum does not match, files that are
# not SQLite, a SQLite file failing integrity_check, a zstd bomb (with and
# without a declared content size), an upload over the size cap, bad
# workspace ids and object keys. Through the queue (a worker and Redis),
# a bad source never sets the pause flag nor emits restore.started.
source "$(dirname "$0")/lib.sh"
source "$SV_SOURCE_DIR/tests/tools/restore_lib.sh"
sv_setup
# This test is about the full restore path (download, validate, swap); delta
# restores have tests of their own (delta_restore.sh).
export SQLVAULT_RESTORE_DELTA=off
export SQLVAULT_LOG_FORMAT=text

ws=bad
live="$SQLVAULT_DATA_DIR/$ws/livestore.db"
make_workspace "$ws" 3000
sv backup "$ws" --inline >/dev/null
ts="$(sv list "$ws" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["ts"])')"
obj="${SV_PREFIX}full/$ws/$ts/livestore.db.zst"
meta="${SV_PREFIX}full/$ws/$ts/metadata.json"
s3_get "$obj" "$SV_SCRATCH/good.zst"
s3_get "$meta" "$SV_SCRATCH/good.json"
# the live database moves on after the backup, so "unchanged" is meaningful
sqlite3 "$live" "INSERT INTO todos VALUES ('after', 'after the backup', 0)"
upload() { s3_put "$1" "${SV_PREFIX}uploads/$ws/$2"; }

step "a good backup restores (baseline)"
cp "$live" "$SV_SCRATCH/live.before"
sv restore "$ws" --from "$ts" --yes --inline >/dev/null
cp "$SV_SCRATCH/live.before" "$live" && rm -f "$live-wal" "$live-shm"

step "a flipped byte in the stored .zst"
cp "$SV_SCRATCH/good.zst" "$SV_SCRATCH/flip.zst"
flip_byte "$SV_SCRATCH/flip.zst" $(($(stat -c %s "$SV_SCRATCH/good.zst") / 2))
s3_put "$SV_SCRATCH/flip.zst" "$obj"
expect_restore_fail "$ws" "$ts" "zstd stream is corrupt|checksum mismatch"

step "a truncated backup object (metadata.json knows its size)"
head -c $(($(stat -c %s "$SV_SCRATCH/good.zst") / 2)) "$SV_SCRATCH/good.zst" >"$SV_SCRATCH/trunc.zst"
s3_put "$SV_SCRATCH/trunc.zst" "$obj"
expect_restore_fail "$ws" "$ts" "truncated or replaced"
s3_put "$SV_SCRATCH/good.zst" "$obj"

step "a truncated zstd upload (no metadata to compare with)"
upload "$SV_SCRATCH/trunc.zst" trunc.db
expect_restore_fail "$ws" "object:uploads/$ws/trunc.db" "zstd stream is truncated|zstd stream is corrupt"

step "a metadata.json whose checksum does not match"
python3 - "$SV_SCRATCH/good.json" "$SV_SCRATCH/bad.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
m["checksum"] = "sha256:" + "0" * 64
json.dump(m, open(sys.argv[2], "w"))
PY
s3_put "$SV_SCRATCH/bad.json" "$meta"
expect_restore_fail "$ws" "$ts" "checksum mismatch: the database is sha256:[0-9a-f]{64} but metadata.json says sha256:0{64}"
s3_put "$SV_SCRATCH/good.json" "$meta"

step "files that are not SQLite"
printf 'hello, this is a text file and not a database\n%.0s' {1..100} >"$SV_SCRATCH/text.db"
upload "$SV_SCRATCH/text.db" text.db
expect_restore_fail "$ws" "object:uploads/$ws/text.db" "neither a SQLite database nor a zstd stream"
expect_restore_fail "$ws" "file:$SV_SCRATCH/text.db" "neither a SQLite database nor a zstd stream"
: >"$SV_SCRATCH/empty.db"
expect_restore_fail "$ws" "file:$SV_SCRATCH/empty.db" "empty"
zstd -q -c "$SV_SCRATCH/text.db" >"$SV_SCRATCH/text.db.zst"
expect_restore_fail "$ws" "file:$SV_SCRATCH/text.db.zst" "not a SQLite database \(bad header magic\)"

step "a SQLite file with a broken header: odd size, bad page size"
cp "$SV_SCRATCH/live.before" "$SV_SCRATCH/odd.db" && printf 'x' >>"$SV_SCRATCH/odd.db"
expect_restore_fail "$ws" "file:$SV_SCRATCH/odd.db" "not a whole number of"
cp "$SV_SCRATCH/live.before" "$SV_SCRATCH/ps.db"
printf '\x03\x00' | dd of="$SV_SCRATCH/ps.db" bs=1 seek=16 conv=notrunc status=none
expect_restore_fail "$ws" "file:$SV_SCRATCH/ps.db" "page size 768 is not a power of two"

step "a SQLite file that fails its integrity check"
cp "$SV_SCRATCH/live.before" "$SV_SCRATCH/corrupt.db"
corrupt_table_page "$SV_SCRATCH/corrupt.db"
[[ "$(sqlite3 "$SV_SCRATCH/corrupt.db" 'PRAGMA integrity_check' 2>&1 | head -1)" != ok ]] || fail "corruption not detected by sqlite3"
expect_restore_fail "$ws" "file:$SV_SCRATCH/corrupt.db" "fails its integrity check|not a valid SQLite database"
upload "$SV_SCRATCH/corrupt.db" corrupt.db
expect_restore_fail "$ws" "object:uploads/$ws/corrupt.db" "fails its integrity check|not a valid SQLite database"

step "a small .zst that decompresses past the cap (a bomb)"
head -c 2G /dev/zero | zstd -q -c >"$SV_SCRATCH/bomb.zst"
note "bomb: $(stat -c %s "$SV_SCRATCH/bomb.zst") bytes of zstd, 2 GiB decompressed"
upload "$SV_SCRATCH/bomb.zst" bomb.db
t0=$SECONDS
SQLVAULT_MAX_DB_SIZE=16MiB expect_restore_fail "$ws" "object:uploads/$ws/bomb.db" "larger than the 16.0 MiB limit once decompressed"
assert_le $((SECONDS - t0)) 10 "seconds to stop the bomb"
head -c 64M /dev/zero >"$SV_SCRATCH/zeros" && zstd -q -f "$SV_SCRATCH/zeros" -o "$SV_SCRATCH/sized.zst"
SQLVAULT_MAX_DB_SIZE=16MiB expect_restore_fail "$ws" "file:$SV_SCRATCH/sized.zst" "says it holds 64.0 MiB, over the 16.0 MiB limit"

step "an upload over the size cap"
upload "$SV_SCRATCH/live.before" big.db
size=$(stat -c %s "$SV_SCRATCH/live.before")
SQLVAULT_MAX_DB_SIZE=$((size / 2)) expect_restore_fail "$ws" "object:uploads/$ws/big.db" "over the .* limit"
SQLVAULT_MAX_DB_SIZE=$((size / 2)) expect_restore_fail "$ws" "$ts" "larger than the .* limit|over the .* limit"

step "bad workspace ids and object keys are refused before any path or key"
out="$(sv restore ../x --from latest --yes --inline 2>&1)" && fail "restore of ../x succeeded"
expect_status 2 sv restore ../x --from latest --yes --inline
assert_contains "$out" "invalid workspace id" "workspace id error"
[[ ! -e "$SQLVAULT_DATA_DIR/../x" ]] || fail "something was created outside the data dir"
expect_status 2 sv restore "$ws" --from "object:../full/$ws/x" --yes --inline
expect_status 2 sv restore "$ws" --from "object:/etc/passwd" --yes --inline
expect_status 2 sv restore "$ws" --from yesterday --yes --inline
expect_status 1 sv restore "$ws" --from "object:uploads/$ws/missing.db" --yes --inline
expect_status 1 sv restore "$ws" --from "file:$SV_SCRATCH/missing.db" --yes --inline
assert_eq "$(live_state "$SV_SCRATCH/live.before")" "$(live_state "$live")" "live database still the original"

step "failed restores leave no pre-restore backups behind"
assert_eq 1 "$(sv list "$ws" | grep -c pre-restore)" "pre-restore backups (the baseline's only)"

step "through the queue: a bad source never sets the pause flag"
sv_bg "$SV_BIN" worker --threads 1
out="$(sv restore "$ws" --from "object:uploads/$ws/text.db" --yes 2>&1)" && fail "queued restore of a text file succeeded"
assert_contains "$out" "neither a SQLite database nor a zstd stream" "queued restore error"
assert_eq 0 "$(redis_cli EXISTS "$SQLVAULT_REDIS_PREFIX:pause:{$ws}")" "pause flag"
events="$(redis_cli --scan --pattern "$SQLVAULT_REDIS_PREFIX*events*" | while read -r k; do
  [[ "$(redis_cli TYPE "$k")" == stream ]] && redis_cli XRANGE "$k" - +; done)"
[[ "$events" != *restore.started* ]] || fail "restore.started was emitted for a bad source"
note "ok: no restore.started event"
assert_eq "$(live_state "$SV_SCRATCH/live.before")" "$(live_state "$live")" "live database still the original"

sv_pass
