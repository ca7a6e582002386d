#!/usr/bin/env bash
# queue_lib.sh -- helpers for the queue and worker integration tests
# (tests/it/queue_*.sh, worker_*.sh), sourced after lib.sh and sv_setup.
#
# Run directly (CMake registers it like every tests/it/*.sh), it checks the
# helpers themselves: a plain RESP client with no sqlvault code enqueues a
# job through the shipped function and reads it back with HGETALL.
#
#   qbase                     the default pool's key prefix: PREFIX:{default}:
#   qpy enqueue ID TYPE WS PRIO MAXA JSON-OPTS   (opts packed as msgpack)
#   qpy bulk PREFIX N TYPE WS-PATTERN PRIO MAXA JSON-OPTS   pipelined enqueue of
#                             ids PREFIX-1..N; WS-PATTERN may hold %d
#   qstate ID / qfield ID F   a job's state / field
#   start_worker NAME ARGS... starts `sqlvault worker ARGS` (log in
#                             $SV_SCRATCH/NAME.log); sets WORKER_PID
#   wait_state ID STATE [T]   waits (bounded) until the job is in STATE
#   wait_finished N [T]       waits until N jobs of the pool finished

qbase() { printf '%s:{default}:' "$SQLVAULT_REDIS_PREFIX"; }

# qpy CMD ARGS...: the raw-RESP helper (python3, no client library).
qpy() {
  SV_QUEUE_LUA="$SV_SOURCE_DIR/src/queue/sqlvault.lua" python3 - "$@" <<'EOF'
import json, os, socket, sys, urllib.parse

def mp(v):
    """msgpack encoding of a JSON value (the subset job options use)."""
    if v is None: return b'\xc0'
    if v is True: return b'\xc3'
    if v is False: return b'\xc2'
    if isinstance(v, int):
        if 0 <= v < 128: return bytes([v])
        return b'\xd3' + v.to_bytes(8, 'big', signed=True)
    if isinstance(v, float):
        import struct; return b'\xcb' + struct.pack('>d', v)
    if isinstance(v, str):
        b = v.encode()
        if len(b) < 32: return bytes([0xa0 | len(b)]) + b
        return b'\xd9' + bytes([len(b)]) + b if len(b) < 256 else b'\xda' + len(b).to_bytes(2, 'big') + b
    if isinstance(v, list):
        return bytes([0x90 | len(v)]) + b''.join(mp(x) for x in v)
    if isinstance(v, dict):
        return bytes([0x80 | len(v)]) + b''.join(mp(k) + mp(x) for k, x in v.items())
    raise ValueError(v)

def cmd(*args):
    out = b'*%d\r\n' % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b'$%d\r\n%s\r\n' % (len(a), a)
    return out

class R:
    def __init__(self, url):
        u = urllib.parse.urlparse(url)
        self.s = socket.create_connection((u.hostname, u.port or 6379))
        self.f = self.s.makefile('rb')
        db = (u.path or '/0').strip('/') or '0'
        if u.password: self.call('AUTH', u.password)
        if db != '0': self.call('SELECT', db)
    def read(self):
        line = self.f.readline()
        t, rest = line[:1], line[1:-2]
        if t == b'+': return rest.decode()
        if t == b'-': raise RuntimeError(rest.decode())
        if t == b':': return int(rest)
        if t == b'$':
            n = int(rest)
            if n < 0: return None
            d = self.f.read(n + 2)[:-2]
            return d.decode(errors='replace')
        if t == b'*':
            n = int(rest)
            return None if n < 0 else [self.read() for _ in range(n)]
        raise RuntimeError('bad reply %r' % line)
    def call(self, *args):
        self.s.sendall(cmd(*args))
        try:
            return self.read()
        except RuntimeError as e:
            # a fresh Redis has no library until a worker loads it: load the
            # shipped one and retry, as the clients do (docs/PROTOCOL.md)
            if 'Function not found' not in str(e) or args[0] != 'FCALL': raise
            self.load()
            self.s.sendall(cmd(*args)); return self.read()
    def load(self):
        with open(os.environ['SV_QUEUE_LUA'], 'rb') as f:
            self.s.sendall(cmd('FUNCTION', 'LOAD', 'REPLACE', f.read())); self.read()

r = R(os.environ['SQLVAULT_REDIS_URL'])
base = os.environ['SQLVAULT_REDIS_PREFIX'] + ':{default}:'
op = sys.argv[1]
if op == 'enqueue':
    id_, typ, ws, prio, maxa, opts = sys.argv[2:8]
    print(' '.join(map(str, r.call('FCALL', 'sqlvault_enqueue', 1, base, id_, typ, ws, prio, maxa,
                                   mp(json.loads(opts)) if opts else b''))))
elif op == 'bulk':
    pfx, n, typ, wsp, prio, maxa, opts = sys.argv[2:9]
    o = mp(json.loads(opts)) if opts else b''
    n = int(n)
    if not r.call('FUNCTION', 'LIST', 'LIBRARYNAME', 'sqlvault'): r.load()
    for start in range(1, n + 1, 500):
        batch = range(start, min(n, start + 499) + 1)
        r.s.sendall(b''.join(cmd('FCALL', 'sqlvault_enqueue', 1, base, '%s-%d' % (pfx, i), typ,
                                 wsp % i if '%d' in wsp else wsp, prio, maxa, o) for i in batch))
        for _ in batch: r.read()
    print(n)
else:
    res = r.call(*sys.argv[1:])
    print(json.dumps(res))
EOF
}

qstate() { redis_cli HGET "$(qbase)job:$1" state; }
qfield() { redis_cli HGET "$(qbase)job:$1" "$2"; }

# start_worker NAME ARGS...: a worker process in the background.
start_worker() {
  local name="$1"
  shift
  "$SV_BIN" worker "$@" >"$SV_SCRATCH/$name.log" 2>&1 &
  WORKER_PID=$!
  SV_CLEANUP_PIDS+=("$WORKER_PID")
  note "worker $name: pid $WORKER_PID ($*)"
}

# wait_state ID STATE [TIMEOUT]
wait_state() { wait_for --timeout "${3:-30}" bash -c "[[ \"\$(redis-cli -u '$SQLVAULT_REDIS_URL' HGET '$(qbase)job:$1' state)\" == '$2' ]]"; }

# followup_ts JOB [SECONDS]: waits (bounded) for the follow-up job named by
# the queued restore JOB's result (pre_restore_job) to succeed; prints the
# pre-restore backup it committed (its ts). A delta restore takes that
# backup itself, in the pause: its result's safety_backup.
followup_ts() {
  local fu
  if [[ "$(qfield "$1" result | jq -r .swap)" == delta ]]; then
    qfield "$1" result | jq -r .safety_backup
    return
  fi
  fu="$(qfield "$1" result | jq -r '.pre_restore_job // empty')"
  [[ -n "$fu" ]] || fail "restore $1 names no pre_restore_job: $(qfield "$1" result)"
  wait_state "$fu" succeeded "${2:-90}" || fail "follow-up $fu: $(qfield "$fu" state) $(qfield "$fu" error)"
  qfield "$fu" result | jq -r .ts
}

# finished_count: succeeded + failed + cancelled of the default pool.
finished_count() {
  redis_cli HMGET "$(qbase)stats" succeeded failed cancelled | awk '{s += $1} END {print s + 0}'
}

# wait_finished N [TIMEOUT]
wait_finished() {
  local n="$1" timeout="${2:-60}" deadline=$((SECONDS + ${2:-60}))
  while (($(finished_count) < n)); do
    ((SECONDS < deadline)) || fail "timed out after ${timeout}s: $(finished_count) of $n jobs finished"
    sleep 0.1
  done
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  source "$(dirname "$0")/lib.sh"
  sv_setup
  step "a plain RESP client enqueues through the shipped function; the id dedupes"
  redis_cli FUNCTION LOAD REPLACE "$(cat "$SV_SOURCE_DIR/src/queue/sqlvault.lua")" >/dev/null
  assert_eq "1 queued" "$(qpy enqueue lib-1 backup ws-1 interactive 3 '{"ts": 1767225600000, "db": "/x"}')" "first enqueue"
  assert_eq "0 queued" "$(qpy enqueue lib-1 backup ws-1 interactive 3 '')" "second enqueue of the id"
  assert_eq queued "$(qstate lib-1)" "state"
  assert_eq 3 "$(qfield lib-1 max_attempts)" "max_attempts"
  assert_eq 500 "$(qpy bulk lib-bulk 500 backup 'ws-%d' scheduled 5 '')" "bulk enqueue"
  assert_eq 500 "$(redis_cli XLEN "$(qbase)q:scheduled")" "scheduled stream length"
  assert_eq x "$(qfield lib-bulk-17 lock)" "lock mode of a backup"
  assert_eq ws-17 "$(qfield lib-bulk-17 workspace)" "workspace of a bulk job"
  sv_pass
fi
