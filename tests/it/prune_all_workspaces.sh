#!/usr/bin/env bash
# prune_all_workspaces.sh -- `sqlvault prune` with no workspace, against the
# S3 server behind the R2-rules proxy (which folds full/ at "/" as R2 does:
# s3rver alone lists no workspace there), with a fake "now" (S3 signatures
# keep the real clock). Five workspaces in different retention situations
# under policy all:2d,daily:7d, backed up for real (incrementals where a
# chain matters):
#   team    fulls and links over four days: two superseded links go, a
#           day's newest link keeps its chain into the day before
#   team-2  three fulls older than every window: the newest stays ("newest")
#   team_3  three backups inside all:2d: all stay
#   solo    one full a month old: it stays ("newest")
#   daily   two fulls a day for three days: the morning ones go
# plus a folder full/team.3/ that is no workspace id (skipped, untouched),
# and a second store in a sibling prefix (untouched). The dry run finds the
# five and deletes nothing; the real prune (its folded listing in pages of
# two, the proxy's listMaxKeys) leaves exactly the kept folders, every chain
# whole, a second prune deletes nothing, and every kept backup restores to
# its content.
source "$(dirname "$0")/lib.sh"
sv_setup
source "$SV_SOURCE_DIR/tests/tools/restore_lib.sh"
export SQLVAULT_LOG_FORMAT=text
export SQLVAULT_RETENTION=all:2d,daily:7d
export SQLVAULT_FULL_EVERY=24h SQLVAULT_STATE_DIR="$SV_SCRATCH/state"
H=3600000 D=86400000 M=60000
# "now": noon, 20 days ahead of the real clock
NOW_MS=$(( ($(date +%s) / 86400 + 20) * 86400000 + 12 * H ))
D0=$(( NOW_MS / D * D ))
sv_on_exit "curl -fsS -X POST --data '{\"listMaxKeys\":1000}' '$SV_PROXY_CONTROL/config'"

declare -A HASH KEEP
WSS=(team team-2 team_3 solo daily)
# backup_at WS DAY HH MM [--full]: change WS, back it up with the clock at
# day DAY (from today) HH:MM; records the folder, its content and whether
# the policy keeps it (KEEP_NEXT: 1 or 0).
backup_at() {
  local ws="$1" ms=$(( D0 + $2 * D + $3 * H + $4 * M )) res ts
  local db="$SQLVAULT_DATA_DIR/$ws/livestore.db"
  sqlite3 "$db" "INSERT INTO todos (id, title) VALUES ('r$ms', 'row $ms'); UPDATE eventlog SET args = hex(randomblob(16)) WHERE seq % 9 = $4 % 9" >/dev/null
  res="$(SQLVAULT_FAKE_NOW="$ms" "$SV_BIN" backup "$ws" --inline --json ${5:-})" || fail "backup of $ws at $ms failed: $res"
  ts="$(jq -r '.ts // empty' <<<"$res")"
  [[ -n "$ts" ]] || fail "no folder ts in the backup result: $res"
  HASH[$ws/$ts]="$(db_sha3 "$db")"
  KEEP[$ws/$ts]="$KEEP_NEXT"
}

step "back up five workspaces, each in its own retention situation"
for ws in "${WSS[@]}"; do make_workspace "$ws" 100; done
# team (as prune_chain part 3): day -4 a full at 09:00 and links at 09:05
# and 09:10 (the links are superseded); day -3 a full at 20:00 and a link at
# 20:05; day -2 one link at 01:00 on that chain (day -2's point, so its
# chain stays); day -1 a full and two links (inside all:2d)
for spec in "-4 9 0 --full 1" "-4 9 5 - 0" "-4 9 10 - 0" "-3 20 0 --full 1" "-3 20 5 - 1" "-2 1 0 - 1" \
  "-1 9 0 --full 1" "-1 9 5 - 1" "-1 9 10 - 1"; do
  read -r day hh mm flag KEEP_NEXT <<<"$spec"
  [[ "$flag" == - ]] && flag=""
  backup_at team "$day" "$hh" "$mm" $flag
done
for spec in "-12 10 0 0" "-11 10 0 0" "-10 10 0 1"; do
  read -r day hh mm KEEP_NEXT <<<"$spec"
  backup_at team-2 "$day" "$hh" "$mm" --full
done
for spec in "-1 13 0 1" "0 8 0 1" "0 9 0 1"; do
  read -r day hh mm KEEP_NEXT <<<"$spec"
  backup_at team_3 "$day" "$hh" "$mm" --full
done
KEEP_NEXT=1 backup_at solo -30 10 0 --full
for spec in "-5 8 0 0" "-5 20 0 1" "-4 8 0 0" "-4 20 0 1" "-3 7 0 0" "-3 19 0 1"; do
  read -r day hh mm KEEP_NEXT <<<"$spec"
  backup_at daily "$day" "$hh" "$mm" --full
done
nincr=$(s3_keys "${SV_PREFIX}full/team/" | grep -c '/pages-.*\.zst$' || true)
assert_eq 6 "$nincr" "incrementals of team"
assert_eq 0 "$(s3_keys "${SV_PREFIX}full/" | grep -v '/team/' | grep -c '/pages-' || true)" "incrementals elsewhere"
NKEEP=0 NDEL=0
for k in "${!KEEP[@]}"; do if ((KEEP[$k])); then NKEEP=$((NKEEP + 1)); else NDEL=$((NDEL + 1)); fi; done
note "${#KEEP[@]} backups: $NKEEP to keep, $NDEL to delete"

# a folder under full/ that is no workspace id, and a second store beside ours
echo "not a backup" >"$SV_SCRATCH/junk"
s3_put "$SV_SCRATCH/junk" "${SV_PREFIX}full/team.3/20200101T000000.000Z/livestore.db.zst"
s3_put "$SV_SCRATCH/junk" "${SV_PREFIX}full/team.3/20200101T000000.000Z/metadata.json"
OTHER="${SV_TEST_ID}-other/"
for day in -12 -11; do
  SQLVAULT_STORE="s3://$SV_S3_BUCKET/$OTHER" SQLVAULT_FAKE_NOW=$(( D0 + day * D + 10 * H )) \
    "$SV_BIN" backup solo --inline --full >/dev/null || fail "backup into the second store failed"
done
other_before="$(s3_keys "$OTHER" | sort | sha256sum)"
assert_eq 4 "$(s3_keys "$OTHER" | wc -l)" "objects of the second store"
# keys_of WS: the folder/object names of WS's backups, sorted
keys_of() { s3_keys "${SV_PREFIX}full/$1/" | sed "s|^${SV_PREFIX}full/$1/||" | sort; }

step "behind the proxy, s3rver itself lists no workspace under full/"
direct="$(aws_s3 s3api list-objects-v2 --bucket "$SV_S3_BUCKET" --prefix "${SV_PREFIX}full/" --delimiter / \
  --query 'length(CommonPrefixes || `[]`)' --output text)"
note "s3rver: $direct common prefixes under full/ (the proxy: 6)"

step "dry run of every workspace: all five found, decisions per policy, nothing deleted"
before="$(s3_keys | sort | sha256sum)"
export SQLVAULT_FAKE_NOW="$NOW_MS"
out="$("$SV_BIN" prune --inline --dry-run --json 2>"$SV_SCRATCH/dry.err")" || fail "dry run failed: $out $(cat "$SV_SCRATCH/dry.err")"
printf '%s\n' "$out" >"$SV_SCRATCH/dry.json"
assert_eq "5 $NKEEP $NDEL 0 0" "$(jq -r '"\(.workspaces) \(.kept) \(.deleted) \(.broken) \(.workspaces_busy)"' <<<"$out")" \
  "workspaces, kept, would delete, broken, busy"
assert_contains "$(cat "$SV_SCRATCH/dry.err")" "skipping folder full/team.3/ (not a workspace id)" "the folder that is no workspace id"
# per workspace: the decisions' workspaces, deletes (a run counts "count"), reasons
dec() { jq -r --arg w "$1" "[.decisions[] | select(.workspace == \$w) | $2]" <<<"$out"; }
assert_eq '["daily","solo","team","team-2","team_3"]' "$(jq -c '[.decisions[].workspace] | unique' <<<"$out")" \
  "workspaces in the decisions"
for ws in "${WSS[@]}"; do
  want=0
  for k in "${!KEEP[@]}"; do [[ "${k%%/*}" == "$ws" ]] && ((KEEP[$k] == 0)) && want=$((want + 1)); done
  got="$(jq --arg w "$ws" '[.decisions[] | select(.workspace == $w and .action == "delete") | (.count // 1)] | add // 0' <<<"$out")"
  assert_eq "$want" "$got" "deletes decided for $ws"
done
assert_contains "$(dec team '.reason')" "link of " "team keeps a chain"
assert_contains "$(dec team '.reason')" "superseded (daily:7d)" "team's superseded links"
assert_contains "$(dec team-2 '"\(.action) \(.reason)"')" "keep newest" "team-2's pin"
assert_contains "$(dec team-2 '"\(.action) \(.reason)"')" "delete expired" "team-2's old fulls"
assert_contains "$(dec solo '"\(.action) \(.reason)"')" "keep newest" "solo's pin"
assert_eq '["keep all:2d"]' "$(jq -c --arg w team_3 '[.decisions[] | select(.workspace == $w) | "\(.action) \(.reason)"] | unique' <<<"$out")" "team_3"
assert_contains "$(dec daily '"\(.action) \(.reason)"')" "delete superseded (daily:7d)" "daily's mornings"
assert_eq "$before" "$(s3_keys | sort | sha256sum)" "objects after the dry run (hash of the listing)"
log="$(proxy_log ListObjectsV2 | jq -c "select(.listPrefix == \"${SV_PREFIX}full/\" and (.query | index(\"delimiter\")))")"
assert_eq 1 "$(grep -c . <<<"$log")" "folded listings of full/ in the dry run (one page)"
assert_eq 6 "$(jq -r '.folded.prefixes' <<<"$log")" "common prefixes the proxy answered"

step "the real prune, its listing of full/ in pages of two: exactly the kept folders remain"
proxy_api POST /config '{"listMaxKeys":2}' >/dev/null
since="$(proxy_api GET '/log?since=0' | jq .last)"
out="$("$SV_BIN" prune --inline --json 2>"$SV_SCRATCH/prune.err")" || fail "prune failed: $out $(cat "$SV_SCRATCH/prune.err")"
proxy_api POST /config '{"listMaxKeys":1000}' >/dev/null
assert_eq "5 $NDEL" "$(jq -r '"\(.workspaces) \(.deleted)"' <<<"$out")" "workspaces, deleted"
pages="$(proxy_api GET "/log?since=$since&op=ListObjectsV2" |
  jq -c "[.entries[] | select(.listPrefix == \"${SV_PREFIX}full/\" and (.query | index(\"delimiter\")))]")"
assert_eq "3 2" "$(jq -r '"\(length) \([.[] | select(.query | index("continuation-token"))] | length)"' <<<"$pages")" \
  "folded pages of full/ (and those with a continuation token)"
for ws in "${WSS[@]}"; do
  want=""
  for k in "${!KEEP[@]}"; do
    [[ "${k%%/*}" == "$ws" ]] && ((KEEP[$k])) && want+="${k#*/}"$'\n'
  done
  got="$(keys_of "$ws" | cut -d/ -f1 | sort -u)"
  assert_eq "$(sort <<<"${want%$'\n'}")" "$got" "folders left of $ws"
done
assert_eq 2 "$(keys_of team.3 | wc -l)" "objects of full/team.3/"
assert_eq "$other_before" "$(s3_keys "$OTHER" | sort | sha256sum)" "the second store (hash of its listing)"

step "every chain is whole: each kept link's parent is a committed folder"
s3_keys "${SV_PREFIX}full/" | python3 -c '
import sys, collections
folders = collections.defaultdict(set)
for k in sys.stdin:
    *head, name = k.strip().split("/")
    folders["/".join(head)].add(name)
links = bad = 0
for f, names in folders.items():
    for n in names:
        if n.startswith("pages-") and n.endswith(".zst"):
            links += 1
            parent = f.rsplit("/", 1)[0] + "/" + n[6:-4]
            if "metadata.json" not in folders.get(parent, ()):
                bad += 1
                print("broken:", f, "->", parent, file=sys.stderr)
print(links, bad)' >"$SV_SCRATCH/chains"
read -r links bad <"$SV_SCRATCH/chains"
assert_eq 0 "$bad" "links whose parent is gone"
assert_eq 4 "$links" "links kept (team: day -3's link, day -2's, day -1's two)"

step "a second prune of every workspace deletes nothing"
out="$("$SV_BIN" prune --inline --json 2>/dev/null)" || fail "second prune failed: $out"
assert_eq "5 $NKEEP 0" "$(jq -r '"\(.workspaces) \(.kept) \(.deleted)"' <<<"$out")" "workspaces, kept, deleted"

step "every kept backup restores to its content (each restore uploads its pre-restore backup)"
n=0
for k in "${!KEEP[@]}"; do
  ((KEEP[$k])) || continue
  ws="${k%%/*}" ts="${k#*/}"
  "$SV_BIN" restore "$ws" --from "$ts" --yes --inline >/dev/null 2>"$SV_SCRATCH/restore.err" ||
    fail "restore of $ws --from $ts failed: $(tail -3 "$SV_SCRATCH/restore.err")"
  [[ "$(db_sha3 "$SQLVAULT_DATA_DIR/$ws/livestore.db")" == "${HASH[$k]}" ]] ||
    fail "content after restoring $ws at $ts differs"
  [[ "$(db_integrity "$SQLVAULT_DATA_DIR/$ws/livestore.db")" == ok ]] || fail "integrity after restoring $ws at $ts"
  n=$((n + 1))
done
assert_eq "$NKEEP" "$n" "kept backups restored with their content and integrity"

sv_pass
