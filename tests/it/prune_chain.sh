#!/usr/bin/env bash
# prune_chain.sh -- retention that understands chains, against the S3 server
# behind the R2-rules proxy, with a fake "now" (SQLVAULT_FAKE_NOW; S3
# signatures keep the real clock).
#
# Part 1 builds chains directly in the bucket: folders full/WS/TS/ holding
# pages-PARENT.zst and a metadata.json as include/chain.h describes (the
# pages need not be restorable for prune): fulls and links over ten days, a
# day with no full, a broken chain inside a window and one outside every
# window, a verified link deep in an old chain, an uncommitted incremental
# folder older than a day and a fresh one. The policy all:2d,daily:7d must
# give exactly the decisions restated here (rule, base of, link of, broken
# chain), --dry-run must show them, and the real prune must leave exactly
# the kept folders (every key of a deleted folder gone, pages-*.zst too).
#
# Part 2 writes restorable chains (tests/tools/sv_chaingen, the format of
# chain.h) over five days, including a day without a full: the prune keeps
# that day's newest link with its chain into the day before, and every kept
# point restores (restore --from) to exactly its content.
#
# Part 3 does the same with the backup side's own chains (backup, --full,
# SQLVAULT_FULL_EVERY) made under a moving fake clock, a link across
# midnight included: the day without a full keeps that link and its chain.
source "$(dirname "$0")/lib.sh"
sv_setup
export SQLVAULT_LOG_FORMAT=text
export SQLVAULT_RETENTION=all:2d,daily:7d
WS=chainws
# "now": noon, 20 days ahead of the real clock, so that every object put
# now is older than a day by its mtime (the uncommitted-folder sweep looks at
# both the folder's name and its newest object).
NOW_MS=$(( ($(date +%s) / 86400 + 20) * 86400000 + 12 * 3600000 ))
export SQLVAULT_FAKE_NOW="$NOW_MS"

step "seed a real full's metadata, then build ten days of chains in the bucket"
make_workspace "$WS" 50
SEED="$SV_SCRATCH/seed"
SQLVAULT_STORE="file://$SEED" "$SV_BIN" backup "$WS" --inline --ts "$((NOW_MS - 30 * 86400000))" >/dev/null ||
  fail "seed backup failed"
SEED_DIR="$(ls -d "$SEED/full/$WS"/*/ | head -1)"
[[ -s "$SEED_DIR/metadata.json" ]] || fail "seed backup incomplete"
TREE="$SV_SCRATCH/tree"
python3 - "$SEED_DIR" "$TREE/$SV_PREFIX" "$WS" "$NOW_MS" >"$SV_SCRATCH/expected.tsv" <<'PY'
import json, os, sys, datetime
seed, root, ws, now = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
H, D, M = 3600000, 86400000, 60000
D0 = now // D * D
meta = json.load(open(os.path.join(seed, "metadata.json")))
def ts(ms):
    t = datetime.datetime.fromtimestamp(ms // 1000, datetime.timezone.utc)
    return t.strftime("%Y%m%dT%H%M%S.") + "%03dZ" % (ms % 1000)
def at(day, h, m=0): return D0 + day * D + h * H + m * M
folders = []  # (ms, parent ms or None, committed, verified, expected action, reason)
def add(ms, parent, act, why, committed=True, verified=False):
    folders.append((ms, parent, committed, verified, act, why))
# day -10: an expired chain
add(at(-10, 8), None, "delete", "expired")
add(at(-10, 8, 10), at(-10, 8), "delete", "expired")
add(at(-10, 8, 20), at(-10, 8, 10), "delete", "expired")
# day -9: a broken link outside every window
add(at(-9, 10), at(-9, 9, 30), "delete", "broken chain (%s missing), expired" % ts(at(-9, 9, 30)))
# day -7: the daily window starts at 12:00; the 20:00 full is the day's point
add(at(-7, 8), None, "delete", "expired")
add(at(-7, 9), at(-7, 8), "delete", "expired")
add(at(-7, 20), None, "keep", "daily:7d")
# day -6: two fulls with links; the newest full is the point; a verified link
# in the morning chain is pinned with its base
add(at(-6, 8), None, "keep", "base of " + ts(at(-6, 8, 10)))
add(at(-6, 8, 10), at(-6, 8), "keep", "newest verified", verified=True)
add(at(-6, 8, 20), at(-6, 8, 10), "delete", "superseded (daily:7d)")
add(at(-6, 20), None, "keep", "daily:7d")
add(at(-6, 20, 10), at(-6, 20), "delete", "superseded (daily:7d)")
# day -5: a full at 20:00 and links; day -4 has links only, so its point is
# its newest link, with the chain back to day -5's full
add(at(-5, 20), None, "keep", "daily:7d")
add(at(-5, 20, 10), at(-5, 20), "keep", "link of " + ts(at(-4, 2)))
add(at(-5, 20, 20), at(-5, 20, 10), "keep", "link of " + ts(at(-4, 2)))
add(at(-4, 1), at(-5, 20, 20), "keep", "link of " + ts(at(-4, 2)))
add(at(-4, 2), at(-4, 1), "keep", "daily:7d")
# day -3: a full, a link, and a broken link inside the daily window
add(at(-3, 9), None, "keep", "daily:7d")
add(at(-3, 9, 10), at(-3, 9), "delete", "superseded (daily:7d)")
add(at(-3, 15), at(-3, 14), "keep", "broken chain (%s missing), in daily:7d" % ts(at(-3, 14)))
# an uncommitted incremental folder three days old: swept
add(at(-3, 6), at(-3, 5), "sweep", "", committed=False)
# day -2: the all:2d window starts at 12:00; the 14:00 link needs its chain
add(at(-2, 8), None, "keep", "daily:7d")
add(at(-2, 10), at(-2, 8), "keep", "link of " + ts(at(-2, 14)))
add(at(-2, 14), at(-2, 10), "keep", "all:2d")
# day -1: everything inside all:2d, a broken pair too
add(at(-1, 8), None, "keep", "all:2d")
add(at(-1, 8, 10), at(-1, 8), "keep", "all:2d")
add(at(-1, 8, 20), at(-1, 8, 10), "keep", "all:2d")
add(at(-1, 10), at(-1, 9, 30), "keep", "broken chain (%s missing), in all:2d" % ts(at(-1, 9, 30)))
add(at(-1, 10, 10), at(-1, 10), "keep", "broken chain (%s missing), in all:2d" % ts(at(-1, 9, 30)))
# today: the newest, a link on yesterday's chain; an uncommitted fresh folder stays
add(at(0, 11, 30), at(-1, 8, 20), "keep", "all:2d")
add(at(0, 11), at(0, 10), "stay", "", committed=False)
for ms, parent, committed, verified, act, why in folders:
    d = os.path.join(root, "full", ws, ts(ms))
    os.makedirs(d, exist_ok=True)
    if parent is None:
        obj = "livestore.db.zst"
        m = dict(meta, timestamp=ts(ms), backupType="full", chainLength=0)
    else:
        obj = "pages-%s.zst" % ts(parent)
        m = dict(meta, timestamp=ts(ms), backupType="incremental", object=obj, parent=ts(parent),
                 changedPages=1)
    open(os.path.join(d, obj), "wb").write(b"not a real page stream")
    if committed: json.dump(m, open(os.path.join(d, "metadata.json"), "w"))
    if verified: json.dump({"ok": True}, open(os.path.join(d, "verify.json"), "w"))
    print("\t".join([ts(ms), act, why, obj, "1" if verified else "0"]))
PY
aws_s3 s3 sync --only-show-errors "$TREE/$SV_PREFIX" "s3://$SV_S3_BUCKET/$SV_PREFIX" ||
  fail "seeding the bucket failed"
NKEEP=$(awk -F'\t' '$2=="keep"' "$SV_SCRATCH/expected.tsv" | wc -l)
NDEL=$(awk -F'\t' '$2=="delete"' "$SV_SCRATCH/expected.tsv" | wc -l)
note "$(wc -l <"$SV_SCRATCH/expected.tsv") folders: $NKEEP to keep, $NDEL to delete, 1 leftover to sweep"

step "dry run: every decision and its chain reason, exactly as restated, nothing deleted"
before="$(s3_keys | sort | sha256sum)"
out="$("$SV_BIN" prune "$WS" --inline --dry-run --json)" || fail "dry run failed: $out"
printf '%s' "$out" >"$SV_SCRATCH/dry.json"
python3 - "$SV_SCRATCH/expected.tsv" "$SV_SCRATCH/dry.json" >"$SV_SCRATCH/diff" <<'PY' || fail "comparing the decisions failed"
import json, sys
r = json.load(open(sys.argv[2]))
want = {}
for line in open(sys.argv[1]):
    ts, act, why, obj, ver = line.rstrip("\n").split("\t")
    if act in ("keep", "delete"): want[ts] = (act, why, obj[6:26] if obj.startswith("pages-") else None)
got = {d["ts"]: (d["action"], d["reason"], d.get("parent")) for d in r["decisions"]}
for ts in sorted(set(want) | set(got)):
    if want.get(ts) != got.get(ts): print("%s: want %s got %s" % (ts, want.get(ts), got.get(ts)))
PY
[[ ! -s "$SV_SCRATCH/diff" ]] || fail "decisions differ from the restatement:
$(cat "$SV_SCRATCH/diff")"
read -r kept deleted leftovers broken < <(jq -r '"\(.kept) \(.deleted) \(.leftovers) \(.broken)"' <<<"$out")
assert_eq "$NKEEP" "$kept" "kept"
assert_eq "$NDEL" "$deleted" "would delete"
assert_eq 1 "$leftovers" "old uncommitted incremental folders"
assert_eq 4 "$broken" "broken incrementals"
assert_eq "$before" "$(s3_keys | sort | sha256sum)" "objects after the dry run (hash of the listing)"
text="$("$SV_BIN" prune "$WS" --inline --dry-run)" || fail "text dry run failed"
for want in "base of " "link of " "broken chain (" "newest verified" "superseded (daily:7d)"; do
  assert_contains "$text" "$want" "the dry-run table explains the chains"
done
printf '%s\n' "$text" | while IFS= read -r l; do note "$l"; done

step "the real prune: exactly the kept folders remain, every key of the others is gone"
out="$("$SV_BIN" prune "$WS" --inline --json)" || fail "prune failed: $out"
assert_eq "$NDEL" "$(jq -r .deleted <<<"$out")" "deleted"
s3_keys "${SV_PREFIX}full/$WS/" >"$SV_SCRATCH/keys"
python3 - "$SV_SCRATCH/expected.tsv" "${SV_PREFIX}full/$WS/" "$SV_SCRATCH/keys" >"$SV_SCRATCH/diff2" <<'PY' || fail "comparing the objects failed"
import sys
prefix = sys.argv[2]
want = set()
for line in open(sys.argv[1]):
    ts, act, why, obj, ver = line.rstrip("\n").split("\t")
    if act == "keep":
        want |= {prefix + ts + "/" + obj, prefix + ts + "/metadata.json"}
        if ver == "1": want.add(prefix + ts + "/verify.json")
    elif act == "stay":
        want.add(prefix + ts + "/" + obj)
got = {k.strip() for k in open(sys.argv[3]) if k.strip()}
for k in sorted(want - got): print("missing " + k)
for k in sorted(got - want): print("left over " + k)
PY
[[ ! -s "$SV_SCRATCH/diff2" ]] || fail "objects after the prune differ:
$(cat "$SV_SCRATCH/diff2")"
note "ok: $(s3_keys "${SV_PREFIX}full/$WS/" | wc -l) objects left, as expected"
out="$("$SV_BIN" prune "$WS" --inline --json)" || fail "second prune failed: $out"
assert_eq 0 "$(jq -r .deleted <<<"$out")" "deleted by a second prune"
assert_eq "$NKEEP" "$(jq -r .kept <<<"$out")" "kept by a second prune"

# ---------------------------------------------------------------- part 2
step "restorable chains (tests/tools/sv_chaingen, the format of chain.h): prune, then every kept point restores"
source "$SV_SOURCE_DIR/tests/tools/restore_lib.sh"
GEN="$SV_BUILD_DIR/sv_chaingen"
[[ -x "$GEN" ]] || fail "missing $GEN (build the tests/tools)"
WS2=chaingen
LIVE="$SQLVAULT_DATA_DIR/$WS2/livestore.db"
SNAP="$SV_SCRATCH/snap"
mkdir -p "$SNAP"
H=3600000 D=86400000
D0=$(( NOW_MS / D * D ))
tsof() { python3 -c 'import sys,datetime as d; m=int(sys.argv[1]); t=d.datetime.fromtimestamp(m//1000, d.timezone.utc); print(t.strftime("%Y%m%dT%H%M%S.")+"%03dZ"%(m%1000))' "$1"; }
declare -a PTS PHASH
# point I MS PARENT_I: change the live file, snapshot it, store it as a full
# (PARENT_I "-") or as an incremental of point PARENT_I.
point() {
  local i="$1" ms="$2" par="$3" out
  sqlite3 "$LIVE" "INSERT INTO todos (id, title) VALUES ('p$i', 'point $i'); UPDATE eventlog SET args = hex(randomblob(20)) WHERE seq % 7 = $i % 7; PRAGMA wal_checkpoint(TRUNCATE)" >/dev/null
  cp "$LIVE" "$SNAP/$i.db"
  PTS[$i]="$(tsof "$ms")"
  PHASH[$i]="$(db_sha3 "$SNAP/$i.db")"
  if [[ "$par" == - ]]; then
    out="$("$GEN" full "$WS2" "${PTS[$i]}" "$SNAP/$i.db")" || fail "full $i: $out"
  else
    out="$("$GEN" incr "$WS2" "${PTS[$i]}" "${PTS[$par]}" "$SNAP/$par.db" "$SNAP/$i.db")" || fail "incr $i: $out"
  fi
}
make_workspace "$WS2" 300
# day -5: a full and a link in the morning, a full and a link at night (the day's point: the 20:00 full)
point 0 $((D0 - 5 * D + 9 * H)) -
point 1 $((D0 - 5 * D + 9 * H + 300000)) 0
point 2 $((D0 - 5 * D + 20 * H)) -
point 3 $((D0 - 5 * D + 20 * H + 300000)) 2
# day -4: links only: its point is the 10:00 link, with its chain back to day -5's 20:00 full
point 4 $((D0 - 4 * D + 8 * H)) 3
point 5 $((D0 - 4 * D + 10 * H)) 4
# day -1: inside all:2d, a full and two links
point 6 $((D0 - 1 * D + 9 * H)) -
point 7 $((D0 - 1 * D + 9 * H + 300000)) 6
point 8 $((D0 - 1 * D + 9 * H + 600000)) 7
out="$("$SV_BIN" prune "$WS2" --inline --dry-run --json)" || fail "dry run failed: $out"
reason() { jq -r --arg t "$1" '.decisions[] | select(.ts == $t) | "\(.action) \(.reason)"' <<<"$out"; }
assert_eq "delete superseded (daily:7d)" "$(reason "${PTS[0]}")" "point 0"
assert_eq "delete superseded (daily:7d)" "$(reason "${PTS[1]}")" "point 1"
assert_eq "keep daily:7d" "$(reason "${PTS[2]}")" "point 2"
assert_eq "keep link of ${PTS[5]}" "$(reason "${PTS[3]}")" "point 3"
assert_eq "keep link of ${PTS[5]}" "$(reason "${PTS[4]}")" "point 4"
assert_eq "keep daily:7d" "$(reason "${PTS[5]}")" "point 5"
for i in 6 7 8; do assert_eq "keep all:2d" "$(reason "${PTS[$i]}")" "point $i"; done
out="$("$SV_BIN" prune "$WS2" --inline --json)" || fail "prune failed: $out"
assert_eq 2 "$(jq -r .deleted <<<"$out")" "deleted"
assert_eq 0 "$(s3_keys "${SV_PREFIX}full/$WS2/${PTS[0]}/" | wc -l)" "objects left of point 0"
assert_eq 0 "$(s3_keys "${SV_PREFIX}full/$WS2/${PTS[1]}/" | wc -l)" "objects left of point 1 (its page stream too)"
for i in 2 3 4 5 6 7 8; do
  rout="$("$SV_BIN" restore "$WS2" --from "${PTS[$i]}" --yes --inline --json 2>"$SV_SCRATCH/restore.err")" ||
    fail "restore --from ${PTS[$i]} failed: $(tail -3 "$SV_SCRATCH/restore.err")"
  assert_eq "${PHASH[$i]}" "$(db_sha3 "$LIVE")" "content after restoring kept point $i (${PTS[$i]})"
  assert_eq ok "$(db_integrity "$LIVE")" "integrity after restoring point $i"
done

# ---------------------------------------------------------------- part 3
step "the backup side's chains under a moving fake clock: prune, then every kept point restores"
WS3=chainreal
export SQLVAULT_FULL_EVERY=24h SQLVAULT_STATE_DIR="$SV_SCRATCH/state"
DB="$SQLVAULT_DATA_DIR/$WS3/livestore.db"
make_workspace "$WS3" 200
declare -A RHASH
declare -a RTS
# backup_at MS [--full]: one backup with the clock at MS; prints its folder ts
backup_at() {
  local res
  res="$(SQLVAULT_FAKE_NOW="$1" "$SV_BIN" backup "$WS3" --inline --json ${2:-})" || fail "backup at $1 failed: $res"
  jq -r '.ts // empty' <<<"$res"
}
write_some() {
  sqlite3 "$DB" "INSERT INTO todos (id, title) VALUES ('r$1', 'row $1'); UPDATE eventlog SET args = hex(randomblob(16)) WHERE seq % 9 = $1 % 9" >/dev/null
}
# day -4 (past all:2d): a full at 09:00 and links at 09:05 and 09:10, the
# full is the day's point and the links go; day -3: a full at 20:00 and a
# link at 20:05; day -2 (its noon is the all:2d cutoff): one link at 01:00 on
# that chain (the base is 5 hours old), so day -2's point is that link, with
# its chain into day -3; day -1 (inside all:2d): a full and two links, kept
n=0
for spec in "-4 9 0 --full" "-4 9 5" "-4 9 10" "-3 20 0 --full" "-3 20 5" "-2 1 0" "-1 9 0 --full" "-1 9 5" "-1 9 10"; do
  read -r day hh mm flag <<<"$spec"
  write_some $((n += 1))
  ts="$(backup_at $(( D0 + day * D + hh * H + mm * 60000 )) ${flag:-})"
  [[ -n "$ts" ]] || fail "no folder ts in the backup result"
  RHASH[$ts]="$(db_sha3 "$DB")"
  RTS+=("$ts")
done
nincr=$(s3_keys "${SV_PREFIX}full/$WS3/" | grep -c '/pages-.*\.zst$' || true)
note "backups: ${RTS[*]}; incrementals: $nincr"
assert_eq 6 "$nincr" "incrementals the backup side made"
assert_eq "pages-${RTS[4]}.zst" "$(s3_keys "${SV_PREFIX}full/$WS3/${RTS[5]}/" | grep -o 'pages-.*' || true)" "day -2's link builds on day -3's"
out="$("$SV_BIN" prune "$WS3" --inline --dry-run --json)" || fail "dry run failed: $out"
reason() { jq -r --arg t "$1" '.decisions[] | select(.ts == $t) | "\(.action) \(.reason)"' <<<"$out"; }
want=("keep daily:7d" "delete superseded (daily:7d)" "delete superseded (daily:7d)"
      "keep daily:7d" "keep link of ${RTS[5]}" "keep daily:7d" "keep all:2d" "keep all:2d" "keep all:2d")
for i in "${!want[@]}"; do assert_eq "${want[$i]}" "$(reason "${RTS[$i]}")" "backup $i (${RTS[$i]})"; done
out="$("$SV_BIN" prune "$WS3" --inline --json)" || fail "prune failed: $out"
assert_eq 2 "$(jq -r .deleted <<<"$out")" "deleted"
for i in 0 3 4 5 6 7 8; do
  ts="${RTS[$i]}"
  "$SV_BIN" restore "$WS3" --from "$ts" --yes --inline >/dev/null 2>"$SV_SCRATCH/restore.err" ||
    fail "restore --from $ts failed: $(tail -3 "$SV_SCRATCH/restore.err")"
  assert_eq "${RHASH[$ts]}" "$(db_sha3 "$DB")" "content after restoring kept point $ts"
  assert_eq ok "$(db_integrity "$DB")" "integrity after restoring $ts"
done
sv_pass
