"""Skip checks: a `modal ... --json` listing that proves a command already happened."""

from __future__ import annotations

import contextlib
import json
import time

from renderer.run.process import run_command

SKIP_CHECK_TIMEOUT = 120.0


def json_list(text: str) -> list | None:
    """The JSON list a `modal ... --json` command printed (rich may add lines around it)."""
    with contextlib.suppress(ValueError):
        value = json.loads(text)
        return value if isinstance(value, list) else None
    start, end = text.find("["), text.rfind("]")
    if 0 <= start < end:
        with contextlib.suppress(ValueError):
            value = json.loads(text[start:end + 1])
            return value if isinstance(value, list) else None
    return None


def matches(entry: object, rule: dict) -> bool:
    if not isinstance(entry, dict) or rule["field"] not in entry:
        return False
    value = str(entry[rule["field"]])
    if "equals" in rule:
        return value == rule["equals"]
    return value.rstrip("/").rsplit("/", 1)[-1] == rule["basename"]


def check_done(check: dict, deadline: float) -> tuple[bool, str]:
    """(True, "yes") when the check proves the command already happened; else False and "no"
    or why it cannot tell (then the command runs: running needlessly beats skipping wrongly)."""
    limit = min(deadline, time.monotonic() + SKIP_CHECK_TIMEOUT)
    outcome = run_command(check["argv"], limit)
    if outcome.status != "ok":
        last = outcome.tail[-1] if outcome.tail else ""
        return False, f"cannot tell ({outcome.status}, exit {outcome.exit_code}: {last})"
    entries = json_list(outcome.output)
    if entries is None:
        return False, "cannot tell (no JSON list in the output)"
    if any(matches(e, check["json_has"]) for e in entries):
        return True, "yes"
    return False, "no"
