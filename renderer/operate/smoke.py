"""`servespec smoke URL`: check that a deployed OpenAI-compatible endpoint really serves.
(The request checks themselves are in renderer/operate/smoke_checks.py.)

The checks run in this order, each recorded as (name, ok, detail, seconds):

    health       GET /health answers 200
    models       GET /v1/models (official `openai` SDK) lists a model; the requested one if given
    chat_stream  one streamed chat completion: time to first token, non-empty content
    tool_call    one request with a `tools` definition and a named `tool_choice`: a tool call of
                 that name whose arguments are valid JSON      (only when tools are expected)
    reasoning    the response carries a non-empty `reasoning_content`
                                                               (only when reasoning is expected)

A failed check does not stop the later ones, except where they depend on it: when the server
cannot be reached at all, or `models` fails, the rest are skipped.

The API key is read from the environment (`SERVESPEC_API_KEY` unless told otherwise), sent as
`Authorization: Bearer ...`, and never printed: every detail is scrubbed of it. In front of that,
Modal's proxy wants a Proxy Auth Token: `main` reads it from the two variables a ProxyAuth names
(renderer/resolve/edge.py) and sends it as Modal-Key/Modal-Secret on every request; when either variable
is unset it stops before any request, naming the variable.

The `openai` package is an optional extra (`servespec[smoke]`); it is imported inside
`run_smoke`, so nothing else in servespec needs it.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any, TextIO
from urllib.parse import urlsplit, urlunsplit

from renderer.operate.smoke_checks import chat_stream, reasoning, short, tool_call
from renderer.resolve.edge import ProxyAuth, ProxyTokenMissing
from renderer.runtime.redact import Redactor

DEFAULT_API_KEY_ENV = "SERVESPEC_API_KEY"
DEFAULT_TIMEOUT = 120.0  # seconds, for each request
DEFAULT_MAX_TOKENS = 1024  # room for a reasoning model to finish thinking before it answers
# Sent when no key is set: OpenAI-compatible servers started without a key ignore it, and the
# SDK refuses to build a client without one.
NO_KEY_PLACEHOLDER = "EMPTY"

CHECKS = ("health", "models", "chat_stream", "tool_call", "reasoning")


_FORMATS = {"table": "table", "text": "table", "human": "table", "json": "json"}


class SmokeError(Exception):
    """The smoke check could not run at all (as opposed to a check that failed)."""


class SmokeUsageError(SmokeError, ValueError):
    """Bad input: a malformed URL, an unknown output format."""


class SmokeUnavailable(SmokeError, ImportError):
    """The optional `openai` package is not installed."""


@dataclass
class CheckResult:
    name: str
    ok: bool
    detail: str
    seconds: float
    skipped: bool = False
    metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def status(self) -> str:
        if self.skipped:
            return "skip"
        return "ok" if self.ok else "FAIL"

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "status": self.status,
            "ok": self.ok,
            "skipped": self.skipped,
            "detail": self.detail,
            "seconds": round(self.seconds, 4),
            "metrics": self.metrics,
        }


@dataclass
class SmokeReport:
    base_url: str
    api_key_env: str
    api_key_set: bool
    model: str | None = None  # the model the checks used, once `models` has picked it
    checks: list[CheckResult] = field(default_factory=list)

    @property
    def failed(self) -> list[CheckResult]:
        return [c for c in self.checks if not c.ok and not c.skipped]

    @property
    def ok(self) -> bool:
        return not self.failed and any(not c.skipped for c in self.checks)

    def check(self, name: str) -> CheckResult | None:
        return next((c for c in self.checks if c.name == name), None)

    def failure_summary(self) -> str:
        """One line naming each failed check, e.g. `tool_call: no tool call in response`."""
        return "; ".join(f"{c.name}: {c.detail}" for c in self.failed)

    def to_json(self) -> dict:
        """A JSON-ready dict (for `--format json`). Holds the key's variable name, never its value."""
        return {
            "base_url": self.base_url,
            "model": self.model,
            "ok": self.ok,
            "api_key_env": self.api_key_env,
            "api_key_set": self.api_key_set,
            "failed": [c.name for c in self.failed],
            "checks": [c.to_json() for c in self.checks],
        }


# ---------------------------------------------------------------------------------------------
# helpers


def normalize_url(url: str) -> tuple[str, str]:
    """Return (server root, OpenAI API base) for a URL given with or without a trailing `/v1`.

    Raises SmokeUsageError for anything but an http(s) URL with a host.
    """
    if not isinstance(url, str) or not url.strip():
        raise SmokeUsageError("no URL given")
    text = url.strip()
    try:
        parts = urlsplit(text)
        port = parts.port  # raises ValueError for a port that is not a number in range
    except ValueError:
        raise SmokeUsageError(f"malformed URL {text!r}") from None
    if parts.scheme not in ("http", "https"):
        raise SmokeUsageError(f"URL {text!r} must start with http:// or https://")
    if not parts.hostname:
        raise SmokeUsageError(f"URL {text!r} names no host")
    if any(c.isspace() for c in text):
        raise SmokeUsageError(f"URL {text!r} contains whitespace")
    del port
    path = parts.path.rstrip("/").removesuffix("/v1")
    root = urlunsplit((parts.scheme, parts.netloc, path, "", ""))
    return root, root + "/v1"


def _api_error(exc: BaseException, *, api_key_env: str, key_set: bool) -> str:
    """A one-line, human description of an error from the openai SDK (or anything else)."""
    status = getattr(exc, "status_code", None)
    if status is not None:
        message = getattr(exc, "message", None) or str(exc)
        if status in (401, 403):
            hint = (
                f"the server rejected the API key from ${api_key_env}"
                if key_set
                else f"the server wants an API key: set ${api_key_env}"
            )
            return f"HTTP {status}: {hint} ({short(message, 100)})"
        return f"HTTP {status}: {short(message)}"
    name = type(exc).__name__
    if name == "APITimeoutError":
        return "request timed out"
    if name == "APIConnectionError":
        cause = exc.__cause__ or exc.__context__
        return f"cannot connect: {short(cause) if cause else short(exc)}"
    return f"{name}: {short(exc)}"


def _http_get_status(url: str, headers: dict[str, str], timeout: float) -> int:
    """Status code of a GET; raises urllib.error.URLError / OSError when there is no answer."""
    request = urllib.request.Request(url, headers=headers, method="GET")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def _unreachable_detail(url: str, exc: BaseException, timeout: float) -> str:
    reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    parts = urlsplit(url)
    where = parts.netloc or url
    if isinstance(reason, ConnectionRefusedError):
        return f"connection refused by {where}: is the server running?"
    if isinstance(reason, (TimeoutError, socket.timeout)):
        return f"no answer from {where} within {timeout:g}s"
    if isinstance(reason, socket.gaierror):
        return f"cannot resolve host {parts.hostname!r}"
    return f"cannot reach {where}: {short(reason)}"


# ---------------------------------------------------------------------------------------------
# the checks


LATER = CHECKS[1:]  # what an unreachable server leaves unrun


class _Recorder:
    """Files each check's result in the report: timed, its detail redacted."""

    def __init__(self, report: SmokeReport, redact: Redactor):
        self.report, self.redact = report, redact

    def __call__(self, name: str, start: float, ok: bool, detail: str,
                 **metrics: Any) -> CheckResult:
        result = CheckResult(name=name, ok=ok, detail=self.redact(detail),
                             seconds=time.perf_counter() - start, metrics=metrics)
        self.report.checks.append(result)
        return result

    def skip(self, names: tuple[str, ...], why: str) -> None:
        for name in names:
            self.report.checks.append(CheckResult(name, False, why, 0.0, skipped=True))

    def describe(self, exc: BaseException) -> str:
        report = self.report
        return _api_error(exc, api_key_env=report.api_key_env, key_set=report.api_key_set)


def run_smoke(
    base_url: str,
    *,
    api_key: str | None,
    model: str | None = None,
    expect_reasoning: bool = False,
    expect_tools: bool = True,
    timeout: float = DEFAULT_TIMEOUT,
    api_key_env: str = DEFAULT_API_KEY_ENV,
    max_tokens: int = DEFAULT_MAX_TOKENS,
    proxy_headers: dict[str, str] | None = None,
    tool_choice: str = "named",
) -> SmokeReport:
    """Run the smoke checks against `base_url` and return the report.

    `base_url` is the server root or its `/v1` base. `api_key` is the key's value (None or ""
    for no key); `api_key_env` only names where it came from, for messages. `timeout` bounds
    each request, in seconds. `proxy_headers` (Modal-Key/Modal-Secret, renderer/resolve/edge.py) go on
    every request, the health check's and the SDK's; `tool_choice`: smoke_checks.TOOL_CHOICES.

    Raises SmokeUsageError for a malformed URL and SmokeUnavailable when `openai` is missing;
    every problem with the server itself becomes a failed check instead.
    """
    root, api_base = normalize_url(base_url)
    try:
        import openai
    except ImportError:
        raise SmokeUnavailable(
            "servespec smoke needs the openai package: pip install 'servespec[smoke]'"
        ) from None
    proxy_headers = dict(proxy_headers or {})
    report = SmokeReport(base_url=root, api_key_env=api_key_env, api_key_set=bool(api_key))
    record = _Recorder(report, Redactor([api_key, *proxy_headers.values()]))
    headers = {"Accept": "application/json", **proxy_headers}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    if not _check_health(record, root, headers, timeout):
        record.skip(LATER, "skipped: the server cannot be reached")
        return report
    start = time.perf_counter()
    try:
        client = openai.OpenAI(api_key=api_key or NO_KEY_PLACEHOLDER, base_url=api_base,
                               timeout=timeout, max_retries=0,
                               default_headers=proxy_headers or None)
    except Exception as exc:  # noqa: BLE001
        record("models", start, False, f"cannot set up the OpenAI client: {record.describe(exc)}")
        record.skip(LATER[1:], "skipped: needs a model from the models check")
        return report
    try:
        report.model = _check_models(record, client, model)
        if report.model is None:
            record.skip(LATER[1:], "skipped: needs a model from the models check")
            return report
        wanted = {"chat_stream": True, "tool_call": expect_tools, "reasoning": expect_reasoning}
        _request_checks(record, client, report.model, max_tokens, wanted, tool_choice)
    finally:
        close = getattr(client, "close", None)
        if callable(close):
            close()
    return report


def _check_health(record: _Recorder, root: str, headers: dict[str, str], timeout: float) -> bool:
    """GET /health. False when the server cannot be reached at all (the rest is skipped)."""
    start = time.perf_counter()
    try:
        status = _http_get_status(root + "/health", headers, timeout)
    except (urllib.error.URLError, OSError) as exc:
        record("health", start, False, _unreachable_detail(root, exc, timeout))
        return False
    except Exception as exc:  # noqa: BLE001 - any surprise is a failed check, not a traceback
        record("health", start, False, f"{type(exc).__name__}: {short(exc)}")
        return False
    if status == 200:
        record("health", start, True, "GET /health: HTTP 200", status=status)
    else:
        report = record.report
        hint = (f" (set ${report.api_key_env}?)"
                if status in (401, 403) and not report.api_key_set else "")
        record("health", start, False, f"GET /health: HTTP {status}, expected 200{hint}",
               status=status)
    return True


def _check_models(record: _Recorder, client: Any, model: str | None) -> str | None:
    """GET /v1/models through the SDK; the model the later checks use, or None."""
    start = time.perf_counter()
    try:
        page = client.models.list()
    except Exception as exc:  # noqa: BLE001
        record("models", start, False, record.describe(exc))
        return None
    ids = [m.id for m in (getattr(page, "data", None) or [])]
    if not ids:
        record("models", start, False, "GET /v1/models lists no model")
        return None
    if model is not None and model not in ids:
        listed = ", ".join(ids[:5]) + (", ..." if len(ids) > 5 else "")
        record("models", start, False, f"model {model!r} is not listed (server lists: {listed})")
        return None
    chosen = model if model is not None else ids[0]
    record("models", start, True, f"{len(ids)} listed; using {chosen}", count=len(ids))
    return chosen


def _request_checks(record: _Recorder, client: Any, model: str, max_tokens: int,
                    wanted: dict[str, bool], tool_choice: str = "named") -> None:
    """chat_stream, tool_call, reasoning: each failure is its own, the next still runs."""
    for name, run_check in (("chat_stream", chat_stream), ("tool_call", tool_call),
                            ("reasoning", reasoning)):
        if not wanted[name]:
            record.skip((name,), "not requested")
            continue
        start = time.perf_counter()
        try:
            if run_check is tool_call:
                tool_call(client, model, start, max_tokens, record, tool_choice)
            else:
                run_check(client, model, start, max_tokens, record)
        except Exception as exc:  # noqa: BLE001 - any error fails this check, not the run
            record(name, start, False, record.describe(exc))


# ---------------------------------------------------------------------------------------------
# output


def format_report(report: SmokeReport) -> str:
    """A short human table of the checks, with a closing verdict line."""
    model = f" (model {report.model})" if report.model else ""
    lines = [f"servespec smoke {report.base_url}{model}"]
    if not report.api_key_set:
        lines.append(f"  note: ${report.api_key_env} is not set; no API key sent")
    width = max(len(c.name) for c in report.checks) if report.checks else 5
    lines.append(f"  {'CHECK':<{width}}  {'RESULT':<6}  {'TIME':>7}  DETAIL")
    for c in report.checks:
        seconds = "-" if c.skipped else f"{c.seconds:.2f}s"
        lines.append(f"  {c.name:<{width}}  {c.status:<6}  {seconds:>7}  {c.detail}")
    ran = [c for c in report.checks if not c.skipped]
    if report.ok:
        lines.append(f"result: ok, all {len(ran)} checks that ran passed")
    else:
        names = ", ".join(c.name for c in report.failed)
        lines.append(
            f"result: FAILED, {len(report.failed)} of {len(ran)} checks that ran ({names})"
        )
    return "\n".join(lines)


def main(
    url: str,
    api_key_env: str = DEFAULT_API_KEY_ENV,
    model: str | None = None,
    expect_reasoning: bool = False,
    expect_tools: bool = True,
    fmt: str = "table",
    *,
    timeout: float = DEFAULT_TIMEOUT,
    out: TextIO | None = None,
    err: TextIO | None = None,
    proxy: ProxyAuth | None = None,
    tool_choice: str = "named",
) -> int:
    """The CLI's entry point for `servespec smoke` (click-free).

    Prints the report (`fmt` "table" or "json") to `out`; on failure, also one line
    `smoke failed: CHECK: detail; ...` to `err`. Returns 0 when every check that ran passed,
    1 when one failed, 2 when the smoke could not run (openai missing, malformed URL, bad
    arguments, a proxy token variable of `proxy` unset), with a one-sentence message and never
    a traceback.
    """
    out = out if out is not None else sys.stdout
    err = err if err is not None else sys.stderr
    env_name = api_key_env or DEFAULT_API_KEY_ENV
    api_key = os.environ.get(env_name) or None
    redact = Redactor([api_key, *(proxy.secret_values() if proxy else ())])
    try:
        kind = _FORMATS.get((fmt or "table").lower())
        if kind is None:
            raise SmokeUsageError(f"unknown format {fmt!r}: use table or json")
        try:
            proxy_headers = proxy.headers() if proxy else None
        except ProxyTokenMissing as missing:
            raise SmokeUsageError(str(missing)) from None
        report = run_smoke(url, api_key=api_key, model=model or None,
                           expect_reasoning=expect_reasoning, expect_tools=expect_tools,
                           timeout=timeout, api_key_env=env_name, proxy_headers=proxy_headers,
                           tool_choice=tool_choice)
    except SmokeError as exc:
        print(f"servespec smoke: {redact(str(exc))}", file=err)
        return 2
    except Exception as exc:  # noqa: BLE001 - a bug here must still not print a traceback
        print(
            f"servespec smoke: could not run: {type(exc).__name__}: {redact(short(exc))}",
            file=err,
        )
        return 2
    if kind == "json":
        print(json.dumps(report.to_json(), indent=2), file=out)
    else:
        print(format_report(report), file=out)
    if report.ok:
        return 0
    print(f"smoke failed: {report.failure_summary()}", file=err)
    return 1
