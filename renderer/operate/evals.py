"""`servespec eval SPEC`: the pinned SGLang release's own evaluation module against the endpoint.

No evaluation code of ours: every score comes from `python -m sglang.test.run_eval` of the
spec's engine.version (renderer/catalog/eval.yaml names the module and tasks per release).
Where it runs:
  * by default, in the jobs app's CPU function `eval_endpoint`, in the spec's region, as bench
    does (`modal run jobs.py::eval_endpoint --request JSON`); the module downloads its data there
    as upstream does;
  * with --local-url URL, on this machine against any OpenAI-compatible URL, in the SGLang env
    with the eval overlay (tools/sglang-overlay-env.sh eval VERSION), through the same runtime
    driver the Modal function imports (renderer/runtime/eval_driver.py). --data TASK=FILE hands
    a task its data through the module's own option (gsm8k: --gsm8k-data-path), so nothing is
    downloaded.
eval_report.py turns the results into runs/<name>/eval-<timestamp>.json and a table and checks
each task against its expectation (the spec's, else the catalog's for the model).

Credentials as in bench: the API key reaches the module as OPENAI_API_KEY, the proxy token as
headers of its HTTP client, both read from the environment by NAME inside the process that runs
the module; values are never on a command line, in the request or in a record.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

from renderer import paths
from renderer.operate.bench import (
    ENV_ROOT_VAR,
    BenchProblem,
    _checked_spec,
    _endpoint_url,
    _proxy,
    collect,
    datetime_stamp,
)
from renderer.render.runtime_file import runtime_source
from renderer.resolve import evals
from renderer.resolve.deployment import api_key_env
from renderer.runtime.eval_driver import EVAL_RESULT_MARKER

MARKER = EVAL_RESULT_MARKER  # the line the eval function of jobs.py prints per task
EVAL_PYTHON_VAR = "SERVESPEC_EVAL_PYTHON"  # a Python that imports the pinned sglang and openai
TIMEOUT_MARGIN = 900  # `modal run` builds or pulls the image and schedules a container first


def request(spec: dict, base_url: str, tasks: list, data: dict, proxy_auth) -> dict:
    """What the driver gets: options per task, names of credential variables, never values."""
    header_env = {}
    if proxy_auth is not None:
        from renderer.resolve.edge import KEY_HEADER, SECRET_HEADER

        header_env = {KEY_HEADER: proxy_auth.token_id_env, SECRET_HEADER: proxy_auth.token_secret_env}
    module = evals.module_of(spec["engine"]["version"])
    runs = []
    for task in tasks:
        argv = list(task.argv)
        if task.name in data:
            argv += [task.data_option, data[task.name]]
        runs.append({"name": task.name, "argv": argv, "model": evals.served_model(spec)})
    return {"base_url": base_url.rstrip("/"), "module": module["module"], "tasks": runs,
            "header_env": header_env, "api_key_env": api_key_env(spec), "report_dir": None}


def data_files(spec: dict, tasks: list, given: tuple[str, ...]) -> dict:
    """--data TASK=FILE, checked: the task runs, its module option exists, the file is there."""
    by_name = {t.name: t for t in tasks}
    version = spec["engine"]["version"]
    out = {}
    for item in given:
        name, sep, path = item.partition("=")
        if not sep or not path:
            raise BenchProblem(f"--data takes TASK=FILE, not '{item}'", 2)
        if name not in by_name:
            raise BenchProblem(f"--data names task '{name}', which this run does not have "
                               f"(tasks: {', '.join(by_name) or 'none'})", 2)
        if not by_name[name].data_option:
            raise BenchProblem(f"sglang {version}'s run_eval reads task '{name}' only from its "
                               "own download (it has no option for a data file)", 2)
        if not Path(path).is_file():
            raise BenchProblem(f"--data {name}: no file at {path}", 2)
        out[name] = str(Path(path).resolve())
    return out


def local_python(version: str) -> tuple[str, dict]:
    """The SGLang env of tools/sglang-env.sh with the eval overlay in front of the bench overlay
    (tools/sglang-overlay-env.sh eval VERSION builds both), or $SERVESPEC_EVAL_PYTHON."""
    env = dict(os.environ)
    if os.environ.get(EVAL_PYTHON_VAR):
        return os.environ[EVAL_PYTHON_VAR], env
    root = Path(os.environ.get(ENV_ROOT_VAR) or ".cache")
    python = root / f"sglang-{version}" / "bin" / "python"
    overlays = [root / f"sglang-{version}-{kind}-overlay" for kind in ("eval", "bench")]
    if not python.is_file() or not all(o.is_dir() for o in overlays):
        raise BenchProblem(f"no local SGLang {version} evaluation environment under {root}: run "
                           f"`bash tools/sglang-overlay-env.sh eval {version}` (or set "
                           f"{EVAL_PYTHON_VAR})")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [*map(str, overlays), env.get("PYTHONPATH")]))
    return str(python), env


def run_local(spec: dict, req: dict, log_path: Path, timeout: float, redact) -> list[dict]:
    python, env = local_python(spec["engine"]["version"])
    env["TOKENIZERS_PARALLELISM"] = "false"
    with tempfile.TemporaryDirectory(prefix="servespec-eval-") as tmp:
        req_path = Path(tmp) / "request.json"
        req_path.write_text(json.dumps(req), encoding="utf-8")
        driver = Path(tmp) / "servespec_runtime.py"
        driver.write_text(runtime_source(), encoding="utf-8")
        code = ("import runpy, sys; "
                "runpy.run_path(sys.argv[1])['run_eval_request_file'](sys.argv[2])")
        return collect([python, "-W", "ignore", "-c", code, str(driver), str(req_path)], env,
                       log_path, timeout, redact, MARKER, "evaluation", "task")


def run_modal(spec_name: str, req: dict, log_path: Path, timeout: float, redact) -> list[dict]:
    """`modal run FILE::FUNC --request JSON` (modal/cli/run.py, modal 1.6.4), as bench does."""
    jobs_py = paths.jobs_file(spec_name)
    argv = ["modal", "run", f"{jobs_py}::{evals.REMOTE_FUNCTION}", "--request", json.dumps(req)]
    # jobs.py copies the proxy-token variables into the function's Secret while REMOTE_FLAG_VAR
    # is set; no other secret-looking variable goes to `modal run`.
    from renderer.run.process import child_env

    env = {**child_env(needs=req["header_env"].values()), evals.REMOTE_FLAG_VAR: "1"}
    return collect(argv, env, log_path, timeout, redact, MARKER, "evaluation", "task")


def eval_main(spec_path: str, *, local_url: str | None = None, url: str | None = None,
              data: tuple[str, ...] = (), proxy_auth: bool = True, fmt: str = "text") -> int:
    """Run every task, write the results, print the table; 0 when every expectation is met."""
    from renderer.operate import eval_report
    from renderer.run import history

    start = history.now_iso()
    try:
        spec, name = _checked_spec(spec_path)
        tasks = _runnable_tasks(spec)
        files = data_files(spec, tasks, data)
        proxy = _proxy(spec) if proxy_auth else None
        redact = history.redactor([*(proxy.names if proxy else []), api_key_env(spec) or ""])
        stamp = datetime_stamp()
        folder = paths.RUNS_DIR / name
        log_path = folder / f"eval-{stamp}.log"
        timeout = evals.settings(spec)["timeout"] + TIMEOUT_MARGIN
        if local_url:
            _note_missing_key(spec)
            req = request(spec, local_url, tasks, files, proxy)
            # The module's per-example HTML reports land beside the results.
            req["report_dir"] = str((folder / f"eval-{stamp}").resolve())
            Path(req["report_dir"]).mkdir(parents=True, exist_ok=True)
            outcomes = run_local(spec, req, log_path, timeout, redact)
            where = f"local run against {local_url}"
        else:
            if files:
                raise BenchProblem("--data is for --local-url runs: on Modal the module "
                                   "downloads its data as upstream does", 2)
            endpoint = url or _endpoint_url(name)
            req = request(spec, endpoint, tasks, {}, proxy)
            outcomes = run_modal(name, req, log_path, timeout, redact)
            where = f"Modal function {evals.REMOTE_FUNCTION} of app {spec['app']}-jobs against {endpoint}"
    except (BenchProblem, evals.NoEvalModule) as problem:
        print(f"servespec eval: {problem}", file=sys.stderr)
        return getattr(problem, "code", 2)
    conf = evals.settings(spec)
    rows = eval_report.rows(tasks, outcomes, conf["confidence"])
    for row, sent in zip(rows, req["tasks"], strict=True):
        row["argv"] = sent["argv"]  # what the module got, data file included
    doc = {"spec": spec_path, "app": spec["app"], "sglang_version": spec["engine"]["version"],
           "module": req["module"], "where": where, "started": start,
           "finished": history.now_iso(), "settings": _recorded_settings(conf),
           "tasks": rows, "log": str(log_path)}
    json_path = folder / f"eval-{stamp}.json"
    eval_report.write_json(json_path, redact.deep(doc))
    failures = [s for s in map(eval_report.failure_sentence, rows) if s]
    history.append(name, {"run": history.run_id(), "action": "eval", "start": start,
                          "end": history.now_iso(), "status": "failed" if failures else "ok",
                          "results": str(json_path), "detail": "; ".join(failures) or
                          ", ".join(f"{r['task']} {r['score']:.3f} ({r['verdict']})" for r in rows)},
                   redact)
    _report(fmt, doc, rows, json_path, failures, redact)
    return 1 if failures else 0


def _runnable_tasks(spec: dict) -> list:
    unknown = evals.unknown_tasks(spec)
    if unknown:
        raise BenchProblem("; ".join(f"task '{name}': {why}" for _, name, why in unknown), 2)
    return evals.tasks(spec)


def _note_missing_key(spec: dict) -> None:
    key_env = api_key_env(spec)
    if key_env and not os.environ.get(key_env):
        print(f"servespec eval: note: {key_env} is not set here, so the requests carry no API key",
              file=sys.stderr)


def _recorded_settings(conf: dict) -> dict:
    return {k: v for k, v in conf.items() if k != "tasks"}


def _report(fmt, doc, rows, json_path, failures, redact) -> None:
    from renderer.operate import eval_report

    if fmt == "json":
        print(json.dumps(redact.deep({**doc, "results": str(json_path), "ok": not failures,
                                      "failures": failures}),
                         indent=2, sort_keys=True, allow_nan=False))
    else:
        print(redact(eval_report.table(rows)))
        print(f"results: {json_path}")
        for row in rows:
            if row["report"]:
                print(f"{row['task']}: every prompt, answer and score: {row['report']}")
    for failure in failures:
        print(f"servespec eval: {redact(failure)}", file=sys.stderr)
