#!/usr/bin/env bash
# bench_smoke: scripts/bench.sh runs end to end in a tiny mode (an 8 MiB
# workspace, --quick counts) and prints every row of the table, with numbers
# in the rows whose features exist. It starts its own redis-server and s3rver
# (the suite's servers are not used) and builds nothing (--no-build): it runs
# the binaries of the build under test. It runs in the plain build only:
# under the sanitizers the figures mean nothing, and every C path the bench
# drives has tests of its own there.
source "$(dirname "$0")/lib.sh"
sv_plain_build_only

SCRATCH="$SV_TMP/bench-smoke-$$"
mkdir -p "$SCRATCH"
trap 'rc=$?; if ((rc == 0)) && [[ -z "${SV_KEEP:-}" ]]; then rm -rf "$SCRATCH"; else echo "   scratch kept: $SCRATCH" >&2; fi' EXIT

step "bench.sh --size 8MiB --quick completes and prints the table"
out="$SCRATCH/out.txt"
rc=0
bash "$SV_SOURCE_DIR/scripts/bench.sh" --size 8MiB --quick --no-build --build-dir "$SV_BUILD_DIR" \
  --var "$SCRATCH/var" >"$out" 2>"$SCRATCH/err.txt" || rc=$?
if ((rc != 0)); then
  tail -n 40 "$SCRATCH/err.txt" >&2
  fail "bench.sh exited $rc"
fi
note "ok: bench.sh exited 0"
table="$(cat "$out")"
assert_contains "$table" "| figure | sqlvault | reference | ratio | target | verdict |" "table header"
assert_eq "$table" "$(cat "$SCRATCH/var/last.md")" "the table is also left in last.md"

step "every row is there, once"
for r in "a. workspace" "b. backup → S3 server" "b'. backup → S3 server vs the sequential" \
  "c. backup → file://" "d. peak RSS" "e. queued restore from S3 server" "e'. restore vs the same pipeline with a durable copy" "e''. verify" \
  "f. queue: 40 workspaces of 1MiB, 2 workers × 4 threads → S3 server" \
  "f. queue: 40 workspaces of 1MiB, 2 workers × 4 threads → file://" \
  "g. scheduler tick over 2000 workspaces: time to enqueue" \
  "g. scheduler tick over 2000 workspaces: redis memory" \
  "h. backup → file://, encrypted vs plain" "h'. restore from file://, encrypted vs plain" \
  "h''. keys rotate, 500 workspaces → file://" "h''. keys rotate, 500 workspaces → S3 server" \
  "e(j). restore: the job's own time" "k. queue on a Redis Cluster" \
  "l. 40 small jobs" \
  "t. restore to a point 60 incrementals into a chain" "t(m). restore of a chain of 60 links: peak RSS" \
  "r. RPO: 100 workspaces, 10% written every 10 s for 20 s, INCREMENTAL_EVERY=10s" \
  "p. incremental after a ~1% change (8MiB)" "u. backup of an unchanged workspace (8MiB)"; do
  n="$(grep -cF "| $r" "$out" || true)"
  assert_eq 1 "$n" "rows starting with [$r]"
done

step "the rows of features that exist carry figures, not errors"
# | figure | sqlvault | reference | ratio | target | verdict |: column 5 is the ratio
ratio_of() { grep -F "| $1" "$out" | awk -F' \\| ' '{ print $4 }'; }
for r in "b. backup → S3 server" "c. backup → file://" "e. queued restore from S3 server" "h. backup → file://, encrypted" \
  "h'. restore from file://, encrypted" "t. restore to a point 60 incrementals into a chain"; do
  ratio="$(ratio_of "$r")"
  [[ "$ratio" =~ ^[0-9]+\.[0-9]+×$ ]] || fail "row [$r] has no ratio: $(grep -F "| $r" "$out")"
  note "ok: [$r] ratio $ratio"
done
assert_contains "$(grep -F '| a. workspace' "$out")" "× compression" "generator row"
assert_contains "$(grep -F '| p. incremental' "$out")" "pages changed" "incremental row"
assert_contains "$(grep -F '| u. backup of an unchanged' "$out")" "0 store requests" "unchanged row"
mem="$(grep -F '| d. peak RSS' "$out")"
[[ "$mem" =~ backup→S3\ [0-9]+ ]] || fail "peak RSS row has no backup figure: $mem"
note "ok: peak RSS row: $mem"
for r in "h''. keys rotate, 500 workspaces → file://" "h''. keys rotate, 500 workspaces → S3 server"; do
  grep -F "| $r" "$out" | grep -qE "500 re-wrapped, [0-9]+ requests" || fail "row [$r]: $(grep -F "| $r" "$out")"
done
note "ok: keys rotate rows: $(grep -F "| h''." "$out" | cut -c1-160)"
rpo="$(grep -F '| r. RPO' "$out")"
if [[ -d "$SV_SOURCE_DIR/clients/node/node_modules/ioredis" ]]; then
  [[ "$rpo" =~ p99\ [0-9.]+\ s\ to\ the\ snapshot ]] || fail "RPO row has no figure: $rpo"
  [[ "$rpo" =~ \ 0\ not\ in\ a\ backup ]] || fail "RPO row: writes not in a backup: $rpo"
fi
note "ok: RPO row: ${rpo:0:160}"

step "the servers bench.sh started are gone"
for f in "$SCRATCH"/var/run-*; do
  [[ -e "$f" ]] && fail "scratch dir left behind: $f"
done
note "ok: no run-* dir left"
if pgrep -f "$SCRATCH/var" >/dev/null; then fail "a process of the bench is still running: $(pgrep -af "$SCRATCH/var")"; fi
note "ok: no s3rver of the bench is running"

sv_pass
