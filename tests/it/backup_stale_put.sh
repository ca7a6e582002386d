#!/usr/bin/env bash
# backup_stale_put.sh -- a stale single PUT cannot overwrite a committed
# backup. Worker A's object PUT (a backup smaller than one part) is held by
# the proxy; A is frozen (SIGSTOP) past its lease; worker B takes the job
# over, snapshots the database (changed meanwhile) and commits. Then the
# proxy lets A's PUT land and A wakes up. The job has exactly one committed
# backup, its object matches both checksums of its metadata.json, it holds
# the rows written before B's snapshot, and A commits nothing.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/queue_lib.sh"
sv_setup
export SQLVAULT_LEASE=2s SQLVAULT_LOG_FORMAT=text
WS=stale-ws
DB="$SQLVAULT_DATA_DIR/$WS/livestore.db"
make_workspace "$WS" 200
sv_on_exit "proxy_reset"
proxy_faults "{\"rules\": [{\"op\": \"PutObject\", \"prefix\": \"${SV_PREFIX}full/$WS/\", \"latencyMs\": 9000, \"times\": 1, \"name\": \"hold A's object\"}]}"

step "worker A's object PUT is held by the proxy; A is frozen past its lease"
start_worker a --threads 1
pid_a=$WORKER_PID
"$SV_BIN" backup "$WS" --no-wait --id stale-1 >/dev/null
wait_for --timeout 20 bash -c "curl -fsS '$SV_PROXY_CONTROL/log?pending=1&op=PutObject' | grep -q '\"status\":null'"
kill -STOP "$pid_a"
sv_on_exit "kill -CONT $pid_a 2>/dev/null || true"
note "A (pid $pid_a) frozen with its PUT in flight"
sqlite3 "$DB" "INSERT INTO todos (id, title) VALUES ('after-a', 'written after A''s snapshot')"

step "worker B takes the job over and commits"
start_worker b --threads 1
wait_state stale-1 succeeded 40
assert_eq 2 "$(qfield stale-1 attempt)" "attempt that succeeded"

step "the held PUT lands, A wakes up and commits nothing"
wait_for --timeout 30 bash -c "! curl -fsS '$SV_PROXY_CONTROL/log?pending=1&op=PutObject' | grep -q '\"status\":null'"
kill -CONT "$pid_a"
wait_for --timeout 30 grep -Eq "stale-1.*(abandoned|refused|lease lost)" "$SV_SCRATCH/a.log"
note "A: $(grep -E 'stale-1.*(abandoned|refused|lease lost)' "$SV_SCRATCH/a.log" | head -1)"

step "exactly one committed backup, and its object matches its metadata"
echo stale-1 >"$SV_SCRATCH/jobs"
audit="$(python3 "$SV_SOURCE_DIR/tests/tools/check_backups.py" "$SV_S3_DATA_DIR/$SV_S3_BUCKET/${SV_PREFIX%/}" --jobs "$SV_SCRATCH/jobs")"
note "$audit"
assert_eq 1 "$(jq -r .committed <<<"$audit")" "committed backups"
assert_eq 1 "$(jq -r '.per_job["stale-1"]' <<<"$audit")" "committed backups of the job"
assert_eq 0 "$(jq -r '.mismatched | length' <<<"$audit")" "objects that disagree with their metadata"
ts="$(jq -r .ts <<<"$(qfield stale-1 result)")"
"$SV_BIN" restore "$WS" --from "$ts" --db "$SV_SCRATCH/restored.db" --inline --yes >/dev/null 2>"$SV_SCRATCH/r.err" ||
  fail "restore of $ts failed: $(cat "$SV_SCRATCH/r.err")"
assert_eq 1 "$(sqlite3 "$SV_SCRATCH/restored.db" "SELECT count(*) FROM todos WHERE id = 'after-a'")" \
  "the row written before B's snapshot is in the committed backup"
sv_pass
