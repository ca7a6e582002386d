#!/usr/bin/env bash
# cli_argv_secrets.sh -- secrets given as flags are not readable in the
# process list after start-up: a worker started with --secret-access-key and
# a --redis-url holding a password shows neither in /proc/PID/cmdline (nor in
# ps), still works with both, and no log line names the password.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/queue_lib.sh"
sv_setup
PW="redis-pw-$RANDOM$RANDOM"
SECRET="$AWS_SECRET_ACCESS_KEY"
export SQLVAULT_LOG_FORMAT=text
redis_private_start
redis-cli -h 127.0.0.1 -p "$SV_PRIVATE_REDIS_PORT" CONFIG SET requirepass "$PW" >/dev/null
URL="redis://:$PW@127.0.0.1:$SV_PRIVATE_REDIS_PORT/0"
make_workspace argv-ws 20

step "a worker started with both secrets as flags (none in its environment)"
env -u AWS_SECRET_ACCESS_KEY -u R2_SECRET_ACCESS_KEY -u SQLVAULT_REDIS_URL \
  "$SV_BIN" worker --threads 1 --redis-url "$URL" --secret-access-key "$SECRET" >"$SV_SCRATCH/w.log" 2>&1 &
pid=$!
SV_CLEANUP_PIDS+=("$pid")
wait_for --timeout 20 grep -q 'worker' "$SV_SCRATCH/w.log"
wait_for --timeout 20 bash -c "[[ \$(redis-cli -h 127.0.0.1 -p $SV_PRIVATE_REDIS_PORT -a '$PW' --no-auth-warning ZCARD '$SQLVAULT_REDIS_PREFIX:{default}:workers') -ge 1 ]]"
cmdline="$(tr '\0' ' ' </proc/$pid/cmdline)"
note "cmdline: $cmdline"
[[ "$cmdline" != *"$SECRET"* ]] || fail "the secret access key is in /proc/$pid/cmdline"
[[ "$cmdline" != *"$PW"* ]] || fail "the redis password is in /proc/$pid/cmdline"
assert_contains "$cmdline" "--redis-url redis://:" "the url's shape stays"
assert_contains "$cmdline" "@127.0.0.1:$SV_PRIVATE_REDIS_PORT/0" "the host stays"
pscmd="$(ps -o args= -p "$pid")"
[[ "$pscmd" != *"$SECRET"* && "$pscmd" != *"$PW"* ]] || fail "ps shows a secret: $pscmd"

step "the worker still works with both: a backup through it commits"
SQLVAULT_REDIS_URL="$URL" "$SV_BIN" backup argv-ws --json >"$SV_SCRATCH/b.json" 2>"$SV_SCRATCH/b.err" ||
  fail "backup failed: $(cat "$SV_SCRATCH/b.err")"
assert_eq succeeded "$(jq -r .state "$SV_SCRATCH/b.json")" "backup job state"

step "a later --secret-access-key wins and the earlier value is hidden too"
env -u AWS_SECRET_ACCESS_KEY SQLVAULT_REDIS_URL="$URL" \
  "$SV_BIN" worker --threads 1 --secret-access-key "first-$SECRET" --secret-access-key="$SECRET" \
  >"$SV_SCRATCH/w2.log" 2>&1 &
pid2=$!
SV_CLEANUP_PIDS+=("$pid2")
wait_for --timeout 20 grep -q 'worker' "$SV_SCRATCH/w2.log"
cmdline="$(tr '\0' ' ' </proc/$pid2/cmdline)"
[[ "$cmdline" != *"$SECRET"* ]] || fail "a secret access key is in /proc/$pid2/cmdline: $cmdline"

step "no log line names the password or the secret"
! grep -q -- "$PW" "$SV_SCRATCH"/w.log "$SV_SCRATCH"/w2.log "$SV_SCRATCH/b.err" || fail "the password is in a log"
! grep -q -- "$SECRET" "$SV_SCRATCH"/w.log "$SV_SCRATCH"/w2.log "$SV_SCRATCH/b.err" || fail "the secret is in a log"
sv_pass
