#!/usr/bin/env bash
# web_preview.sh -- issue 25's page part: the route POST
# /api/workspaces/:ws/inspect (tests/web/inspect.test.js: access checks,
# every bad "at" a 400, the job options, against a worker stand-in that
# shows what the route enqueued), then the page's "Restore from a time"
# picker and the preview before every restore in headless Chromium against a
# real `sqlvault worker` (tests/web/preview.test.js: two backups, a time
# between them, the preview's row counts beside the live ones, the restore;
# a listed backup's and an uploaded file's preview; a time before the first
# backup refused; a point that cannot be read offers no restore).
# Screenshots are kept in $SV_BUILD_DIR/test-artifacts/web-preview/.
# Runs once: under the sanitizer build it only says so (the worker's inspect
# and restore jobs have their own tests under ASan).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/web_lib.sh"
source "$SV_SOURCE_DIR/tests/livestore/lib.sh"
sv_plain_build_only
sv_setup
web_setup
ls_require
command -v chromium >/dev/null || fail "chromium is missing (scripts/install-deps.sh installs Debian's chromium)"
export SV_CHROMIUM="$(command -v chromium)"
export SV_ARTIFACTS="$SV_BUILD_DIR/test-artifacts/web-preview"
rm -rf "$SV_ARTIFACTS"
mkdir -p "$SV_ARTIFACTS"

step "node --test tests/web/inspect.test.js (the route, with a worker stand-in)"
(cd "$SV_SOURCE_DIR/tests/web" && node --test --test-reporter=spec --test-concurrency=1 inspect.test.js) ||
  fail "node:test failed (see above; logs in $SV_SCRATCH)"

step "node --test tests/web/preview.test.js (the page in Chromium, the real worker)"
(cd "$SV_SOURCE_DIR/tests/web" && node --test --test-reporter=spec --test-concurrency=1 preview.test.js) ||
  fail "node:test failed (see above; logs in $SV_SCRATCH, screenshots in $SV_ARTIFACTS)"
note "screenshots in $SV_ARTIFACTS"
sv_pass
