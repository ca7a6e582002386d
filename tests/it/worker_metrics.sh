#!/usr/bin/env bash
# worker_metrics.sh -- the worker's SQLVAULT_METRICS_ADDR endpoint
# (libmicrohttpd): /metrics before and after a job of every type (each
# type's counter moves, bytes and sizes too), `promtool check metrics`
# silent on both, slow clients holding connections do not delay /healthz,
# and /readyz goes 503 within seconds of Redis stopping and 200 once back.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/queue_lib.sh"
source "$(dirname "$0")/ops_lib.sh"
sv_setup
redis_private_start
export SQLVAULT_REDIS_URL="$SV_PRIVATE_REDIS_URL"
export SQLVAULT_TEST_JOBS=1 SQLVAULT_LEASE=3s SQLVAULT_LOG_FORMAT=text
command -v promtool >/dev/null || fail "promtool is missing (scripts/install-deps.sh installs prometheus)"
port=$(free_port)
addr="127.0.0.1:$port"
ws=mx
make_workspace "$ws" 3000

step "before any job: every known type's counters are there at zero, and promtool is silent"
start_worker w1 --threads 2 --metrics-addr "$addr"
wait_for --timeout 10 curl -fsS "http://$addr/healthz"
before=$(scrape "$addr")
for t in backup export restore verify prune import-url; do
  assert_eq 0 "$(metric_value "$before" "sqlvault_jobs_total{type=\"$t\",outcome=\"succeeded\"}")" "$t before"
done
lint=$(promtool check metrics <<<"$before" 2>&1) || fail "promtool check metrics failed: $lint"
assert_eq "" "$lint" "promtool check metrics on the first scrape"

step "one job of every type through the queue: its counter moves"
"$SV_BIN" backup "$ws" >/dev/null
"$SV_BIN" export "$ws" >/dev/null
"$SV_BIN" verify "$ws" >/dev/null
"$SV_BIN" import-url "$ws" >/dev/null
"$SV_BIN" restore "$ws" --from latest --yes >/dev/null
"$SV_BIN" prune "$ws" >/dev/null
for t in backup export restore verify prune import-url; do
  wait_metric "$addr" "sqlvault_jobs_total{type=\"$t\",outcome=\"succeeded\"}" -ge 1 10
  note "ok: sqlvault_jobs_total{type=\"$t\",outcome=\"succeeded\"} moved"
done
qpy bulk m 3 sleep '' interactive 3 '{"ms": 20}' >/dev/null
qpy bulk q 2 sleep '' scheduled 3 '{"ms": 20}' >/dev/null
wait_metric "$addr" 'sqlvault_jobs_total{type="sleep",outcome="succeeded"}' -eq 5 20
wait_metric "$addr" 'sqlvault_workers_alive{pool="default"}' -eq 1 10
wait_metric "$addr" 'sqlvault_verified_backup_age_seconds_count' -eq 1 30
after=$(scrape "$addr")
lint=$(promtool check metrics <<<"$after" 2>&1) || fail "promtool check metrics failed: $lint"
assert_eq "" "$lint" "promtool check metrics after jobs of every type"
assert_contains "$after" 'sqlvault_job_duration_seconds_count{type="sleep"} 5' "duration histogram"
assert_contains "$after" 'sqlvault_queue_depth{pool="default",priority="scheduled"} 0' "queue depth"
assert_contains "$after" 'sqlvault_worker_threads 2' "threads"
assert_contains "$after" 'sqlvault_last_success_timestamp_seconds{type="backup"}' "last success"
assert_contains "$after" 'sqlvault_verified_backup_age_seconds{quantile="1"}' "verified age summary"
assert_ge "$(metric_value "$after" 'sqlvault_backup_compressed_bytes_count')" 2 "backup sizes (backup, export, pre-restore)"
for d in read uploaded downloaded; do
  assert_ge "$(metric_value "$after" "sqlvault_bytes_total{direction=\"$d\"}")" 1 "bytes $d"
done
if grep -q 'workspace=\|ws=' <<<"$after"; then fail "a metric carries a per-workspace label"; fi
assert_eq 1 "$(metric_value "$after" 'sqlvault_dependency_up{dependency="store"}')" "store up"
assert_eq 404 "$(http_code "http://$addr/nope")" "unknown path"
assert_eq 405 "$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://$addr/metrics")" "POST refused"

step "the last tick's failure ratio is a gauge"
redis_cli SET "$SQLVAULT_REDIS_PREFIX:metrics:last_tick_failure_ratio" 0.02 >/dev/null
wait_metric "$addr" 'sqlvault_backup_failure_ratio_last_tick' -ge 0 10
wait_for --timeout 10 bash -c "curl -fsS 'http://$addr/metrics' | grep -qx 'sqlvault_backup_failure_ratio_last_tick 0.02'"
note "ok: sqlvault_backup_failure_ratio_last_tick 0.02"

step "slow clients holding connections open do not delay /healthz"
python3 - "$port" >"$SV_SCRATCH/slow.log" 2>&1 <<'PY' &
import socket, sys, time
socks = []
for i in range(12):
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
    if i % 2: s.sendall(b"GET /metr")      # half a request line, then nothing
    socks.append(s)
print("holding", len(socks), flush=True)
time.sleep(30)
PY
slow_pid=$!
SV_CLEANUP_PIDS+=("$slow_pid")
wait_for --timeout 10 grep -q holding "$SV_SCRATCH/slow.log"
for i in 1 2 3 4 5; do
  t=$(curl -fsS -o /dev/null --max-time 5 -w '%{time_total}' "http://$addr/healthz") || fail "/healthz failed with slow clients connected"
  ms=$(python3 -c "print(int(float('$t')*1000))")
  assert_le "$ms" 500 "/healthz time (ms) with 12 slow connections open"
done
t=$(curl -fsS -o /dev/null --max-time 5 -w '%{time_total}' "http://$addr/metrics") || fail "/metrics failed with slow clients"
note "ok: /healthz under 500 ms five times, /metrics in ${t}s, with 12 slow connections held"
kill "$slow_pid" 2>/dev/null || true

step "/readyz says 503 within seconds of Redis stopping, 200 when it is back; /healthz stays 200"
assert_eq ready "$(curl -fsS "http://$addr/readyz")" "/readyz"
redis_private_stop
t0=$SECONDS
wait_for --timeout 10 bash -c "[[ \$(curl -s -o /dev/null --max-time 2 -w '%{http_code}' 'http://$addr/readyz') == 503 ]]"
note "ok: 503 after $((SECONDS - t0)) s: $(curl -s "http://$addr/readyz")"
assert_eq ok "$(curl -fsS "http://$addr/healthz")" "/healthz without redis"
t=$(curl -s -o /dev/null --max-time 5 -w '%{time_total}' "http://$addr/readyz")
assert_le "$(python3 -c "print(int(float('$t')*1000))")" 500 "/readyz answers at once without redis (ms)"
redis_private_restart
t0=$SECONDS
wait_for --timeout 20 bash -c "[[ \"\$(curl -fsS 'http://$addr/readyz')\" == ready ]]"
note "ok: ready again $((SECONDS - t0)) s after redis came back"
sv_pass
