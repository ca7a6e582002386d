#!/usr/bin/env bash
# bench_cluster.sh SV DIR N -- the Redis Cluster rows of scripts/bench.sh
# (row k): N empty jobs (the test job type sleep, 0 ms) through the queue,
# spread over three pools, with 2 workers x 4 threads serving all three,
# (1) on one redis-server and (2) on a 3 masters + 3 replicas cluster with
# one pool per master; wall time and the Redis processes' CPU (all six on
# the cluster, replication included), with SQLVAULT_REDIS_WAIT at its
# default (1s: WAIT 1 after each completion) and at 0. Then (3) the enqueue latency added by
# WAIT: 300 sequential sqlvault_enqueue calls to a pool's master, alone and
# pipelined with WAIT 1 1000. Prints one line of key=value pairs.
set -uo pipefail
SV="$1" DIR="$2" N="${3:-3000}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/cluster.sh"
mkdir -p "$DIR"
CLK="$(getconf CLK_TCK)"
PIDS=()
trap 'for p in "${PIDS[@]+"${PIDS[@]}"}"; do kill "$p" 2>/dev/null; done; cluster_stop >/dev/null 2>&1' EXIT
export SQLVAULT_TEST_JOBS=1 SQLVAULT_LOG_FORMAT=text SQLVAULT_STORE="file://$DIR/store" SQLVAULT_DATA_DIR="$DIR/data"

cpu_of() { # PIDS...: summed CPU seconds
  local p s=0
  for p in "$@"; do s=$(awk -v t="$CLK" -v s="$s" '{ sub(/^.*\) /, ""); printf "%.3f", s + ($12 + $13) / t }' "/proc/$p/stat"); done
  echo "$s"
}

# enqueue PREFIX N PORT:POOL...: pipelined FCALLs, N jobs round-robin over the pools
enqueue() {
  python3 - "$@" <<'PY'
import socket, sys
prefix, n, targets = sys.argv[1], int(sys.argv[2]), [t.split(":") for t in sys.argv[3:]]
def cmd(*a):
    a = [x if isinstance(x, bytes) else str(x).encode() for x in a]
    return b"*%d\r\n" % len(a) + b"".join(b"$%d\r\n%s\r\n" % (len(x), x) for x in a)
for k, (port, pool) in enumerate(targets):
    s = socket.create_connection(("127.0.0.1", int(port))); f = s.makefile("rb")
    ids = range(k, n, len(targets))
    s.sendall(b"".join(cmd("FCALL", "sqlvault_enqueue", 1, "%s:{%s}:" % (prefix, pool), "j%d" % i, "sleep", "", "interactive", 1, b"") for i in ids))
    def skip():
        l = f.readline()
        if l.startswith(b"-"): sys.exit("enqueue: " + l.decode())
        if l.startswith(b"*"):
            for _ in range(int(l[1:])): skip()
        elif l.startswith(b"$") and int(l[1:]) >= 0: f.readline()
    for _ in ids: skip()
    s.close()
PY
}

# run URL PREFIX "PORT:POOL ..." REDIS-PIDS...: prints "rate cpu_per_job_ms wall"
run() {
  local url="$1" prefix="$2" targets="$3" c0 c1 t0 t1 w done_n pools
  shift 3
  pools=$(for t in $targets; do echo "${t#*:}"; done | paste -sd,)
  export SQLVAULT_REDIS_URL="$url" SQLVAULT_REDIS_PREFIX="$prefix"
  "$SV" stats --pools "$pools" >/dev/null || return 1
  c0=$(cpu_of "$@"); t0=$(date +%s.%N)
  # shellcheck disable=SC2086
  enqueue "$prefix" "$N" $targets || return 1
  local wp=()
  for w in 1 2; do "$SV" worker --threads 4 --pools "$pools" >"$DIR/w-$prefix-$w.log" 2>&1 & wp+=($!); PIDS+=($!); done
  local deadline=$((SECONDS + 600))
  while :; do
    done_n=$("$SV" stats --pools "$pools" --json 2>/dev/null | jq '.succeeded + .failed')
    ((${done_n:-0} >= N)) && break
    ((SECONDS < deadline)) || { echo "timeout $done_n/$N" >&2; kill "${wp[@]}"; return 1; }
    sleep 0.2
  done
  t1=$(date +%s.%N); c1=$(cpu_of "$@")
  for w in "${wp[@]}"; do kill "$w"; done
  for w in "${wp[@]}"; do wait "$w" 2>/dev/null; done
  awk -v n="$N" -v t0="$t0" -v t1="$t1" -v c0="$c0" -v c1="$c1" \
    'BEGIN { printf "%.0f %.3f %.1f\n", n / (t1 - t0), (c1 - c0) * 1000 / n, t1 - t0 }'
}

# single redis
sp=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$DIR/single"
redis-server --port "$sp" --bind 127.0.0.1 --save '' --appendonly no --dir "$DIR/single" --logfile "$DIR/single/redis.log" &
SPID=$!; PIDS+=($SPID)
for _ in $(seq 100); do redis-cli -p "$sp" ping 2>/dev/null | grep -q PONG && break; sleep 0.1; done
read -r s_rate s_cpu s_wall < <(run "redis://127.0.0.1:$sp" bs "$sp:pa $sp:pb $sp:pc" "$SPID") || { echo "error=single"; exit 1; }
kill "$SPID"

# cluster
cluster_start "$DIR/cluster" >/dev/null || { echo "error=cluster_start"; exit 1; }
pa=default
pb=$(cluster_pool_in_other_shard bc "$pa"); pc=$(cluster_pool_in_other_shard bc "$pa" "$pb")
targets="$(cluster_master_of "bc:{$pa}:"):$pa $(cluster_master_of "bc:{$pb}:"):$pb $(cluster_master_of "bc:{$pc}:"):$pc"
cpids=$(for p in "${CL_PORTS[@]}"; do cat "$CL_DIR/$p/pid"; done)
# shellcheck disable=SC2086
read -r c_rate c_cpu c_wall < <(run "$CL_URL" bc "$targets" $cpids) || { echo "error=cluster"; exit 1; }
# the same with SQLVAULT_REDIS_WAIT=0 (no WAIT after completions), other keys (prefix bn)
targets_n="$(cluster_master_of "bn:{$pa}:"):$pa $(cluster_master_of "bn:{$pb}:"):$pb $(cluster_master_of "bn:{$pc}:"):$pc"
# shellcheck disable=SC2086
read -r n_rate n_cpu n_wall < <(SQLVAULT_REDIS_WAIT=0 run "$CL_URL" bn "$targets_n" $cpids) || { echo "error=cluster_nowait"; exit 1; }

# WAIT latency on the default pool's master
m=$(cluster_master_of "bc:{$pa}:")
lat=$(python3 - "$m" <<'PY'
import socket, sys, time
port = int(sys.argv[1])
s = socket.create_connection(("127.0.0.1", port)); s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1); f = s.makefile("rb")
def cmd(*a):
    a = [x if isinstance(x, bytes) else str(x).encode() for x in a]
    return b"*%d\r\n" % len(a) + b"".join(b"$%d\r\n%s\r\n" % (len(x), x) for x in a)
def skip():
    l = f.readline()
    if l.startswith(b"*"):
        for _ in range(int(l[1:])): skip()
    elif l.startswith(b"$") and int(l[1:]) >= 0: f.readline()
    elif l.startswith(b"-"): sys.exit(l.decode())
def series(wait, tag):
    out = []
    for i in range(300):
        c = cmd("FCALL", "sqlvault_enqueue", 1, "bc:{default}:", "w%s%d" % (tag, i), "sleep", "", "scheduled", 1, b"")
        if wait: c += cmd("WAIT", 1, 1000)
        t = time.perf_counter(); s.sendall(c); skip()
        if wait: skip()
        out.append((time.perf_counter() - t) * 1000)
    out.sort(); return out[len(out) // 2], out[int(len(out) * 0.99)]
a50, a99 = series(False, "a"); b50, b99 = series(True, "b")
print("%.3f %.3f %.3f %.3f" % (a50, a99, b50, b99))
PY
)
read -r n50 n99 w50 w99 <<<"$lat"
echo "n=$N single_rate=$s_rate single_cpu_ms=$s_cpu single_wall=$s_wall cluster_rate=$c_rate cluster_cpu_ms=$c_cpu cluster_wall=$c_wall nowait_rate=$n_rate nowait_cpu_ms=$n_cpu enq_p50_ms=$n50 enq_p99_ms=$n99 enq_wait_p50_ms=$w50 enq_wait_p99_ms=$w99"
