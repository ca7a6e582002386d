#!/usr/bin/env bash
# replica_livestore.sh -- a real LiveStore 0.4 store (npm) on a replica
# store: its backup (event log and state file) is copied to a file://
# replica; with every object of it gone from the primary (S3 behind the
# proxy), the restore comes from the replica, saying so, and gives back the
# event log with every event (the state file with it).
source "$(dirname "$0")/lib.sh"
source "$SV_SOURCE_DIR/tests/livestore/lib.sh"
ls_require
sv_setup
export SQLVAULT_LOG_FORMAT=text SQLVAULT_REPLICAS="local=file://$SV_SCRATCH/replica"
ws=ls-rep
live="$SQLVAULT_DATA_DIR/$ws"

step "a store of 150 events, backed up: the backup copies itself to the replica"
ls_node write "$SQLVAULT_DATA_DIR" "$ws" --count 150 >/dev/null
res="$("$SV_BIN" backup "$ws" --inline --json)" || fail "backup failed: $res"
ts="$(jq -r .ts <<<"$res")"
assert_eq "store 1" "$(jq -r '"\(.shape) \(.replicas.local.backups)"' <<<"$res")" "a store backup, copied"
want="$(cd "$SV_SCRATCH/replica/full/$ws/$ts" && ls | sort | tr '\n' ' ')"
note "replica folder: $want"
assert_eq "$(s3_keys "${SV_PREFIX}full/$ws/$ts/" | sed 's|.*/||' | sort | tr '\n' ' ')" "$want" "the replica's objects = the primary's"
read -r ev0 head0 gaps0 < <(ls_log_check "$live/eventlog@6.db")

step "the primary loses the workspace's backups; the store comes back from the replica"
aws_s3 s3 rm --quiet --recursive "s3://$SV_S3_BUCKET/${SV_PREFIX}full/$ws/"
rm -rf "$live"
res="$("$SV_BIN" restore "$ws" --from latest --yes --inline --json 2>"$SV_SCRATCH/r.err")" || fail "restore failed: $(tail -3 "$SV_SCRATCH/r.err")"
assert_eq "local $ts" "$(jq -r '"\(.store) \(.backup // .ts)"' <<<"$res")" "the store and backup restored"
[[ "$(jq -r .failover <<<"$res")" != null ]] || fail "no failover reason: $res"
read -r ev head gaps < <(ls_log_check "$live/eventlog@6.db")
assert_eq "$ev0 $head0 $gaps0" "$ev $head $gaps" "events, head, gaps of the restored event log"
ls "$live"/state*@6.db >/dev/null 2>&1 || fail "no state file restored: $(ls "$live")"
sv_pass
