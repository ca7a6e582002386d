#!/usr/bin/env python3
"""ext_query.py -- one query on a point of the backups through sqlvault.so,
from Python's sqlite3 module (docs/TIMETRAVEL.md, tests/it/travel_extension.sh).

    ext_query.py EXT NAME SQL

EXT: the extension (build/sqlvault.so); NAME: WS[@TIME][/FILE]. Prints the
rows as one JSON array of arrays on stdout, and on stderr how the extension
was loaded. A SQLite error prints "error: MESSAGE" on stderr, exit 1.
SV_EXT_CTYPES=1 takes the ctypes way even when the other is there.

Python's sqlite3 loads extensions with Connection.enable_load_extension; a
Python built without it (some pyenv builds) gets the extension loaded by hand
into a connection of the same libsqlite3 through ctypes: the VFS is
registered process-wide either way, then any sqlite3.connect(uri=True) can
use it.
"""
import ctypes
import ctypes.util
import json
import os
import sqlite3
import sys


def load(ext):
    """Loads the extension into this process; returns how."""
    loader = sqlite3.connect(":memory:")
    if hasattr(loader, "enable_load_extension") and not os.environ.get("SV_EXT_CTYPES"):
        loader.enable_load_extension(True)
        loader.load_extension(ext)
        loader.enable_load_extension(False)
        return "enable_load_extension"
    lib = ctypes.CDLL(ctypes.util.find_library("sqlite3") or "libsqlite3.so.0")
    lib.sqlite3_open.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_void_p)]
    lib.sqlite3_enable_load_extension.argtypes = [ctypes.c_void_p, ctypes.c_int]
    lib.sqlite3_load_extension.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p,
                                           ctypes.POINTER(ctypes.c_char_p)]
    db, msg = ctypes.c_void_p(), ctypes.c_char_p()
    if lib.sqlite3_open(b":memory:", ctypes.byref(db)) != 0:
        sys.exit("error: sqlite3_open failed")
    lib.sqlite3_enable_load_extension(db, 1)
    if lib.sqlite3_load_extension(db, ext.encode(), None, ctypes.byref(msg)) != 0:
        sys.exit("error: loading %s: %s" % (ext, msg.value.decode() if msg.value else "?"))
    return "ctypes"


def main():
    ext, name, sql = sys.argv[1:4]
    print("extension loaded with %s" % load(ext), file=sys.stderr)
    try:
        con = sqlite3.connect("file:%s?vfs=sqlvault-point&mode=ro" % name, uri=True)
        rows = con.execute(sql).fetchall()
        con.close()
    except sqlite3.Error as e:
        print("error: %s" % e, file=sys.stderr)
        return 1
    print(json.dumps([list(r) for r in rows], separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
