#!/usr/bin/env bash
# restore_leftovers.sh -- restore temporaries (restore-*.db, a plaintext copy
# of a customer database) do not outlive their job: a worker killed (kill -9)
# mid-download leaves one, and the next restore in that folder removes it
# once it is a minute old, together with orphaned -wal/-journal companions;
# the temporary of a restore that is still running (it holds an flock on its
# file) is never taken.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/queue_lib.sh"
sv_setup
# This test is about the full restore path (download, validate, swap); delta
# restores have tests of their own (delta_restore.sh).
export SQLVAULT_RESTORE_DELTA=off
export SQLVAULT_LOG_FORMAT=text SQLVAULT_PAUSE_TIMEOUT=1s SQLVAULT_LEASE=2s
ws=ws-left
tmp="$SQLVAULT_DATA_DIR/.sqlvault-tmp"
make_workspace "$ws" 3000
start_worker w1 --threads 1
w1=$WORKER_PID
timeout 60 "$SV_BIN" backup "$ws" --id lo-b1 >/dev/null || fail "backup failed"

step "kill -9 while a restore downloads (the download held 30 s): its temporary is left"
b1=$(qfield lo-b1 result | jq -r .ts)
proxy_faults "{\"rules\": [{\"op\": \"GetObject\", \"prefix\": \"${SV_PREFIX}full/$ws/$b1/livestore.db.zst\", \"latencyMs\": 30000, \"times\": 1}]}"
sv_on_exit proxy_reset
"$SV_BIN" restore "$ws" --from latest --yes --id lo-r1 --no-wait --no-delta >/dev/null # a download (delta.c fetches into unlinked files)
wait_for --timeout 30 bash -c "ls '$tmp'/restore-*.db"
left=$(ls "$tmp"/restore-*.db)
kill -9 "$w1"
wait "$w1" 2>/dev/null || true
proxy_reset
note "left behind: $left"
: >"$left-journal"
: >"$tmp/restore-0123456789abcdef.db-wal" # a companion whose database is gone

step "a running restore's temporary (its flock held) is kept"
make_db "$tmp/restore-feedfeedfeedfeed.db" 10
flock -x "$tmp/restore-feedfeedfeedfeed.db" bash -c "while [ ! -e '$SV_SCRATCH/release' ]; do sleep 0.1; done" \
  </dev/null >/dev/null 2>&1 &
holder=$!
wait_for --timeout 10 bash -c "! flock -n -x '$tmp/restore-feedfeedfeedfeed.db' true"

step "the next restore sweeps the dead leftovers once they are a minute old"
touch -d '-2 minutes' "$tmp"/restore-*
start_worker w2 --threads 1
wait_state lo-r1 succeeded 90
[[ ! -e "$left" ]] || fail "the killed worker's temporary $left is still there"
[[ ! -e "$left-journal" ]] || fail "its -journal is still there"
[[ ! -e "$tmp/restore-0123456789abcdef.db-wal" ]] || fail "the orphaned -wal is still there"
note "ok: the killed worker's temporary and the orphaned companions are gone"
[[ -e "$tmp/restore-feedfeedfeedfeed.db" ]] || fail "a temporary whose lock is held was removed"
note "ok: the locked temporary was kept"
touch "$SV_SCRATCH/release"
wait "$holder" 2>/dev/null || true
assert_eq "1" "$(ls "$tmp" | grep -c '^restore-')" "restore temporaries left (only the one that was held)"
sv_pass
