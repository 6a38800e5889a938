"""The GPU check, on the GPU machine (tools/gpu_check/run.sh starts it; docs/gpu-check.md).

    python3 tools/gpu_check/device.py OUT_DIR MODEL_DIR

Runs, in order, against the rendered app of specs/examples/tiny-qwen3-h200.yaml:
  1. start (cache miss): the container stand-in runs deploy.py's own @modal.enter, which starts
     the rendered SGLang argv through supervise(); the image's cache paths are empty
  2. wait, smoke, bench through a loopback edge stand-in (tests/edge_proxy.py) that answers
     401 without the proxy-auth headers, as Modal's proxy does
  3. drain: SIGTERM to the container while streamed requests are in flight
  4. start again (cache hit: what the first start left in the cache paths), then crash
  5. secrets: the planted API key and proxy token in no output, log or report
Writes OUT_DIR/report.json (and the logs, the bench picture and results beside it).
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import secrets
import shutil
import subprocess
import sys
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path[:0] = [str(HERE), str(ROOT), str(ROOT / "tests")]

import checks
from container import load_app
from procs import Container
from report import FAIL, SKIPPED, Report, secret_hits

SPEC = ROOT / "specs" / "examples" / "tiny-qwen3-h200.yaml"
DEPLOY = ROOT / "rendered" / SPEC.stem / "deploy.py"
START_TIMEOUT = 300.0
DRAIN_SECONDS_PER_REQUEST = 8.0


def planted() -> dict[str, str]:
    """Values nobody else knows, so a hit anywhere can only be a leak."""
    tag = secrets.token_hex(6)
    return {"SGLANG_API_KEY": f"sk-gpucheck-{tag}-key",
            "MODAL_PROXY_TOKEN_ID": f"wk-gpucheck-{tag}-id",
            "MODAL_PROXY_TOKEN_SECRET": f"ws-gpucheck-{tag}-secret"}


def machine() -> dict:
    def run(*argv: str) -> str:
        try:
            return subprocess.run(argv, capture_output=True, text=True, timeout=30,
                                  check=False).stdout.strip()
        except OSError:
            return ""

    import torch

    return {"gpu": run("nvidia-smi", "--query-gpu=name,driver_version,memory.total",
                       "--format=csv,noheader"),
            "kernel": platform.release(), "cpus": os.cpu_count(),
            "python": platform.python_version(), "torch": torch.__version__,
            "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")}


def app_facts() -> dict:
    module, record = load_app(DEPLOY)
    argv = [*module.SGLANG_COMMAND, *module.SGLANG_ARGS]
    server = record["servers"][0]
    return {"argv": argv, "model_path": argv[argv.index("--model-path") + 1],
            "health_url": module.HEALTH_URL, "served_model": argv[argv.index(
                "--served-model-name") + 1],
            "exit_grace_period": server.get("exit_grace_period"),
            "startup_timeout": server.get("startup_timeout")}


def place_model(model_dir: Path, target: str) -> None:
    """The model where the rendered --model-path expects the weights volume's copy."""
    Path(target).parent.mkdir(parents=True, exist_ok=True)
    if Path(target).exists():
        shutil.rmtree(target)
    shutil.copytree(model_dir, target)


def main(out: Path, model_dir: Path) -> int:
    report = Report(out / "report.json")
    keys = planted()
    os.environ.update(keys)  # as a user exports them where servespec runs
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "TOKENIZERS_PARALLELISM": "false", "SERVESPEC_BENCH_PYTHON": sys.executable}
    facts = app_facts()
    report.facts.update(machine=machine(), spec=str(SPEC.relative_to(ROOT)),
                        sglang=_sglang_version(), app=facts)
    place_model(model_dir, facts["model_path"])
    texts: dict[str, str] = {}
    try:
        run_checks(report, facts, env, keys, out, model_dir, texts)
    finally:
        report.write()
        texts["report.json"] = report.path.read_text(encoding="utf-8")
        texts.update(_files(out))
        hits = secret_hits(keys, texts)
        report.add("secrets", "fail" if hits else "pass",
                   f"planted API key and proxy token in {len(hits)} of {len(texts)} outputs"
                   + (f": {hits}" if hits else ""), scanned=sorted(texts), hits=hits)
        report.write()
    return 0 if report.ok else 1


def guarded(report: Report, name: str, call, *args, **kwargs):
    """A check that raises is a failed check with its traceback; the rest still run."""
    try:
        return call(*args, **kwargs)
    except Exception as error:  # noqa: BLE001
        report.add(name, FAIL, f"the check raised {type(error).__name__}: {error}"[:500],
                   traceback=traceback.format_exc()[-3000:])
        return None


def run_checks(report, facts, env, keys, out, model_dir, texts) -> None:
    from edge_proxy import EdgeProxy

    from renderer.resolve import edge

    grace = float(facts["exit_grace_period"] or 30)
    first = Container(DEPLOY, env, out / "container-1.log")
    try:
        up = checks.check_start(report, first, "start (cache miss)", START_TIMEOUT)
        server = facts["health_url"].removesuffix("/health")
        headers = edge.request_headers(edge.ProxyAuth("MODAL_PROXY_TOKEN_ID",
                                                      "MODAL_PROXY_TOKEN_SECRET"), None)
        with EdgeProxy(server, keys["MODAL_PROXY_TOKEN_ID"],
                       keys["MODAL_PROXY_TOKEN_SECRET"]) as proxy:
            if up:
                serve_checks(report, facts, env, keys, out, model_dir, texts, proxy.url, headers,
                             first)
                guarded(report, "drain", checks.check_drain, report, first, proxy.url,
                                   {**headers, "Authorization": f"Bearer {keys['SGLANG_API_KEY']}"},
                                   facts["served_model"], _drain_tokens(report), grace)
            else:
                for name in ("wait", "smoke", "bench", "drain"):
                    report.add(name, SKIPPED, "the server did not start")
    finally:
        first.kill()
        texts["container-1 output"] = first.text()
    second = Container(DEPLOY, env, out / "container-2.log")
    try:
        if checks.check_start(report, second, "start (cache hit)", START_TIMEOUT):
            guarded(report, "crash", checks.check_crash, report, second)
        else:
            report.add("crash", SKIPPED, "the second start failed")
    finally:
        second.kill()
        texts["container-2 output"] = second.text()


def serve_checks(report, facts, env, keys, out, model_dir, texts, base, headers,
                 container) -> None:
    work = out.parent / "gpu-check-work"
    work.mkdir(exist_ok=True)
    guarded(report, "wait", checks.check_wait, report, base, {**headers}, 60)
    # A named tool_choice is enforced with a grammar; without a grammar backend SGLang refuses
    # it (HTTP 400), so the model is left to call the tool on its own.
    argv = facts["argv"]
    no_grammar = "--grammar-backend" in argv and argv[argv.index("--grammar-backend") + 1] == "none"
    texts["smoke"] = guarded(report, "smoke", checks.check_smoke, report, base,
                             facts["served_model"], env, ROOT,
                             "auto" if no_grammar else "named") or ""
    doc = guarded(report, "bench", checks.check_bench, report, SPEC, base, model_dir, env, work,
                  container)
    if doc:
        for key in ("results", "png", "log"):
            if doc.get(key) and Path(work, doc[key]).is_file():
                shutil.copy(Path(work, doc[key]), out / f"bench{Path(doc[key]).suffix}")
        texts["bench"] = json.dumps(doc)


def _drain_tokens(report: Report) -> int:
    """Enough tokens for each drain request to stream for a few seconds at the measured speed."""
    bench = next((r for r in report.results if r.name == "bench"), None)
    tpots = [f.get("median_tpot_ms") for f in (bench.figures.get("runs", {}) if bench else {}).values()]
    tpot = max([t for t in tpots if t] or [2.0])
    return int(min(7000, max(500, DRAIN_SECONDS_PER_REQUEST * 1000 / tpot)))


def _sglang_version() -> str:
    try:
        from importlib.metadata import version

        return version("sglang")
    except Exception:  # noqa: BLE001
        return "unknown"


def _files(out: Path) -> dict[str, str]:
    return {p.name: p.read_text(encoding="utf-8", errors="replace")
            for p in sorted(out.iterdir()) if p.is_file() and p.suffix in (".log", ".json", ".txt")}


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2])))
