#!/usr/bin/env bash
# worker_redis_restart.sh -- Redis (append-only) restarted mid-run, twice:
# the workers reconnect with backoff and keep going, and every job finishes
# exactly once (no job lost, none failed).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/queue_lib.sh"
sv_setup
sv_use_file_store
redis_private_start --appendfsync always
export SQLVAULT_REDIS_URL="$SV_PRIVATE_REDIS_URL"
export SQLVAULT_TEST_JOBS=1 SQLVAULT_LEASE=2s SQLVAULT_LOG_FORMAT=text SQLVAULT_RETRY_BASE=200ms

step "two workers run 60 jobs while Redis restarts twice"
"$SV_BIN" stats >/dev/null # loads the function library
qpy bulk rr 60 sleep 'ws-%d' interactive 5 '{"ms": 300}' >/dev/null
start_worker w1 --threads 2
p1=$WORKER_PID
start_worker w2 --threads 2
p2=$WORKER_PID
wait_for --timeout 20 bash -c "(( \$(redis-cli -u '$SQLVAULT_REDIS_URL' HGET '$(qbase)stats' succeeded) >= 10 ))"
redis_private_restart
note "redis restarted at $(finished_count) finished"
wait_for --timeout 30 bash -c "(( \$(redis-cli -u '$SQLVAULT_REDIS_URL' HGET '$(qbase)stats' succeeded) >= 35 ))"
redis_private_stop
sleep 1 # Redis stays down for a second (the outage itself, not an assertion)
redis_private_restart
note "redis restarted again at $(finished_count) finished"
wait_finished 60 60
kill -0 "$p1" || fail "worker 1 exited"
kill -0 "$p2" || fail "worker 2 exited"
assert_eq 60 "$(redis_cli HGET "$(qbase)stats" succeeded)" "succeeded jobs"
assert_eq "" "$(redis_cli HGET "$(qbase)stats" failed)" "failed jobs"
ok=0
for i in $(seq 1 60); do [[ "$(qstate "rr-$i")" == succeeded ]] && ok=$((ok + 1)); done
assert_eq 60 "$ok" "jobs in state succeeded"
assert_contains "$(cat "$SV_SCRATCH/w1.log" "$SV_SCRATCH/w2.log")" "reconnected to redis" "worker logs"
sv_pass
