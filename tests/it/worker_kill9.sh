#!/usr/bin/env bash
# worker_kill9.sh -- kill -9 of a worker in the middle of a multipart upload
# to S3 (through the R2-rules proxy, parts slowed down): the job is taken
# over after the lease lapses, the new attempt aborts the earlier attempt's
# multipart upload and commits; one committed backup, no open upload.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/queue_lib.sh"
sv_setup
export SQLVAULT_LEASE=2s SQLVAULT_LOG_FORMAT=text SQLVAULT_PART_SIZE=5MiB SQLVAULT_UPLOAD_CONCURRENCY=1

ws=ws-k
make_workspace "$ws" 1000
sqlite3 "$SQLVAULT_DATA_DIR/$ws/livestore.db" "CREATE TABLE blobs(b BLOB);
  WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x<16) INSERT INTO blobs SELECT randomblob(1000000) FROM c;"
proxy_reset
sv_on_exit proxy_reset
proxy_faults "{\"seed\":1,\"rules\":[{\"prefix\":\"$SV_PREFIX\",\"op\":[\"UploadPart\"],\"latencyMs\":700}]}"

step "worker A is killed with SIGKILL while a multipart upload is open"
start_worker a --threads 1
pid_a=$WORKER_PID
"$SV_BIN" backup "$ws" --id k-1 --no-wait >/dev/null
wait_for --timeout 30 bash -c "source '$SV_SOURCE_DIR/tests/it/lib.sh'; (( \$(proxy_open_uploads) >= 1 ))"
wait_for --timeout 30 bash -c "source '$SV_SOURCE_DIR/tests/it/lib.sh'; (( \$(proxy_count UploadPart 200) >= 1 ))"
kill -KILL "$pid_a"
note "killed worker A with $(proxy_count UploadPart 200) part(s) uploaded"
assert_eq active "$(qstate k-1)" "state right after the kill"
ts=$(qfield k-1 ts)

step "worker B takes over after the lease and commits one backup"
proxy_faults '{"rules":[]}'
start_worker b --threads 1
pid_b=$WORKER_PID
wait_state k-1 succeeded 60
assert_eq 2 "$(qfield k-1 attempt)" "attempt that finished"
assert_contains "$(qfield k-1 worker)" ":$pid_b:" "finished by worker B"
assert_eq "$ts" "$(qfield k-1 ts)" "backup timestamp fixed at the first attempt"
assert_contains "$(cat "$SV_SCRATCH/b.log")" "aborted 1 unfinished upload" "worker B log"
metas=$(s3_keys "${SV_PREFIX}full/$ws/" | grep -c 'metadata.json$' || true)
assert_eq 1 "$metas" "committed backups (metadata.json) of the workspace"
assert_eq 0 "$(proxy_open_uploads)" "open multipart uploads"
folder=$(jq -r .result.ts <<<"$("$SV_BIN" status k-1 --json)")
assert_eq 1 "$("$SV_BIN" list "$ws" --json | jq length)" "backups listed"
assert_eq "$folder" "$("$SV_BIN" list "$ws" --json | jq -r '.[0].ts')" "the listed backup is the job's"
sv_pass
