"""`servespec bench` runs the REAL SGLang serving benchmark against a real local server.

What is real: `python -m sglang.benchmark.serving`'s own code from the pinned 0.5.23 wheel (the
parser env of tools/sglang-env.sh plus the overlay of tools/sglang-bench-env.sh, on CPU), the
OpenAI-compatible server the smoke tests use (`transformers serve` on a tiny model built from
scratch, tests/test_smoke.py), and servespec's CLI, matplotlib and records.

What stands in: Modal's edge. tests/edge_relay.py (tests/edge_proxy.py's stand-in) answers 401
like Modal's proxy unless the proxy-auth headers arrive, and drops SGLang's `ignore_eos` field,
which `transformers serve` rejects with 422 (its docstring says why). The Modal CPU function itself is not run (Modal's
servers are unreachable); the code it runs is the same runtime file, attached to the jobs app
(rendered/<name>/jobs.py), which test_render.py imports with the real modal client.

Keep runs tiny: 2 cores are shared; after the envs exist the whole file takes about a minute.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from edge_relay import EdgeRelay
from test_smoke import model_dirs, serve  # noqa: F401  (pytest fixtures)

from renderer import catalog
from renderer.operate import bench
from renderer.runtime import bench_driver

ROOT = Path(__file__).resolve().parents[1]
ENV_ROOT = Path(os.environ.get("SERVESPEC_SGLANG_ENV_ROOT", ROOT / ".cache"))
VERSION = "0.5.23"
TOKEN_ID, TOKEN_SECRET, API_KEY = "wk-planted-4b1d", "ws-planted-9c2e", "sk-planted-77aa"
HEADERS = {"Modal-Key": TOKEN_ID, "Modal-Secret": TOKEN_SECRET}
LATENCIES = [f"{s}_{m}_ms" for m in ("ttft", "tpot", "itl", "e2e_latency")
             for s in ("mean", "median", "std", "p90", "p95", "p99")]
FIGURES = [*LATENCIES, "request_throughput", "input_throughput", "output_throughput",
           "total_throughput", "completed", "duration", "concurrency", "accept_length"]

TINY = """\
extends: {base}
app: tiny-bench
model:
  served_name: plain
bench:
  warmup_requests: 0
  workloads:
{workloads}
  targets:
{targets}
"""
RANDOM = """\
    - name: random
      dataset: random-ids
      input_len: 32
      output_len: 8
      concurrencies: {levels}
      prompts_per_concurrency: 2
      min_prompts: 2
"""
SHARED = """\
    - name: shared-prefix
      dataset: generated-shared-prefix
      groups: 2
      prompts_per_group: 2
      system_prompt_len: 48
      question_len: 8
      output_len: 8
      concurrencies: [2]
"""
MET = "    - {metric: p95_ttft_ms, max: 60000, concurrency: 2}\n"
# No HTTP request round-trips in 10 microseconds: this one is missed on any machine.
MISSED = "    - {metric: median_e2e_latency_ms, max: 0.01, concurrency: 2}\n"


def write_spec(folder: Path, workloads: str, targets: str) -> Path:
    path = folder / "tiny-bench.yaml"
    path.write_text(TINY.format(base=ROOT / "specs" / "glm51-fp8-b200.yaml",
                                workloads=workloads, targets=targets))
    return path


@pytest.fixture(scope="module")
def bench_env() -> None:
    proc = subprocess.run(["bash", str(ROOT / "tools" / "sglang-bench-env.sh"), VERSION],
                          cwd=ROOT, capture_output=True, text=True, timeout=1800, check=False,
                          env={**os.environ, "SERVESPEC_SGLANG_ENV_ROOT": str(ENV_ROOT)})
    assert proc.returncode == 0, f"tools/sglang-bench-env.sh failed:\n{proc.stdout}\n{proc.stderr}"


@pytest.fixture(scope="module")
def server(server_python, model_dirs, tmp_path_factory):  # noqa: F811
    """`transformers serve plain` started in the models' folder, so that the served model id is
    "plain" (a spec's served_name cannot start with "/")."""
    workdir = tmp_path_factory.mktemp("bench-server")
    old = os.getcwd()
    os.chdir(model_dirs["plain"].parent)
    try:
        context = serve(server_python, Path("plain"), workdir)
        running = context.__enter__()
    finally:
        os.chdir(old)
    yield running
    context.__exit__(None, None, None)


def run_bench(spec: Path, url: str, *extra: str, env_extra: dict | None = None):
    env = {**os.environ, "HOME": str(spec.parent), "SERVESPEC_SGLANG_ENV_ROOT": str(ENV_ROOT),
           "MODAL_PROXY_TOKEN_ID": TOKEN_ID, "MODAL_PROXY_TOKEN_SECRET": TOKEN_SECRET,
           "SGLANG_API_KEY": API_KEY, "HF_HUB_OFFLINE": "1", **(env_extra or {})}
    argv = [sys.executable, "-m", "renderer.cli.main", "bench", str(spec), "--local-url", url,
            "--tokenizer", str(spec.parent / "tokenizer"), *extra]
    return subprocess.run(argv, cwd=spec.parent, env=env, capture_output=True, text=True,
                          timeout=600, check=False)


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG file"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def only(folder: Path, pattern: str) -> Path:
    found = sorted(folder.glob(pattern))
    assert len(found) == 1, found
    return found[0]


@pytest.fixture
def workdir(tmp_path, model_dirs):  # noqa: F811
    (tmp_path / "tokenizer").symlink_to(model_dirs["plain"])
    return tmp_path


def test_real_benchmark_writes_results_picture_table_and_names_the_missed_target(server, bench_env,
                                                                                   workdir):
    spec = write_spec(workdir, RANDOM.format(levels="[1, 2, 4]") + SHARED, MET + MISSED)
    with EdgeRelay(server.url, HEADERS) as edge:
        proc = run_bench(spec, edge.url)
        accepted, bearers = edge.accepted, edge.bearers
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "target missed: median_e2e_latency_ms <= 0.01 at concurrency 2 (random)" in proc.stderr
    assert "p95_ttft_ms" not in proc.stderr  # the met one is not named as missed
    # The credentials reached the server side: the edge let requests through and saw the key.
    assert accepted >= 18 and bearers == {f"Bearer {API_KEY}"}

    folder = workdir / "runs" / "tiny-bench"
    doc = json.loads(only(folder, "bench-*.json").read_text())
    runs = {r["key"]: r for r in doc["runs"]}
    assert list(runs) == ["random@1", "random@2", "random@4", "shared-prefix@2"]
    # SGLang's own counts prove the arguments reached it: 2, 4, 8 prompts; 2 groups x 2.
    assert [runs[k]["result"]["completed"] for k in runs] == [2, 4, 8, 4]
    for run in runs.values():
        assert run["error"] is None
        missing = [f for f in FIGURES if f not in run["result"]]
        assert not missing, missing
        assert run["result"]["p95_ttft_ms"] > 0 and run["result"]["output_throughput"] > 0
    assert runs["random@2"]["result"]["random_range_ratio"] == 1.0
    # each run against the hardware floor of the spec's GPUs (renderer/operate/bench_floors.py)
    for run in runs.values():
        assert run["floor"]["median_tpot_vs_floor"] == pytest.approx(
            run["result"]["median_tpot_ms"] / run["floor"]["tpot_floor_ms_at_concurrency"], rel=1e-2)
    assert "random@2: TPOT p50" in proc.stdout and "x its floor of" in proc.stdout
    # $ per million output tokens: the estimate's hourly replica price over the measured rate.
    assert doc["usd_per_hour_replica"] > 0
    for run in runs.values():
        rate = run["result"]["output_throughput"] * 3600 / 1e6
        assert run["usd_per_million_output_tokens"] == pytest.approx(
            doc["usd_per_hour_replica"] / rate, rel=1e-3)
    assert runs["shared-prefix@2"]["result"]["dataset_name"] == "generated-shared-prefix"
    met = {t["metric"]: t["met"] for t in doc["targets"]}
    assert met == {"p95_ttft_ms": True, "median_e2e_latency_ms": False}

    assert png_size(only(folder, "bench-*.png")) == (1000, 400)
    table = proc.stdout
    for key in runs:
        assert key in table
    assert "target MISSED median_e2e_latency_ms" in table and "target met" in table
    assert "$/M out" in table.splitlines()[0]
    assert len(table.splitlines()) <= 24  # one screen

    records = (workdir / "runs" / "tiny-bench.jsonl").read_text()
    assert '"action": "bench"' in records and '"status": "failed"' in records
    for text in (records, only(folder, "bench-*.log").read_text(), proc.stdout, proc.stderr,
                 only(folder, "bench-*.json").read_text()):
        for secret in (TOKEN_ID, TOKEN_SECRET, API_KEY):
            assert secret not in text
    # `servespec estimate` puts the measured concurrency next to the KV capacity.
    estimate = subprocess.run([sys.executable, "-m", "renderer.cli.main", "estimate", str(spec)],
                              cwd=workdir, capture_output=True, text=True, check=False)
    assert "measured (runs/tiny-bench/bench-" in estimate.stdout, estimate.stderr
    assert "random@4: 4 in flight x" in estimate.stdout
    history = subprocess.run([sys.executable, "-m", "renderer.cli.main", "history", str(spec)],
                             cwd=workdir, capture_output=True, text=True, check=False)
    assert history.returncode == 0 and "bench" in history.stdout and "median_e2e" in history.stdout


def test_planted_credentials_reach_the_edge_and_no_output_of_the_benchmark_process(
        server, bench_env, workdir, monkeypatch):
    """The benchmark process itself (what the Modal function's log would show), before any
    redaction of the runner: SGLang 0.5.23 prints `benchmark_args=...` with every option it was
    given, and a --header on its argv would put the proxy token there. With planted values the
    edge stand-in lets the requests through only with both headers, and the raw output of the
    process holds neither value nor the API key."""
    spec_path = write_spec(workdir, RANDOM.format(levels="[2]"), MET)
    monkeypatch.setenv("MODAL_PROXY_TOKEN_ID", TOKEN_ID)
    monkeypatch.setenv("MODAL_PROXY_TOKEN_SECRET", TOKEN_SECRET)
    monkeypatch.setenv(bench.ENV_ROOT_VAR, str(ENV_ROOT))
    spec, _ = bench._checked_spec(str(spec_path))
    python, env = bench.local_python(VERSION)
    env.update({"MODAL_PROXY_TOKEN_ID": TOKEN_ID, "MODAL_PROXY_TOKEN_SECRET": TOKEN_SECRET,
                "SGLANG_API_KEY": API_KEY, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"})
    driver, req_path = workdir / "servespec_runtime.py", workdir / "request.json"
    driver.write_text(bench.runtime_source())
    with EdgeRelay(server.url, HEADERS) as edge:
        req = bench.request(spec, edge.url, str(workdir / "tokenizer"), str(workdir),
                            bench._proxy(spec))
        req_path.write_text(json.dumps(req))
        proc = subprocess.run(bench.driver_command(python, driver, req_path), cwd=workdir,
                              env=env, capture_output=True, text=True, timeout=600, check=False)
        accepted, bearers = edge.accepted, edge.bearers
    raw = proc.stdout + proc.stderr
    assert proc.returncode == 0, raw[-3000:]
    results = [json.loads(line[len(bench.MARKER):]) for line in proc.stdout.splitlines()
               if line.startswith(bench.MARKER)]
    assert [r["result"]["completed"] for r in results] == [4], raw[-3000:]
    assert accepted >= 4 and bearers == {f"Bearer {API_KEY}"}
    assert "benchmark_args=" in raw  # the line that used to carry --header
    for secret in (TOKEN_ID, TOKEN_SECRET, API_KEY):
        assert secret not in raw and secret not in req_path.read_text()


def test_the_bench_process_hides_a_value_split_across_writes(capsys):
    """What SGLang or a traceback prints in pieces is still redacted as a whole line."""
    with bench_driver.output_redacted([TOKEN_SECRET]):
        print("header=", end="")
        print(TOKEN_SECRET[:5], end="", flush=True)
        print(TOKEN_SECRET[5:] + " tail")
        print("progress " + TOKEN_SECRET, end="\r")
    out = capsys.readouterr().out
    assert TOKEN_SECRET not in out and "header=*** tail" in out and "progress ***" in out


def test_targets_met_exit_zero(server, bench_env, workdir):
    spec = write_spec(workdir, RANDOM.format(levels="[2]"), MET)
    with EdgeRelay(server.url, HEADERS) as edge:
        proc = run_bench(spec, edge.url, "--format", "json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["ok"] and out["targets"][0]["met"] is True and out["failures"] == []


def test_without_the_proxy_token_the_edge_refuses_and_bench_says_which_variable(workdir):
    spec = write_spec(workdir, RANDOM.format(levels="[2]"), MET)
    proc = run_bench(spec, "http://127.0.0.1:9", env_extra={"MODAL_PROXY_TOKEN_SECRET": ""})
    assert proc.returncode == 1
    assert "MODAL_PROXY_TOKEN_SECRET is not set" in proc.stderr and "Traceback" not in proc.stderr


def test_catalog_workloads_need_no_download_and_fix_lengths():
    spec = {"model": {"repo": "org/m", "served_name": "m"}, "bench": {},
            "serving": {"auth": {}}}
    cells = bench.cells(spec)
    datasets = {c.dataset for c in cells}
    assert datasets == {"random-ids", "generated-shared-prefix"}  # "random" downloads ShareGPT
    for cell in cells:
        if cell.dataset == "random-ids":
            assert cell.argv[cell.argv.index("--random-range-ratio") + 1] == "1.0"
    random = catalog.bench()["workloads"][0]
    assert [c.concurrency for c in cells if c.workload == random["name"]] == random["concurrencies"]


def test_driver_and_runner_agree_on_the_result_marker():
    assert bench_driver.BENCH_RESULT_MARKER == bench.MARKER


def test_modal_mode_runs_the_app_function_with_credentials_by_name_only(tmp_path):
    """Without Modal's servers, the stand-in `modal` of the deploy tests (tests/standin_modal.py)
    answers `modal run` with the result lines jobs.py's bench_endpoint prints, and echoes
    environment values, as a leak would. What is checked: the real modal CLI call servespec
    makes, that the proxy token travels in the environment (never in argv or the request) and
    that nothing printed or recorded contains it."""
    spec = write_spec(tmp_path, RANDOM.format(levels="[2]"), MET)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "modal").write_text(f'#!/bin/sh\nexec "{sys.executable}" '
                                   f'"{ROOT / "tests" / "standin_modal.py"}" modal "$@"\n')
    (bin_dir / "modal").chmod(0o755)
    result = {"completed": 4, "p95_ttft_ms": 80.0, "median_tpot_ms": 3.0}
    line = bench.MARKER + json.dumps({"key": "random@2", "result": result, "error": None})
    (tmp_path / "standin.json").write_text(json.dumps({"rules": [
        {"match": "run rendered/tiny-bench/jobs.py::bench_endpoint", "lines": [line],
         "print_env": ["SERVESPEC_BENCH", "MODAL_PROXY_TOKEN_SECRET"]}]}))
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
           "STANDIN_LOG": str(tmp_path / "standin.log"),
           "STANDIN_CONFIG": str(tmp_path / "standin.json"),
           "MODAL_PROXY_TOKEN_ID": TOKEN_ID, "MODAL_PROXY_TOKEN_SECRET": TOKEN_SECRET}
    proc = subprocess.run([sys.executable, "-m", "renderer.cli.main", "bench", str(spec), "--url",
                           "https://ws--tiny-bench.modal.run"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    argv = json.loads((tmp_path / "standin.log").read_text().splitlines()[0])["argv"]
    assert argv[:3] == ["run", "rendered/tiny-bench/jobs.py::bench_endpoint", "--request"]
    request = json.loads(argv[3])
    assert request["base_url"] == "https://ws--tiny-bench.modal.run"
    assert request["header_env"] == {"Modal-Key": "MODAL_PROXY_TOKEN_ID",
                                     "Modal-Secret": "MODAL_PROXY_TOKEN_SECRET"}
    assert request["api_key_env"] == "SGLANG_API_KEY"
    assert [r["key"] for r in request["runs"]] == ["random@2"]
    # SGLang's ready check sends no custom headers, so behind the proxy it is off.
    assert "--ready-check-timeout-sec" in request["runs"][0]["argv"]
    log = only(tmp_path / "runs" / "tiny-bench", "bench-*.log").read_text()
    assert "SERVESPEC_BENCH=1" in log and "MODAL_PROXY_TOKEN_SECRET=***" in log
    for text in (log, proc.stdout, proc.stderr, " ".join(argv)):
        assert TOKEN_SECRET not in text and TOKEN_ID not in text


def test_the_real_modal_cli_knows_the_bench_function_and_its_option(tmp_path):
    """`modal run FILE::bench_endpoint --help` imports the rendered app with the real modal 1.6.4
    CLI (no token needed for --help) and lists the option servespec passes."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODAL_")}
    proc = subprocess.run([str(Path(sys.executable).with_name("modal")), "run",
                           f"rendered/glm51-fp8-b200/jobs.py::{bench.REMOTE_FUNCTION}", "--help"],
                          cwd=ROOT, env={**env, "HOME": str(tmp_path)}, capture_output=True,
                          text=True, timeout=180, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "--request TEXT" in proc.stdout and "[required]" in proc.stdout


def test_accept_length_is_asked_again_with_the_proxy_headers(monkeypatch):
    """SGLang's own /server_info request carries no --header headers; behind the edge stand-in
    (tests/edge_proxy.py) it would get 401. The driver asks again with them and reads the figure
    where SGLang reads it (internal_states[0].avg_spec_accept_length)."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from threading import Thread

    from edge_proxy import EdgeProxy

    class ServerInfo(BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps({"internal_states": [{"avg_spec_accept_length": 2.75}]}).encode()
            self.send_response(200 if self.path == "/server_info" else 404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    upstream = ThreadingHTTPServer(("127.0.0.1", 0), ServerInfo)
    Thread(target=upstream.serve_forever, daemon=True).start()
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    try:
        with EdgeProxy(f"http://127.0.0.1:{upstream.server_address[1]}", "wk-1", "ws-2") as edge:
            headers = {"Modal-Key": "wk-1", "Modal-Secret": "ws-2"}
            assert bench_driver.server_accept_length(edge.url, headers) == 2.75
            assert bench_driver.server_accept_length(edge.url, {"Modal-Key": "wk-1"}) is None  # 401
    finally:
        upstream.shutdown()


def test_cost_per_million_output_tokens_is_the_hourly_price_over_the_hourly_output():
    from renderer.operate import bench_report

    rows = [{"result": {"output_throughput": 1000.0}}, {"result": None},
            {"result": {"output_throughput": 0}}]
    bench_report.add_cost(rows, 36.0)  # $36/h at 3.6M tokens/h: $10 per million
    assert [r["usd_per_million_output_tokens"] for r in rows] == [10.0, None, None]
    bench_report.add_cost(rows, None)  # no estimate (no model facts): no figure
    assert rows[0]["usd_per_million_output_tokens"] is None
