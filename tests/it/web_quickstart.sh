#!/usr/bin/env bash
# web_quickstart.sh -- `scripts/quickstart.sh --web` on the embedded defaults
# (data and store in the scratch dir, any free port): it prints the page's URL
# and an access token; with that token the plan's export route answers and the
# download is the sample workspace; SIGTERM stops Redis, the worker and the
# server it started. Plain build only (it builds build/ itself).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/web_lib.sh"
sv_plain_build_only
sv_setup
web_setup
unset SQLVAULT_REDIS_URL SQLVAULT_S3_ENDPOINT
export SQLVAULT_DATA_DIR="$SV_SCRATCH/data" SQLVAULT_STORE="file://$SV_SCRATCH/store" SQLVAULT_WEB_ADDR=127.0.0.1:0

step "quickstart.sh --web prints the URL and a token"
setsid bash "$SV_SOURCE_DIR/scripts/quickstart.sh" --web >"$SV_SCRATCH/qs.out" 2>&1 &
qs=$!
sv_on_exit "kill -TERM -- -$qs"
wait_for --timeout 240 grep -q '^== Access token:' "$SV_SCRATCH/qs.out"
url="$(sed -n 's/^== Backup & Restore page: //p' "$SV_SCRATCH/qs.out")"
token="$(sed -n 's/^== Access token: *//p' "$SV_SCRATCH/qs.out")"
note "url $url, token $token"
[[ "$url" =~ ^http://127\.0\.0\.1:[0-9]+$ ]] || fail "url: $url"
[[ -n "$token" ]] || fail "no token printed"

step "the token works: the page, /api/me, and an export through the plan's route"
assert_contains "$(curl -sS "$url/")" "Access token" "the page"
me="$(curl -sS -H "Authorization: Bearer $token" "$url/api/me")"
assert_contains "$me" '"workspaces":["demo"]' "the demo user's workspaces"
out="$(curl -sS -X POST -H "Authorization: Bearer $token" "$url/workspaces/demo/export")"
assert_contains "$out" '"success":true' "export"
dl="$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["downloadUrl"])' "$out")"
curl -sS -o "$SV_SCRATCH/demo.db" "$dl"
assert_eq "$(sqlite3 "$SQLVAULT_DATA_DIR/demo/livestore.db" .sha3sum)" "$(sqlite3 "$SV_SCRATCH/demo.db" .sha3sum)" "the download is the sample workspace"
assert_eq 401 "$(curl -sS -o /dev/null -w '%{http_code}' -X POST "$url/workspaces/demo/export")" "without the token"

step "SIGTERM stops everything it started"
kill -TERM "$qs"
wait_for --timeout 30 bash -c "! kill -0 $qs 2>/dev/null"
wait_for --timeout 30 bash -c "! curl -s -o /dev/null '$url/'"
sv_pass
