"""The wait step: poll the endpoint's health path until it answers 200 or the step times out."""

from __future__ import annotations

import os
import time
import urllib.error
import urllib.request

from renderer.resolve import edge
from renderer.run.context import Context, unknown_url
from renderer.run.problems import EXIT_FAILED, TIMEOUT_EXIT_CODE
from renderer.run.records import StepResult

HEALTH_REQUEST_TIMEOUT = 60.0
# While a cold replica loads, print a progress line this often (the spinner alone is invisible
# in CI logs and in --format json runs).
PROGRESS_EVERY_SECONDS = 60.0


def probe(url: str, timeout: float, headers: dict[str, str]) -> str:
    """'200' when healthy, else a short reason (HTTP status or network error). Keys ride only in
    the headers (the Modal proxy token, and SGLang's key); no reason printed can contain them."""
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return str(response.status)
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code}"
    except (urllib.error.URLError, OSError) as exc:
        return type(getattr(exc, "reason", exc)).__name__


def run_wait(ctx: Context, step: dict, deadline: float) -> StepResult:
    start = time.time()
    base = ctx.endpoint_url()
    if not base:
        return StepResult("wait", "failed", EXIT_FAILED, start, time.time(), unknown_url(ctx))
    url = base + step["path"]
    ctx.display.print(f"  GET {url} until 200 (every {step['poll_interval']} s)")
    api_key = os.environ.get(ctx.steps_doc.get("api_key_env") or "") or None
    try:
        headers = edge.request_headers(edge.from_steps(ctx.steps_doc), api_key)
    except edge.ProxyTokenMissing as missing:
        return StepResult("wait", "failed", EXIT_FAILED, start, time.time(), str(missing))
    attempts, last_progress = 0, time.monotonic()
    with ctx.display.running("wait") as status:
        while True:
            attempts += 1
            remaining = max(1.0, deadline - time.monotonic())
            answer = probe(url, min(HEALTH_REQUEST_TIMEOUT, remaining), headers)
            waited = time.time() - start
            if answer == "200":
                return StepResult("wait", "ok", 0, start, time.time(),
                                  f"healthy after {attempts} attempt(s), {waited:.0f} s", url=base)
            status(f"{answer} (attempt {attempts}, {waited:.0f} s)")
            if time.monotonic() - last_progress >= PROGRESS_EVERY_SECONDS:
                last_progress = time.monotonic()
                ctx.display.print(f"  still loading: {answer} after {waited / 60:.1f} min "
                                  f"(attempt {attempts}; a cold replica reads the weights first)")
            if time.monotonic() + step["poll_interval"] > deadline:
                return StepResult("wait", "timeout", TIMEOUT_EXIT_CODE, start, time.time(),
                                  f"{url} not healthy within {step['timeout']} s "
                                  f"(last answer: {answer})", [f"last answer: {answer}"],
                                  f"GET {url}", url=base)
            time.sleep(step["poll_interval"])
