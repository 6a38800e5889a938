"""`servespec bench SPEC`: SGLang's own serving benchmark against the spec's endpoint.

No load generator of ours: every figure comes from `python -m sglang.benchmark.serving` of the
spec's engine.version (sglang 0.5.23 benchmark/serving.py). Where it runs:
  * by default, on Modal, in the CPU function `bench_endpoint` of the spec's jobs app
    (`modal run rendered/<name>/jobs.py::bench_endpoint`), so the load and the latencies do not
    cross the user's own network, and no serving container is created for the run;
  * with --local-url URL, on this machine against any OpenAI-compatible URL, in a local SGLang
    environment (tools/sglang-bench-env.sh), through the same runtime file the Modal function
    imports (renderer/runtime/bench_driver.py inside it; renderer/render/runtime_file.py).
The workloads (spec `bench.workloads`, else renderer/catalog/bench.yaml) become one benchmark
run ("cell") per workload and concurrency; bench_report.py turns the results into
runs/<name>/bench-<timestamp>.json, a PNG and a table, and checks the spec's targets.

Credentials: the endpoint's API key reaches SGLang as OPENAI_API_KEY (its
`Authorization: Bearer`); Modal's proxy-auth token as Modal-Key/Modal-Secret headers added to
SGLang's own auth headers (renderer/runtime/bench_driver.py). Both are read from the environment
by NAME inside the process that runs the benchmark, whose output is redacted over their values;
values are never on a command line, in the request, in a log or in a record.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from renderer import paths
from renderer.render.runtime_file import runtime_source
from renderer.resolve.bench import REMOTE_FLAG_VAR, REMOTE_FUNCTION, prompt_count, settings
from renderer.resolve.deployment import api_key_env
from renderer.runtime.bench_driver import BENCH_RESULT_MARKER

MARKER = BENCH_RESULT_MARKER  # the line the bench function of jobs.py prints per cell
BACKENDS = {"chat": "sglang-oai-chat", "completions": "sglang-oai"}
ENV_ROOT_VAR = "SERVESPEC_SGLANG_ENV_ROOT"
BENCH_PYTHON_VAR = "SERVESPEC_BENCH_PYTHON"  # a Python with the pinned sglang importable
# jobs.py copies the proxy-token variables into the bench function's Secret only when set.
# SGLang's ready check and /server_info request carry no custom headers (benchmark/serving.py,
# wait_for_endpoint uses get_auth_headers only): behind Modal's proxy they always get 401, so
# the check is switched off there; the warmup request waits for a cold replica instead.
READY_CHECK_SECONDS = 60


class BenchProblem(Exception):
    """Reported as one sentence with exit code 2 (usage) or 1."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.code = code


@dataclass
class Cell:
    workload: str
    dataset: str
    concurrency: int
    argv: list[str]

    @property
    def key(self) -> str:
        return f"{self.workload}@{self.concurrency}"


# --- what to run ----------------------------------------------------------------------------


def served_model(spec: dict) -> str:
    return spec["model"].get("served_name") or spec["model"]["repo"]


def cells(spec: dict) -> list[Cell]:
    conf = settings(spec)
    common = ["--backend", BACKENDS[conf["api"]], "--model", served_model(spec),
              "--warmup-requests", str(conf["warmup_requests"]), "--disable-tqdm", "--seed", "1"]
    out = []
    for workload in conf["workloads"]:
        for concurrency in workload["concurrencies"]:
            args = [*common, "--dataset-name", workload["dataset"],
                    "--max-concurrency", str(concurrency),
                    "--tag", f"{workload['name']}@{concurrency}"]
            args += dataset_args(workload, concurrency)
            out.append(Cell(workload["name"], workload["dataset"], concurrency, args))
    return out


def dataset_args(workload: dict, concurrency: int) -> list[str]:
    if workload["dataset"] == "random-ids":
        # --random-range-ratio defaults to 0.0 (lengths uniform in 1..N); 1.0 fixes them.
        return ["--random-input-len", str(workload["input_len"]),
                "--random-output-len", str(workload["output_len"]),
                "--random-range-ratio", "1.0",
                "--num-prompts", str(prompt_count(workload, concurrency))]
    return ["--gsp-num-groups", str(workload["groups"]),
            "--gsp-prompts-per-group", str(workload["prompts_per_group"]),
            "--gsp-system-prompt-len", str(workload["system_prompt_len"]),
            "--gsp-question-len", str(workload["question_len"]),
            "--gsp-output-len", str(workload["output_len"]),
            "--num-prompts", str(prompt_count(workload, concurrency))]


def request(spec: dict, base_url: str, tokenizer: str | None, out_dir: str | None,
            proxy_auth) -> dict:
    """What the runner of the cells gets: names of credential variables, never values."""
    header_env = {}
    if proxy_auth is not None:
        from renderer.resolve.edge import KEY_HEADER, SECRET_HEADER

        header_env = {KEY_HEADER: proxy_auth.token_id_env, SECRET_HEADER: proxy_auth.token_secret_env}
    ready = ["--ready-check-timeout-sec", "0" if header_env else str(READY_CHECK_SECONDS)]
    return {
        "base_url": base_url.rstrip("/"),
        "tokenizer": tokenizer,
        "runs": [{"key": c.key, "argv": [*c.argv, *ready]} for c in cells(spec)],
        "header_env": header_env,
        "api_key_env": api_key_env(spec),
        "out_dir": out_dir,
    }


# --- where it runs --------------------------------------------------------------------------


def local_python(version: str) -> tuple[str, dict]:
    """The SGLang env of tools/sglang-env.sh with the bench overlay of tools/sglang-bench-env.sh,
    or $SERVESPEC_BENCH_PYTHON (any Python that imports the pinned sglang)."""
    env = dict(os.environ)
    if os.environ.get(BENCH_PYTHON_VAR):
        return os.environ[BENCH_PYTHON_VAR], env
    root = Path(os.environ.get(ENV_ROOT_VAR) or ".cache")
    python = root / f"sglang-{version}" / "bin" / "python"
    overlay = root / f"sglang-{version}-bench-overlay"
    if not python.is_file() or not overlay.is_dir():
        raise BenchProblem(f"no local SGLang {version} benchmark environment under {root}: run "
                           f"`bash tools/sglang-bench-env.sh {version}` (or set {BENCH_PYTHON_VAR})")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(overlay), env.get("PYTHONPATH")]))
    return str(python), env


def run_local(spec: dict, req: dict, log_path: Path, timeout: float, redact) -> list[dict]:
    python, env = local_python(spec["engine"]["version"])
    # The datasets download nothing (generated-shared-prefix prompts are cached under
    # ~/.cache/sglang); a Hub id as --tokenizer is fetched as transformers always does.
    env["TOKENIZERS_PARALLELISM"] = "false"
    with tempfile.TemporaryDirectory(prefix="servespec-bench-") as tmp:
        req = {**req, "out_dir": tmp}
        req_path = Path(tmp) / "request.json"
        req_path.write_text(json.dumps(req), encoding="utf-8")
        driver = Path(tmp) / "servespec_runtime.py"
        driver.write_text(runtime_source(), encoding="utf-8")
        return collect(driver_command(python, driver, req_path), env, log_path, timeout, redact)


def driver_command(python: str, driver: Path, req_path: Path) -> list[str]:
    """The local benchmark process: the runtime file's bench driver on one request file."""
    code = "import runpy, sys; runpy.run_path(sys.argv[1])['run_request_file'](sys.argv[2])"
    return [python, "-W", "ignore", "-c", code, str(driver), str(req_path)]


def run_modal(spec_name: str, req: dict, log_path: Path, timeout: float, redact) -> list[dict]:
    """`modal run FILE::FUNC --ARG VALUE` calls one function of the app with its parameters as
    options (modal/cli/run.py, modal 1.6.4); the function prints one MARKER line per cell."""
    jobs_py = paths.jobs_file(spec_name)
    argv = ["modal", "run", f"{jobs_py}::{REMOTE_FUNCTION}", "--request", json.dumps(req)]
    # jobs.py copies the proxy-token variables into the function's Secret while REMOTE_FLAG_VAR
    # is set; no other secret-looking variable goes to `modal run`.
    from renderer.run.process import child_env

    env = {**child_env(needs=req["header_env"].values()), REMOTE_FLAG_VAR: "1"}
    return collect(argv, env, log_path, timeout, redact)


def collect(argv: list[str], env: dict, log_path: Path, timeout: float, redact,
            marker: str = MARKER, what: str = "benchmark", key: str = "key") -> list[dict]:
    """Run argv, keep its whole output in log_path, return the marker lines' payloads. SGLang
    prints its arguments, proxy-token headers included: the log is redacted line by line.
    (`servespec eval` collects its module's results the same way, with its own marker.)"""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    outcomes = []
    with open(log_path, "w", encoding="utf-8") as log:
        try:
            proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True, start_new_session=True)
        except FileNotFoundError:
            raise BenchProblem(f"cannot run {argv[0]}: not installed") from None
        deadline = time.monotonic() + timeout
        for line in proc.stdout:
            log.write(redact(line))
            if line.startswith(marker):
                outcomes.append(json.loads(line[len(marker):]))
                print(f"  ran {outcomes[-1][key]}", file=sys.stderr, flush=True)
            if time.monotonic() > deadline:
                proc.kill()
                raise BenchProblem(f"the {what} did not finish within {timeout:.0f} s "
                                   f"(output in {log_path})")
        code = proc.wait()
    if code != 0 and not outcomes:
        raise BenchProblem(f"the {what} exited with {code} before any run finished: "
                           f"{_tail(log_path)} (whole output in {log_path})")
    return outcomes


def _tail(path: Path) -> str:
    lines = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    return lines[-1] if lines else "(no output)"


# --- the command ----------------------------------------------------------------------------

TIMEOUT_MARGIN = 900  # `modal run` builds or pulls the image and schedules a container first


def bench_main(spec_path: str, *, local_url: str | None = None, tokenizer: str | None = None,
               url: str | None = None, proxy_auth: bool = True, fmt: str = "text") -> int:
    """Run every cell, write the results, print the table; 0 when every target is met."""
    from renderer.operate import bench_floors, bench_report
    from renderer.run import history

    start = history.now_iso()
    try:
        report = _checked_result(spec_path)
        spec, name = report.spec, report.name
        proxy = _proxy(spec) if proxy_auth else None
        redact = history.redactor([*(proxy.names if proxy else []), api_key_env(spec) or ""])
        stamp = datetime_stamp()
        folder = paths.RUNS_DIR / name
        log_path = folder / f"bench-{stamp}.log"
        timeout = settings(spec)["timeout"] + TIMEOUT_MARGIN
        key_env = api_key_env(spec)
        if local_url and key_env and not os.environ.get(key_env):
            print(f"servespec bench: note: {key_env} is not set here, so the requests carry no "
                  "API key", file=sys.stderr)
        if local_url:
            req = request(spec, local_url, tokenizer or spec["model"]["repo"], "", proxy)
            outcomes = run_local(spec, req, log_path, timeout, redact)
            where = f"local run against {local_url}"
        else:
            endpoint = url or _endpoint_url(name)
            # bench_endpoint fills in the tokenizer (MODEL_DIR, the weights volume) and its
            # own output folder.
            req = request(spec, endpoint, None, None, proxy)
            outcomes = run_modal(name, req, log_path, timeout, redact)
            where = f"Modal function {REMOTE_FUNCTION} of app {spec['app']} against {endpoint}"
    except BenchProblem as problem:
        print(f"servespec bench: {problem}", file=sys.stderr)
        return problem.code
    rows = bench_report.run_rows(cells(spec), outcomes)
    price = report.estimate.usd_per_hour_replica if report.estimate else None
    bench_report.add_cost(rows, price)
    workloads = settings(spec)["workloads"]
    bench_floors.add_floors(rows, report, workloads)
    checked = bench_report.check_targets(settings(spec).get("targets") or [], rows,
                                         workloads[0]["name"])
    doc = {"spec": spec_path, "app": spec["app"], "sglang_version": spec["engine"]["version"],
           "where": where, "started": start, "finished": history.now_iso(),
           "usd_per_hour_replica": price, "runs": rows, "targets": checked, "log": str(log_path)}
    json_path, png_path = folder / f"bench-{stamp}.json", folder / f"bench-{stamp}.png"
    bench_report.write_json(json_path, redact.deep(doc))
    bench_report.plot(png_path, rows, checked,
                      f"{spec['app']}: SGLang {spec['engine']['version']} serving benchmark, {stamp}")
    failures = [f"run {r['key']} failed: {r['error']}" for r in rows if r["error"]]
    failures += [bench_report.missed_sentence(t) for t in bench_report.missed(checked)]
    history.append(name, {"run": history.run_id(), "action": "bench", "start": start,
                          "end": history.now_iso(), "status": "failed" if failures else "ok",
                          "results": str(json_path),
                          "detail": "; ".join(failures) or f"{len(rows)} runs, targets met"},
                   redact)
    _report(fmt, doc, rows, checked, json_path, png_path, failures, redact)
    return 1 if failures else 0


def _report(fmt, doc, rows, checked, json_path, png_path, failures, redact) -> None:
    from renderer.operate import bench_report

    if fmt == "json":
        print(json.dumps(redact.deep({**doc, "results": str(json_path), "png": str(png_path),
                                      "ok": not failures, "failures": failures}),
                         indent=2, sort_keys=True, allow_nan=False))
    else:
        from renderer.operate import bench_floors

        print(redact("\n".join([bench_report.table(rows, checked), *bench_floors.floor_lines(rows)])))
        print(f"results: {json_path}\npicture: {png_path}")
    for failure in failures:
        print(f"servespec bench: {redact(failure)}", file=sys.stderr)


def datetime_stamp() -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())


def _checked_spec(spec_path: str) -> tuple[dict, str]:
    result = _checked_result(spec_path)
    return result.spec, result.name


def _checked_result(spec_path: str):
    from renderer.pipeline import read_spec

    if not Path(spec_path).is_file():
        raise BenchProblem(f"no spec at {spec_path}", 2)
    result = read_spec(spec_path)
    if result.failed():
        errors = [f for f in result.findings if f.severity.value == "error"] or result.findings
        first = errors[0].format().splitlines()[0] if errors else "it does not validate"
        raise BenchProblem(f"{spec_path} is not a valid spec ({first}); run `servespec validate`", 2)
    return result


def _proxy(spec: dict):
    """The spec's proxy-auth variables (renderer/resolve/edge.py), checked to be set: the benchmark
    cannot reach a proxy-auth endpoint without them."""
    from renderer.resolve import edge

    proxy = edge.from_spec(spec)
    if proxy is not None and proxy.missing():
        raise BenchProblem(str(edge.ProxyTokenMissing(proxy.missing())))
    return proxy


def _endpoint_url(spec_name: str) -> str:
    from renderer.run import history

    override = os.environ.get("SERVESPEC_ENDPOINT_URL")
    if override:
        return override.rstrip("/")
    for record in reversed(history.read(spec_name)):
        if record.get("url"):
            return record["url"]
    raise BenchProblem("the endpoint URL is unknown (no deploy recorded one in "
                       f"{history.records_path(spec_name)}); pass --url or set "
                       "SERVESPEC_ENDPOINT_URL, or use --local-url", 2)
