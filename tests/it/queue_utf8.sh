#!/usr/bin/env bash
# queue_utf8.sh -- option strings that are not valid UTF-8 are refused at
# enqueue with a clear error, by the CLI (exit 2, nothing enqueued) and by
# the Redis function itself (any client: stray bytes, overlong forms,
# surrogates, nested values, names); valid UTF-8 passes intact.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/queue_lib.sh"
sv_setup
sv_use_file_store
make_workspace u8-ws 10
redis_cli FUNCTION LOAD REPLACE "$(cat "$SV_SOURCE_DIR/src/queue/sqlvault.lua")" >/dev/null

step "the CLI refuses an option value that is not UTF-8, and enqueues nothing"
set +e
"$SV_BIN" backup u8-ws --no-wait --reason $'bad\xffreason' >"$SV_SCRATCH/out" 2>"$SV_SCRATCH/err"
rc=$?
set -e
assert_eq 2 "$rc" "exit code"
assert_contains "$(cat "$SV_SCRATCH/err")" "option '--reason' is not valid UTF-8" "message"
assert_eq 0 "$(redis_cli ZCARD "$(qbase)recent")" "jobs enqueued"

step "valid UTF-8 passes intact"
id=$("$SV_BIN" backup u8-ws --no-wait --reason 'café ✓ 日本')
assert_eq queued "$(qstate "$id")" "state of the job"
assert_contains "$("$SV_BIN" status "$id" --json)" 'café ✓ 日本' "the reason as stored"

step "the Redis function refuses bad bytes from any client"
B="$(qbase)"
try() { redis_cli FCALL sqlvault_enqueue 1 "$B" "$1" backup u8-ws interactive 5 "$2" 2>&1; }
assert_contains "$(try raw-1 $'\x81\xa6reason\xa3a\xffb')" "option reason is not valid UTF-8" "a stray byte"
assert_contains "$(try raw-2 $'\x81\xa6reason\xa2\xc0\xaf')" "not valid UTF-8" "an overlong form"
assert_contains "$(try raw-3 $'\x81\xa6reason\xa3\xed\xa0\x80')" "not valid UTF-8" "a surrogate"
assert_contains "$(try raw-4 $'\x81\xa1x\x81\xa1y\xa2\xe2\x82')" "option y is not valid UTF-8" "a truncated sequence, nested"
assert_contains "$(try raw-5 $'\x81\xa2\xfe\xfe\xa1v')" "not valid UTF-8" "a name"
assert_contains "$(redis_cli FCALL sqlvault_enqueue 1 "$B" raw-6 backup u8-ws interactive 5 '' $'r\xff' 2>&1)" \
  "reason is not valid UTF-8" "the reason argument"
for i in 1 2 3 4 5 6; do assert_eq "" "$(qstate raw-$i)" "no job raw-$i"; done
assert_eq "1 queued" "$(try raw-ok $'\x81\xa6reason\xa5\xc3\xa9\xe2\x9c\x93' | tr "\n" " " | sed "s/ $//")" "valid multibyte text"
sv_pass
