"""Preflight: the checks before anything changes. Each returns None or one sentence."""

from __future__ import annotations

import os
import re
import shlex
import time
from pathlib import Path

from renderer import paths
from renderer.errors import SpecError
from renderer.render.artifacts import RenderError, stale_files, stale_runtime
from renderer.run.context import Context
from renderer.run.problems import EXIT_FAILED
from renderer.run.process import Outcome, resolve, run_command
from renderer.run.records import StepResult
from renderer.run.skip import json_list


def stale_problem(spec_path: str) -> str | None:
    """One sentence when rendered/ disagrees with the spec, else None."""
    try:
        stale = stale_files(spec_path)
    except SpecError:
        return f"{spec_path} does not validate; run `servespec validate {spec_path}`"
    if stale:
        rendered = paths.rendered_dir(Path(spec_path).stem)
        verb = "differs" if len(stale) == 1 else "differ"
        return (f"{rendered} is stale against {spec_path} ({', '.join(stale)} {verb} from a "
                "fresh render); run `make render`")
    return None


def modal_error(outcome: Outcome) -> str:
    """The first sentence of the `Error: ...` line the modal CLI prints (modal/__main__.py:45)."""
    for line in outcome.output.splitlines():
        if "Error:" in line:
            text = line.split("Error:", 1)[1].strip()
            return text.split(". ")[0].rstrip(".")
    return outcome.tail[-1].strip() if outcome.tail else f"exit code {outcome.exit_code}"


def check_modal_installed(ctx: Context, check: dict, deadline: float) -> str | None:
    if resolve("modal") is None:
        return "the modal CLI is not installed; run `pip install -e '.[deploy]'`"
    outcome = run_command(check["argv"], deadline)
    found = re.search(r"version:?\s*(\S+)", outcome.output)
    if outcome.status != "ok" or not found:
        return f"`modal --version` failed ({modal_error(outcome)}); reinstall modal"
    wanted = ctx.steps_doc.get("modal_version")
    if wanted and found.group(1) != wanted:
        return (f"modal {found.group(1)} is installed but deploy.py is written for modal {wanted}; "
                f"run `pip install modal=={wanted}`")
    return None


def check_authenticated(ctx: Context, check: dict, deadline: float) -> str | None:
    outcome = run_command(check["argv"], deadline)
    if outcome.status != "ok":
        return (f"Modal is not usable from here: `modal token info` failed "
                f"({modal_error(outcome)}); run `modal token new` or set MODAL_TOKEN_ID and "
                "MODAL_TOKEN_SECRET")
    found = re.search(r"Workspace:\s*(\S+)", outcome.output)
    ctx.workspace = found.group(1) if found else None
    return None


def check_secrets(ctx: Context, check: dict, deadline: float) -> str | None:
    outcome = run_command(check["argv"], deadline)
    entries = json_list(outcome.output) if outcome.status == "ok" else None
    if entries is None:
        return f"could not list Modal Secrets ({modal_error(outcome)})"
    have = {str(e.get("name")) for e in entries if isinstance(e, dict)}
    missing = [n for n in check["names"] if n not in have]
    if missing:
        return (f"Modal Secret{'s' if len(missing) > 1 else ''} {', '.join(missing)} not found; "
                "create with `modal secret create NAME KEY=VALUE`")
    return None


def check_api_key_env(ctx: Context, check: dict, deadline: float) -> str | None:
    if "smoke" not in ctx.selected or os.environ.get(check["env"]):
        return None
    return (f"set {check['env']} to the endpoint's API key before deploying: the smoke step "
            "sends it (its value is never shown)")


def check_proxy_token_env(ctx: Context, check: dict, deadline: float) -> str | None:
    """The wait and smoke steps send the Modal proxy token (renderer/resolve/edge.py); names only."""
    if not {"wait", "smoke"} & set(ctx.selected):
        return None
    missing = [name for name in check["env"] if not os.environ.get(name, "").strip()]
    if not missing:
        return None
    return (f"set {' and '.join(missing)} to a Modal Proxy Auth Token (id wk-..., secret ws-...) "
            "before deploying: Modal's proxy answers 401 to the wait and smoke steps without it")


def check_fresh(ctx: Context, check: dict, deadline: float) -> str | None:
    return stale_problem(ctx.spec_path)


def check_runtime(ctx: Context, check: dict, deadline: float) -> str | None:
    """The runtime file every app attaches is what the installed servespec renders: a deploy
    ships that file, so one left by another version of servespec (or edited) is refused."""
    from renderer import __version__

    runtime = paths.runtime_file()
    try:
        stale = stale_runtime()
    except RenderError as error:
        return str(error)
    if stale:
        state = "differs from" if runtime.is_file() else "is missing, unlike"
        return (f"{runtime} {state} the runtime servespec {__version__} renders; run `make "
                "render` (the apps import this file in every container)")
    return None

PREFLIGHT_CHECKS = {
    "steps-fresh": check_fresh,
    "runtime-fresh": check_runtime,
    "modal-installed": check_modal_installed,
    "api-key-env": check_api_key_env,
    "proxy-token-env": check_proxy_token_env,
    "authenticated": check_authenticated,
    "secrets": check_secrets,
}


def run_preflight(ctx: Context, step: dict, deadline: float) -> StepResult:
    start = time.time()
    for check in step["checks"]:
        problem = PREFLIGHT_CHECKS[check["name"]](ctx, check, deadline)
        if problem is None and time.monotonic() > deadline:
            problem = f"preflight took longer than its {step['timeout']} s"
        if problem:
            return StepResult("preflight", "failed", EXIT_FAILED, start, time.time(), problem,
                              command=shlex.join(check.get("argv", [])))
        ctx.display.print(f"  ✓ {check['description']}")
    return StepResult("preflight", "ok", 0, start, time.time())
