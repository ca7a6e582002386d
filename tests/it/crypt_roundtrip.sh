#!/usr/bin/env bash
# crypt_roundtrip.sh -- client-side encryption (docs/ENCRYPTION.md) on S3
# (through the R2-rules proxy) and on file://: no plaintext reaches the store
# (a canary string is in no stored byte; the object is not a zstd stream);
# round trips of restore, verify and export (a plain db); a mixed store (a
# backup from before encryption still restores, `list` tells them apart);
# a missing key and a wrong key fail at once with exit 2, the live database
# untouched, and a queued job with the wrong key is tried once, not retried.
source "$(dirname "$0")/lib.sh"
source "$SV_SOURCE_DIR/tests/tools/restore_lib.sh"
source "$(dirname "$0")/queue_lib.sh"
sv_setup
export SQLVAULT_LOG_FORMAT=text

SEED="${SV_TEST_SEED:-$RANDOM}"
note "seed $SEED (SV_TEST_SEED to repeat)"
CANARY="SV-CANARY-$SEED-e8c1f0d2"
kek_file "$SV_SCRATCH/k1" 1
kek_file "$SV_SCRATCH/k2" 2

# add_canary WS: rows holding the canary among other data.
add_canary() {
  sqlite3 "$SQLVAULT_DATA_DIR/$1/livestore.db" "CREATE TABLE IF NOT EXISTS secrets(s TEXT); INSERT INTO secrets VALUES ('$CANARY'); INSERT INTO secrets SELECT '$CANARY' || hex(randomblob(16)) FROM eventlog LIMIT 200;"
}

# stored_dump DIR: every stored byte of this test (S3 read directly from s3rver, or the file store) into DIR.
stored_dump() {
  rm -rf "$1" && mkdir -p "$1"
  if [[ "$SQLVAULT_STORE" == file://* ]]; then cp -r "${SQLVAULT_STORE#file://}/." "$1/"
  else aws_s3 s3 cp --only-show-errors --recursive "s3://$SV_S3_BUCKET/$SV_PREFIX" "$1/"; fi
}

roundtrip() {
  local label="$1" ws="$2" live plain_ts enc_ts out dump
  live="$SQLVAULT_DATA_DIR/$ws/livestore.db"
  make_workspace "$ws" 3000
  add_canary "$ws"

  step "$label: a backup before encryption is on stays plain"
  plain_ts="$(sv backup "$ws" --inline --json | jq -r .ts)"
  sqlite3 "$live" "INSERT INTO todos VALUES ('after-plain', 'x', 0)"

  step "$label: with a key configured the backup is encrypted and no stored byte holds the canary"
  export SQLVAULT_ENCRYPTION_KEY_FILE="$SV_SCRATCH/k1"
  enc_ts="$(sv backup "$ws" --inline --json | jq -r .ts)"
  want="$(db_sha3 "$live")"
  dump="$SV_SCRATCH/dump-$label"
  stored_dump "$dump"
  [[ -f "$dump/keys/$ws.json" ]] || fail "no key record keys/$ws.json"
  assert_eq 0 "$(grep -rlaF "$CANARY" "$dump/full/$ws/$enc_ts" "$dump/keys" | wc -l)" "stored files of the encrypted backup holding the canary"
  # the same check would find it in the plain backup once decompressed (the method works)
  zstd -dq "$dump/full/$ws/$plain_ts/livestore.db.zst" -o "$SV_SCRATCH/plain-$label.db"
  assert_ge "$(grep -caF "$CANARY" "$SV_SCRATCH/plain-$label.db")" 1 "canary lines in the decompressed plain backup"
  rc=0
  zstd -dq "$dump/full/$ws/$enc_ts/livestore.db.zst" -o "$SV_SCRATCH/enc-$label.db" 2>/dev/null || rc=$?
  assert_ne 0 "$rc" "zstd -d of the encrypted object"
  assert_eq "SQLVENC1" "$(head -c 8 "$dump/full/$ws/$enc_ts/livestore.db.zst")" "object magic"
  grep -qaF "$(head -c 32 "$SV_SCRATCH/k1")" -r "$dump" && fail "the key-encryption key is in the store"
  m="$dump/full/$ws/$enc_ts/metadata.json"
  assert_eq "sqlvault-enc-1 AES-256-GCM" "$(jq -r '.encryption.format + " " + .encryption.alg' "$m")" "metadata encryption"
  assert_eq "$(file_sha256 "$dump/full/$ws/$enc_ts/livestore.db.zst")" "$(jq -r .compressedChecksum "$m")" "compressedChecksum is of the stored bytes"
  assert_eq "$(stat -c %s "$dump/full/$ws/$enc_ts/livestore.db.zst")" "$(jq -r .compressedSize "$m")" "compressedSize is of the stored bytes"
  assert_eq null "$(jq -r .encryption "$dump/full/$ws/$plain_ts/metadata.json")" "plain backup's metadata has no encryption"

  step "$label: list shows which backups are encrypted"
  assert_eq "$enc_ts true $plain_ts false" "$(sv list "$ws" --json | jq -r '[.[] | .ts, .encrypted] | join(" ")')" "list --json"
  sv list "$ws" | grep -E "^$enc_ts .* yes " >/dev/null || fail "list: $(sv list "$ws")"

  step "$label: restore, verify and export decrypt"
  sqlite3 "$live" "DELETE FROM secrets"
  sv restore "$ws" --from "$enc_ts" --yes --inline >/dev/null
  assert_eq "$want" "$(db_sha3 "$live")" "content after restoring the encrypted backup"
  assert_eq true "$(sv verify "$ws" --at "$enc_ts" --inline --json | jq -r .ok)" "verify of the encrypted backup"
  sv restore "$ws" --from "$plain_ts" --yes --inline >/dev/null
  assert_eq 0 "$(db_count "$live" "todos WHERE id = 'after-plain'")" "the pre-encryption backup restores (mixed store)"
  sv restore "$ws" --from "$enc_ts" --yes --inline >/dev/null
  out="$(sv export "$ws" --inline --json)"
  url="$(jq -r .url <<<"$out")"
  if [[ "$url" == /* ]]; then cp "$url" "$SV_SCRATCH/export.db"; else curl -sf -o "$SV_SCRATCH/export.db" "$url"; fi
  assert_eq ok "$(db_integrity "$SV_SCRATCH/export.db")" "exported file is a plain database"
  assert_eq "$(db_sha3 "$live")" "$(db_sha3 "$SV_SCRATCH/export.db")" "exported content"
  expect_status 2 sv export "$ws" --format zst --inline

  step "$label: a missing key fails at once with exit 2, live database untouched"
  before="$(live_state "$live")"
  rc=0
  out="$(env -u SQLVAULT_ENCRYPTION_KEY_FILE "$SV_BIN" restore "$ws" --from "$enc_ts" --yes --inline 2>&1)" || rc=$?
  assert_eq 2 "$rc" "exit status without a key"
  assert_contains "$out" "no encryption key is configured" "error"
  rc=0
  out="$(env -u SQLVAULT_ENCRYPTION_KEY_FILE "$SV_BIN" backup "$ws" --inline 2>&1)" || rc=$?
  assert_eq 2 "$rc" "exit status of a backup without the key"
  assert_contains "$out" "refusing to back it up in the clear" "error"
  rc=0
  out="$(SQLVAULT_ENCRYPTION_KEY_FILE=$SV_SCRATCH/nope "$SV_BIN" restore "$ws" --from "$enc_ts" --yes --inline 2>&1)" || rc=$?
  assert_eq 2 "$rc" "exit status with a key file that does not exist"
  assert_contains "$out" "SQLVAULT_ENCRYPTION_KEY_FILE" "error names the variable"

  step "$label: a wrong key fails at once with exit 2, live database untouched, key not printed"
  rc=0
  out="$(SQLVAULT_ENCRYPTION_KEY_FILE=$SV_SCRATCH/k2 "$SV_BIN" restore "$ws" --from "$enc_ts" --yes --inline 2>&1)" || rc=$?
  assert_eq 2 "$rc" "exit status with the wrong key"
  assert_contains "$out" "wrong encryption key" "error"
  [[ "$out" != *"$(cat "$SV_SCRATCH/k2")"* && "$out" != *"$(cat "$SV_SCRATCH/k1")"* ]] || fail "a key is printed: $out"
  assert_eq "$before" "$(live_state "$live")" "live database bytes"
  no_restore_temps
  unset SQLVAULT_ENCRYPTION_KEY_FILE
}

roundtrip s3 ws-s3

step "s3: a queued restore with the wrong key fails once, without retries (exit 1: the job failed on the worker)"
export SQLVAULT_ENCRYPTION_KEY_FILE="$SV_SCRATCH/k2"
start_worker wrongkey --threads 1
rc=0
out="$(sv restore ws-s3 --from latest --yes --id wrongkey1 --json 2>&1)" || rc=$?
assert_eq 1 "$rc" "exit status of the queued restore"
assert_contains "$out" "wrong encryption key" "error"
assert_eq 1 "$(qfield wrongkey1 attempt)" "attempts of the failed job"
assert_eq invalid "$(qfield wrongkey1 error_code)" "error code recorded"
assert_eq failed "$(qstate wrongkey1)" "job state"
kill "$WORKER_PID" 2>/dev/null || true
unset SQLVAULT_ENCRYPTION_KEY_FILE

step "s3: neither key is in Redis or in the worker's log"
dump="$SV_SCRATCH/redis-dump.txt"
: >"$dump"
for k in $(redis_cli --scan --pattern "$SQLVAULT_REDIS_PREFIX*"); do
  case "$(redis_cli TYPE "$k")" in
    string) redis_cli GET "$k" ;;
    hash) redis_cli HGETALL "$k" ;;
    stream) redis_cli XRANGE "$k" - + ;;
    set) redis_cli SMEMBERS "$k" ;;
    zset) redis_cli ZRANGE "$k" 0 -1 ;;
    list) redis_cli LRANGE "$k" 0 -1 ;;
  esac >>"$dump" 2>&1
done
assert_ge "$(wc -l <"$dump")" 10 "lines of Redis content read"
for kf in k1 k2; do
  grep -qiF "$(cat "$SV_SCRATCH/$kf")" "$dump" "$SV_SCRATCH/wrongkey.log" && fail "key $kf found in Redis or the log"
done
note "ok: no key material in Redis or the worker log"

sv_use_file_store
roundtrip file ws-file
sv_pass
