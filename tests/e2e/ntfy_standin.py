#!/usr/bin/python3
# A loopback stand-in for an ntfy server, for tests/e2e/run.sh (the ntfy
# server is not in Debian 12). It takes ntfy v2's JSON publish (a POST to
# the server root), insists on "Authorization: Bearer <token>" and a
# "topic", and appends each publish's "click" link to a file, one a line,
# where the shell (playing the phone) picks it up.
#
# usage: ntfy_standin.py TOKEN_FILE LINKS_FILE PORT_FILE
# It listens on 127.0.0.1 and a free port, written to PORT_FILE once it
# listens, and serves until killed.
import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

token_file, links_file, port_file = sys.argv[1:4]
with open(token_file) as f:
    TOKEN = f.read().strip()


class Handler(BaseHTTPRequestHandler):
    # Keep-alive, as a real server does: the gateway's client reuses
    # connections.
    protocol_version = "HTTP/1.1"

    def answer(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        if self.path != "/":
            return self.answer(404, {"error": "JSON publishes go to the server root"})
        if self.headers.get("Authorization") != "Bearer " + TOKEN:
            return self.answer(403, {"error": "forbidden"})
        try:
            msg = json.loads(raw)
        except ValueError:
            return self.answer(400, {"error": "not JSON"})
        if not isinstance(msg, dict) or not msg.get("topic"):
            return self.answer(400, {"error": "topic is required"})
        click = msg.get("click")
        if click:
            with open(links_file, "a") as f:
                f.write(click + "\n")
        self.answer(200, {"id": "standin", "event": "message", "topic": msg["topic"]})

    def log_message(self, fmt, *args):
        # The request line holds no secret, but keep stderr for errors.
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(port_file + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
# Renamed into place, so a reader never sees half a number.
os.rename(port_file + ".tmp", port_file)
server.serve_forever()
