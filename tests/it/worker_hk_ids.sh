#!/usr/bin/env bash
# worker_hk_ids.sh -- housekeeping acts on the job it asked about. With
# thousands of tiny jobs and a 1 s lease, a heartbeat's answer often comes
# back after the job it named has finished and its slot has started the next
# one; that answer ("lost": the job is no longer active) must not abandon
# the next job. Every job succeeds on its first attempt and `stalled` stays 0.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/queue_lib.sh"
sv_setup
sv_use_file_store
export SQLVAULT_TEST_JOBS=1 SQLVAULT_LEASE=1s SQLVAULT_LOG_FORMAT=text
N=2000

step "$N tiny jobs through 2 workers x 3 threads with a 1 s lease"
redis_cli FUNCTION LOAD REPLACE "$(cat "$SV_SOURCE_DIR/src/queue/sqlvault.lua")" >/dev/null
start_worker a --threads 3
start_worker b --threads 3
assert_eq "$N" "$(qpy bulk hk "$N" sleep 'hk-%d' interactive 3 '{"ms": 1}')" "enqueued"
wait_finished "$N" 150

step "every job succeeded on its first attempt; nothing stalled or was abandoned"
assert_eq "$N" "$(redis_cli HGET "$(qbase)stats" succeeded)" "succeeded"
assert_eq 0 "$(redis_cli HGET "$(qbase)stats" stalled | sed 's/^$/0/')" "stalled"
assert_eq 0 "$(redis_cli HGET "$(qbase)stats" retried | sed 's/^$/0/')" "retried"
assert_eq 0 "$(cat "$SV_SCRATCH"/a.log "$SV_SCRATCH"/b.log | grep -c 'lease lost\|heartbeat refused' || true)" \
  "lease-loss lines in the workers' logs"
sv_pass
