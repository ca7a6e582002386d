#!/usr/bin/env bash
# worker_restore_events.sh -- a restore through the queue: the worker gives
# the job body its emit and pause callbacks, so restore.started and
# restore.completed land in the events stream (and on the channel) with the
# workspace, the pause flag PREFIX:pause:{WS} is set during the swap and gone
# afterwards, and the restore excludes the workspace's other jobs.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/queue_lib.sh"
sv_setup
sv_use_file_store
export SQLVAULT_LEASE=2s SQLVAULT_LOG_FORMAT=text
ws=ws-re
make_workspace "$ws" 2000
db="$SQLVAULT_DATA_DIR/$ws/livestore.db"
start_worker w1 --threads 2

step "back up, change the database, restore the backup through the queue"
timeout 60 "$SV_BIN" backup "$ws" --id re-b1 >/dev/null || fail "backup through the queue failed"
before=$(db_count "$db" eventlog)
sqlite3 "$db" "INSERT INTO eventlog (name, args, created_at) VALUES ('x', '{}', 'now')"
assert_eq $((before + 1)) "$(db_count "$db" eventlog)" "rows after the change"
redis-cli -u "${SQLVAULT_REDIS_URL:-$SV_REDIS_URL}" SUBSCRIBE "$(qbase)events" >"$SV_SCRATCH/channel.txt" &
sub=$!
SV_CLEANUP_PIDS+=("$sub")
wait_for --timeout 10 bash -c "(( \$(redis-cli -u '$SQLVAULT_REDIS_URL' PUBSUB NUMSUB '$(qbase)events' | tail -1) >= 1 ))"
timeout 60 "$SV_BIN" restore "$ws" --from latest --yes --id re-r1 >/dev/null ||
  fail "restore through the queue failed or hung; worker log: $(tail -5 "$SV_SCRATCH/w1.log")"
assert_eq succeeded "$(qstate re-r1)" "restore job"
assert_eq "$before" "$(db_count "$db" eventlog)" "rows after the restore"

step "events and the pause flag"
events=$(qpy XRANGE "$(qbase)events" - + |
  jq -r '.[] | .[1] | [range(0; length; 2) as $i | {(.[$i]): .[$i + 1]}] | add | select(.job == "re-r1") | .event')
assert_contains "$events" "restore.started" "events of the restore job"
assert_contains "$events" "restore.completed" "events of the restore job"
assert_eq "queued active restore.started restore.completed succeeded" "$(tr '\n' ' ' <<<"$events" | sed 's/ $//')" "order of the events"
ws_field=$(qpy XRANGE "$(qbase)events" - + |
  jq -r '.[] | .[1] | [range(0; length; 2) as $i | {(.[$i]): .[$i + 1]}] | add | select(.event == "restore.started") | .workspace')
assert_eq "$ws" "$ws_field" "workspace of restore.started"
wait_for --timeout 5 grep -q 'restore.completed' "$SV_SCRATCH/channel.txt"
note "ok: restore.completed published on $(qbase)events"
assert_eq 0 "$(redis_cli EXISTS "$SQLVAULT_REDIS_PREFIX:pause:{$ws}")" "pause flag after the restore"
sv_pass
