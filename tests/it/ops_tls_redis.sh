#!/usr/bin/env bash
# ops_tls_redis.sh -- the TLS Redis recipe of docs/deploy-r2.md: hiredis 0.14
# has no TLS, so a stunnel client (docker/stunnel/redis-client.conf, with
# the addresses of this test) carries the worker's plain connection to a
# `redis-server --tls-port` on loopback with a self-signed certificate and a
# password. A worker and a job command through the tunnel run a backup; the
# TLS port refuses plain RESP; a tunnel that does not trust the server's
# certificate does not connect.
source "$(dirname "$0")/lib.sh"
sv_setup
sv_use_file_store
export SQLVAULT_LOG_FORMAT=text
command -v stunnel4 >/dev/null || fail "stunnel4 is missing (scripts/install-deps.sh installs it)"
d="$SV_SCRATCH/tls"
mkdir -p "$d"

step "a self-signed certificate and a TLS-only redis-server on loopback"
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=redis.test" \
  -addext "subjectAltName=DNS:redis.test,IP:127.0.0.1" -keyout "$d/key.pem" -out "$d/cert.pem" 2>/dev/null
tls_port=$(free_port)
pass="tls-test-$RANDOM$RANDOM"
redis-server --port 0 --tls-port "$tls_port" --tls-cert-file "$d/cert.pem" --tls-key-file "$d/key.pem" \
  --tls-ca-cert-file "$d/cert.pem" --tls-auth-clients no --requirepass "$pass" --save '' --appendonly no \
  --dir "$d" >"$d/redis.log" 2>&1 &
SV_CLEANUP_PIDS+=($!)
rtls() { redis-cli --tls --cacert "$d/cert.pem" -h 127.0.0.1 -p "$tls_port" -a "$pass" --no-auth-warning "$@"; }
wait_for --timeout 10 bash -c "[[ \$(redis-cli --tls --cacert '$d/cert.pem' -h 127.0.0.1 -p $tls_port -a '$pass' --no-auth-warning PING) == PONG ]]"
note "ok: redis answers TLS on $tls_port"
out=$(timeout 5 redis-cli -h 127.0.0.1 -p "$tls_port" -a "$pass" --no-auth-warning PING 2>&1 || true)
[[ "$out" != PONG ]] || fail "the TLS port answered plain RESP"
note "ok: plain RESP refused on the TLS port: $(tr -s "\n" " " <<<"${out:-no answer}")"

step "stunnel from the shipped recipe, with this test's addresses"
local_port=$(free_port)
sed -e "s|^accept = .*|accept = 127.0.0.1:$local_port|" -e "s|^connect = .*|connect = 127.0.0.1:$tls_port|" \
  -e "s|^CAfile = .*|CAfile = $d/cert.pem|" -e "s|^checkHost = .*|checkHost = redis.test|" \
  "$SV_SOURCE_DIR/docker/stunnel/redis-client.conf" >"$d/stunnel.conf"
stunnel4 "$d/stunnel.conf" >"$d/stunnel.log" 2>&1 &
SV_CLEANUP_PIDS+=($!)
export SQLVAULT_REDIS_URL="redis://:$pass@127.0.0.1:$local_port/0"
wait_for --timeout 10 bash -c "[[ \$(redis-cli -h 127.0.0.1 -p $local_port -a '$pass' --no-auth-warning PING) == PONG ]]"
note "ok: plain PING through the tunnel"

step "a worker through the tunnel runs a backup job"
make_workspace tls1 500
"$SV_BIN" worker --threads 2 >"$SV_SCRATCH/worker.log" 2>&1 &
SV_CLEANUP_PIDS+=($!)
out=$("$SV_BIN" backup tls1 --json --id tls-job-1) || fail "backup through the tunnel failed: $out"
assert_eq succeeded "$(rtls HGET "$SQLVAULT_REDIS_PREFIX:{default}:job:tls-job-1" state)" "job state, read over TLS directly"
assert_eq 1 "$("$SV_BIN" list tls1 --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" "committed backups"
if grep -q "$pass" "$SV_SCRATCH/worker.log" "$d/stunnel.log"; then fail "the redis password appears in a log"; fi

step "a tunnel that does not trust the server's certificate does not connect"
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=other" -keyout "$d/other.key" -out "$d/other.pem" 2>/dev/null
bad_port=$(free_port)
sed -e "s|^accept = .*|accept = 127.0.0.1:$bad_port|" -e "s|^connect = .*|connect = 127.0.0.1:$tls_port|" \
  -e "s|^CAfile = .*|CAfile = $d/other.pem|" -e "s|^checkHost = .*|checkHost = redis.test|" \
  "$SV_SOURCE_DIR/docker/stunnel/redis-client.conf" >"$d/stunnel-bad.conf"
stunnel4 "$d/stunnel-bad.conf" >"$d/stunnel-bad.log" 2>&1 &
SV_CLEANUP_PIDS+=($!)
wait_for --timeout 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$bad_port" 
rc=0
SQLVAULT_REDIS_URL="redis://:$pass@127.0.0.1:$bad_port/0" "$SV_BIN" stats >/dev/null 2>"$SV_SCRATCH/bad.err" || rc=$?
assert_eq 3 "$rc" "exit status through an untrusted tunnel (redis unreachable)"
assert_contains "$(cat "$d/stunnel-bad.log")" "CERT" "stunnel reports the certificate failure"
sv_pass
