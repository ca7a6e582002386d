#!/usr/bin/env bash
# Export: a fresh backup plus a presigned GET URL. curl downloads the plain
# .db from the signature-checking S3 server (through the R2 proxy) with an
# attachment file name; the file opens and matches `checksum`. The same URL
# with one signature character changed gets 403; a URL made with --ttl 1
# gets 403 once it has expired. --format zst serves the backup's .zst. On a
# file:// store the URL is the file's path.
source "$(dirname "$0")/lib.sh"
source "$SV_SOURCE_DIR/tests/tools/restore_lib.sh"
sv_setup
export SQLVAULT_LOG_FORMAT=text

ws=exp
make_workspace "$ws" 3000
live="$SQLVAULT_DATA_DIR/$ws/livestore.db"
h_live="$(db_sha3 "$live")"

step "export: the URL downloads the database with an attachment name"
out="$(sv export "$ws" --inline --json)"
url="$(json_get "$out" url)"
checksum="$(json_get "$out" checksum)"
filename="$(json_get "$out" filename)"
size="$(json_get "$out" size)"
[[ "$url" == "$SV_S3_ENDPOINT/"* ]] || fail "url not on the S3 endpoint: $url"
assert_contains "$url" "X-Amz-Signature=" "url is presigned"
assert_contains "$(json_get "$out" key)" "exports/$ws/" "export key"
[[ "$filename" =~ ^$ws-[0-9]{8}T[0-9]{6}\.[0-9]{3}Z\.db$ ]] || fail "filename $filename"
python3 - "$(json_get "$out" expires_at)" <<'PY' || fail "expires_at is not about an hour from now"
import datetime, sys
t = datetime.datetime.strptime(sys.argv[1], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)
d = (t - datetime.datetime.now(datetime.timezone.utc)).total_seconds()
sys.exit(0 if 3500 < d <= 3600 else 1)
PY
code="$(curl -sS -D "$SV_SCRATCH/headers" -o "$SV_SCRATCH/export.db" -w '%{http_code}' "$url")"
assert_eq 200 "$code" "download status"
assert_contains "$(tr -d '\r' <"$SV_SCRATCH/headers" | grep -i '^content-disposition:')" "attachment; filename=\"$filename\"" "content-disposition"
assert_eq "$checksum" "$(file_sha256 "$SV_SCRATCH/export.db")" "downloaded file's checksum"
assert_eq "$size" "$(stat -c %s "$SV_SCRATCH/export.db")" "downloaded file's size"
assert_eq ok "$(db_integrity "$SV_SCRATCH/export.db")" "downloaded file's integrity"
assert_eq "$h_live" "$(db_sha3 "$SV_SCRATCH/export.db")" "downloaded content equals the live database"
assert_contains "$(sv list "$ws")" "export" "the export's backup is listed"

step "one signature character changed: 403"
sig="${url##*X-Amz-Signature=}"
first="${sig:0:1}"
if [[ "$first" == 0 ]]; then repl=1; else repl=0; fi
bad="${url%X-Amz-Signature=*}X-Amz-Signature=$repl${sig:1}"
assert_eq 403 "$(curl -sS -o /dev/null -w '%{http_code}' "$bad")" "tampered signature"
assert_eq 200 "$(curl -sS -o /dev/null -w '%{http_code}' "$url")" "untampered url still works"

step "--ttl 1: 403 once expired"
out="$(sv export "$ws" --ttl 1 --inline --json)"
url1="$(json_get "$out" url)"
assert_contains "$url1" "X-Amz-Expires=1&" "expiry in the url"
t0=$SECONDS
wait_for --timeout 20 bash -c "[[ \$(curl -sS -o /dev/null -w '%{http_code}' '$url1') == 403 ]]"
note "ok: 403 after about $((SECONDS - t0)) s"
out="$(sv export "$ws" --ttl 4 --inline --json)"
url4="$(json_get "$out" url)"
assert_eq 200 "$(curl -sS -o /dev/null -w '%{http_code}' "$url4")" "a --ttl 4 url before it expires"
wait_for --timeout 20 bash -c "[[ \$(curl -sS -o /dev/null -w '%{http_code}' '$url4') == 403 ]]"
note "ok: and 403 after it expired"

step "--format zst: the backup's .zst, decompressing to the database"
out="$(sv export "$ws" --format zst --inline --json)"
url="$(json_get "$out" url)"
assert_contains "$(json_get "$out" filename)" ".db.zst" "zst file name"
assert_eq 200 "$(curl -sS -o "$SV_SCRATCH/export.zst" -w '%{http_code}' "$url")" "download status"
assert_eq "$(json_get "$out" checksum)" "$(file_sha256 "$SV_SCRATCH/export.zst")" ".zst checksum"
zstd -q -d -f "$SV_SCRATCH/export.zst" -o "$SV_SCRATCH/export2.db"
assert_eq "$(json_get "$out" databaseChecksum)" "$(file_sha256 "$SV_SCRATCH/export2.db")" "decompressed checksum"

step "bad options are refused"
expect_status 2 sv export "$ws" --format tar --inline
expect_status 2 sv export "$ws" --ttl 0 --inline
expect_status 2 sv export "$ws" --ttl 30d --inline
expect_status 2 sv export ../x --inline

step "a file:// store: the url is the file's path"
sv_use_file_store
out="$(sv export "$ws" --inline --json)"
path="$(json_get "$out" url)"
[[ "$path" == "$SV_SCRATCH/store/exports/$ws/"* ]] || fail "file-store url: $path"
assert_eq "$(json_get "$out" checksum)" "$(file_sha256 "$path")" "exported file's checksum"
assert_eq "$h_live" "$(db_sha3 "$path")" "exported content"

sv_pass
