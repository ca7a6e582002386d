#!/usr/bin/env bash
# web_api.sh -- the reference web server's API (tests/web/api.test.js, node:test)
# against the suite's Redis and a real worker on a file:// store: plan routes,
# job API, 401/403/400/404/413 with JSON bodies, restore sources, CORS, signed
# links, and the server's RSS while a 1 GiB import streams through it.
# Runs once: under the sanitizer build (SV_BUILD_DIR ending in -asan) it only
# says so, since the worker paths it drives are the export/import/restore jobs
# their own tests already run under ASan.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/web_lib.sh"
sv_plain_build_only
sv_setup
web_setup
step "node --test tests/web/api.test.js"
(cd "$SV_SOURCE_DIR/tests/web" && node --test --test-reporter=spec --test-concurrency=1 api.test.js) ||
  fail "node:test failed (see above; logs in $SV_SCRATCH)"
sv_pass
