#!/usr/bin/env bash
# The test command: builds sqlvault and runs every unit and integration test,
# twice — a normal build (build/) and an AddressSanitizer + UBSan build
# (build-asan/) — against real servers it starts on loopback, on ports the OS
# picks: redis-server (no persistence), s3rver (the local S3 server, checks
# SigV4) and the R2-rules proxy in front of it. It stops every server it
# started on every exit path, prints one line `N passed, N failed` (both runs
# summed) at the end, and exits non-zero if anything failed.
#
#   scripts/test.sh [--no-asan] [-R REGEX] [-j N] [--keep] [--no-deps]
#
#   --no-asan   skip the sanitizer build and run
#   -R REGEX    only the tests whose name matches (passed to ctest)
#   -j N        run N tests at once (default 1: the proxy's faults are global)
#   --keep      leave the servers running afterwards and print their env file
#   --no-deps   do not run scripts/install-deps.sh first
#
# Environment the tests get (the contract; see tests/it/lib.sh): SV_BIN,
# SV_SOURCE_DIR, SV_BUILD_DIR, SV_REDIS_URL, SV_S3_ENDPOINT,
# SV_S3_DIRECT_ENDPOINT, SV_PROXY_CONTROL, SV_S3_BUCKET, AWS_ACCESS_KEY_ID,
# AWS_SECRET_ACCESS_KEY, SV_TMP (plus SV_S3_DATA_DIR, AWS_DEFAULT_REGION).
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ASAN=1
KEEP=0
DEPS=1
JOBS=1
REGEX=""
while (($#)); do
  case "$1" in
    --no-asan) ASAN=0 ;;
    --keep) KEEP=1 ;;
    --no-deps) DEPS=0 ;;
    -R)
      [[ $# -ge 2 ]] || { echo "test.sh: -R needs a regex" >&2; exit 2; }
      REGEX="$2"
      shift
      ;;
    -j)
      [[ $# -ge 2 ]] || { echo "test.sh: -j needs a number" >&2; exit 2; }
      JOBS="$2"
      shift
      ;;
    -h | --help)
      sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "test.sh: unknown option $1 (see --help)" >&2
      exit 2
      ;;
  esac
  shift
done

PASSED=0
FAILED=0
RUN_DIR=""
SERVICES_UP=0
NPROC="$(nproc 2>/dev/null || echo 2)"

# banner prints a section title.
banner() { printf '\n===== %s =====\n' "$*"; }

# summary prints the final line and exits with the suite's status.
summary() {
  printf '\n%d passed, %d failed\n' "$PASSED" "$FAILED"
  if ((FAILED > 0)); then exit 1; fi
  exit 0
}

# cleanup stops the servers (unless --keep) on every exit path.
cleanup() {
  local rc=$?
  if ((SERVICES_UP)); then
    if ((KEEP)); then
      printf '\nservers left running; env: source %s/env.sh; stop: %s/tests/servers/services.sh stop %s\n' \
        "$RUN_DIR" "$ROOT" "$RUN_DIR" >&2
    else
      sv_services_stop "$RUN_DIR"
      SERVICES_UP=0
      if ((FAILED == 0 && rc == 0)); then
        rm -rf "$RUN_DIR"
      else
        printf 'server logs and scratch kept in %s\n' "$RUN_DIR" >&2
      fi
    fi
  fi
  return "$rc"
}
trap cleanup EXIT
trap 'echo "test.sh: interrupted" >&2; FAILED=$((FAILED + 1)); exit 130' INT TERM

# build DIR [cmake args...]: configures and builds into DIR (warnings are errors).
build() {
  local dir="$1"
  shift
  mkdir -p "$dir"
  cmake -S "$ROOT" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >"$dir/configure.log" 2>&1 ||
    { cat "$dir/configure.log"; return 1; }
  cmake --build "$dir" -j "$NPROC"
}

# run_ctest DIR LABEL: runs ctest in DIR and adds its counts to the totals.
run_ctest() {
  local dir="$1" label="$2" log="$1/ctest-run.log" args=(--test-dir "$1" --output-on-failure -j "$JOBS")
  [[ -n "$REGEX" ]] && args+=(-R "$REGEX")
  ctest "${args[@]}" </dev/null 2>&1 | tee "$log"
  local rc=${PIPESTATUS[0]} line total failed
  line="$(grep -E 'tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -1)"
  if [[ -n "$line" ]]; then
    failed="$(sed -E 's/.*tests passed, ([0-9]+) tests? failed out of ([0-9]+).*/\1/' <<<"$line")"
    total="$(sed -E 's/.*tests passed, ([0-9]+) tests? failed out of ([0-9]+).*/\2/' <<<"$line")"
  elif grep -q 'No tests were found' "$log"; then
    failed=0
    total=0
  else
    echo "test.sh: could not read ctest's summary ($label)" >&2
    failed=1
    total=1
  fi
  if ((rc != 0 && failed == 0)); then failed=1; total=$((total + 1)); fi
  PASSED=$((PASSED + total - failed))
  FAILED=$((FAILED + failed))
  printf '%s: %d passed, %d failed\n' "$label" "$((total - failed))" "$failed"
}

# between_runs clears server state one run could leave for the next.
between_runs() {
  curl -fsS -X POST "$SV_PROXY_CONTROL/reset" >/dev/null || true
  redis-cli -u "$SV_REDIS_URL" FLUSHALL >/dev/null || true
}

cd "$ROOT" || exit 2

if ((DEPS)); then
  banner "dependencies"
  if ! bash "$ROOT/scripts/install-deps.sh"; then
    echo "test.sh: installing dependencies failed" >&2
    FAILED=$((FAILED + 1))
    summary
  fi
fi

banner "build (build/)"
if ! build "$ROOT/build"; then
  echo "test.sh: the build failed" >&2
  FAILED=$((FAILED + 1))
  summary
fi

banner "servers"
RUN_DIR="$(mktemp -d "${TMPDIR:-/tmp}/sqlvault-test.XXXXXX")"
# shellcheck source=../tests/servers/services.sh
source "$ROOT/tests/servers/services.sh"
SERVICES_UP=1
if ! sv_services_start "$RUN_DIR"; then
  echo "test.sh: starting the test servers failed (logs in $RUN_DIR)" >&2
  FAILED=$((FAILED + 1))
  summary
fi
# shellcheck disable=SC1091
source "$RUN_DIR/env.sh"
export SV_SOURCE_DIR="$ROOT"
export SV_BUILD_DIR="$ROOT/build"
export SV_BIN="$ROOT/build/sqlvault"
export CI="${CI:-}"
grep '^export' "$RUN_DIR/env.sh" | sed 's/^export /  /'

banner "tests (build/)"
run_ctest "$ROOT/build" "build"

if ((ASAN)); then
  banner "build with AddressSanitizer + UBSan (build-asan/)"
  if build "$ROOT/build-asan" -DSV_SANITIZE=ON; then
    between_runs
    banner "tests under ASan + UBSan (build-asan/)"
    export SV_BUILD_DIR="$ROOT/build-asan" SV_BIN="$ROOT/build-asan/sqlvault"
    export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:abort_on_error=0"
    export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
    run_ctest "$ROOT/build-asan" "build-asan"
    unset ASAN_OPTIONS UBSAN_OPTIONS
  else
    echo "test.sh: the sanitizer build failed" >&2
    FAILED=$((FAILED + 1))
  fi
fi

summary
