#!/usr/bin/env bash
# s3_auth: how the S3 driver reports bad credentials and an unreachable
# endpoint. A wrong secret is SV_EAUTH with a clear message and a hint, is
# not retried, and never prints the secret; an endpoint nobody listens on is
# SV_EUNREACH (exit 3) naming the endpoint, after bounded retries.
source "$(dirname "$0")/lib.sh"
sv_setup

TOOL="$SV_BUILD_DIR/sv_s3tool"
[[ -x "$TOOL" ]] || fail "missing $TOOL (build the project first)"
export SQLVAULT_TMP_DIR="$SV_SCRATCH/spool"
echo "payload" >"$SV_SCRATCH/p.txt"
SECRET='wrong-Secret+Value/5ekr1t-xyzzy'

step "a wrong secret is an auth error with a hint and no secret in the output"
status=0
out="$(AWS_SECRET_ACCESS_KEY="$SECRET" "$TOOL" put auth/p.txt "$SV_SCRATCH/p.txt" 2>&1)" || status=$?
assert_eq 1 "$status" "exit status"
assert_contains "$out" "error: auth:" "classified as auth"
assert_contains "$out" "rejected the credentials" "clear message"
assert_contains "$out" "SignatureDoesNotMatch" "S3 error code"
assert_contains "$out" "HINT: check AWS_SECRET_ACCESS_KEY / R2_SECRET_ACCESS_KEY" "hint"
[[ "$out" != *"$SECRET"* && "$out" != *"5ekr1t"* ]] || fail "the secret appears in the output: $out"
note "ok: the secret does not appear"
assert_eq 1 "$(proxy_count PutObject 403)" "one attempt only (403 is not retried)"

step "a wrong secret on a streamed multipart write fails the same way"
head -c $((6 * 1048576)) /dev/urandom >"$SV_SCRATCH/six.bin"
status=0
out="$(AWS_SECRET_ACCESS_KEY="$SECRET" "$TOOL" --part-size 5MiB write auth/six.bin "$SV_SCRATCH/six.bin" 2>&1)" || status=$?
assert_eq 1 "$status" "exit status"
assert_contains "$out" "error: auth:" "classified as auth"
[[ "$out" != *"$SECRET"* ]] || fail "the secret appears in the output: $out"

step "an unknown access key id is an auth error too"
out="$(AWS_ACCESS_KEY_ID=NOSUCHKEY "$TOOL" ping 2>&1)" && fail "ping with an unknown key succeeded"
assert_contains "$out" "error: auth:" "classified as auth"

step "an endpoint nobody listens on is unreachable (exit 3) and names the endpoint"
port="$(free_port)"
status=0
start=$SECONDS
out="$(SQLVAULT_S3_ENDPOINT="http://127.0.0.1:$port" "$TOOL" ping 2>&1)" || status=$?
assert_eq 3 "$status" "exit status"
assert_contains "$out" "error: unreachable:" "classified as unreachable"
assert_contains "$out" "127.0.0.1:$port" "endpoint named"
assert_contains "$out" "SQLVAULT_S3_ENDPOINT" "hint names the variable"
assert_contains "$out" "after 6 attempts" "retried a bounded number of times"
assert_le $((SECONDS - start)) 30 "seconds spent retrying"

step "a missing bucket is named as such"
out="$(SQLVAULT_STORE="s3://no-such-bucket-$RANDOM/x/" "$TOOL" ping 2>&1)" && fail "ping of a missing bucket succeeded"
assert_contains "$out" "does not exist" "missing bucket message"

sv_pass
