"""The GPU check's checks, each adding one result to the report (tools/gpu_check/device.py runs
them in order against one live server, then a second start for the crash).

    start       the container stand-in starts SGLang through deploy.py's own @modal.enter
                (supervise()); phases from SGLang's log lines
    wait        the wait step's probe (renderer/run/wait.py) through the edge stand-in
    smoke       `servespec smoke` through the edge stand-in: health, models, streamed chat
                with TTFT, tool call, reasoning
    bench       `servespec bench --local-url` through the edge stand-in with SGLang's own
                serving benchmark
    drain       SIGTERM to the container while streamed requests are in flight
    crash       SGLang's scheduler process killed: the crash monitor must end the container
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from phases import summary
from procs import Container, find_process
from report import FAIL, NOT_CHECKABLE, PASS, SKIPPED, Report

HEALTHY = "server healthy after"
STARTED = "[container] @modal.enter returned"
CRASHED = "server exited unexpectedly"
SCHEDULER_TITLE = "sglang::scheduler"


def check_start(report: Report, container: Container, name: str, timeout: float) -> bool:
    hit = container.wait_for(lambda t: STARTED in t, timeout)
    if hit is None:
        code = container.proc.poll()
        tail = [t for _, t in container.lines[-12:]]
        why = f"the container exited {code}" if code is not None else "still starting"
        report.add(name, FAIL, f"not healthy within {timeout:.0f} s ({why}; last line: "
                   f"{tail[-1] if tail else 'none'})", tail=tail)
        return False
    found = summary(container.lines)
    seconds = found["start_to_healthy"]
    shown = ", ".join(f"{p['name']} {p['seconds']:.1f} s" for p in found["phases"])
    report.add(name, PASS, f"healthy after {seconds:.1f} s ({shown})", **found)
    return True


def check_wait(report: Report, base: str, headers: dict, timeout: float) -> None:
    from renderer.run.wait import probe

    start, attempts, answer = time.monotonic(), 0, ""
    while time.monotonic() - start < timeout:
        attempts += 1
        answer = probe(base + "/health", 10.0, headers)
        if answer == "200":
            break
        time.sleep(1.0)
    without = probe(base + "/health", 10.0, {})
    ok = answer == "200" and without == "HTTP 401"
    report.add("wait", PASS if ok else FAIL,
               f"probe answered {answer} after {attempts} attempt(s); without the proxy "
               f"headers: {without}", attempts=attempts, answer=answer, without_headers=without)


def run_cli(args: list[str], env: dict, cwd: Path, timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "renderer.cli.main", *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=timeout, check=False)


def check_smoke(report: Report, base: str, model: str, env: dict, cwd: Path,
                tool_choice: str) -> str:
    proc = run_cli(["smoke", base + "/v1", "--api-key-env", "SGLANG_API_KEY", "--model", model,
                    "--tools", "--tool-choice", tool_choice, "--reasoning", "--format", "json"],
                   env, cwd, 300)
    try:
        doc = json.loads(proc.stdout)
    except ValueError:
        report.add("smoke", FAIL, f"servespec smoke exited {proc.returncode} without a report",
                   stderr=proc.stderr[-2000:])
        return proc.stdout + proc.stderr
    for check in doc["checks"]:
        status = PASS if check["status"] == "ok" else SKIPPED if check["skipped"] else FAIL
        report.add(f"smoke.{check['name']}", status, check["detail"],
                   seconds=check["seconds"], metrics=check["metrics"])
    return proc.stdout + proc.stderr


def timed_cli(args: list[str], env: dict, cwd: Path, timeout: float, clock) -> tuple:
    """Run servespec; return (stdout, stderr, exit code, [(clock(), stderr line)])."""
    with tempfile.TemporaryFile("w+", encoding="utf-8") as out:
        proc = subprocess.Popen([sys.executable, "-m", "renderer.cli.main", *args], env=env,
                                cwd=cwd, stdout=out, stderr=subprocess.PIPE, text=True)
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        lines = [(clock(), line.rstrip("\n")) for line in proc.stderr]
        code = proc.wait()
        timer.cancel()
        out.seek(0)
        return out.read(), "\n".join(t for _, t in lines), code, lines


PREFILL = re.compile(r"Prefill batch.*#new-token: (\d+), #cached-token: (\d+)")


def prefill_tokens(container: Container, begin: float, end: float) -> dict:
    """SGLang's own count of the prefill tokens computed and read from the radix cache between
    two moments ("Prefill batch, #new-token: N, #cached-token: M", srt/managers/scheduler.py)."""
    new = cached = 0
    for seconds, text in list(container.lines):
        match = PREFILL.search(text) if begin <= seconds <= end else None
        if match:
            new, cached = new + int(match.group(1)), cached + int(match.group(2))
    total = new + cached
    return {"prefill_new_tokens": new, "prefill_cached_tokens": cached,
            "cached_fraction": round(cached / total, 3) if total else None}


def check_bench(report: Report, spec: Path, base: str, tokenizer: Path, env: dict,
                cwd: Path, container: Container) -> dict | None:
    begin = container.now()
    stdout, stderr, code, lines = timed_cli(
        ["bench", str(spec), "--local-url", base, "--tokenizer", str(tokenizer),
         "--format", "json"], env, cwd, 400, container.now)
    try:
        doc = json.loads(stdout)
    except ValueError:
        report.add("bench", FAIL, f"servespec bench exited {code} without results",
                   stderr=stderr[-3000:])
        return None
    rows = {r["key"]: r for r in doc["runs"]}
    failed = [k for k, r in rows.items() if r.get("error")]
    figures = {k: _bench_figures(r) for k, r in rows.items()}
    # servespec bench says "  ran KEY" as each run ends: the runs' windows in the server's log.
    for seconds, text in lines:
        key = text.strip().removeprefix("ran ")
        if text.strip().startswith("ran ") and key in figures:
            figures[key].update(prefill_tokens(container, begin, seconds))
            begin = seconds
    shown = "; ".join(f"{k} {f.get('output_throughput', 0):.0f} tok/s, median TTFT "
                      f"{f.get('median_ttft_ms', 0):.1f} ms"
                      + (f", {f['cached_fraction']:.0%} of prefill from cache"
                         if f.get("cached_fraction") is not None else "")
                      for k, f in figures.items())
    report.add("bench", FAIL if failed or not rows else PASS,
               f"{len(rows)} runs ({shown})" + (f"; failed: {failed}" if failed else ""),
               runs=figures, results=doc.get("results"), png=doc.get("png"))
    return doc


BENCH_FIGURES = ("completed", "duration", "request_throughput", "output_throughput",
                 "median_ttft_ms", "p95_ttft_ms", "median_tpot_ms", "median_itl_ms",
                 "median_e2e_latency_ms", "concurrency")


def _bench_figures(row: dict) -> dict:
    result = row.get("result") or {}
    return {k: result[k] for k in BENCH_FIGURES if isinstance(result.get(k), (int, float))}


# --- drain ------------------------------------------------------------------------------------


def stream_chat(base: str, headers: dict, body: dict, record: dict) -> None:
    """One streamed chat completion; `record` gets first-chunk time, chunks, finish, [DONE]."""
    request = urllib.request.Request(base + "/v1/chat/completions", data=json.dumps(body).encode(),
                                     headers={**headers, "Content-Type": "application/json"})
    start = time.monotonic()
    record.update(start=start, chunks=0, done=False, finish_reason=None, error=None)
    try:
        with urllib.request.urlopen(request, timeout=180) as response:
            for raw in response:
                line = raw.decode("utf-8", errors="replace").strip()
                if not line.startswith("data: "):
                    continue
                if line == "data: [DONE]":
                    record["done"] = True
                    break
                chunk = json.loads(line[len("data: "):])
                record.setdefault("first_chunk", time.monotonic())
                record["chunks"] += 1
                for choice in chunk.get("choices") or []:
                    record["finish_reason"] = choice.get("finish_reason") or record["finish_reason"]
    except Exception as error:  # noqa: BLE001 - any way a request ends early is the finding
        record["error"] = f"{type(error).__name__}: {error}"[:300]
    record["end"] = time.monotonic()


def check_drain(report: Report, container: Container, base: str, headers: dict, model: str,
                tokens: int, grace: float, requests: int = 8) -> None:
    body = {"model": model, "messages": [{"role": "user", "content": "Tell me a story."}],
            "stream": True, "max_tokens": tokens, "ignore_eos": True, "temperature": 0}
    records = [{} for _ in range(requests)]
    threads = [threading.Thread(target=stream_chat, args=(base, headers, body, r), daemon=True)
               for r in records]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not all("first_chunk" in r or r.get("error")
                                                  for r in records):
        time.sleep(0.05)
    time.sleep(0.5)
    sigterm_at = time.monotonic()
    container.sigterm()
    code = container.wait(grace + 30)
    exit_after = time.monotonic() - sigterm_at
    for thread in threads:
        thread.join(60)
    in_flight = [r for r in records if r.get("first_chunk") and r.get("end", 1e18) > sigterm_at]
    completed = [r for r in in_flight if r["done"] and r["finish_reason"] == "length"]
    crashed = container.has(CRASHED)
    ok = (code == 0 and in_flight and len(completed) == len(in_flight) and not crashed
          and exit_after <= grace)
    report.add("drain", PASS if ok else FAIL,
               f"SIGTERM with {len(in_flight)} streamed requests in flight: {len(completed)} "
               f"completed; container exit {code} after {exit_after:.1f} s (exit_grace_period "
               f"{grace:g} s); crash monitor {'FIRED' if crashed else 'quiet'}",
               in_flight=len(in_flight), completed=len(completed), exit_code=code,
               exit_seconds=round(exit_after, 2), exit_grace_period=grace, max_tokens=tokens,
               errors=sorted({r["error"] for r in records if r.get("error")}),
               request_seconds=[round(r["end"] - r["start"], 2) for r in records if "end" in r],
               sglang_drain_lines=sum(1 for _, t in container.lines if "Gracefully exiting" in t))


# --- crash ------------------------------------------------------------------------------------


def check_crash(report: Report, container: Container, timeout: float = 90) -> None:
    pid = find_process(container.proc.pid, SCHEDULER_TITLE)
    if pid is None:
        report.add("crash", FAIL, f"no {SCHEDULER_TITLE} process under the container")
        return
    os.kill(pid, signal.SIGKILL)
    killed_at = container.now()
    code = container.wait(timeout)
    after = container.now() - killed_at
    hit = container.wait_for(lambda t: CRASHED in t, 1)
    last = [t for s, t in container.lines if s >= killed_at and t.startswith("[sglang]")][-12:]
    ok = code not in (None, 0) and hit is not None
    report.add("crash", PASS if ok else FAIL,
               f"scheduler (pid {pid}) killed: container exit {code} after {after:.1f} s; "
               f"crash monitor {'reported it' if hit else 'silent'}",
               exit_code=code, exit_seconds=round(after, 2),
               monitor_line=hit[1] if hit else None, last_server_lines=last)


def not_checkable(report: Report, name: str, why: str) -> None:
    report.add(name, NOT_CHECKABLE, why)
