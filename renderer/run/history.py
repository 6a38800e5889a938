"""runs/<name>.jsonl as a history: what deploy, bench, rollback and stop did, and when.

`servespec deploy` appends one line per step (renderer/run/records.py: "run", "name",
"status", "plan_digest", "rendered_digest", ...). bench, rollback and stop append one line per
run with "action" set ("command" is taken: a failed deploy step records its command line).
Every line passes through the Redactor first: values of secret-looking
environment variables (and the spec's API key and proxy-token variables) become "***".
`servespec history SPEC` folds the deploy steps of one run into one row.
"""

from __future__ import annotations

import hashlib
import json
import os
from datetime import UTC, datetime
from pathlib import Path

from renderer import paths
from renderer.run.problems import STOPPED
from renderer.runtime.redact import Redactor


def records_path(spec_name: str) -> Path:
    return paths.RUNS_DIR / f"{spec_name}.jsonl"


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def run_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ") + f"-{os.getpid()}"


def redactor(extra_names: list[str]) -> Redactor:
    return Redactor.from_env(dict(os.environ), [n for n in extra_names if n])


def append(spec_name: str, record: dict, redact: Redactor) -> None:
    """One JSON line, redacted before it is serialised; appended, so a crash loses none."""
    path = records_path(spec_name)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(redact.deep(record), sort_keys=True) + "\n")


def read(spec_name: str) -> list[dict]:
    path = records_path(spec_name)
    if not path.is_file():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            out.append(record)
    return out


def rendered_digest(spec_name: str) -> str | None:
    """sha256 (16 hex) over what a deploy ships, names and bytes: every file of rendered/<name>/
    and the runtime file its apps attach (rendered/_runtime/). `servespec status` compares the
    one recorded at deploy time with today's."""
    folder = Path(paths.rendered_dir(spec_name))
    if not folder.is_dir():
        return None
    files = [(str(p.relative_to(folder)), p) for p in sorted(folder.rglob("*")) if p.is_file()]
    runtime = paths.runtime_file()
    if runtime.is_file():
        files.append((runtime.relative_to(paths.RENDERED_DIR).as_posix(), runtime))
    digest = hashlib.sha256()
    for name, path in files:
        digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def last_deploy(records: list[dict]) -> dict | None:
    """The last `deploy` step that finished ok (the step, not the run: a run whose smoke
    failed still replaced the app)."""
    for record in reversed(records):
        if record.get("action", "deploy") == "deploy" and record.get("name") == "deploy" \
                and record.get("status") == "ok":
            return record
    return None


def rows(records: list[dict]) -> list[dict]:
    """One row per run: deploy steps folded together, other commands as they are."""
    out: dict[str, dict] = {}
    for record in records:
        key = record.get("run") or f"line-{len(out)}"
        command = record.get("action", "deploy")
        row = out.setdefault(key, {"run": key, "command": command, "start": record.get("start"),
                                   "end": record.get("end"), "status": "ok", "detail": ""})
        row["end"] = record.get("end") or row["end"]
        if command == "deploy":
            _fold_step(row, record)
        else:
            row["status"] = record.get("status", "ok")
            row["detail"] = record.get("detail", "")
    return list(out.values())


def _fold_step(row: dict, step: dict) -> None:
    steps = row.setdefault("steps", [])
    steps.append(step.get("name"))
    if step.get("status") in STOPPED:
        row["status"] = step["status"]
        row["detail"] = f"stopped at {step.get('name')}: {step.get('reason', '')}".strip()
    elif row["status"] == "ok":
        row["detail"] = f"{len(steps)} steps ({', '.join(steps)})"
        if step.get("rendered_digest"):
            row["detail"] += f"; rendered {step['rendered_digest']}"


def table(history_rows: list[dict]) -> str:
    if not history_rows:
        return "no records yet"
    header = ["started (UTC)", "command", "status", "detail"]
    grid = [header] + [[(r["start"] or "-")[:19].replace("T", " "), r["command"], r["status"],
                        r["detail"]] for r in history_rows]
    widths = [max(len(g[i]) for g in grid) for i in range(3)]
    lines = ["  ".join([*(c.ljust(w) for c, w in zip(g[:3], widths, strict=True)), g[3]])
             for g in grid]
    lines.insert(1, "  ".join("-" * w for w in [*widths, 6]))
    return "\n".join(lines)
