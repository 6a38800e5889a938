"""`servespec deploy --dry-run`: the selected steps with every argv as it would run."""

from __future__ import annotations

import json
import shlex

from renderer.run.commands import substitute
from renderer.run.context import Context
from renderer.run.display import Display
from renderer.run.preflight import stale_problem
from renderer.run.problems import UsageProblem


def dry_run_steps(ctx: Context) -> list[dict]:
    """The selected steps with every argv as it would run (the URL where it is not known yet)."""
    endpoint = ctx.steps_doc["endpoint"]
    url = ctx.endpoint_url() or (endpoint["url_template"] or "<url from modal deploy>").replace(
        "{workspace}", "<workspace>")
    steps = []
    for step in ctx.steps_doc["steps"]:
        if step["name"] not in ctx.selected:
            continue
        shown = {k: step[k] for k in ("name", "kind", "description", "timeout", "app") if k in step}
        if step["kind"] == "commands":
            shown["commands"] = [{"argv": substitute(c["argv"], url),
                                  "skip_if": c.get("skip_if")} for c in step["commands"]]
        elif step["kind"] == "internal:preflight":
            shown["checks"] = step["checks"]
        elif step["kind"] == "internal:wait_healthy":
            shown["url"] = url + step["path"]
            shown["poll_interval"] = step["poll_interval"]
        steps.append(shown)
    return steps


def print_dry_run(display: Display, steps: list[dict]) -> None:
    for number, step in enumerate(steps, 1):
        on_app = f", app {step['app']}" if step.get("app") else ""
        display.print(f"{number}. {step['name']} ({step['kind']}, timeout {step['timeout']} s"
                      f"{on_app}): {step['description']}")
        for check in step.get("checks", []):
            how = f"$ {shlex.join(check['argv'])}" if check.get("argv") else "(local)"
            display.print(f"     check {check['name']}: {how}  # {check['description']}")
        for command in step.get("commands", []):
            if command.get("skip_if"):
                skip = command["skip_if"]
                display.print(
                    f"     skip if: $ {shlex.join(skip['argv'])}  # {skip['description']}")
            display.print(f"     $ {shlex.join(command['argv'])}")
        if "url" in step:
            display.print(f"     GET {step['url']} until 200, every {step['poll_interval']} s")


def dry_run_main(ctx: Context, fmt: str) -> int:
    problem = stale_problem(ctx.spec_path)
    if problem:
        raise UsageProblem(problem)
    steps = dry_run_steps(ctx)
    if fmt == "json":
        payload = {"dry_run": True, "spec": ctx.spec_path, "app": ctx.steps_doc["app"],
                   "steps_digest": ctx.digest, "steps": steps}
        print(json.dumps(ctx.redact.deep(payload), indent=2, sort_keys=True))
    else:
        ctx.display.print(f"dry run of {ctx.spec_path} (app {ctx.steps_doc['app']}); nothing is run:")
        print_dry_run(ctx.display, steps)
    return 0
