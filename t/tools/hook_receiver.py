"""hook_receiver.py: a webhook receiver for the notification tests.

    python3 hook_receiver.py --port-file F --log F [--fail N] [--status CODE]

Listens on 127.0.0.1 (a free port, written to --port-file once it listens)
and answers every POST: the first --fail N with 500, then --status (200).
Each request is one JSON line in --log: {"path", "status", "headers", "body"},
written before the answer goes out.  Runs until SIGTERM.
"""

import argparse
import json
import os
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--fail", type=int, default=0)
    ap.add_argument("--status", type=int, default=200)
    a = ap.parse_args()
    lock = threading.Lock()
    seen = {"n": 0}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            n = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(n).decode("utf-8", "replace")
            with lock:
                seen["n"] += 1
                status = 500 if seen["n"] <= a.fail else a.status
                with open(a.log, "a") as f:
                    f.write(json.dumps({"path": self.path, "status": status,
                                        "headers": dict(self.headers.items()),
                                        "body": body}) + "\n")
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=srv.shutdown).start())
    tmp = a.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(tmp, a.port_file)
    srv.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
