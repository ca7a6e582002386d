#!/usr/bin/env bash
# The scheduler against real Redis and workers: 20 workspaces in the data dir,
# one tick, 20 backups; the same tick again, and a tick run by two schedulers
# at once, still one backup per workspace and tick; discovery unions the data
# dir, SQLVAULT_WORKSPACES and the Redis set, skipping invalid ids.
source "$(dirname "$0")/lib.sh"
sv_setup
sv_use_file_store
STORE_DIR="${SQLVAULT_STORE#file://}"
export SQLVAULT_LOG_FORMAT=text

# pin the clock 1 s past a minute, so each step's --once lands in a known minute
MIN=60000
T1=$((($(date +%s) * 1000 / MIN + 10) * MIN))
T2=$((T1 + 7 * MIN))

# backups_of_tick MS: committed backups of tick MS (metadata.json's tickTime;
# the folder is the snapshot's time, after the tick), over all workspaces.
backups_of_tick() {
  python3 - "$1" "$STORE_DIR/full" <<'PY'
import datetime, glob, json, os, sys
ms, root = int(sys.argv[1]), sys.argv[2]
iso = datetime.datetime.fromtimestamp(ms // 1000, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S") + ".%03dZ" % (ms % 1000)
n = 0
for p in glob.glob(os.path.join(root, "*", "*", "metadata.json")):
    m = json.load(open(p))
    if m.get("tickTime") == iso:
        n += 1
print(n)
PY
}
# json_field JSON PATH...: prints a field of a JSON object (nested keys).
json_field() {
  python3 -c 'import json,sys; v=json.loads(sys.argv[1])
for k in sys.argv[2:]: v=v[k]
print(v)' "$@"
}

step "20 workspaces, one tick with workers: 20 backups"
for i in $(seq -w 1 20); do make_workspace "ws$i" 20; done
sv_bg "$SV_BIN" worker --threads 4
out="$(SQLVAULT_FAKE_NOW=$((T1 + 1000)) "$SV_BIN" scheduler --once --wait --timeout 120 --json)" ||
  fail "tick failed: $out"
note "$out"
assert_eq 20 "$(json_field "$out" workspaces)" "workspaces discovered"
assert_eq 20 "$(json_field "$out" backups)" "backups in the tick"
assert_eq 20 "$(json_field "$out" results backup succeeded)" "backups succeeded"
assert_eq False "$(json_field "$out" alert)" "alert"
assert_eq 20 "$(backups_of_tick "$T1")" "backup folders of the tick"
assert_eq 20 "$(find "$STORE_DIR/full" -name metadata.json | wc -l)" "committed backups"

step "the same tick again: nothing new"
out="$(SQLVAULT_FAKE_NOW=$((T1 + 2000)) "$SV_BIN" scheduler --once --wait --timeout 120 --json)" ||
  fail "second run failed: $out"
assert_eq 0 "$(json_field "$out" enqueued)" "jobs enqueued by the repeat"
assert_eq 20 "$(find "$STORE_DIR/full" -name metadata.json | wc -l)" "committed backups"

step "two schedulers run one tick at once: each job once, one backup per workspace"
SQLVAULT_FAKE_NOW=$((T2 + 1000)) "$SV_BIN" scheduler --once --json >"$SV_SCRATCH/a.json" &
pa=$!
SQLVAULT_FAKE_NOW=$((T2 + 1000)) "$SV_BIN" scheduler --once --json >"$SV_SCRATCH/b.json" &
pb=$!
wait "$pa" || fail "scheduler a failed"
wait "$pb" || fail "scheduler b failed"
a="$(cat "$SV_SCRATCH/a.json")"
b="$(cat "$SV_SCRATCH/b.json")"
jobs=$(json_field "$a" backups)
jobs=$((jobs + $(json_field "$a" prunes) + $(json_field "$a" verifies)))
assert_eq "$jobs" $(($(json_field "$a" enqueued) + $(json_field "$b" enqueued))) "jobs enqueued by both together"
out="$(SQLVAULT_FAKE_NOW=$((T2 + 3000)) "$SV_BIN" scheduler --once --wait --timeout 120 --json)" ||
  fail "waiting for the tick failed: $out"
assert_eq 0 "$(json_field "$out" enqueued)" "jobs enqueued by a third run"
assert_eq 20 "$(json_field "$out" results backup succeeded)" "backups succeeded"
assert_eq 20 "$(backups_of_tick "$T2")" "backup folders of the second tick"
assert_eq 40 "$(find "$STORE_DIR/full" -name metadata.json | wc -l)" "committed backups (2 ticks x 20)"

step "discovery: data dir + SQLVAULT_WORKSPACES + the Redis set, invalid ids skipped"
export SQLVAULT_REDIS_PREFIX="$SQLVAULT_REDIS_PREFIX-disc"
redis_cli SADD "$SQLVAULT_REDIS_PREFIX:workspaces" from-set ws01 'bad id' '../etc' >/dev/null
out="$(SQLVAULT_WORKSPACES="static-a,static-b,ws02" "$SV_BIN" scheduler --once --json 2>"$SV_SCRATCH/disc.err")" ||
  fail "discovery tick failed: $out"
assert_eq 23 "$(json_field "$out" workspaces)" "workspaces (20 + from-set + static-a + static-b)"
assert_contains "$(cat "$SV_SCRATCH/disc.err")" "skipping 'bad id'" "invalid id skipped"
assert_eq 1 "$(redis_cli --scan --pattern "$SQLVAULT_REDIS_PREFIX:{default}:job:sched-from-set-*" | wc -l)" \
  "backup job of the workspace from the set"
sv_pass
