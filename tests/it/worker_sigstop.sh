#!/usr/bin/env bash
# worker_sigstop.sh -- a worker stopped (SIGSTOP) for longer than its lease
# loses the job to another worker; after SIGCONT its heartbeat and its
# completion are refused, and the job hash holds the new owner's result.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/queue_lib.sh"
sv_setup
sv_use_file_store
export SQLVAULT_TEST_JOBS=1 SQLVAULT_LEASE=2s SQLVAULT_LOG_FORMAT=text

step "worker A takes a 3 s job; A is stopped past its 2 s lease"
start_worker a --threads 1
pid_a=$WORKER_PID
qpy enqueue st-1 sleep ws-s interactive 5 '{"ms": 3000, "ignore_cancel": true}' >/dev/null
wait_state st-1 active 10
token_a=$(qfield st-1 lease)
worker_a=$(qfield st-1 worker)
assert_contains "$worker_a" ":$pid_a:" "owner is worker A"
kill -STOP "$pid_a"
sv_on_exit "kill -CONT $pid_a"

step "worker B takes the job over after the lease lapses and finishes it"
start_worker b --threads 1
pid_b=$WORKER_PID
wait_for --timeout 15 bash -c "redis-cli -u '$SQLVAULT_REDIS_URL' HGET '$(qbase)job:st-1' worker | grep -q ':$pid_b:'"
assert_eq 2 "$(qfield st-1 attempt)" "attempt of the takeover"
assert_eq "[0, \"lease lost\"]" "$(qpy FCALL sqlvault_complete 1 "$(qbase)" st-1 "$token_a" ok '{"forged":true}' '' -1 0)" \
  "a completion with A's old token"
assert_eq '[["st-1"], []]' "$(qpy FCALL sqlvault_tick 1 "$(qbase)" "$worker_a" 2000 0 st-1 "$token_a")" \
  "a heartbeat with A's old token reports the job lost"
wait_state st-1 succeeded 15
result_b=$(qfield st-1 result)
assert_eq "$pid_b" "$(jq .pid <<<"$result_b")" "result written by worker B"

step "after SIGCONT, worker A's heartbeat or completion is refused and nothing changes"
kill -CONT "$pid_a"
wait_for --timeout 15 grep -Eq "refused|lease lost" "$SV_SCRATCH/a.log"
note "worker A: $(grep -E 'refused|lease lost' "$SV_SCRATCH/a.log" | head -2 | tr '\n' ' ')"
wait_for --timeout 15 grep -q "st-1.*\(abandoned\|refused\)" "$SV_SCRATCH/a.log"
assert_eq "$result_b" "$(qfield st-1 result)" "result after A resumed"
assert_eq succeeded "$(qstate st-1)" "state after A resumed"
assert_contains "$(qfield st-1 worker)" ":$pid_b:" "owner after A resumed"
assert_eq 1 "$(redis_cli HGET "$(qbase)stats" succeeded)" "succeeded count"
assert_eq 1 "$(redis_cli HGET "$(qbase)stats" stalled)" "stalled count"
sv_pass
