"""A local /health endpoint for tests that stand in for an SGLang server: 200 on /health, 404
elsewhere, nothing logged. Used by tests/test_lifecycle.py and the cluster ranks (tests/cluster)."""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler


class Health(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == "/health" else 404)
        self.end_headers()

    def log_message(self, *args):
        pass
