#!/usr/bin/env bash
# Starts and stops the servers the integration tests run against, on loopback
# and on ports the OS picks: redis-server (no persistence), s3rver (the local
# S3 server, checks SigV4) and r2proxy (R2's rules, request log, faults) in
# front of it.
#
#   tests/servers/services.sh start DIR   start all three; write DIR/env.sh
#   tests/servers/services.sh stop DIR    stop what `start DIR` started
#
# DIR/env.sh exports the test environment contract (SV_REDIS_URL,
# SV_S3_ENDPOINT, SV_S3_DIRECT_ENDPOINT, SV_PROXY_CONTROL, SV_S3_BUCKET,
# AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, ...); `source DIR/env.sh` to use
# the servers by hand. Server logs go to DIR/*.log, pids to DIR/pids.
# scripts/test.sh sources this file and calls sv_services_start/stop.

SV_SERVERS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SV_TEST_BUCKET="${SV_TEST_BUCKET:-sqlvault-test}"

# sv_free_port prints a TCP port on 127.0.0.1 that was free a moment ago.
sv_free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# sv_wait_file waits (bounded, seconds) until FILE exists and is non-empty.
sv_wait_file() {
  local file="$1" timeout="$2" pid="${3:-}" i
  for ((i = 0; i < timeout * 10; i++)); do
    [[ -s "$file" ]] && return 0
    if [[ -n "$pid" ]] && ! kill -0 "$pid" 2>/dev/null; then return 1; fi
    sleep 0.1
  done
  return 1
}

# sv_start_redis DIR NAME [extra redis-server args...]: starts a redis-server
# on a free loopback port with its files in DIR/NAME; prints "PID PORT".
sv_start_redis() {
  local dir="$1" name="$2"
  shift 2
  local attempt port pid
  mkdir -p "$dir/$name"
  for attempt in 1 2 3 4 5; do
    port="$(sv_free_port)"
    redis-server --port "$port" --bind 127.0.0.1 --dir "$dir/$name" --save '' --appendonly no \
      --daemonize no --logfile "$dir/$name.log" "$@" </dev/null >/dev/null 2>&1 &
    pid=$!
    local i
    for ((i = 0; i < 100; i++)); do
      if redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null | grep -q PONG; then
        echo "$pid $port"
        return 0
      fi
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  echo "services: redis-server did not start (see $dir/$name.log)" >&2
  return 1
}

# sv_stop_pid PID: TERM, wait up to 5 s, then KILL (KILL at once when
# SV_STOP_FAST=1: the per-test servers keep nothing worth a clean shutdown).
sv_stop_pid() {
  local pid="$1" i
  kill -0 "$pid" 2>/dev/null || return 0
  if [[ "${SV_STOP_FAST:-0}" == 1 ]]; then
    kill -KILL "$pid" 2>/dev/null
    for ((i = 0; i < 50; i++)); do
      kill -0 "$pid" 2>/dev/null || return 0
      sleep 0.05
    done
    return 0
  fi
  kill -TERM "$pid" 2>/dev/null
  for ((i = 0; i < 50; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null
  return 0
}

# sv_services_start DIR: starts redis, s3rver and r2proxy; writes DIR/env.sh.
sv_services_start() {
  local dir="$1"
  mkdir -p "$dir"
  dir="$(cd "$dir" && pwd)"
  : >"$dir/pids"
  if [[ ! -d "$SV_SERVERS_DIR/node_modules/@20minutes/s3rver" ]]; then
    echo "services: s3rver is not installed in tests/servers" >&2
    echo "HINT: run scripts/install-deps.sh (or: cd tests/servers && npm ci)" >&2
    return 1
  fi

  local r redis_pid redis_port
  r="$(sv_start_redis "$dir" redis)" || return 1
  read -r redis_pid redis_port <<<"$r"
  echo "$redis_pid redis" >>"$dir/pids"

  rm -f "$dir/s3.port" "$dir/proxy.port"
  node --openssl-legacy-provider "$SV_SERVERS_DIR/start-s3rver.js" --dir "$dir/s3" --port 0 \
    --bucket "$SV_TEST_BUCKET" --port-file "$dir/s3.port" </dev/null >"$dir/s3rver.log" 2>&1 &
  local s3_pid=$!
  echo "$s3_pid s3rver" >>"$dir/pids"
  if ! sv_wait_file "$dir/s3.port" 30 "$s3_pid"; then
    echo "services: s3rver did not start (see $dir/s3rver.log)" >&2
    cat "$dir/s3rver.log" >&2
    return 1
  fi
  local s3_port
  s3_port="$(cat "$dir/s3.port")"

  node "$SV_SERVERS_DIR/r2proxy.js" --upstream "http://127.0.0.1:$s3_port" --port 0 --control-port 0 \
    --s3rver-dir "$dir/s3" --port-file "$dir/proxy.port" </dev/null >"$dir/r2proxy.log" 2>&1 &
  local proxy_pid=$!
  echo "$proxy_pid r2proxy" >>"$dir/pids"
  if ! sv_wait_file "$dir/proxy.port" 30 "$proxy_pid"; then
    echo "services: r2proxy did not start (see $dir/r2proxy.log)" >&2
    cat "$dir/r2proxy.log" >&2
    return 1
  fi
  local proxy_port control_port
  read -r proxy_port control_port <"$dir/proxy.port"

  cat >"$dir/env.sh" <<EOF
# written by tests/servers/services.sh start $dir
export SV_TMP="$dir/tmp"
export SV_REDIS_URL="redis://127.0.0.1:$redis_port/0"
export SV_S3_ENDPOINT="http://127.0.0.1:$proxy_port"
export SV_S3_DIRECT_ENDPOINT="http://127.0.0.1:$s3_port"
export SV_PROXY_CONTROL="http://127.0.0.1:$control_port"
export SV_S3_BUCKET="$SV_TEST_BUCKET"
export SV_S3_DATA_DIR="$dir/s3"
export AWS_ACCESS_KEY_ID="S3RVER"
export AWS_SECRET_ACCESS_KEY="S3RVER"
export AWS_DEFAULT_REGION="auto"
export AWS_EC2_METADATA_DISABLED="true"
EOF
  mkdir -p "$dir/tmp"
  return 0
}

# sv_services_stop DIR: stops every server listed in DIR/pids (newest first).
sv_services_stop() {
  local dir="$1" pid name
  [[ -f "$dir/pids" ]] || return 0
  tac "$dir/pids" | while read -r pid name; do
    [[ -n "$pid" ]] && sv_stop_pid "$pid"
  done
  : >"$dir/pids"
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  set -u
  case "${1:-}" in
    start)
      [[ $# -eq 2 ]] || { echo "usage: $0 start DIR" >&2; exit 2; }
      if sv_services_start "$2"; then
        cat "$2/env.sh"
        echo "# stop with: $0 stop $2"
      else
        sv_services_stop "$2"
        exit 1
      fi
      ;;
    stop)
      [[ $# -eq 2 ]] || { echo "usage: $0 stop DIR" >&2; exit 2; }
      sv_services_stop "$2"
      ;;
    *)
      echo "usage: $0 start DIR | stop DIR" >&2
      exit 2
      ;;
  esac
fi
