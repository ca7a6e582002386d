#!/usr/bin/env bash
# queue_lock.sh -- the per-workspace lock: jobs of one workspace never
# overlap (checked from the job hashes' started_at/finished_at), jobs that
# wait for the lock are parked on the workspace's wait list (no thread
# spins or blocks), other workspaces run meanwhile; then the same with real
# backups of one workspace.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/queue_lib.sh"
sv_setup
sv_use_file_store
export SQLVAULT_TEST_JOBS=1 SQLVAULT_LEASE=2s SQLVAULT_LOG_FORMAT=text

# intervals ID...: prints "started finished id" of each job, sorted by start.
intervals() {
  local id
  for id in "$@"; do echo "$(qfield "$id" started_at) $(qfield "$id" finished_at) $id"; done | sort -n
}

# assert_disjoint ID...: fails if two of the jobs ran at the same time.
assert_disjoint() {
  local prev_end=0 s e id n=0
  while read -r s e id; do
    [[ -n "$s" && -n "$e" ]] || fail "job $id has no start/finish time"
    ((s >= prev_end)) || fail "job $id started at $s before the previous job on the workspace finished ($prev_end)"
    prev_end=$e
    n=$((n + 1))
  done < <(intervals "$@")
  note "ok: $n jobs of one workspace ran one after another"
}

step "five jobs of one workspace with four free threads run one at a time"
start_worker w1 --threads 4
qpy bulk a 5 sleep ws-a interactive 3 '{"ms": 1500}' >/dev/null
qpy bulk b 1 sleep ws-b interactive 3 '{"ms": 1500}' >/dev/null
wait_for --timeout 10 bash -c "(( \$(redis-cli -u '$SQLVAULT_REDIS_URL' LLEN '$(qbase)wait:ws-a') >= 3 ))"
note "ok: jobs waiting for the lock are parked on $(qbase)wait:ws-a"
assert_eq 0 "$(redis_cli XLEN "$(qbase)q:interactive")" "entries left on the stream while jobs wait for the lock"
wait_finished 6 60
assert_disjoint a-1 a-2 a-3 a-4 a-5
assert_eq 5 "$(for i in 1 2 3 4 5; do qstate "a-$i"; done | grep -c succeeded)" "ws-a jobs succeeded"
bs=$(qfield b-1 started_at)
be=$(qfield b-1 finished_at)
a1e=$(intervals a-1 a-2 a-3 a-4 a-5 | head -1 | cut -d' ' -f2)
assert_le "$bs" "$a1e" "ws-b started before the first ws-a job finished (other workspaces are not held up)"
assert_eq 0 "$(redis_cli EXISTS "$(qbase)lock:ws-a" "$(qbase)wait:ws-a")" "lock and wait list are gone afterwards"

step "six real backups of one workspace never overlap and all commit"
make_workspace ws-r 20000
for i in 1 2 3 4 5 6; do "$SV_BIN" backup ws-r --id "r-$i" --no-wait >/dev/null; done
wait_finished 12 60
assert_disjoint r-1 r-2 r-3 r-4 r-5 r-6
assert_eq 6 "$(ls "$SV_SCRATCH/store/full/ws-r" | wc -l)" "committed backups of ws-r"
fences=$(for i in 1 2 3 4 5 6; do qfield "r-$i" fence; done | sort -n | uniq | wc -l)
assert_eq 6 "$fences" "distinct fencing tokens"
sv_pass
