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

assert_contains "$t" "no daily rate (the backups span under a day)" "no rate over seconds"
assert_eq None "$(py 'd["trend"]["bytesPerDay"]')" "bytesPerDay over seconds"
grep -Eq '^[0-9T.:Z-]+ +full +[0-9.]+ (B|KiB|MiB) ' <<<"$(sed -n '4,$p' <<<"$t")" || fail "sizes not human in: $t"
l=$("$SV_BIN" list "$ws")
grep -Eq ' [0-9.]+ (KiB|MiB) +[0-9.]+ (KiB|MiB) ' <<<"$l" || fail "list sizes not human: $l"
[[ "$("$SV_BIN" list "$ws" --json | jq '[.[].databaseSize | type] | unique | .[0]')" == '"number"' ]] ||
  fail "list --json sizes are not bytes"

step "backups two days apart (fake clock): growth a day, the store's gain a day"
ws2=st2
make_workspace "$ws2" 200
T0=$(( ($(date +%s) / 86400 - 5) * 86400000 ))
SQLVAULT_FAKE_NOW=$T0 "$SV_BIN" backup "$ws2" --inline --full >/dev/null
make_workspace "$ws2" 4000
SQLVAULT_FAKE_NOW=$(( T0 + 2 * 86400000 )) "$SV_BIN" backup "$ws2" --inline --full >/dev/null
j=$("$SV_BIN" stats --ws "$ws2" --json)
assert_eq True "$(py 'abs(d["trend"]["bytesPerDay"] - d["trend"]["growthBytes"] / 2) < 1')" "bytesPerDay = growth / 2 days"
assert_eq True "$(py 'abs(d["trend"]["compressedBytesPerDay"] - d["backups"][1]["compressedSize"] / 2) < 1')" \
  "compressedBytesPerDay = the second backup's stored size / 2 days"
t=$("$SV_BIN" stats --ws "$ws2")
grep -Eq '[0-9.]+ (KiB|MiB)/day \(the store gains [0-9.]+ (KiB|MiB)/day\)' <<<"$t" || fail "no daily rates in: $t"

step "--limit keeps the newest; bad input is refused"
assert_eq 2 "$("$SV_BIN" stats --ws "$ws" --limit 2 --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["backups"]))')" "--limit 2"
expect_status 2 "$SV_BIN" stats --ws '../etc'
expect_status 2 "$SV_BIN" stats --ws "$ws" --limit 0
out=$("$SV_BIN" stats --ws none 2>&1)
assert_contains "$out" "no committed backups of 'none'" "empty workspace"
sv_pass
