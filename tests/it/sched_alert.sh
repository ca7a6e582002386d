#!/usr/bin/env bash
# The failure alert: a tick of 100 workspaces where 2 backups fail (their
# livestore.db is not SQLite) logs an error, puts an `alert` event on the
# events stream and sets the failure-ratio metric; a tick where none fails
# (0 of 100) does not alert.
source "$(dirname "$0")/lib.sh"
sv_setup
sv_use_file_store
export SQLVAULT_LOG_FORMAT=text
BASE_PREFIX="$SQLVAULT_REDIS_PREFIX"

json_field() {
  python3 -c 'import json,sys; v=json.loads(sys.argv[1])
for k in sys.argv[2:]: v=v[k]
print(v)' "$@"
}
# alerts: alert entries on the pool's events stream.
alerts() { redis_cli XRANGE "$SQLVAULT_REDIS_PREFIX:{default}:events" - + | grep -c '^alert$' || true; }

# seed N good workspaces, then BAD broken ones, in data dir DIR
seed() {
  local dir="$1" good="$2" bad="$3" i
  export SQLVAULT_DATA_DIR="$dir"
  make_db "$dir/ws000/livestore.db" 5
  for i in $(seq -w 1 $((good - 1))); do
    mkdir -p "$dir/ws$i"
    cp "$dir/ws000/livestore.db" "$dir/ws$i/livestore.db"
  done
  for i in $(seq 1 "$bad"); do
    mkdir -p "$dir/broken$i"
    head -c 8192 /dev/urandom >"$dir/broken$i/livestore.db"
  done
}

step "0 of 100 backups fail: no alert"
seed "$SV_SCRATCH/data-ok" 100 0
export SQLVAULT_REDIS_PREFIX="$BASE_PREFIX-ok"
sv_bg "$SV_BIN" worker --threads 4
w1=$SV_BG_PID
out="$("$SV_BIN" scheduler --once --wait --timeout 180 --json 2>"$SV_SCRATCH/ok.err")" || fail "tick failed: $out"
assert_eq 100 "$(json_field "$out" results backup succeeded)" "backups succeeded"
assert_eq False "$(json_field "$out" alert)" "alert"
assert_eq 0 "$(alerts)" "alert events"
assert_eq 0.000000 "$(redis_cli GET "$SQLVAULT_REDIS_PREFIX:metrics:last_tick_failure_ratio")" "failure ratio metric"
kill -TERM "$w1"
wait_for --timeout 40 bash -c "! kill -0 $w1 2>/dev/null"

step "2 of 100 backups fail: error logged, alert event, metric set"
seed "$SV_SCRATCH/data-bad" 98 2
export SQLVAULT_REDIS_PREFIX="$BASE_PREFIX-bad"
sv_bg "$SV_BIN" worker --threads 4
rc=0
out="$("$SV_BIN" scheduler --once --wait --timeout 180 --json 2>"$SV_SCRATCH/bad.err")" || rc=$?
assert_eq 1 "$rc" "exit status when backups failed"
assert_eq 98 "$(json_field "$out" results backup succeeded)" "backups succeeded"
assert_eq 2 "$(json_field "$out" results backup failed)" "backups failed"
assert_eq True "$(json_field "$out" alert)" "alert"
assert_eq 1 "$(alerts)" "alert events"
assert_eq 0.020000 "$(redis_cli GET "$SQLVAULT_REDIS_PREFIX:metrics:last_tick_failure_ratio")" "failure ratio metric"
assert_contains "$(cat "$SV_SCRATCH/bad.err")" "ALERT: 2 of 100 backups" "error log"
assert_eq 1 "$(redis_cli HGET "$SQLVAULT_REDIS_PREFIX:{sched}:last_result" alert)" "last result records the alert"
sv_pass
