#!/usr/bin/env bash
# worker_graceful.sh -- SIGTERM stops claiming and lets the running job
# finish within --grace, then the worker exits 0; a job longer than the grace
# is handed back (released, attempt not used) and another worker finishes it.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/queue_lib.sh"
sv_setup
sv_use_file_store
export SQLVAULT_TEST_JOBS=1 SQLVAULT_LEASE=2s SQLVAULT_LOG_FORMAT=text

# wait_exit PID TIMEOUT: waits for the worker to exit; its status in EXIT_RC.
wait_exit() {
  local pid="$1" deadline=$((SECONDS + $2))
  while kill -0 "$pid" 2>/dev/null; do
    ((SECONDS < deadline)) || fail "worker $pid still running after $2 s"
    sleep 0.1
  done
  EXIT_RC=0
  wait "$pid" || EXIT_RC=$?
}

step "SIGTERM with a 2 s job running: the job finishes, no new job starts, exit 0"
start_worker g1 --threads 1 --grace 10
pid=$WORKER_PID
qpy enqueue g-run sleep ws-g interactive 5 '{"ms": 2000}' >/dev/null
wait_state g-run active 10
qpy enqueue g-next sleep ws-h interactive 5 '{"ms": 10}' >/dev/null
kill -TERM "$pid"
t0=$SECONDS
wait_exit "$pid" 15
assert_eq 0 "$EXIT_RC" "exit status"
assert_le $((SECONDS - t0)) 5 "seconds to stop"
assert_eq succeeded "$(qstate g-run)" "the running job"
assert_eq queued "$(qstate g-next)" "the job enqueued after SIGTERM"
assert_eq 0 "$(redis_cli ZCARD "$(qbase)workers")" "live workers after the stop"

step "a job longer than --grace is released for another worker and finishes there"
start_worker g2 --threads 1 --grace 1
pid=$WORKER_PID
qpy enqueue g-long sleep ws-l interactive 5 '{"ms": 4000}' >/dev/null
wait_state g-long active 10
kill -TERM "$pid"
wait_exit "$pid" 10
assert_eq 0 "$EXIT_RC" "exit status"
assert_contains "$(cat "$SV_SCRATCH/g2.log")" "released" "worker log"
assert_eq queued "$(qstate g-long)" "state after the worker left"
assert_eq 0 "$(qfield g-long attempt)" "attempts used by the released run"
start_worker g3 --threads 2
wait_state g-long succeeded 20
wait_state g-next succeeded 10
assert_eq 1 "$(qfield g-long attempt)" "attempts after the next worker ran it"
sv_pass
