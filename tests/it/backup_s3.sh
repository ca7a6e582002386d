#!/usr/bin/env bash
# backup_s3.sh -- `sqlvault backup --inline` to the signature-checking S3
# server through the R2-rules proxy: an independent client (aws s3api) reads
# back what we wrote; multipart under R2's equal-part rule; 20% injected
# faults still commit an intact backup; permanent failure commits nothing and
# leaves no multipart upload open; a wrong secret is a clear auth error.
source "$(dirname "$0")/lib.sh"
sv_require_env
sv_setup

ws=ws-s3
make_workspace "$ws" 20000
db="$SQLVAULT_DATA_DIR/$ws/livestore.db"

# check_backup TS: downloads the committed backup with aws s3api and checks
# it against the source and its metadata.
check_backup() {
  local ts="$1" dir="$SV_SCRATCH/check-$1"
  mkdir -p "$dir"
  aws_s3 s3api get-object --bucket "$SV_S3_BUCKET" --key "${SV_PREFIX}full/$ws/$ts/metadata.json" "$dir/metadata.json" >/dev/null
  aws_s3 s3api get-object --bucket "$SV_S3_BUCKET" --key "${SV_PREFIX}full/$ws/$ts/livestore.db.zst" "$dir/db.zst" >/dev/null
  zstd -dq "$dir/db.zst" -o "$dir/db" || fail "zstd -d of the stored object failed"
  assert_eq ok "$(sqlite3 "$dir/db" 'PRAGMA integrity_check')" "integrity_check of the backup"
  assert_eq "$(sqlite3 "$db" .sha3sum)" "$(sqlite3 "$dir/db" .sha3sum)" "content (sqlite .sha3sum) of source and backup"
  assert_eq "sha256:$(sha256sum <"$dir/db" | cut -d' ' -f1)" "$(jq -r .checksum "$dir/metadata.json")" "metadata checksum"
  assert_eq "sha256:$(sha256sum <"$dir/db.zst" | cut -d' ' -f1)" "$(jq -r .compressedChecksum "$dir/metadata.json")" "metadata compressedChecksum"
  assert_eq "$(stat -c %s "$dir/db")" "$(jq -r .databaseSize "$dir/metadata.json")" "metadata databaseSize"
  assert_eq "$(stat -c %s "$dir/db.zst")" "$(jq -r .compressedSize "$dir/metadata.json")" "metadata compressedSize"
  assert_eq "1.0 full zstd livestore.db.zst $ws" "$(jq -r '[.version,.backupType,.compression,.object,.instanceId]|join(" ")' "$dir/metadata.json")" "metadata fields"
}

step "a small workspace goes as one PUT and reads back intact with aws s3api"
out=$("$SV_BIN" backup "$ws" --inline --json)
ts=$(jq -r .ts <<<"$out")
check_backup "$ts"
assert_eq 0 "$(proxy_count CreateMultipartUpload)" "multipart uploads for a small object"
listed=$("$SV_BIN" list "$ws" --json | jq -r '.[0].ts')
assert_eq "$ts" "$listed" "sqlvault list shows the backup"

step "a database spanning several 5 MiB parts is uploaded in equal parts (R2 rule enforced by the proxy)"
sqlite3 "$db" "CREATE TABLE IF NOT EXISTS blobs(b BLOB); WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x<24) INSERT INTO blobs SELECT randomblob(1000000) FROM c;"
proxy_reset
out=$(SQLVAULT_PART_SIZE=5MiB "$SV_BIN" backup "$ws" --inline --json)
ts=$(jq -r .ts <<<"$out")
check_backup "$ts"
assert_ge "$(proxy_count UploadPart 200)" 5 "parts uploaded"
assert_eq 1 "$(proxy_count CompleteMultipartUpload 200)" "completed uploads"
assert_eq 0 "$(proxy_open_uploads)" "open multipart uploads"

step "with 20% injected 500/503 answers and connection resets, the backup still commits intact"
proxy_reset
proxy_faults "{\"seed\":7,\"rules\":[{\"prefix\":\"$SV_PREFIX\",\"probability\":0.1,\"status\":500},{\"prefix\":\"$SV_PREFIX\",\"probability\":0.05,\"status\":503},{\"prefix\":\"$SV_PREFIX\",\"op\":[\"UploadPart\",\"PutObject\"],\"probability\":0.05,\"reset\":\"request\"}]}"
out=$(SQLVAULT_PART_SIZE=5MiB "$SV_BIN" backup "$ws" --inline --json)
ts=$(jq -r .ts <<<"$out")
faults=$(proxy_log | jq -s '[.[] | select(.fault != null)] | length')
assert_ge "$faults" 1 "faults injected during the backup"
proxy_reset
check_backup "$ts"
assert_eq 0 "$(proxy_open_uploads)" "open multipart uploads"

step "with permanent failure of uploads, nothing is committed and no multipart upload stays open"
before=$("$SV_BIN" list "$ws" --json | jq length)
proxy_faults "{\"seed\":1,\"rules\":[{\"prefix\":\"$SV_PREFIX\",\"op\":\"UploadPart\",\"skip\":1,\"permanent\":true,\"status\":503}]}"
rc=0
errout=$(SQLVAULT_PART_SIZE=5MiB "$SV_BIN" backup "$ws" --inline 2>&1) || rc=$?
proxy_reset
assert_eq 1 "$rc" "exit code of a backup whose uploads keep failing"
assert_contains "$errout" "error:" "error message"
assert_eq "$before" "$("$SV_BIN" list "$ws" --json | jq length)" "committed backups after the failure"
assert_eq 0 "$(proxy_open_uploads)" "open multipart uploads after the failure"

step "a wrong secret key gives a clear auth error, exit 1, and the secret is not printed"
rc=0
errout=$(AWS_SECRET_ACCESS_KEY=wrong-secret-XYZZY "$SV_BIN" backup "$ws" --inline 2>&1) || rc=$?
assert_eq 1 "$rc" "exit code with a wrong secret"
assert_contains "$errout" "HINT" "hint"
[[ "$errout" != *XYZZY* ]] || fail "the secret appears in the output: $errout"
grep -qiE 'signature|credential|access' <<<"$errout" || fail "error does not say the credentials were rejected: $errout"

step "an unreachable store exits 3 and names the endpoint"
port=$(free_port)
rc=0
errout=$(SQLVAULT_S3_ENDPOINT="http://127.0.0.1:$port" "$SV_BIN" backup "$ws" --inline 2>&1) || rc=$?
assert_eq 3 "$rc" "exit code with the store unreachable"
assert_contains "$errout" "127.0.0.1:$port" "error names the endpoint"
leftover=$(find "$SQLVAULT_DATA_DIR" -name 'snap-*' | wc -l)
assert_eq 0 "$leftover" "temporary snapshots left behind"

sv_pass
