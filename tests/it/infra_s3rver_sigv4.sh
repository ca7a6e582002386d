#!/usr/bin/env bash
# The local S3 server really checks SigV4 signatures, directly and through the
# R2-rules proxy (which must forward requests with their signature intact),
# and presigned URLs work through the proxy. If this test fails, every S3 test
# that "passes" proves nothing about signing.
source "$(dirname "$0")/lib.sh"
sv_setup

body="$SV_SCRATCH/body.txt"
echo "signed content $SV_TEST_ID" >"$body"

step "aws s3api put-object with the right secret succeeds on s3rver directly"
aws_s3 s3api put-object --bucket "$SV_S3_BUCKET" --key "${SV_PREFIX}direct.txt" --body "$body" >/dev/null ||
  fail "put-object with the right credentials failed"
note "ok"

step "aws s3api put-object with a wrong secret is refused by s3rver (SignatureDoesNotMatch)"
rc=0
out="$(AWS_SECRET_ACCESS_KEY=not-the-secret aws_s3 s3api put-object --bucket "$SV_S3_BUCKET" \
  --key "${SV_PREFIX}bad.txt" --body "$body" 2>&1)" || rc=$?
assert_ne 0 "$rc" "exit status with a wrong secret"
assert_contains "$out" "SignatureDoesNotMatch" "aws error"
assert_eq 403 "$(s3_curl --direct --secret not-the-secret PUT "${SV_PREFIX}bad.txt" -T "$body")" \
  "HTTP status with a wrong secret (direct)"
assert_eq 403 "$(AWS_ACCESS_KEY_ID=NOSUCHKEY s3_curl --direct PUT "${SV_PREFIX}bad.txt" -T "$body")" \
  "HTTP status with an unknown access key (direct)"
assert_eq "" "$(s3_keys "${SV_PREFIX}bad")" "objects written by refused requests"

step "the proxy forwards signed requests untouched: right secret 200, wrong secret 403"
assert_eq 200 "$(s3_curl PUT "${SV_PREFIX}proxied.txt" -T "$body")" "PUT through the proxy"
assert_eq 403 "$(s3_curl --secret not-the-secret PUT "${SV_PREFIX}proxied-bad.txt" -T "$body")" \
  "PUT through the proxy with a wrong secret"
aws_proxy s3api put-object --bucket "$SV_S3_BUCKET" --key "${SV_PREFIX}proxied-aws.txt" --body "$body" >/dev/null ||
  fail "aws put-object through the proxy failed"
rc=0
out="$(AWS_SECRET_ACCESS_KEY=not-the-secret aws_proxy s3api head-object --bucket "$SV_S3_BUCKET" \
  --key "${SV_PREFIX}proxied.txt" 2>&1)" || rc=$?
assert_ne 0 "$rc" "head-object through the proxy with a wrong secret"
assert_contains "$out" "403" "aws error"

step "the proxy refuses unsigned requests like R2 (s3rver alone would accept them)"
assert_eq 403 "$(curl -sS -o /dev/null -w '%{http_code}' "$SV_S3_ENDPOINT/$SV_S3_BUCKET/${SV_PREFIX}proxied.txt")" \
  "anonymous GET through the proxy"

step "a presigned GET URL made for the proxy's address works, a tampered one does not"
url="$(aws_proxy s3 presign "s3://$SV_S3_BUCKET/${SV_PREFIX}proxied.txt" --expires-in 300)"
got="$(curl -sS "$url")"
assert_eq "$(cat "$body")" "$got" "content via presigned URL"
bad_url="$(sed -E 's/(X-Amz-Signature=)[0-9a-f]/\10/; t; s/(Signature=)./\1A/' <<<"$url")"
[[ "$bad_url" != "$url" ]] || bad_url="${url}0"
assert_eq 403 "$(curl -sS -o /dev/null -w '%{http_code}' "$bad_url")" "status of a tampered presigned URL"

sv_pass
