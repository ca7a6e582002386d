#!/usr/bin/env bash
# cluster_failover.sh -- kill -9 of a pool's master mid-run on a Redis
# Cluster (3 masters + 3 replicas): the replica takes over, the worker
# follows it, the pool's running and queued jobs finish, new enqueues
# succeed, and every job whose enqueue had returned (CLI enqueues wait for a
# replica's ack, SQLVAULT_REDIS_WAIT) is still there and finishes.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/cluster_lib.sh"
sv_setup
sv_use_file_store
cl_setup
export SQLVAULT_LOG_FORMAT=text SQLVAULT_TEST_JOBS=1 SQLVAULT_LEASE=3s SQLVAULT_RETRY_BASE=200ms SQLVAULT_REDIS_WAIT=2s
for i in 1 2 3 4 5 6; do make_workspace "ws-$i" 100; done
P="$POOL_B"
M=$(cluster_master_of "$(cl_base "$P")")
R=$(cluster_replica_of "$M")
note "pool $P: master $M, replica $R"

step "40 queued jobs in pool $P, a worker serving it and $POOL_A"
"$SV_BIN" stats >/dev/null # loads the function library on every master
for i in $(seq 1 40); do
  [[ "$(cl_enqueue "$P" "fo-$i" sleep "ws-$(( (i % 6) + 1 ))" '{"ms": 250}')" == 1 ]] || fail "enqueue fo-$i"
done
# the queued jobs are on the replica before the kill (redis-cli does not WAIT)
wait_for --timeout 20 bash -c "printf 'READONLY\nHGET %s state\n' '$(cl_base "$P")job:fo-40' | redis-cli -p $R | grep -q queued"
"$SV_BIN" worker --pools "$POOL_A,$P" --threads 3 >"$SV_SCRATCH/w.log" 2>&1 &
WPID=$!
SV_CLEANUP_PIDS+=("$WPID")

step "CLI enqueues keep coming while the master dies"
(
  for i in $(seq 1 60); do
    if id=$("$SV_BIN" backup "ws-$(( (i % 6) + 1 ))" --pool "$P" --no-wait 2>>"$SV_SCRATCH/enq.err"); then
      echo "$id" >>"$SV_SCRATCH/acked"
      date +%s%3N >>"$SV_SCRATCH/acked_at"
    else
      echo "enqueue $i: exit $?" >>"$SV_SCRATCH/enq.err"
    fi
    sleep 0.1
  done
) &
ENQ=$!
wait_for --timeout 30 bash -c "(( \$(redis-cli -c -p ${CL_PORTS[0]} HGET '$(cl_base "$P")stats' succeeded || echo 0) >= 6 ))"
before=$(wc -l <"$SV_SCRATCH/acked")
killed_at=$(date +%s%3N)
cluster_kill "$M"
note "killed master $M (kill -9) with $before CLI enqueues acknowledged"
wait_for --timeout 60 bash -c "redis-cli -p $R ROLE | head -1 | grep -q master"
note "replica $R is the master now"
cluster_wait_ok 60 || fail "the cluster did not settle after the failover"
wait "$ENQ" || true
acked=$(wc -l <"$SV_SCRATCH/acked")
note "$acked CLI enqueues returned, $(grep -c exit "$SV_SCRATCH/enq.err" || true) refused while the master was gone"
((acked > before)) || fail "no enqueue succeeded after the failover"
back=$(awk -v k="$killed_at" '$1 > k { print $1 - k; exit }' "$SV_SCRATCH/acked_at")
note "the first enqueue after the kill returned $back ms after it (node timeout ${CL_NODE_TIMEOUT_MS} ms + election)"
assert_le "$back" 20000 "ms from the kill to the next acknowledged enqueue"

step "every queued job and every acknowledged enqueue finishes"
for i in $(seq 1 40); do
  wait_for --timeout 90 bash -c "[[ \$(redis-cli -c -p $R HGET '$(cl_base "$P")job:fo-$i' state) == succeeded ]]"
done
note "ok: the 40 queued jobs succeeded"
lost=0
while read -r id; do
  st=$(redis-cli -c -p "$R" HGET "$(cl_base "$P")job:$id" state)
  [[ -n "$st" ]] || { lost=$((lost + 1)); note "LOST: $id"; continue; }
  wait_for --timeout 90 bash -c "[[ \$(redis-cli -c -p $R HGET '$(cl_base "$P")job:$id' state) == succeeded ]]"
done <"$SV_SCRATCH/acked"
assert_eq 0 "$lost" "acknowledged enqueues lost"

step "a new enqueue after the failover succeeds, and the worker is still up"
out=$("$SV_BIN" backup ws-1 --pool "$P" --json) || fail "backup after the failover failed: $out"
assert_eq succeeded "$(jq -r .state <<<"$out")" "backup after the failover"
kill -0 "$WPID" || fail "the worker exited"
assert_contains "$(cat "$SV_SCRATCH/w.log")" "reconnected to redis" "worker log"
sv_pass
