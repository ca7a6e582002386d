#!/usr/bin/env bash
# web_attacks.sh -- the web API and page attacked as an auditor would
# (tests/web/attacks.test.js, node:test; docs/SECURITY.md "Web API and
# page"): tokens, CORS, CSRF, another user's workspace through every route,
# hostile ids and restore sources, hostile uploads (a zstd bomb, two files,
# over the limit), a slow upload held open, markup in the page (headless
# Chromium), security headers, the ops console's checks. A real worker and
# the real server on a file:// store; every refusal leaves the live
# databases byte-identical.
# Runs once: under the sanitizer build it only says so (the worker paths it
# drives are the export/import/restore jobs their own tests run under ASan).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/web_lib.sh"
sv_plain_build_only
sv_setup
web_setup
command -v chromium >/dev/null || fail "chromium is missing (scripts/install-deps.sh installs Debian's chromium)"
export SV_CHROMIUM="$(command -v chromium)"
step "node --test tests/web/attacks.test.js"
(cd "$SV_SOURCE_DIR/tests/web" && node --test --test-reporter=spec --test-concurrency=1 ${SV_WEB_TEST_PATTERN:+--test-name-pattern="$SV_WEB_TEST_PATTERN"} attacks.test.js) ||
  fail "node:test failed (see above; logs in $SV_SCRATCH)"
sv_pass
