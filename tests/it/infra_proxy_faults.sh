#!/usr/bin/env bash
# The proxy's fault injection does what the rules say: 5xx answers at the
# configured rate (repeatably, from the seed), only for the named operations
# and key prefix, skip/times/permanent, latency, and connection resets while
# receiving a request (nothing stored) or while answering (work done, client
# cut off).
source "$(dirname "$0")/lib.sh"
sv_setup
trap 'proxy_reset; sv_cleanup' EXIT

d="$SV_SCRATCH"
head -c 1024 /dev/urandom >"$d/small"
head -c $((3 * 1024 * 1024)) /dev/urandom >"$d/big"

# statuses N KEYBASE: N signed PUTs of "small", prints their statuses on one line.
statuses() {
  local i out=""
  for ((i = 0; i < $1; i++)); do out+="$(s3_curl PUT "$SV_PREFIX$2$i" -T "$d/small" || true) "; done
  echo "$out"
}

step "the control API refuses malformed rules"
code="$(curl -sS -o /dev/null -w '%{http_code}' -X POST --data '{"rules":[{"op":"PutObject","stauts":500}]}' \
  "$SV_PROXY_CONTROL/faults")"
assert_eq 400 "$code" "rule with a misspelt field"
code="$(curl -sS -o /dev/null -w '%{http_code}' -X POST --data '{"rules":[{"probability":2,"status":500}]}' \
  "$SV_PROXY_CONTROL/faults")"
assert_eq 400 "$code" "probability out of range"

step "503 with probability 0.3 on PutObject: about 30% of 60 PUTs fail, and the seed repeats them"
rules="{\"seed\":42,\"rules\":[{\"op\":\"PutObject\",\"prefix\":\"${SV_PREFIX}rate\",\"status\":503,\"probability\":0.3}]}"
proxy_faults "$rules"
first="$(statuses 60 rate/a)"
n503="$(grep -o 503 <<<"$first" | wc -l)"
n200="$(grep -o 200 <<<"$first" | wc -l)"
note "statuses: $first"
assert_eq 60 $((n503 + n200)) "every answer is 200 or 503"
assert_ge "$n503" 8 "injected 503s"
assert_le "$n503" 32 "injected 503s"
assert_eq "$n503" "$(proxy_count PutObject 503)" "503s in the request log"
proxy_faults "$rules"
second="$(statuses 60 rate/b)"
assert_eq "$first" "$second" "the same seed gives the same sequence"
proxy_faults "${rules/\"seed\":42/\"seed\":7}"
third="$(statuses 60 rate/c)"
assert_ne "$first" "$third" "another seed gives another sequence"

step "a rule for UploadPart leaves other operations alone; the prefix scopes it"
proxy_faults "{\"rules\":[{\"op\":\"UploadPart\",\"status\":500,\"permanent\":true}]}"
assert_eq "200 200 200 " "$(statuses 3 scoped/)" "PutObject under a permanent UploadPart fault"
proxy_faults "{\"rules\":[{\"prefix\":\"${SV_PREFIX}elsewhere/\",\"status\":500,\"permanent\":true}]}"
assert_eq "200 200 " "$(statuses 2 scoped2/)" "PutObject outside the rule's prefix"

step "skip and times: the 2nd and 3rd matching requests fail, then all pass"
proxy_faults "{\"rules\":[{\"op\":\"PutObject\",\"prefix\":\"${SV_PREFIX}times\",\"status\":500,\"skip\":1,\"times\":2}]}"
assert_eq "200 500 500 200 200 " "$(statuses 5 times/)" "statuses"
faults="$(proxy_api GET /faults)"
assert_contains "$faults" '"fired":2' "fired counter"

step "permanent failure: every matching request fails, with the configured code"
proxy_faults "{\"rules\":[{\"op\":[\"GetObject\",\"HeadObject\"],\"prefix\":\"${SV_PREFIX}perm\",\"status\":503,\"code\":\"SlowDown\",\"permanent\":true}]}"
assert_eq 200 "$(s3_curl PUT "${SV_PREFIX}perm/x" -T "$d/small")" "PUT is not matched"
for i in 1 2 3 4 5; do
  assert_eq 503 "$(s3_curl GET "${SV_PREFIX}perm/x")" "GET #$i"
done
SV_CURL_OUT="$d/err.xml" s3_curl GET "${SV_PREFIX}perm/x" >/dev/null
assert_contains "$(cat "$d/err.xml")" "<Code>SlowDown</Code>" "error body"
rc=0
out="$(AWS_MAX_ATTEMPTS=2 AWS_RETRY_MODE=standard aws_proxy s3api head-object --bucket "$SV_S3_BUCKET" \
  --key "${SV_PREFIX}perm/x" 2>&1)" || rc=$?
assert_ne 0 "$rc" "aws head-object under a permanent fault"

step "latency: requests wait latencyMs before they are served"
proxy_faults "{\"rules\":[{\"op\":\"GetObject\",\"prefix\":\"${SV_PREFIX}slow\",\"latencyMs\":700}]}"
assert_eq 200 "$(s3_curl PUT "${SV_PREFIX}slow/x" -T "$d/small")" "PUT"
t="$(curl -sS -o /dev/null -w '%{time_total}' --aws-sigv4 "aws:amz:auto:s3" --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
  -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' "$SV_S3_ENDPOINT/$SV_S3_BUCKET/${SV_PREFIX}slow/x")"
ms="$(python3 -c "print(int(float('$t') * 1000))")"
assert_ge "$ms" 700 "GET time in ms"

step "reset while receiving the request: the client sees a broken connection, nothing is stored"
proxy_faults "{\"rules\":[{\"op\":\"PutObject\",\"prefix\":\"${SV_PREFIX}rq\",\"reset\":\"request\",\"times\":1}]}"
rc=0
s3_curl PUT "${SV_PREFIX}rq/x" -T "$d/big" >/dev/null 2>&1 || rc=$?
assert_ne 0 "$rc" "curl exit status"
assert_eq "" "$(s3_keys "${SV_PREFIX}rq/")" "objects after a reset request"
assert_eq 200 "$(s3_curl PUT "${SV_PREFIX}rq/x" -T "$d/big")" "the retry (times=1 is used up)"

step "reset while answering: the work is done, the client never hears"
proxy_faults "{\"rules\":[{\"op\":\"PutObject\",\"prefix\":\"${SV_PREFIX}rs\",\"reset\":\"response\",\"times\":1}]}"
rc=0
s3_curl PUT "${SV_PREFIX}rs/x" -T "$d/small" >/dev/null 2>&1 || rc=$?
assert_ne 0 "$rc" "curl exit status"
assert_eq "${SV_PREFIX}rs/x" "$(s3_keys "${SV_PREFIX}rs/")" "the object was stored anyway"

step "reset mid-body on a GET: the client gets a truncated body and an error"
proxy_faults "{\"rules\":[{\"op\":\"GetObject\",\"prefix\":\"${SV_PREFIX}rq\",\"reset\":\"response\",\"times\":1}]}"
rc=0
SV_CURL_OUT="$d/partial" s3_curl GET "${SV_PREFIX}rq/x" >/dev/null 2>&1 || rc=$?
assert_ne 0 "$rc" "curl exit status"
size="$(stat -c %s "$d/partial")"
assert_le "$size" $((3 * 1024 * 1024 - 1)) "bytes received"
SV_CURL_OUT="$d/whole" s3_curl GET "${SV_PREFIX}rq/x" >/dev/null
assert_eq "$(sha256sum <"$d/big")" "$(sha256sum <"$d/whole")" "the next GET is whole"

step "the log records the faults it injected"
assert_contains "$(proxy_log PutObject)" '"fault": "reset:request"' "log"
assert_contains "$(proxy_log GetObject)" '"fault": "latency:700"' "log"

step "reset clears the rules"
proxy_reset
assert_eq '{"seed":1,"rules":[]}' "$(proxy_api GET /faults)" "faults after reset"
assert_eq "200 200 200 " "$(statuses 3 times/)" "PUTs after reset"

sv_pass
