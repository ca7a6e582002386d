#!/usr/bin/env bash
# s3_sigv4_botocore: our SigV4 signer and presigner against botocore, live.
# tests/tools/sigv4_vectors.py asks botocore (an independent implementation)
# to sign the checked-in request shapes plus randomized ones (keys with
# spaces, unicode and reserved characters, odd query values, presigned GET
# with response-content-disposition and PUT, random times and regions), and
# test_sigv4 checks that we produce the same canonical requests,
# Authorization headers and presigned queries. It also checks that the
# checked-in fixture is what botocore produces today.
source "$(dirname "$0")/lib.sh"

TEST_BIN="$SV_BUILD_DIR/test_sigv4"
GEN="$SV_SOURCE_DIR/tests/tools/sigv4_vectors.py"
[[ -x "$TEST_BIN" ]] || fail "missing $TEST_BIN (build the project first)"
python3 -c 'import botocore' 2>/dev/null || fail "python3 has no botocore
HINT: the default python3 ships it; Debian's awscli vendors it as awscli.botocore"
mkdir -p "$SV_TMP"
out="$(mktemp -d "$SV_TMP/sigv4.XXXXXX")"
trap 'rm -rf "$out"' EXIT

step "the checked-in fixture matches botocore today"
python3 "$GEN" >"$out/fixed.json"
cmp -s "$out/fixed.json" "$SV_SOURCE_DIR/tests/unit/fixtures/sigv4_vectors.json" ||
  fail "tests/unit/fixtures/sigv4_vectors.json is stale
HINT: python3 tests/tools/sigv4_vectors.py > tests/unit/fixtures/sigv4_vectors.json"
note "ok: fixture up to date"

for seed in 1 $RANDOM $RANDOM; do
  step "randomized vectors, seed $seed"
  python3 "$GEN" --random "$seed" >"$out/random.json"
  "$TEST_BIN" "$out/random.json" || fail "signer disagrees with botocore (seed $seed)"
done

sv_pass
