#!/usr/bin/env bash
# Runs one command (an integration test) against servers of its own: a
# redis-server, an s3rver and an r2proxy that services.sh starts on ports the
# OS picks, in a run directory no other test shares. So every test has its
# own fault rules, request log, Redis and bucket, and ctest can run many at
# once (scripts/test.sh -j N).
#
#   tests/servers/with-servers.sh NAME CMD [ARGS...]
#
# NAME names the run directory, $SV_RUN_BASE/NAME (SV_RUN_BASE defaults to
# $TMPDIR or /tmp). The command gets the test environment contract that
# services.sh writes (SV_REDIS_URL, SV_S3_ENDPOINT, SV_PROXY_CONTROL, ...).
# The servers are stopped on every exit path; the run directory is removed
# when the command passed, and kept (its path and the servers' last log
# lines printed) when it failed or SV_KEEP=1. The exit status is the
# command's. To run one test by hand:
#
#   tests/servers/with-servers.sh demo bash tests/it/backup_s3.sh
set -uo pipefail

if (($# < 2)); then
  echo "usage: $0 NAME CMD [ARGS...]" >&2
  exit 2
fi
NAME="${1//[^A-Za-z0-9_.-]/-}"
shift

# shellcheck source=services.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/services.sh"

BASE="${SV_RUN_BASE:-${TMPDIR:-/tmp}}"
mkdir -p "$BASE" || exit 2
DIR="$(mktemp -d "$BASE/$NAME.XXXXXX")" || exit 2
CHILD=""

# finish RC: stops the servers, then removes or keeps the run directory.
finish() {
  local rc="$1"
  trap - EXIT INT TERM
  if [[ -n "$CHILD" ]] && kill -0 "$CHILD" 2>/dev/null; then
    kill -TERM "$CHILD" 2>/dev/null
    wait "$CHILD" 2>/dev/null
  fi
  { SV_STOP_FAST=1 sv_services_stop "$DIR"; wait; } 2>/dev/null
  if ((rc == 0)) && [[ "${SV_KEEP:-0}" != 1 ]]; then
    rm -rf "$DIR"
  else
    local f
    for f in "$DIR"/*.log; do
      [[ -s "$f" ]] || continue
      printf '\n--- last lines of %s\n' "$f" >&2
      tail -n 15 "$f" >&2
    done
    printf '\nwith-servers: servers stopped; logs and scratch kept in %s\n' "$DIR" >&2
  fi
  exit "$rc"
}
trap 'finish $?' EXIT
trap 'finish 143' INT TERM

if ! sv_services_start "$DIR"; then
  echo "with-servers: starting the test servers failed (logs in $DIR)" >&2
  finish 1
fi
# shellcheck disable=SC1091
source "$DIR/env.sh"
export SV_RUN_DIR="$DIR"

# The command runs as a child so that a TERM from ctest's timeout still
# lets finish() stop the servers.
"$@" &
CHILD=$!
wait "$CHILD"
finish $?
