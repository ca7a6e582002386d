#!/usr/bin/env bash
# queue_poison.sh -- poison jobs fail as their error class says: a database
# that is not SQLite fails at once (corrupt), a transient error retries with
# backoff up to max_attempts, a non-retryable code fails at once, an unknown
# type fails at once; every failed job is in the dead-letter stream with a
# clear error; a job that recovers on a retry succeeds.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/queue_lib.sh"
sv_setup
sv_use_file_store
export SQLVAULT_TEST_JOBS=1 SQLVAULT_LEASE=2s SQLVAULT_LOG_FORMAT=text SQLVAULT_RETRY_BASE=200ms
start_worker w1 --threads 2

# dead_error ID: the error recorded for ID in the dead-letter stream.
dead_error() {
  qpy XRANGE "$(qbase)dead" - + |
    jq -r --arg id "$1" '.[] | .[1] | [range(0; length; 2) as $i | {(.[$i]): .[$i + 1]}] | add |
      select(.job == $id) | .error'
}

step "a backup of a file that is not SQLite fails at once, exit 1"
mkdir -p "$SQLVAULT_DATA_DIR/ws-p"
head -c 100000 /dev/urandom >"$SQLVAULT_DATA_DIR/ws-p/livestore.db"
expect_status 1 "$SV_BIN" backup ws-p --id p-corrupt
assert_eq failed "$(qstate p-corrupt)" "state"
assert_eq 1 "$(qfield p-corrupt attempt)" "attempts used"
note "error: $(qfield p-corrupt error) [$(qfield p-corrupt error_code)]"
assert_ne "" "$(dead_error p-corrupt)" "dead-letter entry with an error"
ttl=$(redis_cli TTL "$(qbase)job:p-corrupt")
assert_ge "$ttl" $((29 * 86400)) "TTL of a failed job hash (s)"

step "a transient error is retried with backoff and fails after max_attempts"
qpy enqueue p-transient fail '' interactive 3 '{"code": "transient", "message": "flaky upstream"}' >/dev/null
wait_state p-transient failed 30
assert_eq 3 "$(qfield p-transient attempt)" "attempts used"
assert_eq transient "$(qfield p-transient error_code)" "error code"
assert_contains "$(dead_error p-transient)" "flaky upstream (attempt 3)" "dead-letter error"
retries=$(qpy XRANGE "$(qbase)events" - + |
  jq '[.[] | .[1] | [range(0; length; 2) as $i | {(.[$i]): .[$i + 1]}] | add |
      select(.job == "p-transient" and .event == "retrying")] | length')
assert_eq 2 "$retries" "retrying events"

step "non-retryable codes and unknown types fail at once"
qpy enqueue p-checksum fail '' interactive 5 '{"code": "checksum", "message": "checksum mismatch"}' >/dev/null
qpy enqueue p-unknown nosuchtype '' interactive 5 '' >/dev/null
wait_state p-checksum failed 20
wait_state p-unknown failed 20
assert_eq 1 "$(qfield p-checksum attempt)" "attempts of a checksum error"
assert_eq 1 "$(qfield p-unknown attempt)" "attempts of an unknown type"
assert_contains "$(qfield p-unknown error)" "unknown job type" "error of an unknown type"
assert_contains "$(dead_error p-checksum)" "checksum mismatch" "dead-letter error"

step "a job that recovers on its second attempt succeeds"
qpy enqueue p-recover fail '' interactive 5 '{"succeed_at": 2}' >/dev/null
wait_state p-recover succeeded 20
assert_eq 2 "$(qfield p-recover attempt)" "attempts"
assert_eq '{"attempt":2}' "$(qfield p-recover result)" "result"
ttl=$(redis_cli TTL "$(qbase)job:p-recover")
assert_le "$ttl" $((7 * 86400)) "TTL of a succeeded job hash (s)"
assert_ge "$ttl" $((7 * 86400 - 60)) "TTL of a succeeded job hash (s)"
stats=$("$SV_BIN" stats --json)
assert_eq 4 "$(jq .failed <<<"$stats")" "failed jobs in stats"
sv_pass
