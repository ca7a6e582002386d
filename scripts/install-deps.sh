#!/usr/bin/env bash
# Installs what sqlvault's build and test suite need on Debian 12 (bookworm),
# and nothing that is already there: apt packages only when missing (one
# `apt-get update` first, only if something is missing), then `npm ci` for
# the test servers (tests/servers) and the Node client (clients/node) when
# their lockfile changed since the last install. Safe to run again and again.
#
#   scripts/install-deps.sh               build + test dependencies
#   scripts/install-deps.sh --build-only  compiler and -dev libraries only (Docker build stage)
#   scripts/install-deps.sh --run         what scripts/quickstart.sh needs: the build, redis,
#                                         python3 (no test servers, browser or npm installs)
#   scripts/install-deps.sh --run --web   and Node.js for the web page (scripts/web.sh)
#   scripts/install-deps.sh --browser     also chromium, for the web-page tests
#   scripts/install-deps.sh --no-npm      skip the npm installs
#
# Downloads come from apt and npm only. Needs root (or sudo) only when an
# apt package is missing.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_ONLY=0
RUN_ONLY=0
WEB=0
BROWSER=0
NPM=1
for arg in "$@"; do
  case "$arg" in
    --build-only) BUILD_ONLY=1 ;;
    --run) RUN_ONLY=1 ;;
    --web) WEB=1 ;;
    --browser) BROWSER=1 ;;
    --no-npm) NPM=0 ;;
    -h | --help)
      sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "install-deps: unknown option $arg" >&2
      exit 2
      ;;
  esac
done

# say prints a progress line.
say() { printf 'install-deps: %s\n' "$*"; }

# have_pkg PKG: true when the Debian package is installed.
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

# have_cmd CMD: true when CMD is on PATH.
have_cmd() { command -v "$1" >/dev/null 2>&1; }

BUILD_PKGS=(build-essential cmake pkg-config libhiredis-dev libsqlite3-dev libcurl4-openssl-dev
  libssl-dev libzstd-dev libjansson-dev libmsgpack-dev libexpat1-dev ca-certificates)
# incremental backups hash pages with XXH3 (src/chain/)
BUILD_PKGS+=(libxxhash-dev)
# /metrics, /healthz, /readyz are served with libmicrohttpd
BUILD_PKGS+=(libmicrohttpd-dev)
TEST_PKGS=(sqlite3 zstd redis-server redis-tools curl python3 time)

missing=()
for p in "${BUILD_PKGS[@]}"; do have_pkg "$p" || missing+=("$p"); done
if ((RUN_ONLY && !BUILD_ONLY)); then
  # the quickstart: a Redis it starts on loopback, python3 for a free port
  # and the demo user's file; Node.js only for its --web
  have_cmd redis-server || have_pkg redis-server || missing+=(redis-server)
  have_cmd redis-cli || have_pkg redis-tools || missing+=(redis-tools)
  have_cmd python3 || have_pkg python3 || missing+=(python3)
  if ((WEB)); then
    have_cmd node || missing+=(nodejs)
    have_cmd npm || missing+=(npm)
  fi
elif ((!BUILD_ONLY)); then
  for p in "${TEST_PKGS[@]}"; do
    case "$p" in
      # a command from elsewhere (pyenv, a tarball) is as good as the package
      curl | python3 | sqlite3 | zstd) have_cmd "$p" || have_pkg "$p" || missing+=("$p") ;;
      redis-server) have_cmd redis-server || have_pkg redis-server || missing+=(redis-server) ;;
      redis-tools) have_cmd redis-cli || have_pkg redis-tools || missing+=(redis-tools) ;;
      *) have_pkg "$p" || missing+=("$p") ;;
    esac
  done
  have_cmd aws || have_pkg awscli || missing+=(awscli)
  # ops tests: promtool and Prometheus (metrics lint, rule tests, alerts end
  # to end), stunnel (the TLS Redis recipe)
  have_cmd promtool || have_pkg prometheus || missing+=(prometheus)
  have_cmd stunnel4 || have_pkg stunnel4 || missing+=(stunnel4)
  have_pkg python3-yaml || missing+=(python3-yaml) # the compose file check
  if ! have_cmd node; then
    missing+=(nodejs npm)
  elif ! have_cmd npm; then
    missing+=(npm)
  fi
  if ((BROWSER)); then
    have_cmd chromium || have_pkg chromium || missing+=(chromium)
  fi
fi

if ((${#missing[@]})); then
  say "missing: ${missing[*]}"
  SUDO=()
  if [[ "$(id -u)" != 0 ]]; then
    if have_cmd sudo; then
      SUDO=(sudo)
    else
      echo "install-deps: need root to install ${missing[*]}" >&2
      echo "HINT: run as root, or: apt-get install ${missing[*]}" >&2
      exit 1
    fi
  fi
  export DEBIAN_FRONTEND=noninteractive
  "${SUDO[@]+"${SUDO[@]}"}" apt-get update -q
  "${SUDO[@]+"${SUDO[@]}"}" apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  say "apt packages: all present"
fi

# The web server's browser tests (tests/web, issue 10): Debian's chromium, which
# playwright-core drives through executablePath; nothing downloads a browser.
if ((!BUILD_ONLY && !RUN_ONLY)) && ! have_cmd chromium && ! have_pkg chromium; then
  say "missing: chromium (web page tests)"
  if [[ "$(id -u)" == 0 ]]; then web_sudo=(); elif have_cmd sudo; then web_sudo=(sudo); else
    echo "install-deps: need root to install chromium" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  "${web_sudo[@]+"${web_sudo[@]}"}" apt-get update -q
  "${web_sudo[@]+"${web_sudo[@]}"}" apt-get install -y -q --no-install-recommends chromium
fi

if ((BUILD_ONLY || RUN_ONLY || !NPM)); then
  exit 0
fi

# npm_install DIR: `npm ci` in DIR unless its lockfile is what was installed last.
npm_install() {
  local dir="$1" stamp sum
  [[ -f "$dir/package.json" ]] || return 0
  stamp="$dir/node_modules/.sqlvault-install-stamp"
  if [[ -f "$dir/package-lock.json" ]]; then
    sum="$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)"
  else
    sum="$(sha256sum "$dir/package.json" | cut -d' ' -f1)"
  fi
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$sum" ]]; then
    say "npm: ${dir#"$ROOT"/} up to date"
    return 0
  fi
  say "npm: installing in ${dir#"$ROOT"/}"
  if [[ -f "$dir/package-lock.json" ]]; then
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
  else
    (cd "$dir" && npm install --no-audit --no-fund --loglevel=error)
  fi
  echo "$sum" >"$stamp"
}

npm_install "$ROOT/tests/servers"
npm_install "$ROOT/clients/node"
# the reference web server (scripts/web.sh) and its tests (playwright-core, esbuild, react)
npm_install "$ROOT/clients/node/server"
npm_install "$ROOT/tests/web"
# the ops console's browser test (playwright-core)
npm_install "$ROOT/tests/ops"

# A real LiveStore 0.4 store for the LiveStore tests (tests/it/livestore_*.sh):
# @livestore/livestore and @livestore/adapter-node, pinned in tests/livestore.
npm_install "$ROOT/tests/livestore"
# better-sqlite3 for the extension's test (tests/it/travel_extension.sh): a
# native module, compiled here from its source (its prebuilt binaries are
# not on npm), against the headers of the installed Node.js
node_dir="$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")"
if [[ -f "$node_dir/include/node/node.h" ]]; then
  npm_config_build_from_source=true npm_config_nodedir="$node_dir" JOBS=max npm_install "$ROOT/tests/ext"
else
  npm_config_build_from_source=true npm_install "$ROOT/tests/ext"
fi
say "done"
