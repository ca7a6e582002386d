#!/usr/bin/env bash
# queue_node_client.sh -- the Node client (clients/node: ioredis +
# @msgpack/msgpack) enqueues a backup through the shipped function library
# (loading it itself into a fresh Redis), dedupes by id, and polls the job
# that a real worker completes; the worker decodes the msgpack options.
source "$(dirname "$0")/lib.sh"
sv_setup
sv_use_file_store
redis_private_start
export SQLVAULT_REDIS_URL="$SV_PRIVATE_REDIS_URL" SQLVAULT_LEASE=2s SQLVAULT_LOG_FORMAT=text
client="$SV_SOURCE_DIR/clients/node"
if [[ ! -d "$client/node_modules/ioredis" ]]; then
  (cd "$client" && npm ci --no-audit --no-fund --prefer-offline >/dev/null 2>&1) ||
    fail "npm ci in clients/node failed (needs the npm registry or a cache)"
fi
make_workspace ws-node 300

step "the node client enqueues into a Redis that has no library yet"
assert_eq "" "$(redis-cli -u "$SQLVAULT_REDIS_URL" FUNCTION LIST LIBRARYNAME sqlvault)" "functions before"
node "$client/test.js" ws-node node-1 >"$SV_SCRATCH/job.json" 2>"$SV_SCRATCH/node.err" &
node_pid=$!
wait_for --timeout 20 bash -c "redis-cli -u '$SQLVAULT_REDIS_URL' EXISTS '$SQLVAULT_REDIS_PREFIX:{default}:job:node-1' | grep -qx 1"
note "job node-1 is queued; starting a worker"

step "a real worker completes it and the client sees the result"
"$SV_BIN" worker --threads 1 >"$SV_SCRATCH/worker.log" 2>&1 &
SV_CLEANUP_PIDS+=($!)
wait "$node_pid" || fail "node client failed: $(cat "$SV_SCRATCH/node.err")"
job=$(cat "$SV_SCRATCH/job.json")
assert_eq succeeded "$(jq -r .state <<<"$job")" "state seen by node"
assert_eq ws-node "$(jq -r .result.workspace <<<"$job")" "result.workspace"
assert_eq "from node" "$(jq -r .opts.note <<<"$job")" "msgpack options read back"
assert_eq 1 "$(jq -r .attempt <<<"$job")" "attempt"
assert_eq 1 "$("$SV_BIN" list ws-node --json | jq length)" "committed backups (deduped enqueue)"
assert_eq 1 "$(redis-cli -u "$SQLVAULT_REDIS_URL" HGET "$SQLVAULT_REDIS_PREFIX:{default}:stats" enqueued)" "enqueued"
sv_pass
