"""The steps being run (rendered/<name>/steps.json as loaded), the selected ones and the endpoint URL."""

from __future__ import annotations

import hashlib
import json
import os
import shlex
from dataclasses import dataclass
from pathlib import Path

from renderer import paths
from renderer.render.steps import STEPS_FORMAT
from renderer.run.display import Display
from renderer.run.problems import EXIT_USAGE, UsageProblem
from renderer.run.records import recorded_url
from renderer.runtime.redact import Redactor


@dataclass
class Context:
    spec_path: str
    steps_doc: dict  # rendered/<name>/steps.json as loaded
    digest: str
    display: Display
    redact: Redactor
    selected: list[str]
    records: list[dict]
    workspace: str | None = None
    url: str | None = None

    def resume_command(self, step: str) -> str:
        return f"servespec deploy {shlex.quote(self.spec_path)} --from {step}"

    def endpoint_url(self) -> str | None:
        """Override, else what `modal deploy` printed, else a recorded URL, else the template."""
        endpoint = self.steps_doc["endpoint"]
        override = os.environ.get(endpoint.get("override_env") or "", "")
        if override:
            return override.rstrip("/")
        if self.url:
            return self.url
        recorded = recorded_url(self.records, self.digest)
        if recorded:
            return recorded
        if endpoint.get("url_template") and self.workspace:
            return endpoint["url_template"].replace("{workspace}", self.workspace)
        return None


def load_steps(spec_path: str) -> tuple[dict, str, Path]:
    spec_name = Path(spec_path).stem
    steps_path = Path(paths.rendered_dir(spec_name)) / "steps.json"
    if not Path(spec_path).is_file():
        raise UsageProblem(f"no spec at {spec_path}")
    if not steps_path.is_file():
        raise UsageProblem(f"no steps at {steps_path}; run `make render` first")
    raw = steps_path.read_bytes()
    try:
        doc = json.loads(raw)
    except ValueError:
        doc = None
    if not isinstance(doc, dict) or doc.get("format") != STEPS_FORMAT:
        raise UsageProblem(f"{steps_path} is not a steps file this servespec wrote; run `make render`")
    return doc, hashlib.sha256(raw).hexdigest()[:16], steps_path


def select(doc: dict, from_step: str | None, only_step: str | None) -> list[str]:
    """Names of the steps to run, in steps.json order; preflight always comes first."""
    order = [s["name"] for s in doc["steps"]]
    if from_step and only_step:
        raise UsageProblem("use --from or --only, not both", EXIT_USAGE)
    for wanted in (from_step, only_step):
        if wanted and wanted not in order:
            omitted = (doc.get("omitted") or {}).get(wanted)
            why = f" ({omitted})" if omitted else ""
            raise UsageProblem(f"no step {wanted!r} in steps.json{why}; steps: {', '.join(order)}",
                               EXIT_USAGE)
    if only_step:
        chosen = [only_step]
    elif from_step:
        chosen = order[order.index(from_step):]
    else:
        chosen = order
    if "preflight" not in order:
        return chosen
    return ["preflight", *[n for n in chosen if n != "preflight"]]


def unknown_url(ctx: Context) -> str:
    env = ctx.steps_doc["endpoint"].get("override_env")
    return ("the endpoint URL is unknown (not in `modal deploy` output, not recorded, no "
            f"workspace from `modal token info`); set {env} to it")
