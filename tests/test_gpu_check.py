"""The GPU check's code on CPU (tools/gpu_check/, docs/gpu-check.md): the same container stand-in,
checks, phase parser and report that the GPU machine runs, against a local stand-in server.

What is real: the rendered deploy.py of specs/examples/tiny-qwen3-h200.yaml (its own @modal.enter
and @modal.exit code) and the rendered runtime file with supervise(), run by the GPU check's
container stand-in (tools/gpu_check/container.py); real processes, signals and loopback HTTP,
with tests/edge_proxy.py in front as on the GPU machine.

What stands in: the `modal` module (tools/gpu_check/modal_standin.py: decorators that return
what they wrap, volumes that only count reloads and commits; Modal's servers are unreachable)
and SGLang itself (tests/gpu_check_server.py, first on PATH as `sglang`: SGLang 0.5.16's log
lines, scheduler child, SIGTERM drain and crash behaviour, without a GPU). The rendered file is
copied with its port changed, so that parallel test runs do not collide on port 8000.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
TOOLS = ROOT / "tools" / "gpu_check"
sys.path[:0] = [str(TOOLS), str(ROOT / "tests")]

import checks
import ingest
import phases
from edge_proxy import EdgeProxy
from procs import Container
from report import FAIL, PASS, Report, secret_hits

RENDERED = ROOT / "rendered" / "tiny-qwen3-h200"
KEYS = {"SGLANG_API_KEY": "sk-planted-gpu-5e1f", "MODAL_PROXY_TOKEN_ID": "wk-planted-gpu-77",
        "MODAL_PROXY_TOKEN_SECRET": "ws-planted-gpu-9a"}
STANDIN = ROOT / "tests" / "gpu_check_server.py"
SGLANG_LOG = ROOT / "tests" / "fixtures" / "gpu_check" / "sglang-0.5.16-start.log"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def app(tmp_path) -> Path:
    """rendered/tiny-qwen3-h200/deploy.py beside the rendered runtime file, on a free port."""
    port = str(free_port())
    folder = tmp_path / "rendered" / "tiny-qwen3-h200"
    folder.mkdir(parents=True)
    (folder / "deploy.py").write_text((RENDERED / "deploy.py").read_text().replace("8000", port))
    (tmp_path / "rendered" / "_runtime").mkdir()
    (tmp_path / "rendered" / "_runtime" / "servespec_runtime.py").write_text(
        (ROOT / "rendered" / "_runtime" / "servespec_runtime.py").read_text())
    binary = tmp_path / "bin" / "sglang"
    binary.parent.mkdir()
    binary.write_text(f'#!/bin/sh\nshift\nexec "{sys.executable}" "{STANDIN}" "$@"\n')
    binary.chmod(0o755)
    return folder / "deploy.py"


def environment(app: Path, **extra: str) -> dict:
    path = f"{app.parents[2] / 'bin'}{os.pathsep}{os.environ['PATH']}"
    return {**os.environ, **KEYS, "PATH": path, "GPU_CHECK_STANDIN_TOKEN_SECONDS": "0.01", **extra}


def started(app: Path, tmp_path: Path, report: Report, **extra: str) -> Container:
    container = Container(app, environment(app, **extra), tmp_path / "container.log")
    assert checks.check_start(report, container, "start", 60), container.text()
    return container


def base_url(app: Path) -> str:
    text = app.read_text()
    return text.split('HEALTH_URL = "')[1].split('"')[0].removesuffix("/health")


def test_start_through_deploy_py_enter_reads_phases_and_hides_the_key(app, tmp_path):
    report = Report(tmp_path / "report.json")
    container = started(app, tmp_path, report)
    try:
        result = report.results[0]
        assert result.status == PASS
        names = [p["name"] for p in result.figures["phases"]]
        assert names[:4] == ["engine_init", "weights", "kv_pool", "graph_capture"]
        assert result.figures["start_to_healthy"] > 0
        # deploy.py's own start code ran: supervise() from the runtime file, then the commit.
        assert container.has("[supervise] starting: sglang serve --model-path")
        assert container.has("[supervise] server healthy after")
        assert container.has("volume tiny-qwen3-cache-sm90 committed after start")
        # The stand-in prints its api_key as SGLang's server_args line does; the supervisor
        # redacts it, and the key did reach the server (--api-key ***).
        assert container.has("api_key='***'") and container.has("--api-key '***'")
        assert secret_hits(KEYS, {"container": container.text()}) == []
    finally:
        container.kill()


def drain(app: Path, tmp_path: Path, **extra: str) -> tuple[Report, Container]:
    report = Report(tmp_path / "report.json")
    container = started(app, tmp_path, report, **extra)
    headers = {"Modal-Key": KEYS["MODAL_PROXY_TOKEN_ID"],
               "Modal-Secret": KEYS["MODAL_PROXY_TOKEN_SECRET"],
               "Authorization": f"Bearer {KEYS['SGLANG_API_KEY']}"}
    try:
        with EdgeProxy(base_url(app), headers["Modal-Key"], headers["Modal-Secret"]) as edge:
            checks.check_drain(report, container, edge.url, headers, "tiny-qwen3", tokens=150,
                               grace=25, requests=4)
    finally:
        container.kill()
    return report, container


def test_drain_lets_the_requests_in_flight_finish(app, tmp_path):
    """The runtime SIGTERMs SGLang's main process alone: it drains, then stops its scheduler
    itself. (A SIGTERM to the whole group ends the scheduler at once: the stand-in, like SGLang,
    then cuts every stream, and this check fails, as it did on the H200.)"""
    report, container = drain(app, tmp_path)
    result = report.results[-1]
    figures = result.figures
    assert result.status == PASS, result.line
    assert figures["in_flight"] == 4 and figures["completed"] == 4
    assert figures["exit_code"] == 0 and figures["sglang_drain_lines"] >= 1
    assert container.has("[container] SIGTERM received; running @modal.exit")
    assert not container.has("server exited unexpectedly")


def test_drain_fails_when_the_streams_are_cut(app, tmp_path):
    """The same check against a server whose scheduler dies on the SIGTERM (the stand-in's
    scheduler is told to exit as soon as the drain begins): the line names what went wrong."""
    report, _ = drain(app, tmp_path, GPU_CHECK_STANDIN_SCHEDULER_EXITS_ON_DRAIN="1")
    result = report.results[-1]
    assert result.status == FAIL
    assert result.figures["in_flight"] == 4 and result.figures["completed"] < 4, result.line


def test_crash_of_the_scheduler_ends_the_container_through_the_monitor(app, tmp_path):
    report = Report(tmp_path / "report.json")
    container = started(app, tmp_path, report)
    try:
        checks.check_crash(report, container, timeout=30)
    finally:
        container.kill()
    result = report.results[-1]
    assert result.status == PASS, result.line
    assert result.figures["exit_code"] == 1
    assert "server exited unexpectedly" in result.figures["monitor_line"]
    assert any("It usually means one child failed" in line
               for line in result.figures["last_server_lines"])


def test_secret_hits_name_the_source_and_the_secret_never_its_value():
    hits = secret_hits(KEYS, {"log": f"x {KEYS['SGLANG_API_KEY']} y", "clean": "nothing"})
    assert hits == ["log: SGLANG_API_KEY"]
    assert KEYS["SGLANG_API_KEY"] not in json.dumps(hits)


def stamped(text: str) -> list[tuple[float, str]]:
    """tools/gpu_check/procs.py's log format, "<seconds> <line>"; a progress bar's carriage
    returns split one line into pieces without a stamp, which are skipped."""
    out = []
    for line in text.split("\n"):
        seconds, _, rest = line.strip().partition(" ")
        if seconds.replace(".", "", 1).isdigit():
            out.append((float(seconds), rest))
    return out


def test_phases_from_sglang_0_5_16_log_lines():
    lines = stamped(SGLANG_LOG.read_text())
    found = phases.summary(lines)
    names = [p["name"] for p in found["phases"]]
    assert names == ["engine_init", "weights", "kv_pool", "graph_capture", "server_up",
                     "first_request", "health_seen"]
    # The phases follow one another; only the moment between the KV pool and the first graph
    # capture (the attention backend's set-up) belongs to none.
    assert 0 <= found["start_to_healthy"] - sum(p["seconds"] for p in found["phases"]) < 1.0
    assert found["start_to_healthy"] == 112.49  # the supervisor's own figure: 112.5 s
    assert found["sglang_load_weight_seconds"] is not None


def test_a_missing_marker_leaves_its_phases_out_instead_of_guessing():
    lines = [(1.0, "Load weight begin."), (2.0, "Load weight end. elapsed=0.50 s"),
             (9.0, "[supervise] server healthy after 9.0s")]
    found = phases.summary(lines)
    assert [p["name"] for p in found["phases"]] == ["engine_init", "weights"]
    assert found["start_to_healthy"] == 9.0 and found["sglang_load_weight_seconds"] == 0.5


def test_ingest_writes_measured_entries_beside_the_assumed_phases(tmp_path, monkeypatch):
    catalog = tmp_path / "coldstart.yaml"
    catalog.write_text((ROOT / "renderer" / "catalog" / "coldstart.yaml").read_text())
    monkeypatch.setattr(ingest, "CATALOG", catalog)
    monkeypatch.setattr(ingest, "PICTURE", tmp_path / "bench.png")
    report = {"sglang": "0.5.16", "machine": {"date": "2026-12-02 19:55 UTC", "gpu": "NVIDIA H200",
                                              "kernel": "6.18", "torch": "2.11.0+cu130"},
              "results": [{"name": "start (cache miss)", "status": "pass",
                           "figures": {"start_to_healthy": 100.0,
                                       "phases": [{"name": "engine_init", "seconds": 40.0}]}},
                          {"name": "start (cache hit)", "status": "fail", "figures": {}}]}
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "report.json").write_text(json.dumps(report))
    before = yaml.safe_load(catalog.read_text())
    assert ingest.main(tmp_path / "run") == 0
    assert ingest.main(tmp_path / "run") == 0  # again: the entry is replaced, not repeated
    after = yaml.safe_load(catalog.read_text())
    assert after["phases"] == before["phases"]  # the assumptions stay
    misses = [e for e in after["measured"] if e["caches"] == "miss"]
    assert [e["phases"] for e in misses] == [{"engine_init": 40.0}]
    assert misses[0]["gpu"] == "H200" and misses[0]["sglang"] == "0.5.16"
    # Entries of another cache state are kept as they were.
    kept = [e for e in before.get("measured") or [] if e["caches"] != "miss"]
    assert [e for e in after["measured"] if e["caches"] != "miss"] == kept
    assert "# Every figure says where it comes from." in catalog.read_text()


def test_prefill_tokens_counts_sglang_radix_cache_hits_in_a_window():
    class Lines:
        lines = stamped(SGLANG_LOG.read_text()) + [
            (200.0, "[sglang] Prefill batch, #new-seq: 2, #new-token: 300, #cached-token: 700, x"),
            (201.0, "[sglang] Prefill batch, #new-seq: 1, #new-token: 100, #cached-token: 0, x"),
            (300.0, "[sglang] Prefill batch, #new-seq: 1, #new-token: 999, #cached-token: 1, x")]

    found = checks.prefill_tokens(Lines(), 150.0, 250.0)
    assert found == {"prefill_new_tokens": 400, "prefill_cached_tokens": 700,
                     "cached_fraction": round(700 / 1100, 3)}
    start = checks.prefill_tokens(Lines(), 0.0, 150.0)  # the warm-up request of the real log
    assert start["prefill_new_tokens"] > 0 and start["prefill_cached_tokens"] == 0
