#!/usr/bin/env bash
# store_range: store_get_range through the R2-rules proxy to s3rver (the
# sv_s3tool's get-range command). Ranges at the start, middle and end, one
# byte at offset 0 and at the end, equal dd's bytes of the local file; the
# proxy's stats (scoped to this test's prefix) count them as range GETs with
# bytesOut the ranges' sizes, not the object's; a connection cut twice
# mid-range is resumed inside the range and the bytes are still exact; a
# range past the end, starting past it, on an empty object, and a missing key
# fail with their messages, deliver nothing, and leave the object intact.
# Also prints the median wall time of 100 sequential 4 KiB range GETs, through
# the proxy and directly.
source "$(dirname "$0")/lib.sh"
sv_setup

TOOL="$SV_BUILD_DIR/sv_s3tool"
[[ -x "$TOOL" ]] || fail "missing $TOOL (build the project first)"
W="$SV_SCRATCH"
KEY="r/obj.bin"
SIZE=$((3 * 1048576 + 4321))
sv_on_exit proxy_reset

# stat_of FIELD: one field of the proxy's totals under our prefix.
stat_of() {
  curl -fsS -G "$SV_PROXY_CONTROL/stats" --data-urlencode "prefix=$SV_PREFIX" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"
}
stats_reset() {
  curl -fsS -X POST -G "$SV_PROXY_CONTROL/stats/reset" --data-urlencode "prefix=$SV_PREFIX" >/dev/null
}

# dd_range OFF LEN OUT: the same bytes of the local file.
dd_range() { dd if="$W/obj.bin" of="$3" iflag=skip_bytes,count_bytes skip="$1" count="$2" bs=65536 status=none; }

# check_range OFF LEN WHAT: get-range equals dd of the local file.
check_range() {
  "$TOOL" get-range "$KEY" "$1" "$2" "$W/got.bin" 2>"$W/err.txt" || fail "get-range $1 $2 ($3): $(cat "$W/err.txt")"
  dd_range "$1" "$2" "$W/want.bin"
  assert_eq "$2" "$(stat -c %s "$W/got.bin")" "bytes of the $3 range"
  cmp -s "$W/want.bin" "$W/got.bin" || fail "the $3 range ($1 +$2) differs from dd's bytes"
  note "ok: the $3 range equals dd's bytes"
}

step "an object of $SIZE bytes is stored; s3rver answers a Range through the proxy with 206 and Content-Range"
SEED="${SV_SEED:-$RANDOM}"
note "data seed $SEED (SV_SEED=$SEED to repeat)"
python3 -c 'import random,sys; r=random.Random(int(sys.argv[1])); sys.stdout.buffer.write(r.randbytes(int(sys.argv[2])))' \
  "$SEED" "$SIZE" >"$W/obj.bin"
"$TOOL" put "$KEY" "$W/obj.bin" 2>"$W/err.txt" || fail "put: $(cat "$W/err.txt")"
status="$(SV_CURL_OUT="$W/curl.bin" s3_curl GET "$SV_PREFIX$KEY" -H 'Range: bytes=10-19' -D "$W/headers.txt")"
assert_eq 206 "$status" "status of a Range GET through the proxy"
assert_contains "$(tr -d '\r' <"$W/headers.txt")" "content-range: bytes 10-19/$SIZE" "Content-Range"
dd_range 10 10 "$W/want.bin"
cmp -s "$W/want.bin" "$W/curl.bin" || fail "curl's range differs from dd's bytes"

step "ranges at the start, middle and end equal dd's bytes; the proxy counts range GETs and their bytes only"
stats_reset
check_range 0 4096 start
check_range 1500000 65536 middle
check_range $((SIZE - 5000)) 5000 end
check_range 0 1 "first byte"
check_range $((SIZE - 1)) 1 "last byte"
total=$((4096 + 65536 + 5000 + 1 + 1))
assert_eq 5 "$(stat_of rangeGets)" "range GETs counted"
assert_eq 5 "$(stat_of gets)" "GETs counted"
assert_eq 5 "$(stat_of requests)" "requests counted (no HEAD, no retry)"
assert_eq "$total" "$(stat_of bytesOut)" "bytesOut = the ranges' sizes ($total, the object has $SIZE)"
fixed="$(proxy_log GetObject | python3 -c '
import json, sys
print(sum(1 for l in sys.stdin if json.loads(l).get("range") == "bytes=0-0" and json.loads(l).get("rangeFixed")))')"
assert_eq 1 "$fixed" "bytes=0-0 answers trimmed by the proxy (s3rver sends the whole object)"
stats_reset
assert_eq 0 "$(stat_of requests)" "requests after a stats reset"

step "a connection cut twice mid-range: resumed inside the range, every byte once"
proxy_faults "{\"seed\": 3, \"rules\": [
  {\"name\": \"cut\", \"op\": \"GetObject\", \"prefix\": \"$SV_PREFIX\", \"times\": 2, \"reset\": \"response\"}]}"
OFF=123457
LEN=1048576
check_range "$OFF" "$LEN" "cut"
assert_eq 2 "$(proxy_log GetObject | grep -c 'reset:response' || true)" "cuts injected"
ranges="$(proxy_log GetObject | python3 -c 'import json,sys; print("\n".join(json.loads(l)["range"] for l in sys.stdin))' |
  tail -n 3 | paste -sd' ')"
note "Range headers of the cut read: $ranges"
assert_eq "bytes=$OFF-$((OFF + LEN - 1)) bytes=$((OFF + LEN / 2))-$((OFF + LEN - 1)) bytes=$((OFF + LEN / 2 + LEN / 4))-$((OFF + LEN - 1))" \
  "$ranges" "each attempt asks for the rest of the range"
assert_eq 3 "$(stat_of rangeGets)" "range GETs of the cut read"
out_bytes="$(stat_of bytesOut)"
assert_ge "$out_bytes" "$LEN" "bytesOut of the cut read"
assert_le "$out_bytes" $((LEN + LEN / 2)) "bytesOut of the cut read (the range, not the object)"
proxy_api DELETE /faults >/dev/null

step "past the end, from past the end, on an empty object, a missing key: clear errors, nothing delivered"
# expect_fail WANT_TEXT... -- ARGS: get-range fails (exit 1) naming each text, writes no byte.
expect_fail() {
  local texts=() st=0 t
  while [[ "$1" != "--" ]]; do texts+=("$1"); shift; done
  shift
  "$TOOL" get-range "$@" "$W/bad.bin" 2>"$W/err.txt" || st=$?
  assert_eq 1 "$st" "exit status of get-range $*"
  for t in "${texts[@]}"; do assert_contains "$(cat "$W/err.txt")" "$t" "message"; done
  assert_eq 0 "$(stat -c %s "$W/bad.bin")" "bytes delivered"
}
expect_fail "error: corrupt: range read of '$KEY': bytes $((SIZE - 10))-$((SIZE + 9)) (20 bytes)" \
  "past the end of the object ($SIZE bytes)" -- "$KEY" $((SIZE - 10)) 20
expect_fail "error: corrupt:" "bytes $((SIZE + 100))-$((SIZE + 103)) (4 bytes)" "($SIZE bytes)" -- "$KEY" $((SIZE + 100)) 4
: >"$W/empty.bin"
"$TOOL" put r/empty.bin "$W/empty.bin" 2>"$W/err.txt" || fail "put empty: $(cat "$W/err.txt")"
start=$SECONDS
expect_fail "error: corrupt:" "'r/empty.bin'" "(0 bytes)" -- r/empty.bin 0 1
assert_le $((SECONDS - start)) 5 "seconds for the empty object's answer"
expect_fail "error: not_found:" "r/missing.bin" -- r/missing.bin 0 10
st=0
out="$("$TOOL" get-range "$KEY" ten 10 2>&1)" || st=$?
assert_eq 2 "$st" "exit status of a bad offset"
assert_contains "$out" "decimal numbers" "message of a bad offset"
assert_eq "$SIZE" "$("$TOOL" stat "$KEY" | cut -d' ' -f1)" "object size after the failures"
"$TOOL" get "$KEY" "$W/whole.bin" 2>"$W/err.txt" || fail "get: $(cat "$W/err.txt")"
cmp -s "$W/obj.bin" "$W/whole.bin" || fail "the object changed"
note "ok: the object is intact"

step "wall time of one small range GET (4 KiB), sequential, median of 100"
"$TOOL" get-range "$KEY" 777777 4096 /dev/null 100 2>"$W/t-proxy.txt" || fail "timing run: $(cat "$W/t-proxy.txt")"
SQLVAULT_S3_ENDPOINT="$SV_S3_DIRECT_ENDPOINT" "$TOOL" get-range "$KEY" 777777 4096 /dev/null 100 2>"$W/t-direct.txt" ||
  fail "timing run (direct): $(cat "$W/t-direct.txt")"
note "through r2proxy: $(cat "$W/t-proxy.txt")"
note "s3rver directly: $(cat "$W/t-direct.txt")"
assert_contains "$(cat "$W/t-proxy.txt")" "range gets: 100 " "timing run"

sv_pass
