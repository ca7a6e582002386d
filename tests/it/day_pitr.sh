#!/usr/bin/env bash
# day_pitr.sh -- issue 12's "done when": a workspace written to all day can
# be restored to any minute of it. S3 through the R2-rules proxy.
#
# One single-file LiveStore-like workspace lives through a simulated day on
# the injected clock (SQLVAULT_FAKE_NOW = the minute, for every backup): each
# of its 1,440 minutes gets one small write that records the minute in the
# database (table day_minutes, and a todo touched), then `sqlvault backup WS
# --inline` in mode auto with the production chain settings
# (SQLVAULT_FULL_EVERY 24h, SQLVAULT_MAX_CHAIN default 1440): a full at
# minute 0, an incremental for every written minute after it, one chain for
# the day. About one minute in twenty has no write: its backup answers
# "unchanged", naming the head. One minute has a burst of bigger writes,
# another deletes them and VACUUMs (the page count shrinks). The content
# digest (sqlite3 .sha3sum) after every minute is recorded.
#
# Then, with a seeded sample (SV_TEST_SEED replays it):
#  - restore --from ~8 times: the very first backup, the last minute, a
#    time seconds into a minute (between two backups), a minute with no
#    write, and random ones: each live database's digest is the one of the
#    newest backup at or before that time, integrity_check ok, the chain
#    length applied is that backup's;
#  - a point ~100 links in restored with 20 ms of latency on every
#    GetObject (the proxy), one download at a time and the default (times
#    printed, content asserted);
#  - a damaged link mid-way through the longest chain is refused naming it
#    (links after it downloading meanwhile), the live file unchanged and no
#    temporary file left;
#  - a queued restore of the longest chain (a worker), cancelled while its
#    links download, leaves no temporary file and the live file unchanged;
#  - the restore of the last minute (the longest chain) is timed, with one
#    download at a time (SQLVAULT_RESTORE_CONCURRENCY=1) and with the
#    default, and its peak RSS (/usr/bin/time -f %M) is at most 64 MiB
#    (plain build);
#  - verify --at one mid-day time;
#  - store requests at the proxy for an idle minute (0) and a written
#    minute (printed by op), bytes stored per incremental (printed);
#  - past the day, the SQLVAULT_MAX_CHAIN boundary: a chain of exactly
#    MAX_CHAIN incrementals is taken, the next backup is a full, and both
#    points restore exactly.
# SV_DAY_MINUTES shortens the day (development only; the suite runs 1440 in
# the plain build, 360 under the sanitizers).
# The restores are the full path's (--no-delta), which walks the chain's
# links; a delta restore's pre-restore backup would also join the chain at
# the real clock's time, after this day of made-up times.
export SQLVAULT_FULL_EVERY=24h
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/queue_lib.sh"
source "$SV_SOURCE_DIR/tests/tools/restore_lib.sh"
sv_setup
# The full path (the chain's download, prefetch, refusals, cancellation): a
# delta restore's pre-restore backup is a link labelled by the real clock,
# after this test's fake-clock day (delta restores: delta_restore*.sh).
export SQLVAULT_RESTORE_DELTA=off
export SQLVAULT_LOG_FORMAT=text
unset SQLVAULT_MAX_CHAIN
seed="${SV_TEST_SEED:-$RANDOM}"
note "seed $seed (replay with SV_TEST_SEED=$seed)"
RANDOM=$seed

# The plain build lives the whole day (issue 12's "done when"); the sanitizer
# build, there for memory errors on the same paths, a quarter of it (the
# same burst, VACUUM, idle minutes, chain boundary, at scale): a day of 1,440
# processes under ASan took 390-590 s of the suite's time, and 900 s (its
# timeout) on a loaded machine.
if [[ "$SV_BUILD_DIR" == *-asan ]]; then N="${SV_DAY_MINUTES:-360}"; else N="${SV_DAY_MINUTES:-1440}"; fi
ws=day-ws
live="$SQLVAULT_DATA_DIR/$ws/livestore.db"
work="$SV_SCRATCH/work"
mkdir -p "$work"
# the day: midnight UTC two days ago, so every restore's pre-restore backup
# (taken at the real now) comes after it
T0=$(( ($(date +%s) / 86400 - 2) * 86400 * 1000 ))
BURST=$((N * 5 / 12))  # 10:00 in a full day
VAC=$((N * 2 / 3))     # 16:00
declare -a DIG TS CL KIND  # per minute: digest, the backup answering, its chain length, what happened

iso_ms() { date -u -d "@$(($1 / 1000)).$(printf %03d $(($1 % 1000)))" +%Y-%m-%dT%H:%M:%S.%3NZ; }

# idle M: true for a minute with no write (never the first or the last two,
# nor the burst or VACUUM minutes)
IDLE=()
for ((m = 0; m < N; m++)); do
  if ((m > 0 && m < N - 2 && m != BURST && m != VAC && m != BURST + 1 && m != VAC + 1 && RANDOM % 20 == 0)); then IDLE[m]=1; fi
done
# the idle minute the sample restores and the proxy counts
for ((m = N / 2; m < N; m++)); do [[ -n "${IDLE[m]:-}" ]] && { idle_pick=$m; break; }; done
[[ -n "${idle_pick:-}" ]] || { idle_pick=$((N / 2 + 1)); IDLE[idle_pick]=1; }
written_pick=$((idle_pick + 1))
while [[ -n "${IDLE[written_pick]:-}" ]]; do written_pick=$((written_pick + 1)); done

# bk MINUTE: the minute's backup on the fake clock; sets R (the JSON result).
bk() {
  R="$(SQLVAULT_FAKE_NOW=$((T0 + $1 * 60000)) "$SV_BIN" backup "$ws" --inline --json 2>"$work/bk.err")" ||
    fail "backup at minute $1: $(tail -3 "$work/bk.err")"
}
# jf NAME: a string or number field of R (bash only: no process per minute).
jf() {
  if [[ "$R" =~ \"$1\":\ \"([^\"]*)\" ]] || [[ "$R" =~ \"$1\":\ ([0-9a-z]+) ]]; then echo "${BASH_REMATCH[1]}"; fi
}

step "a LiveStore-like workspace, then a day of minutes ($N) on the fake clock"
make_workspace "$ws" 3000
sqlite3 "$live" "CREATE TABLE day_minutes (m INTEGER PRIMARY KEY, at TEXT NOT NULL, note TEXT NOT NULL)"
note "database $(stat -c %s "$live") bytes; burst at minute $BURST, VACUUM at $VAC, $(echo "${!IDLE[@]}" | wc -w) idle minutes; sampled idle minute $idle_pick"
proxy_reset
t_day=$SECONDS
nfull=0 nincr=0 nunch=0 prev_ts="" head_cl=0
SIZES=() # stored bytes of each incremental of a one-row minute
for ((m = 0; m < N; m++)); do
  at="$(printf '%02d:%02d' $((m / 60)) $((m % 60)))"
  sql="INSERT INTO day_minutes VALUES ($m, '$at', 'minute $m ' || hex(randomblob(24)));
UPDATE todos SET done = done + 1, title = 'minute $m' WHERE rowid = $((RANDOM % 3000 + 1));"
  if ((m == BURST)); then
    sql+="CREATE TABLE burst (id INTEGER PRIMARY KEY, b BLOB);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1500) INSERT INTO burst (b) SELECT randomblob(1200) FROM n;"
  elif ((m == VAC)); then
    sql+="DROP TABLE burst; DELETE FROM eventlog WHERE seq % 3 = 0; VACUUM;"
  fi
  ((m == idle_pick || m == written_pick)) && proxy_reset
  if [[ -n "${IDLE[m]:-}" ]]; then
    DIG[m]="${DIG[m - 1]}"
    KIND[m]=idle
  else
    DIG[m]="$(sqlite3 "$live" "$sql" .sha3sum)" || fail "write at minute $m"
    KIND[m]=write
  fi
  bk "$m"
  type="$(jf backupType)" ts="$(jf ts)" unch="$(jf unchanged)" cl="$(jf chainLength)"
  if [[ "${KIND[m]}" == idle ]]; then
    [[ "$unch" == true ]] || fail "minute $m (no write) was not unchanged: $R"
    [[ "$ts" == "$prev_ts" ]] || fail "minute $m: unchanged names $ts, the head is $prev_ts"
    nunch=$((nunch + 1))
  elif ((m == 0)); then
    [[ "$type" == full ]] || fail "minute 0 is not a full: $R"
    nfull=$((nfull + 1))
  else
    [[ "$unch" == false && "$type" == incremental ]] || fail "minute $m is not an incremental: $R"
    [[ "$(jf parent)" == "$prev_ts" ]] || fail "minute $m: parent $(jf parent), the head was $prev_ts"
    ((cl == head_cl + 1)) || fail "minute $m: chainLength $cl after $head_cl"
    sz="$(jf compressedSize)"
    nincr=$((nincr + 1))
    ((m == BURST || m == VAC)) || SIZES+=("$sz")
    ((m == BURST || m == VAC)) && note "minute $m ($([[ $m == "$BURST" ]] && echo burst || echo VACUUM)): $(jf changedPages) pages, $sz bytes stored"
  fi
  TS[m]="$ts" CL[m]="$cl" prev_ts="$ts" head_cl="$cl"
  if ((m == idle_pick)); then
    idle_reqs="$(proxy_log | wc -l)"
  elif ((m == written_pick)); then
    written_log="$(proxy_log)"
  fi
  ((m % 120 == 119)) && note "$at: chain length $cl, $nincr incrementals, $nunch unchanged, $((SECONDS - t_day)) s"
done
note "the day: $nfull full, $nincr incrementals, $nunch unchanged in $((SECONDS - t_day)) s"
assert_eq 1 "$nfull" "fulls in the day (one chain)"
assert_eq "$nincr" "${CL[N - 1]}" "the last minute's chain length"
read -r s_min s_med s_p99 s_max s_mean < <(printf '%s\n' "${SIZES[@]}" | sort -n | awk '{a[NR] = $1; t += $1}
  END {print a[1], a[int((NR + 1) / 2)], a[int(NR * 0.99)], a[NR], int(t / NR)}')
note "stored per incremental of a one-row minute (${#SIZES[@]}): min $s_min, median $s_med, mean $s_mean, p99 $s_p99, max $s_max bytes"
assert_le "$s_med" 16384 "median bytes stored per small incremental"

step "store requests: an idle minute, a written minute"
assert_eq 0 "$idle_reqs" "requests at the proxy for idle minute $idle_pick"
note "written minute $written_pick: $(jq -rs 'group_by(.op) | map("\(.[0].op) \(length)") | join(", ")' <<<"$written_log")"
assert_ge "$(grep -c '"op": *"PutObject"' <<<"$written_log" || true)" 1 "PutObjects of a written minute"

step "restore --from a seeded sample of the day"
# the expected backup for a time: the newest at or before it (by minute: a
# backup's folder time is its minute plus the few ms the backup took)
declare -a WHEN WHY
WHEN+=("${TS[0]}") WHY+=("the very first backup (its folder time)")
WHEN+=("$(iso_ms $((T0 + (N - 1) * 60000 + 59000)))") WHY+=("the last minute")
WHEN+=("$(iso_ms $((T0 + idle_pick * 60000 + 30000)))") WHY+=("minute $idle_pick, no write")
bm=$((RANDOM % (N - 1) + 1))
WHEN+=("$(iso_ms $((T0 + bm * 60000 + 1000 + RANDOM % 58000)))") WHY+=("seconds into minute $bm, between two backups")
for k in 1 2 3 4; do
  rm_=$((RANDOM % N))
  WHEN+=("$(iso_ms $((T0 + rm_ * 60000 + 1000 + RANDOM % 58000)))") WHY+=("random, minute $rm_")
done
# minute_of TIME: the day's minute of an ISO or folder time
minute_of() {
  local t="$1" s
  [[ "$t" == *T??????.???Z ]] && t="${t:0:4}-${t:4:2}-${t:6:2}T${t:9:2}:${t:11:2}:${t:13:2}Z"
  s="$(date -u -d "$t" +%s)"
  echo $(((s * 1000 - T0) / 60000))
}
for ((k = 0; k < ${#WHEN[@]}; k++)); do
  t="${WHEN[k]}"
  m="$(minute_of "$t")"
  t1=$SECONDS
  out="$(sv restore "$ws" --from "$t" --yes --inline --json --no-delta 2>"$work/rs.err")" || fail "restore --from $t: $(tail -3 "$work/rs.err")"
  note "--from $t (${WHY[k]}): backup ${TS[m]}, ${CL[m]} links, $((SECONDS - t1)) s"
  assert_eq "${DIG[m]}" "$(db_sha3 "$live")" "content at $t (minute $m)"
  assert_eq ok "$(db_integrity "$live")" "integrity_check at $t"
  assert_eq "${CL[m]}" "$(jq -r '.chain.links // 0' <<<"$out")" "links applied for $t"
  if [[ "${KIND[m]}" == write ]]; then
    assert_eq "$m" "$(sqlite3 "$live" 'SELECT max(m) FROM day_minutes')" "the newest minute recorded in the database"
  fi
done

step "~100 links with 20 ms of latency on every GetObject (the proxy): one download at a time, then the default"
# the time R2's round trips add; only the content is asserted, the times are printed
for ((lm = 1; lm < N - 1 && CL[lm] < 100; lm++)); do :; done
proxy_faults "{\"rules\": [{\"op\": \"GetObject\", \"prefix\": \"$SV_PREFIX\", \"latencyMs\": 20}]}"
for conc in 1 8; do
  t1="$(date +%s%N)"
  out="$(SQLVAULT_RESTORE_CONCURRENCY=$conc sv restore "$ws" --from "${TS[lm]}" --yes --inline --json --no-delta 2>"$work/rs.err")" ||
    fail "restore of minute $lm under latency: $(tail -3 "$work/rs.err")"
  note "minute $lm, ${CL[lm]} links, 20 ms a GetObject, SQLVAULT_RESTORE_CONCURRENCY=$conc: $((($(date +%s%N) - t1) / 1000000)) ms ($(proxy_count GetObject) GETs so far)"
  assert_eq "${DIG[lm]}" "$(db_sha3 "$live")" "content of minute $lm (concurrency $conc, 20 ms latency)"
  assert_eq "${CL[lm]}" "$(jq -r .chain.links <<<"$out")" "links applied (concurrency $conc)"
done
proxy_reset
no_restore_temps

step "a damaged link mid-way through the longest chain: refused naming it, with links after it in flight"
dm=$((N / 2))
while [[ "${KIND[dm]}" != write ]]; do dm=$((dm + 1)); done
dkey="${SV_PREFIX}full/$ws/${TS[dm]}/pages-${TS[dm - 1]}.zst"
s3_get "$dkey" "$work/dm.zst"
python3 - "$work/dm.zst" "$work/dm.bad" <<'EOF2'
import sys
b = bytearray(open(sys.argv[1], 'rb').read()); b[len(b) // 2] ^= 0x40; open(sys.argv[2], 'wb').write(b)
EOF2
s3_put "$work/dm.bad" "$dkey"
expect_restore_fail "$ws" "$(iso_ms $((T0 + N * 60000 - 1)))" "link ${TS[dm]}"
s3_put "$work/dm.zst" "$dkey"

step "a queued restore of the longest chain cancelled while its links download (20 ms a GetObject)"
proxy_faults "{\"rules\": [{\"op\": \"GetObject\", \"prefix\": \"$SV_PREFIX\", \"latencyMs\": 20}]}"
before="$(live_state "$live")"
tmpd="$SQLVAULT_DATA_DIR/.sqlvault-tmp"
start_worker wcancel --threads 1
sv restore "$ws" --from "$(iso_ms $((T0 + N * 60000 - 1)))" --yes --no-wait --no-delta --id pf-cancel >/dev/null
# the base's temporary and prefetched links: the fetchers are mid-chain
wait_for --timeout 60 bash -c "(( \$(find '$tmpd' -name 'restore-*' 2>/dev/null | wc -l) >= 3 ))" ||
  fail "no links downloading: $(qfield pf-cancel state) $(qfield pf-cancel error)"
note "$(find "$tmpd" -name 'restore-*' | wc -l) temporary files while the links download"
sv jobs cancel pf-cancel >/dev/null
wait_state pf-cancel cancelled 30 || fail "cancel: $(qfield pf-cancel state) $(qfield pf-cancel error)"
wait_for --timeout 30 bash -c "[[ -z \"\$(find '$tmpd' -type f 2>/dev/null)\" ]]" || true
no_restore_temps
assert_eq "$before" "$(live_state "$live")" "live database after the cancelled restore"
kill -TERM "$WORKER_PID"
wait_for --timeout 40 bash -c "! kill -0 $WORKER_PID 2>/dev/null" || fail "the worker did not stop"
proxy_reset

step "the end of the day: the longest chain, timed, peak RSS"
last_t="$(iso_ms $((T0 + N * 60000 - 1)))"
# the same restore with one download at a time (SQLVAULT_RESTORE_CONCURRENCY=1,
# a sequential read of ~2 GETs a link as before the fetcher pool), for the
# figure side by side; then the default, timed and measured
t1="$(date +%s%N)"
SQLVAULT_RESTORE_CONCURRENCY=1 "$SV_BIN" restore "$ws" --from "$last_t" --yes --inline --json --no-delta >"$work/last1.json" 2>"$work/rs.err" ||
  fail "restore of the last minute, one download at a time: $(tail -3 "$work/rs.err")"
seq_ms=$((($(date +%s%N) - t1) / 1000000))
assert_eq "${DIG[N - 1]}" "$(db_sha3 "$live")" "content of the last minute (one download at a time)"
note "restore --from $last_t, SQLVAULT_RESTORE_CONCURRENCY=1: ${CL[N - 1]} links in $seq_ms ms"
t1="$(date +%s%N)"
/usr/bin/time -f %M -o "$work/rss" "$SV_BIN" restore "$ws" --from "$last_t" --yes --inline --json --no-delta >"$work/last.json" 2>"$work/rs.err" ||
  fail "restore of the last minute: $(tail -3 "$work/rs.err")"
wall_ms=$((($(date +%s%N) - t1) / 1000000))
rss_kb="$(tail -n 1 "$work/rss")"
note "restore --from $last_t: ${CL[N - 1]} links in $wall_ms ms (default SQLVAULT_RESTORE_CONCURRENCY), peak RSS $((rss_kb / 1024)) MiB ($rss_kb KiB); one at a time: $seq_ms ms"
assert_eq "${DIG[N - 1]}" "$(db_sha3 "$live")" "content of the last minute"
assert_eq "${CL[N - 1]}" "$(jq -r .chain.links "$work/last.json")" "links applied"
if [[ "$SV_BUILD_DIR" == *-asan ]]; then
  note "peak RSS not asserted under the sanitizer build (its shadow memory)"
else
  assert_le "$rss_kb" $((64 * 1024)) "peak RSS (KiB) of the restore of the longest chain"
fi

step "verify --at a mid-day time"
vm=$((N / 2))
out="$(sv verify "$ws" --at "$(iso_ms $((T0 + vm * 60000 + 45000)))" --inline --json 2>"$work/v.err")" || fail "verify: $(tail -3 "$work/v.err")"
assert_eq true "$(jq -r .ok <<<"$out")" "verify ok"
note "verify: $(jq -c '{ok, ts, chain, durationMs}' <<<"$out")"
assert_eq "${TS[vm]}" "$(jq -r .ts <<<"$out")" "verify --at names the minute's backup"

step "past the day: the SQLVAULT_MAX_CHAIN boundary"
# the workspace was restored above: make it the last minute's state again,
# then a chain of exactly MAX_CHAIN incrementals, and one more backup
L="${CL[N - 1]}"
for m in "$N" $((N + 1)); do
  DIG[m]="$(sqlite3 "$live" "INSERT INTO day_minutes VALUES ($m, 'next day', 'x')" .sha3sum)"
  R="$(SQLVAULT_MAX_CHAIN=$((L + 1)) SQLVAULT_FULL_EVERY=48h SQLVAULT_FAKE_NOW=$((T0 + m * 60000)) \
    "$SV_BIN" backup "$ws" --inline --json 2>"$work/bk.err")" || fail "backup at minute $m: $(tail -3 "$work/bk.err")"
  TS[m]="$(jf ts)" CL[m]="$(jf chainLength)"
  note "minute $m: $(jf backupType), chainLength ${CL[m]} $(jf fullReason)"
done
assert_eq $((L + 1)) "${CL[N]}" "a chain of exactly SQLVAULT_MAX_CHAIN ($((L + 1))) incrementals"
assert_eq 0 "${CL[N + 1]}" "the next backup is a full"
assert_contains "$(jf fullReason)" SQLVAULT_MAX_CHAIN "why a full"
for m in "$N" $((N + 1)); do
  out="$(sv restore "$ws" --from "${TS[m]}" --yes --inline --json --no-delta 2>"$work/rs.err")" || fail "restore ${TS[m]}: $(tail -3 "$work/rs.err")"
  assert_eq "${DIG[m]}" "$(db_sha3 "$live")" "content at minute $m"
  assert_eq "${CL[m]}" "$(jq -r '.chain.links // 0' <<<"$out")" "links applied at minute $m"
done

step "with the production defaults, the next day starts a new chain (SQLVAULT_FULL_EVERY 24h)"
# one backup a minute makes at most 1,439 incrementals in a day, below the
# default SQLVAULT_MAX_CHAIN 1440: the daily full comes first
m=$((N + 1))
sqlite3 "$live" "INSERT INTO day_minutes VALUES ($((m + 1)), 'day after', 'x')"
R="$(SQLVAULT_FAKE_NOW=$((T0 + m * 60000 + 86400000 + 1000)) "$SV_BIN" backup "$ws" --inline --json 2>"$work/bk.err")" ||
  fail "backup a day later: $(tail -3 "$work/bk.err")"
assert_eq full "$(jf backupType)" "a day after the last full"
assert_contains "$(jf fullReason)" SQLVAULT_FULL_EVERY "why a full"
no_restore_temps
sv_pass
