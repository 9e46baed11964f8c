"""smtp_sink.py: an SMTP server that keeps what it is sent, for the tests.

    python3 smtp_sink.py --port-file F --log F

Listens on 127.0.0.1 (a free port, written to --port-file) and appends each
message as one JSON line to --log: {"from", "to", "data"}.  Speaks just
enough SMTP (EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT) for libcurl.
"""

import argparse
import json
import os
import socket
import socketserver
import sys


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log", required=True)
    a = ap.parse_args()

    class Session(socketserver.StreamRequestHandler):
        def reply(self, line):
            self.wfile.write((line + "\r\n").encode())

        def handle(self):
            mail_from, rcpt = None, []
            self.reply("220 localhost trainprog test sink")
            while True:
                raw = self.rfile.readline(4096)
                if not raw:
                    return
                cmd = raw.decode("utf-8", "replace").rstrip("\r\n")
                verb = cmd[:4].upper()
                if verb in ("EHLO", "HELO"):
                    self.reply("250 localhost")
                elif verb == "MAIL":
                    mail_from, rcpt = cmd[10:].strip(), []
                    self.reply("250 OK")
                elif verb == "RCPT":
                    rcpt.append(cmd[8:].strip())
                    self.reply("250 OK")
                elif verb == "DATA":
                    self.reply("354 end with .")
                    lines = []
                    while True:
                        line = self.rfile.readline(65536)
                        if not line or line in (b".\r\n", b".\n"):
                            break
                        if line.startswith(b".."):
                            line = line[1:]
                        lines.append(line.decode("utf-8", "replace"))
                    with open(a.log, "a") as f:
                        f.write(json.dumps({"from": mail_from, "to": rcpt,
                                            "data": "".join(lines)}) + "\n")
                    self.reply("250 OK queued")
                elif verb in ("RSET", "NOOP"):
                    self.reply("250 OK")
                elif verb == "QUIT":
                    self.reply("221 bye")
                    return
                else:
                    self.reply("502 not implemented")

    class Server(socketserver.ThreadingTCPServer):
        allow_reuse_address = True
        daemon_threads = True

    srv = Server(("127.0.0.1", 0), Session)
    tmp = a.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(tmp, a.port_file)
    srv.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
