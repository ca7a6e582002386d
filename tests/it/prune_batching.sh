#!/usr/bin/env bash
# prune against the S3 server: 1600 six-hourly backups over 400 days (3200+
# objects, so DeleteObjects is batched), the default policy keeps exactly the
# set an independent restatement of it computes (about 455); a prune
# interrupted after its first DeleteObjects, twice, at different points,
# never leaves a backup that lists as committed without its snapshot; the
# final prune also sweeps uncommitted folders, exports and uploads older than
# a day and keeps the younger ones; on a file store, old temporary files
# (the file driver's unfinished uploads) go too.
source "$(dirname "$0")/lib.sh"
sv_setup

WS=prunews
HOUR=3600000
: "${SV_S3_DATA_DIR:?SV_S3_DATA_DIR (the data dir of s3rver, exported by tests/servers/services.sh) is needed to age objects}"
# No fake clock here: S3 signatures carry the time and the proxy refuses a
# skewed one. Backups sit 30 minutes off the 6-hour grid of "now", so the
# windows' edges are half an hour away from any backup for the whole test.
NOW_MS=$(($(date +%s) * 1000))
BASE=$((NOW_MS / 60000 * 60000 - HOUR / 2))
export SQLVAULT_RETENTION=all:30d,daily:365d

step "seed one real backup into a file store and replicate it into 1600 backup folders"
make_workspace "$WS" 200
SEED="$SV_SCRATCH/seed"
SQLVAULT_STORE="file://$SEED" "$SV_BIN" backup "$WS" --inline --ts "$BASE" >/dev/null ||
  fail "seed backup failed"
SEED_DIR="$(ls -d "$SEED/full/$WS"/*/ | head -1)"
[[ -s "$SEED_DIR/livestore.db.zst" && -s "$SEED_DIR/metadata.json" ]] || fail "seed backup incomplete"
TREE="$SV_SCRATCH/tree"
python3 - "$SEED_DIR" "$TREE/$SV_PREFIX" "$WS" "$BASE" "$NOW_MS" >"$SV_SCRATCH/aged" <<'PY'
import json, os, sys, datetime
seed, root, ws, base, now = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
meta = json.load(open(os.path.join(seed, "metadata.json")))
def fmt(ms, f):
    t = datetime.datetime.fromtimestamp(ms // 1000, datetime.timezone.utc)
    return t.strftime(f) + "%03dZ" % (ms % 1000)
H, D = 3600000, 86400000
for i in range(1600):
    ms = base - i * 6 * H
    d = os.path.join(root, "full", ws, fmt(ms, "%Y%m%dT%H%M%S."))
    os.makedirs(d, exist_ok=True)
    os.link(os.path.join(seed, "livestore.db.zst"), os.path.join(d, "livestore.db.zst"))
    json.dump(dict(meta, timestamp=fmt(ms, "%Y-%m-%dT%H:%M:%S.")), open(os.path.join(d, "metadata.json"), "w"))
# uncommitted folders: (name age, object aged?) -> removed only when both are old
aged = []
for ms, old in ((base - 10 * D + 7, True), (base - 3 * D + 7, True), (now - H + 7, True), (base - 5 * D + 9, False)):
    rel = "full/%s/%s/livestore.db.zst" % (ws, fmt(ms, "%Y%m%dT%H%M%S."))
    os.makedirs(os.path.dirname(os.path.join(root, rel)), exist_ok=True)
    open(os.path.join(root, rel), "wb").write(b"partial")
    if old: aged.append(rel)
for rel, old in (("exports/%s/job1/%s-x.db" % (ws, ws), True), ("exports/%s/job2/%s-y.db" % (ws, ws), False),
                 ("exports/%s/job3/%s-z.db" % (ws, ws), "3d"),
                 ("uploads/%s/u1.db" % ws, True), ("uploads/%s/u2.db" % ws, False)):
    p = os.path.join(root, rel)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    open(p, "wb").write(b"old")
    if old: aged.append(rel + ("" if old is True else " " + old))
print("\n".join(aged))
PY
aws_s3 s3 sync --only-show-errors "$TREE/$SV_PREFIX" "s3://$SV_S3_BUCKET/$SV_PREFIX" ||
  fail "seeding the bucket failed"
# age objects: s3rver reports its files' mtimes as LastModified
# (exports live 7 days and an hour, as long as the longest download URL:
# an old one is 8 days old, job3's is 3 days old and stays)
while read -r rel age; do
  f="$SV_S3_DATA_DIR/$SV_S3_BUCKET/$SV_PREFIX$rel._S3rver_object"
  [[ -f "$f" ]] || fail "s3rver object file $f not found"
  if [[ -n "$age" ]]; then touch -d '3 days ago' "$f"
  elif [[ "$rel" == exports/* ]]; then touch -d '8 days ago' "$f"
  else touch -d '3 days ago' "$f"; fi
done <"$SV_SCRATCH/aged"
aws_proxy s3api create-multipart-upload --bucket "$SV_S3_BUCKET" \
  --key "${SV_PREFIX}full/$WS/fresh-upload/livestore.db.zst" >/dev/null || fail "create-multipart-upload failed"
total=$(s3_keys | wc -l)
assert_eq 3209 "$total" "objects seeded"
assert_eq 1 "$(proxy_open_uploads)" "open multipart uploads"

# expected_kept: the default policy restated: younger than 30 days, or
# younger than 365 days and the newest of its UTC day.
expected_kept() {
  python3 - "$BASE" <<'PY'
import sys, time
base, H, D = int(sys.argv[1]), 3600000, 86400000
now = int(time.time() * 1000)
ts = [base - i * 6 * H for i in range(1600)]
newest = {}
for t in ts: newest[t // D] = max(newest.get(t // D, t), t)
print(sum(1 for t in ts if now - t < 30 * D or (now - t < 365 * D and newest[t // D] == t)))
PY
}
KEEP=$(expected_kept)
note "the policy keeps $KEEP of 1600"
assert_ge "$KEEP" 450 "expected kept"
assert_le "$KEEP" 490 "expected kept"

# count_meta: committed backups in the bucket.
count_meta() { s3_keys "${SV_PREFIX}full/$WS/" | grep -c '/metadata.json$' || true; }

# check_committed_restorable: every folder with metadata.json still has its snapshot.
check_committed_restorable() {
  s3_keys "${SV_PREFIX}full/$WS/" | python3 -c '
import sys, collections
f = collections.defaultdict(set)
for k in sys.stdin:
    k = k.strip()
    folder, _, name = k.rpartition("/")
    f[folder].add(name)
bad = [d for d, n in f.items() if "metadata.json" in n and "livestore.db.zst" not in n]
print(len(bad))
for d in bad[:5]: print(d, file=sys.stderr)' >"$SV_SCRATCH/bad"
  assert_eq 0 "$(cat "$SV_SCRATCH/bad")" "committed backups without a snapshot"
}

step "dry run: every backup with keep/delete and its rule, nothing deleted"
out="$("$SV_BIN" prune "$WS" --inline --dry-run --json)" || fail "dry run failed: $out"
read -r kept deleted leftovers exports uploads aborted ndec < <(python3 -c '
import json, sys
r = json.load(sys.stdin)
print(r["kept"], r["deleted"], r["leftovers"], r["exports"], r["uploads"], r["aborted_uploads"], len(r["decisions"]))' <<<"$out")
assert_eq "$KEEP" "$kept" "kept"
assert_eq $((1600 - KEEP)) "$deleted" "would delete"
assert_eq 2 "$leftovers" "old uncommitted folders"
assert_eq 1 "$exports" "old exports"
assert_eq 1 "$uploads" "old uploads"
assert_eq 0 "$aborted" "stale multipart uploads (the only one is fresh)"
assert_eq 1600 "$ndec" "decisions listed"
assert_contains "$out" '"reason": "superseded (daily:365d)"' "dry-run reason"
assert_contains "$out" '"reason": "all:30d"' "dry-run reason"
assert_eq 3209 "$(s3_keys | wc -l)" "objects after dry run"
text="$("$SV_BIN" prune "$WS" --inline --dry-run)" || fail "text dry run failed"
assert_contains "$text" "daily:365d" "text dry run names the rule"

# delete_requests: DeleteObjects requests in the proxy's log since the last reset.
delete_requests() {
  proxy_api GET '/log?op=DeleteObjects' | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["entries"]))'
}

step "interrupted in the commit-marker phase: DeleteObjects fails after its first batch"
proxy_reset
proxy_faults '{"rules":[{"op":"DeleteObjects","skip":1,"permanent":true,"status":403,"code":"AccessDenied"}]}'
if "$SV_BIN" prune "$WS" --inline --json >"$SV_SCRATCH/p1.out" 2>&1; then
  fail "prune succeeded despite the injected failures"
fi
assert_eq 2 "$(delete_requests)" "DeleteObjects requests (1000 markers, then the refused one)"
proxy_reset
m1=$(count_meta)
note "committed after interruption 1: $m1"
assert_le "$m1" 1599 "some commit markers went"
assert_ge "$m1" "$KEEP" "no kept backup lost its marker"
check_committed_restorable

step "interrupted in the data phase"
proxy_faults '{"rules":[{"op":"DeleteObjects","skip":1,"permanent":true,"status":403,"code":"AccessDenied"}]}'
if "$SV_BIN" prune "$WS" --inline --json >"$SV_SCRATCH/p2.out" 2>&1; then
  fail "prune succeeded despite the injected failures"
fi
proxy_reset
m2=$(count_meta)
note "committed after interruption 2: $m2"
assert_le "$m2" "$m1" "commit markers"
assert_ge "$m2" "$KEEP" "no kept backup lost its marker"
check_committed_restorable

step "a prune to the end: exactly the policy's set, sweeps done, the young leftovers kept"
out="$("$SV_BIN" prune "$WS" --inline --json)" || fail "prune failed: $out"
note "$(python3 -c 'import json,sys; r=json.load(sys.stdin); r.pop("decisions"); print(r)' <<<"$out")"
assert_eq "$KEEP" "$(count_meta)" "committed backups"
check_committed_restorable
keys="$(s3_keys)"
assert_eq 3 "$(grep -c "^${SV_PREFIX}exports/\|^${SV_PREFIX}uploads/" <<<"$keys" || true)" "exports and uploads left (the fresh ones, and a 3-day-old export)"
# the interrupted runs left each doomed folder's snapshot behind, without its
# marker: uncommitted, and not yet a day old by its objects' mtime
assert_eq $((KEEP * 2 + 2 + 1600 - KEEP)) "$(grep -c "^${SV_PREFIX}full/" <<<"$keys")" \
  "objects under full/ (2 per kept backup + 2 young leftovers + the interrupted runs' residue)"
assert_eq 1 "$(proxy_open_uploads)" "open multipart uploads (fresh, kept)"

step "a day later the interrupted runs' residue is swept as uncommitted leftovers"
find "$SV_S3_DATA_DIR/$SV_S3_BUCKET/${SV_PREFIX}full/$WS" -name '*._S3rver_object' -exec touch -d '3 days ago' {} +
proxy_reset
out="$("$SV_BIN" prune "$WS" --inline --json)" || fail "prune failed: $out"
assert_eq 2 "$(delete_requests)" "DeleteObjects requests for 1146 keys"
assert_eq $((1600 - KEEP + 1)) "$(python3 -c 'import json,sys; print(json.load(sys.stdin)["leftovers"])' <<<"$out")" \
  "leftovers removed (the residue + the 5-day-old one)"
assert_eq $((KEEP * 2 + 1)) "$(s3_keys "${SV_PREFIX}full/" | wc -l)" "objects under full/ (2 per kept backup + the 1-hour-old leftover)"
assert_eq "$KEEP" "$(count_meta)" "committed backups"
check_committed_restorable

step "listed backups restore: newest and oldest downloaded, checksummed and integrity-checked"
list="$("$SV_BIN" list "$WS" --json)" || fail "list failed"
assert_eq "$KEEP" "$(python3 -c 'import json,sys; print(len(json.load(sys.stdin)))' <<<"$list")" "listed backups"
for at in $(python3 -c 'import json,sys; l=json.load(sys.stdin); print(l[0]["ts"], l[-1]["ts"])' <<<"$list"); do
  s3_get "${SV_PREFIX}full/$WS/$at/livestore.db.zst" "$SV_SCRATCH/drill.zst"
  s3_get "${SV_PREFIX}full/$WS/$at/metadata.json" "$SV_SCRATCH/drill.json"
  rm -f "$SV_SCRATCH/drill.db"
  zstd -q -d "$SV_SCRATCH/drill.zst" -o "$SV_SCRATCH/drill.db" || fail "backup $at does not decompress"
  want="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["checksum"])' "$SV_SCRATCH/drill.json")"
  assert_eq "$want" "sha256:$(sha256sum "$SV_SCRATCH/drill.db" | cut -d' ' -f1)" "checksum of $at"
  assert_eq ok "$(db_integrity "$SV_SCRATCH/drill.db")" "integrity of $at"
done

step "a second prune deletes nothing more"
out="$("$SV_BIN" prune "$WS" --inline --json)" || fail "prune failed: $out"
assert_eq 0 "$(python3 -c 'import json,sys; print(json.load(sys.stdin)["deleted"])' <<<"$out")" "deleted on rerun"
step "file store: temporary files older than a day (unfinished uploads) are removed, fresh ones kept"
sv_use_file_store
STORE_DIR="${SQLVAULT_STORE#file://}"
mkdir -p "$STORE_DIR/full/ws2/20200101T000000.000Z"
old_tmp="$STORE_DIR/full/ws2/20200101T000000.000Z/.livestore.db.zst.tmp-old1"
new_tmp="$STORE_DIR/full/ws2/20200101T000000.000Z/.livestore.db.zst.tmp-new1"
echo partial >"$old_tmp"
echo partial >"$new_tmp"
touch -d '2 days ago' "$old_tmp"
out="$("$SV_BIN" prune ws2 --inline --json)" || fail "file prune failed: $out"
assert_eq 1 "$(python3 -c 'import json,sys; print(json.load(sys.stdin)["aborted_uploads"])' <<<"$out")" "aborted uploads"
[[ ! -e "$old_tmp" ]] || fail "old temporary file still there"
[[ -e "$new_tmp" ]] || fail "fresh temporary file removed"
note "ok: old temporary file removed, fresh one kept"

step "prune of every workspace (no WS) finds them under full/"
for ts in 20200101T000000.000Z 20200102T000000.000Z 20200103T000000.000Z; do
  mkdir -p "$STORE_DIR/full/ws3/$ts"
  echo x >"$STORE_DIR/full/ws3/$ts/livestore.db.zst"
  echo '{}' >"$STORE_DIR/full/ws3/$ts/metadata.json"
done
out="$(SQLVAULT_RETENTION=last:1 "$SV_BIN" prune --inline --json)" || fail "prune of all failed: $out"
read -r nws kept deleted < <(python3 -c 'import json,sys; r=json.load(sys.stdin); print(r["workspaces"], r["kept"], r["deleted"])' <<<"$out")
assert_eq 2 "$nws" "workspaces pruned"
assert_eq 1 "$kept" "kept (last:1)"
assert_eq 2 "$deleted" "deleted"
assert_eq "20200103T000000.000Z" "$(ls "$STORE_DIR/full/ws3")" "the newest backup remains"
sv_pass
