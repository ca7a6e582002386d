#!/usr/bin/env bash
# s3_faults: the S3 driver under injected faults (the proxy's seeded fault
# rules, scoped to this test's prefix). With about 20% of requests answered
# 500/503 or cut by a connection reset (before the request is read, or half
# way through the response) a multipart upload and a streamed download still
# come out intact. With a permanent failure the upload fails cleanly: a
# transient-class error, the multipart upload aborted, no spool files left.
source "$(dirname "$0")/lib.sh"
sv_setup

TOOL="$SV_BUILD_DIR/sv_s3tool"
[[ -x "$TOOL" ]] || fail "missing $TOOL (build the project first)"
export SQLVAULT_TMP_DIR="$SV_SCRATCH/spool"
W="$SV_SCRATCH"
sv_on_exit proxy_reset

OPS='["UploadPart","CreateMultipartUpload","CompleteMultipartUpload","PutObject","GetObject","HeadObject","ListObjectsV2"]'

# faulted_count: requests under our prefix the proxy failed on purpose.
faulted_count() {
  proxy_log | python3 -c 'import json,sys; print(sum(1 for l in sys.stdin if json.loads(l).get("fault")))'
}

step "about 20% of requests fail with 500/503 or a reset: the multipart upload still succeeds"
proxy_faults "{\"seed\": 7, \"rules\": [
  {\"name\": \"e500\", \"op\": $OPS, \"prefix\": \"$SV_PREFIX\", \"probability\": 0.07, \"status\": 500},
  {\"name\": \"e503\", \"op\": $OPS, \"prefix\": \"$SV_PREFIX\", \"probability\": 0.07, \"status\": 503},
  {\"name\": \"rreq\", \"op\": $OPS, \"prefix\": \"$SV_PREFIX\", \"probability\": 0.04, \"reset\": \"request\"},
  {\"name\": \"rres\", \"op\": $OPS, \"prefix\": \"$SV_PREFIX\", \"probability\": 0.04, \"reset\": \"response\"}]}"
head -c $((41 * 1048576 + 777)) /dev/urandom >"$W/big.bin"
for i in 1 2 3; do
  "$TOOL" --part-size 5MiB --upload-concurrency 2 write "f/obj$i.zst" "$W/big.bin" 262144 2>"$W/write.err" ||
    fail "write $i failed under faults: $(cat "$W/write.err")"
done
faults="$(faulted_count)"
note "faults injected so far: $faults"
assert_ge "$faults" 3 "faults injected"
for i in 1 2 3; do
  aws_s3 s3api get-object --bucket "$SV_S3_BUCKET" --key "${SV_PREFIX}f/obj$i.zst" "$W/big.aws" >/dev/null
  assert_eq "$(sha256sum <"$W/big.bin")" "$(sha256sum <"$W/big.aws")" "object $i intact (read directly from s3rver)"
done
assert_eq 0 "$(proxy_open_uploads)" "open multipart uploads"

step "streamed downloads under the same faults resume and deliver every byte once"
for i in 1 2 3; do
  "$TOOL" get "f/obj$i.zst" "$W/big.get" 2>"$W/get.err" || fail "get $i failed under faults: $(cat "$W/get.err")"
  assert_eq "$(sha256sum <"$W/big.bin")" "$(sha256sum <"$W/big.get")" "download $i intact"
done
note "response resets on GetObject: $(proxy_log GetObject | grep -c 'reset:response' || true)"

step "every GetObject answered with a reset half way: the download resumes with Range"
proxy_faults "{\"seed\": 9, \"rules\": [
  {\"name\": \"cut\", \"op\": \"GetObject\", \"prefix\": \"$SV_PREFIX\", \"times\": 3, \"reset\": \"response\"}]}"
"$TOOL" get f/obj1.zst "$W/big.get" 2>"$W/get.err" || fail "get failed: $(cat "$W/get.err")"
assert_eq "$(sha256sum <"$W/big.bin")" "$(sha256sum <"$W/big.get")" "download after 3 cuts intact"
assert_eq 3 "$(proxy_log GetObject | grep -c 'reset:response' || true)" "cuts injected"

step "a part upload that always fails: the write fails cleanly and the upload is aborted"
proxy_faults "{\"seed\": 1, \"rules\": [
  {\"name\": \"down\", \"op\": \"UploadPart\", \"prefix\": \"$SV_PREFIX\", \"permanent\": true, \"status\": 503}]}"
status=0
start=$SECONDS
out="$("$TOOL" --part-size 5MiB write f/doomed.zst "$W/big.bin" 2>&1)" || status=$?
assert_eq 1 "$status" "exit status"
assert_contains "$out" "error: transient:" "classified as transient"
assert_contains "$out" "503" "status named"
assert_le $((SECONDS - start)) 60 "seconds until giving up"
assert_eq 0 "$(proxy_open_uploads)" "open multipart uploads after the failure"
assert_ge "$(proxy_count AbortMultipartUpload)" 1 "AbortMultipartUpload sent"
out="$("$TOOL" stat f/doomed.zst 2>&1)" && fail "the failed object exists"
assert_contains "$out" "not_found" "no object under the key"
[[ -z "$(ls -A "$SQLVAULT_TMP_DIR" 2>/dev/null)" ]] || fail "spool files left in $SQLVAULT_TMP_DIR"
note "ok: no spool files left behind"

step "CreateMultipartUpload refused with a 400: not retried, reported with the S3 code"
proxy_faults "{\"seed\": 1, \"rules\": [
  {\"name\": \"bad\", \"op\": \"CreateMultipartUpload\", \"prefix\": \"$SV_PREFIX\", \"permanent\": true,
   \"status\": 400, \"code\": \"InvalidArgument\", \"message\": \"nope\"}]}"
out="$("$TOOL" --part-size 5MiB write f/bad.zst "$W/big.bin" 2>&1)" && fail "write succeeded"
assert_contains "$out" "error: remote:" "classified as remote"
assert_contains "$out" "InvalidArgument: nope" "S3 code and message"
assert_eq 1 "$(proxy_count CreateMultipartUpload 400)" "one attempt only"
proxy_reset

sv_pass
