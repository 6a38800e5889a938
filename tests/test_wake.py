"""`servespec wake`: against the real modal 1.6.4 client without a token, and its logic with a
stand-in ONLY for Modal's servers (StandinAutoscaler below records the floor changes Modal would
apply and names the URL). The endpoint is a real local HTTP server behind a real loopback proxy
that wants the Modal-Key/Modal-Secret headers (tests/edge_proxy.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from conftest import run_cli
from edge_proxy import EdgeProxy

from renderer.operate import wake
from renderer.pipeline import read_spec

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "specs" / "glm51-fp8-b200.yaml"
CLUSTER_SPEC = ROOT / "specs" / "glm51-fp8-h100x2.yaml"
PROXY = {"MODAL_PROXY_TOKEN_ID": "wk-wake-test-id", "MODAL_PROXY_TOKEN_SECRET": "ws-wake-secret"}


class Loading(BaseHTTPRequestHandler):
    """A replica that answers 503 while it loads, then 200."""

    loading_answers = 3
    seen = 0

    def do_GET(self):
        type(self).seen += 1
        ready = type(self).seen > type(self).loading_answers
        self.send_response(200 if ready and self.path == "/health" else 503)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def endpoint():
    handler = type("Replica", (Loading,), {"seen": 0})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                     daemon=True).start()
    with EdgeProxy(f"http://127.0.0.1:{server.server_address[1]}",
                   PROXY["MODAL_PROXY_TOKEN_ID"], PROXY["MODAL_PROXY_TOKEN_SECRET"]) as edge:
        yield edge
    server.shutdown()


class StandinAutoscaler:
    """Stands in for Modal's servers only: what autoscaler.update would change, and the URL."""

    def __init__(self, url: str):
        self.floors: list[int] = []
        self._url = url

    def set_min_containers(self, count: int) -> None:
        self.floors.append(count)

    def url(self) -> str:
        return self._url


def test_without_a_modal_token_the_real_client_fails_in_one_sentence(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODAL_")}
    env.update(PROXY, HOME=str(tmp_path))
    proc = subprocess.run([sys.executable, "-m", "renderer.cli.main", "wake", str(SPEC)], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=180, check=False)
    assert proc.returncode == 1
    assert proc.stderr == "servespec wake: Modal refused (AuthError): Token missing\n"
    assert PROXY["MODAL_PROXY_TOKEN_SECRET"] not in proc.stdout + proc.stderr


def test_missing_proxy_token_stops_before_modal_is_asked(monkeypatch, capsys):
    monkeypatch.delenv("MODAL_PROXY_TOKEN_SECRET", raising=False)
    monkeypatch.setenv("MODAL_PROXY_TOKEN_ID", "wk-x")
    control = StandinAutoscaler("http://127.0.0.1:9")
    assert wake.wake_main(str(SPEC), control=control) == 1
    assert control.floors == []
    assert capsys.readouterr().err.startswith(
        "servespec wake: MODAL_PROXY_TOKEN_SECRET is not set: ")


def test_wake_raises_the_floor_waits_through_loading_and_restores_it(endpoint, monkeypatch):
    monkeypatch.setattr(wake, "PROGRESS_EVERY_SECONDS", 0.0)
    for name, value in PROXY.items():
        monkeypatch.setenv(name, value)
    plan = wake.plan_of(read_spec(SPEC).deployment, replicas=1)
    control, said = StandinAutoscaler(endpoint.url), []
    wake.wake(plan, control, url=None, hold=0.2, wait=True, say=said.append, poll=0.05)
    assert control.floors == [1, 0]  # raised, then the spec's own min_replicas 0
    assert any(line.startswith("  still loading: HTTP 503") for line in said), said
    assert any(line.startswith("healthy after") for line in said)
    assert endpoint.seen and all(allowed for _, _, allowed in endpoint.seen)


def test_a_cluster_wakes_whole_replicas():
    plan = wake.plan_of(read_spec(CLUSTER_SPEC).deployment, replicas=2)
    assert (plan.floor, plan.spec_floor, plan.surface) == (4, 0, "server")


def test_a_rejected_token_fails_and_still_restores_the_floor(endpoint, monkeypatch):
    monkeypatch.setenv("MODAL_PROXY_TOKEN_ID", PROXY["MODAL_PROXY_TOKEN_ID"])
    monkeypatch.setenv("MODAL_PROXY_TOKEN_SECRET", "ws-wrong")
    plan = wake.plan_of(read_spec(SPEC).deployment, replicas=1)
    control = StandinAutoscaler(endpoint.url)
    with pytest.raises(wake.WakeError, match="401"):
        wake.wake(plan, control, url=None, hold=0, wait=True, say=lambda _: None, poll=0.05)
    assert control.floors == [1, 0]


def test_replicas_above_the_specs_maximum_are_refused_before_modal_is_asked(monkeypatch):
    # The spec allows 3 replicas; a floor of 50 would start GPUs it never allowed.
    monkeypatch.setenv("MODAL_PROXY_TOKEN_ID", PROXY["MODAL_PROXY_TOKEN_ID"])
    monkeypatch.setenv("MODAL_PROXY_TOKEN_SECRET", PROXY["MODAL_PROXY_TOKEN_SECRET"])
    control = StandinAutoscaler("http://127.0.0.1:9")
    assert wake.wake_main(str(SPEC), replicas=50, wait=False, control=control) == 2
    assert control.floors == []


@pytest.mark.parametrize("option", [["--replicas", "0"], ["--hold", "-5"]])
def test_wake_options_out_of_range_are_usage_errors(option):
    proc = run_cli("wake", str(SPEC), *option)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert option[0] in proc.stderr
