#!/usr/bin/env bash
# ops_admin.sh -- the /admin ops console of the reference web server in
# Chromium (tests/ops/admin.test.js, node:test + playwright-core): depth,
# running jobs with progress, workers, failures and dead letters with Retry
# and Cancel, the scheduler's tick, admin-only access, no secrets in the page.
# Runs once: under the sanitizer build it only says so (the worker paths it
# drives run under ASan in their own tests).
source "$(dirname "$0")/lib.sh"
sv_plain_build_only
sv_setup
command -v chromium >/dev/null || fail "chromium is missing (scripts/install-deps.sh --browser installs it)"
for d in clients/node clients/node/server tests/ops; do
  if [[ ! -f "$SV_SOURCE_DIR/$d/node_modules/.package-lock.json" ]]; then
    (cd "$SV_SOURCE_DIR/$d" && npm ci --no-audit --no-fund --prefer-offline --loglevel=error) >&2 ||
      fail "npm ci in $d failed (scripts/install-deps.sh installs it)"
  fi
done
redis_private_start
export SQLVAULT_REDIS_URL="$SV_PRIVATE_REDIS_URL" SQLVAULT_LOG_FORMAT=text SQLVAULT_LEASE=3s
step "node --test tests/ops/admin.test.js"
(cd "$SV_SOURCE_DIR/tests/ops" && node --test --test-reporter=spec --test-concurrency=1 admin.test.js) ||
  fail "node:test failed (see above; logs in $SV_SCRATCH)"
sv_pass
