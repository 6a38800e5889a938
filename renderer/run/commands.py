"""Command steps: each command runs unless its skip check proves it already happened."""

from __future__ import annotations

import os
import re
import shlex
import time

from renderer.render.steps import URL_PLACEHOLDER
from renderer.run.context import Context, unknown_url
from renderer.run.problems import EXIT_FAILED
from renderer.run.process import Outcome, run_command
from renderer.run.records import StepResult
from renderer.run.skip import check_done


def substitute(argv: list[str], url: str | None) -> list[str]:
    return [a.replace(URL_PLACEHOLDER, url or URL_PLACEHOLDER) for a in argv]


def run_commands(ctx: Context, step: dict, deadline: float) -> StepResult:
    start = time.time()
    ran = 0
    for command in step["commands"]:
        if command.get("skip_if"):
            done, answer = check_done(command["skip_if"], deadline)
            question = f"  {command['skip_if']['description']}? {answer}"
            if done:
                ctx.display.print(f"{question}: skipped `{shlex.join(command['argv'])}`")
                continue
            ctx.display.print(f"{question}: running it")
        needs_url = any(URL_PLACEHOLDER in a for a in command["argv"])
        url = ctx.endpoint_url() if needs_url else None
        if needs_url and not url:
            return StepResult(step["name"], "failed", EXIT_FAILED, start, time.time(),
                              unknown_url(ctx), command=shlex.join(command["argv"]))
        argv = substitute(command["argv"], url)
        ran += 1
        ctx.display.print(f"  $ {shlex.join(argv)}")
        with ctx.display.running(step["name"]):
            outcome = run_command(argv, deadline, lambda line: ctx.display.print(f"  │ {line}"),
                                  needs=credential_names(ctx, argv))
        if outcome.status != "ok":
            return StepResult(step["name"], outcome.status, outcome.exit_code, start, time.time(),
                              f"{shlex.join(argv)} {describe(outcome)}", outcome.tail,
                              shlex.join(argv))
    if step["name"] == "deploy" and ran:
        learn_url(ctx, outcome.output, deadline)
    status = "skipped" if ran == 0 else "ok"
    reason = "every command was already done" if ran == 0 else ""
    return StepResult(step["name"], status, 0, start, time.time(), reason,
                      url=ctx.url if step["name"] == "deploy" else None)


def credential_names(ctx: Context, argv: list[str]) -> list[str]:
    """The credential variables a command reads by name: `servespec smoke` and `servespec bench`
    send the API key and the proxy token; a modal command needs only its own token."""
    if argv[0] != "servespec":
        return []
    proxy = ctx.steps_doc.get("proxy_auth") or {}
    return [n for n in (ctx.steps_doc.get("api_key_env"), *proxy.values()) if n]


def describe(outcome: Outcome) -> str:
    if outcome.status == "timeout":
        return "ran out of time and was stopped"
    return f"exited with code {outcome.exit_code}"


# The lookup is one RPC once modal has connected; it gets this long within the step's deadline.
LOOKUP_SECONDS = 120
URL = re.compile(r"https?://\S+")


def learn_url(ctx: Context, deploy_output: str, deadline: float) -> None:
    """The endpoint URL after a deploy: from Modal (the endpoint's lookup command), else the URL
    `modal deploy` printed. Modal is not asked while the override variable gives the URL."""
    endpoint = ctx.steps_doc["endpoint"]
    lookup = endpoint.get("lookup")
    if lookup and not os.environ.get(endpoint.get("override_env") or ""):
        outcome = run_command(lookup["argv"], min(deadline, time.monotonic() + LOOKUP_SECONDS))
        found = [line for line in outcome.output.splitlines() if URL.fullmatch(line.strip())]
        if outcome.status == "ok" and found:
            ctx.url = found[-1].strip()
            ctx.display.print(f"  endpoint (from Modal): {ctx.url}")
            return
        ctx.display.print(f"  {lookup['description']}: not available "
                          f"({(outcome.tail or ['no output'])[-1]}); reading modal deploy's output")
    found = re.search(endpoint["deploy_output_pattern"], deploy_output)
    if found:
        ctx.url = found.group(0)
        ctx.display.print(f"  endpoint (from modal deploy's output): {ctx.url}")
