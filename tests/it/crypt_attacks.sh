#!/usr/bin/env bash
# crypt_attacks.sh -- the client-side encryption attacked as an auditor would
# (docs/SECURITY.md "Encryption" names each step of this file). Against the
# S3 server through the R2-rules proxy, someone who can write the bucket
# tampers with encrypted backups: a flipped byte (body and header), a cut
# inside the last chunk and at a chunk boundary, reordered, duplicated and
# appended chunks, an object copied to another workspace's key (with and
# without its header's data key id rewritten), to another backup's name, an
# older object replayed under a newer name, a link of an incremental chain
# put under another link's name, the "encryption" field removed from
# metadata.json, a key record copied from another workspace. Each is
# refused with a clear error, exit 1, the live database's bytes unchanged
# (sha256 before and after) and no temporary file left; metadata.json and
# the size/checksum checks are made to agree with the damage where that
# matters, so the encryption layer itself has to catch it. Then: no
# plaintext digest of a database is in the store in the clear (a
# confirmation oracle), while an old backup whose metadata holds a plain
# sha256 still restores. Last, after `keys shred`, no copy of the data key
# (raw, hex, base64, nor either wrapped copy) is in the bucket (s3rver's own
# files), Redis, the data, state and temporary dirs, the logs or the
# commands' output.
source "$(dirname "$0")/lib.sh"
source "$SV_SOURCE_DIR/tests/tools/restore_lib.sh"
sv_setup
# This test is about the full restore path (download, validate, swap); delta
# restores have tests of their own (delta_restore.sh).
export SQLVAULT_RESTORE_DELTA=off
export SQLVAULT_LOG_FORMAT=text

SEED="${SV_TEST_SEED:-$RANDOM}"
note "seed $SEED (SV_TEST_SEED to repeat)"
kek_file "$SV_SCRATCH/k1" 1
export SQLVAULT_ENCRYPTION_KEY_FILE="$SV_SCRATCH/k1"
HDR=48
CHUNK=$((65536 + 16))
T="$SV_SCRATCH/t"
mkdir -p "$T"

# obj_get KEY FILE / obj_put FILE KEY: one object of the test's prefix, through the proxy.
obj_get() { local s; s="$(SV_CURL_OUT="$2" s3_curl GET "$SV_PREFIX$1")"; [[ "$s" == 200 ]] || fail "GET $1: HTTP $s"; }
obj_put() { local s; s="$(s3_curl PUT "$SV_PREFIX$2" --data-binary "@$1")"; [[ "$s" == 200 ]] || fail "PUT $2: HTTP $s"; }
obj_del() { s3_curl DELETE "$SV_PREFIX$1" >/dev/null; }

# big_workspace WS: about 400 KB that zstd cannot shrink, so its object has several chunks.
big_workspace() {
  make_workspace "$1" 300
  sqlite3 "$SQLVAULT_DATA_DIR/$1/livestore.db" "CREATE TABLE IF NOT EXISTS blobs(b BLOB); INSERT INTO blobs SELECT randomblob(4000) FROM eventlog LIMIT 100;"
}

# fix_meta META OBJ: metadata.json file META made to agree with object file OBJ
# (compressedSize, compressedChecksum), so only the encryption layer can
# refuse the object.
fix_meta() {
  python3 - "$1" "$(stat -c %s "$2")" "$(file_sha256 "$2")" <<'PY'
import json, sys
p, size, sumv = sys.argv[1], int(sys.argv[2]), sys.argv[3]
m = json.load(open(p))
m["compressedSize"], m["compressedChecksum"] = size, sumv
json.dump(m, open(p, "w"), indent=2)
PY
}

# chunks FILE OUT OP: OUT = FILE's sealed stream with its chunks rearranged
# (OP: swap12, dup1, append_last, drop_last).
chunks() {
  python3 - "$@" "$HDR" "$CHUNK" <<'PY'
import sys
src, out, op, hdr, c = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
b = open(src, "rb").read()
h, body = b[:hdr], b[hdr:]
ch = [body[i:i + c] for i in range(0, len(body), c)]
if op == "swap12": ch[1], ch[2] = ch[2], ch[1]
elif op == "dup1": ch.insert(2, ch[1])
elif op == "append_last": ch.append(ch[-1])
elif op == "drop_last": ch.pop()
else: raise SystemExit("unknown op " + op)
open(out, "wb").write(h + b"".join(ch))
PY
}

# attack WS TS OBJFILE METAFILE REGEX: puts OBJFILE and METAFILE as backup
# WS/TS's object and metadata.json, expects its restore to be refused with an
# error matching REGEX (live bytes unchanged, no temporary file left:
# expect_restore_fail), then puts the good copies back.
attack() {
  local ws="$1" ts="$2" obj="$3" meta="$4" regex="$5" name
  name="$(jq -r .object "$meta")"
  obj_put "$obj" "full/$ws/$ts/$name"
  obj_put "$meta" "full/$ws/$ts/metadata.json"
  note "live $ws: $(live_state "$SQLVAULT_DATA_DIR/$ws/livestore.db")"
  expect_restore_fail "$ws" "$ts" "$regex"
  obj_put "$T/$ws-$ts.obj" "full/$ws/$ts/$name"
  obj_put "$T/$ws-$ts.meta" "full/$ws/$ts/metadata.json"
}

# keep WS TS: saves backup WS/TS's object and metadata.json as $T/WS-TS.{obj,meta}.
keep() {
  obj_get "full/$1/$2/metadata.json" "$T/$1-$2.meta"
  obj_get "full/$1/$2/$(jq -r .object "$T/$1-$2.meta")" "$T/$1-$2.obj"
}

step "setup: two encrypted backups of wa (the older one a different database), one of wb"
big_workspace wa
big_workspace wb
ts1="$(sv backup wa --inline --json | jq -r .ts)"
sqlite3 "$SQLVAULT_DATA_DIR/wa/livestore.db" "DELETE FROM blobs WHERE rowid % 3 = 0; INSERT INTO todos VALUES ('newer', 'only in the newer backup', 0);"
ts2="$(sv backup wa --inline --json | jq -r .ts)"
tsb="$(sv backup wb --inline --json | jq -r .ts)"
keep wa "$ts1"
keep wa "$ts2"
keep wb "$tsb"
size=$(stat -c %s "$T/wa-$ts2.obj")
nchunks=$(((size - HDR + CHUNK - 1) / CHUNK))
assert_ge "$nchunks" 4 "chunks in wa's newer object"
assert_eq SQLVENC1 "$(head -c 8 "$T/wa-$ts2.obj")" "object magic"
want="$(db_sha3 "$SQLVAULT_DATA_DIR/wa/livestore.db")"
# The live database differs from both backups from here on, so a restore that
# wrongly succeeded would show in its bytes.
sqlite3 "$SQLVAULT_DATA_DIR/wa/livestore.db" "INSERT INTO todos VALUES ('live-only', 'x', 0)"
sqlite3 "$SQLVAULT_DATA_DIR/wb/livestore.db" "INSERT INTO todos VALUES ('live-only', 'x', 0)"

step "A1 flipped byte: in chunk 2's ciphertext (metadata adjusted) it fails chunk 2's tag"
cp "$T/wa-$ts2.obj" "$T/x.obj" && cp "$T/wa-$ts2.meta" "$T/x.meta"
flip_byte "$T/x.obj" $((HDR + 2 * CHUNK + 777))
fix_meta "$T/x.meta" "$T/x.obj"
attack wa "$ts2" "$T/x.obj" "$T/x.meta" "fails authentication at chunk 2: it was modified"
note "and with the metadata left alone (the chunk's tag fails before the object checksum is complete)"
cp "$T/wa-$ts2.meta" "$T/x.meta"
attack wa "$ts2" "$T/x.obj" "$T/x.meta" "fails authentication at chunk 2|checksum mismatch: the stored object"

step "A2 flipped byte: in the header's salt (authenticated by every chunk) it fails the first chunk"
cp "$T/wa-$ts2.obj" "$T/x.obj" && cp "$T/wa-$ts2.meta" "$T/x.meta"
flip_byte "$T/x.obj" 40
fix_meta "$T/x.meta" "$T/x.obj"
attack wa "$ts2" "$T/x.obj" "$T/x.meta" "fails authentication at its first chunk"
note "the header's chunk size changed"
cp "$T/wa-$ts2.obj" "$T/x.obj"
flip_byte "$T/x.obj" 13
fix_meta "$T/x.meta" "$T/x.obj"
attack wa "$ts2" "$T/x.obj" "$T/x.meta" "invalid chunk size|fails authentication"

step "A3 truncated last chunk: a cut inside it, and the whole last chunk dropped (metadata adjusted)"
head -c $((size - 100)) "$T/wa-$ts2.obj" >"$T/x.obj"
cp "$T/wa-$ts2.meta" "$T/x.meta"
fix_meta "$T/x.meta" "$T/x.obj"
attack wa "$ts2" "$T/x.obj" "$T/x.meta" "fails authentication at its last chunk \($((nchunks - 1))\): it was truncated"
chunks "$T/wa-$ts2.obj" "$T/x.obj" drop_last
fix_meta "$T/x.meta" "$T/x.obj"
attack wa "$ts2" "$T/x.obj" "$T/x.meta" "fails authentication at its last chunk \($((nchunks - 2))\): it was truncated"
note "cut inside the header"
head -c 30 "$T/wa-$ts2.obj" >"$T/x.obj"
fix_meta "$T/x.meta" "$T/x.obj"
attack wa "$ts2" "$T/x.obj" "$T/x.meta" "truncated \(30 of 48 header bytes\)"

step "A4 reordered chunks: chunks 1 and 2 swapped"
chunks "$T/wa-$ts2.obj" "$T/x.obj" swap12
fix_meta "$T/x.meta" "$T/x.obj"
attack wa "$ts2" "$T/x.obj" "$T/x.meta" "fails authentication at chunk 1: it was modified or its chunks reordered"

step "A5 duplicated chunk: chunk 1 repeated after itself, and the final chunk appended again"
chunks "$T/wa-$ts2.obj" "$T/x.obj" dup1
fix_meta "$T/x.meta" "$T/x.obj"
attack wa "$ts2" "$T/x.obj" "$T/x.meta" "fails authentication at chunk 2: it was modified or its chunks reordered"
chunks "$T/wa-$ts2.obj" "$T/x.obj" append_last
fix_meta "$T/x.meta" "$T/x.obj"
attack wa "$ts2" "$T/x.obj" "$T/x.meta" "fails authentication at (its last )?chunk \(?$((nchunks - 1))"

step "A6 copied to another workspace's key: wa's backup (object and metadata) put into wb's folder"
attack wb "$tsb" "$T/wa-$ts2.obj" "$T/wa-$ts2.meta" "belongs to another workspace"
note "and with the header's data key id rewritten to wb's: the object key differs (data key and store key)"
python3 - "$T/wa-$ts2.obj" "$T/wb-$tsb.obj" "$T/x.obj" <<'PY'
import sys
a, b, out = sys.argv[1:4]
x = bytearray(open(a, "rb").read())
x[16:32] = open(b, "rb").read()[16:32]
open(out, "wb").write(x)
PY
cp "$T/wb-$tsb.meta" "$T/x.meta"
fix_meta "$T/x.meta" "$T/x.obj"
attack wb "$tsb" "$T/x.obj" "$T/x.meta" "fails authentication at its first chunk: it was modified, or it was written for another key"

step "A7 copied to another backup's name: wa's newer object put under its older backup's name (metadata adjusted)"
cp "$T/wa-$ts1.meta" "$T/x.meta"
fix_meta "$T/x.meta" "$T/wa-$ts2.obj"
attack wa "$ts1" "$T/wa-$ts2.obj" "$T/x.meta" "written for another key than 'full/wa/$ts1/livestore.db.zst'"

step "A8 an older object replayed under a newer name: backup ts1 (object and metadata) put at ts2"
attack wa "$ts2" "$T/wa-$ts1.obj" "$T/wa-$ts1.meta" "written for another key than 'full/wa/$ts2/livestore.db.zst'"

step "A9 metadata.json without its encryption field: the sealed object is refused, not read as zstd"
jq 'del(.encryption)' "$T/wa-$ts2.meta" >"$T/x.meta"
attack wa "$ts2" "$T/wa-$ts2.obj" "$T/x.meta" "encrypted object but its metadata.json does not say it is encrypted"

step "A10 a key record copied from another workspace: wb's record under wa's name does not unwrap"
obj_get "keys/wa.json" "$T/wa.key"
obj_get "keys/wb.json" "$T/wb.key"
obj_put "$T/wb.key" "keys/wa.json"
expect_restore_fail wa "$ts2" "belongs to another workspace \('wb'\)"
jq '.workspace = "wa"' "$T/wb.key" >"$T/x.key"
obj_put "$T/x.key" "keys/wa.json"
expect_restore_fail wa "$ts2" "does not unwrap with key .*copied from another workspace"
obj_put "$T/wa.key" "keys/wa.json"

step "A11 incremental chain: a link put under another link's name (metadata adjusted) is refused"
make_workspace wc 400
export SQLVAULT_FULL_EVERY=24h
c1="$(sv backup wc --inline --json | jq -r .ts)"
sqlite3 "$SQLVAULT_DATA_DIR/wc/livestore.db" "UPDATE todos SET done = 1 WHERE rowid % 5 = 0"
c2j="$(sv backup wc --inline --json)"
c2="$(jq -r .ts <<<"$c2j")"
sqlite3 "$SQLVAULT_DATA_DIR/wc/livestore.db" "UPDATE todos SET done = 1 WHERE rowid % 7 = 0"
c3="$(sv backup wc --inline --json | jq -r .ts)"
assert_eq "incremental $c1" "$(jq -r '.backupType + " " + .parent' <<<"$c2j")" "wc's second backup"
keep wc "$c2"
keep wc "$c3"
wcwant="$(db_sha3 "$SQLVAULT_DATA_DIR/wc/livestore.db")"
sqlite3 "$SQLVAULT_DATA_DIR/wc/livestore.db" "INSERT INTO todos VALUES ('live-only', 'x', 0)"
cp "$T/wc-$c3.meta" "$T/x.meta"
fix_meta "$T/x.meta" "$T/wc-$c2.obj"
attack wc "$c3" "$T/wc-$c2.obj" "$T/x.meta" "link $c3 .*written for another key than 'full/wc/$c3/pages-$c2.zst'"
sv restore wc --from "$c3" --yes --inline >/dev/null
assert_eq "$wcwant" "$(db_sha3 "$SQLVAULT_DATA_DIR/wc/livestore.db")" "wc restored through its intact chain"
export SQLVAULT_FULL_EVERY=0

step "after the attacks: the intact backups restore"
sv restore wa --from "$ts2" --yes --inline >/dev/null
assert_eq "$want" "$(db_sha3 "$SQLVAULT_DATA_DIR/wa/livestore.db")" "wa's newer backup"
assert_eq ok "$(db_integrity "$SQLVAULT_DATA_DIR/wa/livestore.db")" "wa integrity"
sv restore wb --from "$tsb" --yes --inline >/dev/null
assert_eq 0 "$(db_count "$SQLVAULT_DATA_DIR/wb/livestore.db" "todos WHERE id = 'live-only'")" "wb restored"

# hexes_in DIR HEX...: how many of the hex digests occur in any file under DIR.
hexes_in() {
  local dir="$1" h n=0
  shift
  for h in "$@"; do grep -rqiF "$h" "$dir" && n=$((n + 1)); done
  echo "$n"
}

step "M1 no confirmation oracle: an encrypted backup's metadata holds keyed checksums, the bucket no plaintext digest"
out="$(sv export wa --inline --json)"
tse="$(jq -r .backup <<<"$out")"
url="$(jq -r .url <<<"$out")"
if [[ "$url" == /* ]]; then cp "$url" "$T/export.db"; else curl -sf -o "$T/export.db" "$url"; fi
P="$(sha256sum "$T/export.db" | cut -d' ' -f1)"
assert_eq "sha256:$P" "$(jq -r .checksum <<<"$out")" "the export's checksum is its plain file's sha256 (the export is plaintext anyway)"
obj_get "full/wa/$tse/metadata.json" "$T/e.meta"
assert_eq "hmac: hmac:" "$(jq -r '[.checksum[0:5], .files[0].checksum[0:5]] | join(" ")' "$T/e.meta")" "keyed checksum and files[0].checksum"
assert_eq 69 "$(jq -r '.checksum | length' "$T/e.meta")" "keyed checksum length"
assert_eq true "$(sv verify wa --at "$tse" --inline --json | jq -r .ok)" "verify of the backup with keyed checksums"
obj_get "full/wa/$tse/verify.json" "$T/e.verify"
assert_eq "true hmac:" "$(jq -r '[(.ok | tostring), .checksum[0:5]] | join(" ")' "$T/e.verify")" "verify.json"
note "the chain: every stateChecksum of wc's encrypted backups is keyed, and the head's plain one (local state) is nowhere in the bucket"
for ts in "$c1" "$c2" "$c3"; do obj_get "full/wc/$ts/metadata.json" "$T/wc-$ts.m"; done
assert_eq "hmac: hmac: hmac: hmac: hmac:" "$(jq -rs '[.[] | .stateChecksum, .parentStateChecksum | select(.) | .[0:5]] | join(" ")' "$T/wc-$c1.m" "$T/wc-$c2.m" "$T/wc-$c3.m")" "stateChecksum and parentStateChecksum of wc's three backups"
assert_eq "incremental $c2" "$(jq -r '.backupType + " " + .parent' "$T/wc-$c3.m")" "wc's third backup is an incremental on a keyed head"
S="$(python3 - "$SQLVAULT_DATA_DIR/.sqlvault-state/wc.state" <<'PY'
import json, struct, sys
b = open(sys.argv[1], "rb").read()
n = struct.unpack("<I", b[-12:-8])[0]
print(json.loads(b[-12 - n:-12])["stateChecksum"].split(":")[1])
PY
)"
note "the bucket: every object of this test, exports/ aside (plaintext by design)"
rm -rf "$T/bucket" && mkdir -p "$T/bucket"
aws_s3 s3 cp --only-show-errors --recursive --exclude "exports/*" "s3://$SV_S3_BUCKET/$SV_PREFIX" "$T/bucket/"
assert_ge "$(find "$T/bucket" -name metadata.json | wc -l)" 8 "metadata.json files dumped"
assert_eq 0 "$(hexes_in "$T/bucket" "$P" "$S")" "plaintext digests (the exported database's sha256, wc's state checksum) found in the bucket"

step "M2 the same check finds a plain backup's digest (the method works)"
make_workspace wd 50
env -u SQLVAULT_ENCRYPTION_KEY_FILE "$SV_BIN" backup wd --inline >/dev/null
outd="$(env -u SQLVAULT_ENCRYPTION_KEY_FILE "$SV_BIN" export wd --inline --json)"
urld="$(jq -r .url <<<"$outd")"
if [[ "$urld" == /* ]]; then cp "$urld" "$T/wd.db"; else curl -sf -o "$T/wd.db" "$urld"; fi
PD="$(sha256sum "$T/wd.db" | cut -d' ' -f1)"
obj_get "full/wd/$(jq -r .backup <<<"$outd")/metadata.json" "$T/bucket/wd.meta"
assert_eq 1 "$(hexes_in "$T/bucket" "$PD")" "the plain backup's sha256 found in its metadata.json"

step "M3 an older encrypted backup whose metadata holds the plain sha256 still restores"
jq --arg s "sha256:$P" '.checksum = $s | .files[0].checksum = $s' "$T/e.meta" >"$T/x.meta"
obj_put "$T/x.meta" "full/wa/$tse/metadata.json"
sv restore wa --from "$tse" --yes --inline >/dev/null
assert_eq "$(db_sha3 "$T/export.db")" "$(db_sha3 "$SQLVAULT_DATA_DIR/wa/livestore.db")" "wa restored from the backup with a plain checksum"
sqlite3 "$SQLVAULT_DATA_DIR/wa/livestore.db" "INSERT INTO todos VALUES ('live-only', 'x', 0)"

step "M4 a guessed plain checksum put into an encrypted backup's metadata: refused, and the error tells no plain digest"
jq '.checksum = "sha256:\("0" * 64)" | .files[0].checksum = .checksum' "$T/e.meta" >"$T/x.meta"
obj_put "$T/x.meta" "full/wa/$tse/metadata.json"
expect_restore_fail wa "$tse" "checksum mismatch: the database is hmac:[0-9a-f]{64} but metadata.json says sha256:0{64}"
rc=0
vout="$(sv verify wa --at "$tse" --inline 2>&1)" || rc=$?
assert_eq 1 "$rc" "verify exit status"
obj_get "full/wa/$tse/verify.json" "$T/x.verify"
assert_eq false "$(jq -r .ok "$T/x.verify")" "verify.json ok"
[[ "$vout" != *"$P"* ]] && ! grep -qiF "$P" "$T/x.verify" || fail "the plain digest is in verify's output or verify.json"
note "ok: no plain digest in verify's error or verify.json"
note "and a keyed checksum changed is a mismatch too"
jq '.checksum = "hmac:\("1" * 64)" | .files[0].checksum = .checksum' "$T/e.meta" >"$T/x.meta"
obj_put "$T/x.meta" "full/wa/$tse/metadata.json"
expect_restore_fail wa "$tse" "checksum mismatch: the database is hmac:[0-9a-f]{64} but metadata.json says hmac:1{64}"
obj_put "$T/e.meta" "full/wa/$tse/metadata.json"
obj_del "full/wa/$tse/verify.json"

step "M5 a decrypted database that fails validation: verify.json records no text from it"
make_workspace wv 300
corrupt_table_page "$SQLVAULT_DATA_DIR/wv/livestore.db"
tsv="$(sv backup wv --inline --json | jq -r .ts)"
rc=0
vout="$(sv verify wv --at "$tsv" --inline 2>&1)" || rc=$?
assert_eq 1 "$rc" "verify exit status"
assert_contains "$vout" "integrity check" "verify's own error (the job's result) has the details"
obj_get "full/wv/$tsv/verify.json" "$T/wv.verify"
assert_eq "false corrupt" "$(jq -r '[(.ok | tostring), .errorCode] | join(" ")' "$T/wv.verify")" "verify.json ok, errorCode"
assert_contains "$(jq -r .error "$T/wv.verify")" "not in the bucket" "verify.json's error"
detail="$(grep -m1 -o 'integrity check: .*' <<<"$vout" | cut -c19-60)"
[[ -n "$detail" ]] && ! grep -qF "$detail" "$T/wv.verify" || fail "verify.json quotes the integrity check [$detail]: $(cat "$T/wv.verify")"
note "ok: verify.json does not quote [$detail]"

step "S1 keys shred leaves no copy of the data key anywhere sqlvault wrote"
source "$SV_SOURCE_DIR/tests/it/queue_lib.sh"
kek_file "$SV_SCRATCH/k2" 2
make_workspace ws-s 200
start_worker shredw --threads 1
sv backup ws-s --id shred-b1 --json >/dev/null
sqlite3 "$SQLVAULT_DATA_DIR/ws-s/livestore.db" "INSERT INTO todos VALUES ('s2', 'x', 0)"
sv backup ws-s --json --full >/dev/null
sv restore ws-s --from latest --yes --id shred-r1 --json >/dev/null
sv verify ws-s --id shred-v1 --json >/dev/null
sv export ws-s --id shred-e1 --json >/dev/null
SQLVAULT_FULL_EVERY=24h sv backup ws-s --inline --json >"$SV_SCRATCH/cli-incr.json"
obj_get "keys/ws-s.json" "$T/s-k1.json"
note "rotated to a second key: the record under the first key was in the store too"
sv keys rotate --new-key-file "$SV_SCRATCH/k2" --json >"$SV_SCRATCH/cli-rotate.json"
obj_get "keys/ws-s.json" "$T/s-k2.json"
export SQLVAULT_ENCRYPTION_KEY_FILE="$SV_SCRATCH/k2"
kill "$WORKER_PID" 2>/dev/null || true
wait "$WORKER_PID" 2>/dev/null || true
start_worker shredw2 --threads 1
sv backup ws-s --id shred-b2 --json >/dev/null
# unwrap KEKFILE RECORD WS: the data key (hex) inside a wrapped-key record.
unwrap() {
  python3 - "$@" <<'PY'
import binascii, json, sys
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
kek = binascii.unhexlify(open(sys.argv[1]).read().strip())
r = json.load(open(sys.argv[2]))
aad = b"sqlvault data key v1\0" + sys.argv[3].encode() + b"\0" + r["dataKeyId"].encode()
print(AESGCM(kek).decrypt(bytes.fromhex(r["nonce"]), bytes.fromhex(r["wrapped"]), aad).hex())
PY
}
DKH="$(unwrap "$SV_SCRATCH/k1" "$T/s-k1.json" ws-s)"
assert_eq "$DKH" "$(unwrap "$SV_SCRATCH/k2" "$T/s-k2.json" ws-s)" "the data key under either key (rotation re-wraps it)"
W1="$(jq -r .wrapped "$T/s-k1.json")" W2="$(jq -r .wrapped "$T/s-k2.json")"
# scan DIR...: every form (raw, hex either case, base64) of the data key and
# of both wrapped copies found in a file under DIR..., one "WHAT FILE" a line.
scan() {
  python3 - "$DKH" "$W1" "$W2" "$@" <<'PY'
import base64, os, sys
keys = {"data-key": sys.argv[1], "wrapped-1": sys.argv[2], "wrapped-2": sys.argv[3]}
needles = []
for name, h in keys.items():
    b = bytes.fromhex(h)
    for form, n in (("raw", b), ("hex", h.lower().encode()), ("HEX", h.upper().encode()),
                    ("base64", base64.b64encode(b).rstrip(b"=")), ("base64url", base64.urlsafe_b64encode(b).rstrip(b"="))):
        needles.append((name + "/" + form, n))
for top in sys.argv[4:]:
    for d, _, files in os.walk(top):
        for f in files:
            p = os.path.join(d, f)
            try: data = open(p, "rb").read()
            except OSError: continue
            for what, n in needles:
                if n in data: print(what, p)
PY
}
# redis_dump FILE: every key of the test's Redis prefix and its value.
redis_dump() {
  local k
  : >"$1"
  for k in $(redis_cli --scan --pattern "$SQLVAULT_REDIS_PREFIX*"); do
    echo "$k" >>"$1"
    case "$(redis_cli TYPE "$k")" in
      string) redis_cli --raw GET "$k" ;;
      hash) redis_cli --raw HGETALL "$k" ;;
      stream) redis_cli --raw XRANGE "$k" - + ;;
      set) redis_cli --raw SMEMBERS "$k" ;;
      zset) redis_cli --raw ZRANGE "$k" 0 -1 WITHSCORES ;;
      list) redis_cli --raw LRANGE "$k" 0 -1 ;;
    esac >>"$1" 2>&1
  done
}
# bucket_dir: the store's bytes of this test's prefix (s3rver's own files when
# the servers are this test's, else a download).
bucket_dir() {
  local d="${SV_RUN_DIR:-}/s3/$SV_S3_BUCKET/${SV_PREFIX%/}"
  if [[ -n "${SV_RUN_DIR:-}" && -d "$d" ]]; then echo "$d"; return; fi
  rm -rf "$SV_SCRATCH/scan-bucket" && mkdir -p "$SV_SCRATCH/scan-bucket"
  aws_s3 s3 cp --only-show-errors --recursive "s3://$SV_S3_BUCKET/$SV_PREFIX" "$SV_SCRATCH/scan-bucket/"
  echo "$SV_SCRATCH/scan-bucket"
}
mkdir -p "$SV_SCRATCH/scan"
redis_dump "$SV_SCRATCH/scan/redis.txt"
assert_ge "$(grep -c 'shred-' "$SV_SCRATCH/scan/redis.txt")" 5 "lines about this part's jobs in the Redis dump"
before="$(scan "$(bucket_dir)" | sort -u)"
assert_contains "$before" "wrapped-2/hex" "before the shred, the scan finds the wrapped data key in keys/ws-s.json (the method works)"

sv keys shred ws-s --yes >"$SV_SCRATCH/cli-shred.txt"
sqlite3 "$SQLVAULT_DATA_DIR/ws-s/livestore.db" "INSERT INTO todos VALUES ('s3', 'x', 0)"
sv backup ws-s --id shred-b3 --json >"$SV_SCRATCH/cli-b3.txt" 2>&1 && fail "a backup of the shredded workspace was taken"
assert_contains "$(cat "$SV_SCRATCH/cli-b3.txt")" "refusing to back up workspace 'ws-s' again" "queued backup after the shred"
SQLVAULT_FULL_EVERY=24h sv backup ws-s --inline >"$SV_SCRATCH/cli-b4.txt" 2>&1 && fail "an incremental of the shredded workspace was taken"
assert_contains "$(cat "$SV_SCRATCH/cli-b4.txt")" "shredded" "chain backup after the shred"
kill "$WORKER_PID" 2>/dev/null || true
wait "$WORKER_PID" 2>/dev/null || true
expect_restore_fail ws-s latest "was shredded at"
redis_dump "$SV_SCRATCH/scan/redis.txt"
scandirs=("$(bucket_dir)" "$SV_SCRATCH/scan" "$SQLVAULT_DATA_DIR" "$SV_SCRATCH"/*.log "$SV_SCRATCH"/cli-*)
note "scanned: the bucket, Redis, the data dir (chain state, temporary dir), the workers' logs, the commands' output"
find "$SQLVAULT_DATA_DIR" -path '*.sqlvault-*' -type f | sed 's/^/   file: /' | head -20
hits="$(for p in "${scandirs[@]}"; do scan "$p"; done | sort -u)"
assert_eq "" "$hits" "copies of the data key (raw, hex, base64; or either wrapped copy) after the shred"
obj_get keys/ws-s.json "$T/tomb.json"
assert_eq "true null null" "$(jq -r '[.shredded, .wrapped, .nonce] | map(tostring) | join(" ")' "$T/tomb.json")" "the record is a tombstone"

sv_pass
