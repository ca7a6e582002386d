#!/usr/bin/env bash
# web_lib.sh -- shared set-up of the web tests (web_api.sh, web_browser.sh):
# the npm packages of clients/node, clients/node/server and tests/web, installed
# when missing (scripts/install-deps.sh normally did it). Source after lib.sh.
# Run directly (CMake registers every tests/it/*.sh), it only checks that the
# packages are there.

# web_npm DIR: npm ci in DIR unless its node_modules is there.
web_npm() {
  local dir="$1"
  if [[ ! -f "$dir/node_modules/.package-lock.json" ]]; then
    (cd "$dir" && npm ci --no-audit --no-fund --prefer-offline --loglevel=error) >&2 ||
      fail "npm ci in ${dir#"$SV_SOURCE_DIR"/} failed (needs the npm registry or a cache; scripts/install-deps.sh installs it)"
  fi
}

web_setup() {
  web_npm "$SV_SOURCE_DIR/clients/node"
  web_npm "$SV_SOURCE_DIR/clients/node/server"
  web_npm "$SV_SOURCE_DIR/tests/web"
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  source "$(dirname "$0")/lib.sh"
  SV_TEST_NAME=web_lib
  step "the web tests' npm packages are installed"
  web_setup
  sv_pass
fi
