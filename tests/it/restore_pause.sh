#!/usr/bin/env bash
# restore_pause.sh -- the restore pause protocol (docs/PROTOCOL.md "Restore
# pause") against a real Redis and worker, with shell loops playing the Node
# listener:
#  1. a writer that registers as a listener, writes rows and stops (acks) at
#     the pause flag: every row it committed before the pause is in the
#     pre-restore safety backup, and the live file ends as the backup asked;
#  2. a stale worker (SIGSTOPped while paused, taken over by another worker)
#     can neither clear nor overwrite the pause flag of the attempt that took
#     over; the takeover finishes the restore.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/queue_lib.sh"
sv_setup
# This test is about the full restore path (download, validate, swap); delta
# restores have tests of their own (delta_restore.sh).
export SQLVAULT_RESTORE_DELTA=off
export SQLVAULT_LOG_FORMAT=text SQLVAULT_RETRY_BASE=100ms
ws=ws-pause
db="$SQLVAULT_DATA_DIR/$ws/livestore.db"
P="$SQLVAULT_REDIS_PREFIX"
pause_key="$P:pause:{$ws}"
listeners_key="$P:listeners:{$ws}"
make_workspace "$ws" 60000

# now_ms: the Redis server's clock (the listener registry uses it).
now_ms() { redis_cli TIME | awk 'NR == 1 {s = $1} NR == 2 {printf "%.0f\n", s * 1000 + int($1 / 1000)}'; }

# writer DB LOG ID: a listener that writes one row at a time and logs the
# rows whose INSERT committed; at the pause flag it acks and waits until the
# flag is gone (then logs "resumed"). Stops when $SV_SCRATCH/stop exists.
writer() {
  local wdb="$1" log="$2" lid="$3" i=0 v job
  while [[ ! -e "$SV_SCRATCH/stop" ]]; do
    redis_cli ZADD "$listeners_key" $(($(now_ms) + 15000)) "$lid" >/dev/null
    v=$(redis_cli GET "$pause_key")
    if [[ -n "$v" ]]; then
      job="${v%%:*}"
      echo "paused $job" >>"$log"
      redis_cli SADD "$P:acks:{$ws}:$job" "$lid" >/dev/null
      redis_cli EXPIRE "$P:acks:{$ws}:$job" 600 >/dev/null
      while [[ -n "$(redis_cli GET "$pause_key")" && ! -e "$SV_SCRATCH/stop" ]]; do sleep 0.05; done
      echo "resumed" >>"$log"
      continue
    fi
    i=$((i + 1))
    if sqlite3 -cmd '.timeout 10000' "$wdb" \
      "INSERT INTO eventlog (name, args, created_at) VALUES ('writer', '$lid-$i', 'now')" 2>/dev/null; then
      echo "row $lid-$i" >>"$log"
    fi
  done
  redis_cli ZREM "$listeners_key" "$lid" >/dev/null
}

step "a backup, then a writer (a listener) keeps committing rows"
start_worker w1 --threads 2
timeout 60 "$SV_BIN" backup "$ws" --id pz-b1 >/dev/null || fail "backup failed"
backup_rows=$(db_count "$db" eventlog)
log="$SV_SCRATCH/writer.log"
: >"$log"
writer "$db" "$log" L1 &
writer_pid=$!
wait_for --timeout 20 grep -q '^row ' "$log"

step "restore --from latest through the queue while the writer writes (the download held 3 s)"
proxy_faults "{\"rules\": [{\"op\": \"GetObject\", \"prefix\": \"${SV_PREFIX}full/\", \"latencyMs\": 3000, \"times\": 1}]}"
sv_on_exit proxy_reset
echo "enqueued" >>"$log"
timeout 120 "$SV_BIN" restore "$ws" --from latest --yes --id pz-r1 >/dev/null ||
  fail "restore failed: $(qfield pz-r1 error); worker log: $(tail -5 "$SV_SCRATCH/w1.log")"
wait_for --timeout 20 grep -q '^resumed' "$log"
touch "$SV_SCRATCH/stop"
wait "$writer_pid"
result=$(qfield pz-r1 result)
note "result: $result"
assert_eq true "$(jq -r .pause_acked <<<"$result")" "pause acknowledged by every live listener"
assert_eq 1 "$(jq -r .pause_listeners <<<"$result")" "live listeners"
assert_eq "backup:$(jq -r .backup <<<"$result")" "$(jq -r .source <<<"$result")" "the recorded source"
assert_eq "$(jq -r .source <<<"$result")" "$(qfield pz-r1 source)" "source recorded on the job hash"
assert_eq 0 "$(redis_cli EXISTS "$pause_key")" "pause flag after the restore"

step "every row committed before the pause is in the safety backup"
safety=$(followup_ts pz-r1) # the pre-restore backup lags the restore by one job
[[ -n "$safety" && "$safety" != null ]] || fail "no pre-restore backup committed by the follow-up job"
s3_get "${SV_PREFIX}full/$ws/$safety/livestore.db.zst" "$SV_SCRATCH/safety.db.zst"
zstd -q -d "$SV_SCRATCH/safety.db.zst" -o "$SV_SCRATCH/safety.db"
before_pause=$(sed -n '/^paused/q;p' "$log" | sed -n 's/^row //p')
after_enqueue=$(sed -n '/^enqueued/,/^paused/p' "$log" | grep -c '^row ' || true)
n_before=$(wc -l <<<"$before_pause")
note "rows committed before the pause: $n_before ($after_enqueue of them after the restore was enqueued)"
assert_ge "$after_enqueue" 1 "rows committed while the restore ran, before the pause"
missing=0
while read -r r; do
  [[ "$(sqlite3 "$SV_SCRATCH/safety.db" "SELECT count(*) FROM eventlog WHERE args = '$r'")" == 1 ]] ||
    { note "missing from the safety backup: $r"; missing=$((missing + 1)); }
done <<<"$before_pause"
assert_eq 0 "$missing" "rows committed before the pause missing from the safety backup"
assert_eq ok "$(db_integrity "$db")" "live integrity"
after_resume=$(sed -n '/^resumed/,$p' "$log" | grep -c '^row ' || true)
assert_eq $((backup_rows + after_resume)) "$(db_count "$db" eventlog)" \
  "live rows = the backup's + those written after the resume"
kill "$WORKER_PID" && wait "$WORKER_PID" 2>/dev/null || true

step "a stale worker cannot clear the pause flag of the attempt that took over"
rm -f "$SV_SCRATCH/stop"
sqlite3 "$db" "DELETE FROM eventlog WHERE seq % 3 = 0"
redis_cli ZADD "$listeners_key" $(($(now_ms) + 600000)) L-never-acks >/dev/null
SQLVAULT_LEASE=2s SQLVAULT_PAUSE_TIMEOUT=120s start_worker stale --threads 1
stale_pid=$WORKER_PID
b1=$(jq -r .backup <<<"$result")
"$SV_BIN" restore "$ws" --from "$b1" --yes --id pz-r2 --no-wait >/dev/null
wait_for --timeout 60 bash -c "[[ \"\$(redis-cli -u '$SQLVAULT_REDIS_URL' GET '$pause_key')\" == pz-r2:* ]]"
stale_flag=$(redis_cli GET "$pause_key")
kill -STOP "$stale_pid"
note "stale flag $stale_flag; worker $stale_pid stopped"
SQLVAULT_LEASE=2s SQLVAULT_PAUSE_TIMEOUT=8s start_worker takeover --threads 1
wait_for --timeout 60 bash -c "v=\$(redis-cli -u '$SQLVAULT_REDIS_URL' GET '$pause_key'); [[ \$v == pz-r2:* && \$v != '$stale_flag' ]]"
new_flag=$(redis_cli GET "$pause_key")
note "the takeover's flag: $new_flag"
IFS=: read -r _ stale_fence stale_token <<<"$stale_flag"
IFS=: read -r _ new_fence _ <<<"$new_flag"
assert_ge "$new_fence" $((stale_fence + 1)) "the takeover's fence is newer"
assert_eq 0 "$(redis_cli FCALL sqlvault_pause_set 2 "$pause_key" "$P:acks:{$ws}:pz-r2" pz-r2 "$stale_token" "$stale_fence" 60000)" \
  "the stale attempt's set (overwrite) is refused"
assert_eq 0 "$(redis_cli FCALL sqlvault_pause_clear 2 "$pause_key" "$P:acks:{$ws}:pz-r2" pz-r2 "$stale_token")" \
  "the stale attempt's clear is refused"
kill -CONT "$stale_pid"
wait_for --timeout 20 grep -q 'pause flag left to its owner' "$SV_SCRATCH/stale.log"
assert_eq "$new_flag" "$(redis_cli GET "$pause_key")" "flag after the stale worker woke up and gave up"
wait_state pz-r2 succeeded 60
assert_eq 0 "$(redis_cli EXISTS "$pause_key")" "pause flag after the takeover finished"
assert_eq false "$(qfield pz-r2 result | jq -r .pause_acked)" "a listener that never acks: the pause timed out"
assert_eq "$backup_rows" "$(db_count "$db" eventlog)" "live rows = the backup's"
assert_eq "$(qfield pz-r1 source)" "$(qfield pz-r2 source)" "both restores restored the same backup"
sv_pass
