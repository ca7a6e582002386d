#!/usr/bin/env bash
# ops_no_secrets.sh -- no secret anywhere sqlvault writes. Every job type
# (backup, export, import-url + upload + restore from it, restore, verify,
# prune, a scheduler tick whose failure alert goes to a webhook) runs with
# distinctive credentials: an S3 key pair of a private s3rver, a Redis
# password, a webhook URL with a secret path, and debug logs on. Then every
# log line, every Redis key of the prefix (job hashes, events stream, dead
# letters, stats ...) and the events channel, /metrics and the process list
# are searched: no secret key, no Redis password, no webhook path, no
# Authorization header, no presigned signature.
#
# One place legitimately holds a presigned URL: the `result` of the export or
# import-url job that made it -- that is how the client receives it (docs/COMMANDS.md).
# The test checks the signature is there and nowhere else.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/ops_lib.sh"
sv_setup
AKID="AKIDSVOPS$RANDOM$RANDOM"
SECRET="sEcReT-OpsTest-$RANDOM-DoNotLeak-$RANDOM"
RPASS="rEdIsPaSs-OpsTest-$RANDOM$RANDOM"
HOOKSECRET="HoOkPaTh$RANDOM$RANDOM"

step "a private s3rver that also knows a distinctive key pair, a Redis with a password"
mkdir -p "$SV_SCRATCH/s3"
export OPS_AKID="$AKID" OPS_SECRET="$SECRET"
(cd "$SV_SOURCE_DIR/tests/servers" && node --openssl-legacy-provider -e "
  require('@20minutes/s3rver/lib/models/account').DUMMY_ACCOUNT.createKeyPair(process.env.OPS_AKID, process.env.OPS_SECRET)
  require('./start-s3rver.js')" x --dir "$SV_SCRATCH/s3" --bucket ops --port-file "$SV_SCRATCH/s3.port" \
  >"$SV_SCRATCH/s3rver.log" 2>&1) &
SV_CLEANUP_PIDS+=($!)
wait_for --timeout 20 test -s "$SV_SCRATCH/s3.port"
unset OPS_AKID OPS_SECRET
export AWS_ACCESS_KEY_ID="$AKID" AWS_SECRET_ACCESS_KEY="$SECRET"
export SQLVAULT_STORE="s3://ops/$SV_PREFIX" SQLVAULT_S3_ENDPOINT="http://127.0.0.1:$(cat "$SV_SCRATCH/s3.port")"
SV_PRIVATE_REDIS_PORT=$(free_port)
mkdir -p "$SV_SCRATCH/redis"
redis-server --port "$SV_PRIVATE_REDIS_PORT" --bind 127.0.0.1 --dir "$SV_SCRATCH/redis" --save '' --appendonly no \
  --requirepass "$RPASS" --logfile "$SV_SCRATCH/redis/redis.log" </dev/null >/dev/null 2>&1 &
SV_CLEANUP_PIDS+=($!)
wait_for --timeout 10 bash -c "redis-cli -p $SV_PRIVATE_REDIS_PORT -a '$RPASS' --no-auth-warning PING | grep -q PONG"
export SQLVAULT_REDIS_URL="redis://:$RPASS@127.0.0.1:$SV_PRIVATE_REDIS_PORT/0"
export SQLVAULT_LOG_FORMAT=json SQLVAULT_DEBUG=1 SQLVAULT_MAX_ATTEMPTS=1
python3 "$SV_SOURCE_DIR/tests/tools/webhook_receiver.py" "$SV_SCRATCH/hook.port" "$SV_SCRATCH/hook.log" &
SV_CLEANUP_PIDS+=($!)
wait_for --timeout 10 test -s "$SV_SCRATCH/hook.port"
export SQLVAULT_ALERT_WEBHOOK="http://127.0.0.1:$(cat "$SV_SCRATCH/hook.port")/services/$HOOKSECRET"
R() { redis-cli -p "$SV_PRIVATE_REDIS_PORT" -a "$RPASS" --no-auth-warning "$@"; }
R SUBSCRIBE "$SQLVAULT_REDIS_PREFIX:{default}:events" >"$SV_SCRATCH/channel.log" 2>&1 &
SV_CLEANUP_PIDS+=($!)

step "a worker (secret also passed as a flag) and every job type"
maddr="127.0.0.1:$(free_port)"
LOGS="$SV_SCRATCH/logs"
mkdir -p "$LOGS"
"$SV_BIN" worker --threads 2 --metrics-addr "$maddr" --secret-access-key "$SECRET" >"$LOGS/worker.out" 2>"$LOGS/worker.err" &
wpid=$!
SV_CLEANUP_PIDS+=($wpid)
wait_for --timeout 10 curl -fsS "http://$maddr/healthz"
make_workspace sec1 1000
run() { local name="$1"; shift; "$SV_BIN" "$@" >"$LOGS/$name.out" 2>"$LOGS/$name.err" || fail "$name failed: $(cat "$LOGS/$name.err")"; }
run backup backup sec1 --json
run export export sec1 --json --id ops-export-1
run importurl import-url sec1 --json --id ops-import-1
url=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["result"]["url"])' "$LOGS/importurl.out")
key=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["result"]["key"])' "$LOGS/importurl.out")
cp "$SQLVAULT_DATA_DIR/sec1/livestore.db" "$SV_SCRATCH/upload.db"
curl -fsS -T "$SV_SCRATCH/upload.db" "$url" >/dev/null || fail "upload to the presigned PUT failed"
run restore_obj restore sec1 --from "object:$key" --yes --json
run restore restore sec1 --from latest --yes --json
run verify verify sec1 --json
run prune prune sec1 --json
run stats stats --json
run statsws stats --ws sec1 --json
run list list sec1 --json
run jobs jobs
run status status ops-export-1 --json
# a scheduler tick with one broken workspace: the alert goes to the webhook
mkdir -p "$SQLVAULT_DATA_DIR/broken1" && head -c 8192 /dev/urandom >"$SQLVAULT_DATA_DIR/broken1/livestore.db"
"$SV_BIN" scheduler --once --wait --timeout 120 --json >"$LOGS/scheduler.out" 2>"$LOGS/scheduler.err" || true
wait_for --timeout 30 test -s "$SV_SCRATCH/hook.log"
# an inline job and a bad-credential run log their errors too
"$SV_BIN" backup sec1 --inline --json >"$LOGS/inline.out" 2>"$LOGS/inline.err" || fail "inline backup failed"
AWS_SECRET_ACCESS_KEY="$SECRET-wrong" "$SV_BIN" backup sec1 --inline >/dev/null 2>"$LOGS/badcred.err" || true
assert_contains "$(cat "$LOGS/badcred.err")" "rejected the credentials" "bad credentials reported"
# the process list of sqlvault itself (the test's own redis-cli and redis-server show their password)
ps -eo pid,args | grep -F -- "$SV_BIN" | grep -v grep >"$SV_SCRATCH/ps.txt" || true
assert_ge "$(wc -l <"$SV_SCRATCH/ps.txt")" 1 "sqlvault processes listed"
tr '\0' ' ' </proc/$wpid/cmdline >"$SV_SCRATCH/cmdline.txt"
scrape "$maddr" >"$SV_SCRATCH/metrics.txt"
curl -s "http://$maddr/readyz" >"$SV_SCRATCH/readyz.txt"
sleep 1

step "dump every Redis key of the prefix"
python3 - "$SV_PRIVATE_REDIS_PORT" "$RPASS" "$SQLVAULT_REDIS_PREFIX" >"$SV_SCRATCH/redis.txt" <<'PY'
import socket, sys
port, pw, prefix = int(sys.argv[1]), sys.argv[2], sys.argv[3]
s = socket.create_connection(("127.0.0.1", port)); f = s.makefile("rb")
def read():
    l = f.readline(); t, r = l[:1], l[1:-2]
    if t in (b"+", b"-"): return r.decode()
    if t == b":": return int(r)
    if t == b"$":
        n = int(r); return None if n < 0 else f.read(n + 2)[:-2].decode("utf-8", "replace")
    if t == b"*":
        n = int(r); return None if n < 0 else [read() for _ in range(n)]
def call(*a):
    out = b"*%d\r\n" % len(a)
    for x in a:
        x = str(x).encode(); out += b"$%d\r\n%s\r\n" % (len(x), x)
    s.sendall(out); return read()
call("AUTH", pw)
cur = "0"; keys = []
while True:
    cur, ks = call("SCAN", cur, "COUNT", 1000); keys += ks
    if cur == "0": break
for k in sorted(keys):
    t = call("TYPE", k)
    v = {"string": lambda: call("GET", k), "hash": lambda: call("HGETALL", k), "list": lambda: call("LRANGE", k, 0, -1),
         "set": lambda: call("SMEMBERS", k), "zset": lambda: call("ZRANGE", k, 0, -1, "WITHSCORES"),
         "stream": lambda: call("XRANGE", k, "-", "+")}.get(t, lambda: None)()
    print("KEY", k, t, repr(v))
PY
note "$(grep -c '^KEY' "$SV_SCRATCH/redis.txt") keys dumped, $(cat "$LOGS"/*.err | wc -l) log lines, $(wc -l <"$SV_SCRATCH/channel.log") channel lines"
assert_ge "$(grep -c '^KEY' "$SV_SCRATCH/redis.txt")" 10 "keys dumped"

step "no secret, Authorization header, or presigned signature anywhere"
export_sig=$(python3 -c 'import json,sys,urllib.parse as u; q=u.parse_qs(u.urlparse(json.load(open(sys.argv[1]))["result"]["url"]).query); print(q["X-Amz-Signature"][0])' "$LOGS/export.out")
import_sig=$(python3 -c 'import sys,urllib.parse as u; print(u.parse_qs(u.urlparse(sys.argv[1]).query)["X-Amz-Signature"][0])' "$url")
[[ ${#export_sig} == 64 && ${#import_sig} == 64 ]] || fail "no signatures found in the URLs"
everything=("$LOGS"/*.err "$LOGS/worker.out" "$LOGS/backup.out" "$LOGS/restore.out" "$LOGS/restore_obj.out"
  "$LOGS/verify.out" "$LOGS/prune.out" "$LOGS/stats.out" "$LOGS/statsws.out" "$LOGS/list.out" "$LOGS/jobs.out"
  "$LOGS/scheduler.out" "$LOGS/inline.out" "$SV_SCRATCH/ps.txt" "$SV_SCRATCH/cmdline.txt" "$SV_SCRATCH/metrics.txt"
  "$SV_SCRATCH/readyz.txt" "$SV_SCRATCH/channel.log")
# Redis without the two results that carry their own presigned URL
grep -v "job:ops-export-1 \|job:ops-import-1 " "$SV_SCRATCH/redis.txt" >"$SV_SCRATCH/redis-rest.txt"
grep -q "$export_sig" "$SV_SCRATCH/redis.txt" || fail "the export's URL is not in its job result"
for needle in "$SECRET" "$RPASS" "$HOOKSECRET" "Authorization" "AWS4-HMAC-SHA256 Credential" "$export_sig" "$import_sig"; do
  hits=$(grep -l -F -- "$needle" "${everything[@]}" "$SV_SCRATCH/redis-rest.txt" 2>/dev/null || true)
  [[ -z "$hits" ]] || fail "found '${needle:0:12}...' in: $hits"
done
hits=$(grep -l -F -- "X-Amz-Signature" "${everything[@]}" "$SV_SCRATCH/redis-rest.txt" || true)
[[ -z "$hits" ]] || fail "a presigned URL's signature in: $hits"
# the status command prints the export's result on purpose (it is the user's); only there
assert_contains "$(cat "$LOGS/status.out")" "X-Amz-Signature" "status shows the export's own URL"
note "ok: searched $(cat "${everything[@]}" "$SV_SCRATCH/redis-rest.txt" | wc -l) lines"
sv_pass
