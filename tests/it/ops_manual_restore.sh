#!/usr/bin/env bash
# ops_manual_restore.sh -- docs/deploy-r2.md §8: a workspace restored by hand
# from the bucket with only `aws s3 ls/cp`, `zstd -d`, `sha256sum` and
# `sqlite3`, as if sqlvault were gone: the newest committed folder, its
# metadata, the object decompressed, the checksum equal to metadata.json's,
# integrity ok, and the same rows as the live database had.
source "$(dirname "$0")/lib.sh"
sv_setup
export SQLVAULT_LOG_FORMAT=text
ws=manual1
make_workspace "$ws" 3000
"$SV_BIN" backup "$ws" --inline >/dev/null
rows=$(db_count "$SQLVAULT_DATA_DIR/$ws/livestore.db" eventlog)

step "the commands of the guide, against the test bucket"
EP="$SV_S3_ENDPOINT"
B="s3://$SV_S3_BUCKET/${SV_PREFIX%/}"
cd "$SV_SCRATCH"
TS=$(aws s3 ls --endpoint-url "$EP" --region auto "$B/full/$ws/" | awk '{print $2}' | sort | tail -1 | tr -d /)
[[ -n "$TS" ]] || fail "no backup folder listed"
aws s3 cp --endpoint-url "$EP" --region auto "$B/full/$ws/$TS/metadata.json" - >meta.json
aws s3 cp --endpoint-url "$EP" --region auto "$B/full/$ws/$TS/livestore.db.zst" - | zstd -q -d -o restored.db
want=$(grep -o '"checksum": *"sha256:[0-9a-f]*"' meta.json | head -1 | grep -o '[0-9a-f]\{64\}')
got=$(sha256sum restored.db | cut -d' ' -f1)
assert_eq "$want" "$got" "sha256 of the restored file = metadata.json's checksum"
assert_eq ok "$(sqlite3 restored.db 'PRAGMA integrity_check')" "integrity_check"
assert_eq "$rows" "$(db_count restored.db eventlog)" "rows"

step "put in place with the old file aside"
live="$SQLVAULT_DATA_DIR/$ws/livestore.db"
sqlite3 "$live" "DELETE FROM eventlog" # the disaster
mv "$live" "$live.before-restore"
rm -f "$live-wal" "$live-shm"
cp restored.db "$live"
assert_eq "$rows" "$(db_count "$live" eventlog)" "rows after the manual restore"
sv_pass
