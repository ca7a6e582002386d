#!/usr/bin/env python3
"""A second process holding a workspace database open during a restore
(tests/it/restore_live.sh).

  restore_peer.py reader DB GO_FILE   prints journal mode and the marker row,
                                      waits for GO_FILE, prints them again on
                                      the same open connection
  restore_peer.py writer DB STOP_FILE PROGRESS_FILE
                                      inserts one row a transaction into wlog
                                      until STOP_FILE exists; writes its count
                                      to PROGRESS_FILE; prints the count and
                                      the slowest commit in ms; exits 1 on any
                                      error
Every wait is bounded (60 s)."""
import os
import sqlite3
import sys
import time

DEADLINE = time.time() + 60


def marker(c):
    row = c.execute("SELECT title FROM todos WHERE id = 'marker'").fetchone()
    return row[0] if row else "none"


def reader(db, go):
    c = sqlite3.connect(db, isolation_level=None)
    c.execute("PRAGMA busy_timeout = 30000")
    print(c.execute("PRAGMA journal_mode").fetchone()[0], marker(c), flush=True)
    while not os.path.exists(go):
        if time.time() > DEADLINE:
            sys.exit("reader: timed out waiting for " + go)
        time.sleep(0.02)
    print(c.execute("PRAGMA journal_mode").fetchone()[0], marker(c), flush=True)
    print(c.execute("PRAGMA quick_check").fetchone()[0], flush=True)


def writer(db, stop, progress):
    c = sqlite3.connect(db, isolation_level=None, timeout=30)
    c.execute("PRAGMA busy_timeout = 30000")
    n, slowest = 0, 0.0
    while not os.path.exists(stop):
        if time.time() > DEADLINE:
            sys.exit("writer: timed out waiting for " + stop)
        t0 = time.monotonic()
        c.execute("BEGIN IMMEDIATE")
        c.execute("INSERT INTO wlog (n, at) VALUES (?, ?)", (n, time.time()))
        c.execute("COMMIT")
        slowest = max(slowest, time.monotonic() - t0)
        n += 1
        with open(progress + ".tmp", "w") as f:
            f.write(str(n))
        os.replace(progress + ".tmp", progress)
        time.sleep(0.002)
    print(n, int(slowest * 1000), flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "reader":
        reader(sys.argv[2], sys.argv[3])
    else:
        writer(sys.argv[2], sys.argv[3], sys.argv[4])
