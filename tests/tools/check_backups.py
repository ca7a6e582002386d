#!/usr/bin/env python3
"""check_backups.py -- audits the backups under a store root on disk.

    check_backups.py ROOT [--jobs FILE]

ROOT is a file:// store's directory or s3rver's data directory for the test
prefix (DATA/BUCKET/PREFIX; s3rver keeps KEY._S3rver_object files). For every
committed backup (a folder full/WS/TS/ with metadata.json) it checks the
object against both checksums of its metadata: sha256 of the stored bytes
(compressedChecksum) and sha256 of the decompressed database (checksum, via
`zstd -dc`), and the database size. With --jobs (one job id a line) it also
counts committed backups per job id.

Prints one JSON object: committed, mismatched (list), uncommitted (folders
without metadata.json), per_job (job id -> count, only with --jobs),
duplicates (job ids with more than one), missing (job ids with none),
temp_files (files whose name says they are a temporary copy). Exit status 0;
the caller decides what must be zero.
"""
import hashlib
import json
import os
import subprocess
import sys

S3RVER = "._S3rver_object"


def objects(root):
    """Maps relative key -> path of its bytes, for both layouts."""
    out = {}
    for d, _, files in os.walk(root):
        for f in files:
            p = os.path.join(d, f)
            rel = os.path.relpath(p, root)
            if f.endswith(S3RVER):
                out[rel[: -len(S3RVER)]] = p
            elif "._S3rver_" in f:
                continue
            else:
                out.setdefault(rel, p)
    return out


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    return "sha256:" + h.hexdigest()


def sha256_zstd(path):
    h = hashlib.sha256()
    n = 0
    p = subprocess.Popen(["zstd", "-dc", path], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    for b in iter(lambda: p.stdout.read(1 << 20), b""):
        h.update(b)
        n += len(b)
    if p.wait() != 0:
        return None, n
    return "sha256:" + h.hexdigest(), n


def main():
    root = sys.argv[1]
    jobs = None
    if "--jobs" in sys.argv:
        with open(sys.argv[sys.argv.index("--jobs") + 1]) as f:
            jobs = [l.strip() for l in f if l.strip()]
    objs = objects(root)
    folders = {}
    temp = []
    for k in objs:
        base = os.path.basename(k)
        if base.startswith(".sqlvault-") or base.endswith(".tmp") or ".tmp-" in base:
            temp.append(k)
        parts = k.split("/")
        if len(parts) == 4 and parts[0] == "full":
            folders.setdefault("/".join(parts[:3]), set()).add(parts[3])
    committed, mismatched, uncommitted = 0, [], []
    per_job = {j: 0 for j in (jobs or [])}
    for folder, names in sorted(folders.items()):
        if "metadata.json" not in names:
            uncommitted.append(folder)
            continue
        committed += 1
        with open(objs[folder + "/metadata.json"]) as f:
            m = json.load(f)
        job = m.get("jobId")
        if jobs is not None and job in per_job:
            per_job[job] += 1
        obj = folder + "/" + m.get("object", "livestore.db.zst")
        if obj not in objs:
            mismatched.append({"folder": folder, "why": "object missing"})
            continue
        if sha256_file(objs[obj]) != m.get("compressedChecksum"):
            mismatched.append({"folder": folder, "why": "compressedChecksum"})
            continue
        dsum, dlen = sha256_zstd(objs[obj])
        if dsum != m.get("checksum") or dlen != m.get("databaseSize"):
            mismatched.append({"folder": folder, "why": "checksum or size of the database"})
    out = {
        "committed": committed,
        "mismatched": mismatched,
        "uncommitted": uncommitted,
        "temp_files": temp,
    }
    if jobs is not None:
        out["per_job"] = per_job
        out["duplicates"] = sorted(j for j, n in per_job.items() if n > 1)
        out["missing"] = sorted(j for j, n in per_job.items() if n == 0)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
