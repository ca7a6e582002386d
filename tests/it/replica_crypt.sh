#!/usr/bin/env bash
# replica_crypt.sh -- encrypted backups and their key records on a replica
# store: the replica gets the workspace's key record with its backups, so a
# restore from it works when the primary lost everything; `keys rotate`
# re-wraps the replica's records too (after it, the old key-encryption key
# opens nothing on either store); `keys shred` shreds the replica's copy of
# the data key, and a restore from the replica is then refused with the live
# file intact.
source "$(dirname "$0")/lib.sh"
sv_setup
source "$SV_SOURCE_DIR/tests/tools/restore_lib.sh"
export SQLVAULT_LOG_FORMAT=text SQLVAULT_STATE_DIR="$SV_SCRATCH/state"
export SQLVAULT_REPLICAS="local=file://$SV_SCRATCH/replica"
SEED="${SV_TEST_SEED:-$RANDOM}"
note "seed $SEED (SV_TEST_SEED to repeat)"
kek_file "$SV_SCRATCH/old" 1
kek_file "$SV_SCRATCH/new" 2
OLD="$SV_SCRATCH/old" NEW="$SV_SCRATCH/new"
export SQLVAULT_ENCRYPTION_KEY_FILE="$OLD"
ws=enc
db="$SQLVAULT_DATA_DIR/$ws/livestore.db"
make_workspace "$ws" 800

step "an encrypted backup copies itself and the key record to the replica"
res="$("$SV_BIN" backup "$ws" --inline --json)" || fail "backup failed: $res"
T1="$(jq -r .ts <<<"$res")"
H1="$(db_sha3 "$db")"
assert_eq 1 "$(jq -r .replicas.local.backups <<<"$res")" "copied to the replica"
[[ -f "$SV_SCRATCH/replica/keys/$ws.json" ]] || fail "no key record in the replica"
cmp -s "$SV_SCRATCH/replica/keys/$ws.json" <(aws_s3 s3 cp --only-show-errors "s3://$SV_S3_BUCKET/${SV_PREFIX}keys/$ws.json" -) ||
  fail "the replica's key record differs from the primary's"
assert_eq true "$("$SV_BIN" list "$ws" --json | jq -r '.[0].encrypted')" "the backup is encrypted"

step "the primary loses everything of the workspace: the restore comes from the replica"
aws_s3 s3 rm --quiet --recursive "s3://$SV_S3_BUCKET/${SV_PREFIX}full/$ws/"
aws_s3 s3 rm --quiet "s3://$SV_S3_BUCKET/${SV_PREFIX}keys/$ws.json"
sqlite3 "$db" "DELETE FROM eventlog WHERE seq % 3 = 0"
res="$("$SV_BIN" restore "$ws" --from latest --yes --inline --json 2>"$SV_SCRATCH/r1.err")" ||
  fail "restore failed: $res $(tail -3 "$SV_SCRATCH/r1.err")"
assert_eq "$H1 local" "$(db_sha3 "$db") $(jq -r .store <<<"$res")" "content and store"

step "keys rotate re-wraps the replica's records too; the old key then opens nothing there"
# the next backup finds no key record in the primary: it copies the replica's back, not a new data key
"$SV_BIN" backup "$ws" --inline --full >/dev/null 2>"$SV_SCRATCH/b2.err" || fail "backup after the loss failed: $(cat "$SV_SCRATCH/b2.err")"
assert_contains "$(cat "$SV_SCRATCH/b2.err")" "copied back from replica local" "the backup healed the key record"
assert_eq "$(jq -r .dataKeyId "$SV_SCRATCH/replica/keys/$ws.json")" \
  "$(aws_s3 s3 cp --only-show-errors "s3://$SV_S3_BUCKET/${SV_PREFIX}keys/$ws.json" - | jq -r .dataKeyId)" "the primary's data key = the replica's"
out="$("$SV_BIN" keys rotate --new-key-file "$NEW" --json 2>"$SV_SCRATCH/rot.err")" || fail "rotate failed: $out $(cat "$SV_SCRATCH/rot.err")"
note "rotate: $out; $(cat "$SV_SCRATCH/rot.err")"
assert_contains "$(cat "$SV_SCRATCH/rot.err")" "replica local:" "the rotation names the replica"
assert_eq "0 true" "$(jq -r '"\(.failed) \(.complete)"' <<<"$out")" "rotation failed, complete"
res="$(SQLVAULT_ENCRYPTION_KEY_FILE="$NEW" "$SV_BIN" restore "$ws" --from "$T1" --yes --inline --from-store local --json 2>"$SV_SCRATCH/r2.err")" ||
  fail "restore from the replica under the new key failed: $(tail -3 "$SV_SCRATCH/r2.err")"
assert_eq "$H1" "$(db_sha3 "$db")" "content under the new key, from the replica"
before="$(sha256sum <"$db")"
out="$(SQLVAULT_ENCRYPTION_KEY_FILE="$OLD" "$SV_BIN" restore "$ws" --from "$T1" --yes --inline --from-store local 2>&1)" &&
  fail "the old key still opens the replica's backup: $out"
note "old key on the replica: $(grep -m1 error <<<"$out")"
assert_eq "$before" "$(sha256sum <"$db")" "the live file after the refused restore"

step "a replica record of another data key is never overwritten: the copy fails, saying why"
cp "$SV_SCRATCH/replica/keys/$ws.json" "$SV_SCRATCH/rec.json"
jq '.dataKeyId = "00000000000000000000000000000000"' "$SV_SCRATCH/rec.json" >"$SV_SCRATCH/replica/keys/$ws.json"
other="$(sha256sum <"$SV_SCRATCH/replica/keys/$ws.json")"
out="$(SQLVAULT_ENCRYPTION_KEY_FILE="$NEW" "$SV_BIN" replicate "$ws" --inline 2>&1)" && fail "replicate overwrote or ignored a record of another key: $out"
assert_contains "$out" "names another data key than the replica's" "the refusal says why"
assert_eq "$other" "$(sha256sum <"$SV_SCRATCH/replica/keys/$ws.json")" "the replica's record is untouched"
cp "$SV_SCRATCH/rec.json" "$SV_SCRATCH/replica/keys/$ws.json"

step "keys shred shreds the replica's copy of the data key"
out="$(SQLVAULT_ENCRYPTION_KEY_FILE="$NEW" "$SV_BIN" keys shred "$ws" --yes 2>&1)" || fail "shred failed: $out"
assert_contains "$out" "replica local: shredded" "the shred names the replica"
assert_eq true "$(jq -r .shredded "$SV_SCRATCH/replica/keys/$ws.json")" "the replica's record is a tombstone"
grep -q wrapped "$SV_SCRATCH/replica/keys/$ws.json" && fail "the replica's tombstone still holds a wrapped key: $(cat "$SV_SCRATCH/replica/keys/$ws.json")"
out="$(SQLVAULT_ENCRYPTION_KEY_FILE="$NEW" "$SV_BIN" restore "$ws" --from "$T1" --yes --inline --from-store local 2>&1)" &&
  fail "a shredded workspace restored from the replica: $out"
assert_contains "$out" "shredded" "the refusal says the key was shredded"
assert_eq "$before" "$(sha256sum <"$db")" "the live file after the refused restore"
sv_pass
