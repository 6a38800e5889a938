"""Run SGLang's own evaluation module once per task, in one process, for `servespec eval`.

Runs where the pinned SGLang is importable, never inside servespec itself; standard library
only, apart from SGLang's own modules:
  * locally (--local-url), by the Python of the SGLang env with the eval overlay
    (tools/sglang-overlay-env.sh eval VERSION):
        python -c "import runpy, sys; runpy.run_path(DRIVER)['run_eval_request_file'](sys.argv[1])" REQUEST.json
  * on Modal, in the jobs app's eval function, which imports this file from the runtime.

Each task goes through the module's own command line: `python -m sglang.test.run_eval` is run
with runpy as __main__ with sys.argv set to that task's options, so its own parser, sampler
and scorer do everything. The module writes its metrics to /tmp/<task>_<model>.json
(test/run_eval.py, 0.5.10 and 0.5.23); that file is read back and removed.

REQUEST = {"base_url", "module", "tasks": [{"name", "argv", "model"}], "header_env":
           {header: VAR}, "api_key_env": VAR | null, "report_dir": DIR | null}
Credentials never reach a command line: the module's OpenAI client reads OPENAI_API_KEY from the
environment (openai.OpenAI(api_key=None) does), set here from the spec's variable; the proxy
token becomes default headers of the module's own HTTP client class
(simple_eval_common.LargerHttpxClient, which every sampler constructs), read here by name.
The number of examples scored is the count of per-example results the module aggregated
(simple_eval_common.aggregate_results), needed for the confidence interval. Output passes a
redactor over the credential values. Each task ends with one stdout line:
    SERVESPEC_EVAL_RESULT {"task": ..., "metrics": {...} | null, "examples": N | null,
                           "report": PATH | null, "error": ...}
"""

import json
import os
import runpy
import sys
import traceback

from .bench_driver import output_redacted

EVAL_RESULT_MARKER = "SERVESPEC_EVAL_RESULT "


def eval_credentials(request: dict) -> dict:
    """Set OPENAI_API_KEY for the module; return the proxy headers, values from the environment."""
    key_env = request.get("api_key_env")
    if key_env and os.environ.get(key_env):
        os.environ["OPENAI_API_KEY"] = os.environ[key_env]
    return {header: os.environ[var] for header, var in request["header_env"].items()
            if os.environ.get(var)}


def instrument_eval_module(common, headers: dict, counts: list) -> None:
    """Give the module's HTTP client the proxy headers and count what it aggregates."""
    base = common.LargerHttpxClient

    class HeaderClient(base):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.headers.update(headers)

    aggregate = common.aggregate_results

    def counted(single_eval_results, *args, **kwargs):
        counts.append(sum(1 for r in single_eval_results if r is not None))
        return aggregate(single_eval_results, *args, **kwargs)

    if headers:
        common.LargerHttpxClient = HeaderClient
    common.aggregate_results = counted


def eval_metrics_file(task: dict, suffix: str = ".json") -> str:
    """Where the module writes a task's metrics (.json) and its per-example report (.html):
    /tmp/<file_stem> (test/run_eval.py)."""
    return f"/tmp/{task['name']}_{task['model'].replace('/', '_')}{suffix}"


def keep_eval_report(request: dict, task: dict):
    """Move the module's HTML report (every prompt, answer and score) into request["report_dir"]
    when the request names one (a local run); on Modal it stays in the container."""
    report = eval_metrics_file(task, ".html")
    if not request.get("report_dir") or not os.path.exists(report):
        return None
    kept = os.path.join(request["report_dir"], f"{task['name']}.html")
    os.replace(report, kept)
    return kept


def run_eval_task(request: dict, task: dict, counts: list) -> dict:
    path = eval_metrics_file(task)
    if os.path.exists(path):
        os.remove(path)  # a file of an earlier run must not pass for this one's
    sys.argv = [request["module"], *task["argv"], "--base-url", request["base_url"]]
    del counts[:]
    error = None
    try:
        runpy.run_module(request["module"], run_name="__main__", alter_sys=False)
    except SystemExit as stop:  # its parser exits 2 on a bad option
        error = f"{request['module']} exited with {stop.code}" if stop.code else None
    except Exception as exc:  # noqa: BLE001 -- one failed task is reported, the rest run
        traceback.print_exc()
        error = f"{type(exc).__name__}: {exc}"
    metrics = None
    if os.path.exists(path):
        with open(path, encoding="utf-8") as fh:
            metrics = json.load(fh)
        os.remove(path)
    if metrics is None and error is None:
        error = f"{request['module']} wrote no metrics ({path})"
    return {"task": task["name"], "metrics": metrics, "examples": counts[-1] if counts else None,
            "report": keep_eval_report(request, task), "error": error}


def run_eval_request_file(path: str) -> None:
    with open(path, encoding="utf-8") as fh:
        run_eval_request(json.load(fh))


def run_eval_request(request: dict) -> None:
    headers = eval_credentials(request)
    secrets = [*headers.values(), os.environ.get("OPENAI_API_KEY")]
    # The module prints its samplers' settings and any request error it retries; whatever it
    # prints passes the redactor over the credential values first (bench_driver.py).
    with output_redacted(secrets):
        from sglang.test import simple_eval_common

        counts: list = []
        instrument_eval_module(simple_eval_common, headers, counts)
        for task in request["tasks"]:
            outcome = run_eval_task(request, task, counts)
            sys.stdout.flush()
            print(EVAL_RESULT_MARKER + json.dumps(outcome), flush=True)
