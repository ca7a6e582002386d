#!/usr/bin/env bash
# The test command: builds sqlvault twice — a normal build (build/) and an
# AddressSanitizer + UBSan build (build-asan/) — and runs every unit and
# integration test of both in one ctest run, N at a time. Each integration
# test gets servers of its own on loopback, on ports the OS picks
# (tests/servers/with-servers.sh): redis-server (no persistence), s3rver (the
# local S3 server, checks SigV4) and the R2-rules proxy in front of it, so
# no test sees another's fault rules, Redis or bucket. It prints the ten
# slowest tests, then one line `N passed, N failed` (both builds summed), and
# exits non-zero if anything failed.
#
#   scripts/test.sh [--no-asan] [-R REGEX] [-j N] [--keep] [--no-deps]
#
#   --no-asan   skip the sanitizer build and its tests
#   -R REGEX    only the tests whose name matches (passed to ctest); the
#               sanitizer build's tests are named asan/unit/..., asan/it/...
#   -j N        run N tests at once (default 4, or SV_TEST_JOBS)
#   --keep      keep every test's server logs and scratch, not only a
#               failed test's
#   --no-deps   do not run scripts/install-deps.sh first
#
# Environment each integration test gets (the contract; see tests/it/lib.sh):
# SV_BIN, SV_SOURCE_DIR, SV_BUILD_DIR, SV_REDIS_URL, SV_S3_ENDPOINT,
# SV_S3_DIRECT_ENDPOINT, SV_PROXY_CONTROL, SV_S3_BUCKET, AWS_ACCESS_KEY_ID,
# AWS_SECRET_ACCESS_KEY, SV_TMP (plus SV_S3_DATA_DIR, AWS_DEFAULT_REGION).
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ASAN=1
KEEP=0
DEPS=1
JOBS="${SV_TEST_JOBS:-4}"
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
      sed -n '2,27p' "$0" | sed 's/^# \{0,1\}//'
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
NPROC="$(nproc 2>/dev/null || echo 2)"

# banner prints a section title.
banner() { printf '\n===== %s =====\n' "$*"; }

# summary prints the final line and exits with the suite's status.
summary() {
  printf '\n%d passed, %d failed\n' "$PASSED" "$FAILED"
  if ((FAILED > 0)); then exit 1; fi
  exit 0
}

# cleanup removes the run directory unless something failed or --keep.
cleanup() {
  local rc=$?
  if [[ -n "$RUN_DIR" && -d "$RUN_DIR" ]]; then
    if ((FAILED == 0 && rc == 0 && !KEEP)); then
      rm -rf "$RUN_DIR"
    else
      printf 'test logs, server logs and scratch kept in %s\n' "$RUN_DIR" >&2
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

# run_ctest DIR...: runs the tests of every build DIR in one ctest run of
# $JOBS at a time, adds its counts to the totals, prints the ten slowest.
run_ctest() {
  local d log="$RUN_DIR/ctest-run.log" args=(--test-dir "$RUN_DIR" --output-on-failure -j "$JOBS")
  {
    echo "# written by scripts/test.sh: the builds whose tests run together"
    for d in "$@"; do echo "subdirs(\"$d\")"; done
  } >"$RUN_DIR/CTestTestfile.cmake"
  [[ -n "$REGEX" ]] && args+=(-R "$REGEX")
  SV_RUN_BASE="$RUN_DIR/runs" SV_KEEP="$KEEP" ctest "${args[@]}" </dev/null 2>&1 | tee "$log"
  local rc=${PIPESTATUS[0]} line total failed
  line="$(grep -E 'tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -1)"
  if [[ -n "$line" ]]; then
    failed="$(sed -E 's/.*tests passed, ([0-9]+) tests? failed out of ([0-9]+).*/\1/' <<<"$line")"
    total="$(sed -E 's/.*tests passed, ([0-9]+) tests? failed out of ([0-9]+).*/\2/' <<<"$line")"
  elif grep -q 'No tests were found' "$log"; then
    failed=0
    total=0
  else
    echo "test.sh: could not read ctest's summary" >&2
    failed=1
    total=1
  fi
  if ((rc != 0 && failed == 0)); then failed=1; total=$((total + 1)); fi
  PASSED=$((PASSED + total - failed))
  FAILED=$((FAILED + failed))
  banner "the ten slowest tests"
  sed -nE 's/^ *[0-9]+\/[0-9]+ Test +#[0-9]+: ([^ ]+) \.+[^0-9]* ([0-9.]+) sec$/\2 \1/p' "$log" |
    sort -rn | head -10 | awk '{ printf "%8.1f s  %s\n", $1, $2 }'
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
BUILDS=("$ROOT/build")

if ((ASAN)); then
  banner "build with AddressSanitizer + UBSan (build-asan/)"
  if build "$ROOT/build-asan" -DSV_SANITIZE=ON; then
    BUILDS+=("$ROOT/build-asan")
    # read by the sanitizer runtime only: the plain build's binaries ignore them
    export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:abort_on_error=0"
    export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
  else
    echo "test.sh: the sanitizer build failed" >&2
    FAILED=$((FAILED + 1))
  fi
fi

# A version manager's shims (pyenv's on this kind of machine) are a bash
# script per call that looks up the version and then execs the real program:
# about 0.5 s of CPU for each `python3` or `aws` the tests run, against
# 0.1 s for the program itself, and the suite runs them by the thousand on
# two cores. The tests run the very programs the shims would pick, found once.
resolve_shims() {
  local cmd p real dirs=""
  for cmd in python3 aws; do
    p="$(command -v "$cmd" 2>/dev/null)" || continue
    [[ "$p" == */shims/* ]] || continue
    command -v pyenv >/dev/null 2>&1 || continue
    real="$(pyenv which "$cmd" 2>/dev/null)" || continue
    [[ -x "$real" && ":$dirs:" != *":${real%/*}:"* ]] && dirs="${dirs:+$dirs:}${real%/*}"
  done
  if [[ -n "$dirs" ]]; then
    export PATH="$dirs:$PATH"
    echo "test.sh: python3 and aws from $dirs (past the version manager's shims)"
  fi
}
resolve_shims

RUN_DIR="$(mktemp -d "${TMPDIR:-/tmp}/sqlvault-test.XXXXXX")"
mkdir -p "$RUN_DIR/runs"
export CI="${CI:-}"
banner "tests (${BUILDS[*]#"$ROOT/"}, $JOBS at a time)"
run_ctest "${BUILDS[@]}"

summary
