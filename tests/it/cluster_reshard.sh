#!/usr/bin/env bash
# cluster_reshard.sh -- `redis-cli --cluster reshard` moves a pool's slot to
# another master while a worker runs the pool's jobs: the worker follows
# (function calls wait on the old owner while the slot migrates, then follow
# MOVED to the new one), every job succeeds exactly once, and a job
# enqueued through the CLI afterwards succeeds.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/cluster_lib.sh"
sv_setup
sv_use_file_store
cl_setup
export SQLVAULT_LOG_FORMAT=text SQLVAULT_TEST_JOBS=1 SQLVAULT_LEASE=5s
for i in 1 2 3 4 5 6; do make_workspace "ws-$i" 100; done

# a pool whose slot is among the first 30 of a master's range other than
# POOL_A's, so a reshard of a few slots from the start of the range moves it
read -r P FROM LO SLOT <<<"$(python3 - "${CL_PORTS[0]}" "$SQLVAULT_REDIS_PREFIX" "$(cluster_master_of "$(cl_base "$POOL_A")")" <<'PY'
import socket, sys
port, prefix, avoid = int(sys.argv[1]), sys.argv[2], sys.argv[3]
def crc16(b):
    c = 0
    for x in b:
        c ^= x << 8
        for _ in range(8): c = ((c << 1) ^ 0x1021) & 0xffff if c & 0x8000 else (c << 1) & 0xffff
    return c
s = socket.create_connection(("127.0.0.1", port)); f = s.makefile("rb")
s.sendall(b"*2\r\n$7\r\nCLUSTER\r\n$5\r\nSLOTS\r\n")
def rd():
    l = f.readline(); t, r = l[:1], l[1:-2]
    if t == b"*": return [rd() for _ in range(int(r))]
    if t == b":": return int(r)
    if t == b"$": d = f.read(int(r) + 2)[:-2]; return d.decode()
    return r.decode()
ranges = [(e[0], e[1], str(e[2][1])) for e in rd()]
for i in range(1, 200000):
    slot = crc16(("q%d" % i).encode()) & 16383
    for lo, hi, m in ranges:
        if m != avoid and lo <= slot <= min(hi, lo + 29):
            print("q%d" % i, m, lo, slot); sys.exit(0)
sys.exit(1)
PY
)" || fail "no pool name near the start of a master's range"
TO=$(cluster_master_of "$(cl_base "$POOL_A")")
N=$((SLOT - LO + 1))
note "pool $P: slot $SLOT on master $FROM (range from $LO); moving $N slot(s) to $TO"
"$SV_BIN" stats >/dev/null # loads the function library on every master

step "a worker runs 40 jobs of pool $P while its slot moves"
for i in $(seq 1 40); do
  [[ "$(cl_enqueue "$P" "rs-$i" sleep "ws-$(( (i % 6) + 1 ))" '{"ms": 150}')" == 1 ]] || fail "enqueue rs-$i"
done
"$SV_BIN" worker --pools "$P" --threads 3 >"$SV_SCRATCH/w.log" 2>&1 &
WPID=$!
SV_CLEANUP_PIDS+=("$WPID")
wait_for --timeout 30 bash -c "(( \$(redis-cli -c -p ${CL_PORTS[0]} HGET '$(cl_base "$P")stats' succeeded || echo 0) >= 5 ))"
from_id=$(redis-cli -p "$FROM" CLUSTER MYID)
to_id=$(redis-cli -p "$TO" CLUSTER MYID)
redis-cli --cluster reshard "127.0.0.1:$FROM" --cluster-from "$from_id" --cluster-to "$to_id" \
  --cluster-slots "$N" --cluster-yes >"$SV_SCRATCH/reshard.log" 2>&1 || fail "reshard failed: $(tail -5 "$SV_SCRATCH/reshard.log")"
cluster_wait_ok 60 || fail "the cluster did not settle after the reshard"
assert_eq "$TO" "$(cluster_master_of "$(cl_base "$P")")" "master of pool $P after the reshard"
note "$(redis-cli -c -p "$TO" HGET "$(cl_base "$P")stats" succeeded) jobs had finished when the move completed"

step "every job succeeds once, and the worker keeps serving the pool"
for i in $(seq 1 40); do
  wait_for --timeout 60 bash -c "[[ \$(redis-cli -c -p $TO HGET '$(cl_base "$P")job:rs-$i' state) == succeeded ]]"
done
assert_eq 40 "$(redis-cli -c -p "$TO" HGET "$(cl_base "$P")stats" succeeded)" "succeeded counter"
assert_eq "" "$(redis-cli -c -p "$TO" HGET "$(cl_base "$P")stats" failed)" "failed counter"
out=$("$SV_BIN" backup ws-1 --pool "$P" --json) || fail "backup after the reshard failed: $out"
assert_eq succeeded "$(jq -r .state <<<"$out")" "CLI backup after the reshard"
kill -0 "$WPID" || fail "the worker exited"
sv_pass
