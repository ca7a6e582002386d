#!/usr/bin/env bash
# Import: import-url gives a presigned PUT URL for uploads/WS/ID.db; `curl -T`
# uploads a database straight to the S3 server (through the R2 proxy), and
# restore --from object:KEY puts it live. A zstd-compressed upload works too.
# A text file uploaded the same way makes the restore fail with the live
# database intact; so does an upload over SQLVAULT_MAX_DB_SIZE. A tampered
# URL is refused. On a file:// store the URL is a path a plain cp can use.
source "$(dirname "$0")/lib.sh"
source "$SV_SOURCE_DIR/tests/tools/restore_lib.sh"
sv_setup
export SQLVAULT_LOG_FORMAT=text

ws=imp
live="$SQLVAULT_DATA_DIR/$ws/livestore.db"
make_workspace "$ws" 500
make_db "$SV_SCRATCH/upload.db" 4000
sqlite3 "$SV_SCRATCH/upload.db" "INSERT INTO todos VALUES ('uploaded', 'from the browser', 0)"
h_upload="$(db_sha3 "$SV_SCRATCH/upload.db")"

step "import-url, curl -T, restore --from object:KEY"
out="$(sv import-url "$ws" --inline --json)"
url="$(json_get "$out" url)"
key="$(json_get "$out" key)"
[[ "$key" =~ ^uploads/$ws/[0-9a-f]{32}\.db$ ]] || fail "upload key $key"
assert_contains "$url" "X-Amz-Signature=" "url is presigned"
assert_eq "sqlvault restore $ws --from object:$key" "$(json_get "$out" restore_command)" "follow-up command"
assert_eq 200 "$(curl -sS -o /dev/null -w '%{http_code}' -T "$SV_SCRATCH/upload.db" "$url")" "upload status"
assert_contains "$(s3_keys)" "$key" "the upload is in the bucket"
sv restore "$ws" --from "object:$key" --yes --inline >/dev/null
assert_eq "$h_upload" "$(db_sha3 "$live")" "live content after restoring the upload"
assert_eq ok "$(db_integrity "$live")" "integrity"

step "a zstd-compressed upload restores too"
sqlite3 "$SV_SCRATCH/upload.db" "INSERT INTO todos VALUES ('zst', 'compressed upload', 0)"
h_zst="$(db_sha3 "$SV_SCRATCH/upload.db")"
zstd -q -f "$SV_SCRATCH/upload.db" -o "$SV_SCRATCH/upload.db.zst"
out="$(sv import-url "$ws" --ttl 600 --inline --json)"
assert_eq 200 "$(curl -sS -o /dev/null -w '%{http_code}' -T "$SV_SCRATCH/upload.db.zst" "$(json_get "$out" url)")" "upload status"
res="$(sv restore "$ws" --from "object:$(json_get "$out" key)" --yes --inline --json)"
assert_eq true "$(json_get "$res" compressed)" "detected as zstd"
assert_eq "$h_zst" "$(db_sha3 "$live")" "live content after restoring the compressed upload"

step "a text file uploaded: the restore fails, the live database is intact"
printf 'not a database, just some text\n%.0s' {1..50} >"$SV_SCRATCH/notes.txt"
out="$(sv import-url "$ws" --inline --json)"
assert_eq 200 "$(curl -sS -o /dev/null -w '%{http_code}' -T "$SV_SCRATCH/notes.txt" "$(json_get "$out" url)")" "upload status"
expect_restore_fail "$ws" "object:$(json_get "$out" key)" "neither a SQLite database nor a zstd stream"
assert_eq "$h_zst" "$(db_sha3 "$live")" "live content"

step "an upload over the size cap: the restore fails, the live database is intact"
out="$(sv import-url "$ws" --inline --json)"
assert_eq 200 "$(curl -sS -o /dev/null -w '%{http_code}' -T "$SV_SCRATCH/upload.db" "$(json_get "$out" url)")" "upload status"
SQLVAULT_MAX_DB_SIZE=64KiB expect_restore_fail "$ws" "object:$(json_get "$out" key)" "over the 64.0 KiB limit"

step "a tampered upload URL is refused"
out="$(sv import-url "$ws" --inline --json)"
url="$(json_get "$out" url)"
bad="${url/X-Amz-Expires=3600/X-Amz-Expires=7200}"
assert_ne "$url" "$bad" "tampered url"
assert_eq 403 "$(curl -sS -o /dev/null -w '%{http_code}' -T "$SV_SCRATCH/upload.db" "$bad")" "tampered upload status"

step "a file:// store: the url is a path a plain cp can use"
sv_use_file_store
out="$(sv import-url "$ws" --inline --json)"
path="$(json_get "$out" url)"
[[ "$path" == "$SV_SCRATCH/store/uploads/$ws/"* ]] || fail "file-store url: $path"
cp "$SV_SCRATCH/upload.db" "$path"
sv restore "$ws" --from "object:$(json_get "$out" key)" --yes --inline >/dev/null
assert_eq "$h_zst" "$(db_sha3 "$live")" "live content after restoring from the file store"

sv_pass
