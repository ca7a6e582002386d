#!/usr/bin/env bash
# cluster.sh -- a real Redis Cluster on loopback for the cluster tests:
# 3 masters and 3 replicas (redis-server --cluster-enabled yes, joined with
# redis-cli --cluster create ... --cluster-replicas 1), in a temp dir, on
# ports probed free (each node also needs port+10000 for its cluster bus).
#
# Sourced (tests/it/cluster_*.sh, scripts/bench.sh):
#   cluster_start DIR      starts the six nodes, creates the cluster and waits
#                          (bounded) until every node says cluster_state:ok,
#                          knows all six nodes and every replica is in sync.
#                          Sets CL_DIR, CL_PORTS (array), CL_SEEDS
#                          ("127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3") and
#                          CL_URL (redis://$CL_SEEDS).
#   cluster_stop           stops every node it started (SIGTERM, then SIGKILL).
#   cluster_cli PORT ARGS  redis-cli -c against one node.
#   cluster_master_of KEY  the port of the master owning KEY's slot.
#   cluster_replica_of PORT  the port of a replica of the master on PORT.
#   cluster_kill PORT      kill -9 of the node on PORT (the pid it was started with).
#   cluster_restart PORT   starts the node on PORT again (same dir, nodes.conf).
#   cluster_wait_ok [T]    waits until every live node says cluster_state:ok and
#                          agrees on the owner of every slot.
#   cluster_pool_in_other_shard PREFIX POOL...  prints a pool name whose
#                          {tag} slot lives on a master none of POOLs' use.
#
# Run directly: `tests/cluster/cluster.sh start DIR` (prints the env to
# source, leaves it running) and `tests/cluster/cluster.sh stop DIR`.
# Needs redis-server >= 7.0 and redis-cli on PATH.

CL_NODE_TIMEOUT_MS="${CL_NODE_TIMEOUT_MS:-2000}"

# _cl_port_free PORT: true when nothing listens on 127.0.0.1:PORT.
_cl_port_free() {
  python3 -c 'import socket,sys
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try: s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError: sys.exit(1)' "$1"
}

# _cl_pick_ports N: prints N ports P (OS-picked) with P+10000 free too.
_cl_pick_ports() {
  python3 - "$1" <<'PY'
import socket, sys
n, out = int(sys.argv[1]), []
def free(p):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try: s.bind(("127.0.0.1", p)); return True
    except OSError: return False
    finally: s.close()
for _ in range(2000):
    if len(out) == n: break
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close()
    if p + 10000 > 65535 or p in out or p + 10000 in out or p - 10000 in out: continue
    if free(p) and free(p + 10000): out.append(p)
if len(out) < n: sys.exit("no free port pairs")
print(" ".join(map(str, out)))
PY
}

# _cl_spawn PORT: starts one node in $CL_DIR/PORT.
_cl_spawn() {
  local port="$1" d="$CL_DIR/$1"
  mkdir -p "$d"
  (cd "$d" && exec redis-server --port "$port" --bind 127.0.0.1 --cluster-enabled yes \
    --cluster-config-file nodes.conf --cluster-node-timeout "$CL_NODE_TIMEOUT_MS" \
    --appendonly no --save '' --dir "$d" --daemonize no --logfile "$d/redis.log" \
    --cluster-replica-validity-factor 0 --repl-ping-replica-period 1 \
    </dev/null >/dev/null 2>&1) &
  echo $! >"$d/pid"
}

# _cl_wait SECONDS DESC CMD...: runs CMD until it succeeds, bounded.
_cl_wait() {
  local t="$1" desc="$2" deadline
  shift 2
  deadline=$((SECONDS + t))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      echo "cluster.sh: timed out after ${t}s waiting for $desc" >&2
      return 1
    fi
    sleep 0.1
  done
}

cluster_cli() {
  local port="$1"
  shift
  redis-cli -c -h 127.0.0.1 -p "$port" "$@"
}

# _cl_live_ports: the ports whose node process is alive.
_cl_live_ports() {
  local p
  for p in "${CL_PORTS[@]}"; do
    kill -0 "$(cat "$CL_DIR/$p/pid")" 2>/dev/null && echo "$p"
  done
}

# _cl_all_ok: every live node says ok with every slot served, and all agree
# on the slot map.
_cl_all_ok() {
  local p info
  for p in $(_cl_live_ports); do
    info=$(redis-cli -h 127.0.0.1 -p "$p" cluster info 2>/dev/null | tr -d '\r') || return 1
    grep -q '^cluster_state:ok' <<<"$info" || return 1
    grep -q '^cluster_slots_assigned:16384' <<<"$info" || return 1
    grep -q '^cluster_slots_ok:16384' <<<"$info" || return 1
  done
  _cl_masters_agree
}

# _cl_masters_agree: every live node maps each master's first slot to the same port.
_cl_masters_agree() {
  python3 - "$(_cl_live_ports | tr '\n' ' ')" <<'PY'
import socket, sys
def call(port, *args):
    s = socket.create_connection(("127.0.0.1", int(port)), timeout=2)
    s.sendall(b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a.encode()) for a in args))
    f = s.makefile("rb")
    def rd():
        l = f.readline(); t, r = l[:1], l[1:-2]
        if t == b"*": return [rd() for _ in range(int(r))]
        if t == b":": return int(r)
        if t == b"$":
            n = int(r); d = f.read(n + 2)[:-2] if n >= 0 else None; return d
        if t == b"-": raise RuntimeError(r)
        return r
    v = rd(); s.close(); return v
maps = []
for p in sys.argv[1].split():
    m = {}
    for rng in call(p, "CLUSTER", "SLOTS"):
        m[rng[0]] = (rng[1], rng[2][1])
    maps.append(m)
if not maps or any(m != maps[0] for m in maps): sys.exit(1)
if sum(e - s + 1 for s, (e, _) in maps[0].items()) != 16384: sys.exit(1)
PY
}

# _cl_replicas_synced: every replica's link to its master is up.
_cl_replicas_synced() {
  local p role
  for p in $(_cl_live_ports); do
    role=$(redis-cli -h 127.0.0.1 -p "$p" info replication 2>/dev/null | tr -d '\r') || return 1
    if grep -q '^role:slave' <<<"$role"; then
      grep -q '^master_link_status:up' <<<"$role" || return 1
    fi
  done
}

cluster_wait_ok() {
  _cl_wait "${1:-60}" "cluster_state:ok on every node" _cl_all_ok
}

cluster_start() {
  local dir="$1" p i args=() attempt
  CL_DIR="$dir"
  mkdir -p "$dir"
  for attempt in 1 2 3; do
    read -r -a CL_PORTS <<<"$(_cl_pick_ports 6)" || return 1
    for p in "${CL_PORTS[@]}"; do _cl_spawn "$p"; done
    local up=1
    for p in "${CL_PORTS[@]}"; do
      if ! _cl_wait 10 "node $p to answer" redis-cli -h 127.0.0.1 -p "$p" ping; then up=0; fi
    done
    ((up)) && break
    cluster_stop
    ((attempt < 3)) || return 1
  done
  for p in "${CL_PORTS[@]}"; do args+=("127.0.0.1:$p"); done
  redis-cli --cluster create "${args[@]}" --cluster-replicas 1 --cluster-yes >"$dir/create.log" 2>&1 || {
    echo "cluster.sh: redis-cli --cluster create failed (see $dir/create.log)" >&2
    return 1
  }
  cluster_wait_ok 60 || return 1
  _cl_wait 60 "every replica in sync" _cl_replicas_synced || return 1
  CL_SEEDS="127.0.0.1:${CL_PORTS[0]},127.0.0.1:${CL_PORTS[1]},127.0.0.1:${CL_PORTS[2]}"
  CL_URL="redis://$CL_SEEDS"
  printf '%s\n' "${CL_PORTS[@]}" >"$dir/ports"
  export CL_DIR CL_SEEDS CL_URL
}

cluster_stop() {
  local p pid i
  [[ -n "${CL_DIR:-}" ]] || return 0
  for p in "${CL_PORTS[@]}"; do
    pid=$(cat "$CL_DIR/$p/pid" 2>/dev/null) || continue
    kill -TERM "$pid" 2>/dev/null || true
  done
  for p in "${CL_PORTS[@]}"; do
    pid=$(cat "$CL_DIR/$p/pid" 2>/dev/null) || continue
    for ((i = 0; i < 50; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
  done
}

# cluster_master_of KEY
cluster_master_of() {
  local slot p
  slot=$(redis-cli -h 127.0.0.1 -p "$(_cl_live_ports | head -1)" cluster keyslot "$1")
  for p in $(_cl_live_ports); do
    redis-cli -h 127.0.0.1 -p "$p" cluster slots 2>/dev/null | tr -d '\r' | python3 -c '
import sys
slot = int(sys.argv[1]); lines = sys.stdin.read().split("\n")
# flat redis-cli output: start, end, ip, port, id, (ip, port, id)*
i = 0
while i + 4 < len(lines):
    if lines[i].isdigit() and lines[i + 1].isdigit() and lines[i + 2].count(".") == 3:
        s, e, port = int(lines[i]), int(lines[i + 1]), lines[i + 3]
        if s <= slot <= e: print(port); sys.exit(0)
    i += 1
sys.exit(1)' "$slot" && return 0
  done
  return 1
}

# cluster_replica_of PORT: a replica of the master on PORT.
cluster_replica_of() {
  local id p
  id=$(redis-cli -h 127.0.0.1 -p "$1" cluster myid | tr -d '\r')
  for p in $(_cl_live_ports); do
    [[ "$p" == "$1" ]] && continue
    redis-cli -h 127.0.0.1 -p "$p" cluster nodes | grep -q "myself,slave $id" && { echo "$p"; return 0; }
  done
  return 1
}

cluster_kill() { kill -KILL "$(cat "$CL_DIR/$1/pid")" 2>/dev/null || true; }

cluster_restart() { _cl_spawn "$1"; _cl_wait 10 "node $1 to answer" redis-cli -h 127.0.0.1 -p "$1" ping; }

# cluster_pool_in_other_shard PREFIX POOL...: a pool name "pN" whose slot's
# master is none of the given pools' masters.
cluster_pool_in_other_shard() {
  local pfx="$1" used=() q i m
  shift
  for q in "$@"; do used+=("$(cluster_master_of "$pfx:{$q}:")"); done
  for ((i = 1; i < 200; i++)); do
    m=$(cluster_master_of "$pfx:{p$i}:")
    [[ " ${used[*]} " == *" $m "* ]] || { echo "p$i"; return 0; }
  done
  return 1
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  set -euo pipefail
  case "${1:-}" in
    start)
      cluster_start "${2:?usage: cluster.sh start DIR}"
      printf 'export CL_DIR=%q CL_SEEDS=%q CL_URL=%q\n' "$CL_DIR" "$CL_SEEDS" "$CL_URL" | tee "$CL_DIR/env.sh"
      ;;
    stop)
      CL_DIR="${2:?usage: cluster.sh stop DIR}"
      mapfile -t CL_PORTS <"$CL_DIR/ports"
      cluster_stop
      ;;
    *)
      echo "usage: $0 start DIR | stop DIR" >&2
      exit 2
      ;;
  esac
fi
