#!/usr/bin/env python3
"""webhook_receiver.py PORTFILE LOGFILE [FAIL_FIRST [DELAY_S]]

A loopback HTTP server for the alert-webhook tests: binds an OS-picked port
(written to PORTFILE), appends each POST as one JSON line
{"path", "headers", "body"} to LOGFILE, and answers 200 -- or 503 to the
first FAIL_FIRST POSTs, to exercise the sender's retries; with DELAY_S it
logs each POST at once but answers only after that many seconds (a slow
receiver must not hold up the sender's tick)."""
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer as HTTPServer

port_file, log_file = sys.argv[1], sys.argv[2]
fail_first = int(sys.argv[3]) if len(sys.argv) > 3 else 0
delay = float(sys.argv[4]) if len(sys.argv) > 4 else 0
seen = 0


class H(BaseHTTPRequestHandler):
    def do_POST(self):
        global seen
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n).decode("utf-8", "replace")
        seen += 1
        with open(log_file, "a") as f:
            f.write(json.dumps({"path": self.path, "headers": dict(self.headers), "body": body}) + "\n")
        code = 503 if seen <= fail_first else 200
        if delay:
            import time
            time.sleep(delay)
        self.send_response(code)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *a):
        pass


srv = HTTPServer(("127.0.0.1", 0), H)
with open(port_file + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
import os
os.rename(port_file + ".tmp", port_file)
srv.serve_forever()
