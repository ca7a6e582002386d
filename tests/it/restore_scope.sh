#!/usr/bin/env bash
# restore_scope.sh -- a queued job stays inside its workspace. Jobs enqueued
# straight into Redis (no CLI in between) that name another workspace's
# object, a host file, another workspace's database or a path outside the
# data dir are refused at once with an error naming the rule, and nothing is
# written. Cloning another workspace's backup works when the job names it
# (clone_from); SQLVAULT_ALLOW_DIRS opens a folder; the CLI resolves
# relative paths before it enqueues; --inline keeps the operator's paths.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/queue_lib.sh"
sv_setup
export SQLVAULT_LOG_FORMAT=text SQLVAULT_RETRY_BASE=100ms SQLVAULT_PAUSE_TIMEOUT=1s
D="$SQLVAULT_DATA_DIR"
make_workspace ws1 1000
make_workspace ws2 2000
mkdir -p "$SV_SCRATCH/allowed" "$SV_SCRATCH/outside"
make_db "$SV_SCRATCH/outside/src.db" 300
make_db "$SV_SCRATCH/allowed/src.db" 400
ln -s "$SV_SCRATCH/outside/src.db" "$D/ws1/link.db"
SQLVAULT_ALLOW_DIRS="$SV_SCRATCH/allowed" start_worker w1 --threads 2
timeout 60 "$SV_BIN" backup ws1 --id sc-b1 >/dev/null || fail "backup ws1"
timeout 60 "$SV_BIN" backup ws2 --id sc-b2 >/dev/null || fail "backup ws2"
b2=$(qfield sc-b2 result | jq -r .ts)
ws1_sum=$(sha256sum "$D/ws1/livestore.db" | cut -d' ' -f1)
keys_before=$(s3_keys | sort)

# refused ID TYPE JSON-OPTS WHAT: enqueues into Redis directly; the job must
# fail on its first attempt with the scope rule in its error.
refused() {
  local id="$1" type="$2" opts="$3" what="$4"
  assert_eq "1 queued" "$(qpy enqueue "$id" "$type" ws1 interactive 5 "$opts")" "$what: enqueued"
  wait_for --timeout 30 bash -c "[[ \$(redis-cli -u '$SQLVAULT_REDIS_URL' HGET '$(qbase)job:$id' state) == failed ]]"
  assert_eq 1 "$(qfield "$id" attempt)" "$what: one attempt"
  assert_eq invalid "$(qfield "$id" error_code)" "$what: error code"
  assert_contains "$(qfield "$id" error)" "refused by the workspace scope rule" "$what"
}

step "out-of-scope sources and paths are refused"
refused sc-1 restore "{\"from\": \"object:full/ws2/$b2/livestore.db.zst\"}" "another workspace's backup object"
refused sc-2 restore '{"from": "object:uploads/ws2/x.db"}' "another workspace's upload"
refused sc-3 restore "{\"from\": \"file:$SV_SCRATCH/outside/src.db\"}" "a host file"
refused sc-4 restore "{\"from\": \"file:$D/ws2/livestore.db\"}" "another workspace's database"
refused sc-5 restore "{\"from\": \"file:$D/ws1/../ws2/livestore.db\"}" "a path climbing out with .."
refused sc-6 restore "{\"from\": \"file:$D/ws1/link.db\"}" "a symlink pointing outside"
refused sc-7 restore '{"from": "file:ws1/livestore.db"}' "a relative path"
refused sc-8 restore "{\"from\": \"latest\", \"db\": \"$SV_SCRATCH/outside/target.db\"}" "a db outside the data dir"
refused sc-9 restore "{\"from\": \"latest\", \"db\": \"$D/ws2/livestore.db\"}" "another workspace's db"
refused sc-10 export "{\"db\": \"$D/ws2/livestore.db\"}" "an export of another workspace's db"
refused sc-11 export "{\"db\": \"$SV_SCRATCH/outside/src.db\"}" "an export of a host file"
refused sc-12 backup "{\"db\": \"$SV_SCRATCH/outside/src.db\"}" "a backup of a host file"
assert_contains "$(qfield sc-1 error)" "clone-from" "the hint names the clone option"

step "nothing was written"
[[ ! -e "$SV_SCRATCH/outside/target.db" ]] || fail "the outside target was created"
assert_eq "$ws1_sum" "$(sha256sum "$D/ws1/livestore.db" | cut -d' ' -f1)" "ws1's live database unchanged"
assert_eq 2000 "$(db_count "$D/ws2/livestore.db" eventlog)" "ws2's live database unchanged"
assert_eq "$keys_before" "$(s3_keys | sort)" "store objects unchanged"

step "a clone names the other workspace explicitly"
assert_eq "1 queued" "$(qpy enqueue sc-clone restore ws1 interactive 5 '{"from": "latest", "clone_from": "ws2"}')" "enqueued"
wait_state sc-clone succeeded 60
assert_eq 2000 "$(db_count "$D/ws1/livestore.db" eventlog)" "ws1 now holds ws2's backup"
assert_eq "$b2" "$(qfield sc-clone result | jq -r .backup)" "the backup restored"
assert_eq "1 queued" "$(qpy enqueue sc-clone2 restore ws1 interactive 5 \
  "{\"from\": \"object:full/ws2/$b2/livestore.db.zst\", \"clone_from\": \"ws2\"}")" "enqueued"
wait_state sc-clone2 succeeded 60

step "SQLVAULT_ALLOW_DIRS opens a folder; the CLI resolves a relative path before enqueuing"
(cd "$SV_SCRATCH/allowed" && timeout 60 "$SV_BIN" restore ws1 --from file:src.db --yes --id sc-rel >/dev/null) ||
  fail "restore of a relative file: path failed: $(qfield sc-rel error)"
assert_eq "file:$SV_SCRATCH/allowed/src.db" "$(qfield sc-rel result | jq -r .from)" "the path the job got"
assert_eq 400 "$(db_count "$D/ws1/livestore.db" eventlog)" "ws1 restored from the allowed folder"

step "--inline keeps the operator's paths"
(cd "$SV_SCRATCH/outside" && timeout 60 "$SV_BIN" restore ws1 --inline --from file:src.db --yes >/dev/null) ||
  fail "an inline restore of an outside file failed"
assert_eq 300 "$(db_count "$D/ws1/livestore.db" eventlog)" "ws1 restored inline from an outside file"
sv_pass
