#!/usr/bin/env bash
# ops_alerts.sh -- alerts end to end: Debian's Prometheus scrapes a worker's
# /metrics every second and evaluates docker/prometheus/rules.yml (a copy
# with `for: 0s`, since the test cannot wait minutes) while a scheduler tick
# of 100 workspaces has 2 backups fail. The failure-ratio and failure-rate
# alerts fire; SQLVAULT_ALERT_WEBHOOK's receiver gets exactly one POST with
# the tick's figures; a receiver that answers 503 first gets the alert on a
# retry. The rules themselves pass `promtool check rules` and their unit
# tests (`promtool test rules`).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/ops_lib.sh"
sv_setup
sv_use_file_store
redis_private_start
export SQLVAULT_REDIS_URL="$SV_PRIVATE_REDIS_URL"
export SQLVAULT_LOG_FORMAT=text SQLVAULT_MAX_ATTEMPTS=1
command -v prometheus >/dev/null || fail "prometheus is missing (scripts/install-deps.sh installs it)"
RULES="$SV_SOURCE_DIR/docker/prometheus"

step "promtool accepts the rules and their unit tests pass"
out=$(promtool check rules "$RULES/rules.yml" 2>&1) || fail "promtool check rules: $out"
note "$(tail -1 <<<"$out")"
out=$(cd "$RULES" && promtool test rules rules_test.yml 2>&1) || fail "promtool test rules: $out"
assert_contains "$out" SUCCESS "promtool test rules"

step "a webhook receiver, a worker with /metrics, and Prometheus scraping it every second"
python3 "$SV_SOURCE_DIR/tests/tools/webhook_receiver.py" "$SV_SCRATCH/hook.port" "$SV_SCRATCH/hook.log" &
SV_CLEANUP_PIDS+=($!)
wait_for --timeout 10 test -s "$SV_SCRATCH/hook.port"
export SQLVAULT_ALERT_WEBHOOK="http://127.0.0.1:$(cat "$SV_SCRATCH/hook.port")/hooks/T0SECRET/B0SECRET"
maddr="127.0.0.1:$(free_port)"
SQLVAULT_DATA_DIR="$SV_SCRATCH/data" "$SV_BIN" worker --threads 4 --metrics-addr "$maddr" >"$SV_SCRATCH/worker.log" 2>&1 &
SV_CLEANUP_PIDS+=($!)
wait_for --timeout 10 curl -fsS "http://$maddr/healthz"
mkdir -p "$SV_SCRATCH/prom"
sed 's/^\(\s*\)for: .*/\1for: 0s/' "$RULES/rules.yml" >"$SV_SCRATCH/prom/rules.yml"
cat >"$SV_SCRATCH/prom/prometheus.yml" <<EOC
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: [rules.yml]
scrape_configs:
  - job_name: sqlvault
    static_configs: [{targets: ["$maddr"]}]
EOC
paddr="127.0.0.1:$(free_port)"
prometheus --config.file="$SV_SCRATCH/prom/prometheus.yml" --storage.tsdb.path="$SV_SCRATCH/prom/data" \
  --web.listen-address="$paddr" >"$SV_SCRATCH/prom/prometheus.log" 2>&1 &
SV_CLEANUP_PIDS+=($!)
wait_for --timeout 60 curl -fsS "http://$paddr/-/ready"
# alerts_firing: names of the firing alerts, one a line.
alerts_firing() {
  curl -fsS "http://$paddr/api/v1/alerts" |
    python3 -c 'import json,sys; [print(a["labels"]["alertname"]) for a in json.load(sys.stdin)["data"]["alerts"] if a["state"]=="firing"]'
}
wait_for --timeout 30 bash -c "curl -fsS 'http://$paddr/api/v1/targets' | grep -q '\"health\":\"up\"'"
note "ok: prometheus at $paddr scrapes $maddr"
sleep_until_scraped() { wait_for --timeout 20 bash -c "curl -fsS 'http://$paddr/api/v1/query?query=sqlvault_jobs_total' | grep -q '\"backup\"'"; }
sleep_until_scraped
assert_eq "" "$(alerts_firing | grep Failure || true)" "no failure alert before the tick"

step "a tick of 100 workspaces where 2 backups fail"
d="$SV_SCRATCH/data"
make_db "$d/ws000/livestore.db" 5
for i in $(seq -w 1 97); do mkdir -p "$d/ws$i" && cp "$d/ws000/livestore.db" "$d/ws$i/livestore.db"; done
for i in 1 2; do mkdir -p "$d/broken$i" && head -c 8192 /dev/urandom >"$d/broken$i/livestore.db"; done
rc=0
t0=$SECONDS
SQLVAULT_DATA_DIR="$d" "$SV_BIN" scheduler --once --wait --timeout 180 --json >"$SV_SCRATCH/tick.json" 2>"$SV_SCRATCH/tick.err" || rc=$?
assert_eq 1 "$rc" "the tick failed"
assert_contains "$(cat "$SV_SCRATCH/tick.json")" '"alert":true' "tick summary"
note "tick took $((SECONDS - t0)) s"

step "Prometheus's failure alerts fire"
wait_for --timeout 30 bash -c "curl -fsS 'http://$paddr/api/v1/alerts' | grep -q '\"alertname\":\"SqlvaultBackupFailureRatio\".*\"state\":\"firing\"\|\"state\":\"firing\".*\"alertname\":\"SqlvaultBackupFailureRatio\"'"
wait_for --timeout 30 bash -c "curl -fsS 'http://$paddr/api/v1/alerts' | grep -q 'SqlvaultBackupFailureRate'"
firing=$(alerts_firing | sort | tr '\n' ' ')
assert_contains "$firing" SqlvaultBackupFailureRatio "firing alerts"
note "ok: firing: $firing"
m=$(scrape "$maddr")
assert_eq 2 "$(metric_value "$m" 'sqlvault_jobs_total{type="backup",outcome="failed"}')" "failed backups counted"
assert_eq 98 "$(metric_value "$m" 'sqlvault_jobs_total{type="backup",outcome="succeeded"}')" "succeeded backups counted"

step "the webhook receiver got exactly one POST, with the tick's figures"
wait_for --timeout 30 test -s "$SV_SCRATCH/hook.log"
sleep 3 # a second POST would come within the sender's first backoff
assert_eq 1 "$(wc -l <"$SV_SCRATCH/hook.log")" "POSTs received"
body=$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["body"])' "$SV_SCRATCH/hook.log")
note "body: $body"
for kv in '"alert":"backup_failure_ratio"' '"failed":2' '"total":100' '"status":"firing"' '"text":"sqlvault'; do
  assert_contains "$body" "$kv" "webhook body"
done
assert_contains "$(head -1 "$SV_SCRATCH/hook.log")" 'application/json' "content type"
if grep -q 'T0SECRET\|B0SECRET' "$SV_SCRATCH/tick.err" "$SV_SCRATCH/worker.log"; then
  fail "the webhook URL's secret path appears in a log"
fi
assert_contains "$(cat "$SV_SCRATCH/tick.err")" "alert webhook delivered to http://127.0.0.1" "delivery logged by origin only"

step "a receiver answering 503 first gets the alert on a retry; slack and sentry bodies"
python3 "$SV_SOURCE_DIR/tests/tools/webhook_receiver.py" "$SV_SCRATCH/hook2.port" "$SV_SCRATCH/hook2.log" 1 &
SV_CLEANUP_PIDS+=($!)
wait_for --timeout 10 test -s "$SV_SCRATCH/hook2.port"
SQLVAULT_ALERT_WEBHOOK="http://127.0.0.1:$(cat "$SV_SCRATCH/hook2.port")/api/1/store/?sentry_key=K0SECRET&sentry_version=7" \
  SQLVAULT_ALERT_FORMAT=sentry SQLVAULT_DATA_DIR="$d" \
  "$SV_BIN" scheduler --once --wait --timeout 180 --json >/dev/null 2>"$SV_SCRATCH/tick2.err" || true
assert_eq 2 "$(wc -l <"$SV_SCRATCH/hook2.log")" "POSTs to the failing receiver (503, then 200)"
body=$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readlines()[1])["body"])' "$SV_SCRATCH/hook2.log")
for kv in '"level":"error"' '"event_id":"' '"message":{"formatted":"sqlvault' '"fingerprint":["sqlvault-backup-failure-ratio"]'; do
  assert_contains "$body" "$kv" "sentry body"
done
assert_contains "$(cat "$SV_SCRATCH/tick2.err")" "2 attempt(s)" "delivered on the second attempt"
if grep -q 'K0SECRET' "$SV_SCRATCH/tick2.err"; then fail "the sentry key appears in a log"; fi

step "a receiver that takes 8 s to answer does not hold up the tick, and gets one POST"
python3 "$SV_SOURCE_DIR/tests/tools/webhook_receiver.py" "$SV_SCRATCH/hook3.port" "$SV_SCRATCH/hook3.log" 0 8 &
SV_CLEANUP_PIDS+=($!)
wait_for --timeout 10 test -s "$SV_SCRATCH/hook3.port"
t0=$SECONDS
SQLVAULT_ALERT_WEBHOOK="http://127.0.0.1:$(cat "$SV_SCRATCH/hook3.port")/slow" SQLVAULT_ALERT_FORMAT=slack SQLVAULT_DATA_DIR="$d" \
  "$SV_BIN" scheduler --once --wait --timeout 180 --json >"$SV_SCRATCH/tick3.json" 2>"$SV_SCRATCH/tick3.err" &
sched=$!
SV_CLEANUP_PIDS+=($sched)
wait_for --timeout 10 test -s "$SV_SCRATCH/tick3.json"
assert_contains "$(cat "$SV_SCRATCH/tick3.json")" '"alert":true' "the tick's summary, printed while the webhook is unanswered"
wait_for --timeout 10 test -s "$SV_SCRATCH/hook3.log"
assert_le $((SECONDS - t0)) 6 "seconds until the tick was evaluated"
body=$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["body"])' "$SV_SCRATCH/hook3.log")
assert_eq "text" "$(python3 -c 'import json,sys; print(",".join(json.loads(sys.argv[1])))' "$body")" "slack body has only text"
wait_for --timeout 40 bash -c "! kill -0 $sched 2>/dev/null"
assert_contains "$(cat "$SV_SCRATCH/tick3.err")" "alert webhook delivered" "delivered once the receiver answered (the process waited for it before exiting)"
assert_eq 1 "$(wc -l <"$SV_SCRATCH/hook3.log")" "POSTs to the slow receiver"
sv_pass
