#!/usr/bin/python3
# A loopback stand-in for an SMS provider's HTTP API, for
# tests/e2e/sms.sh: it takes a form POST (to=..., text=...) with HTTP
# basic auth, and appends each message as "TO<TAB>TEXT" to a file, one a
# line, where the shell (playing the phone) reads the code.
#
# usage: sms_standin.py USER PASSWORD_FILE MESSAGES_FILE PORT_FILE
# It listens on 127.0.0.1 and a free port, written to PORT_FILE once it
# listens, and serves until killed.
import base64
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

user, password_file, messages_file, port_file = sys.argv[1:5]
with open(password_file) as f:
    AUTH = "Basic " + base64.b64encode(f"{user}:{f.read().strip()}".encode()).decode()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def answer(self, status, text):
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode()
        if self.headers.get("Authorization") != AUTH:
            return self.answer(401, "unauthorized")
        form = parse_qs(raw)
        to, text = form.get("to", [""])[0], form.get("text", [""])[0]
        if not to.startswith("+") or not text:
            return self.answer(400, "to and text are required")
        with open(messages_file, "a") as f:
            f.write(to + "\t" + text.replace("\n", " ") + "\n")
        self.answer(200, "queued")

    def log_message(self, fmt, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(port_file + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.rename(port_file + ".tmp", port_file)
server.serve_forever()
