#!/usr/bin/env bash
# worker_metrics.sh -- the worker's SQLVAULT_METRICS_ADDR endpoint: /healthz,
# /readyz (Redis and the store reachable; 503 once Redis is gone), and
# /metrics in Prometheus text with job counts, durations and queue depths.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/queue_lib.sh"
sv_setup
sv_use_file_store
redis_private_start
export SQLVAULT_REDIS_URL="$SV_PRIVATE_REDIS_URL"
export SQLVAULT_TEST_JOBS=1 SQLVAULT_LEASE=2s SQLVAULT_LOG_FORMAT=text
port=$(free_port)
addr="127.0.0.1:$port"

step "a worker with --metrics-addr runs three jobs"
start_worker w1 --threads 2 --metrics-addr "$addr"
wait_for --timeout 10 curl -fsS "http://$addr/healthz"
qpy bulk m 3 sleep '' interactive 3 '{"ms": 20}' >/dev/null
qpy bulk q 2 sleep '' scheduled 3 '{"ms": 20}' >/dev/null
wait_finished 5 20
assert_eq ok "$(curl -fsS "http://$addr/healthz")" "/healthz"
assert_eq ready "$(curl -fsS "http://$addr/readyz")" "/readyz"
m=$(curl -fsS "http://$addr/metrics")
assert_contains "$m" 'sqlvault_jobs_total{type="sleep",outcome="succeeded"} 5' "/metrics job counter"
assert_contains "$m" 'sqlvault_job_duration_seconds_count{type="sleep"} 5' "/metrics duration histogram"
assert_contains "$m" 'sqlvault_queue_depth{pool="default",priority="scheduled"} 0' "/metrics queue depth"
assert_contains "$m" 'sqlvault_workers_alive{pool="default"} 1' "/metrics workers alive"
assert_contains "$m" 'sqlvault_worker_threads 2' "/metrics threads"
assert_contains "$m" 'sqlvault_last_success_timestamp_seconds{type="sleep"}' "/metrics last success"
assert_eq 404 "$(curl -s -o /dev/null -w '%{http_code}' "http://$addr/nope")" "unknown path"

step "a backup counts the bytes it read and uploaded; the last tick's failure ratio is a gauge"
make_workspace mx 2000
"$SV_BIN" backup mx >/dev/null
redis_cli SET "$SQLVAULT_REDIS_PREFIX:metrics:last_tick_failure_ratio" 0.02 >/dev/null
m=$(curl -fsS "http://$addr/metrics")
size=$(stat -c %s "$SQLVAULT_DATA_DIR/mx/livestore.db")
read_bytes=$(sed -n 's/^sqlvault_bytes_total{direction="read"} //p' <<<"$m")
up_bytes=$(sed -n 's/^sqlvault_bytes_total{direction="uploaded"} //p' <<<"$m")
assert_eq "$size" "$read_bytes" "bytes read = the database's size"
assert_ge "$up_bytes" 1 "bytes uploaded"
assert_le "$up_bytes" "$size" "bytes uploaded (compressed)"
assert_contains "$m" 'sqlvault_backup_failure_ratio_last_tick 0.02' "/metrics last tick failure ratio"

step "/readyz says 503 while Redis is down, and the worker keeps serving /healthz"
redis_private_stop
assert_eq 503 "$(curl -s -o /dev/null -w '%{http_code}' "http://$addr/readyz")" "/readyz without redis"
assert_eq ok "$(curl -fsS "http://$addr/healthz")" "/healthz without redis"
redis_private_restart
wait_for --timeout 20 bash -c "[[ \"\$(curl -fsS 'http://$addr/readyz')\" == ready ]]"
note "ok: ready again after redis came back"
sv_pass
