#!/usr/bin/env bash
# crypt_keys.sh -- `sqlvault keys` on the S3 server through the R2-rules
# proxy. Rotation stopped half-way (--limit) and resumed: while half-way,
# workers holding the new key and the old one (SQLVAULT_ENCRYPTION_OLD_KEY_FILE)
# read every backup; afterwards every backup restores with the new key and
# none with the old; a second run changes nothing; no backup object was
# rewritten. Shredding asks for confirmation, then restore and verify fail
# with a message that says why, the live database unchanged, backups of the
# shredded workspace are refused, the other workspaces are untouched, and a
# later rotation skips the tombstone.
source "$(dirname "$0")/lib.sh"
source "$SV_SOURCE_DIR/tests/tools/restore_lib.sh"
sv_setup
export SQLVAULT_LOG_FORMAT=text

SEED="${SV_TEST_SEED:-$RANDOM}"
note "seed $SEED (SV_TEST_SEED to repeat)"
kek_file "$SV_SCRATCH/old" 1
kek_file "$SV_SCRATCH/new" 2
OLD="$SV_SCRATCH/old" NEW="$SV_SCRATCH/new"
WSS=(r1 r2 r3 r4 r5)

# verify_all KEYFILE [OLDKEYFILE [WS...]]: prints "ok" per backup (of WS..., default all) that
# verifies, the error otherwise.
verify_all() {
  local ws ts out key="$1" old="${2:-}"
  shift $(($# < 2 ? $# : 2))
  (($#)) || set -- "${WSS[@]}"
  for ws in "$@"; do
    for ts in $(SQLVAULT_ENCRYPTION_KEY_FILE="$key" sv list "$ws" --json | jq -r '.[].ts'); do
      out="$(SQLVAULT_ENCRYPTION_KEY_FILE="$key" SQLVAULT_ENCRYPTION_OLD_KEY_FILE="$old" sv verify "$ws" --at "$ts" --inline --json 2>&1 | grep -v '^20')" || true
      if [[ "$(jq -r .ok <<<"$out" 2>/dev/null)" == true ]]; then echo "$ws/$ts ok"; else echo "$ws/$ts $(head -1 <<<"$out")"; fi
    done
  done
}
# count_ok LINES: how many lines end in " ok".
count_ok() { grep -c ' ok$' <<<"$1" || true; }
# object_sums KEYS...: key and sha256 of each stored object (rotation must not rewrite any).
object_sums() { local k; for k in "$@"; do echo "$k $(aws_s3 s3 cp --only-show-errors "s3://$SV_S3_BUCKET/$k" - | sha256sum)"; done; }

step "five workspaces, six encrypted backups under the old key"
export SQLVAULT_ENCRYPTION_KEY_FILE="$OLD"
for ws in "${WSS[@]}"; do
  make_workspace "$ws" 300
  sv backup "$ws" --inline >/dev/null
done
sqlite3 "$SQLVAULT_DATA_DIR/r1/livestore.db" "INSERT INTO todos VALUES ('second', 'x', 0)"
sv backup r1 --inline >/dev/null
mapfile -t OBJS < <(aws_s3 s3 ls --recursive "s3://$SV_S3_BUCKET/${SV_PREFIX}full/" | awk '/livestore.db.zst$/ { print $4 }')
assert_eq 6 "${#OBJS[@]}" "backup objects"
sums0="$(object_sums "${OBJS[@]}")"
assert_eq 6 "$(count_ok "$(verify_all "$OLD")")" "backups readable with the old key"

step "rotation stopped half-way (--limit 2)"
unset SQLVAULT_ENCRYPTION_KEY_FILE
out="$(SQLVAULT_ENCRYPTION_KEY_FILE="$OLD" sv keys rotate --new-key-file "$NEW" --limit 2 --jobs 1 --json)"
note "$out"
assert_eq "5 2 0 3 false" "$(jq -r '[.workspaces, .rewrapped, .already, .pending, .complete] | join(" ")' <<<"$out")" "first run: workspaces rewrapped already pending complete"
newid="$(SQLVAULT_ENCRYPTION_KEY_FILE="$NEW" sv keys show r1 --json | jq -r .configuredKekId)"
oldid="$(SQLVAULT_ENCRYPTION_KEY_FILE="$OLD" sv keys show r1 --json | jq -r .configuredKekId)"
moved=0
for ws in "${WSS[@]}"; do [[ "$(sv keys show "$ws" --json | jq -r .kekId)" == "$newid" ]] && moved=$((moved + 1)); done
assert_eq 2 "$moved" "records under the new key"

step "half-way: the new key plus the old one read every backup; either key alone reads only its share"
assert_eq 6 "$(count_ok "$(verify_all "$NEW" "$OLD")")" "backups readable with new + old"
old_only="$(verify_all "$OLD")"
new_only="$(verify_all "$NEW")"
assert_eq 6 "$(($(count_ok "$old_only") + $(count_ok "$new_only")))" "each backup readable by exactly one key alone"
assert_contains "$old_only$new_only" "wrong encryption key" "the other key's share fails with"
note "a backup of a new workspace during the rotation is wrapped by the new key"
make_workspace r6 100
SQLVAULT_ENCRYPTION_KEY_FILE="$NEW" SQLVAULT_ENCRYPTION_OLD_KEY_FILE="$OLD" sv backup r6 --inline >/dev/null
assert_eq "$newid" "$(sv keys show r6 --json | jq -r .kekId)" "r6's record"
WSS+=(r6)

step "the rotation resumed finishes; a third run changes nothing"
out="$(SQLVAULT_ENCRYPTION_KEY_FILE="$OLD" sv keys rotate --new-key-file "$NEW" --json)"
note "$out"
assert_eq "6 3 3 0 true" "$(jq -r '[.workspaces, .rewrapped, .already, .pending, .complete] | join(" ")' <<<"$out")" "second run"
out="$(SQLVAULT_ENCRYPTION_KEY_FILE="$NEW" sv keys rotate --new-key-file "$NEW" --json)"
assert_eq "6 0 6 true" "$(jq -r '[.workspaces, .rewrapped, .already, .complete] | join(" ")' <<<"$out")" "third run (idempotent)"
assert_le "$(jq -r .requests <<<"$out")" 8 "requests of a run with nothing to do (6 GETs + listing)"

step "after the rotation: every backup restores with the new key, none with the old"
assert_eq 7 "$(count_ok "$(verify_all "$NEW")")" "backups readable with the new key"
assert_eq 0 "$(count_ok "$(verify_all "$OLD")")" "backups readable with the old key"
live="$SQLVAULT_DATA_DIR/r1/livestore.db"
want="$(db_sha3 "$live")"
sqlite3 "$live" "DELETE FROM todos"
SQLVAULT_ENCRYPTION_KEY_FILE="$NEW" sv restore r1 --from latest --yes --inline >/dev/null
assert_eq "$want" "$(db_sha3 "$live")" "r1 restored with the new key"
rc=0
SQLVAULT_ENCRYPTION_KEY_FILE="$OLD" sv restore r1 --from latest --yes --inline >/dev/null 2>&1 || rc=$?
assert_eq 2 "$rc" "restore with the old key"
assert_eq "$sums0" "$(object_sums "${OBJS[@]}")" "backup objects unchanged by the rotation (not re-encrypted)"

step "shred asks for confirmation: without a terminal and without --yes nothing happens"
export SQLVAULT_ENCRYPTION_KEY_FILE="$NEW"
rc=0
out="$(sv keys shred r2 </dev/null 2>&1)" || rc=$?
assert_eq 2 "$rc" "exit status"
assert_contains "$out" "asks for confirmation" "message"
assert_eq 1 "$(count_ok "$(verify_all "$NEW" "" r2)")" "r2 still readable"

step "shred r2: restore and verify fail saying why, live database unchanged"
sv keys shred r2 --yes
aws_s3 s3 cp --only-show-errors "s3://$SV_S3_BUCKET/${SV_PREFIX}keys/r2.json" "$SV_SCRATCH/r2.json"
assert_eq "true null" "$(jq -r '[.shredded, .wrapped] | map(tostring) | join(" ")' "$SV_SCRATCH/r2.json")" "the record is a tombstone without the wrapped key"
expect_restore_fail r2 latest "was shredded at .* can no longer be decrypted"
rc=0
out="$(sv verify r2 --inline 2>&1)" || rc=$?
assert_eq 1 "$rc" "verify exit status"
assert_contains "$out" "was shredded" "verify error"
rc=0
out="$(sv backup r2 --inline 2>&1)" || rc=$?
assert_eq 1 "$rc" "backup of a shredded workspace"
assert_contains "$out" "refusing to back up workspace 'r2' again" "backup error"
assert_eq 7 "$(count_ok "$(verify_all "$NEW" "" r1 r3 r4 r5 r6)")" "the other workspaces' backups (r1 has a pre-restore backup now)"

step "a rotation after the shred skips the tombstone"
kek_file "$SV_SCRATCH/third" 3
out="$(sv keys rotate --new-key-file "$SV_SCRATCH/third" --json)"
assert_eq "6 5 1 0 true" "$(jq -r '[.workspaces, .rewrapped, .shredded, .failed, .complete] | join(" ")' <<<"$out")" "rotation over a shredded workspace"
assert_eq 7 "$(count_ok "$(verify_all "$SV_SCRATCH/third" "" r1 r3 r4 r5 r6)")" "backups readable with the third key"
sv_pass
