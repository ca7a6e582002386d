#!/usr/bin/env bash
# quickstart.sh -- sqlvault's main job on the embedded defaults, the way
# production runs it: installs what it needs when missing (apt), builds, makes a sample
# workspace under ./data if there is none, starts a Redis on loopback and a
# worker pool, backs up every workspace under ./data through the queue to
# file://./var/backups, lists the result, and stops what it started.
#
#   bash scripts/quickstart.sh            # from the repository's top folder
#   bash scripts/quickstart.sh --web      # instead of backing up: Redis, a worker and the
#                                         # web page (scripts/web.sh) with a demo user; prints
#                                         # the URL and the access token; Ctrl-C stops all
#
# Environment: SQLVAULT_* variables are honoured (see README); with
# SQLVAULT_REDIS_URL set, that Redis is used instead of a private one.
set -euo pipefail
WEB=0
for arg in "$@"; do
  case "$arg" in
    --web) WEB=1 ;;
    -h | --help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "quickstart.sh: unknown option $arg (see --help)" >&2; exit 2 ;;
  esac
done
cd "$(dirname "$0")/.."
top=$(pwd)

# only what this script runs (the tests' servers, browser and npm packages
# are scripts/test.sh's): the build, redis, python3, and Node.js for --web
if ((WEB)); then bash scripts/install-deps.sh --run --web; else bash scripts/install-deps.sh --run; fi
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
bin="$top/build/sqlvault"

export SQLVAULT_DATA_DIR="${SQLVAULT_DATA_DIR:-./data}"
export SQLVAULT_STORE="${SQLVAULT_STORE:-file://./var/backups}"
export SQLVAULT_LOG_FORMAT="${SQLVAULT_LOG_FORMAT:-text}"
mkdir -p var "$SQLVAULT_DATA_DIR"

# A sample workspace when there is none.
if ! compgen -G "$SQLVAULT_DATA_DIR/*/livestore.db" >/dev/null; then
  echo "== no workspace under $SQLVAULT_DATA_DIR: making a sample one, 'demo'"
  mkdir -p "$SQLVAULT_DATA_DIR/demo"
  "$top/build/gen_livestore" "$SQLVAULT_DATA_DIR/demo/livestore.db" 8MiB
fi

pids=()
cleanup() {
  local p
  for p in "${pids[@]+"${pids[@]}"}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]+"${pids[@]}"}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A Redis on loopback, private to this run, unless one is named.
if [[ -z "${SQLVAULT_REDIS_URL:-}" ]]; then
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  mkdir -p var/redis
  redis-server --bind 127.0.0.1 --port "$port" --dir "$top/var/redis" --save "" --appendonly no \
    --daemonize no >var/redis.log 2>&1 &
  pids+=($!)
  export SQLVAULT_REDIS_URL="redis://127.0.0.1:$port/0"
  for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
  echo "== redis on $SQLVAULT_REDIS_URL"
fi

# The worker pool.
"$bin" worker --threads 2 >var/worker.log 2>&1 &
wpid=$!
pids=("$wpid" "${pids[@]+"${pids[@]}"}")
echo "== worker pool started (pid $wpid, log var/worker.log)"

# --web: the reference web server with a demo user who may use every workspace here.
if ((WEB)); then
  token="demo-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  wss=()
  for f in "$SQLVAULT_DATA_DIR"/*/livestore.db; do wss+=("$(basename "$(dirname "$f")")"); done
  python3 -c 'import json, sys; print(json.dumps({sys.argv[1]: {"user": "demo", "workspaces": sys.argv[2:], "admin": False}}))' \
    "$token" "${wss[@]}" >var/web-users.json
  chmod 600 var/web-users.json
  export SQLVAULT_WEB_USERS="$top/var/web-users.json"
  export SQLVAULT_WEB_ADDR="${SQLVAULT_WEB_ADDR:-127.0.0.1:8080}"
  bash scripts/web.sh >var/web.log 2>&1 &
  webpid=$!
  pids=("$webpid" "${pids[@]}")
  url=""
  for _ in $(seq 300); do
    url=$(sed -n 's/^listening on //p' var/web.log | head -1)
    [[ -n "$url" ]] && break
    kill -0 "$webpid" 2>/dev/null || break
    sleep 0.1
  done
  if [[ -z "$url" ]]; then
    echo "== the web server did not start:" >&2
    sed 's/^/   /' var/web.log >&2
    exit 1
  fi
  echo
  echo "== Backup & Restore page: $url"
  echo "== Access token:          $token"
  echo "   (workspaces: ${wss[*]}; worker log var/worker.log, web log var/web.log; Ctrl-C stops everything)"
  wait "$webpid" || true
  exit 0
fi

# Every workspace through the queue: each `sqlvault backup WS` enqueues a job
# and waits for a worker to finish it; they run side by side.
workspaces=()
for f in "$SQLVAULT_DATA_DIR"/*/livestore.db; do workspaces+=("$(basename "$(dirname "$f")")"); done
waiters=()
for ws in "${workspaces[@]}"; do
  "$bin" backup "$ws" >"var/backup-$ws.out" 2>&1 &
  waiters+=($!)
done
status=0
for i in "${!workspaces[@]}"; do
  ws=${workspaces[$i]}
  if wait "${waiters[$i]}"; then
    echo "== backup of $ws: done"
  else
    echo "== backup of $ws: FAILED"
    status=1
  fi
  sed 's/^/   /' "var/backup-$ws.out"
done
for ws in "${workspaces[@]}"; do
  echo
  echo "== sqlvault list $ws"
  "$bin" list "$ws"
done
echo
echo "backups are in ${SQLVAULT_STORE#file://}"
exit $status
