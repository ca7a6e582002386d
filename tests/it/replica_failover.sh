#!/usr/bin/env bash
# replica_failover.sh -- a second store (SQLVAULT_REPLICAS) survives the loss
# of the first. Against s3rver behind the R2-rules proxy, the replica a
# second bucket (its own key prefix):
#  1. bad replica settings are refused with a clear error (exit 2);
#  2. a queued backup enqueues its replicate job; the replica gets the same
#     committed objects (an incremental chain and the key-less plain case);
#     `list` shows both stores;
#  3. the replicate job killed with -9 while its copy of a backup object is
#     held by the proxy: a second worker takes it over; no object is missing
#     and the copy is whole;
#  4. every object of the workspace deleted from the primary: restore
#     --from latest and --from an older point give their exact content from
#     the replica, saying so (store, failover); `list` shows them replica-only;
#  5. a corrupted primary object falls back to the replica; --from-store picks one;
#  6. an unreachable replica does not fail or hold up the primary's backup:
#     its replicate job fails and retries, the backup succeeds.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/queue_lib.sh"
sv_setup
# This test is about the full restore path (download, validate, swap); delta
# restores have tests of their own (delta_restore.sh).
export SQLVAULT_RESTORE_DELTA=off
source "$SV_SOURCE_DIR/tests/tools/restore_lib.sh"
export SQLVAULT_LOG_FORMAT=text SQLVAULT_RETRY_BASE=200ms SQLVAULT_LEASE=2s SQLVAULT_FULL_EVERY=24h
B2="rep-$(printf '%s' "$SV_TEST_ID" | sha256sum | cut -c1-20)"
RP="${SV_PREFIX}rep/"
aws_s3 s3api create-bucket --bucket "$B2" >/dev/null || fail "could not create the replica bucket $B2"
rkeys() { aws_s3 s3api list-objects-v2 --bucket "$B2" --prefix "${1:-$RP}" --query 'Contents[].[Key,Size]' --output text |
  grep -v '^None$' | sed "s|^$RP||" | sort || true; }
pkeys() { aws_s3 s3api list-objects-v2 --bucket "$SV_S3_BUCKET" --prefix "${1:-$SV_PREFIX}full/" --query 'Contents[].[Key,Size]' \
  --output text | grep -v '^None$' | sed "s|^$SV_PREFIX||" | grep -v '/verify.json' | sort || true; }
ws=rep-ws
db="$SQLVAULT_DATA_DIR/$ws/livestore.db"
make_workspace "$ws" 3000

step "bad replica settings are refused, naming the variable"
for bad in "primary=s3://$B2/x/" "Bad=s3://$B2/x/" "r1=http://x/" "r1=s3://$B2/a/,r1=s3://$B2/b/" "r1=$SQLVAULT_STORE" "noequals"; do
  st=0
  out="$(SQLVAULT_REPLICAS="$bad" "$SV_BIN" list "$ws" 2>&1)" || st=$?
  assert_eq 2 "$st" "exit status for SQLVAULT_REPLICAS=$bad"
  assert_contains "$out" "SQLVAULT_REPLICAS" "the error names the variable ($bad)"
done

export SQLVAULT_REPLICAS="r2b=s3://$B2/$RP"
step "a queued backup enqueues its replicate job; the replica holds the same committed objects"
start_worker w1 --threads 2
w1=$WORKER_PID
timeout 60 "$SV_BIN" backup "$ws" --id rb-1 >/dev/null || fail "backup failed: $(qfield rb-1 error)"
rj="$(qfield rb-1 result | jq -r '.replicas.replicate_job // empty')"
assert_eq "rb-1-replicate" "$rj" "the backup names its replicate job"
wait_state "$rj" succeeded 60 || fail "replicate job: $(qfield "$rj" state) $(qfield "$rj" error)"
T1="$(qfield rb-1 result | jq -r .ts)"
H1="$(db_sha3 "$db")"
sqlite3 "$db" "UPDATE eventlog SET args = hex(randomblob(20)) WHERE seq % 7 = 0"
timeout 60 "$SV_BIN" backup "$ws" --id rb-2 >/dev/null || fail "backup 2 failed: $(qfield rb-2 error)"
assert_eq incremental "$(qfield rb-2 result | jq -r .backupType)" "the second backup's type"
wait_state rb-2-replicate succeeded 60 || fail "replicate job 2: $(qfield rb-2-replicate error)"
T2="$(qfield rb-2 result | jq -r .ts)"
H2="$(db_sha3 "$db")"
assert_eq "$(pkeys)" "$(rkeys)" "the replica's objects and sizes = the primary's"
note "$(rkeys | wc -l) objects in each store"
lj="$("$SV_BIN" list "$ws" --json)"
assert_eq '[["primary","r2b"],["primary","r2b"]]' "$(jq -c '[.[].stores]' <<<"$lj")" "list --json: both backups in both stores"
assert_contains "$("$SV_BIN" list "$ws")" "primary,r2b" "list shows the stores"

step "the replicate job killed with -9 mid-copy: another worker finishes it, nothing missing"
sqlite3 "$db" "INSERT INTO eventlog (name, args, created_at) SELECT 'x', hex(randomblob(400)), 'now' FROM generate_series(1, 2000)"
proxy_faults "{\"rules\": [{\"op\": [\"PutObject\", \"UploadPart\", \"CreateMultipartUpload\"], \"prefix\": \"${RP}full/$ws/\", \"latencyMs\": 8000, \"times\": 1}]}"
timeout 60 "$SV_BIN" backup "$ws" --id rb-3 --full >/dev/null || fail "backup 3 failed: $(qfield rb-3 error)"
T3="$(qfield rb-3 result | jq -r .ts)"
H3="$(db_sha3 "$db")"
wait_for --timeout 30 bash -c "curl -fsS '$SV_PROXY_CONTROL/log?pending=1' | grep -q '${RP}full/$ws/$T3/'" ||
  fail "the replica copy of $T3 was never held"
kill -9 "$w1"
wait "$w1" 2>/dev/null || true
assert_eq "" "$(rkeys | grep "full/$ws/$T3/metadata.json" || true)" "no commit marker in the replica while its objects are missing"
proxy_reset
maddr="127.0.0.1:$(free_port)"
start_worker w2 --threads 2 --metrics-addr "$maddr"
wait_state rb-3-replicate succeeded 60 || fail "replicate job 3 after the takeover: $(qfield rb-3-replicate state) $(qfield rb-3-replicate error)"
assert_eq "$(pkeys)" "$(rkeys)" "after the takeover the replica's objects and sizes = the primary's"

step "every object of the workspace deleted from the primary: restores come from the replica"
aws_s3 s3 rm --quiet --recursive "s3://$SV_S3_BUCKET/${SV_PREFIX}full/$ws/" || fail "could not empty the primary"
assert_eq "" "$(pkeys)" "the primary holds nothing of $ws"
lj="$("$SV_BIN" list "$ws" --json 2>/dev/null)"
assert_eq '[["r2b"],["r2b"],["r2b"]]' "$(jq -c '[.[].stores]' <<<"$lj")" "list: three backups, in the replica only"
for spec in "latest $H3 $T3" "$T2 $H2 $T2" "$T1 $H1 $T1"; do
  read -r at want ts <<<"$spec"
  res="$(timeout 90 "$SV_BIN" restore "$ws" --from "$at" --yes --json | jq ".result // .")" || fail "restore --from $at failed: $res"
  assert_eq "$want" "$(db_sha3 "$db")" "content after restoring $at"
  assert_eq "r2b $ts" "$(jq -r '"\(.store) \(.backup)"' <<<"$res")" "restore --from $at: the store and backup"
  [[ "$(jq -r .failover <<<"$res")" != null ]] || fail "no failover reason in $res"
  [[ "$(db_integrity "$db")" == ok ]] || fail "integrity after restoring $at"
done

step "a corrupted primary object falls back to the replica; --from-store picks a store"
timeout 60 "$SV_BIN" backup "$ws" --id rb-4 --full >/dev/null || fail "backup 4 failed: $(qfield rb-4 error)"
wait_state rb-4-replicate succeeded 60 || fail "replicate job 4: $(qfield rb-4-replicate error)"
T4="$(qfield rb-4 result | jq -r .ts)"
H4="$(db_sha3 "$db")"
k4="${SV_PREFIX}full/$ws/$T4/livestore.db.zst"
s3_get "$k4" "$SV_SCRATCH/o4.zst"
python3 -c 'import sys; b=bytearray(open(sys.argv[1],"rb").read()); b[len(b)//2]^=0xff; open(sys.argv[2],"wb").write(b)' "$SV_SCRATCH/o4.zst" "$SV_SCRATCH/o4.bad"
s3_put "$SV_SCRATCH/o4.bad" "$k4"
sqlite3 "$db" "DELETE FROM eventlog WHERE seq % 2 = 0"
res="$(timeout 90 "$SV_BIN" restore "$ws" --from latest --yes --json | jq ".result // .")" || fail "restore over a corrupted primary failed: $res"
assert_eq "$H4" "$(db_sha3 "$db")" "content after the fallback"
assert_eq r2b "$(jq -r .store <<<"$res")" "the fallback store"
note "failover: $(jq -r .failover <<<"$res")"
out="$(timeout 90 "$SV_BIN" restore "$ws" --from "$T4" --yes --from-store primary --no-delta 2>&1)" && fail "--from-store primary restored a corrupted backup: $out"
note "--from-store primary: $(tail -1 <<<"$out")"
assert_eq "$H4" "$(db_sha3 "$db")" "the live file after the refused --from-store primary"
res="$(timeout 90 "$SV_BIN" restore "$ws" --from "$T2" --yes --from-store r2b --json | jq ".result // .")" || fail "restore --from-store r2b failed: $res"
assert_eq "$H2 r2b" "$(db_sha3 "$db") $(jq -r .store <<<"$res")" "restore --from-store r2b --from $T2"
expect_status 2 "$SV_BIN" restore "$ws" --from latest --yes --from-store nope

step "an unreachable replica does not fail or hold up the primary's backup"
proxy_faults "{\"rules\": [{\"prefix\": \"${RP}\", \"status\": 503, \"permanent\": true}]}"
sqlite3 "$db" "UPDATE eventlog SET args = 'after' WHERE seq % 5 = 0"
t0=$(date +%s%N)
timeout 60 "$SV_BIN" backup "$ws" --id rb-5 >/dev/null || fail "the backup failed with its replica away: $(qfield rb-5 error)"
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
note "backup with the replica away: $ms ms"
wait_for --timeout 30 bash -c "[[ \"\$(redis-cli -u '$SQLVAULT_REDIS_URL' HGET '$(qbase)job:rb-5-replicate' attempt)\" -ge 2 ]]" ||
  fail "the replicate job was not retried: $(qfield rb-5-replicate state) $(qfield rb-5-replicate error)"
note "replicate job: $(qfield rb-5-replicate state), $(qfield rb-5-replicate error)"
# it keeps retrying past the default 5 attempts (an outage of a minute or an
# hour is caught up by the job itself, not only by the next backup)
assert_eq 20 "$(qfield rb-5-replicate max_attempts)" "a replicate job's attempts"
wait_for --timeout 60 bash -c "[[ \"\$(redis-cli -u '$SQLVAULT_REDIS_URL' HGET '$(qbase)job:rb-5-replicate' attempt)\" -ge 6 ]]" ||
  fail "the replicate job stopped before its sixth attempt: $(qfield rb-5-replicate state) $(qfield rb-5-replicate error)"
assert_ne failed "$(qfield rb-5-replicate state)" "the replicate job after 5 failed attempts"
T5="$(qfield rb-5 result | jq -r .ts)"
lag() { curl -fsS "http://$maddr/metrics" | awk '$1 == "sqlvault_replica_lag_seconds{store=\"r2b\"}" {print $2}'; }
wait_for --timeout 40 bash -c "v=\$(curl -fsS 'http://$maddr/metrics' | awk '\$1 == \"sqlvault_replica_lag_seconds{store=\\\"r2b\\\"}\" {print \$2}'); [[ -n \"\$v\" ]] && awk -v v=\"\$v\" 'BEGIN {exit !(v > 0)}'" ||
  fail "/metrics shows no lag for r2b: [$(lag)]"
note "replication lag while r2b is away: $(lag) s; behind: $(curl -fsS "http://$maddr/metrics" | grep '^sqlvault_replica_behind_workspaces')"
assert_eq '["primary"]' "$("$SV_BIN" list "$ws" --json 2>/dev/null | jq -c --arg t "$T5" '.[] | select(.ts == $t) | .stores')" \
  "the new backup is in the primary only"
proxy_reset
wait_state rb-5-replicate succeeded 60 || fail "the replicate job did not catch up: $(qfield rb-5-replicate error)"
assert_eq '["primary","r2b"]' "$("$SV_BIN" list "$ws" --json | jq -c --arg t "$T5" '.[] | select(.ts == $t) | .stores')" \
  "after the replica is back"
wait_for --timeout 40 bash -c "curl -fsS 'http://$maddr/metrics' | grep -qx 'sqlvault_replica_lag_seconds{store=\"r2b\"} 0.000'" ||
  fail "the lag did not return to 0: [$(lag)]"
assert_contains "$(curl -fsS "http://$maddr/metrics")" 'sqlvault_replica_behind_workspaces{store="r2b"} 0' "no workspace behind"
sv_pass
