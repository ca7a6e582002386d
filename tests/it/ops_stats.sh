#!/usr/bin/env bash
# ops_stats.sh -- `sqlvault stats --ws WS`: one workspace's backups over time
# (time, type, size, stored size, duration, verification) with the size
# trend, as a table and as JSON; --limit; a bad id is refused (exit 2); a
# workspace without backups says so.
source "$(dirname "$0")/lib.sh"
sv_setup
sv_use_file_store
export SQLVAULT_LOG_FORMAT=text
ws=st1
make_workspace "$ws" 200

step "three backups of a growing workspace, the newest verified"
for k in 1 2 3; do
  "$SV_BIN" backup "$ws" --inline >/dev/null
  make_workspace "$ws" 2000 # adds rows: the database grows
done
"$SV_BIN" verify "$ws" --inline >/dev/null
j=$("$SV_BIN" stats --ws "$ws" --json)
py() { python3 -c "import json,sys; d=json.loads(sys.argv[1]); print($1)" "$j"; }
assert_eq 3 "$(py 'len(d["backups"])')" "backups listed"
assert_eq "full full full" "$(py '" ".join(b["backupType"] for b in d["backups"])')" "types"
assert_eq True "$(py 'all(d["backups"][i]["timestamp"] < d["backups"][i+1]["timestamp"] for i in range(2))')" "oldest first"
assert_eq True "$(py 'all(b["durationMs"] >= 0 and b["compressedSize"] > 0 for b in d["backups"])')" "durations and stored sizes"
assert_eq "False False True" "$(py '" ".join(str(b["verified"]) for b in d["backups"])')" "verified state"
assert_eq True "$(py 'd["backups"][1]["sizeDelta"] > 0 and d["backups"][2]["sizeDelta"] > 0')" "size deltas"
assert_eq True "$(py 'd["trend"]["growthBytes"] > 0 and d["trend"]["verified"] == 1 and d["trend"]["backups"] == 3')" "trend"
t=$("$SV_BIN" stats --ws "$ws")
assert_contains "$t" "3 committed backup(s), oldest first" "table header"
assert_contains "$t" "trend:" "trend line"
assert_contains "$t" " ok " "verified column"

step "--limit keeps the newest; bad input is refused"
assert_eq 2 "$("$SV_BIN" stats --ws "$ws" --limit 2 --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["backups"]))')" "--limit 2"
expect_status 2 "$SV_BIN" stats --ws '../etc'
expect_status 2 "$SV_BIN" stats --ws "$ws" --limit 0
out=$("$SV_BIN" stats --ws none 2>&1)
assert_contains "$out" "no committed backups of 'none'" "empty workspace"
sv_pass
