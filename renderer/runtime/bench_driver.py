"""Run SGLang's serving benchmark once per cell, in one process, for `servespec bench`.

Runs where the pinned SGLang is importable, never inside servespec itself; standard library
only, apart from SGLang's own module:
  * locally (--local-url), by the Python of tools/sglang-bench-env.sh's environment:
        python -c "import runpy, sys; runpy.run_path(DRIVER)['run_request_file'](sys.argv[1])" REQUEST.json
  * on Modal, in the jobs app's bench_endpoint function (rendered/<name>/jobs.py), which
    imports it from the runtime file, so both places run the same code. It therefore has no
    `if __name__ == "__main__"` block.

Each cell goes through the module's own command-line entry point, `cli_main()` of
sglang.benchmark.serving (what `python -m sglang.benchmark.serving` calls), with sys.argv set
to that cell's arguments. One process for every cell saves the ~9 s the module takes to import
on each run; nothing else differs from `python -m`.

REQUEST = {"base_url", "tokenizer", "runs": [{"key", "argv"}], "header_env": {header: VAR},
           "api_key_env": VAR | null, "out_dir"}
Header values and the API key are read here from the environment, by name, and reach SGLang
without its command line: SGLang's only option for custom headers, `--header K=V`, lands in the
`benchmark_args=...` line it prints (sglang 0.5.23 benchmark/serving.py), which on Modal is the
function's log. Every request SGLang sends starts from its module function get_auth_headers()
(OPENAI_API_KEY as `Authorization: Bearer`; get_request_headers adds --header on top), so the
proxy headers are added there. Whatever the module or a traceback still prints goes through a
redactor over the secret values on the way to stdout and stderr. Each cell ends with one
stdout line:
    SERVESPEC_BENCH_RESULT {"key": ..., "result": {SGLang's result line} | null, "error": ...}
"""

import contextlib
import json
import os
import sys
import traceback

from .redact import Redactor

BENCH_RESULT_MARKER = "SERVESPEC_BENCH_RESULT "


def bench_headers(request: dict) -> dict:
    """The proxy-auth headers ({header: value}), values from the environment by name; the API
    key becomes OPENAI_API_KEY, which SGLang sends as its Authorization header."""
    key_env = request.get("api_key_env")
    if key_env and os.environ.get(key_env):
        os.environ["OPENAI_API_KEY"] = os.environ[key_env]
    return {header: os.environ[var] for header, var in request["header_env"].items()
            if os.environ.get(var)}


def add_headers_to(serving, headers: dict) -> None:
    """Send `headers` with every request of SGLang's benchmark, its ready check and /server_info
    included, by wrapping the module's get_auth_headers (looked up at each call)."""
    own = getattr(serving, "get_auth_headers", None)
    if own is None:
        raise RuntimeError("sglang.benchmark.serving has no get_auth_headers(): this SGLang "
                           "version cannot be given the proxy headers off its command line")
    serving.get_auth_headers = lambda: {**own(), **headers}


class RedactedStream:
    """A text stream that writes whole lines (or carriage-return updates) through a Redactor,
    so a secret split across write() or flush() calls is still hidden."""

    def __init__(self, stream, redact: Redactor):
        self.stream, self.redact, self.pending = stream, redact, ""

    def write(self, text: str) -> int:
        self.pending += text
        cut = max(self.pending.rfind("\n"), self.pending.rfind("\r")) + 1
        if cut:
            self.stream.write(self.redact(self.pending[:cut]))
            self.pending = self.pending[cut:]
        return len(text)

    def flush(self) -> None:
        """A partial line waits for its end (a flush mid-secret must not print half of it)."""
        self.stream.flush()

    def finish(self) -> None:
        if self.pending:
            self.stream.write(self.redact(self.pending))
            self.pending = ""
        self.stream.flush()

    def __getattr__(self, name):  # isatty, encoding, fileno ...: the wrapped stream's
        return getattr(self.stream, name)


@contextlib.contextmanager
def output_redacted(values):
    """stdout and stderr of this process, redacted over `values`, for as long as it lasts."""
    redact = Redactor(values)
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = RedactedStream(saved[0], redact), RedactedStream(saved[1], redact)
    try:
        yield
    finally:
        for stream in (sys.stdout, sys.stderr):
            stream.finish()
        sys.stdout, sys.stderr = saved


def run_bench_cell(serving, request: dict, run: dict, index: int) -> dict:
    out = os.path.join(request["out_dir"], f"cell-{index}.jsonl")
    sys.argv = ["sglang.benchmark.serving", *run["argv"], "--base-url", request["base_url"],
                "--tokenizer", request["tokenizer"], "--output-file", out]
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
    if result is not None and result.get("accept_length") is None and request["header_env"]:
        result["accept_length"] = server_accept_length(request["base_url"], bench_headers(request))
    return {"key": run["key"], "result": result, "error": error}


def server_accept_length(base_url: str, headers: dict):
    """SGLang reads the speculative accept length from /server_info with get_auth_headers()
    only (sglang 0.5.23 benchmark/serving.py); asked again here with every header should that
    answer lack it, read the way SGLang reads it: internal_states[0].avg_spec_accept_length
    (decode worker first)."""
    import urllib.request

    headers = dict(headers)
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
    headers = bench_headers(request)
    secrets = [*headers.values(), os.environ.get("OPENAI_API_KEY")]
    with output_redacted(secrets):
        from sglang.benchmark import serving

        add_headers_to(serving, headers)
        for index, run in enumerate(request["runs"]):
            outcome = run_bench_cell(serving, request, run, index)
            sys.stdout.flush()
            print(BENCH_RESULT_MARKER + json.dumps(outcome), flush=True)
