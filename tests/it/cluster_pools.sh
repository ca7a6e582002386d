#!/usr/bin/env bash
# cluster_pools.sh -- sqlvault on a Redis Cluster (3 masters + 3 replicas):
# three pools on three different masters, one worker serving all of them,
# a restore whose pause keys ({WS}) live on another slot than its pool's,
# jobs enqueued through the CLI (SQLVAULT_REDIS_URL a seed list, and a single
# node), through the Node client with an ioredis Cluster client and with a
# plain FCALL (redis-cli -c); all succeed, the library is on every master
# (and back on one that lost it),
# events arrive on a subscriber of another node, and `stats --json` sums the
# pools across shards.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/cluster_lib.sh"
sv_setup
sv_use_file_store
cl_setup
export SQLVAULT_LOG_FORMAT=text SQLVAULT_TEST_JOBS=1 SQLVAULT_LEASE=5s
for i in 1 2 3 4 5 6; do make_workspace "ws-$i" 200; done

step "the worker starts on a seed list and loads the library on every master"
"$SV_BIN" worker --pools "$POOL_A,$POOL_B,$POOL_C" --threads 3 >"$SV_SCRATCH/w.log" 2>&1 &
SV_CLEANUP_PIDS+=($!)
wait_for --timeout 20 grep -q "started" "$SV_SCRATCH/w.log"
for p in "${CL_PORTS[@]}"; do
  role=$(redis-cli -p "$p" ROLE | head -1)
  [[ "$role" == master ]] || continue
  assert_eq "$(sed -n 's/^local VERSION = \([0-9]*\).*/\1/p' "$SV_SOURCE_DIR/src/queue/sqlvault.lua")" \
    "$(redis-cli -p "$p" FCALL_RO sqlvault_version 0)" "library version on master $p"
done

step "events published in a function reach a subscriber on another node (classic PUBLISH)"
other=$(cluster_replica_of "$(cluster_master_of "$(cl_base "$POOL_B")")")
timeout 20 redis-cli -p "$other" SUBSCRIBE "$(cl_base "$POOL_B")events" >"$SV_SCRATCH/sub.log" &
wait_for --timeout 10 grep -q "^subscribe" "$SV_SCRATCH/sub.log"

step "CLI jobs in each pool (seed list, and one node of the cluster as the URL)"
n=0
for pool in "$POOL_A" "$POOL_B" "$POOL_C"; do
  n=$((n + 1))
  out=$("$SV_BIN" backup "ws-$n" --pool "$pool" --json) || fail "backup in pool $pool failed: $out"
  assert_eq succeeded "$(jq -r .state <<<"$out")" "CLI backup of ws-$n in pool $pool"
  assert_eq "$pool" "$(jq -r .pool <<<"$out")" "pool of the job"
done
out=$(SQLVAULT_REDIS_URL="redis://127.0.0.1:${CL_PORTS[4]}" "$SV_BIN" backup ws-4 --pool "$POOL_C" --json) ||
  fail "backup through a replica's address failed: $out"
assert_eq succeeded "$(jq -r .state <<<"$out")" "CLI backup with a single node (a replica) as the URL"
wait_for --timeout 10 grep -q "succeeded" "$SV_SCRATCH/sub.log"
note "subscriber on $other saw: $(grep -c '"event"' "$SV_SCRATCH/sub.log") events"

step "a restore on the cluster: the pause flag, acks and listeners ({WS} slot) beside the pool's slot"
# a listener (played with redis-cli) that is live and acks every pause of ws-2
P="$SQLVAULT_REDIS_PREFIX"
cl_cli ZADD "$P:listeners:{ws-2}" "$(($(date +%s%3N) + 600000))" lst-1 >/dev/null
( for _ in $(seq 1 300); do
    v=$(cl_cli GET "$P:pause:{ws-2}")
    if [[ -n "$v" ]]; then cl_cli SADD "$P:acks:{ws-2}:${v%%:*}" lst-1 >/dev/null; echo "$v" >"$SV_SCRATCH/paused"; break; fi
    sleep 0.1
  done ) &
out=$("$SV_BIN" restore ws-2 --pool "$POOL_B" --from latest --yes --json) || fail "restore on the cluster failed: $out"
assert_eq succeeded "$(jq -r .state <<<"$out")" "restore of ws-2 in pool $POOL_B"
assert_eq true "$(jq -r .result.pause_acked <<<"$out")" "the listener's ack was seen"
assert_eq "" "$(cl_cli GET "$P:pause:{ws-2}")" "pause flag cleared"
[[ -s "$SV_SCRATCH/paused" ]] || fail "the listener never saw the pause flag"
note "pause slot $(cl_cli CLUSTER KEYSLOT "$P:pause:{ws-2}"), pool slot $(cl_cli CLUSTER KEYSLOT "$(cl_base "$POOL_B")")"

step "plain FCALL through redis-cli -c in every pool"
for pool in "$POOL_A" "$POOL_B" "$POOL_C"; do
  for i in 1 2 3 4 5; do
    assert_eq 1 "$(cl_enqueue "$pool" "raw-$i" sleep "ws-$i" '{"ms": 50}')" "enqueue raw-$i in $pool"
  done
done
for pool in "$POOL_A" "$POOL_B" "$POOL_C"; do
  for i in 1 2 3 4 5; do
    wait_for --timeout 30 bash -c "[[ \$(redis-cli -c -p ${CL_PORTS[0]} HGET '$(cl_base "$pool")job:raw-$i' state) == succeeded ]]"
  done
done
note "15 raw jobs succeeded"

step "the Node client with an ioredis Cluster client"
client="$SV_SOURCE_DIR/clients/node"
if [[ ! -d "$client/node_modules/ioredis" ]]; then
  (cd "$client" && npm ci --no-audit --no-fund --prefer-offline >/dev/null 2>&1) || fail "npm ci in clients/node failed"
fi
(cd "$client" && CL_NODES="$CL_SEEDS" node --input-type=module -e '
import Redis from "ioredis"
import { SqlvaultClient } from "./index.js"
const nodes = process.env.CL_NODES.split(",").map(hp => ({ host: hp.split(":")[0], port: Number(hp.split(":")[1]) }))
const cluster = new Redis.Cluster(nodes)
const q = new SqlvaultClient({ redis: cluster })
const pools = process.argv.slice(1)
try {
  const jobs = []
  for (const [i, pool] of pools.entries()) jobs.push([await q.enqueue("backup", `ws-${i + 1}`, { pool }), pool])
  for (const [id, pool] of jobs) {
    const j = await q.waitForJob(id, { pool, timeoutMs: 30000 })
    if (j.state !== "succeeded") throw new Error(`job ${id} in ${pool}: ${j.state} ${j.error || ""}`)
    console.log(`   node: ${id} in pool ${pool} succeeded`)
  }
} finally { await q.close(); await cluster.quit() }
' "$POOL_A" "$POOL_B" "$POOL_C") || fail "Node client jobs on the cluster failed"

step "a master that lost the library (FUNCTION FLUSH, as a new or emptied node) gets it back on the next call"
mb=$(cluster_master_of "$(cl_base "$POOL_B")")
# (the worker's next call on that master may reload it first: either way it comes back)
assert_eq OK "$(redis-cli -p "$mb" FUNCTION FLUSH)" "FUNCTION FLUSH on master $mb"
out=$("$SV_BIN" backup ws-5 --pool "$POOL_B" --json) || fail "backup after FUNCTION FLUSH failed: $out"
assert_eq succeeded "$(jq -r .state <<<"$out")" "CLI backup in pool $POOL_B after the flush"
assert_eq "$(sed -n 's/^local VERSION = \([0-9]*\).*/\1/p' "$SV_SOURCE_DIR/src/queue/sqlvault.lua")" \
  "$(redis-cli -p "$mb" FCALL_RO sqlvault_version 0)" "library version on master $mb again"

step "stats sums the pools across the masters"
st=$("$SV_BIN" stats --pools "$POOL_A,$POOL_B,$POOL_C" --json)
assert_ge "$(jq .enqueued <<<"$st")" 24 "jobs enqueued over the three pools (with the restore's safety backup)"
assert_eq "$(jq .enqueued <<<"$st")" "$(jq .succeeded <<<"$st")" "every job enqueued over the three pools succeeded"
assert_eq 3 "$(jq '[.pools[] | select(.workers_alive >= 1)] | length' <<<"$st")" "pools with a live worker"
sv_pass
