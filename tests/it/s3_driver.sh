#!/usr/bin/env bash
# s3_driver: the S3 store driver against s3rver behind the R2-rules proxy,
# through the store interface (tests/tools/sv_s3tool): multipart round trip
# checked with the aws CLI, streamed GET from an offset, listings past 1000
# keys (continuation tokens) with and without a delimiter, DeleteObjects past
# 1000 keys, If-None-Match conflicts, presigned GET/PUT, HEAD.
source "$(dirname "$0")/lib.sh"
sv_setup

TOOL="$SV_BUILD_DIR/sv_s3tool"
[[ -x "$TOOL" ]] || fail "missing $TOOL (build the project first)"
export SQLVAULT_TMP_DIR="$SV_SCRATCH/spool"
W="$SV_SCRATCH"

step "a 23 MiB object written with 5 MiB parts goes up as a multipart upload"
head -c $((23 * 1048576 + 12345)) /dev/urandom >"$W/big.bin"
"$TOOL" --part-size 5MiB --upload-concurrency 2 write big/obj.zst "$W/big.bin" 65536 2>"$W/write.err" ||
  fail "write failed: $(cat "$W/write.err")"
assert_eq 5 "$(proxy_count UploadPart 200)" "parts uploaded"
assert_eq 1 "$(proxy_count CompleteMultipartUpload 200)" "completed uploads"
assert_eq 0 "$(proxy_count PutObject)" "single PUTs"
assert_eq 0 "$(proxy_open_uploads)" "open multipart uploads"
aws_proxy s3api get-object --bucket "$SV_S3_BUCKET" --key "${SV_PREFIX}big/obj.zst" "$W/big.aws" >/dev/null
assert_eq "$(sha256sum <"$W/big.bin")" "$(sha256sum <"$W/big.aws")" "sha256 read back by aws s3api"
assert_eq "$((23 * 1048576 + 12345))" "$("$TOOL" stat big/obj.zst | cut -d' ' -f1)" "stat size"
[[ -z "$(ls -A "$SQLVAULT_TMP_DIR" 2>/dev/null)" ]] || fail "spool files left in $SQLVAULT_TMP_DIR"
note "ok: no spool files left behind"

step "the same object read back through the driver, whole and from an offset"
"$TOOL" get big/obj.zst "$W/big.get"
assert_eq "$(sha256sum <"$W/big.bin")" "$(sha256sum <"$W/big.get")" "sha256 of a streamed GET"
"$TOOL" get big/obj.zst "$W/big.tail" 7000000
assert_eq "$(tail -c +7000001 "$W/big.bin" | sha256sum)" "$(sha256sum <"$W/big.tail")" "GET from offset 7000000"

step "an object of exactly one part goes as a single PUT"
head -c $((5 * 1048576)) /dev/urandom >"$W/one.bin"
"$TOOL" --part-size 5MiB write one/obj "$W/one.bin" 2>/dev/null
assert_eq 1 "$(proxy_log PutObject | grep -c '/one/obj' || true)" "single PUT for one part"
"$TOOL" get one/obj "$W/one.get"
assert_eq "$(sha256sum <"$W/one.bin")" "$(sha256sum <"$W/one.get")" "one-part object intact"

step "an empty object"
: >"$W/empty"
"$TOOL" write empty/obj "$W/empty" 2>/dev/null
assert_eq "0" "$("$TOOL" stat empty/obj | cut -d' ' -f1)" "empty object size"

step "If-None-Match: * refuses to overwrite"
echo '{"version":"1.0"}' >"$W/meta.json"
"$TOOL" put m/metadata.json "$W/meta.json" --if-none-match
out="$("$TOOL" put m/metadata.json "$W/meta.json" --if-none-match 2>&1)" && fail "second conditional put succeeded"
assert_contains "$out" "error: conflict" "conflict reported"

step "listing 1105 keys pages through continuation tokens"
"$TOOL" put-many many/k 1105
"$TOOL" list many/ >"$W/list.txt"
assert_eq 1105 "$(wc -l <"$W/list.txt")" "keys listed"
assert_eq "$(sort "$W/list.txt" | sha256sum)" "$(sha256sum <"$W/list.txt")" "listing in order"
assert_ge "$(proxy_count ListObjectsV2 200)" 2 "ListObjectsV2 pages"

step "a delimiter listing reports folders as prefixes"
"$TOOL" list "" / >"$W/top.txt"
assert_contains "$(cat "$W/top.txt")" "P many/" "prefix entry"
assert_contains "$(cat "$W/top.txt")" "P big/" "prefix entry"

step "delete_many of 1105 keys in batches of at most 1000"
# DeleteObjects has no key, so count it in the whole log, before and after.
del_count() {
  proxy_api GET "/log?op=DeleteObjects" |
    python3 -c 'import json,sys; print(sum(1 for e in json.load(sys.stdin)["entries"] if e["status"] == 200))'
}
before="$(del_count)"
assert_eq "1105 deleted" "$("$TOOL" delete-prefix many/)" "deleted"
assert_eq 2 "$(($(del_count) - before))" "DeleteObjects requests"
assert_eq 0 "$("$TOOL" list many/ | wc -l)" "keys left"

step "a presigned GET with an attachment name downloads without credentials"
url="$("$TOOL" presign GET big/obj.zst 600 'attachment; filename="ws-backup.db"')"
[[ "$url" == *"X-Amz-Expires=600"* ]] || fail "no X-Amz-Expires=600 in the url"
[[ "$url" == *"response-content-disposition="* ]] || fail "no response-content-disposition in the url"
curl -fsS -D "$W/hdr.txt" -o "$W/big.presigned" "$url" || fail "presigned GET refused"
assert_eq "$(sha256sum <"$W/big.bin")" "$(sha256sum <"$W/big.presigned")" "presigned download intact"
assert_contains "$(tr -d '\r' <"$W/hdr.txt")" 'ws-backup.db' "content-disposition header"
bad="${url/X-Amz-Expires=600/X-Amz-Expires=601}"
code="$(curl -sS -o /dev/null -w '%{http_code}' "$bad")"
assert_eq 403 "$code" "tampered presigned url refused"

step "a presigned PUT uploads without credentials"
put_url="$("$TOOL" presign PUT uploads/ws/abc.db 600)"
curl -fsS -X PUT --data-binary @"$W/one.bin" "$put_url" >/dev/null || fail "presigned PUT refused"
"$TOOL" get uploads/ws/abc.db "$W/up.get"
assert_eq "$(sha256sum <"$W/one.bin")" "$(sha256sum <"$W/up.get")" "presigned upload intact"

step "stat and get of a missing key say not found"
out="$("$TOOL" stat nope/missing 2>&1)" && fail "stat of a missing key succeeded"
assert_contains "$out" "error: not_found" "stat classification"
out="$("$TOOL" get nope/missing "$W/x" 2>&1)" && fail "get of a missing key succeeded"
assert_contains "$out" "error: not_found" "get classification"

step "keys with spaces, unicode and reserved characters round-trip"
for key in "odd/a b+c=d&e.txt" "odd/caf$(printf '\xc3\xa9') $(printf '\xe6\x97\xa5').db" "odd/x!'()*~;,@\$[].bin"; do
  "$TOOL" put "$key" "$W/meta.json"
  "$TOOL" get "$key" "$W/odd.get"
  assert_eq "$(sha256sum <"$W/meta.json")" "$(sha256sum <"$W/odd.get")" "round trip of [$key]"
done
assert_eq 3 "$("$TOOL" list odd/ | wc -l)" "odd keys listed"

step "unfinished multipart uploads are listed and aborted"
for k in "mp/one" "mp/two words"; do
  aws_proxy s3api create-multipart-upload --bucket "$SV_S3_BUCKET" --key "$SV_PREFIX$k" >/dev/null
done
"$TOOL" uploads mp/ >"$W/uploads.txt"
assert_eq 2 "$(wc -l <"$W/uploads.txt")" "uploads listed"
assert_contains "$(cat "$W/uploads.txt")" "mp/two words " "key relative to the store root"
assert_eq 2 "$(proxy_open_uploads)" "open uploads before aborting"
while read -r line; do # "KEY UPLOAD_ID INITIATED_MS", the key may hold spaces
  rest="${line% *}"
  "$TOOL" abort-upload "${rest% *}" "${rest##* }"
done <"$W/uploads.txt"
assert_eq 0 "$(proxy_open_uploads)" "open uploads after aborting"
"$TOOL" abort-upload "mp/one" "no-such-upload-id" || fail "aborting a gone upload is not an error"
note "ok: aborting an upload already gone succeeds"

sv_pass
