"""The edge stand-in of tests/edge_proxy.py, plus what the benchmark against `transformers serve`
needs (tests/test_bench.py).

EdgeProxy answers 401 like Modal's proxy unless the Modal-Key/Modal-Secret pair arrives
(https://modal.com/docs/guide/webhook-proxy-auth), so the test proves `servespec bench` hands
the endpoint's credentials to SGLang's benchmark. This subclass also records the bearer tokens
it saw, and drops one request field: SGLang's benchmark always sends SGLang's `ignore_eos`
sampling parameter (sglang 0.5.23 benchmark/serving.py, async_request_openai_chat_completions),
which a real SGLang server accepts and `transformers serve` rejects with 422 ("Unexpected fields
in the request"); SGLang's eval samplers likewise always send `return_meta_info` (sglang 0.5.23
test/simple_eval_common.py, ChatCompletionSampler with record_meta_info, which run_eval sets).
Everything else passes through EdgeProxy unchanged.
"""

from __future__ import annotations

import io
import json
from http.server import BaseHTTPRequestHandler

from edge_proxy import EdgeProxy

DROPPED_FIELDS = ("ignore_eos", "return_meta_info")


class EdgeRelay(EdgeProxy):
    def __init__(self, upstream: str, headers: dict[str, str]):
        super().__init__(upstream, headers["Modal-Key"], headers["Modal-Secret"])
        self.bearers: set[str] = set()

    @property
    def accepted(self) -> int:
        return sum(1 for _, _, allowed in self.seen if allowed)

    def handle(self, request: BaseHTTPRequestHandler) -> None:
        if request.headers.get("Authorization"):
            self.bearers.add(request.headers["Authorization"])
        length = int(request.headers.get("Content-Length") or 0)
        if request.command == "POST" and length:
            data = json.loads(request.rfile.read(length))
            for field in DROPPED_FIELDS:
                data.pop(field, None)
            body = json.dumps(data).encode()
            request.rfile = io.BytesIO(body)
            del request.headers["Content-Length"]
            request.headers["Content-Length"] = str(len(body))
        super().handle(request)
