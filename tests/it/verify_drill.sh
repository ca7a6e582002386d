#!/usr/bin/env bash
# Verify, the restore drill: on a good backup it passes, writes verify.json
# (ok:true, verifiedAt, durationMs, checksum) next to metadata.json, and
# `sqlvault list` shows the backup as verified. On a damaged backup (a
# flipped byte, a wrong checksum in metadata.json, a missing object) it fails
# with the reason and verify.json records ok:false with that error. A store
# that cannot be reached records nothing (no false alarm).
source "$(dirname "$0")/lib.sh"
source "$SV_SOURCE_DIR/tests/tools/restore_lib.sh"
sv_setup
export SQLVAULT_LOG_FORMAT=text

ws=ver
make_workspace "$ws" 3000
old="$(sv backup "$ws" --inline --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["ts"])')"
sqlite3 "$SQLVAULT_DATA_DIR/$ws/livestore.db" "INSERT INTO todos VALUES ('x', 'y', 0)"
new="$(sv backup "$ws" --inline --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["ts"])')"
vkey() { echo "${SV_PREFIX}full/$ws/$1/verify.json"; }

step "verify passes on a good backup and records it"
out="$(sv verify "$ws" --inline --json)"
assert_eq true "$(json_get "$out" ok)" "ok"
assert_eq "$new" "$(json_get "$out" ts)" "latest backup verified"
note "restore drill: $(json_get "$out" durationMs) ms"
s3_get "$(vkey "$new")" "$SV_SCRATCH/v.json"
v="$(cat "$SV_SCRATCH/v.json")"
assert_eq true "$(json_get "$v" ok)" "verify.json ok"
assert_eq "" "$(json_get "$v" error)" "verify.json error"
[[ "$(json_get "$v" verifiedAt)" =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T ]] || fail "verifiedAt: $v"
s3_get "${SV_PREFIX}full/$ws/$new/metadata.json" "$SV_SCRATCH/m.json"
assert_eq "$(json_get "$(cat "$SV_SCRATCH/m.json")" checksum)" "$(json_get "$v" checksum)" "verify.json checksum"
listing="$(sv list "$ws" --json)"
assert_eq "True False" "$(python3 -c 'import json,sys; print(" ".join(str(b["verified"]) for b in json.load(sys.stdin)))' <<<"$listing")" "list: newest verified, older not"

step "verify --at TIMESTAMP"
out="$(sv verify "$ws" --at "$old" --inline --json)"
assert_eq true "$(json_get "$out" ok)" "ok"
assert_eq "$old" "$(json_get "$out" ts)" "the named backup verified"
expect_status 2 sv verify "$ws" --at "object:x" --inline
expect_status 1 sv verify "$ws" --at 20000101T000000.000Z --inline

step "a flipped byte: verify fails with the reason, verify.json says ok:false"
obj="${SV_PREFIX}full/$ws/$new/livestore.db.zst"
s3_get "$obj" "$SV_SCRATCH/good.zst"
cp "$SV_SCRATCH/good.zst" "$SV_SCRATCH/flip.zst"
flip_byte "$SV_SCRATCH/flip.zst" $(($(stat -c %s "$SV_SCRATCH/flip.zst") / 2))
s3_put "$SV_SCRATCH/flip.zst" "$obj"
rc=0
out="$(sv verify "$ws" --inline 2>&1)" || rc=$?
assert_eq 1 "$rc" "exit status"
assert_contains "$out" "failed verification" "error"
grep -Eq "zstd stream is corrupt|checksum mismatch" <<<"$out" || fail "no reason in: $out"
s3_get "$(vkey "$new")" "$SV_SCRATCH/v.json"
v="$(cat "$SV_SCRATCH/v.json")"
assert_eq false "$(json_get "$v" ok)" "verify.json ok"
grep -Eq "zstd stream is corrupt|checksum mismatch" <<<"$(json_get "$v" error)" || fail "no reason in verify.json: $v"
listing="$(sv list "$ws")"
note "$listing"
grep -E "^$new .* FAILED " <<<"$listing" >/dev/null || fail "list does not show the failed drill: $listing"
listing="$(sv list "$ws" --json)"
assert_eq "False False" "$(python3 -c 'import json,sys; b=json.load(sys.stdin)[0]; print(b["verified"], b["verifyOk"])' <<<"$listing")" "list --json: a failed drill is not verified"

step "a wrong checksum in metadata.json"
s3_put "$SV_SCRATCH/good.zst" "$obj"
python3 - "$SV_SCRATCH/m.json" "$SV_SCRATCH/bad.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1])); m["checksum"] = "sha256:" + "1" * 64
json.dump(m, open(sys.argv[2], "w"))
PY
s3_put "$SV_SCRATCH/bad.json" "${SV_PREFIX}full/$ws/$new/metadata.json"
rc=0
out="$(sv verify "$ws" --inline 2>&1)" || rc=$?
assert_eq 1 "$rc" "exit status"
assert_contains "$out" "checksum mismatch" "error"
s3_get "$(vkey "$new")" "$SV_SCRATCH/v.json"
assert_eq false "$(json_get "$(cat "$SV_SCRATCH/v.json")" ok)" "verify.json ok"
s3_put "$SV_SCRATCH/m.json" "${SV_PREFIX}full/$ws/$new/metadata.json"
out="$(sv verify "$ws" --inline --json)"
assert_eq true "$(json_get "$out" ok)" "repaired backup verifies again"

step "a missing object"
aws_s3 s3 rm --only-show-errors "s3://$SV_S3_BUCKET/$obj"
rc=0
out="$(sv verify "$ws" --inline 2>&1)" || rc=$?
assert_eq 1 "$rc" "exit status"
assert_contains "$out" "no object" "error"
s3_get "$(vkey "$new")" "$SV_SCRATCH/v.json"
assert_eq false "$(json_get "$(cat "$SV_SCRATCH/v.json")" ok)" "verify.json ok"

step "an unreachable store records nothing"
s3_put "$SV_SCRATCH/good.zst" "$obj"
sv verify "$ws" --inline >/dev/null
proxy_faults "{\"rules\":[{\"prefix\":\"$SV_PREFIX\",\"op\":\"GetObject\",\"status\":503,\"times\":1000}]}"
sv_on_exit proxy_reset
rc=0
out="$(sv verify "$ws" --inline 2>&1)" || rc=$?
proxy_reset
assert_ne 0 "$rc" "exit status with the store failing"
assert_contains "$out" "nothing recorded" "error"
s3_get "$(vkey "$new")" "$SV_SCRATCH/v.json"
assert_eq true "$(json_get "$(cat "$SV_SCRATCH/v.json")" ok)" "verify.json still ok"

sv_pass
