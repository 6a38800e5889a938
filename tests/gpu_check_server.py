"""A CPU stand-in for `sglang serve`, for tests/test_gpu_check.py: what the GPU check watches of
SGLang 0.5.16, as processes and log lines, without a GPU.

Put first on PATH as `sglang` (the rendered SGLANG_COMMAND is `sglang serve ...`). It:
  * prints SGLang's start-up messages in order ("Load weight begin.", "Load weight end.",
    "Memory pool end.", "Capture ... CUDA graph begin/end.", "Uvicorn running on",
    "The server is fired up and ready to roll!") and its server_args line, --api-key included,
    as SGLang does;
  * starts a child whose command line says "sglang::scheduler" (SGLang's process title);
  * serves /health (200 once ready, 503 while draining) and streamed /v1/chat/completions,
    refusing a wrong Bearer key with 401;
  * on SIGTERM drains as sglang 0.5.16 srt/managers/tokenizer_manager.py sigterm_watchdog does
    (waits until no request is left, then kills its children and itself with SIGKILL), but
    polls every 0.2 s rather than 5 s;
  * when its scheduler child dies, does what SGLang's subprocess watchdog does: SIGQUIT path,
    children and itself killed.
Environment: GPU_CHECK_STANDIN_TOKEN_SECONDS (time per streamed token, default 0.01);
GPU_CHECK_STANDIN_SCHEDULER_EXITS_ON_DRAIN (set: the scheduler child ends when the drain begins,
as SGLang's does when the whole process group gets SIGTERM).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

STATE = {"ready": False, "draining": False, "in_flight": 0}
LOCK = threading.Lock()


def log(text: str) -> None:
    print(f"[{time.strftime('%Y-%m-%d %H:%M:%S')}] {text}", flush=True)


def arg(argv: list[str], name: str, default: str | None = None) -> str | None:
    return argv[argv.index(name) + 1] if name in argv else default


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    api_key: str | None = None

    def log_message(self, *args) -> None:
        pass

    def _send(self, code: int, body: bytes = b"") -> None:
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path == "/health":
            self._send(200 if STATE["ready"] and not STATE["draining"] else 503)
        else:
            self._send(404)

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        if self.api_key and self.headers.get("Authorization") != f"Bearer {self.api_key}":
            return self._send(401, b'{"error": "Unauthorized"}')
        if STATE["draining"]:
            return self._send(503)
        with LOCK:
            STATE["in_flight"] += 1
        try:
            self._stream(int(body.get("max_tokens") or 16))
        finally:
            with LOCK:
                STATE["in_flight"] -= 1

    def _stream(self, tokens: int) -> None:
        pause = float(os.environ.get("GPU_CHECK_STANDIN_TOKEN_SECONDS", "0.01"))
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        for index in range(tokens):
            last = index == tokens - 1
            chunk = {"choices": [{"index": 0, "delta": {"content": "x"},
                                  "finish_reason": "length" if last else None}]}
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            self.wfile.flush()
            time.sleep(pause)
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()
        self.close_connection = True


def kill_tree_and_self(children: list[subprocess.Popen]) -> None:
    for child in children:
        if child.poll() is None:
            child.kill()
    os.kill(os.getpid(), signal.SIGKILL)


def on_sigterm(children) -> None:
    log("SIGTERM received. Draining requests and shutting down...")
    STATE["draining"] = True
    if os.environ.get("GPU_CHECK_STANDIN_SCHEDULER_EXITS_ON_DRAIN"):
        children[0].terminate()  # as a SIGTERM to the whole process group would

    def drain() -> None:
        while True:
            log(f"Gracefully exiting... Remaining number of requests {STATE['in_flight']}.")
            if STATE["in_flight"] == 0:
                break
            time.sleep(0.2)
        kill_tree_and_self(children)

    threading.Thread(target=drain, daemon=True).start()


def watch_children(children) -> None:
    while all(child.poll() is None for child in children):
        time.sleep(0.1)
    if not STATE["draining"]:
        log("SIGQUIT received. It usually means one child failed.")
    kill_tree_and_self(children)


def main(argv: list[str]) -> int:
    port = int(arg(argv, "--port", "30000"))
    Handler.api_key = arg(argv, "--api-key")
    log(f"server_args=ServerArgs(model_path={arg(argv, '--model-path')!r}, "
        f"api_key={Handler.api_key!r}, port={port})")
    scheduler = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)",
                                  "sglang::scheduler_TP0"])
    children = [scheduler]
    signal.signal(signal.SIGTERM, lambda *_: on_sigterm(children))
    for message in ("Load weight begin. avail mem=139.00 GB",
                    "Load weight end. elapsed=0.05 s, type=Qwen3ForCausalLM, avail mem=139.00 GB",
                    "KV Cache is allocated. dtype: torch.bfloat16, #tokens: 262144",
                    "Memory pool end. avail mem=138.00 GB",
                    "Capture target decode CUDA graph begin. bs=[1, 2, 4]",
                    "Capture target decode CUDA graph end. elapsed=0.10 s"):
        log(message)
        time.sleep(0.05)
    server = ThreadingHTTPServer((arg(argv, "--host", "127.0.0.1"), port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    log(f"Uvicorn running on http://{arg(argv, '--host')}:{port} (Press CTRL+C to quit)")
    time.sleep(0.2)  # the warm-up request
    STATE["ready"] = True
    log("The server is fired up and ready to roll!")
    watch_children(children)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
