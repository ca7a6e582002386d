#!/usr/bin/env bash
# cluster_dirty.sh -- the dirty set on a Redis Cluster with a pool set
# (SQLVAULT_POOL=A,B,C, the three pools on three masters): `sqlvault dirty`
# marks each workspace in its own pool's dirty set (the pool's slot); one
# drain (SQLVAULT_FAKE_NOW) takes every pool's due marks and enqueues each
# backup in its workspace's pool; a worker serving the three runs them and
# the pending-job records go; then the scheduler loop (its lead keys on yet
# another slot) drains fresh marks on all three masters by itself.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/cluster_lib.sh"
source "$(dirname "$0")/poolset_lib.sh"
sv_setup
sv_use_file_store
cl_setup
export SQLVAULT_LOG_FORMAT=text SQLVAULT_SCHEDULE='0 */6 * * *' SQLVAULT_LEASE=2s SQLVAULT_INCREMENTAL_EVERY=2s
SET="$POOL_A,$POOL_B,$POOL_C"
export SQLVAULT_POOL="$SET"
P="$SQLVAULT_REDIS_PREFIX"
T=1900000000000

step "two workspaces in each pool of $SET"
wss=()
declare -A per=()
for i in $(seq 1 60); do
  ws="cdw-$i"
  p=$(ps_pool_of "$SET" "$ws")
  ((${per[$p]:-0} < 2)) || continue
  per[$p]=$((${per[$p]:-0} + 1))
  make_workspace "$ws" 5
  wss+=("$ws")
done
assert_eq 6 "${#wss[@]}" "workspaces"
cl_cli SET "$P:{sched}:last_tick" 9999999999999 >/dev/null # no cron tick

step "sqlvault dirty marks each workspace in its own pool's dirty set"
assert_eq "6 marked, 0 already waiting" "$(SQLVAULT_FAKE_NOW=$T "$SV_BIN" dirty "${wss[@]}")"
for ws in "${wss[@]}"; do
  p=$(ps_pool_of "$SET" "$ws")
  # the fake clock starts at T and runs on with the wall clock: a loaded
  # machine may be a millisecond or more past T when the mark is taken
  score=$(cl_cli ZSCORE "$(cl_base "$p")dirty" "$ws")
  [[ $score =~ ^[0-9]+$ ]] && (( score >= T && score < T + 5000 )) \
    || fail "$ws in pool $p's dirty set: score '$score', want T..T+5s (T=$T)"
done

step "one drain at mark + 1000 ms takes every pool's marks; each backup is in its workspace's pool"
out=$(SQLVAULT_FAKE_NOW=$((T + 1000)) "$SV_BIN" scheduler --drain --json)
note "$out"
assert_eq 6 "$(jq .taken <<<"$out")" "taken"
assert_eq 6 "$(jq .enqueued <<<"$out")" "enqueued"
for ws in "${wss[@]}"; do
  p=$(ps_pool_of "$SET" "$ws")
  assert_eq queued "$(cl_state "$p" "dirty-$ws-$((T + 1000))")" "state of $ws's backup in pool $p"
  assert_eq dirty "$(cl_cli HGET "$(cl_base "$p")job:dirty-$ws-$((T + 1000))" reason)" "reason"
done

step "a worker serving the three pools runs them; the pending-job records go"
sv_bg "$SV_BIN" worker --pools "$SET" --threads 2
for ws in "${wss[@]}"; do
  p=$(ps_pool_of "$SET" "$ws")
  wait_for --timeout 60 bash -c "[[ \$(redis-cli -c -p ${CL_PORTS[0]} HGET '$(cl_base "$p")job:dirty-$ws-$((T + 1000))' state) == succeeded ]]"
  assert_eq 0 "$(cl_cli HEXISTS "$(cl_base "$p")dirtyjobs" "$ws")" "$ws's pending record"
done

step "the scheduler loop drains fresh marks on all three masters by itself"
sv_bg "$SV_BIN" scheduler 2>"$SV_SCRATCH/sched.log"
"$SV_BIN" dirty "${wss[@]}" >/dev/null
for ws in "${wss[@]}"; do
  p=$(ps_pool_of "$SET" "$ws")
  wait_for --timeout 30 bash -c "[[ \$(redis-cli -c -p ${CL_PORTS[0]} ZCARD '$(cl_base "$p")dirty') == 0 ]]"
done
for ws in "${wss[@]}"; do
  wait_for --timeout 60 bash -c "[[ \$(\"$SV_BIN\" list $ws --json | jq length) == 2 ]]"
done
note "every workspace has its second backup"
sv_pass
