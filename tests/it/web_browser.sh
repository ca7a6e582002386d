#!/usr/bin/env bash
# web_browser.sh -- the Backup & Restore page end to end in headless Chromium
# (tests/web/browser.test.js): Debian's chromium driven by playwright-core,
# on a file:// store and on the S3 server (whose bucket gets a CORS rule so
# the page can PUT to a presigned URL), plus the plan's own
# BackupRestoreSection.tsx compiled unchanged. Screenshots (mid-progress and
# finished) are kept in $SV_BUILD_DIR/test-artifacts/web/.
# Runs once: under the sanitizer build it only says so (the worker paths it
# drives are the export/import/restore jobs their own tests run under ASan).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/web_lib.sh"
sv_plain_build_only
sv_setup
web_setup
command -v chromium >/dev/null || fail "chromium is missing (scripts/install-deps.sh installs Debian's chromium)"
export SV_CHROMIUM="$(command -v chromium)"
export SV_ARTIFACTS="$SV_BUILD_DIR/test-artifacts/web"
rm -rf "$SV_ARTIFACTS"
mkdir -p "$SV_ARTIFACTS"

step "a CORS rule on the test bucket: pages on loopback may PUT to presigned URLs"
aws_s3 s3api put-bucket-cors --bucket "$SV_S3_BUCKET" --cors-configuration '{"CORSRules":[{"AllowedOrigins":["http://127.0.0.1:*","http://localhost:*"],"AllowedMethods":["GET","PUT","HEAD"],"AllowedHeaders":["*"],"ExposeHeaders":["ETag"],"MaxAgeSeconds":600}]}' ||
  fail "could not set the bucket's CORS rule"

step "node --test tests/web/browser.test.js"
(cd "$SV_SOURCE_DIR/tests/web" && node --test --test-reporter=spec --test-concurrency=1 browser.test.js) ||
  fail "node:test failed (see above; logs in $SV_SCRATCH, screenshots in $SV_ARTIFACTS)"
note "screenshots in $SV_ARTIFACTS"
sv_pass
