#!/usr/bin/env bash
# Helpers shared by the restore, export, import and verify integration tests
# (tests/it/restore_*.sh, export_*.sh, import_*.sh, verify_*.sh). Source it
# after tests/it/lib.sh.

# sv: runs the sqlvault binary.
sv() { "$SV_BIN" "$@"; }

# db_sha3 PATH: a hash of a database's content (tables and rows), not its bytes.
db_sha3() { sqlite3 "$1" .sha3sum; }

# file_sha256 PATH: sha256 of a file's bytes, as "sha256:HEX".
file_sha256() { echo "sha256:$(sha256sum "$1" | cut -d' ' -f1)"; }
# dump_sha DB: the sha256 of DB's .dump (its content, not its bytes).
dump_sha() { sqlite3 "$1" .dump | sha256sum | cut -d' ' -f1; }

# json_get JSON KEY: prints a top-level field of a JSON object ("" if null).
json_get() {
  python3 -c 'import json,sys; v=json.loads(sys.argv[1]).get(sys.argv[2]); print("" if v is None else (json.dumps(v) if isinstance(v,(dict,list,bool)) else v))' "$1" "$2"
}

# flip_byte PATH OFFSET: xors one byte of a file with 0xff (negative offset: from the end).
flip_byte() {
  python3 - "$1" "$2" <<'PY'
import os, sys
path, off = sys.argv[1], int(sys.argv[2])
size = os.path.getsize(path)
if off < 0: off += size
with open(path, "r+b") as f:
    f.seek(off); b = f.read(1); f.seek(off); f.write(bytes([b[0] ^ 0xff]))
PY
}

# corrupt_table_page PATH: damages a b-tree page of table todos (not page 1)
# so the header stays valid and integrity_check finds the damage.
corrupt_table_page() {
  python3 - "$1" <<'PY'
import sqlite3, sys
path = sys.argv[1]
c = sqlite3.connect(path)
ps = c.execute("pragma page_size").fetchone()[0]
root = c.execute("select rootpage from sqlite_schema where name='eventlog'").fetchone()[0]
c.close()
with open(path, "r+b") as f:
    # the root page of eventlog is an interior page for a large table: scribble
    # over its cell pointers so children point to nonsense
    f.seek((root - 1) * ps + 12)
    f.write(b"\x00\x07" * 40)
PY
}

# live_state PATH: byte hash of the database file and its WAL (to prove "untouched").
live_state() {
  local p="$1"
  { sha256sum "$p" 2>/dev/null || echo "no $p"; } | cut -d' ' -f1
}

# no_restore_temps: fails if a restore left temporary files in the tmp dir.
no_restore_temps() {
  local dir="${SQLVAULT_TMP_DIR:-$SQLVAULT_DATA_DIR/.sqlvault-tmp}" left
  left="$(find "$dir" -type f 2>/dev/null | head -5)"
  [[ -z "$left" ]] || fail "temporary files left behind: $left"
  note "ok: no temporary files left in $dir"
}

# expect_restore_fail WS FROM REGEX [extra args]: the restore exits 1 with
# an error matching REGEX (grep -E), the live database is byte-for-byte unchanged and no
# temporary file is left. The full path's (--no-delta): it reads and checks
# the whole backup, where a delta restore reads only the frames holding the
# pages that differ (delta_restore*.sh test what it refuses).
expect_restore_fail() {
  local ws="$1" from="$2" needle="$3" live before after out rc=0
  shift 3
  live="$SQLVAULT_DATA_DIR/$ws/livestore.db"
  before="$(live_state "$live")"
  out="$(sv restore "$ws" --from "$from" --yes --inline --no-delta "$@" 2>&1)" || rc=$?
  [[ "$rc" == 1 ]] || fail "restore --from $from: expected exit 1, got $rc: $out"
  grep -Eq -- "$needle" <<<"$out" || fail "restore --from $from: error does not match /$needle/: $out"
  note "ok: restore --from ${from:0:60} failed: $(grep -m1 '^error' <<<"$out")"
  after="$(live_state "$live")"
  assert_eq "$before" "$after" "live database bytes after the failed restore"
  no_restore_temps
}

# kek_file FILE N: a 32-byte key-encryption key (64 hex digits) in FILE, the
# Nth of the test's seed ($SEED: print it, SV_TEST_SEED replays it).
kek_file() { python3 -c "import random,sys; random.seed(${SEED:?set SEED}*13+$2); sys.stdout.write(''.join('%02x'%random.randrange(256) for _ in range(32)))" >"$1"; }
