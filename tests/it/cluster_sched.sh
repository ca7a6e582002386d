#!/usr/bin/env bash
# cluster_sched.sh -- the scheduler on a Redis Cluster: its lead keys
# (PREFIX:{sched}:...) and the pool it enqueues into live on different
# masters; two schedulers, one leads (fenced lease) and runs the due tick
# once, kill -9 of the leader hands the lead over within the lease, a worker
# runs the tick's backups, and `sqlvault stats` sums the pools' counters
# across the masters.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/cluster_lib.sh"
sv_setup
sv_use_file_store
cl_setup
export SQLVAULT_LOG_FORMAT=text SQLVAULT_SCHEDULE='0 */6 * * *' SQLVAULT_LEASE=2s
for ws in alpha beta gamma; do make_workspace "$ws" 5; done
P="$SQLVAULT_REDIS_PREFIX"
# a pool on a master other than {sched}'s
SCHED_M=$(cluster_master_of "$P:{sched}:leader")
for pool in "$POOL_A" "$POOL_B" "$POOL_C"; do
  [[ "$(cluster_master_of "$(cl_base "$pool")")" != "$SCHED_M" ]] && { export SQLVAULT_POOL="$pool"; break; }
done
note "lead keys on master $SCHED_M, pool $SQLVAULT_POOL on $(cluster_master_of "$(cl_base "$SQLVAULT_POOL")")"
leader_pid() { cl_cli GET "$P:{sched}:leader" | cut -d: -f2; }
has_leader() { [[ -n "$(leader_pid)" ]]; }
leader_is() { [[ "$(leader_pid)" == "$1" ]]; }
tick_jobs() { cl_cli -p "$(cluster_master_of "$(cl_base "$SQLVAULT_POOL")")" --scan --pattern "$(cl_base "$SQLVAULT_POOL")job:sched-*" | wc -l; }

step "two schedulers: one leads and enqueues the due tick once, into a pool on another master"
export SQLVAULT_FAKE_NOW=2030-01-01T06:10:00.000Z
sv_bg "$SV_BIN" scheduler 2>"$SV_SCRATCH/a.log"
pa=$SV_BG_PID
sv_bg "$SV_BIN" scheduler 2>"$SV_SCRATCH/b.log"
pb=$SV_BG_PID
wait_for --timeout 15 has_leader
wait_for --timeout 15 bash -c "[[ -n \"\$(redis-cli -c -p ${CL_PORTS[0]} GET '$P:{sched}:last_tick')\" ]]"
first=$(leader_pid)
[[ "$first" == "$pa" || "$first" == "$pb" ]] || fail "leader pid $first is neither $pa nor $pb"
assert_eq 3 "$(tick_jobs)" "backup jobs of the 06:00 tick"

step "kill -9 the leader: the other leads within the lease"
other=$([[ "$first" == "$pa" ]] && echo "$pb" || echo "$pa")
kill -KILL "$first"
wait_for --timeout 8 leader_is "$other"
assert_eq 2 "$(cl_cli GET "$P:{sched}:fence")" "fencing token after two leaders"
assert_eq 3 "$(tick_jobs)" "backup jobs (the tick was not run again)"

step "a worker runs the tick's backups; stats sums the pools across the masters"
unset SQLVAULT_FAKE_NOW
sv_bg "$SV_BIN" worker --pools "$POOL_A,$POOL_B,$POOL_C" --threads 2
for ws in alpha beta gamma; do
  wait_for --timeout 60 bash -c "[[ \$(redis-cli -c -p ${CL_PORTS[0]} HGET '$(cl_base "$SQLVAULT_POOL")job:sched-$ws-20300101T0600Z' state) == succeeded ]]"
done
note "ok: the tick's three backups succeeded"
wait_for --timeout 60 bash -c "st=\$('$SV_BIN' stats --pools '$POOL_A,$POOL_B,$POOL_C' --json); [[ \$(jq .enqueued <<<\"\$st\") == \$(jq .succeeded <<<\"\$st\") ]]"
st=$("$SV_BIN" stats --pools "$POOL_A,$POOL_B,$POOL_C" --json)
assert_ge "$(jq .succeeded <<<"$st")" 3 "succeeded over the pools (backups, and the prunes the tick adds)"
assert_eq "$(jq '[.pools[].enqueued] | add' <<<"$st")" "$(jq .enqueued <<<"$st")" "stats --json sums the pools"
sv_pass
