#!/usr/bin/env bash
# worker_backups.sh -- two worker processes x 4 threads run 200 backup jobs
# (100 workspaces, two jobs each) against the S3 server through the proxy:
# every job succeeds exactly once, 200 committed backups, one per job, and
# the round trips per job stay low (claim + complete + enqueue).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/queue_lib.sh"
sv_setup
export SQLVAULT_LEASE=5s SQLVAULT_LOG_FORMAT=text

step "100 workspaces, 200 backup jobs enqueued in one pipeline"
for i in $(seq 1 100); do make_workspace "ws-$i" 50; done
"$SV_BIN" stats >/dev/null # loads the function library
qpy bulk bk-a 100 backup 'ws-%d' scheduled 5 '' >/dev/null
qpy bulk bk-b 100 backup 'ws-%d' scheduled 5 '' >/dev/null

step "two workers x 4 threads finish them"
t0=$(date +%s%N)
start_worker w1 --threads 4
start_worker w2 --threads 4
wait_finished 200 180
t1=$(date +%s%N)
note "200 backups in $(((t1 - t0) / 1000000)) ms"
stats=$("$SV_BIN" stats --json)
assert_eq 200 "$(jq .succeeded <<<"$stats")" "succeeded"
assert_eq 0 "$(jq .failed <<<"$stats")" "failed"
assert_eq 0 "$(jq '.pools[0].stalled' <<<"$stats")" "stalled"
rt=$(jq '.pools[0].round_trips_per_job' <<<"$stats")
note "round trips per job: $rt ($(jq '.pools[0].round_trips_per_job_all' <<<"$stats") with housekeeping and idle waits)"
assert_le "${rt%.*}" 5 "round trips per job (enqueue + claim + 2 lease renewals at commit points + complete)"

step "exactly one committed backup per job"
keys=$(s3_keys "${SV_PREFIX}full/" | grep 'metadata.json$' | sort)
assert_eq 200 "$(wc -l <<<"$keys")" "metadata.json objects"
declare -A seen=()
for p in a b; do
  for i in $(seq 1 100); do
    id="bk-$p-$i"
    [[ "$(qstate "$id")" == succeeded ]] || fail "job $id: $(qstate "$id")"
    [[ "$(qfield "$id" attempt)" == 1 ]] || fail "job $id ran $(qfield "$id" attempt) times"
    key=$(qfield "$id" result | jq -r .key)
    meta="${SV_PREFIX}${key%/*}/metadata.json"
    grep -qx "$meta" <<<"$keys" || fail "job $id: $meta not committed"
    [[ -z "${seen[$meta]:-}" ]] || fail "jobs ${seen[$meta]} and $id share $meta"
    seen[$meta]=$id
  done
done
note "ok: 200 jobs, 200 distinct committed backups, every job on its first attempt"
for w in ws-1 ws-50 ws-100; do
  assert_eq 2 "$("$SV_BIN" list "$w" --json | jq length)" "backups of $w"
done
sv_pass
