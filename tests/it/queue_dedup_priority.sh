#!/usr/bin/env bash
# queue_dedup_priority.sh -- the same job id enqueued twice is one job (one
# backup committed); with 200 scheduled jobs queued, an interactive job
# enqueued after them starts on the next free thread.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/queue_lib.sh"
sv_setup
sv_use_file_store
export SQLVAULT_TEST_JOBS=1 SQLVAULT_LEASE=2s SQLVAULT_LOG_FORMAT=text

step "dedup: 'sqlvault backup --id' twice enqueues one job"
make_workspace ws-d 200
assert_eq dup-1 "$("$SV_BIN" backup ws-d --id dup-1 --no-wait)" "first --no-wait prints the id"
out=$("$SV_BIN" backup ws-d --id dup-1 --no-wait 2>"$SV_SCRATCH/err")
assert_eq dup-1 "$out" "second --no-wait prints the same id"
assert_contains "$(cat "$SV_SCRATCH/err")" "already exists" "second enqueue says so"
assert_eq 1 "$(redis_cli XLEN "$(qbase)q:interactive")" "entries on the interactive stream"
assert_eq 1 "$(redis_cli HGET "$(qbase)stats" enqueued)" "enqueued counter"
assert_eq "0 queued" "$(qpy enqueue dup-1 backup ws-d interactive 5 '')" "a raw FCALL with the id is deduped too"
start_worker w1 --threads 2
wait_state dup-1 succeeded 30
"$SV_BIN" backup ws-d --id dup-1 --json >"$SV_SCRATCH/again.json"
assert_eq succeeded "$(jq -r .state "$SV_SCRATCH/again.json")" "waiting on the finished id returns its result"
assert_eq 1 "$(ls "$SV_SCRATCH/store/full/ws-d" | wc -l)" "backups committed for the deduped job"
assert_eq 1 "$(qfield dup-1 attempt)" "attempts"
kill -TERM "$WORKER_PID"
wait "$WORKER_PID"

step "priority: an interactive job overtakes 200 queued scheduled jobs"
qpy bulk sched 200 sleep '' scheduled 3 '{"ms": 250}' >/dev/null
start_worker w2 --threads 2
wait_for --timeout 20 bash -c "(( \$(redis-cli -u '$SQLVAULT_REDIS_URL' ZCARD '$(qbase)active') >= 2 ))"
qpy enqueue inter-1 sleep '' interactive 3 '{"ms": 10}' >/dev/null
wait_state inter-1 succeeded 10
queued_left=$(redis_cli XLEN "$(qbase)q:scheduled")
assert_ge "$queued_left" 150 "scheduled jobs still queued when the interactive one finished"
ic=$(qfield inter-1 created_at)
is=$(qfield inter-1 started_at)
overtaken=0
for i in $(seq 1 200); do
  s=$(qfield "sched-$i" started_at)
  [[ -n "$s" ]] && ((s > ic && s < is)) && overtaken=$((overtaken + 1))
done
assert_eq 0 "$overtaken" "scheduled jobs started between the interactive job's enqueue and its start"
note "interactive job waited $((is - ic)) ms for a free thread (scheduled jobs take 250 ms)"
assert_le $((is - ic)) 1000 "wait of the interactive job (ms)"
sv_pass
