"""A loopback stand-in for Modal's edge in front of the local test server (tests/test_bench.py).

On Modal, a request reaches the SGLang container only through Modal's proxy, which answers 401
unless the Modal-Key/Modal-Secret headers carry a valid Proxy Auth Token
(https://modal.com/docs/guide/webhook-proxy-auth). This relay does the same check, so the test
proves that `servespec bench` hands the endpoint's credentials to SGLang's benchmark; it counts
what it saw so the test can assert on it.

It also drops one request field: SGLang's benchmark always sends SGLang's `ignore_eos` sampling
parameter (sglang 0.5.23 benchmark/serving.py, async_request_openai_chat_completions), which a
real SGLang server accepts and `transformers serve` rejects with 422 ("Unexpected fields in the
request"). Everything else, the streamed answer included, passes through unchanged.
"""

from __future__ import annotations

import http.client
import http.server
import json
import threading
from typing import Self
from urllib.parse import urlsplit

DROPPED_FIELDS = ("ignore_eos",)


class EdgeRelay:
    def __init__(self, upstream: str, headers: dict[str, str]):
        self.upstream = urlsplit(upstream)
        self.required = headers  # header name -> value the edge demands
        self.seen = {"accepted": 0, "rejected": 0, "bearer": set()}
        self._lock = threading.Lock()
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _count(self, key: str, bearer: str | None = None) -> None:
        with self._lock:
            self.seen[key] += 1
            if bearer:
                self.seen["bearer"].add(bearer)

    def _handler(self):
        relay = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # keep pytest output clean
                pass

            def _forward(self, body: bytes | None) -> None:
                if any(self.headers.get(k) != v for k, v in relay.required.items()):
                    relay._count("rejected")
                    self.send_response(401)
                    self.send_header("Content-Type", "text/plain")
                    self.end_headers()
                    self.wfile.write(b"modal-http: missing or invalid proxy auth token")
                    return
                relay._count("accepted", self.headers.get("Authorization"))
                if body:
                    data = json.loads(body)
                    for field in DROPPED_FIELDS:
                        data.pop(field, None)
                    body = json.dumps(data).encode()
                conn = http.client.HTTPConnection(relay.upstream.hostname, relay.upstream.port,
                                                  timeout=120)
                conn.request(self.command, self.path, body=body,
                             headers={"Content-Type": "application/json"})
                resp = conn.getresponse()
                # HTTP/1.0 style: no length, the body ends when the connection closes, so a
                # streamed answer is passed on chunk by chunk as it arrives.
                self.send_response(resp.status)
                self.send_header("Content-Type", resp.getheader("Content-Type", "text/plain"))
                self.end_headers()
                while chunk := resp.read1(65536):
                    self.wfile.write(chunk)
                    self.wfile.flush()
                conn.close()

            def do_GET(self) -> None:
                self._forward(None)

            def do_POST(self) -> None:
                self._forward(self.rfile.read(int(self.headers.get("Content-Length", 0))))

        return Handler
