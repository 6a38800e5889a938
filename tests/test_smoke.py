"""Tests for `servespec smoke` (renderer/operate/smoke.py) against a real OpenAI-compatible server.

The server is `transformers serve` (transformers[serving] on CPU torch), run from its own venv
(built by tools/smoke-server-env.sh into .cache/smoke-server/) on 127.0.0.1. It serves tiny
Qwen3-style models that tests/smoke_server/build_tiny_chat_model.py makes from scratch, so
nothing is downloaded:

* `reasoner` emits `<think>...</think>`, a sentence and a `<tool_call>{...}</tool_call>`; the
  server's own Qwen3 response parser turns those into `reasoning_content` and `tool_calls`, so
  every check can genuinely pass.
* `plain` only answers in text, so `tool_call` and `reasoning` genuinely fail against it.

`transformers serve` has no API-key option, so the one test of a server that rejects keys uses
a bare 401 gate (it speaks no OpenAI protocol: it only refuses).

No test here skips: if the server env cannot be built, the tests fail. Every wait is bounded
and every server is killed.
"""

from __future__ import annotations

import contextlib
import http.server
import importlib.util
import io
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import ClassVar

import pytest

from renderer.operate import smoke, smoke_checks

ROOT = Path(__file__).resolve().parents[1]
BUILDER = ROOT / "tests" / "smoke_server" / "build_tiny_chat_model.py"

MODEL_BUILD_TIMEOUT = 300
SERVER_START_TIMEOUT = 180
REQUEST_TIMEOUT = 60.0
KEY_ENV = "SERVESPEC_API_KEY"
PLANTED_KEY = "sk-servespec-planted-7f3a9c1e5b"
CHECK_NAMES = ["health", "models", "chat_stream", "tool_call", "reasoning"]


def _load_builder():
    spec = importlib.util.spec_from_file_location("build_tiny_chat_model", BUILDER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run_main(url: str, **kwargs) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    args = {
        "api_key_env": KEY_ENV,
        "model": None,
        "expect_reasoning": False,
        "expect_tools": True,
        "fmt": "table",
    }
    args.update(kwargs)
    code = smoke.main(
        url,
        args.pop("api_key_env"),
        args.pop("model"),
        args.pop("expect_reasoning"),
        args.pop("expect_tools"),
        args.pop("fmt"),
        timeout=REQUEST_TIMEOUT,
        out=out,
        err=err,
        **args,
    )
    return code, out.getvalue(), err.getvalue()


# ---------------------------------------------------------------------------------------------
# the real server


@pytest.fixture(scope="session")
def model_dirs(server_python: Path, tmp_path_factory) -> dict[str, Path]:
    """Both tiny models, made from scratch by the builder in the server venv."""
    builder = _load_builder()
    # The model must call the very tool that `servespec smoke` offers.
    assert builder.TOOL_NAME == smoke_checks.SMOKE_TOOL_NAME
    base = tmp_path_factory.mktemp("smoke-models")
    dirs = {"reasoner": base / "reasoner", "plain": base / "plain"}
    proc = subprocess.run(
        [str(server_python), str(BUILDER), *(f"{k}={v}" for k, v in dirs.items())],
        check=False,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"},
        capture_output=True,
        text=True,
        timeout=MODEL_BUILD_TIMEOUT,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, f"model build failed:\n{proc.stdout}\n{proc.stderr[-3000:]}"
    for path in dirs.values():
        assert (path / "config.json").exists() and (path / "tokenizer.json").exists()
    return dirs


class RealServer:
    def __init__(self, url: str, model: str, log: Path, proc: subprocess.Popen):
        self.url = url
        self.model = model
        self.log = log
        self.proc = proc


def _stop(proc: subprocess.Popen) -> None:
    """Stop the server we started: its own process group, TERM then KILL, bounded."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=15)


@contextlib.contextmanager
def serve(python: Path, model_dir: Path, workdir: Path, *extra: str):
    """Run `transformers serve MODEL` on a free loopback port until the block exits."""
    hf_home = workdir / "hf-home"
    hf_home.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        # Nothing may reach the Hub: a local model dir, an empty cache, no update check.
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "HF_HOME": str(hf_home),
        "HF_HUB_DISABLE_UPDATE_CHECK": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "OMP_NUM_THREADS": "1",
    }
    last_log = None
    for attempt in range(3):  # a port taken between _free_port() and bind() gets another try
        port = _free_port()
        log = workdir / f"server-{port}.log"
        last_log = log
        with open(log, "wb") as log_file:
            proc = subprocess.Popen(
                [
                    str(python),
                    "-m",
                    "transformers.cli.transformers",
                    "serve",
                    str(model_dir),
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--device",
                    "cpu",
                    "--log-level",
                    "info",
                    *extra,
                ],
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,
            )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + SERVER_START_TIMEOUT
            ready = False
            while time.monotonic() < deadline:
                if proc.poll() is not None:
                    break
                try:
                    with urllib.request.urlopen(url + "/health", timeout=2) as resp:
                        if resp.status == 200:
                            ready = True
                            break
                except OSError:
                    pass
                time.sleep(0.25)
            if not ready:
                exited = proc.poll() is not None
                if exited and "address already in use" in _tail(log).lower() and attempt < 2:
                    continue
                pytest.fail(
                    f"transformers serve {'exited' if exited else 'was not ready'} "
                    f"(within {SERVER_START_TIMEOUT}s):\n{_tail(log)}"
                )
            yield RealServer(url, str(model_dir), log, proc)
            return
        finally:
            _stop(proc)
    pytest.fail(f"transformers serve could not get a port:\n{_tail(last_log)}")


@pytest.fixture(scope="module")
def reasoner_server(server_python, model_dirs, tmp_path_factory):
    with serve(server_python, model_dirs["reasoner"], tmp_path_factory.mktemp("reasoner")) as s:
        yield s


@pytest.fixture(scope="module")
def plain_server(server_python, model_dirs, tmp_path_factory):
    with serve(server_python, model_dirs["plain"], tmp_path_factory.mktemp("plain")) as s:
        yield s


# ---------------------------------------------------------------------------------------------
# every check passes where the server can genuinely satisfy it


def test_all_checks_pass_against_real_server(reasoner_server, monkeypatch):
    monkeypatch.setenv(KEY_ENV, PLANTED_KEY)
    code, out, err = _run_main(
        reasoner_server.url + "/v1", expect_reasoning=True, expect_tools=True
    )
    assert code == 0, f"{out}\n{err}\n--- server log ---\n{_tail(reasoner_server.log)}"
    assert err == ""
    for name in CHECK_NAMES:
        row = next(line for line in out.splitlines() if line.strip().startswith(name + " "))
        assert " ok " in row, row
    assert "get_weather(" in out
    assert PLANTED_KEY not in out + err
    # The server itself answered: the requests are in its log.
    log = reasoner_server.log.read_text()
    assert "POST /v1/chat/completions" in log and "GET /v1/models" in log


def test_report_details_from_real_server(reasoner_server):
    report = smoke.run_smoke(
        reasoner_server.url,
        api_key=PLANTED_KEY,
        expect_reasoning=True,
        expect_tools=True,
        timeout=REQUEST_TIMEOUT,
    )
    assert [c.name for c in report.checks] == CHECK_NAMES
    assert report.ok, smoke.format_report(report)
    assert report.model == reasoner_server.model
    stream = report.check("chat_stream")
    assert stream.metrics["ttft_seconds"] is not None
    assert 0 < stream.metrics["ttft_seconds"] <= stream.seconds
    assert stream.metrics["content_chars"] > 0
    # The streamed <think> block came back as reasoning deltas, not as content.
    assert stream.metrics["reasoning_chars"] > 0
    tool = report.check("tool_call")
    assert 'get_weather({"city": "Paris"})' in tool.detail
    assert tool.metrics["finish_reason"] == "tool_calls"
    reasoning = report.check("reasoning")
    assert reasoning.metrics["field"] == "reasoning_content"
    assert "weather in Paris" in reasoning.detail
    assert all(c.seconds >= 0 for c in report.checks)


def test_json_format_against_real_server(reasoner_server, monkeypatch):
    monkeypatch.setenv(KEY_ENV, PLANTED_KEY)
    code, out, err = _run_main(
        reasoner_server.url,
        model=reasoner_server.model,
        expect_reasoning=True,
        fmt="json",
    )
    assert code == 0, out + err
    data = json.loads(out)
    assert data["ok"] is True
    assert data["model"] == reasoner_server.model
    assert data["api_key_env"] == KEY_ENV and data["api_key_set"] is True
    assert [c["name"] for c in data["checks"]] == CHECK_NAMES
    assert all(c["status"] == "ok" for c in data["checks"])
    assert PLANTED_KEY not in out + err


def test_checks_not_expected_are_skipped_not_failed(reasoner_server):
    code, out, err = _run_main(reasoner_server.url, expect_reasoning=False, expect_tools=False)
    assert code == 0, out + err
    rows = {line.split()[0]: line for line in out.splitlines()[2:] if line.startswith("  ")}
    assert rows["tool_call"].split()[1] == "skip"
    assert rows["reasoning"].split()[1] == "skip"
    assert rows["chat_stream"].split()[1] == "ok"


# ---------------------------------------------------------------------------------------------
# a check that cannot pass fails, naming itself


def test_unlisted_model_fails_models_and_stops(reasoner_server, monkeypatch):
    monkeypatch.setenv(KEY_ENV, PLANTED_KEY)
    code, out, err = _run_main(reasoner_server.url, model="no-such-model", expect_reasoning=True)
    assert code == 1
    assert err.startswith("smoke failed: models: model 'no-such-model' is not listed")
    assert reasoner_server.model in err  # says what the server does list
    report = smoke.run_smoke(
        reasoner_server.url, api_key=PLANTED_KEY, model="no-such-model", expect_reasoning=True
    )
    assert [c.name for c in report.failed] == ["models"]
    assert all(c.skipped for c in report.checks[2:])  # nothing ran after models
    assert "Traceback" not in out + err and PLANTED_KEY not in out + err


def test_expect_reasoning_on_model_without_reasoning_fails_reasoning(plain_server):
    code, out, err = _run_main(plain_server.url, expect_reasoning=True, expect_tools=False)
    assert code == 1, out
    assert err.startswith("smoke failed: reasoning: no reasoning_content in response")
    assert err.count("\n") == 1  # one line
    report = smoke.run_smoke(
        plain_server.url, api_key=None, expect_reasoning=True, expect_tools=False
    )
    assert [c.name for c in report.failed] == ["reasoning"]
    assert report.check("chat_stream").ok  # the model does answer


def test_model_without_tool_calls_fails_tool_call_and_later_checks_still_run(plain_server):
    code, out, err = _run_main(plain_server.url, expect_reasoning=True, expect_tools=True)
    assert code == 1, out
    assert err.startswith("smoke failed: tool_call: no tool call in response")
    assert "; reasoning: no reasoning_content" in err  # tool_call failing did not stop reasoning
    assert "Hello! How can I help you today?" in err  # what the model said instead


# ---------------------------------------------------------------------------------------------
# no server, bad input, missing extra: clear messages, right exit codes, no traceback


def _main_in_subprocess(code: str, env_extra: dict | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    env.update(env_extra or {})
    return subprocess.run(
        [sys.executable, "-c", code],
        check=False,
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def test_connection_refused_is_a_failed_health_check():
    port = _free_port()  # nothing listens there
    proc = _main_in_subprocess(
        "import sys; from renderer.operate.smoke import main; "
        f"sys.exit(main('http://127.0.0.1:{port}', 'SERVESPEC_API_KEY', None, True, True, 'table'))",
        {KEY_ENV: PLANTED_KEY},
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stderr == (
        f"smoke failed: health: connection refused by 127.0.0.1:{port}: is the server running?\n"
    )
    assert "Traceback" not in proc.stdout + proc.stderr
    assert PLANTED_KEY not in proc.stdout + proc.stderr
    assert "skipped: the server cannot be reached" in proc.stdout


@pytest.mark.parametrize(
    "url",
    ["not a url", "ftp://example.com", "http://", "http://127.0.0.1:99999", "localhost:8000", ""],
)
def test_malformed_url_exits_2_with_one_sentence(url):
    proc = _main_in_subprocess(
        "import sys; from renderer.operate.smoke import main; "
        f"sys.exit(main({url!r}, 'SERVESPEC_API_KEY', None, False, True, 'table'))"
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stdout == ""
    assert proc.stderr.startswith("servespec smoke: ") and proc.stderr.count("\n") == 1
    assert "Traceback" not in proc.stderr


def test_missing_openai_exits_2_with_one_sentence():
    proc = _main_in_subprocess(
        "import sys; sys.modules['openai'] = None\n"
        "from renderer.operate.smoke import main\n"
        "sys.exit(main('http://127.0.0.1:9', 'SERVESPEC_API_KEY', None, False, True, 'table'))"
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr == (
        "servespec smoke: servespec smoke needs the openai package: "
        "pip install 'servespec[smoke]'\n"
    )


def test_importing_smoke_does_not_import_openai():
    proc = _main_in_subprocess("import sys, renderer.operate.smoke; print('openai' in sys.modules)")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False"


def test_normalize_url():
    assert smoke.normalize_url("http://h:1/v1/") == ("http://h:1", "http://h:1/v1")
    assert smoke.normalize_url(" https://x.modal.run ") == (
        "https://x.modal.run",
        "https://x.modal.run/v1",
    )
    assert smoke.normalize_url("http://h/prefix/v1") == ("http://h/prefix", "http://h/prefix/v1")


# ---------------------------------------------------------------------------------------------
# the key: sent as Bearer, never printed, a rejection named


class _AuthGate(http.server.BaseHTTPRequestHandler):
    """Rejects every request with 401, as an auth proxy does for a wrong key, and records the
    Authorization header it got. Not an OpenAI server: `transformers serve` has no key option,
    and this is only the refusal."""

    seen: ClassVar[list[tuple[str, str | None]]] = []

    def do_GET(self):
        type(self).seen.append((self.path, self.headers.get("Authorization")))
        body = json.dumps(
            {"error": {"message": "Invalid API key", "type": "invalid_request_error"}}
        )
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args):
        pass


@pytest.fixture
def auth_gate():
    _AuthGate.seen = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _AuthGate)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1})
    thread.daemon = True
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_rejected_key_fails_naming_the_checks_and_never_prints_the_key(auth_gate, monkeypatch):
    monkeypatch.setenv(KEY_ENV, PLANTED_KEY)
    code, out, err = _run_main(auth_gate, expect_reasoning=True)
    assert code == 1
    assert err.startswith(
        "smoke failed: health: GET /health: HTTP 401, expected 200; models: HTTP 401"
    )
    assert f"the server rejected the API key from ${KEY_ENV}" in err
    assert PLANTED_KEY not in out + err
    # The key went out as a Bearer token, to /health and through the SDK to /v1/models.
    assert _AuthGate.seen == [
        ("/health", f"Bearer {PLANTED_KEY}"),
        ("/v1/models", f"Bearer {PLANTED_KEY}"),
    ]


def test_custom_key_env_name(auth_gate, monkeypatch):
    monkeypatch.setenv("MY_ENDPOINT_KEY", PLANTED_KEY)
    monkeypatch.delenv(KEY_ENV, raising=False)
    code, out, err = _run_main(auth_gate, api_key_env="MY_ENDPOINT_KEY", fmt="json")
    assert code == 1
    data = json.loads(out)
    assert data["api_key_env"] == "MY_ENDPOINT_KEY" and data["api_key_set"] is True
    assert data["failed"] == ["health", "models"]
    assert PLANTED_KEY not in out + err
    assert _AuthGate.seen[0] == ("/health", f"Bearer {PLANTED_KEY}")


def test_no_key_set_says_so(auth_gate, monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    code, out, err = _run_main(auth_gate)
    assert code == 1
    assert f"${KEY_ENV} is not set; no API key sent" in out
    assert f"the server wants an API key: set ${KEY_ENV}" in err
    assert _AuthGate.seen[0] == ("/health", None)


# ---------------------------------------------------------------------------------------------
# behind Modal's edge: a real loopback proxy that wants Modal-Key/Modal-Secret


PROXY_ID = "wk-planted-proxy-id-2b7c"
PROXY_SECRET = "ws-planted-proxy-secret-c41d"


def _servespec_smoke(url: str, env_extra: dict, *options: str) -> subprocess.CompletedProcess:
    """The real `servespec smoke` command, in its own process, with only the given variables."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("MODAL_", "OPENAI_", KEY_ENV))}
    env.update(env_extra)
    return subprocess.run([sys.executable, "-m", "renderer.cli.main", "smoke", url, *options],
                          check=False, cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600, stdin=subprocess.DEVNULL)


def test_smoke_passes_behind_the_edge_with_the_proxy_token(reasoner_server):
    from edge_proxy import EdgeProxy

    with EdgeProxy(reasoner_server.url, PROXY_ID, PROXY_SECRET) as edge:
        # The edge is a real check: without the headers it answers 401.
        with pytest.raises(urllib.error.HTTPError) as denied:
            urllib.request.urlopen(edge.url + "/health", timeout=10)
        assert denied.value.code == 401
        proc = _servespec_smoke(
            edge.url, {"MODAL_PROXY_TOKEN_ID": PROXY_ID, "MODAL_PROXY_TOKEN_SECRET": PROXY_SECRET},
            "--reasoning", "--tools")
        assert proc.returncode == 0, proc.stdout + proc.stderr + _tail(reasoner_server.log)
        assert "result: ok, all 5 checks that ran passed" in proc.stdout
        assert PROXY_SECRET not in proc.stdout + proc.stderr
        # Every request after the probe above went through with the token: health, models,
        # the streamed chat and the two non-streamed ones.
        after_probe = edge.seen[1:]
        assert after_probe and all(allowed for _, _, allowed in after_probe), edge.seen
        assert ("POST", "/v1/chat/completions", True) in after_probe


@pytest.mark.parametrize("unset", ["MODAL_PROXY_TOKEN_ID", "MODAL_PROXY_TOKEN_SECRET"])
def test_smoke_without_the_proxy_token_fails_naming_the_variable(unset):
    env = {"MODAL_PROXY_TOKEN_ID": PROXY_ID, "MODAL_PROXY_TOKEN_SECRET": PROXY_SECRET}
    del env[unset]
    port = _free_port()  # nothing is sent: the check happens before any request
    proc = _servespec_smoke(f"http://127.0.0.1:{port}", env)
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"servespec smoke: {unset} is not set: ")
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert PROXY_SECRET not in proc.stderr and PROXY_ID not in proc.stderr


def test_smoke_against_the_edge_with_a_wrong_token_fails_at_health(reasoner_server):
    from edge_proxy import EdgeProxy

    with EdgeProxy(reasoner_server.url, PROXY_ID, PROXY_SECRET) as edge:
        proc = _servespec_smoke(
            edge.url, {"MODAL_PROXY_TOKEN_ID": PROXY_ID, "MODAL_PROXY_TOKEN_SECRET": "ws-wrong"})
    assert proc.returncode == 1
    assert "health: GET /health: HTTP 401" in proc.stderr
