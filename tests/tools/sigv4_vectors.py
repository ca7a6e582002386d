#!/usr/bin/env python3
"""sigv4_vectors.py -- SigV4 known-answer vectors from botocore, an
independent implementation, for tests/unit/test_sigv4.c.

Prints JSON: a list of vectors. Each "header" vector gives the exact request
botocore signed (method, bucket, raw key, raw query pairs, every header it
signed, payload) and the Authorization and canonical request it produced;
each "presign" vector gives the presigned URL's canonical query (sorted,
without the signature) and the signature.

Regenerate the checked-in fixture with:
    python3 tests/tools/sigv4_vectors.py > tests/unit/fixtures/sigv4_vectors.json
With --random SEED it adds randomized keys (unicode, spaces, reserved
characters) and query values; tests/it/s3_sigv4_botocore.sh runs that live.
"""
import datetime
import json
import random
import sys
from unittest import mock

try:
    import botocore.auth as bauth
    import botocore.awsrequest as breq
    import botocore.credentials as bcred
    import botocore.utils as butils
except ImportError:  # Debian's awscli vendors botocore
    import awscli  # noqa: F401
    from awscli.botocore import auth as bauth
    from awscli.botocore import awsrequest as breq
    from awscli.botocore import credentials as bcred
    from awscli.botocore import utils as butils

AK = "AKIDEXAMPLE"
SK = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"


def fixed(ms):
    """A get_current_datetime replacement pinned to ms since the epoch."""
    dt = datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc).replace(tzinfo=None)
    return lambda *a, **k: dt


def url_for(endpoint, bucket, key):
    """Path-style URL path as botocore's S3 serializer builds it."""
    path = "/" + bucket
    if key is not None:
        path += "/" + butils.percent_encode(key, safe="/~")
    return endpoint + path


def header_vector(name, *, method="GET", endpoint="http://127.0.0.1:9000", bucket="bkt",
                  key=None, query=(), headers=(), payload=b"", region="auto", ms=1767225600000,
                  service="s3", ak=AK, sk=SK):
    """Signs one request with S3SigV4Auth (or SigV4Auth for non-S3) at a fixed time."""
    url = url_for(endpoint, bucket, key) if bucket else endpoint + "/"
    req = breq.AWSRequest(method=method, url=url, headers=dict(headers), data=payload,
                          params=list(query))
    cls = bauth.S3SigV4Auth if service == "s3" else bauth.SigV4Auth
    signer = cls(bcred.Credentials(ak, sk), service, region)
    with mock.patch.object(bauth, "get_current_datetime", fixed(ms)):
        signer.add_auth(req)
    auth = req.headers["Authorization"]
    del req.headers["Authorization"]  # what was signed, without the result
    creq = signer.canonical_request(req)
    signed = signer.headers_to_sign(req)
    sent = []
    for n in sorted(set(signed)):
        for v in signed.get_all(n):
            sent.append([n, v])
    payload_hash = req.headers.get("X-Amz-Content-SHA256") or creq.rsplit("\n", 1)[1]
    return {
        "name": name, "kind": "header", "access_key": ak, "secret": sk, "region": region,
        "service": service, "time_ms": ms, "method": method, "bucket": bucket, "key": key,
        "query": [list(p) for p in query], "headers": sent,
        "payload": payload.decode("utf-8"), "payload_hash": payload_hash,
        "expect_canonical_request": creq, "expect_authorization": auth,
    }


def presign_vector(name, *, method="GET", endpoint="http://127.0.0.1:9000", bucket="bkt",
                   key="k", query=(), expires=3600, region="auto", ms=1767225600000,
                   ak=AK, sk=SK):
    """Presigns one request with S3SigV4QueryAuth at a fixed time."""
    url = url_for(endpoint, bucket, key)
    req = breq.AWSRequest(method=method, url=url, params=list(query))
    signer = bauth.S3SigV4QueryAuth(bcred.Credentials(ak, sk), "s3", region, expires=expires)
    with mock.patch.object(bauth, "get_current_datetime", fixed(ms)):
        signer.add_auth(req)
    from urllib.parse import urlsplit
    q = urlsplit(req.url).query
    pairs = [p.partition("=") for p in q.split("&")]
    sig = [v for k, _, v in pairs if k == "X-Amz-Signature"][0]
    canon = "&".join(f"{k}={v}" for k, _, v in sorted(pairs) if k != "X-Amz-Signature")
    return {
        "name": name, "kind": "presign", "access_key": ak, "secret": sk, "region": region,
        "service": "s3", "time_ms": ms, "method": method, "bucket": bucket, "key": key,
        "host": urlsplit(url).netloc, "query": [list(p) for p in query], "expires": expires,
        "expect_query": canon, "expect_signature": sig, "expect_url": req.url,
    }


def fixed_vectors():
    """The checked-in set: every request shape the driver sends, plus oddities."""
    v = []
    v.append(header_vector(
        "aws iam ListUsers example", method="GET", endpoint="https://iam.amazonaws.com",
        bucket=None, query=[("Action", "ListUsers"), ("Version", "2010-05-08")],
        headers=[("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")],
        region="us-east-1", service="iam", ms=1440938160000))
    v.append(header_vector("get object", key="full/ws1/20260101T000000.000Z/livestore.db.zst"))
    v.append(header_vector("put small object", method="PUT", key="full/ws1/ts/metadata.json",
                           headers=[("Content-Type", "application/json"), ("If-None-Match", "*")],
                           payload=b'{"version":"1.0"}'))
    v.append(header_vector("key with spaces and specials", method="PUT",
                           key="dir/a b+c=d&e?f#g%h'i(j)k*l!m,n;o:p@q$r[s]t{u}v|w\\x^y`z\"",
                           payload=b"x" * 1000, region="us-east-1"))
    v.append(header_vector("unicode key", key="exports/ws/caf\u00e9 \u65e5\u672c\u8a9e \U0001F600.db"))
    v.append(header_vector("ranged get", key="a/b", headers=[("Range", "bytes=1048576-"),
                                                              ("If-Match", '"abc-3"')]))
    v.append(header_vector("list objects v2", key=None,
                           query=[("list-type", "2"), ("max-keys", "1000"),
                                  ("prefix", "backups/full/ws 1/"), ("delimiter", "/"),
                                  ("continuation-token", "1/abc+def==")]))
    v.append(header_vector("delete objects", method="POST", key=None, query=[("delete", "")],
                           headers=[("Content-MD5", "1B2M2Y8AsgTpgAmY7PhCfg=="),
                                    ("Content-Type", "application/xml")],
                           payload=b"<Delete><Quiet>true</Quiet></Delete>"))
    v.append(header_vector("create multipart", method="POST", key="big/object.zst",
                           query=[("uploads", "")],
                           headers=[("Content-Type", "application/zstd")]))
    v.append(header_vector("upload part", method="PUT", key="big/object.zst",
                           query=[("partNumber", "7"), ("uploadId", "2~abc/def+ghi=")],
                           payload="".join(chr(c) for c in range(1, 256)).encode("utf-8")))
    v.append(header_vector("header whitespace", key="k",
                           headers=[("X-Amz-Meta-Note", "  a   b\tc  ")]))
    v.append(header_vector("other day and region", key="k", region="eu-west-3",
                           ms=1700000000123))
    v.append(presign_vector("presigned get with attachment", key="exports/ws/j1/ws-20260101.db",
                            query=[("response-content-disposition",
                                    'attachment; filename="ws-20260101T000000.000Z.db"')]))
    v.append(presign_vector("presigned put", method="PUT", key="uploads/ws/abc.db",
                            expires=3600, region="us-east-1"))
    v.append(presign_vector("presigned get unicode", key="x/\u00fcber y.db", expires=60,
                            endpoint="https://acct.r2.cloudflarestorage.com"))
    v.append(presign_vector("presigned get 7 days", key="k", expires=604800, ms=1767225600999))
    return v


def random_key(rng):
    """A random key mixing ASCII specials, spaces, slashes and non-ASCII."""
    alphabet = (list("abcXYZ019-_.~ /+=&?#%!*'()[]{}:;@$,^`|\\\"<>") +
                ["\u00e9", "\u00fc", "\u65e5", "\u0416", "\U0001F600", "\u00a0"])
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 40))).lstrip("/") or "k"


def random_vectors(seed, n=40):
    """Randomized requests for the live comparison."""
    rng = random.Random(seed)
    v = []
    for i in range(n):
        ms = rng.randint(1_500_000_000_000, 1_900_000_000_000)
        region = rng.choice(["auto", "us-east-1", "eu-central-1"])
        key = random_key(rng)
        if i % 3 == 2:
            q = [("response-content-disposition", f'attachment; filename="{random_key(rng)}"')]
            v.append(presign_vector(f"random presign {i}", method=rng.choice(["GET", "PUT"]),
                                    key=key, query=q if rng.random() < 0.5 else [],
                                    expires=rng.randint(1, 604800), region=region, ms=ms))
            continue
        q = [(rng.choice(["prefix", "marker", "x-id", "a b"]), random_key(rng))
             for _ in range(rng.randint(0, 3))]
        q = list({k: val for k, val in q}.items())
        payload = "".join(rng.choice("ab\u00e9\n ") for _ in range(rng.randint(0, 50))).encode()
        v.append(header_vector(f"random header {i}", method=rng.choice(["GET", "PUT", "POST"]),
                               key=key, query=q, payload=payload, region=region, ms=ms,
                               headers=[("Content-Type", "application/octet-stream")]))
    return v


def main():
    vectors = fixed_vectors()
    if len(sys.argv) == 3 and sys.argv[1] == "--random":
        vectors += random_vectors(int(sys.argv[2]))
    elif len(sys.argv) != 1:
        sys.exit("usage: sigv4_vectors.py [--random SEED]")
    json.dump(vectors, sys.stdout, indent=1, ensure_ascii=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
