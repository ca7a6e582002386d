#!/usr/bin/env bash
# chaos_soak.sh -- every effect exactly once under faults. 3 worker processes
# x 2 threads run CHAOS_JOBS (70) backups of CHAOS_WS (25) workspaces, a few
# of them multipart, through the R2-rules proxy injecting 503s and connection
# resets, while a chaos loop kill -9s and restarts workers, freezes one past
# its lease (SIGSTOP, then SIGCONT) and restarts Redis once (AOF on). A
# writer keeps changing some databases. Afterwards: every job succeeded,
# each has exactly one committed backup, every committed object matches its
# metadata (both checksums and the size), no multipart upload is open, no
# temporary file is left.
#
# Seeded: CHAOS_SEED (printed; default random) replays the same faults and
# the same chaos schedule. scripts/bench.sh runs a longer version through
# CHAOS_JOBS, CHAOS_WS, CHAOS_KILLS, CHAOS_DEADLINE and CHAOS_REPORT (a file
# that gets the figures as JSON).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/queue_lib.sh"
sv_setup
SEED="${CHAOS_SEED:-$((RANDOM * 32768 + RANDOM))}"
JOBS="${CHAOS_JOBS:-70}"
NWS="${CHAOS_WS:-25}"
KILLS="${CHAOS_KILLS:-8}"
DEADLINE="${CHAOS_DEADLINE:-150}"
RANDOM=$((SEED % 32768))
note "seed $SEED (replay: CHAOS_SEED=$SEED), $JOBS jobs over $NWS workspaces"
export SQLVAULT_LEASE=3s SQLVAULT_MAX_ATTEMPTS=30 SQLVAULT_RETRY_BASE=200ms SQLVAULT_GRACE=2s
export SQLVAULT_PART_SIZE=5MiB SQLVAULT_UPLOAD_CONCURRENCY=2 SQLVAULT_LOG_FORMAT=text
TMPD="$SQLVAULT_DATA_DIR/.sqlvault-tmp"

step "private redis (AOF), $NWS workspaces (4 of ~11 MiB: multipart), faults on"
redis_private_start
export SQLVAULT_REDIS_URL="$SV_PRIVATE_REDIS_URL"
for ((w = 0; w < NWS; w++)); do make_workspace "cw-$w" $((20 + RANDOM % 200)); done
for w in 0 1 2 3; do
  sqlite3 "$SQLVAULT_DATA_DIR/cw-$w/livestore.db" \
    "CREATE TABLE IF NOT EXISTS blobs (b BLOB); WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 170) INSERT INTO blobs SELECT randomblob(65536) FROM n;"
done
sv_on_exit "proxy_reset"
proxy_faults "{\"seed\": $SEED, \"rules\": [
  {\"prefix\": \"$SV_PREFIX\", \"status\": 503, \"probability\": 0.04, \"name\": \"503\"},
  {\"prefix\": \"$SV_PREFIX\", \"op\": [\"PutObject\", \"UploadPart\", \"GetObject\", \"HeadObject\"], \"reset\": \"request\", \"probability\": 0.02, \"name\": \"reset request\"},
  {\"prefix\": \"$SV_PREFIX\", \"op\": [\"PutObject\", \"UploadPart\", \"CompleteMultipartUpload\"], \"reset\": \"response\", \"probability\": 0.02, \"name\": \"reset response\"}]}"

# a writer that keeps changing a few databases, so attempts see different snapshots
( while :; do
    w=$((RANDOM % 5 + 2))
    sqlite3 "$SQLVAULT_DATA_DIR/cw-$w/livestore.db" ".timeout 2000" \
      "INSERT INTO todos (id, title) VALUES ('w-' || hex(randomblob(6)), datetime('now'))" 2>/dev/null
    sleep 0.2
  done ) &

declare -a PIDS NAMES
start_one() { # start_one INDEX: (re)starts worker INDEX
  local i="$1" n="${RESTARTS[$1]:-0}"
  RESTARTS[$i]=$((n + 1))
  start_worker "w$i-$n" --threads 2
  PIDS[$i]=$WORKER_PID
}
declare -a RESTARTS
for i in 0 1 2; do start_one "$i"; done

step "enqueue $JOBS backups a few at a time while the chaos runs (at most ${DEADLINE}s)"
# Rounds of 1-2 s: each enqueues a batch; from round 4, the first worker
# seen running a job is frozen past its lease, round 9 restarts redis, and every other round kills a worker (-9)
# and restarts it, until KILLS kills; then until every job succeeded.
: >"$SV_SCRATCH/jobs"
# active_workers: the pid of the worker of every running job (ids are host:pid:random).
active_workers() {
  redis-cli -u "$SQLVAULT_REDIS_URL" ZRANGE "$(qbase)active" 0 -1 2>/dev/null |
    while read -r id; do redis-cli -u "$SQLVAULT_REDIS_URL" HGET "$(qbase)job:$id" worker; done | cut -d: -f2
}
succeeded() { redis-cli -u "$SQLVAULT_REDIS_URL" HGET "$(qbase)stats" succeeded 2>/dev/null | sed 's/^$/0/'; }
failed() { redis-cli -u "$SQLVAULT_REDIS_URL" HGET "$(qbase)stats" failed 2>/dev/null | sed 's/^$/0/'; }
enqueue() { # enqueue N: the next N jobs (retried while redis restarts)
  local k t
  for ((k = 0; k < $1 && next_job <= JOBS; k++)); do
    for t in 1 2 3 4 5 6 7 8 9 10; do
      "$SV_BIN" backup "cw-$((next_job % NWS))" --no-wait --id "chaos-$next_job" >/dev/null 2>&1 && break
      sleep 0.5
    done
    ((t < 10)) || fail "enqueue of chaos-$next_job failed"
    echo "chaos-$next_job" >>"$SV_SCRATCH/jobs"
    next_job=$((next_job + 1))
  done
}
BATCH=$(((JOBS + 19) / 20))
start=$SECONDS kills=0 round=0 stopped=-1 redis_restarted=0 next_job=1
while :; do
  s="$(succeeded)"
  [[ "$s" =~ ^[0-9]+$ ]] || s=0
  ((s >= JOBS)) && break
  f="$(failed)"
  [[ "$f" =~ ^[0-9]+$ && "$f" -gt 0 ]] && fail "$f job(s) failed"
  ((SECONDS - start < DEADLINE)) || fail "only $s of $JOBS jobs succeeded after ${DEADLINE}s"
  sleep "$((RANDOM % 2)).$((RANDOM % 10))"
  enqueue "$BATCH"
  sleep "0.$((2 + RANDOM % 5))" # the chaos strikes while the batch runs
  round=$((round + 1))
  busy="$(active_workers)"
  frz=-1 # from round 4 on, the first worker seen running a job is frozen
  for k in 0 1 2; do grep -qx "${PIDS[$k]}" <<<"$busy" && { frz=$k; break; }; done
  # Small backups finish in tens of ms: until a worker was frozen, look for a
  # busy one for up to 2 s (its batch may have ended before the first look)
  # rather than leave the freeze to a lucky moment.
  for ((w = 0; round >= 4 && stopped < 0 && frz < 0 && w < 20; w++)); do
    ((w % 5 == 4)) && enqueue 1
    sleep 0.1
    busy="$(active_workers)"
    for k in 0 1 2; do grep -qx "${PIDS[$k]}" <<<"$busy" && { frz=$k; break; }; done
  done
  if ((round >= 4 && stopped < 0 && frz >= 0)); then
    # freeze it, then make sure it is frozen holding a job (the one seen may
    # have finished in between; a reply already on its way lands within the
    # pause): if not, let it go and try again next round
    kill -STOP "${PIDS[$frz]}"
    sleep 0.3
    if active_workers | grep -qx "${PIDS[$frz]}"; then
      stopped=$frz
      ( sleep 5; kill -CONT "${PIDS[$stopped]}" ) &
      sv_on_exit "kill -CONT ${PIDS[$stopped]}"
      note "t+$((SECONDS - start))s: froze worker $stopped (pid ${PIDS[$stopped]}) holding a job for 5 s, past its 3 s lease"
    else
      kill -CONT "${PIDS[$frz]}"
    fi
  elif ((round >= 9 && !redis_restarted)); then
    redis_private_restart
    redis_restarted=1
    note "t+$((SECONDS - start))s: restarted redis (AOF), $(succeeded) succeeded so far"
  elif ((round % 2 == 0 && kills < KILLS)); then
    i=$((RANDOM % 3))
    # prefer a worker that runs a job right now (its id is host:pid:random)
    for k in 0 1 2; do
      ((k != stopped)) && grep -qx "${PIDS[$k]}" <<<"$busy" && { i=$k; break; }
    done
    ((i == stopped)) && i=$(((i + 1) % 3)) # the frozen one is left alone: it must clean up after itself
    kill -KILL "${PIDS[$i]}" 2>/dev/null || true
    wait "${PIDS[$i]}" 2>/dev/null || true
    kills=$((kills + 1))
    start_one "$i"
    note "t+$((SECONDS - start))s: kill -9 of worker $i, restarted as pid ${PIDS[$i]} ($(succeeded) succeeded)"
  fi
done
((redis_restarted)) || fail "the jobs finished before the redis restart: the soak did not soak"
((stopped >= 0)) || fail "no worker was ever frozen holding a job: the soak did not soak"
elapsed=$((SECONDS - start))
note "all $JOBS jobs succeeded after ${elapsed}s, $kills kills"
proxy_api GET /faults | python3 -c 'import json,sys; print("   faults fired: " + ", ".join("%s %d" % (r.get("name"), r.get("fired", 0)) for r in json.load(sys.stdin)["rules"]))'
proxy_reset
for i in 0 1 2; do kill -TERM "${PIDS[$i]}" 2>/dev/null || true; done
for i in 0 1 2; do wait "${PIDS[$i]}" 2>/dev/null || true; done

step "every job succeeded, exactly once, with objects that match their metadata"
lost=0
while read -r id; do
  st="$(redis_cli HGET "$(qbase)job:$id" state)"
  [[ "$st" == succeeded ]] || { note "job $id: $st"; lost=$((lost + 1)); }
done <"$SV_SCRATCH/jobs"
audit="$(python3 "$SV_SOURCE_DIR/tests/tools/check_backups.py" "$SV_S3_DATA_DIR/$SV_S3_BUCKET/${SV_PREFIX%/}" --jobs "$SV_SCRATCH/jobs")"
dups="$(jq -r '.duplicates | length' <<<"$audit")"
missing="$(jq -r '.missing | length' <<<"$audit")"
mism="$(jq -r '.mismatched | length' <<<"$audit")"
open="$(proxy_open_uploads)"
temps="$(find "$TMPD" -type f 2>/dev/null | wc -l)"
note "committed $(jq -r .committed <<<"$audit"), uncommitted leftovers $(jq -r '.uncommitted | length' <<<"$audit")"
if [[ -n "${CHAOS_REPORT:-}" ]]; then
  jq -n --argjson seed "$SEED" --argjson jobs "$JOBS" --argjson lost "$((lost + missing))" --argjson dup "$dups" \
    --argjson mism "$mism" --argjson open "$open" --argjson temps "$temps" --argjson secs "$elapsed" \
    --argjson kills "$kills" '{seed: $seed, jobs: $jobs, seconds: $secs, kills: $kills, jobs_lost: $lost,
      duplicate_commits: $dup, mismatched_objects: $mism, open_uploads: $open, temp_files: $temps}' >"$CHAOS_REPORT"
fi
assert_eq 0 "$lost" "jobs that did not succeed"
assert_eq 0 "$missing" "jobs without a committed backup"
assert_eq 0 "$dups" "jobs with more than one committed backup$( ((dups)) && jq -c .duplicates <<<"$audit")"
assert_eq 0 "$mism" "committed objects that disagree with their metadata$( ((mism)) && jq -c .mismatched <<<"$audit")"
assert_eq 0 "$open" "open multipart uploads"
assert_eq 0 "$temps" "temporary files left in $TMPD$( ((temps)) && find "$TMPD" -type f | head -3 | tr '\n' ' ')"
assert_ge "$(redis_cli HGET "$(qbase)stats" stalled | sed 's/^$/0/')" 1 "stalled jobs taken over (the chaos did bite)"
sv_pass
