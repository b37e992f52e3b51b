"""A small HTTP proxy on 127.0.0.1 that writes down what went through it.

    python proxy_server.py LOG [PAC_FILE]

Prints its port on stdout, then serves until killed. Each request is appended to LOG as one
line: "CONNECT host:port" for a tunnel (relayed byte for byte) or "GET http://host:port/path" for
a forwarded plain request. With PAC_FILE, GET /proxy.pac (an origin-form request to the proxy
itself) answers with that file, so one server can also be the proxy auto-configuration URL.
"""

from __future__ import annotations

import http.server
import select
import socket
import sys
import threading
import urllib.request

LOG = sys.argv[1]
PAC = sys.argv[2] if len(sys.argv) > 2 else None
lock = threading.Lock()


def note(line: str) -> None:
    with lock, open(LOG, "a", encoding="utf-8") as f:
        f.write(line + "\n")


class Proxy(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # quiet
        pass

    def do_CONNECT(self) -> None:
        note(f"CONNECT {self.path}")
        host, port = self.path.rsplit(":", 1)
        try:
            upstream = socket.create_connection((host, int(port)), timeout=30)
        except OSError as e:
            self.send_error(502, str(e))
            return
        self.send_response(200, "Connection established")
        self.end_headers()
        self.wfile.flush()
        sockets = [self.connection, upstream]
        try:
            while True:
                ready, _, _ = select.select(sockets, [], [], 60)
                if not ready:
                    break
                for s in ready:
                    data = s.recv(65536)
                    if not data:
                        return
                    (upstream if s is self.connection else self.connection).sendall(data)
        finally:
            upstream.close()
            self.close_connection = True

    def _forward(self) -> None:
        if self.path.startswith("/") and PAC and self.path == "/proxy.pac":
            note(f"{self.command} {self.path}")
            body = open(PAC, "rb").read()
            self.send_response(200)
            self.send_header("Content-Type", "application/x-ns-proxy-autoconfig")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        note(f"{self.command} {self.path}")
        if not self.path.startswith("http://"):
            self.send_error(400, "absolute-form URL expected")
            return
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("proxy-connection", "connection", "host")}
        req = urllib.request.Request(self.path, data=body, headers=headers, method=self.command)
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            resp = opener.open(req, timeout=60)
            status, data, rheaders = resp.status, resp.read(), resp.headers
        except urllib.error.HTTPError as e:
            status, data, rheaders = e.code, e.read(), e.headers
        self.send_response(status)
        for k, v in rheaders.items():
            if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _forward


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
server.daemon_threads = True
print(server.server_address[1], flush=True)
server.serve_forever()
