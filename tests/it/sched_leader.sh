#!/usr/bin/env bash
# Scheduler leadership and catch-up against real Redis, with the injected
# clock (SQLVAULT_FAKE_NOW): two schedulers, one leads and runs the due tick
# once; kill -9 the leader and the other leads within the lease; a scheduler
# down across three ticks runs only the latest one, once, when it returns.
source "$(dirname "$0")/lib.sh"
sv_setup
sv_use_file_store
export SQLVAULT_LOG_FORMAT=text
export SQLVAULT_SCHEDULE='0 */6 * * *'
export SQLVAULT_LEASE=2s
for ws in alpha beta gamma; do make_workspace "$ws" 5; done

P="$SQLVAULT_REDIS_PREFIX"
leader_pid() { redis_cli GET "$P:{sched}:leader" | cut -d: -f2; }
last_tick() { redis_cli GET "$P:{sched}:last_tick"; }
tick_jobs() { redis_cli --scan --pattern "$P:{default}:job:sched-*-$1" | wc -l; }
all_backup_jobs() { redis_cli --scan --pattern "$P:{default}:job:sched-*" | wc -l; }
has_leader() { [[ -n "$(leader_pid)" ]]; }
leader_is() { [[ "$(leader_pid)" == "$1" ]]; }
last_tick_is() { [[ "$(last_tick)" == "$(ms_of "$1")" ]]; }
ms_of() { python3 -c 'import sys,datetime; print(int(datetime.datetime.strptime(sys.argv[1],"%Y-%m-%dT%H:%MZ").replace(tzinfo=datetime.timezone.utc).timestamp()*1000))' "$1"; }

step "two schedulers: one leads and runs the due tick once"
export SQLVAULT_FAKE_NOW=2030-01-01T06:10:00.000Z
sv_bg "$SV_BIN" scheduler 2>"$SV_SCRATCH/a.log"
pa=$SV_BG_PID
sv_bg "$SV_BIN" scheduler 2>"$SV_SCRATCH/b.log"
pb=$SV_BG_PID
wait_for --timeout 10 has_leader
wait_for --timeout 10 last_tick_is 2030-01-01T06:00Z
first=$(leader_pid)
[[ "$first" == "$pa" || "$first" == "$pb" ]] || fail "leader pid $first is neither $pa nor $pb"
note "ok: leader is pid $first"
assert_eq 3 "$(tick_jobs 20300101T0600Z)" "backup jobs of the 06:00 tick"

step "kill -9 the leader: the other leads within the lease"
other=$([[ "$first" == "$pa" ]] && echo "$pb" || echo "$pa")
t0=$(date +%s%N)
kill -KILL "$first"
wait_for --timeout 6 leader_is "$other"
took=$((($(date +%s%N) - t0) / 1000000))
note "took over after $took ms (lease 2000 ms)"
assert_le "$took" 3000 "takeover time (lease + one follower poll)"
fence=$(redis_cli GET "$P:{sched}:fence")
assert_eq 2 "$fence" "fencing token after two leaders"
sleep 1 # let the new leader run its loop: it must not re-run the tick
assert_eq 3 "$(all_backup_jobs)" "backup jobs (the tick was not run again)"

step "SIGTERM: the leader gives up the lead at once"
kill -TERM "$other"
wait_for --timeout 5 bash -c "! kill -0 $other 2>/dev/null"
assert_eq "" "$(redis_cli GET "$P:{sched}:leader")" "leader key after a clean stop"

step "down across three ticks: on return only the latest runs, once"
export SQLVAULT_FAKE_NOW=2030-01-02T00:10:00.000Z
sv_bg "$SV_BIN" scheduler 2>"$SV_SCRATCH/c.log"
pc=$SV_BG_PID
wait_for --timeout 10 last_tick_is 2030-01-02T00:00Z
assert_eq 3 "$(tick_jobs 20300102T0000Z)" "backup jobs of the 00:00 tick"
assert_eq 0 "$(tick_jobs 20300101T1200Z)" "backup jobs of the missed 12:00 tick"
assert_eq 0 "$(tick_jobs 20300101T1800Z)" "backup jobs of the missed 18:00 tick"
assert_eq 6 "$(all_backup_jobs)" "backup jobs in all"
kill -TERM "$pc"
wait_for --timeout 5 bash -c "! kill -0 $pc 2>/dev/null"

step "restarted again in the same period: nothing to catch up"
sv_bg "$SV_BIN" scheduler 2>"$SV_SCRATCH/d.log"
pd=$SV_BG_PID
wait_for --timeout 10 leader_is "$pd"
sleep 1
assert_eq 6 "$(all_backup_jobs)" "backup jobs in all"
assert_eq "$(ms_of 2030-01-02T00:00Z)" "$(last_tick)" "last tick"
sv_pass
