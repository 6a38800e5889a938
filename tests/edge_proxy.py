"""A real loopback HTTP proxy that stands where Modal's edge stands (tests only).

It answers 401 with Modal's own message to any request that lacks the Modal-Key/Modal-Secret
pair it was given, and forwards every other request to the upstream server unchanged, streaming
the answer back as it arrives (server-sent events included). It records what it saw, so a test
can check which requests carried the headers. Standard library only; used by the smoke tests and
available to the benchmark's tests.
"""

from __future__ import annotations

import contextlib
import http.client
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self
from urllib.parse import urlsplit

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
              "proxy-authorization", "proxy-authenticate", "content-length"}
DENIED = b"modal-http: missing credentials for proxy authorization\n"


class EdgeProxy:
    def __init__(self, upstream: str, key: str, secret: str):
        self.upstream = urlsplit(upstream)
        self.key, self.secret = key, secret
        self.seen: list[tuple[str, str, bool]] = []  # (method, path, had the right headers)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                proxy.handle(self)

            def do_POST(self):
                proxy.handle(self)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.05}, daemon=True)

    def handle(self, request: BaseHTTPRequestHandler) -> None:
        allowed = (request.headers.get("Modal-Key"), request.headers.get("Modal-Secret")) == (
            self.key, self.secret)
        self.seen.append((request.command, request.path, allowed))
        if not allowed:
            request.send_response(401)
            request.send_header("Content-Length", str(len(DENIED)))
            request.end_headers()
            request.wfile.write(DENIED)
            return
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length) if length else None
        headers = {k: v for k, v in request.headers.items()
                   if k.lower() not in HOP_BY_HOP | {"host", "modal-key", "modal-secret"}}
        conn = http.client.HTTPConnection(self.upstream.hostname, self.upstream.port, timeout=120)
        try:
            conn.request(request.command, request.path, body=body, headers=headers)
            answer = conn.getresponse()
            request.send_response(answer.status)
            for key, value in answer.getheaders():
                if key.lower() not in HOP_BY_HOP:
                    request.send_header(key, value)
            request.send_header("Connection", "close")  # HTTP/1.0: the body ends at close
            request.end_headers()
            while chunk := answer.read1(65536):
                request.wfile.write(chunk)
                request.wfile.flush()
        finally:
            conn.close()

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
        with contextlib.suppress(RuntimeError):
            self.thread.join(timeout=10)
