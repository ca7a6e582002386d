#!/usr/bin/env bash
# prune_bucket_lock.sh -- prune under bucket locks, as R2's lock rules (a
# prefix and an age: younger objects under it cannot be deleted) refuse
# deletes: the R2-rules proxy emulates them (POST /config {"locks": [...]},
# DeleteObjects entries answered ObjectLockedByBucketPolicy). Policy last:1
# over two chains of one workspace (A, A1, A2; B, B1): A's chain is doomed.
#  1. a lock on A2 alone (the newest link): A2 is kept, and so are A1 and A,
#     which its chain needs; nothing of the chain goes, every point restores;
#  2. a lock on A alone (the full): A1 and A2 go, A stays (a full alone is a
#     whole backup);
#  3. SQLVAULT_BUCKET_LOCK=1h (the store's lock age, told to sqlvault): the
#     dry run says what the lock keeps, and the prune sends no delete for
#     them; a workspace outside the lock rule's prefix is pruned as usual;
#  4. the lock lifted: the next prune deletes what aged out, chains whole.
source "$(dirname "$0")/lib.sh"
sv_setup
source "$SV_SOURCE_DIR/tests/tools/restore_lib.sh"
export SQLVAULT_LOG_FORMAT=text SQLVAULT_FULL_EVERY=24h SQLVAULT_STATE_DIR="$SV_SCRATCH/state" SQLVAULT_RETENTION=last:1
ws=locked-ws other=free-ws
db="$SQLVAULT_DATA_DIR/$ws/livestore.db"
make_workspace "$ws" 400
make_workspace "$other" 100
sv_on_exit "curl -fsS -X POST --data '{\"locks\":[]}' '$SV_PROXY_CONTROL/config' >/dev/null"
declare -A HASH
bk() { # bk WS [--full]: a backup after a change; prints its folder
  sqlite3 "$SQLVAULT_DATA_DIR/$1/livestore.db" "UPDATE eventlog SET args = hex(randomblob(16)) WHERE seq % 7 = $RANDOM % 7" >/dev/null
  local r
  r="$("$SV_BIN" backup "$1" --inline --json ${2:-})" || fail "backup of $1 failed: $r"
  jq -r .ts <<<"$r"
}
folders() { s3_keys "${SV_PREFIX}full/$1/" | grep '/metadata.json$' | sed "s|^${SV_PREFIX}full/$1/||; s|/metadata.json||" | sort; }
restorable() { # restorable TS...: each restores (into a scratch file: no pre-restore backup) to its content
  local t chk="$SV_SCRATCH/check/livestore.db"
  for t in "$@"; do
    rm -rf "$SV_SCRATCH/check" && mkdir -p "$SV_SCRATCH/check"
    "$SV_BIN" restore "$ws" --from "$t" --yes --inline --db "$chk" >/dev/null 2>"$SV_SCRATCH/r.err" ||
      fail "restore of $t failed: $(tail -2 "$SV_SCRATCH/r.err")"
    [[ "$(db_sha3 "$chk")" == "${HASH[$t]}" ]] || fail "restore of $t: wrong content"
  done
}
locks() { proxy_api POST /config "{\"locks\": $1}" >/dev/null; }
mkchain() { # two chains of ws: A A1 A2, B B1 (B1 the newest)
  A=$(bk "$ws" --full); HASH[$A]="$(db_sha3 "$db")"
  A1=$(bk "$ws"); HASH[$A1]="$(db_sha3 "$db")"
  A2=$(bk "$ws"); HASH[$A2]="$(db_sha3 "$db")"
  B=$(bk "$ws" --full); HASH[$B]="$(db_sha3 "$db")"
  B1=$(bk "$ws"); HASH[$B1]="$(db_sha3 "$db")"
  s3_keys "${SV_PREFIX}full/$ws/$A2/" | grep -q "pages-$A1.zst" || fail "A2 is not a link of A1"
}
prune() { "$SV_BIN" prune "$ws" --inline --json "$@" 2>"$SV_SCRATCH/prune.err" || fail "prune failed: $(tail -3 "$SV_SCRATCH/prune.err")"; }

step "1. a lock on the newest doomed link keeps its whole chain"
mkchain
note "A $A, A1 $A1, A2 $A2, B $B, B1 $B1"
locks "[{\"prefix\": \"${SV_PREFIX}full/$ws/$A2/\", \"maxAgeMs\": 3600000}]"
out="$(prune)"
note "result: $(jq -c '{kept, deleted, locked, locked_backups}' <<<"$out")"
assert_eq "3 0" "$(jq -r '"\(.locked) \(.deleted)"' <<<"$out")" "locked, deleted"
assert_eq "$(printf '%s\n' "$A" "$A1" "$A2" "$B" "$B1" | sort)" "$(folders "$ws")" "every backup still committed"
assert_contains "$(jq -r '.locked_backups[] | "\(.ts) \(.reason)"' <<<"$out")" "$A2 locked: the store refused the delete" "A2's reason"
assert_contains "$(jq -r '.locked_backups[] | "\(.ts) \(.reason)"' <<<"$out")" "$A ancestor of $A2, which is locked" "A's reason"
assert_eq "keep keep keep" "$(jq -r --arg a "$A" --arg a1 "$A1" --arg a2 "$A2" '[.decisions[] | select(.ts == $a or .ts == $a1 or .ts == $a2) | .action] | join(" ")' <<<"$out")" \
  "the decisions say keep"
assert_contains "$("$SV_BIN" prune "$ws" --inline 2>/dev/null)" "kept by a bucket lock" "the table says why"
restorable "$A2" "$A1" "$A"

step "2. a lock on the full alone: its links go, the full stays whole"
locks "[{\"prefix\": \"${SV_PREFIX}full/$ws/$A/\", \"maxAgeMs\": 3600000}]"
out="$(prune)"
assert_eq "1 2" "$(jq -r '"\(.locked) \(.deleted)"' <<<"$out")" "locked, deleted"
assert_eq "$(printf '%s\n' "$A" "$B" "$B1" | sort)" "$(folders "$ws")" "A, B, B1 committed"
assert_eq "" "$(s3_keys "${SV_PREFIX}full/$ws/$A1/")$(s3_keys "${SV_PREFIX}full/$ws/$A2/")" "nothing left of A1 and A2"
restorable "$A" "$B1"

step "3. SQLVAULT_BUCKET_LOCK: the dry run and the prune know the lock; another workspace is pruned meanwhile"
o1=$(bk "$other" --full); o2=$(bk "$other" --full); o3=$(bk "$other" --full)
locks "[{\"prefix\": \"${SV_PREFIX}full/$ws/\", \"maxAgeMs\": 3600000}]"
export SQLVAULT_BUCKET_LOCK=1h
dry="$(prune --dry-run)"
assert_eq "1 0" "$(jq -r '"\(.locked) \(.deleted)"' <<<"$dry")" "dry run: locked, deleted"
assert_contains "$(jq -r '.decisions[] | select(.locked) | .reason' <<<"$dry")" "(SQLVAULT_BUCKET_LOCK 1h)" "the dry run's reason"
assert_contains "$("$SV_BIN" prune "$ws" --inline --dry-run 2>/dev/null)" "they would be refused" "the dry run's table"
since="$(proxy_api GET '/log?since=0' | jq .last)"
out="$(prune)"
assert_eq "1 0" "$(jq -r '"\(.locked) \(.deleted)"' <<<"$out")" "prune: locked, deleted"
assert_eq 0 "$(proxy_api GET "/log?since=$since&op=DeleteObjects" | jq '.entries | length')" "deletes sent for known-locked backups"
unset SQLVAULT_BUCKET_LOCK
# the knob is the whole store's; the bucket's rule covers $ws only
oo="$("$SV_BIN" prune "$other" --inline --json)" || fail "prune of $other failed: $oo"
assert_eq "2 0" "$(jq -r '"\(.deleted) \(.locked)"' <<<"$oo")" "$other (outside the lock's prefix): deleted, locked"
assert_eq "$o3" "$(folders "$other")" "$other keeps its newest"

step "4. the lock lifted: the next prune deletes what aged out, the chains whole"
locks "[]"
out="$(prune)"
assert_eq "0 1" "$(jq -r '"\(.locked) \(.deleted)"' <<<"$out")" "locked, deleted"
assert_eq "$(printf '%s\n' "$B" "$B1" | sort)" "$(folders "$ws")" "B and B1 left"
restorable "$B1" "$B"
sv_pass
