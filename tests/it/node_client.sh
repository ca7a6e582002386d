#!/usr/bin/env bash
# node_client.sh -- the Node client (clients/node) under node:test against the
# suite's Redis, the C worker and the S3 server (through the R2 proxy): every
# job type enqueued and waited for, dedup, a failed job's error_code, the
# onRestore/onBackup listener protocol (against the real worker and a
# simulated one), AbortSignal and timeouts, Redis unreachable, and a private
# three-node Redis Cluster for the Cluster client. The tests are in
# clients/node/test/; this script prepares the environment.
source "$(dirname "$0")/lib.sh"
sv_setup
client="$SV_SOURCE_DIR/clients/node"
if [[ ! -d "$client/node_modules/ioredis" ]]; then
  (cd "$client" && npm ci --no-audit --no-fund --prefer-offline >/dev/null 2>&1) ||
    fail "npm ci in clients/node failed (needs the npm registry or a cache)"
fi
export SQLVAULT_LEASE=3s SQLVAULT_RETRY_BASE=100ms SQLVAULT_PAUSE_TIMEOUT=5s
make_workspace wsnode 400

step "a private three-node Redis Cluster"
cdir="$SV_SCRATCH/cluster"
mkdir -p "$cdir"
nodes=()
for i in 1 2 3; do
  # a cluster node also listens on port + 10000 (the cluster bus): both free, below 55536
  port="$(python3 -c '
import random, socket
r = random.Random()
for _ in range(200):
    p = r.randint(20000, 45000)
    try:
        for q in (p, p + 10000):
            s = socket.socket(); s.bind(("127.0.0.1", q)); s.close()
        print(p); break
    except OSError:
        pass')"
  redis-server --port "$port" --bind 127.0.0.1 --cluster-enabled yes --cluster-config-file "$cdir/nodes-$port.conf" \
    --dir "$cdir" --save '' --appendonly no --daemonize no --logfile "$cdir/redis-$port.log" </dev/null >/dev/null 2>&1 &
  SV_CLEANUP_PIDS+=($!)
  nodes+=("127.0.0.1:$port")
done
for n in "${nodes[@]}"; do wait_for --timeout 20 bash -c "redis-cli -h ${n%:*} -p ${n#*:} ping | grep -q PONG"; done
redis-cli --cluster create "${nodes[@]}" --cluster-replicas 0 --cluster-yes >"$cdir/create.log" 2>&1 ||
  fail "redis-cli --cluster create failed: $(tail -5 "$cdir/create.log")"
wait_for --timeout 30 bash -c "redis-cli -h 127.0.0.1 -p ${nodes[0]#*:} cluster info | grep -q cluster_state:ok"
export SV_CLUSTER_NODES="$(IFS=,; echo "${nodes[*]}")"
note "cluster nodes $SV_CLUSTER_NODES"

step "node --test clients/node/test/"
(cd "$client" && node --test --test-reporter=spec --test-concurrency=1 test/) || fail "node:test failed (see above)"
sv_pass
