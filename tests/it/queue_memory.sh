#!/usr/bin/env bash
# queue_memory.sh -- after 5,000 finished jobs Redis holds what PROTOCOL.md
# promises and no more: one hash per finished job (with its TTL), a fixed
# number of pool keys, empty job streams with no pending entries, and the
# events stream within its cap (10,000, trimmed approximately).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/queue_lib.sh"
sv_setup
sv_use_file_store
export SQLVAULT_TEST_JOBS=1 SQLVAULT_LEASE=2s SQLVAULT_LOG_FORMAT=text

step "5,000 jobs (4,990 quick, 10 failing) through one worker x 4 threads"
"$SV_BIN" stats >/dev/null
qpy bulk m 4990 sleep '' scheduled 1 '' >/dev/null
qpy bulk mf 10 fail '' interactive 1 '{"code": "corrupt"}' >/dev/null
start_worker w1 --threads 4
wait_finished 5000 180

step "keys, streams and TTLs are within the documented caps"
b=$(qbase)
keys=$(redis_cli --scan --pattern "$SQLVAULT_REDIS_PREFIX:*" | wc -l)
jobs=$(redis_cli --scan --pattern "${b}job:*" | wc -l)
assert_eq 5000 "$jobs" "job hashes (one per finished job, until they expire)"
assert_le $((keys - jobs)) 12 "other keys of the pool (fixed set, PROTOCOL.md)"
assert_eq 0 "$(redis_cli XLEN "${b}q:interactive")" "interactive stream length"
assert_eq 0 "$(redis_cli XLEN "${b}q:scheduled")" "scheduled stream length"
assert_eq 0 "$(redis_cli XPENDING "${b}q:scheduled" workers | head -1)" "pending entries"
events=$(redis_cli XLEN "${b}events")
assert_le "$events" 10200 "events stream length (cap 10,000 ~)"
assert_ge "$events" 10000 "events stream length (trimmed, not emptied)"
assert_eq 10 "$(redis_cli XLEN "${b}dead")" "dead-letter entries"
assert_eq 5000 "$(redis_cli ZCARD "${b}recent")" "recent index"
assert_eq 0 "$(redis_cli ZCARD "${b}active")" "active leases"
assert_eq 0 "$(redis_cli ZCARD "${b}delayed")" "delayed retries"
ttl=$(redis_cli TTL "${b}job:m-1234")
assert_ge "$ttl" 1 "TTL of a succeeded job hash"
assert_le "$ttl" 604800 "TTL of a succeeded job hash"
assert_eq -1 "$(redis_cli TTL "${b}stats")" "the stats hash is permanent"
note "memory of the pool: $(redis_cli MEMORY USAGE "${b}events") bytes of events, $(redis_cli MEMORY USAGE "${b}job:m-1234") bytes per job hash"
sv_pass
