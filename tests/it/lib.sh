#!/usr/bin/env bash
# Helpers for the integration tests in tests/it/. A test starts with
#
#   source "$(dirname "$0")/lib.sh"
#   sv_setup                      # scratch dir, unique S3 prefix and Redis prefix
#   step "backup of a fresh workspace commits metadata.json"
#   ...
#   sv_pass
#
# and runs against servers of its own, which tests/servers/with-servers.sh
# starts around it (ctest does that for every test), whose addresses come in
# the environment (the contract): SV_BIN, SV_SOURCE_DIR, SV_BUILD_DIR,
# SV_REDIS_URL, SV_S3_ENDPOINT (the R2-rules proxy), SV_S3_DIRECT_ENDPOINT
# (s3rver itself), SV_PROXY_CONTROL, SV_S3_BUCKET, AWS_ACCESS_KEY_ID,
# AWS_SECRET_ACCESS_KEY, SV_TMP. To run one test by hand:
#
#   tests/servers/with-servers.sh demo bash tests/it/some_test.sh
#
# (with SV_BIN=build-asan/sqlvault SV_BUILD_DIR=build-asan for the sanitizer
# build). Sourcing this file turns on `set -euo pipefail`. Every helper that
# waits waits on a condition with a bound. The proxy, Redis and bucket are
# the test's own, but a test should still keep to its prefixes (SV_PREFIX,
# SQLVAULT_REDIS_PREFIX) and scope fault rules with "prefix": "$SV_PREFIX",
# so that it also runs against shared servers (services.sh start DIR).
#
# CMake registers every tests/it/*.sh as a test, this file too; run directly,
# it checks that the environment contract holds and the servers answer.

set -euo pipefail

SV_LIB_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
: "${SV_SOURCE_DIR:=$(cd "$SV_LIB_DIR/../.." && pwd)}"
: "${SV_BUILD_DIR:=$SV_SOURCE_DIR/build}"
: "${SV_BIN:=$SV_BUILD_DIR/sqlvault}"
: "${SV_TMP:=${TMPDIR:-/tmp}/sqlvault-it}"
export SV_SOURCE_DIR SV_BUILD_DIR SV_BIN SV_TMP
export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-auto}"
export AWS_EC2_METADATA_DISABLED=true

SV_TEST_NAME="$(basename "${0%.sh}")"
SV_CLEANUP_PIDS=()
SV_CLEANUP_CMDS=()

# ----------------------------------------------------------------- reporting

# step MSG: prints what the test checks next.
step() { printf '\n== %s: %s\n' "$SV_TEST_NAME" "$*"; }

# note MSG: prints a detail line.
note() { printf '   %s\n' "$*"; }

# fail MSG: prints the failure and exits non-zero (cleanup runs from the trap).
fail() {
  printf '\nFAIL %s: %s\n' "$SV_TEST_NAME" "$*" >&2
  exit 1
}

# sv_pass: prints the final success line.
sv_pass() { printf '\nPASS %s\n' "$SV_TEST_NAME"; }

# sv_plain_build_only: under the sanitizer build (SV_BUILD_DIR ending in
# -asan), passes at once with a note; for tests whose C paths have their own
# tests under ASan.
sv_plain_build_only() {
  if [[ "$SV_BUILD_DIR" == *-asan ]]; then
    note "skipped under the sanitizer build (runs in the plain build)"
    sv_pass
    exit 0
  fi
}

# assert_eq EXPECTED ACTUAL [MSG]: fails unless the two strings are equal.
assert_eq() {
  local exp="$1" act="$2" msg="${3:-values differ}"
  [[ "$exp" == "$act" ]] || fail "$msg: expected [$exp], got [$act]"
  note "ok: $msg = [$act]"
}

# assert_ne UNEXPECTED ACTUAL [MSG]: fails if the two strings are equal.
assert_ne() {
  local unexp="$1" act="$2" msg="${3:-values equal}"
  [[ "$unexp" != "$act" ]] || fail "$msg: did not expect [$act]"
  note "ok: $msg != [$unexp]"
}

# assert_contains HAYSTACK NEEDLE [MSG]: fails unless NEEDLE occurs in HAYSTACK.
assert_contains() {
  local hay="$1" needle="$2" msg="${3:-missing text}"
  [[ "$hay" == *"$needle"* ]] || fail "$msg: [$needle] not in [${hay:0:2000}]"
  note "ok: $msg contains [$needle]"
}

# assert_ge A B [MSG]: fails unless integer A >= integer B.
assert_ge() {
  local a="$1" b="$2" msg="${3:-too small}"
  ((a >= b)) || fail "$msg: $a < $b"
  note "ok: $msg: $a >= $b"
}

# assert_le A B [MSG]: fails unless integer A <= integer B.
assert_le() {
  local a="$1" b="$2" msg="${3:-too large}"
  ((a <= b)) || fail "$msg: $a > $b"
  note "ok: $msg: $a <= $b"
}

# expect_status CODE CMD...: runs CMD, fails unless its exit status is CODE.
expect_status() {
  local want="$1" got=0
  shift
  "$@" || got=$?
  [[ "$got" == "$want" ]] || fail "exit status of [$*]: expected $want, got $got"
  note "ok: [$*] exited $got"
}

# ------------------------------------------------------------------- waiting

# wait_for [--timeout SECONDS] CMD... [--timeout SECONDS]: runs CMD every
# 0.1 s until it succeeds; fails the test after the timeout (default 30 s).
wait_for() {
  local timeout=30 args=()
  while (($#)); do
    if [[ "$1" == "--timeout" && $# -ge 2 ]]; then
      timeout="$2"
      shift 2
    else
      args+=("$1")
      shift
    fi
  done
  local deadline=$((SECONDS + timeout))
  while true; do
    if "${args[@]}" >/dev/null 2>&1; then return 0; fi
    ((SECONDS < deadline)) || fail "timed out after ${timeout}s waiting for: ${args[*]}"
    sleep 0.1
  done
}

# ------------------------------------------------------------------- set-up

# sv_require_env: fails with a hint unless the environment contract is there.
sv_require_env() {
  local v missing=()
  for v in SV_REDIS_URL SV_S3_ENDPOINT SV_S3_DIRECT_ENDPOINT SV_PROXY_CONTROL SV_S3_BUCKET \
    AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY; do
    [[ -n "${!v:-}" ]] || missing+=("$v")
  done
  ((${#missing[@]} == 0)) ||
    fail "missing environment: ${missing[*]}
HINT: run the suite with scripts/test.sh, or one test with
      tests/servers/with-servers.sh NAME bash tests/it/TEST.sh"
}

# sv_pid_ours PID: true if PID is alive and still a process of this test: a
# child of the test shell, or a process whose environment carries this
# test's SV_TEST_ID. A registered process that exited long ago leaves its
# number free; with pid_max 32768 and a suite that starts hundreds of
# thousands of processes side by side, the number comes back as another
# test's process, and signalling it killed that test's restore (CI, asan
# day_pitr: "terminated by signal 15").
sv_pid_ours() {
  local pid="$1" stat ppid
  kill -0 "$pid" 2>/dev/null || return 1
  stat="$(cat "/proc/$pid/stat" 2>/dev/null)" || return 1
  stat="${stat##*) }"          # past "pid (comm) ": the state, then the ppid
  ppid="${stat#* }"
  ppid="${ppid%% *}"
  [[ "$ppid" == "$$" ]] && return 0
  [[ -n "${SV_TEST_ID:-}" ]] && { tr '\0' '\n' <"/proc/$pid/environ"; } 2>/dev/null | grep -qxF "SV_TEST_ID=$SV_TEST_ID"
}

# sv_cleanup: stops what the test started (EXIT trap): sv_on_exit commands,
# sv_bg processes and any other background job of the test shell; keeps the
# scratch dir when the test failed or SV_KEEP is set.
sv_cleanup() {
  local rc=$? pid cmd
  set +e
  for cmd in "${SV_CLEANUP_CMDS[@]+"${SV_CLEANUP_CMDS[@]}"}"; do eval "$cmd" >/dev/null 2>&1; done
  # background jobs the test started with a plain `&` (and their children):
  # one left running keeps ctest's output pipe open and ctest waits for it
  # (running ones only: a job bash has reaped left its number free, see sv_pid_ours)
  for pid in $(jobs -pr); do
    pkill -TERM -P "$pid" 2>/dev/null
    kill -TERM "$pid" 2>/dev/null
  done
  for pid in "${SV_CLEANUP_PIDS[@]+"${SV_CLEANUP_PIDS[@]}"}"; do
    if sv_pid_ours "$pid"; then
      kill -TERM "$pid" 2>/dev/null
      local i
      for ((i = 0; i < 50; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
      done
      kill -KILL "$pid" 2>/dev/null
    fi
  done
  if [[ -n "${SV_SCRATCH:-}" ]]; then
    if ((rc == 0)) && [[ -z "${SV_KEEP:-}" ]]; then
      rm -rf "$SV_SCRATCH"
    else
      printf '   scratch kept: %s\n' "$SV_SCRATCH" >&2
    fi
  fi
  return "$rc"
}

# sv_on_exit CMD: runs CMD (a string) when the test exits.
sv_on_exit() { SV_CLEANUP_CMDS+=("$1"); }

# sv_setup: fresh scratch dir, a unique prefix in the test bucket and in
# Redis, and the SQLVAULT_* environment for an S3 store behind the proxy.
# Sets SV_TEST_ID, SV_SCRATCH, SV_PREFIX (key prefix, ends with /).
sv_setup() {
  sv_require_env
  SV_TEST_ID="${SV_TEST_NAME//[^A-Za-z0-9_-]/-}-$(date +%s)-$$-$RANDOM"
  SV_SCRATCH="$SV_TMP/$SV_TEST_ID"
  SV_PREFIX="$SV_TEST_ID/"
  mkdir -p "$SV_SCRATCH/data"
  export SV_TEST_ID SV_SCRATCH SV_PREFIX
  export SQLVAULT_STORE="s3://$SV_S3_BUCKET/$SV_PREFIX"
  export SQLVAULT_S3_ENDPOINT="$SV_S3_ENDPOINT"
  export SQLVAULT_S3_REGION=auto
  export SQLVAULT_REDIS_URL="$SV_REDIS_URL"
  export SQLVAULT_REDIS_PREFIX="svt-$SV_TEST_ID"
  export SQLVAULT_DATA_DIR="$SV_SCRATCH/data"
  # Incremental backups (chain.h) are the production default; the tests
  # written before them count, list and restore every backup as a full, so
  # the suite runs with incrementals off unless a test asks for them
  # (sv_use_incrementals, or SQLVAULT_FULL_EVERY set before sv_setup).
  export SQLVAULT_FULL_EVERY="${SQLVAULT_FULL_EVERY:-0}"
  trap sv_cleanup EXIT
  note "test id $SV_TEST_ID, store $SQLVAULT_STORE, redis prefix $SQLVAULT_REDIS_PREFIX"
}

# sv_use_incrementals [FULL_EVERY]: backup jobs keep a chain state and take
# incrementals and unchanged skips, as in production (default 24h).
sv_use_incrementals() { export SQLVAULT_FULL_EVERY="${1:-24h}"; }

# sv_use_file_store: switches SQLVAULT_STORE to a file:// store in the scratch dir.
sv_use_file_store() {
  mkdir -p "$SV_SCRATCH/store"
  export SQLVAULT_STORE="file://$SV_SCRATCH/store"
}

# sv_bg CMD...: starts CMD in the background, stopped at exit; sets SV_BG_PID.
sv_bg() {
  "$@" &
  SV_BG_PID=$!
  SV_CLEANUP_PIDS+=("$SV_BG_PID")
}

# free_port: prints a loopback TCP port that was free a moment ago.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# ---------------------------------------------------------------------- data

# make_db PATH ROWS: a small LiveStore-like SQLite database (WAL, an event
# log of JSON events and a state table) with ROWS events.
make_db() {
  local path="$1" rows="$2"
  mkdir -p "$(dirname "$path")"
  sqlite3 "$path" >/dev/null <<EOF
PRAGMA journal_mode=WAL;
CREATE TABLE IF NOT EXISTS eventlog (seq INTEGER PRIMARY KEY, name TEXT NOT NULL, args TEXT NOT NULL, created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS todos (id TEXT PRIMARY KEY, title TEXT NOT NULL, done INTEGER NOT NULL DEFAULT 0);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $rows)
INSERT INTO eventlog (name, args, created_at)
  SELECT 'todoCreated', json_object('id', 't' || i, 'title', 'todo number ' || i || ' ' || hex(randomblob(8))), datetime('now')
  FROM n;
INSERT OR REPLACE INTO todos (id, title) SELECT json_extract(args, '$.id'), json_extract(args, '$.title') FROM eventlog;
EOF
}

# make_workspace WS ROWS: make_db at the default path DATA_DIR/WS/livestore.db.
make_workspace() { make_db "$SQLVAULT_DATA_DIR/$1/livestore.db" "$2"; }

# db_count PATH TABLE: prints the number of rows of TABLE.
db_count() { sqlite3 "$1" "SELECT count(*) FROM $2"; }

# db_integrity PATH: prints the result of PRAGMA integrity_check.
db_integrity() { sqlite3 "$1" 'PRAGMA integrity_check'; }

# --------------------------------------------------------------------- redis

# redis_cli ARGS...: redis-cli against the suite's Redis (SV_REDIS_URL).
redis_cli() { redis-cli -u "${SQLVAULT_REDIS_URL:-$SV_REDIS_URL}" "$@"; }

# redis_private_start [redis-server args...]: starts a private redis-server
# with appendonly on, on a free port, in the scratch dir; stopped at exit.
# Sets SV_PRIVATE_REDIS_URL, SV_PRIVATE_REDIS_PORT, SV_PRIVATE_REDIS_PID.
# Extra arguments go to redis-server (e.g. --appendfsync always).
redis_private_start() {
  local dir="${SV_SCRATCH:-$SV_TMP}/redis-private" attempt port pid i
  mkdir -p "$dir"
  for attempt in 1 2 3 4 5; do
    port="$(free_port)"
    redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" --appendonly yes --save '' \
      --daemonize no --logfile "$dir/redis.log" "$@" </dev/null >/dev/null 2>&1 &
    pid=$!
    for ((i = 0; i < 100; i++)); do
      if redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null | grep -q PONG; then
        SV_PRIVATE_REDIS_PORT="$port"
        SV_PRIVATE_REDIS_PID="$pid"
        SV_PRIVATE_REDIS_URL="redis://127.0.0.1:$port/0"
        SV_CLEANUP_PIDS+=("$pid")
        export SV_PRIVATE_REDIS_URL SV_PRIVATE_REDIS_PORT SV_PRIVATE_REDIS_PID
        note "private redis on port $port (pid $pid, appendonly, dir $dir)"
        return 0
      fi
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  fail "could not start a private redis-server (see $dir/redis.log)"
}

# redis_private_stop [--kill]: stops the private redis (SIGTERM, or SIGKILL
# with --kill to simulate a crash) and waits until it is gone.
redis_private_stop() {
  local sig=TERM
  [[ "${1:-}" == "--kill" ]] && sig=KILL
  [[ -n "${SV_PRIVATE_REDIS_PID:-}" ]] || return 0
  kill -"$sig" "$SV_PRIVATE_REDIS_PID" 2>/dev/null || true
  wait_for --timeout 20 bash -c "! kill -0 $SV_PRIVATE_REDIS_PID 2>/dev/null"
  wait "$SV_PRIVATE_REDIS_PID" 2>/dev/null || true
}

# redis_private_restart: restarts the private redis on the same port and
# directory (the append-only file brings its data back).
redis_private_restart() {
  local port="$SV_PRIVATE_REDIS_PORT" dir="${SV_SCRATCH:-$SV_TMP}/redis-private" i
  redis_private_stop
  redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" --appendonly yes --save '' \
    --daemonize no --logfile "$dir/redis.log" </dev/null >/dev/null 2>&1 &
  SV_PRIVATE_REDIS_PID=$!
  SV_CLEANUP_PIDS+=("$SV_PRIVATE_REDIS_PID")
  wait_for --timeout 20 bash -c "redis-cli -h 127.0.0.1 -p $port ping | grep -q PONG"
}

# ----------------------------------------------------------------------- S3

# aws_s3 ARGS...: the aws CLI against s3rver directly (bypassing the proxy),
# e.g. `aws_s3 s3api list-objects-v2 --bucket "$SV_S3_BUCKET" --prefix "$SV_PREFIX"`.
aws_s3() { aws --endpoint-url "$SV_S3_DIRECT_ENDPOINT" --region auto "$@"; }

# aws_proxy ARGS...: the aws CLI through the R2-rules proxy.
aws_proxy() { aws --endpoint-url "$SV_S3_ENDPOINT" --region auto "$@"; }

# s3_curl [--direct] [--secret S] METHOD KEY [curl args...]: a SigV4-signed
# curl request (UNSIGNED-PAYLOAD) for KEY in the test bucket through the proxy
# (or s3rver with --direct); prints the HTTP status, the body goes to
# $SV_CURL_OUT (default /dev/null). KEY may carry a query (?uploads). A
# caller's own x-amz-content-sha256 header replaces UNSIGNED-PAYLOAD.
s3_curl() {
  local endpoint="$SV_S3_ENDPOINT" secret="$AWS_SECRET_ACCESS_KEY"
  while [[ "${1:-}" == --* ]]; do
    case "$1" in
      --direct) endpoint="$SV_S3_DIRECT_ENDPOINT"; shift ;;
      --secret) secret="$2"; shift 2 ;;
      *) break ;;
    esac
  done
  local method="$1" key="$2" a hash=(-H 'x-amz-content-sha256: UNSIGNED-PAYLOAD')
  shift 2
  for a in "$@"; do [[ "${a,,}" == x-amz-content-sha256:* ]] && hash=(); done
  curl -sS -o "${SV_CURL_OUT:-/dev/null}" -w '%{http_code}' -X "$method" \
    --aws-sigv4 "aws:amz:auto:s3" --user "$AWS_ACCESS_KEY_ID:$secret" \
    "${hash[@]+"${hash[@]}"}" "$@" "$endpoint/$SV_S3_BUCKET/$key"
}

# s3_keys [PREFIX]: prints the keys under PREFIX (default: the test's), one a line.
s3_keys() {
  aws_s3 s3api list-objects-v2 --bucket "$SV_S3_BUCKET" --prefix "${1:-$SV_PREFIX}" \
    --query 'Contents[].Key' --output text | tr '\t' '\n' | grep -v '^None$' || true
}

# s3_get KEY FILE / s3_put FILE KEY: download or upload an object (direct
# endpoint), with curl's SigV4 signer: the aws CLI costs about a second of
# CPU a call, and tests tamper with objects this way by the dozen (the aws
# CLI and botocore keep their own tests: s3_sigv4_botocore, infra_proxy*).
# A key with characters a URL path would need escaped goes through the CLI.
s3_get() {
  if [[ "$1" =~ ^[A-Za-z0-9._/~-]+$ ]]; then
    local code out="$2"
    [[ "$out" == - ]] && out="$(mktemp "${SV_SCRATCH:-${TMPDIR:-/tmp}}/s3get.XXXXXX")"
    code="$(SV_CURL_OUT="$out" s3_curl --direct GET "$1")" || { [[ "$2" == - ]] && rm -f "$out"; return 1; }
    if [[ "$code" != 200 ]]; then
      echo "s3_get $1: HTTP $code" >&2
      rm -f "$out"
      return 1
    fi
    if [[ "$2" == - ]]; then cat "$out"; rm -f "$out"; fi
  else
    aws_s3 s3 cp --only-show-errors "s3://$SV_S3_BUCKET/$1" "$2"
  fi
}
s3_put() {
  if [[ "$2" =~ ^[A-Za-z0-9._/~-]+$ ]]; then
    local code
    code="$(s3_curl --direct PUT "$2" --upload-file "$1")" || return 1
    [[ "$code" == 200 ]] || { echo "s3_put $2: HTTP $code" >&2; return 1; }
  else
    aws_s3 s3 cp --only-show-errors "$1" "s3://$SV_S3_BUCKET/$2"
  fi
}

# --------------------------------------------------------------------- proxy

# proxy_api METHOD PATH [JSON]: calls the proxy's control API, prints the answer.
proxy_api() {
  local method="$1" path="$2" data="${3:-}"
  if [[ -n "$data" ]]; then
    curl -fsS -X "$method" -H 'content-type: application/json' --data "$data" "$SV_PROXY_CONTROL$path"
  else
    curl -fsS -X "$method" "$SV_PROXY_CONTROL$path"
  fi
}

# proxy_faults JSON: installs fault rules ({"seed":N,"rules":[...]}, see
# tests/servers/README.md), replacing the previous ones.
proxy_faults() {
  local out code
  out="$(curl -sS -w '\n%{http_code}' -X POST -H 'content-type: application/json' --data "$1" \
    "$SV_PROXY_CONTROL/faults")" || fail "proxy control API unreachable at $SV_PROXY_CONTROL"
  code="${out##*$'\n'}"
  [[ "$code" == 200 ]] || fail "proxy rejected the fault rules ($code): ${out%$'\n'*}"
}

# proxy_reset: clears the proxy's faults and request log.
proxy_reset() { proxy_api POST /reset >/dev/null; }

# proxy_open_uploads [PREFIX]: prints the number of multipart uploads the
# proxy saw created and neither completed nor aborted under PREFIX (default:
# the test's prefix) in the test bucket.
proxy_open_uploads() {
  local prefix="${1-${SV_PREFIX:-}}"
  curl -fsS -G "$SV_PROXY_CONTROL/uploads" --data-urlencode "bucket=$SV_S3_BUCKET" \
    --data-urlencode "prefix=$prefix" |
    python3 -c 'import json,sys; print(len(json.load(sys.stdin)["uploads"]))'
}

# proxy_uploads_json [PREFIX]: the open uploads as JSON (parts and their sizes).
proxy_uploads_json() {
  local prefix="${1-${SV_PREFIX:-}}"
  curl -fsS -G "$SV_PROXY_CONTROL/uploads" --data-urlencode "bucket=$SV_S3_BUCKET" \
    --data-urlencode "prefix=$prefix"
}

# proxy_log [OP...]: prints the proxy's request log entries (one JSON object
# a line), only those of the test's prefix, optionally only the given ops.
proxy_log() {
  local args=() op
  for op in "$@"; do args+=(--data-urlencode "op=$op"); done
  curl -fsS -G "$SV_PROXY_CONTROL/log" "${args[@]+"${args[@]}"}" |
    python3 -c '
import json, os, sys
prefix = os.environ.get("SV_PREFIX", "")
for e in json.load(sys.stdin)["entries"]:
    subject = e.get("key") or e.get("listPrefix") or ""
    if subject.startswith(prefix):
        print(json.dumps(e))'
}

# proxy_count OP [STATUS]: prints how many requests of OP (under the test's
# prefix) the proxy answered, optionally only those with STATUS.
proxy_count() {
  local op="$1" status="${2:-}"
  proxy_log "$op" | python3 -c '
import json, sys
want = sys.argv[1]
print(sum(1 for l in sys.stdin if not want or str(json.loads(l)["status"]) == want))' "$status"
}

# ---------------------------------------------------------------- self-check

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  SV_TEST_NAME=lib
  step "the environment contract holds and the servers answer"
  sv_require_env
  for v in SV_BIN SV_SOURCE_DIR SV_BUILD_DIR SV_REDIS_URL SV_S3_ENDPOINT SV_S3_DIRECT_ENDPOINT \
    SV_PROXY_CONTROL SV_S3_BUCKET SV_TMP; do
    note "$v=${!v}"
  done
  assert_eq PONG "$(redis-cli -u "$SV_REDIS_URL" ping)" "redis ping"
  assert_contains "$(proxy_api GET /health)" '"ok":true' "proxy control health"
  aws_s3 s3api head-bucket --bucket "$SV_S3_BUCKET" >/dev/null || fail "bucket $SV_S3_BUCKET missing on s3rver"
  note "ok: bucket $SV_S3_BUCKET exists"
  mkdir -p "$SV_TMP" && [[ -w "$SV_TMP" ]] || fail "SV_TMP $SV_TMP not writable"
  note "ok: SV_TMP writable"
  sv_pass
fi

# mini_livestore DIR: a small LiveStore store in DIR: eventlog@6.db with 50
# events, state-1@6.db with their changeset rows and an empty items table.
mini_livestore() {
  sqlite3 "$1/eventlog@6.db" >/dev/null <<'SQL'
PRAGMA page_size=8192; PRAGMA journal_mode=delete;
CREATE TABLE eventlog (seqNumGlobal integer not null, seqNumClient integer not null,
 seqNumRebaseGeneration integer not null, parentSeqNumGlobal integer not null,
 parentSeqNumClient integer not null, parentSeqNumRebaseGeneration integer not null,
 name text not null, argsJson text not null, clientId text not null, sessionId text not null,
 schemaHash integer not null, syncMetadataJson text not null,
 PRIMARY KEY (seqNumGlobal, seqNumClient, seqNumRebaseGeneration)) strict;
WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM k WHERE i < 50)
 INSERT INTO eventlog SELECT i,0,0,i-1,0,0,'v1.ItemAdded','{}','c','s',1,'{}' FROM k;
SQL
  sqlite3 "$1/state-1@6.db" >/dev/null <<'SQL'
PRAGMA page_size=8192;
CREATE TABLE __livestore_session_changeset (seqNumGlobal integer not null, seqNumClient integer
 not null, seqNumRebaseGeneration integer not null, changeset blob, debug text) strict;
CREATE TABLE items (id text primary key, n integer) strict;
WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM k WHERE i < 50)
 INSERT INTO __livestore_session_changeset SELECT i,0,0,NULL,NULL FROM k;
SQL
}
