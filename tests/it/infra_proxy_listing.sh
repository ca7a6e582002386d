#!/usr/bin/env bash
# The R2-rules proxy answers ListObjects / ListObjectsV2 with a delimiter as
# S3 and R2 do (s3rver 5.0.0 folds only keys one level below the prefix, so
# prefix=full/&delimiter=/ over full/WS/TS/file lists nothing, and its own
# pages lose keys): Contents only for keys with no delimiter after the
# prefix, CommonPrefixes sorted and once, max-keys over keys and prefixes
# together, a prefix never split across pages nor repeated, continuation
# tokens, start-after, V1 markers, encoding-type=url; the same answers when
# the proxy's upstream pages are tiny; faults scoped by prefix, the request
# log and signature checks still apply. Checked with the aws CLI and signed
# curl against a model of the fold over the keys the test wrote: fixed
# awkward ones (a key named like a folder, "a-b/" and "a.b" beside "a/",
# spaces, "+", non-ASCII) and random ones (seed printed; SV_SEED=N repeats).
source "$(dirname "$0")/lib.sh"
sv_setup

P="${SV_PREFIX}l/"
SEED="${SV_SEED:-$RANDOM}"
note "seed $SEED (SV_SEED=$SEED repeats this run)"
d="$SV_SCRATCH"
echo "one object" >"$d/body"
sv_on_exit "curl -fsS -X POST --data '{\"listPageKeys\":1000,\"listMaxKeys\":1000}' '$SV_PROXY_CONTROL/config'"

# chk.py: the model (keys after START under PREFIX, folded at "/"), and the
# checks of what the CLI or curl answered against it.
cat >"$d/chk.py" <<'PY'
import json, sys, urllib.parse
import xml.etree.ElementTree as ET

def b(s): return s.encode("utf-8")

def fold(keys, prefix, start="", delim="/"):
    contents, prefixes = [], []
    for k in sorted(set(keys), key=b):
        if not k.startswith(prefix) or (start and b(k) <= b(start)):
            continue
        i = k.find(delim, len(prefix))
        if i < 0:
            contents.append(k)
            continue
        cp = k[: i + len(delim)]
        if cp != start and (not prefixes or prefixes[-1] != cp):
            prefixes.append(cp)
    return contents, prefixes

def load_keys(path):
    return [l.rstrip("\n") for l in open(path, encoding="utf-8") if l.strip("\n")]

def cli_entries(doc):
    return [c["Key"] for c in doc.get("Contents") or []], [p["Prefix"] for p in doc.get("CommonPrefixes") or []]

def report(what, got, want):
    if got != want:
        print(f"{what}: got {got}\n  want {want}")
        sys.exit(1)

cmd = sys.argv[1]
if cmd == "random":  # random KEYS SEED N: N random keys, one a line
    import random
    rng = random.Random(int(sys.argv[2]))
    alphabet = "ab-. _0"
    out = set()
    while len(out) < int(sys.argv[3]):
        comps = []
        for _ in range(rng.randint(1, 4)):
            c = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 3)))
            if c.strip(".") == "" or c.startswith(" ") or c.endswith(" "):
                c = "k" + c + "k"
            comps.append(c)
        out.add("/".join(comps))
    print("\n".join(sorted(out)))
elif cmd == "expect":  # expect KEYS PREFIX [START]: prints the model's counts
    c, p = fold(load_keys(sys.argv[2]), sys.argv[3], sys.argv[4] if len(sys.argv) > 4 else "")
    print(len(c), len(p))
elif cmd == "cli":  # cli KEYS PREFIX JSONFILE [START]: a whole CLI listing
    keys = load_keys(sys.argv[2])
    doc = json.load(open(sys.argv[4], encoding="utf-8")) if open(sys.argv[4]).read().strip() else {}
    want = fold(keys, sys.argv[3], sys.argv[5] if len(sys.argv) > 5 else "")
    got = cli_entries(doc)
    report("Contents", got[0], want[0])
    report("CommonPrefixes", got[1], want[1])
    print(len(got[0]), len(got[1]))
elif cmd == "resumed":  # resumed KEYS PREFIX PAGESIZE JSONFILE: --max-items, then --starting-token
    # botocore empties the CommonPrefixes of the first page of a resumed run
    # (PageIterator._handle_first_request), so up to one page of them is
    # missing there; Contents must be whole
    keys, prefix, ps = load_keys(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    got = cli_entries(json.load(open(sys.argv[5], encoding="utf-8")))
    want = fold(keys, prefix)
    report("Contents", got[0], want[0])
    missing = [x for x in want[1] if x not in got[1]]
    report("CommonPrefixes, in order, each once", got[1], [x for x in want[1] if x in got[1]])
    if len(missing) > ps: report("CommonPrefixes missing", missing, f"at most {ps}")
    print(len(got[0]), len(got[1]), "missing", len(missing))
elif cmd in ("pages", "after", "whole"):  # boto3 (the aws CLI's library) through the proxy
    import os, boto3
    from botocore.config import Config
    s3 = boto3.client("s3", endpoint_url=os.environ["SV_S3_ENDPOINT"], region_name="auto",
                      config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))
    bucket, keys = os.environ["SV_S3_BUCKET"], load_keys(sys.argv[2])

    def listing(prefix, mk, start=""):
        """Every page of one listing: [(contents, prefixes, doc)]."""
        pages, token = [], None
        while True:
            args = dict(Bucket=bucket, Prefix=prefix, Delimiter="/", MaxKeys=mk)
            if token: args["ContinuationToken"] = token
            elif start: args["StartAfter"] = start
            doc = s3.list_objects_v2(**args)
            c, p = cli_entries(doc)
            pages.append((c, p, doc))
            token = doc.get("NextContinuationToken")
            if not doc["IsTruncated"]: return pages
            if len(pages) > 500: report("pages", len(pages), "at most 500")

    def joined(pages):
        return [k for c, _, _ in pages for k in c], [x for _, p, _ in pages for x in p]

    if cmd == "pages":  # pages KEYS PREFIX MAXKEYS...: page by page invariants
        prefix, out = sys.argv[3], []
        for mk in map(int, sys.argv[4:]):
            pages = listing(prefix, mk)
            for i, (c, p, doc) in enumerate(pages):
                n, last = len(c) + len(p), i == len(pages) - 1
                if doc["KeyCount"] != n: report(f"max-keys {mk} page {i} KeyCount", doc["KeyCount"], n)
                if n != mk and not last: report(f"max-keys {mk} page {i} entries", n, mk)
                if n > mk: report(f"max-keys {mk} page {i} entries over max-keys", n, mk)
                if ("NextContinuationToken" in doc) == last: report(f"max-keys {mk} page {i} token", not last, last)
            want = fold(keys, prefix)
            got = joined(pages)
            report(f"max-keys {mk}: Contents over the pages", got[0], want[0])
            report(f"max-keys {mk}: CommonPrefixes over the pages", got[1], want[1])
            out.append(f"max-keys {mk}: {len(pages)} pages")
        print(", ".join(out))
    elif cmd == "after":  # after KEYS PREFIX START...: StartAfter, pages of 2
        for start in sys.argv[4:]:
            got, want = joined(listing(sys.argv[3], 2, start)), fold(keys, sys.argv[3], start)
            report(f"start-after {start}: Contents", got[0], want[0])
            report(f"start-after {start}: CommonPrefixes", got[1], want[1])
        print(len(sys.argv) - 4, "start-after values")
    else:  # whole KEYS PREFIX...: each prefix, pages of 3
        for prefix in sys.argv[3:]:
            got, want = joined(listing(prefix, 3)), fold(keys, prefix)
            report(f"prefix {prefix}: Contents", got[0], want[0])
            report(f"prefix {prefix}: CommonPrefixes", got[1], want[1])
        print(len(sys.argv) - 3, "prefixes")
elif cmd == "xml":  # xml KEYS PREFIX FILE URLENCODED: a raw V2 answer
    keys, prefix, urlenc = load_keys(sys.argv[2]), sys.argv[3], sys.argv[5] == "1"
    ns = {"s": "http://s3.amazonaws.com/doc/2006-03-01/"}
    root = ET.parse(sys.argv[4]).getroot()
    dec = urllib.parse.unquote_plus if urlenc else (lambda s: s)
    got = ([dec(e.text) for e in root.findall("s:Contents/s:Key", ns)],
           [dec(e.text) for e in root.findall("s:CommonPrefixes/s:Prefix", ns)])
    want = fold(keys, prefix)
    report("Contents", got[0], want[0])
    report("CommonPrefixes", got[1], want[1])
    report("KeyCount", root.findtext("s:KeyCount", namespaces=ns), str(len(want[0]) + len(want[1])))
    report("EncodingType", root.findtext("s:EncodingType", namespaces=ns), "url" if urlenc else None)
    print(len(got[0]), len(got[1]))
PY
chk() { python3 "$d/chk.py" "$@"; }

# urlenc S: S percent-encoded for a URL path ("/" kept) or a query value.
urlenc() { python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=sys.argv[2]))' "$1" "${2-/}"; }

step "seed fixed and random keys through the proxy"
printf '%s\n' top.txt a a.b a/1 a/2/x a/3 a-b/1 "a b/1" a.c/1 b/c/d/e "sp ace/+plus/ü(x)!" z "ü/1" \
  "deep/x/y/z/1" "deep/x/y/z/2" "deep/x/w" "amp&<lt>/1" "quote'back\`/1" >"$d/rel"
chk random "$SEED" 40 >>"$d/rel"
LC_ALL=C sort -u "$d/rel" | sed "s|^|$P|" >"$d/keys"
printf '%s\n' "${SV_PREFIX}l.sibling" "${SV_PREFIX}l-sibling/x" "${SV_PREFIX}m/x" >>"$d/keys"
n=0
while IFS= read -r k; do
  code="$(s3_curl PUT "$(urlenc "$k")" -T "$d/body")"
  [[ "$code" == 200 ]] || fail "PUT of [$k] answered $code"
  n=$((n + 1))
done <"$d/keys"
note "ok: $n objects written"
assert_eq "$n" "$(s3_keys "$SV_PREFIX" | wc -l)" "objects s3rver holds under the test prefix"

# cli_list OUT ARGS...: aws s3api through the proxy, JSON into OUT.
cli_list() {
  local out="$1"
  shift
  aws_proxy s3api "$@" --bucket "$SV_S3_BUCKET" --output json >"$out" || fail "aws s3api $* failed"
}

step "list-objects-v2 --delimiter / answers as the model, whole or in pages of 1, 2, 3"
for pfx in "$P" "${P}a" "${P}deep/x/y/" "${P}sp ace/" "${SV_PREFIX}l" "${P}nothing/"; do
  sizes=("" 2)
  [[ "$pfx" == "$P" ]] && sizes=("" 1 2 3)
  for ps in "${sizes[@]}"; do
    cli_list "$d/out.json" list-objects-v2 --prefix "$pfx" --delimiter / ${ps:+--page-size "$ps"}
    counts="$(chk cli "$d/keys" "$pfx" "$d/out.json")" || fail "prefix [$pfx] page size [${ps:-default}]: $counts"
  done
  note "ok: prefix [${pfx#"$SV_PREFIX"}]: $counts (contents, prefixes) at page sizes [${sizes[*]}]"
done
read -r nc np <<<"$(chk expect "$d/keys" "$P")"
assert_ge "$np" 10 "common prefixes under l/"

step "list-objects (V1) --delimiter / pages with NextMarker the same way"
for ps in "" 2; do
  cli_list "$d/out.json" list-objects --prefix "$P" --delimiter / ${ps:+--page-size "$ps"}
  counts="$(chk cli "$d/keys" "$P" "$d/out.json")" || fail "V1 page size [${ps:-default}]: $counts"
done
note "ok: V1: $counts"

step "page by page: max-keys counts keys and prefixes together; no prefix split or repeated"
counts="$(chk pages "$d/keys" "$P" 1 2 5)" || fail "$counts"
note "ok: $counts"
counts="$(chk pages "$d/keys" "${P}deep/" 1)" || fail "$counts"
note "ok: deep/: $counts"

step "--max-items stops part way; --starting-token resumes where it stopped"
cli_list "$d/part1.json" list-objects-v2 --prefix "$P" --delimiter / --page-size 2 --max-items 5
next="$(jq -r '.NextToken // empty' "$d/part1.json")"
[[ -n "$next" ]] || fail "no NextToken after --max-items 5"
cli_list "$d/part2.json" list-objects-v2 --prefix "$P" --delimiter / --page-size 2 --starting-token "$next"
jq -s '{Contents: ([.[].Contents // []] | add), CommonPrefixes: ([.[].CommonPrefixes // []] | add)}' \
  "$d/part1.json" "$d/part2.json" >"$d/out.json"
counts="$(chk resumed "$d/keys" "$P" 2 "$d/out.json")" || fail "resumed listing: $counts"
note "ok: the two parts together: $counts (botocore drops the resumed page's prefixes)"

step "start-after: after a common prefix its keys are skipped whole; after a key the listing goes on"
counts="$(chk after "$d/keys" "$P" "${P}a/" "${P}a-b/" "${P}a" "${P}deep" "${P}b/c" "${P}zzz")" || fail "$counts"
note "ok: $counts"

step "raw answers: XML-escaped keys, or URL-encoded with encoding-type=url"
qp="$(urlenc "$P" '')"
SV_CURL_OUT="$d/raw.xml" s3_curl GET "?delimiter=%2F&list-type=2&prefix=$qp" >"$d/code"
assert_eq 200 "$(cat "$d/code")" "status"
counts="$(chk xml "$d/keys" "$P" "$d/raw.xml" 0)" || fail "raw XML: $counts"
grep -q 'amp&amp;&lt;lt&gt;/' "$d/raw.xml" || fail "the prefix with & and < is not XML-escaped"
SV_CURL_OUT="$d/raw.xml" s3_curl GET "?delimiter=%2F&encoding-type=url&list-type=2&prefix=$qp" >"$d/code"
assert_eq 200 "$(cat "$d/code")" "status"
counts="$(chk xml "$d/keys" "$P" "$d/raw.xml" 1)" || fail "URL-encoded XML: $counts"
grep -q 'sp%20ace/' "$d/raw.xml" || fail "the prefix with a space is not URL-encoded"
note "ok: both forms decode to the model ($counts)"

step "tiny upstream pages (listPageKeys 1, 2, 3): the proxy still sees every key"
for pk in 1 2 3; do
  proxy_api POST /config "{\"listPageKeys\":$pk}" >/dev/null
  since="$(proxy_api GET '/log?since=0' | jq .last)"
  # every truncated upstream page costs up to 49 more (see upstreamObjects):
  # the whole l/ at the largest of the three only
  pfxs=("${P}a" "${P}deep/")
  ((pk == 3)) && pfxs=("$P" "${SV_PREFIX}l")
  counts="$(chk whole "$d/keys" "${pfxs[@]}")" || fail "listPageKeys $pk: $counts"
  up="$(proxy_api GET "/log?since=$since&op=ListObjectsV2" | jq '[.entries[].folded.upstreamPages] | max')"
  assert_ge "$up" 5 "upstream requests of one folded page at listPageKeys $pk"
done
proxy_api POST /config '{"listPageKeys":1000}' >/dev/null
direct="$(aws_s3 s3api list-objects-v2 --bucket "$SV_S3_BUCKET" --prefix "${P}deep/x/" --delimiter / \
  --query 'length(CommonPrefixes || `[]`)' --output text)"
note "(s3rver itself folds $direct prefixes under deep/x/, whose y/ holds no key of its own; the proxy 1)"

step "listMaxKeys caps the proxy's own pages below the client's max-keys"
proxy_api POST /config '{"listMaxKeys":2}' >/dev/null
out="$(aws_proxy s3api list-objects-v2 --bucket "$SV_S3_BUCKET" --prefix "$P" --delimiter / --no-paginate \
  --output json)"
assert_eq "2 true" "$(jq -r '"\(.KeyCount) \(.IsTruncated)"' <<<"$out")" "KeyCount and IsTruncated of a max-keys 1000 request"
cli_list "$d/out.json" list-objects-v2 --prefix "$P" --delimiter /
counts="$(chk cli "$d/keys" "$P" "$d/out.json")" || fail "paged by the proxy's cap: $counts"
proxy_api POST /config '{"listMaxKeys":1000}' >/dev/null
note "ok: the CLI follows the capped pages to the same listing ($counts)"
assert_contains "$(curl -sS -X POST --data '{"listMaxKeys":0}' "$SV_PROXY_CONTROL/config")" \
  "listMaxKeys must be an integer from 1 to 1000" "a bad setting is refused"

step "faults scoped by prefix apply to folded listings; other prefixes are untouched"
proxy_faults "{\"seed\":$SEED,\"rules\":[
  {\"name\":\"other\",\"op\":\"ListObjectsV2\",\"prefix\":\"${SV_PREFIX}m/\",\"status\":500,\"permanent\":true},
  {\"name\":\"busy\",\"op\":\"ListObjectsV2\",\"prefix\":\"$P\",\"status\":503,\"times\":1},
  {\"name\":\"cut\",\"op\":\"ListObjects\",\"prefix\":\"$P\",\"reset\":\"response\",\"times\":1}]}"
assert_eq 503 "$(s3_curl GET "?delimiter=%2F&list-type=2&prefix=$qp")" "first folded V2 listing (503 rule)"
assert_eq 200 "$(s3_curl GET "?delimiter=%2F&list-type=2&prefix=$qp")" "second folded V2 listing"
rc=0
s3_curl GET "?delimiter=%2F&prefix=$qp" >/dev/null 2>&1 || rc=$?
assert_ne 0 "$rc" "curl exit status of the V1 listing cut mid-answer"
assert_eq 200 "$(s3_curl GET "?delimiter=%2F&prefix=$qp")" "the V1 listing after the cut"
fired="$(proxy_api GET /faults | jq -c '[.rules[] | [.name, .fired]]')"
assert_eq '[["other",0],["busy",1],["cut",1]]' "$fired" "rules fired"
cli_list "$d/out.json" list-objects-v2 --prefix "$P" --delimiter /
counts="$(chk cli "$d/keys" "$P" "$d/out.json")" || fail "after the faults: $counts"
proxy_faults '{"rules":[]}'

step "bad input gets a clear error and changes nothing"
SV_CURL_OUT="$d/err.xml" s3_curl GET "?continuation-token=bm9wZQ&delimiter=%2F&list-type=2&prefix=$qp" >"$d/code"
assert_eq 400 "$(cat "$d/code")" "a continuation token the proxy never gave"
assert_contains "$(cat "$d/err.xml")" "The continuation token provided is incorrect" "message"
SV_CURL_OUT="$d/err.xml" s3_curl GET "?delimiter=%2F&encoding-type=xml&list-type=2&prefix=$qp" >"$d/code"
assert_eq 400 "$(cat "$d/code")" "encoding-type=xml"
assert_contains "$(cat "$d/err.xml")" "Invalid Encoding Method" "message"
SV_CURL_OUT="$d/err.xml" s3_curl GET "?delimiter=%2F&list-type=2&max-keys=lots&prefix=$qp" >"$d/code"
assert_eq 400 "$(cat "$d/code")" "max-keys=lots"
SV_CURL_OUT="$d/err.xml" s3_curl --secret wrong GET "?delimiter=%2F&list-type=2&prefix=$qp" >"$d/code"
assert_eq 403 "$(cat "$d/code")" "a wrong secret"
assert_contains "$(cat "$d/err.xml")" "SignatureDoesNotMatch" "code"
assert_eq 403 "$(curl -sS -o /dev/null -w '%{http_code}' "$SV_S3_ENDPOINT/$SV_S3_BUCKET/?delimiter=%2F&list-type=2&prefix=$qp")" \
  "an unsigned folded listing"
cli_list "$d/out.json" list-objects-v2 --prefix "$P" --delimiter /
counts="$(chk cli "$d/keys" "$P" "$d/out.json")" || fail "after the bad requests: $counts"
assert_eq "$n" "$(s3_keys "$SV_PREFIX" | wc -l)" "objects under the test prefix"

step "the request log shows folded listings with their upstream work"
entry="$(proxy_log ListObjectsV2 | tail -1)"
assert_contains "$entry" '"folded": {"upstreamPages": 1' "folded entry"
assert_contains "$entry" "\"listPrefix\": \"$P\"" "listed prefix"
assert_ge "$(proxy_count ListObjectsV2 400)" 3 "refused listings logged with 400"

sv_pass
