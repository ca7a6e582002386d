#!/usr/bin/env bash
# crypt_rotate_kill.sh -- `sqlvault keys rotate` killed with -9 again and
# again over 200 workspaces, then resumed, on the S3 server through the
# R2-rules proxy. The kill points are seeded (SV_TEST_SEED) and injected
# deterministically by SQLVAULT_TEST_ROTATE_KILL=N:get|put (the Nth re-wrap
# of a run, after its GET or after its PUT, with other threads' requests in
# flight), plus one kill at a seeded random time. After every kill each
# record is whole and unwraps with the key it names, under exactly one of
# the two keys, and its data key is the one it had; the run resumed
# finishes; then every workspace's backup restores with the new key and
# none with the old, and a further run changes nothing.
source "$(dirname "$0")/lib.sh"
source "$SV_SOURCE_DIR/tests/tools/restore_lib.sh"
sv_setup
export SQLVAULT_LOG_FORMAT=text

SEED="${SV_TEST_SEED:-$RANDOM}"
note "seed $SEED (SV_TEST_SEED to repeat)"
RANDOM=$SEED
NWS="${SV_ROTATE_WS:-200}"
kek_file "$SV_SCRATCH/old" 1
kek_file "$SV_SCRATCH/new" 2
OLD="$SV_SCRATCH/old" NEW="$SV_SCRATCH/new"
export SQLVAULT_ENCRYPTION_KEY_FILE="$OLD"
T="$SV_SCRATCH/t"
mkdir -p "$T"
WSS=()
for ((i = 0; i < NWS; i++)); do WSS+=("$(printf 'k%03d' "$i")"); done

# records DIR: the test's keys/*.json into DIR as WS.json (s3rver's own files
# when the servers are this test's, else one download).
records() {
  local src="${SV_RUN_DIR:-}/s3/$SV_S3_BUCKET/${SV_PREFIX}keys" f
  rm -rf "$1" && mkdir -p "$1"
  if [[ -n "${SV_RUN_DIR:-}" && -d "$src" ]]; then
    for f in "$src"/*.json._S3rver_object; do cp "$f" "$1/$(basename "${f%._S3rver_object}")"; done
  else
    aws_s3 s3 cp --only-show-errors --recursive "s3://$SV_S3_BUCKET/${SV_PREFIX}keys/" "$1/"
  fi
}

# check_records DIR MODE: every record of DIR unwraps with the key it names
# (old or new: each under exactly one), with the data key of $T/dks.json;
# MODE "init" writes that file, "new" also requires every one under the new
# key (and the old key to open none). Prints "OLD NEW" counts.
check_records() {
  python3 - "$1" "$2" "$OLD" "$NEW" "$T/dks.json" "$NWS" <<'PY'
import binascii, hashlib, json, os, sys
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
d, mode, oldf, newf, dksf, nws = sys.argv[1:7]
keks = {}
for name, f in (("old", oldf), ("new", newf)):
    k = binascii.unhexlify(open(f).read().strip())
    keks[hashlib.sha256(b"sqlvault kek id v1" + k).hexdigest()[:16]] = (name, k)
dks = {} if mode == "init" else json.load(open(dksf))
count = {"old": 0, "new": 0}
files = sorted(f for f in os.listdir(d) if f.endswith(".json"))
if len(files) != int(nws): sys.exit("%d records, want %s" % (len(files), nws))
for f in files:
    ws = f[:-5]
    try: r = json.load(open(os.path.join(d, f)))
    except ValueError as e: sys.exit("%s: not whole json (%s)" % (f, e))
    if r.get("kekId") not in keks: sys.exit("%s: wrapped by an unknown key %s" % (f, r.get("kekId")))
    name, k = keks[r["kekId"]]
    aad = b"sqlvault data key v1\0" + ws.encode() + b"\0" + r["dataKeyId"].encode()
    opened = []
    for kid, (n2, k2) in keks.items():
        try: dk = AESGCM(k2).decrypt(bytes.fromhex(r["nonce"]), bytes.fromhex(r["wrapped"]), aad).hex(); opened.append(n2)
        except Exception: pass
    if opened != [name]: sys.exit("%s: names the %s key, opens with %s" % (f, name, opened))
    if mode == "init": dks[ws] = dk
    elif dks.get(ws) != dk: sys.exit("%s: its data key changed" % f)
    count[name] += 1
if mode == "init": json.dump(dks, open(dksf, "w"))
if mode == "new" and count["old"]: sys.exit("%d records still under the old key" % count["old"])
print(count["old"], count["new"])
PY
}

step "$NWS tiny workspaces, each with one encrypted backup under the old key"
make_db "$T/template.db" 3
for ws in "${WSS[@]}"; do
  mkdir -p "$SQLVAULT_DATA_DIR/$ws"
  cp "$T/template.db" "$SQLVAULT_DATA_DIR/$ws/livestore.db"
done
t0=$SECONDS
printf '%s\n' "${WSS[@]}" | xargs -P 4 -I{} sh -c 'sqlite3 "$SQLVAULT_DATA_DIR/{}/livestore.db" "INSERT INTO todos VALUES ('"'"'own-{}'"'"', '"'"'{}'"'"', 0)" && "$SV_BIN" backup {} --inline >/dev/null 2>"$0/{}.err" || echo "backup {} failed: $(cat "$0/{}.err")"' "$T" >"$T/backups.txt"
[[ ! -s "$T/backups.txt" ]] || fail "$(head -3 "$T/backups.txt")"
note "$NWS backups in $((SECONDS - t0)) s"
records "$T/rec"
assert_eq "$NWS 0" "$(check_records "$T/rec" init)" "records under the old and the new key"

step "rotation killed with -9 at seeded points (after a GET or after a PUT), each run resumed by the next"
unset SQLVAULT_ENCRYPTION_KEY_FILE
moved=0 kills=0 runs=0 done_=false
while ((runs < 40)); do
  runs=$((runs + 1))
  jobs=$((1 + RANDOM % 8))
  if ((runs == 2)); then
    ms=$((RANDOM % 200))
    note "run $runs: --jobs $jobs, killed at a random time ($ms ms after its start)"
    SQLVAULT_ENCRYPTION_KEY_FILE="$OLD" "$SV_BIN" keys rotate --new-key-file "$NEW" --jobs "$jobs" --json >"$T/run$runs.json" 2>&1 &
    pid=$!
    sleep "$(printf '0.%03d' "$ms")"
    kill -9 "$pid" 2>/dev/null || true
    rc=0
    wait "$pid" || rc=$?
  else
    n=$((1 + RANDOM % 30)) point=$( ((RANDOM % 2)) && echo put || echo get)
    note "run $runs: --jobs $jobs, SQLVAULT_TEST_ROTATE_KILL=$n:$point"
    rc=0
    SQLVAULT_TEST_ROTATE_KILL="$n:$point" SQLVAULT_ENCRYPTION_KEY_FILE="$OLD" "$SV_BIN" keys rotate --new-key-file "$NEW" \
      --jobs "$jobs" --json >"$T/run$runs.json" 2>&1 || rc=$?
  fi
  records "$T/rec"
  counts="$(check_records "$T/rec" mid)" || fail "after run $runs (exit $rc): $counts"
  now="${counts#* }"
  note "exit $rc; records old/new: $counts"
  ((now >= moved)) || fail "records under the new key went from $moved down to $now"
  moved=$now
  if ((rc == 137)); then
    kills=$((kills + 1))
  elif ((rc == 0)); then
    if [[ "$(jq -r .complete "$T/run$runs.json")" == true ]]; then done_=true; break; fi
  else
    fail "run $runs exited $rc: $(cat "$T/run$runs.json")"
  fi
done
[[ "$done_" == true ]] || fail "the rotation did not finish in $runs runs"
assert_ge "$kills" 2 "runs killed with -9"
assert_eq "0 $NWS" "$counts" "records under the old and the new key after the resumed run"
assert_eq "0 0" "$(jq -r '[.failed, .pending] | join(" ")' "$T/run$runs.json")" "last run: failed, pending"
check_records "$T/rec" new >/dev/null || fail "not every record is under the new key with its own data key"

step "a further run changes nothing"
out="$(SQLVAULT_ENCRYPTION_KEY_FILE="$NEW" "$SV_BIN" keys rotate --new-key-file "$NEW" --json)"
assert_eq "$NWS 0 $NWS true" "$(jq -r '[.workspaces, .rewrapped, .already, .complete] | join(" ")' <<<"$out")" "workspaces rewrapped already complete"

step "every workspace's backup verifies with the new key, none with the old"
# verify_each KEYFILE: "WS ok" or "WS <first error line>" per workspace.
verify_each() {
  printf '%s\n' "${WSS[@]}" | xargs -P 4 -I{} sh -c 'o=$(SQLVAULT_ENCRYPTION_KEY_FILE="$0" "$SV_BIN" verify {} --inline --json 2>&1 | grep -v "^20"); if [ "$(printf "%s" "$o" | jq -r .ok 2>/dev/null)" = true ]; then echo "{} ok"; else echo "{} $(printf "%s" "$o" | grep -m1 error)"; fi' "$1"
}
t0=$SECONDS
with_new="$(verify_each "$NEW")"
with_old="$(verify_each "$OLD")"
note "$((2 * NWS)) verifies in $((SECONDS - t0)) s"
assert_eq "$NWS" "$(grep -c ' ok$' <<<"$with_new" || true)" "workspaces verified with the new key"
assert_eq 0 "$(grep -c ' ok$' <<<"$with_old" || true)" "workspaces verified with the old key"
assert_eq "$NWS" "$(grep -c 'wrong encryption key' <<<"$with_old" || true)" "'wrong encryption key' answers with the old key"

step "a few workspaces, picked by the seed, restored with the new key"
export SQLVAULT_ENCRYPTION_KEY_FILE="$NEW"
for i in 1 2 3; do
  ws="${WSS[$((RANDOM % NWS))]}"
  sqlite3 "$SQLVAULT_DATA_DIR/$ws/livestore.db" "DELETE FROM todos"
  sv restore "$ws" --from latest --yes --inline >/dev/null
  assert_eq "1 ok" "$(db_count "$SQLVAULT_DATA_DIR/$ws/livestore.db" "todos WHERE id = 'own-$ws'") $(db_integrity "$SQLVAULT_DATA_DIR/$ws/livestore.db")" "$ws restored (its own row, integrity)"
done
sv_pass
