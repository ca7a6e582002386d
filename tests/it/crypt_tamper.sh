#!/usr/bin/env bash
# crypt_tamper.sh -- an encrypted backup that was tampered with in the store
# is refused with a clear error, exit 1, the live database byte-for-byte
# unchanged and no temporary file left: a flipped byte (S3 and file://), a
# truncated object (with and without its metadata.json adjusted to match),
# two chunks swapped, the header's data key id changed, and a backup folder
# moved into another workspace's folder.
source "$(dirname "$0")/lib.sh"
source "$SV_SOURCE_DIR/tests/tools/restore_lib.sh"
sv_setup
# This test is about the full restore path (download, validate, swap); delta
# restores have tests of their own (delta_restore.sh).
export SQLVAULT_RESTORE_DELTA=off
export SQLVAULT_LOG_FORMAT=text

SEED="${SV_TEST_SEED:-$RANDOM}"
note "seed $SEED (SV_TEST_SEED to repeat)"
python3 -c "import random,sys; random.seed($SEED); sys.stdout.write(''.join('%02x'%random.randrange(256) for _ in range(32)))" >"$SV_SCRATCH/k1"
export SQLVAULT_ENCRYPTION_KEY_FILE="$SV_SCRATCH/k1"
CHUNK=$((65536 + 16))

# big_workspace WS: about 400 KB that zstd cannot shrink, so the object has several chunks.
big_workspace() {
  make_workspace "$1" 500
  sqlite3 "$SQLVAULT_DATA_DIR/$1/livestore.db" "CREATE TABLE blobs(b BLOB); INSERT INTO blobs SELECT randomblob(4000) FROM eventlog LIMIT 100;"
}

# set_meta FILE FIELD VALUE: rewrites one integer or string field of a metadata.json.
set_meta() {
  python3 - "$@" <<'PY'
import json, sys
p, k, v = sys.argv[1:4]
m = json.load(open(p))
m[k] = int(v) if v.isdigit() else v
json.dump(m, open(p, "w"), indent=2)
PY
}

step "S3: a flipped byte in an encrypted object is refused"
big_workspace ws-a
ts="$(sv backup ws-a --inline --json | jq -r .ts)"
obj="${SV_PREFIX}full/ws-a/$ts/livestore.db.zst"
s3_get "$obj" "$SV_SCRATCH/good.bin"
assert_ge "$(stat -c %s "$SV_SCRATCH/good.bin")" $((4 * CHUNK)) "object size (several chunks)"
cp "$SV_SCRATCH/good.bin" "$SV_SCRATCH/flip.bin"
flip_byte "$SV_SCRATCH/flip.bin" $((48 + CHUNK + 1000))
s3_put "$SV_SCRATCH/flip.bin" "$obj"
expect_restore_fail ws-a "$ts" "fails authentication at chunk 1"
s3_put "$SV_SCRATCH/good.bin" "$obj"
sv restore ws-a --from "$ts" --yes --inline >/dev/null
note "ok: the intact object restores again"

sv_use_file_store
root="$SV_SCRATCH/store"
big_workspace ws-b
big_workspace ws-c
ts="$(sv backup ws-b --inline --json | jq -r .ts)"
tsc="$(sv backup ws-c --inline --json | jq -r .ts)"
dir="$root/full/ws-b/$ts"
cp "$dir/livestore.db.zst" "$SV_SCRATCH/b.good"
cp "$dir/metadata.json" "$SV_SCRATCH/b.meta"
size=$(stat -c %s "$SV_SCRATCH/b.good")
restore_good() { cp "$SV_SCRATCH/b.good" "$dir/livestore.db.zst"; cp "$SV_SCRATCH/b.meta" "$dir/metadata.json"; }
# with_fixed_meta: metadata.json made to agree with the damaged object, so the
# encryption layer (not the size or checksum check) has to catch it
with_fixed_meta() {
  set_meta "$dir/metadata.json" compressedSize "$(stat -c %s "$dir/livestore.db.zst")"
  set_meta "$dir/metadata.json" compressedChecksum "$(file_sha256 "$dir/livestore.db.zst")"
}

step "file: a flipped byte in the last chunk (metadata adjusted) is refused"
flip_byte "$dir/livestore.db.zst" -3
with_fixed_meta
expect_restore_fail ws-b "$ts" "fails authentication at its last chunk"
restore_good

step "file: a truncated object is refused (by size, and with metadata adjusted, by the format)"
truncate -s $((size - 5000)) "$dir/livestore.db.zst"
expect_restore_fail ws-b "$ts" "truncated or replaced"
with_fixed_meta
expect_restore_fail ws-b "$ts" "truncated"
restore_good
head -c $((48 + 2 * CHUNK)) "$SV_SCRATCH/b.good" >"$dir/livestore.db.zst"
with_fixed_meta
expect_restore_fail ws-b "$ts" "last chunk \(1\): it was truncated"
restore_good

step "file: two chunks swapped are refused"
python3 - "$dir/livestore.db.zst" "$CHUNK" <<'PY'
import sys
p, c = sys.argv[1], int(sys.argv[2])
b = bytearray(open(p, "rb").read())
a1, a2 = 48 + c, 48 + 2 * c
b[a1:a1 + c], b[a2:a2 + c] = b[a2:a2 + c], b[a1:a1 + c]
open(p, "wb").write(b)
PY
with_fixed_meta
expect_restore_fail ws-b "$ts" "chunk 1: it was modified or its chunks reordered"
restore_good

step "file: verify of a damaged encrypted backup records the reason"
flip_byte "$dir/livestore.db.zst" 100
with_fixed_meta
rc=0
out="$(sv verify ws-b --at "$ts" --inline 2>&1)" || rc=$?
assert_eq 1 "$rc" "verify exit status"
assert_contains "$out" "fails authentication" "verify error"
assert_eq false "$(jq -r .ok "$dir/verify.json")" "verify.json ok"
restore_good
rm -f "$dir/verify.json"

step "file: an encrypted backup moved into another workspace's folder is refused"
mkdir -p "$root/full/ws-c/20200101T000000.000Z"
cp "$dir/livestore.db.zst" "$dir/metadata.json" "$root/full/ws-c/20200101T000000.000Z/"
expect_restore_fail ws-c 20200101T000000.000Z "belongs to another workspace"
step "file: and with its header's data key id rewritten to ws-c's, it fails on its key (bound to its place)"
python3 - "$root/full/ws-c/20200101T000000.000Z/livestore.db.zst" "$root/full/ws-c/$tsc/livestore.db.zst" <<'PY'
import sys
moved, own = sys.argv[1], sys.argv[2]
b = bytearray(open(moved, "rb").read())
b[16:32] = open(own, "rb").read()[16:32]
open(moved, "wb").write(b)
PY
f="$root/full/ws-c/20200101T000000.000Z"
set_meta "$f/metadata.json" compressedSize "$(stat -c %s "$f/livestore.db.zst")"
set_meta "$f/metadata.json" compressedChecksum "$(file_sha256 "$f/livestore.db.zst")"
expect_restore_fail ws-c 20200101T000000.000Z "first chunk"
step "file: ws-c's own object copied to another of its backup folders is refused too (bound to its key)"
cp "$root/full/ws-c/$tsc/livestore.db.zst" "$f/livestore.db.zst"
cp "$root/full/ws-c/$tsc/metadata.json" "$f/metadata.json"
expect_restore_fail ws-c 20200101T000000.000Z "written for another key"
rm -rf "$f"

step "file: the intact backups still restore"
sv restore ws-b --from "$ts" --yes --inline >/dev/null
sv restore ws-c --from "$tsc" --yes --inline >/dev/null
assert_eq ok "$(db_integrity "$SQLVAULT_DATA_DIR/ws-b/livestore.db")" "ws-b integrity"
sv_pass
