#!/usr/bin/env bash
# restore_hostile.sh -- untrusted sources cannot exhaust the worker. Small
# database files built by an attacker are uploaded where import-url puts
# uploads and restored through the queue; each is refused within seconds
# with a clear error, not retried (one attempt), the live database is
# untouched, and the worker's peak RSS stays within 64 MiB. (The expression
# index file below costs the sqlite3 shell 100 s and 250 MB to check; the
# CHECK constraint one 785 MB.)
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/queue_lib.sh"
sv_setup
export SQLVAULT_LOG_FORMAT=text SQLVAULT_RETRY_BASE=100ms
ws=ws-hostile
db="$SQLVAULT_DATA_DIR/$ws/livestore.db"
make_workspace "$ws" 2000
live_sum=$(sha256sum "$db" | cut -d' ' -f1)
start_worker w1 --threads 2
wpid=$WORKER_PID
h="$SV_SCRATCH/hostile"
mkdir -p "$h"

# rows N: a CTE of N integers for INSERT ... SELECT.
rows() { echo "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $1) SELECT i FROM n"; }

# The files. Expressions are swapped in through writable_schema, so building
# them costs nothing; checking them is what an attacker wants to be costly.
sqlite3 "$h/expr-index.db" "CREATE TABLE t(a); INSERT INTO t $(rows 100); CREATE INDEX i1 ON t(abs(a));
  PRAGMA writable_schema=ON;
  UPDATE sqlite_schema SET sql = 'CREATE INDEX i1 ON t(length(hex(zeroblob(50000000 + a))))' WHERE name = 'i1';"
# the cheap expression computes the same values, so the index is consistent and
# only the cost of checking it remains: 5000 rows of 6 MB strings
sqlite3 "$h/expr-index-many.db" "CREATE TABLE t(a); INSERT INTO t $(rows 5000); CREATE INDEX i1 ON t(6000000 + 2 * a);
  PRAGMA writable_schema=ON;
  UPDATE sqlite_schema SET sql = 'CREATE INDEX i1 ON t(length(hex(zeroblob(3000000 + a))))' WHERE name = 'i1';"
sqlite3 "$h/zeroblob-check.db" "CREATE TABLE t(a); INSERT INTO t $(rows 10);
  PRAGMA writable_schema=ON;
  UPDATE sqlite_schema SET sql = 'CREATE TABLE t(a CHECK (length(hex(zeroblob(100000000))) > 0))' WHERE name = 't';"
sqlite3 "$h/zeroblob-generated.db" "CREATE TABLE t(a, b AS (2 * (100000000 + a))); INSERT INTO t(a) $(rows 50);
  CREATE INDEX i1 ON t(b); PRAGMA writable_schema=ON;
  UPDATE sqlite_schema SET sql = 'CREATE TABLE t(a, b AS (length(hex(zeroblob(100000000 + a)))))' WHERE name = 't';"
{
  echo "CREATE TABLE t(a); INSERT INTO t VALUES (1); CREATE VIEW v0 AS SELECT a FROM t;"
  for i in $(seq 1 300); do echo "CREATE VIEW v$i AS SELECT a FROM v$((i - 1)) UNION ALL SELECT a FROM v$((i - 1));"; done
} | sqlite3 "$h/deep-views.db"
sqlite3 "$h/trigger.db" "CREATE TABLE t(a); INSERT INTO t VALUES (1);
  CREATE TRIGGER tr AFTER INSERT ON t BEGIN SELECT length(hex(zeroblob(100000000))); END;"
cp "$SV_SCRATCH/data/$ws/livestore.db" "$h/lying-page-count.db"
sqlite3 "$h/lying-page-count.db" 'PRAGMA journal_mode=DELETE' >/dev/null
# header bytes 28..31: the page count, set to 1,000,000 (the change counter still matches)
printf '\x00\x0f\x42\x40' | dd of="$h/lying-page-count.db" bs=1 seek=28 conv=notrunc status=none
ls -la "$h" | sed 's/^/   /'

step "every hostile file is refused within seconds, once, with the live database untouched"
# the bound: validation stops at its 5 s limit; the rest is the queue, the
# download and the machine (20 s; 60 s for the sanitizer build, 2-5x slower,
# which took 24.7 s once on a loaded machine)
bound=20000
[[ "$SV_BUILD_DIR" == *-asan ]] && bound=60000
n=0
for f in expr-index expr-index-many zeroblob-check zeroblob-generated deep-views trigger lying-page-count; do
  n=$((n + 1))
  key="${SV_PREFIX}uploads/$ws/$f.db"
  s3_put "$h/$f.db" "$key"
  t0=$(date +%s%N)
  "$SV_BIN" restore "$ws" --from "object:uploads/$ws/$f.db" --yes --id "hx-$n" --no-wait >/dev/null
  wait_for --timeout 60 bash -c "[[ \$(redis-cli -u '$SQLVAULT_REDIS_URL' HGET '$(qbase)job:hx-$n' state) == failed ]]"
  ms=$((($(date +%s%N) - t0) / 1000000))
  err=$(qfield "hx-$n" error)
  note "$f: refused in $ms ms ($(qfield "hx-$n" error_code)): $err"
  assert_le "$ms" "$bound" "$f: time to refusal (ms)"
  assert_eq 1 "$(qfield "hx-$n" attempt)" "$f: attempts (not retried)"
  [[ "$err" == *refused* || "$err" == *"not a valid SQLite database"* ]] || fail "$f: unclear error [$err]"
  assert_eq "$live_sum" "$(sha256sum "$db" | cut -d' ' -f1)" "$f: live database unchanged"
done
assert_contains "$(qfield hx-1 error)" "16 MiB" "expression index: the bound named"
assert_contains "$(qfield hx-2 error)" "limit" "many rows: the deadline named"
assert_contains "$(qfield hx-5 error)" "view" "deep views: the rule named"
assert_contains "$(qfield hx-6 error)" "trigger" "trigger: the rule named"

step "the worker's peak memory stayed within 64 MiB"
hwm=$(awk '/VmHWM/ {print $2}' "/proc/$wpid/status")
note "worker VmHWM ${hwm} KiB"
if [[ "$SV_BUILD_DIR" == *-asan ]]; then
  note "not asserted under the sanitizer build (its shadow memory and quarantine count in RSS)"
else
  assert_le "$hwm" $((64 * 1024)) "peak RSS (KiB)"
fi

step "a sound upload still restores"
sqlite3 "$db" "DELETE FROM eventlog WHERE seq > 1000"
make_db "$h/sound2.db" 1500
s3_put "$h/sound2.db" "${SV_PREFIX}uploads/$ws/sound.db"
timeout 60 "$SV_BIN" restore "$ws" --from "object:uploads/$ws/sound.db" --yes --id hx-ok >/dev/null ||
  fail "a sound upload was refused: $(qfield hx-ok error)"
assert_eq 1500 "$(db_count "$db" eventlog)" "live rows after restoring the sound upload"
sv_pass
