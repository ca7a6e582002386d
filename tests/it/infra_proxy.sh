#!/usr/bin/env bash
# The R2-rules proxy enforces what R2 enforces and s3rver does not: equal
# non-trailing multipart parts of at least 5 MiB, a last part no larger,
# AbortMultipartUpload / ListMultipartUploads / ListParts, If-None-Match: *,
# no aws-chunked bodies, a real Content-Length, matching payload hashes; and
# it logs every request. Driven with the aws CLI and signed curl.
source "$(dirname "$0")/lib.sh"
sv_setup

MiB=$((1024 * 1024))
d="$SV_SCRATCH"
head -c $((5 * MiB)) /dev/urandom >"$d/p5a"
head -c $((5 * MiB)) /dev/urandom >"$d/p5b"
head -c $((6 * MiB)) /dev/urandom >"$d/p6"
head -c $((1 * MiB)) /dev/urandom >"$d/p1"
head -c 1024 /dev/urandom >"$d/p1k"

# mpu_create KEY: prints a new upload id (through the proxy).
mpu_create() {
  aws_proxy s3api create-multipart-upload --bucket "$SV_S3_BUCKET" --key "$SV_PREFIX$1" \
    --query UploadId --output text
}

# mpu_part KEY ID N FILE: uploads one part, prints its ETag (quotes kept).
mpu_part() {
  aws_proxy s3api upload-part --bucket "$SV_S3_BUCKET" --key "$SV_PREFIX$1" --upload-id "$2" \
    --part-number "$3" --body "$4" --query ETag --output text
}

# mpu_upload KEY FILE...: creates an upload and uploads FILEs as parts 1..n;
# sets ID and PARTS (the JSON for complete-multipart-upload).
mpu_upload() {
  local key="$1" n=0 etag parts=""
  shift
  ID="$(mpu_create "$key")"
  for f in "$@"; do
    n=$((n + 1))
    etag="$(mpu_part "$key" "$ID" "$n" "$f")"
    parts+="${parts:+,}{\"ETag\":$(printf '%s' "$etag" | python3 -c 'import json,sys; print(json.dumps(sys.stdin.read()))'),\"PartNumber\":$n}"
  done
  PARTS="{\"Parts\":[$parts]}"
}

# mpu_complete KEY ID PARTS: completes; sets OUT and RC (never fails the test).
mpu_complete() {
  RC=0
  OUT="$(aws_proxy s3api complete-multipart-upload --bucket "$SV_S3_BUCKET" --key "$SV_PREFIX$1" \
    --upload-id "$2" --multipart-upload "$3" 2>&1)" || RC=$?
}

step "equal 5 MiB parts and a smaller last part complete; the object has every byte"
mpu_upload ok.bin "$d/p5a" "$d/p5b" "$d/p1"
mpu_complete ok.bin "$ID" "$PARTS"
assert_eq 0 "$RC" "complete exit status ($OUT)"
size="$(aws_s3 s3api head-object --bucket "$SV_S3_BUCKET" --key "${SV_PREFIX}ok.bin" --query ContentLength --output text)"
assert_eq $((11 * MiB)) "$size" "object size"
s3_get "${SV_PREFIX}ok.bin" "$d/ok.out"
assert_eq "$(cat "$d/p5a" "$d/p5b" "$d/p1" | sha256sum)" "$(sha256sum <"$d/ok.out")" "object content"
assert_eq 0 "$(proxy_open_uploads "${SV_PREFIX}ok.bin")" "open uploads after complete"

step "non-trailing parts of different sizes are refused (InvalidPart, same length)"
mpu_upload differ.bin "$d/p5a" "$d/p6" "$d/p1"
mpu_complete differ.bin "$ID" "$PARTS"
assert_ne 0 "$RC" "complete exit status"
assert_contains "$OUT" "InvalidPart" "error code"
assert_contains "$OUT" "All non-trailing parts must have the same length" "error message"
assert_eq 1 "$(proxy_open_uploads "${SV_PREFIX}differ.bin")" "the refused upload stays open"
DIFFER_ID="$ID"

step "a last part larger than the others is refused"
mpu_upload lastbig.bin "$d/p5a" "$d/p6"
mpu_complete lastbig.bin "$ID" "$PARTS"
assert_ne 0 "$RC" "complete exit status"
assert_contains "$OUT" "All non-trailing parts must have the same length" "error message"

step "non-trailing parts under 5 MiB are refused (EntityTooSmall)"
mpu_upload small.bin "$d/p1" "$d/p1" "$d/p1k"
mpu_complete small.bin "$ID" "$PARTS"
assert_ne 0 "$RC" "complete exit status"
assert_contains "$OUT" "EntityTooSmall" "error code"

step "a single small part is fine (the last part has no minimum)"
mpu_upload single.bin "$d/p1k"
mpu_complete single.bin "$ID" "$PARTS"
assert_eq 0 "$RC" "complete exit status ($OUT)"

step "a wrong ETag or parts out of order are refused"
mpu_upload etag.bin "$d/p5a" "$d/p1"
mpu_complete etag.bin "$ID" '{"Parts":[{"ETag":"\"00000000000000000000000000000000\"","PartNumber":1},{"ETag":"\"x\"","PartNumber":2}]}'
assert_contains "$OUT" "InvalidPart" "wrong ETag"
mpu_complete etag.bin "$ID" "$(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); d["Parts"].reverse(); print(json.dumps(d))' "$PARTS")"
assert_contains "$OUT" "InvalidPartOrder" "parts out of order"
mpu_complete etag.bin "$ID" "$PARTS"
assert_eq 0 "$RC" "the same upload completes with the right list ($OUT)"

step "ListMultipartUploads and ListParts answer from what the proxy saw"
ID="$(mpu_create open.bin)"
mpu_part open.bin "$ID" 1 "$d/p5a" >/dev/null
mpu_part open.bin "$ID" 2 "$d/p1" >/dev/null
listed="$(aws_proxy s3api list-multipart-uploads --bucket "$SV_S3_BUCKET" --prefix "$SV_PREFIX" \
  --query 'Uploads[].[Key,UploadId]' --output text | sort)"
assert_contains "$listed" "${SV_PREFIX}open.bin	$ID" "listed uploads"
assert_contains "$listed" "${SV_PREFIX}differ.bin	$DIFFER_ID" "listed uploads"
assert_eq "1 1" "$(proxy_open_uploads "${SV_PREFIX}open.bin") $(proxy_open_uploads "${SV_PREFIX}differ.bin")" "open uploads per key"
parts="$(aws_proxy s3api list-parts --bucket "$SV_S3_BUCKET" --key "${SV_PREFIX}open.bin" --upload-id "$ID" \
  --query 'Parts[].[PartNumber,Size]' --output text)"
assert_eq "1	$((5 * MiB))
2	$MiB" "$parts" "list-parts"

step "AbortMultipartUpload with a bad signature is refused and changes nothing"
rc=0
out="$(AWS_SECRET_ACCESS_KEY=wrong aws_proxy s3api abort-multipart-upload --bucket "$SV_S3_BUCKET" \
  --key "${SV_PREFIX}open.bin" --upload-id "$ID" 2>&1)" || rc=$?
assert_ne 0 "$rc" "abort exit status"
assert_contains "$out" "SignatureDoesNotMatch" "abort error"
assert_eq 1 "$(proxy_open_uploads "${SV_PREFIX}open.bin")" "upload still open"

step "AbortMultipartUpload removes the upload: not listed, parts and complete refused"
aws_proxy s3api abort-multipart-upload --bucket "$SV_S3_BUCKET" --key "${SV_PREFIX}open.bin" --upload-id "$ID" ||
  fail "abort failed"
aws_proxy s3api abort-multipart-upload --bucket "$SV_S3_BUCKET" --key "${SV_PREFIX}differ.bin" --upload-id "$DIFFER_ID" ||
  fail "abort failed"
for k in lastbig.bin small.bin; do
  for id in $(aws_proxy s3api list-multipart-uploads --bucket "$SV_S3_BUCKET" --prefix "$SV_PREFIX$k" \
    --query 'Uploads[].UploadId' --output text); do
    [[ "$id" == None ]] || aws_proxy s3api abort-multipart-upload --bucket "$SV_S3_BUCKET" --key "$SV_PREFIX$k" --upload-id "$id"
  done
done
listed="$(aws_proxy s3api list-multipart-uploads --bucket "$SV_S3_BUCKET" --prefix "$SV_PREFIX" \
  --query 'Uploads[].Key' --output text)"
assert_eq None "$listed" "list-multipart-uploads after abort"
assert_eq 0 "$(proxy_open_uploads)" "proxy_open_uploads for the test prefix"
rc=0
out="$(aws_proxy s3api upload-part --bucket "$SV_S3_BUCKET" --key "${SV_PREFIX}open.bin" --upload-id "$ID" \
  --part-number 3 --body "$d/p1k" 2>&1)" || rc=$?
assert_contains "$out" "NoSuchUpload" "upload-part after abort"
mpu_complete open.bin "$ID" '{"Parts":[{"ETag":"x","PartNumber":1}]}'
assert_contains "$OUT" "NoSuchUpload" "complete after abort"
assert_eq 404 "$(s3_curl DELETE "${SV_PREFIX}open.bin?uploadId=$ID")" "second abort"
if [[ -n "${SV_S3_DATA_DIR:-}" ]]; then
  [[ ! -e "$SV_S3_DATA_DIR/$SV_S3_BUCKET/._S3rver_uploads/$ID" ]] || fail "s3rver still stages the aborted upload"
  note "ok: s3rver's staging folder of the aborted upload is gone"
fi
assert_eq "" "$(s3_keys "${SV_PREFIX}open.bin")" "no object for the aborted upload"

step "PUT with If-None-Match: * answers 412 when the key exists"
aws_proxy s3api put-object --bucket "$SV_S3_BUCKET" --key "${SV_PREFIX}marker.json" --body "$d/p1k" \
  --if-none-match '*' >/dev/null || fail "conditional put of a new key failed"
note "ok: first conditional put succeeded"
rc=0
out="$(aws_proxy s3api put-object --bucket "$SV_S3_BUCKET" --key "${SV_PREFIX}marker.json" --body "$d/p1" \
  --if-none-match '*' 2>&1)" || rc=$?
assert_ne 0 "$rc" "second conditional put"
assert_contains "$out" "PreconditionFailed" "error code"
assert_eq 412 "$(s3_curl PUT "${SV_PREFIX}marker.json" -H 'If-None-Match: *' -T "$d/p1")" "HTTP status"
assert_eq 1024 "$(aws_s3 s3api head-object --bucket "$SV_S3_BUCKET" --key "${SV_PREFIX}marker.json" \
  --query ContentLength --output text)" "the object kept its first content"
assert_eq 200 "$(s3_curl PUT "${SV_PREFIX}marker.json" -T "$d/p1")" "an unconditional PUT still overwrites"

step "concurrent conditional PUTs of one new key: exactly one wins"
for i in 1 2 3 4 5 6; do
  s3_curl PUT "${SV_PREFIX}race.json" -H 'If-None-Match: *' -T "$d/p1k" >"$d/race.$i" &
done
wait
codes="$(for f in "$d"/race.*; do cat "$f"; echo; done | sort | tr '\n' ' ')"
assert_eq "200 412 412 412 412 412 " "$codes" "statuses"

step "R2 refusals: aws-chunked bodies, no Content-Length, wrong payload hash or MD5"
assert_eq 501 "$(s3_curl PUT "${SV_PREFIX}chunked.bin" -H 'x-amz-content-sha256: STREAMING-AWS4-HMAC-SHA256-PAYLOAD' \
  -H "x-amz-decoded-content-length: 1024" -T "$d/p1k")" "aws-chunked"
assert_eq 411 "$(s3_curl PUT "${SV_PREFIX}nolength.bin" -H 'Transfer-Encoding: chunked' -T "$d/p1k")" "no Content-Length"
wrong="$(sha256sum <"$d/p1" | cut -c1-64)"
assert_eq 400 "$(s3_curl PUT "${SV_PREFIX}badsha.bin" -H "x-amz-content-sha256: $wrong" -T "$d/p1k")" \
  "x-amz-content-sha256 mismatch"
right="$(sha256sum <"$d/p1k" | cut -c1-64)"
assert_eq 200 "$(s3_curl PUT "${SV_PREFIX}goodsha.bin" -H "x-amz-content-sha256: $right" -T "$d/p1k")" \
  "matching x-amz-content-sha256"
assert_eq 400 "$(s3_curl PUT "${SV_PREFIX}badmd5.bin" -H "Content-MD5: $(openssl md5 -binary <"$d/p1" | base64)" \
  -T "$d/p1k")" "Content-MD5 mismatch"
assert_eq "" "$(s3_keys "${SV_PREFIX}bad")" "refused bodies left no object"
assert_eq "" "$(s3_keys "${SV_PREFIX}chunked")$(s3_keys "${SV_PREFIX}nolength")" "refused bodies left no object"

step "the request log names every operation with its query keys and status"
log="$(proxy_log)"
for op in CreateMultipartUpload UploadPart CompleteMultipartUpload AbortMultipartUpload ListParts PutObject; do
  assert_contains "$log" "\"op\": \"$op\"" "log"
done
assert_contains "$(proxy_log ListMultipartUploads)" '"query": ["prefix", "uploads"]' "ListMultipartUploads entry"
assert_contains "$(proxy_log UploadPart)" '"query": ["partNumber", "uploadId"]' "UploadPart entry"
assert_ge "$(proxy_count CompleteMultipartUpload 400)" 5 "refused completes logged with status 400"
assert_ge "$(proxy_count PutObject 412)" 6 "412 answers logged"

sv_pass
