#!/usr/bin/env bash
# replica_retention.sh -- retention per store: prune applies the primary's
# policy to the primary and each replica's own (SQLVAULT_REPLICA_<NAME>_
# RETENTION, longer here) to that replica, chains kept whole in both; an
# inline backup copies itself to a file:// replica (the primary is S3 behind
# the proxy); a dry run deletes nothing anywhere; every kept backup restores
# from the store that keeps it (--from-store).
source "$(dirname "$0")/lib.sh"
sv_setup
source "$SV_SOURCE_DIR/tests/tools/restore_lib.sh"
export SQLVAULT_LOG_FORMAT=text SQLVAULT_FULL_EVERY=24h SQLVAULT_STATE_DIR="$SV_SCRATCH/state"
export SQLVAULT_RETENTION=all:2d SQLVAULT_REPLICAS="local=file://$SV_SCRATCH/replica"
export SQLVAULT_REPLICA_LOCAL_RETENTION=all:30d
ws=ret
db="$SQLVAULT_DATA_DIR/$ws/livestore.db"
make_workspace "$ws" 500
D=86400000 H=3600000
NOW=$(( ($(date +%s) / 86400) * 86400000 + 12 * H ))
declare -A HASH
folders() { # folders of ws in the primary or the replica, sorted
  if [[ "$1" == primary ]]; then s3_keys "${SV_PREFIX}full/$ws/" | sed "s|^${SV_PREFIX}full/$ws/||"
  else (cd "$SV_SCRATCH/replica/full/$ws" && find . -type f | sed 's|^\./||'); fi | cut -d/ -f1 | sort -u
}

step "backups at day -10, -5 (a full and a link), -1 and today; each copies itself to the replica"
for spec in "-10 10 --full" "-5 10 --full" "-5 11 -" "-1 10 --full" "0 9 --full"; do
  read -r day hh flag <<<"$spec"
  [[ "$flag" == - ]] && flag=""
  sqlite3 "$db" "UPDATE eventlog SET args = hex(randomblob(16)) WHERE seq % 11 = ${day#-} % 11"
  res="$(SQLVAULT_FAKE_NOW=$(( NOW + day * D + (hh - 12) * H )) "$SV_BIN" backup "$ws" --inline --json $flag)" ||
    fail "backup at day $day failed: $res"
  ts="$(jq -r .ts <<<"$res")"
  HASH[$ts]="$(db_sha3 "$db")"
  assert_eq 1 "$(jq -r '.replicas.local.backups' <<<"$res")" "the backup at day $day copied to the replica"
done
all="$(printf '%s\n' "${!HASH[@]}" | sort)"
assert_eq "$all" "$(folders primary)" "the primary's folders"
assert_eq "$all" "$(folders replica)" "the replica's folders"

step "a dry run: the primary would lose its two oldest days, the replica nothing; nothing deleted"
out="$(SQLVAULT_FAKE_NOW=$NOW "$SV_BIN" prune "$ws" --inline --dry-run --json)" || fail "dry run failed: $out"
assert_eq "3 2 true" "$(jq -r '"\(.deleted) \(.kept) \(.dry_run)"' <<<"$out")" "primary: would delete, keep, dry"
assert_eq "0 5" "$(jq -r '"\(.replicas.local.deleted) \(.replicas.local.kept)"' <<<"$out")" "replica: would delete, keep"
assert_eq "all:30d" "$(jq -r .replicas.local.policy <<<"$out")" "the replica's own policy"
text="$(SQLVAULT_FAKE_NOW=$NOW "$SV_BIN" prune "$ws" --inline --dry-run)"
assert_contains "$text" "replica local, policy all:30d: 5 kept, 0 would be deleted" "the dry run's table names the replica"
assert_eq "$all" "$(folders primary)" "the primary after the dry run"
assert_eq "$all" "$(folders replica)" "the replica after the dry run"

step "the prune: each store by its own policy, chains whole"
out="$(SQLVAULT_FAKE_NOW=$NOW "$SV_BIN" prune "$ws" --inline --json)" || fail "prune failed: $out"
kept_p="$(printf '%s\n' "${!HASH[@]}" | sort | tail -2)"
assert_eq "$kept_p" "$(folders primary)" "the primary keeps day -1 and today"
assert_eq "$all" "$(folders replica)" "the replica keeps all five (all:30d)"
lj="$("$SV_BIN" list "$ws" --json)"
assert_eq 3 "$(jq '[.[] | select(.stores == ["local"])] | length' <<<"$lj")" "list: three backups in the replica only"
assert_eq 2 "$(jq '[.[] | select(.stores == ["primary","local"])] | length' <<<"$lj")" "list: two in both"

step "every backup restores from the store that keeps it"
for ts in $all; do
  store=local
  grep -qx "$ts" <<<"$kept_p" && store=primary
  "$SV_BIN" restore "$ws" --from "$ts" --yes --inline --from-store "$store" >/dev/null 2>"$SV_SCRATCH/r.err" ||
    fail "restore of $ts from $store failed: $(tail -2 "$SV_SCRATCH/r.err")"
  assert_eq "${HASH[$ts]}" "$(db_sha3 "$db")" "content of $ts from $store"
done

step "a shorter replica policy: the next prune deletes there too, the chain (full + link) goes whole"
out="$(SQLVAULT_REPLICA_LOCAL_RETENTION=all:3d SQLVAULT_FAKE_NOW=$NOW "$SV_BIN" prune "$ws" --inline --json)" ||
  fail "prune failed: $out"
left="$(folders replica)"
note "replica after all:3d: $(tr '\n' ' ' <<<"$left")"
for ts in $left; do
  # the pre-restore backups the restores above made are in the primary, and were copied inline
  [[ -z "${HASH[$ts]:-}" ]] || grep -qx "$ts" <<<"$kept_p" || fail "the replica kept $ts, older than all:3d"
done
for ts in $kept_p; do grep -qx "$ts" <<<"$left" || fail "the replica lost $ts, inside all:3d"; done

step "replication does not bring back what the replica's shorter policy pruned"
dm1="$(printf '%s\n' "${!HASH[@]}" | sort | tail -2 | head -1)" # day -1, kept by the primary
out="$(SQLVAULT_REPLICA_LOCAL_RETENTION=all:1d SQLVAULT_FAKE_NOW=$NOW "$SV_BIN" prune "$ws" --inline --json)" || fail "prune failed: $out"
folders replica | grep -qx "$dm1" && fail "the replica's all:1d prune kept $dm1"
folders primary | grep -qx "$dm1" || fail "the primary (all:2d) lost $dm1"
out="$(SQLVAULT_REPLICA_LOCAL_RETENTION=all:1d SQLVAULT_FAKE_NOW=$NOW "$SV_BIN" replicate "$ws" --inline --json)" ||
  fail "replicate failed: $out"
note "replicate under all:1d: $(jq -c .stores.local <<<"$out")"
assert_eq true "$(jq -r '.stores.local.outside >= 1' <<<"$out")" "backups left out: outside the replica's policy"
folders replica | grep -qx "$dm1" && fail "replication brought $dm1 back to the replica"
out="$(SQLVAULT_FAKE_NOW=$NOW "$SV_BIN" replicate "$ws" --inline --json)" || fail "replicate failed: $out"
assert_eq 1 "$(jq -r .stores.local.backups <<<"$out")" "under all:30d the same backup is copied again"
folders replica | grep -qx "$dm1" || fail "$dm1 is not in the replica under all:30d"
sv_pass
