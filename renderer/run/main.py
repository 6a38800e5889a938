"""The orchestration: lock, resume, run each selected step in order, record, report."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from renderer import paths
from renderer.run import history
from renderer.run.commands import run_commands
from renderer.run.context import Context, load_steps, select
from renderer.run.display import Display
from renderer.run.dryrun import dry_run_main
from renderer.run.history import rendered_digest
from renderer.run.preflight import run_preflight
from renderer.run.problems import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    STOPPED,
    Interrupted,
    UsageProblem,
)
from renderer.run.process import Outcome, interrupts_raise
from renderer.run.records import RunLog, StepResult, deploy_lock, read_records, resumable
from renderer.run.wait import run_wait
from renderer.runtime.redact import Redactor

RUNNERS = {"internal:preflight": run_preflight, "internal:wait_healthy": run_wait,
           "commands": run_commands}


def run_step(ctx: Context, step: dict) -> StepResult:
    deadline = time.monotonic() + step["timeout"]
    runner = RUNNERS.get(step["kind"])
    if runner is None:
        now = time.time()
        return StepResult(step["name"], "failed", EXIT_FAILED, now, now,
                          f"unknown step kind {step['kind']!r}; run `make render`")
    return runner(ctx, step, deadline)


def deploy_main(spec_path: str, *, dry_run: bool = False, from_step: str | None = None,
                only_step: str | None = None, fmt: str = "text") -> int:
    """Run (or with dry_run, print) the deploy steps of `spec_path`. Returns the exit code."""
    redact = Redactor.from_env(dict(os.environ), [])
    display = Display(fmt, redact)
    try:
        if fmt not in ("text", "json"):
            raise UsageProblem(f"unknown format {fmt!r}: use text or json", EXIT_USAGE)
        doc, digest, _ = load_steps(spec_path)
        proxy_names = list((doc.get("proxy_auth") or {}).values())
        redact = Redactor.from_env(dict(os.environ), [doc.get("api_key_env") or "", *proxy_names])
        display = Display(fmt, redact)
        records_path = paths.RUNS_DIR / f"{Path(spec_path).stem}.jsonl"
        ctx = Context(spec_path, doc, digest, display, redact, select(doc, from_step, only_step),
                      read_records(records_path))
        if dry_run:
            return dry_run_main(ctx, fmt)
        with deploy_lock(paths.RUNS_DIR / f"{doc['app']}.lock", display):
            return execute(ctx, records_path, fmt, resume=not (from_step or only_step),
                           from_step=from_step)
    except UsageProblem as problem:
        display.error(f"servespec deploy: {problem}")
        return problem.code
    except KeyboardInterrupt:  # between steps, or before the first one started
        display.error("servespec deploy: interrupted")
        return EXIT_INTERRUPTED


def execute(ctx: Context, records_path: Path, fmt: str, *, resume: bool,
            from_step: str | None) -> int:
    run_id = history.run_id()
    log = RunLog(records_path, run_id, ctx.digest, ctx.redact,
                 rendered_digest(Path(ctx.spec_path).stem))
    resumed_from, done = resumable(ctx.records, ctx.digest) if resume else (None, set())
    if resumed_from:
        finished = [s["name"] for s in ctx.steps_doc["steps"] if s["name"] in done]
        ctx.display.print(f"resuming run {resumed_from}: skipping {', '.join(finished)} (already "
                          "finished); `--from preflight` runs every step")
    results: list[StepResult] = []
    before_from = True
    with interrupts_raise():
        for step in ctx.steps_doc["steps"]:
            name = step["name"]
            before_from = before_from and name != from_step
            result = selected_skip(ctx, step, done, resumed_from, from_step, before_from)
            if result is None:
                ctx.display.print(f"▶ {name}: {step['description']}")
                result = guarded(ctx, step)
            if result is False:
                continue
            results.append(result)
            log.append(result)
            report_step(ctx, result)
            if result.status in STOPPED:
                break
    return finish(ctx, results, run_id, resumed_from, records_path, fmt)


def selected_skip(ctx: Context, step: dict, done: set[str], resumed_from: str | None,
                 from_step: str | None, before_from: bool):
    """A StepResult for a step skipped by resume or --from, False for one not selected at all,
    None for a step that must run."""
    name, now = step["name"], time.time()
    if name == "preflight":
        return None
    if name in done:
        return StepResult(name, "skipped", None, now, now, f"done in run {resumed_from}")
    if from_step and before_from:
        return StepResult(name, "skipped", None, now, now, f"before --from {from_step}")
    if name not in ctx.selected:
        return False
    return None


def guarded(ctx: Context, step: dict) -> StepResult:
    """run_step, turning Ctrl-C into an 'interrupted' result (the child group is already down)."""
    start = time.time()
    try:
        return run_step(ctx, step)
    except Interrupted as stop:
        outcome = stop.args[0] if stop.args and isinstance(stop.args[0], Outcome) else None
        return StepResult(step["name"], "interrupted", EXIT_INTERRUPTED, start, time.time(),
                          "interrupted (Ctrl-C or SIGTERM); the step's processes were stopped",
                          outcome.tail if outcome else [], "")


def report_step(ctx: Context, result: StepResult) -> None:
    if result.status == "ok":
        ctx.display.print(f"✓ {result.name} ({result.duration:.1f} s)"
                          + (f": {result.reason}" if result.reason else ""))
    elif result.status == "skipped":
        ctx.display.print(f"- {result.name} skipped: {result.reason}")
    elif result.name == "preflight":
        ctx.display.error(f"preflight failed: {result.reason}.")
    else:
        lines = [(f"deploy stopped at step '{result.name}': {result.status}, exit code "
                  f"{result.exit_code}, after {result.duration:.1f} s")]
        if result.reason:
            lines.append(f"  {result.reason}")
        if result.tail:
            lines.append(f"  last {len(result.tail)} lines of output:")
            lines += [f"    | {line}" for line in result.tail]
        step = next((s for s in ctx.steps_doc["steps"] if s["name"] == result.name), {})
        if step.get("on_failure"):
            lines.append(f"  {step['on_failure']}")
        lines.append(f"  resume with: {ctx.resume_command(result.name)}")
        ctx.display.error("\n".join(lines))


def finish(ctx: Context, results: list[StepResult], run_id: str, resumed_from: str | None,
           records_path: Path, fmt: str) -> int:
    stopped = next((r for r in results if r.status in STOPPED), None)
    if stopped is None:
        code = 0
    elif stopped.status == "interrupted":
        code = EXIT_INTERRUPTED
    else:
        code = EXIT_FAILED
    url = ctx.endpoint_url() if stopped is None else None
    if fmt == "json":
        payload = {
            "spec": ctx.spec_path, "app": ctx.steps_doc["app"], "run_id": run_id,
            "steps_digest": ctx.digest, "ok": code == 0, "exit_code": code,
            "resumed_from": resumed_from, "records": str(records_path), "url": url,
            "failed_step": stopped.name if stopped else None,
            "resume_command": ctx.resume_command(stopped.name) if stopped else None,
            "steps": [r.record() for r in results],
        }
        print(json.dumps(ctx.redact.deep(payload), indent=2, sort_keys=True))
    elif stopped is None:
        skipped = sum(r.skipped for r in results)
        ctx.display.print(f"deploy finished: {len(results)} steps ({skipped} skipped)"
                          + (f"; endpoint {url}" if url else ""))
    return code
