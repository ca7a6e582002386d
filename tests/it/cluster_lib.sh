#!/usr/bin/env bash
# cluster_lib.sh -- shared set-up of the Redis Cluster tests
# (tests/it/cluster_*.sh), sourced after lib.sh: a fresh 3 masters + 3
# replicas cluster (tests/cluster/cluster.sh) in the scratch dir, stopped at
# exit, with SQLVAULT_REDIS_URL naming its seed list, and three pools whose
# slots live on three different masters (found with CLUSTER KEYSLOT).
#
#   cl_setup           sets POOL_A (default), POOL_B, POOL_C
#   cl_base POOL       the pool's key prefix PREFIX:{POOL}:
#   cl_state POOL ID   a job's state, read through the cluster (redis-cli -c)
#   cl_enqueue POOL ID TYPE WS [JSON-OPTS]  FCALL sqlvault_enqueue with redis-cli -c
#
# Run directly (CMake registers every tests/it/*.sh), it starts and stops a
# cluster and checks the pools' masters differ.
source "$(dirname "${BASH_SOURCE[0]}")/../cluster/cluster.sh"

cl_base() { printf '%s:{%s}:' "$SQLVAULT_REDIS_PREFIX" "$1"; }

cl_cli() { redis-cli -c -h 127.0.0.1 -p "${CL_PORTS[0]}" "$@"; }

cl_state() { cl_cli HGET "$(cl_base "$1")job:$2" state; }

# cl_enqueue POOL ID TYPE WS [JSON-OPTS]: opts packed as msgpack (python) and
# passed on stdin (redis-cli -x: the packed bytes may hold NULs).
cl_enqueue() {
  python3 -c 'import json,sys
def mp(v):
    if isinstance(v, bool): return b"\xc3" if v else b"\xc2"
    if isinstance(v, int): return bytes([v]) if 0 <= v < 128 else b"\xd3" + v.to_bytes(8, "big", signed=True)
    if isinstance(v, str):
        b = v.encode(); return bytes([0xa0 | len(b)]) + b
    if isinstance(v, dict): return bytes([0x80 | len(v)]) + b"".join(mp(k) + mp(x) for k, x in v.items())
    raise ValueError(v)
sys.stdout.buffer.write(mp(json.loads(sys.argv[1])) if sys.argv[1] else b"")' "${5:-}" |
    cl_cli -x FCALL sqlvault_enqueue 1 "$(cl_base "$1")" "$2" "$3" "$4" interactive 5 | head -1
}

cl_setup() {
  cluster_start "$SV_SCRATCH/cluster" || fail "could not start the Redis Cluster (see $SV_SCRATCH/cluster)"
  sv_on_exit cluster_stop
  export SQLVAULT_REDIS_URL="$CL_URL"
  note "cluster on ports ${CL_PORTS[*]}; SQLVAULT_REDIS_URL=$CL_URL"
  POOL_A=default
  POOL_B=$(cluster_pool_in_other_shard "$SQLVAULT_REDIS_PREFIX" "$POOL_A") || fail "no pool on a second master"
  POOL_C=$(cluster_pool_in_other_shard "$SQLVAULT_REDIS_PREFIX" "$POOL_A" "$POOL_B") || fail "no pool on a third master"
  local ma mb mc
  ma=$(cluster_master_of "$(cl_base "$POOL_A")")
  mb=$(cluster_master_of "$(cl_base "$POOL_B")")
  mc=$(cluster_master_of "$(cl_base "$POOL_C")")
  note "pool $POOL_A on master $ma (slot $(cl_cli CLUSTER KEYSLOT "$(cl_base "$POOL_A")")), $POOL_B on $mb, $POOL_C on $mc"
  [[ "$ma" != "$mb" && "$mb" != "$mc" && "$ma" != "$mc" ]] || fail "the three pools share a master"
  export POOL_A POOL_B POOL_C
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  source "$(dirname "$0")/lib.sh"
  sv_setup
  step "a 3 masters + 3 replicas cluster starts, and three pools land on three masters"
  cl_setup
  assert_eq 3 "$(cl_cli CLUSTER INFO | tr -d '\r' | sed -n 's/^cluster_size://p')" "masters"
  assert_eq 6 "$(cl_cli CLUSTER INFO | tr -d '\r' | sed -n 's/^cluster_known_nodes://p')" "nodes"
  sv_pass
fi
