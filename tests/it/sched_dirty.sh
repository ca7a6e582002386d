#!/usr/bin/env bash
# sched_dirty.sh -- the dirty set, the schedule behind the one-minute RPO
# (src/sched/dirty.c, sqlvault_dirty_drain), against real Redis with a 2 s
# window (SQLVAULT_INCREMENTAL_EVERY=2s: due once marked 1 s ago):
#   - `sqlvault dirty` marks with ZADD NX at the injected clock's now
#     (SQLVAULT_FAKE_NOW), a second mark keeps the first, bad ids refused;
#   - a drain at mark + 999 ms takes nothing, at mark + 1000 ms it takes the
#     workspace off the set and enqueues its backup in the same step (reason
#     dirty, option mode auto, priority dirty: on PREFIX:{POOL}:q:dirty);
#   - a mark while that backup still waits is coalesced into it; a mark
#     while it runs (redis-cli plays the worker) gets another job;
#   - the scheduler loop with a real worker: the Node client's markDirty is
#     backed up once half the window passed and not before, and a mark after
#     that backup gets another backup;
#   - two schedulers: only the leader drains, each workspace gets one job;
#   - SQLVAULT_INCREMENTAL_EVERY=off drains nothing;
#   - 1,200 marks drain in bounded batches, one job each;
#   - claim order interactive > dirty > scheduled: a scheduled, a dirty and
#     an interactive backup queued in that order in a pool no worker serves
#     (each on its own stream, depths in `sqlvault stats`), then one worker
#     thread runs them interactive first, then dirty, then scheduled;
#   - scheduled (cron) backups carry mode auto too.
source "$(dirname "$0")/lib.sh"
sv_setup
sv_use_file_store
client="$SV_SOURCE_DIR/clients/node"
if [[ ! -d "$client/node_modules/ioredis" ]]; then
  (cd "$client" && npm ci --no-audit --no-fund --prefer-offline >/dev/null 2>&1) ||
    fail "npm ci in clients/node failed (needs the npm registry or a cache)"
fi
export SQLVAULT_LOG_FORMAT=text SQLVAULT_SCHEDULE='0 */6 * * *' SQLVAULT_LEASE=2s SQLVAULT_INCREMENTAL_EVERY=2s
export SQLVAULT_RETRY_BASE=100ms
for ws in alpha beta gamma; do make_workspace "$ws" 5; done

P="$SQLVAULT_REDIS_PREFIX"
B="$P:{default}:"
D="${B}dirty"
DJ="${B}dirtyjobs"
T=1900000000000
fake() { local t=$1; shift; SQLVAULT_FAKE_NOW=$t "$SV_BIN" "$@"; }
score() { redis_cli ZSCORE "$D" "$1"; }
dirty_jobs() { redis_cli --scan --pattern "${B}job:dirty-$1-*" | sed 's/.*:job://' | sort; }
job_field() { redis_cli HGET "${B}job:$1" "$2"; }
leader_pid() { redis_cli GET "$P:{sched}:leader" | cut -d: -f2; }
has_leader() { [[ -n "$(leader_pid)" ]]; }
# no cron tick during the test: the last tick is far in the future
redis_cli SET "$P:{sched}:last_tick" 9999999999999 >/dev/null

step "sqlvault dirty: ZADD NX at now (SQLVAULT_FAKE_NOW); a second mark keeps the first"
assert_eq "2 marked, 0 already waiting" "$(fake $T dirty alpha beta)"
assert_eq "0 marked, 1 already waiting" "$(fake $((T + 500)) dirty alpha)"
assert_eq "$T" "$(score alpha)" "alpha's mark"
assert_eq "$T" "$(score beta)" "beta's mark"
assert_eq 1 "$(redis_cli SISMEMBER "$P:workspaces" alpha)" "alpha known to discovery"

step "bad ids are refused and nothing is marked"
expect_status 2 "$SV_BIN" dirty gamma 'bad id!'
assert_eq "" "$(score gamma)" "gamma's mark"
assert_eq 2 "$(redis_cli ZCARD "$D")" "dirty set size"

step "not before half the window: a drain at mark + 999 ms takes nothing"
out=$(fake $((T + 999)) scheduler --drain --json)
note "$out"
assert_eq 0 "$(jq .taken <<<"$out")" "taken"
assert_eq 2 "$(jq .left <<<"$out")" "left"
assert_eq "" "$(dirty_jobs alpha)" "alpha's dirty jobs"

step "at half the window: taken off the set and enqueued in one step"
out=$(fake $((T + 1000)) scheduler --drain --json)
note "$out"
assert_eq 2 "$(jq .taken <<<"$out")" "taken"
assert_eq 2 "$(jq .enqueued <<<"$out")" "enqueued"
assert_eq 0 "$(jq .left <<<"$out")" "left"
assert_eq "" "$(score alpha)" "alpha's mark after the drain"
id1="dirty-alpha-$((T + 1000))"
assert_eq "$id1" "$(dirty_jobs alpha)" "alpha's dirty jobs"
job=$("$SV_BIN" status "$id1" --json)
assert_eq backup "$(jq -r .type <<<"$job")" "type"
assert_eq alpha "$(jq -r .workspace <<<"$job")" "workspace"
assert_eq dirty "$(jq -r .reason <<<"$job")" "reason"
assert_eq auto "$(jq -r .opts.mode <<<"$job")" "option mode"
assert_eq dirty "$(jq -r .priority <<<"$job")" "priority"
assert_eq 2 "$(redis_cli XLEN "${B}q:dirty")" "entries on the dirty stream (alpha's and beta's backups)"
assert_eq 0 "$(redis_cli XLEN "${B}q:interactive")" "entries on the interactive stream"
assert_eq queued "$(jq -r .state <<<"$job")" "state"
assert_eq "$id1" "$(redis_cli HGET "$DJ" alpha)" "alpha's pending dirty backup"

step "a mark while that backup still waits to run: coalesced into it"
fake $((T + 1100)) dirty alpha >/dev/null
out=$(fake $((T + 2100)) scheduler --drain --json)
note "$out"
assert_eq 1 "$(jq .taken <<<"$out")" "taken"
assert_eq 0 "$(jq .enqueued <<<"$out")" "enqueued"
assert_eq 1 "$(jq .coalesced <<<"$out")" "coalesced"
assert_eq "$id1" "$(dirty_jobs alpha)" "alpha's dirty jobs"

step "a mark while it runs: another job (redis-cli plays the worker)"
claimed=$(redis_cli FCALL sqlvault_claim 1 "$B" test-worker tok-1 60000 | head -1)
assert_eq "$id1" "$claimed" "claimed job (the first enqueued)"
assert_eq active "$(job_field "$id1" state)" "state"
fake $((T + 3000)) dirty alpha >/dev/null
out=$(fake $((T + 4000)) scheduler --drain --json)
note "$out"
assert_eq 1 "$(jq .enqueued <<<"$out")" "enqueued"
id2="dirty-alpha-$((T + 4000))"
assert_eq "$(printf '%s\n%s' "$id1" "$id2")" "$(dirty_jobs alpha)" "alpha's dirty jobs"
assert_eq "$id2" "$(redis_cli HGET "$DJ" alpha)" "alpha's pending dirty backup"
redis_cli FCALL sqlvault_complete 1 "$B" "$id1" tok-1 ok '{}' '' -1 0 >/dev/null
assert_eq "$id2" "$(redis_cli HGET "$DJ" alpha)" "the first one ended: the pointer stays on the second"

step "the scheduler loop with a real worker: markDirty from Node, backed up once half the window passed"
sv_bg "$SV_BIN" worker --threads 2
worker=$SV_BG_PID
sv_bg "$SV_BIN" scheduler 2>"$SV_SCRATCH/s1.log"
s1=$SV_BG_PID
wait_for --timeout 30 bash -c "[[ \$(redis-cli -u '$SQLVAULT_REDIS_URL' HGET '${B}job:$id2' state) == succeeded ]]"
wait_for --timeout 10 has_leader
mark=$(cd "$client" && node --input-type=module -e "
import { SqlvaultClient } from './index.js'
const q = new SqlvaultClient()
if (!(await q.markDirty('gamma'))) throw new Error('not newly marked')
console.log(await q.redis.zscore(q.base('default') + 'dirty', 'gamma'))
await q.close()") || fail "markDirty from Node failed"
note "gamma marked at $mark"
wait_for --timeout 20 bash -c "[[ -n \"\$(redis-cli -u '$SQLVAULT_REDIS_URL' --scan --pattern '${B}job:dirty-gamma-*')\" ]]"
g1=$(dirty_jobs gamma)
created=$(job_field "$g1" created_at)
note "job $g1 enqueued $((created - mark)) ms after the mark (due at 1000 ms, the leader polls every 250 ms)"
assert_ge $((created - mark)) 1000 "ms from mark to enqueue"
assert_le $((created - mark)) 3000 "ms from mark to enqueue"
wait_for --timeout 30 bash -c "[[ \$(redis-cli -u '$SQLVAULT_REDIS_URL' HGET '${B}job:$g1' state) == succeeded ]]"
assert_eq 0 "$(redis_cli HEXISTS "$DJ" gamma)" "gamma's pointer after its backup ended"
assert_eq 1 "$("$SV_BIN" list gamma --json | jq length)" "gamma's committed backups"

step "a mark after that backup gets another backup"
"$SV_BIN" dirty gamma >/dev/null
wait_for --timeout 20 bash -c "[[ \$(redis-cli -u '$SQLVAULT_REDIS_URL' --scan --pattern '${B}job:dirty-gamma-*' | wc -l) == 2 ]]"
g2=$(dirty_jobs gamma | grep -vx "$g1")
wait_for --timeout 30 bash -c "[[ \$(redis-cli -u '$SQLVAULT_REDIS_URL' HGET '${B}job:$g2' state) == succeeded ]]"
assert_eq 2 "$("$SV_BIN" list gamma --json | jq length)" "gamma's committed backups"
assert_contains "$(cat "$SV_SCRATCH/s1.log")" "dirty set: 1 workspaces due, 1 backups enqueued"
kill -TERM "$worker" "$s1"
wait_for --timeout 10 bash -c "! kill -0 $worker 2>/dev/null && ! kill -0 $s1 2>/dev/null"

step "two schedulers: only the leader drains; each workspace gets one backup job"
sv_bg "$SV_BIN" scheduler 2>"$SV_SCRATCH/a.log"
pa=$SV_BG_PID
sv_bg "$SV_BIN" scheduler 2>"$SV_SCRATCH/b.log"
pb=$SV_BG_PID
wait_for --timeout 10 has_leader
lead=$(leader_pid)
many=()
for i in $(seq 1 30); do many+=("two-$i"); done
"$SV_BIN" dirty "${many[@]}" >/dev/null
wait_for --timeout 20 bash -c "[[ \$(redis-cli -u '$SQLVAULT_REDIS_URL' ZCARD '$D') == 0 ]]"
assert_eq "$lead" "$(leader_pid)" "the leader did not change"
assert_eq 30 "$(redis_cli --scan --pattern "${B}job:dirty-two-*" | wc -l)" "dirty jobs of the 30 workspaces"
for i in 1 15 30; do assert_eq 1 "$(dirty_jobs "two-$i" | wc -l)" "jobs of two-$i"; done
follower_log=$([[ "$lead" == "$pa" ]] && echo b || echo a)
leader_log=$([[ "$lead" == "$pa" ]] && echo a || echo b)
grep -q "dirty set:" "$SV_SCRATCH/$leader_log.log" || fail "the leader's log shows no drain"
if grep -q "dirty set:" "$SV_SCRATCH/$follower_log.log"; then fail "the follower drained: $(grep 'dirty set:' "$SV_SCRATCH/$follower_log.log")"; fi
kill -TERM "$pa" "$pb"
wait_for --timeout 10 bash -c "! kill -0 $pa 2>/dev/null && ! kill -0 $pb 2>/dev/null"

step "SQLVAULT_INCREMENTAL_EVERY=off: nothing is drained (the clock an hour ahead, so all would be due)"
"$SV_BIN" dirty offws >/dev/null
later=$(($(date +%s%3N) + 3600000))
out=$(SQLVAULT_INCREMENTAL_EVERY=off fake $later scheduler --drain --json 2>/dev/null)
assert_eq 0 "$(jq .taken <<<"$out")" "taken by --drain"
sv_bg env SQLVAULT_INCREMENTAL_EVERY=off SQLVAULT_FAKE_NOW="$later" "$SV_BIN" scheduler 2>"$SV_SCRATCH/off.log"
poff=$SV_BG_PID
wait_for --timeout 10 bash -c "[[ \$(redis-cli -u '$SQLVAULT_REDIS_URL' GET '$P:{sched}:leader' | cut -d: -f2) == $poff ]]"
assert_contains "$(cat "$SV_SCRATCH/off.log")" "dirty set off"
sleep 1.5 # a leader with the set on polls every 250 ms: six polls' time
assert_ne "" "$(score offws)" "offws still marked"
assert_eq "" "$(dirty_jobs offws)" "offws's dirty jobs"
kill -TERM "$poff"
wait_for --timeout 10 bash -c "! kill -0 $poff 2>/dev/null"
redis_cli ZREM "$D" offws >/dev/null

step "1,200 marks in a pool no worker serves: one --drain takes them in bounded batches, one job each"
bulk=()
for i in $(seq 1 1200); do bulk+=("bulk-$i"); done
T2=1900000100000
SQLVAULT_POOL=bulk fake $T2 dirty "${bulk[@]}" >/dev/null
assert_eq 1200 "$(redis_cli ZCARD "$P:{bulk}:dirty")" "marked"
assert_contains "$(SQLVAULT_POOLS=bulk "$SV_BIN" stats)" "dirty       1200 marked and waiting; 0 backups enqueued"
out=$(SQLVAULT_POOL=bulk fake $((T2 + 1000)) scheduler --drain --json)
note "$out"
assert_eq 1200 "$(jq .taken <<<"$out")" "taken"
assert_eq 1200 "$(jq .enqueued <<<"$out")" "enqueued"
assert_eq 0 "$(redis_cli ZCARD "$P:{bulk}:dirty")" "left"
assert_eq 1200 "$(redis_cli XLEN "$P:{bulk}:q:dirty")" "jobs waiting"
assert_eq 0 "$(redis_cli XLEN "$P:{bulk}:q:interactive")" "interactive jobs waiting (none: a user's job is not behind them)"
assert_eq 1200 "$(redis_cli HLEN "$P:{bulk}:dirtyjobs")" "pending dirty backups"
assert_contains "$(SQLVAULT_POOLS=bulk "$SV_BIN" stats)" "dirty       0 marked and waiting; 1200 backups enqueued, 0 coalesced"
assert_eq 1200 "$(SQLVAULT_POOLS=bulk "$SV_BIN" stats --json | jq '.pools[0].dirty_enqueued')" "stats --json dirty_enqueued"

step "claim order: interactive, then dirty, then scheduled (queued in the opposite order, no worker)"
# pool ord, which no worker serves until the end of the step; the queue is
# filled so that arrival order (FIFO) would be the wrong answer: the cron
# sweep's backup first, then the dirty set's, the user's last.
OB="$P:{ord}:"
for ws in ord-s ord-d ord-i; do make_workspace "$ws" 5; done
SQLVAULT_POOL=ord "$SV_BIN" backup ord-s --id ord-sched --reason scheduled --no-wait >/dev/null
T3=1900000300000
SQLVAULT_POOL=ord fake $T3 dirty ord-d >/dev/null
out=$(SQLVAULT_POOL=ord fake $((T3 + 1000)) scheduler --drain --json)
assert_eq 1 "$(jq .enqueued <<<"$out")" "dirty backups enqueued"
od="dirty-ord-d-$((T3 + 1000))"
SQLVAULT_POOL=ord "$SV_BIN" backup ord-i --id ord-inter --no-wait >/dev/null
assert_eq scheduled "$(redis_cli HGET "${OB}job:ord-sched" priority)" "priority of the cron-reason backup"
assert_eq dirty "$(redis_cli HGET "${OB}job:$od" priority)" "priority of the drained backup"
assert_eq interactive "$(redis_cli HGET "${OB}job:ord-inter" priority)" "priority of the manual backup"
assert_eq 1 "$(redis_cli XLEN "${OB}q:interactive")" "XLEN q:interactive"
assert_eq 1 "$(redis_cli XLEN "${OB}q:dirty")" "XLEN q:dirty"
assert_eq 1 "$(redis_cli XLEN "${OB}q:scheduled")" "XLEN q:scheduled"
st=$(SQLVAULT_POOLS=ord "$SV_BIN" stats)
note "$(grep -F "  queued " <<<"$st")"
assert_contains "$st" "queued      interactive 1, dirty 1, scheduled 1, delayed (retries) 0"
assert_eq 1 "$(SQLVAULT_POOLS=ord "$SV_BIN" stats --json | jq '.pools[0].queued_dirty')" "stats --json queued_dirty"
assert_eq 1 "$(SQLVAULT_POOLS=ord "$SV_BIN" stats --json | jq '.pools[0].queued_interactive')" "stats --json queued_interactive"
sv_bg "$SV_BIN" worker --threads 1 --pools ord
ow=$SV_BG_PID
for j in ord-inter "$od" ord-sched; do
  wait_for --timeout 60 bash -c "[[ \$(redis-cli -u '$SQLVAULT_REDIS_URL' HGET '${OB}job:$j' state) == succeeded ]]"
done
kill -TERM "$ow"
wait_for --timeout 10 bash -c "! kill -0 $ow 2>/dev/null"
# the fence: the pool's claim counter (INCR on every claim), so strictly
# increasing in claim order whatever the clock's resolution
fi_=$(redis_cli HGET "${OB}job:ord-inter" fence)
fd=$(redis_cli HGET "${OB}job:$od" fence)
fs=$(redis_cli HGET "${OB}job:ord-sched" fence)
note "claim fences: interactive $fi_, dirty $fd, scheduled $fs; started at $(redis_cli HGET "${OB}job:ord-inter" started_at), $(redis_cli HGET "${OB}job:$od" started_at), $(redis_cli HGET "${OB}job:ord-sched" started_at)"
((fi_ < fd)) || fail "the dirty backup (fence $fd) was claimed before the interactive one (fence $fi_)"
((fd < fs)) || fail "the scheduled backup (fence $fs) was claimed before the dirty one (fence $fd)"
assert_le "$(redis_cli HGET "${OB}job:ord-inter" finished_at)" "$(redis_cli HGET "${OB}job:$od" started_at)" "interactive finished before the dirty one started (ms)"
assert_le "$(redis_cli HGET "${OB}job:$od" finished_at)" "$(redis_cli HGET "${OB}job:ord-sched" started_at)" "dirty finished before the scheduled one started (ms)"
assert_eq 0 "$(redis_cli HEXISTS "${OB}dirtyjobs" ord-d)" "ord-d's pending record after its backup"
assert_contains "$(SQLVAULT_POOLS=ord "$SV_BIN" stats)" "queued      interactive 0, dirty 0, scheduled 0"
rm -rf "${SQLVAULT_DATA_DIR:?}"/ord-{s,d,i} # not in the cron step's discovery below

step "/metrics: the dirty set's size per pool (a worker of pool mx, where 3 marks wait)"
SQLVAULT_POOL=mx "$SV_BIN" dirty mx-1 mx-2 mx-3 >/dev/null
mport=$(free_port)
sv_bg env SQLVAULT_METRICS_ADDR="127.0.0.1:$mport" "$SV_BIN" worker --threads 1 --pools mx
wait_for --timeout 20 bash -c "curl -fsS http://127.0.0.1:$mport/metrics | grep -qx 'sqlvault_dirty_workspaces{pool=\"mx\"} 3'"
m=$(curl -fsS "http://127.0.0.1:$mport/metrics")
assert_contains "$m" 'sqlvault_dirty_backups_total{pool="mx",outcome="enqueued"} 0'
assert_contains "$m" 'sqlvault_queue_depth{pool="mx",priority="dirty"} 0'
kill -TERM "$SV_BG_PID"

step "scheduled (cron) backups carry mode auto too"
# (another prefix: this one's PREFIX:workspaces knows the 1,200 above)
out=$(SQLVAULT_REDIS_PREFIX="$P-cron" fake 1900000200000 scheduler --once --json)
note "$out"
assert_eq 3 "$(jq .backups <<<"$out")" "scheduled backups (alpha, beta, gamma)"
sid=$(redis_cli --scan --pattern "$P-cron:{default}:job:sched-alpha-*" | sed 's/.*:job://' | head -1)
[[ -n "$sid" ]] || fail "no scheduled backup of alpha"
assert_eq auto "$(SQLVAULT_REDIS_PREFIX="$P-cron" "$SV_BIN" status "$sid" --json | jq -r .opts.mode)" "option mode of $sid"
sv_pass
