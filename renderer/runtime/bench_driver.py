"""Run SGLang's serving benchmark once per cell, in one process, for `servespec bench`.

Runs where the pinned SGLang is importable, never inside servespec itself; standard library
only, apart from SGLang's own module:
  * locally (--local-url), by the Python of tools/sglang-bench-env.sh's environment:
        python -c "import runpy, sys; runpy.run_path(DRIVER)['run_request_file'](sys.argv[1])" REQUEST.json
  * on Modal, in the bench_endpoint function: the render stage includes this file verbatim in
    deploy.py (as it includes supervise.py), so both places run the same code. It therefore has
    no `if __name__ == "__main__"` block and no names that could clash with deploy.py's.

Each cell goes through the module's own command-line entry point, `cli_main()` of
sglang.benchmark.serving (what `python -m sglang.benchmark.serving` calls), with sys.argv set
to that cell's arguments. One process for every cell saves the ~9 s the module takes to import
on each run; nothing else differs from `python -m`.

REQUEST = {"base_url", "tokenizer", "runs": [{"key", "argv"}], "header_env": {header: VAR},
           "api_key_env": VAR | null, "out_dir"}
Header values and the API key are read here from the environment, by name, so they never
appear on a command line. Each cell ends with one stdout line:
    SERVESPEC_BENCH_RESULT {"key": ..., "result": {SGLang's result line} | null, "error": ...}
"""

import json
import os
import sys
import traceback

BENCH_RESULT_MARKER = "SERVESPEC_BENCH_RESULT "


def bench_credentials_argv(request: dict) -> list[str]:
    """`--header K=V ...` for SGLang (one flag, nargs="+": a repeated flag keeps only the last,
    sglang 0.5.23 benchmark/serving.py); OPENAI_API_KEY becomes its Authorization header."""
    key_env = request.get("api_key_env")
    if key_env and os.environ.get(key_env):
        os.environ["OPENAI_API_KEY"] = os.environ[key_env]
    pairs = [f"{header}={os.environ[var]}" for header, var in request["header_env"].items()
             if os.environ.get(var)]
    return ["--header", *pairs] if pairs else []


def run_bench_cell(serving, request: dict, run: dict, index: int, headers: list[str]) -> dict:
    out = os.path.join(request["out_dir"], f"cell-{index}.jsonl")
    sys.argv = ["sglang.benchmark.serving", *run["argv"], "--base-url", request["base_url"],
                "--tokenizer", request["tokenizer"], "--output-file", out, *headers]
    error = None
    try:
        serving.cli_main()
    except SystemExit as stop:  # the module exits for a server that is not ready
        error = f"sglang.benchmark.serving exited with {stop.code}" if stop.code else None
    except Exception as exc:  # noqa: BLE001 -- any failure of one cell is reported, the rest run
        # (e.g. every request failed: the module takes percentiles of nothing and raises)
        traceback.print_exc()
        error = f"{type(exc).__name__}: {exc}"
    result = None
    if os.path.exists(out):
        with open(out, encoding="utf-8") as fh:
            lines = fh.read().splitlines()
        result = json.loads(lines[-1]) if lines else None
    if result is None and error is None:
        error = "SGLang's benchmark wrote no result (no request succeeded)"
    if result is not None and result.get("accept_length") is None and headers:
        result["accept_length"] = server_accept_length(request["base_url"], headers[1:])
    return {"key": run["key"], "result": result, "error": error}


def server_accept_length(base_url: str, pairs: list[str]):
    """SGLang reads the speculative accept length from /server_info without the --header
    headers (get_auth_headers only, sglang 0.5.23 benchmark/serving.py), so behind Modal's proxy
    that request gets 401 and the figure is lost. Asked again here with every header, read the
    way SGLang reads it: internal_states[0].avg_spec_accept_length (decode worker first)."""
    import urllib.request

    headers = dict(pair.split("=", 1) for pair in pairs)
    if os.environ.get("OPENAI_API_KEY"):
        headers["Authorization"] = f"Bearer {os.environ['OPENAI_API_KEY']}"
    try:
        with urllib.request.urlopen(urllib.request.Request(base_url + "/server_info",
                                                           headers=headers), timeout=30) as resp:
            info = json.loads(resp.read())
    except (OSError, ValueError):
        return None
    if isinstance(info, dict) and "decode" in info:
        info = info["decode"][0]
    states = info.get("internal_states") if isinstance(info, dict) else None
    return states[0].get("avg_spec_accept_length") if states else None


def run_request_file(path: str) -> None:
    with open(path, encoding="utf-8") as fh:
        run_bench_request(json.load(fh))


def run_bench_request(request: dict) -> None:
    headers = bench_credentials_argv(request)
    from sglang.benchmark import serving

    for index, run in enumerate(request["runs"]):
        outcome = run_bench_cell(serving, request, run, index, headers)
        sys.stdout.flush()
        print(BENCH_RESULT_MARKER + json.dumps(outcome), flush=True)
