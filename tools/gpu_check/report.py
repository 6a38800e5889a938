"""The GPU check's report: one pass/fail line per check plus its figures, and the secrets scan.

Statuses: "pass", "fail", "not checkable" (the model cannot show it; never counted as a pass)
and "skipped" (an earlier check it needs failed). The report is JSON, written under $OUT, and
the lines are printed as each check ends. Standard library only.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

PASS, FAIL, NOT_CHECKABLE, SKIPPED = "pass", "fail", "not checkable", "skipped"
LABELS = {PASS: "PASS", FAIL: "FAIL", NOT_CHECKABLE: "N/C ", SKIPPED: "SKIP"}


@dataclass
class Result:
    name: str
    status: str
    summary: str
    figures: dict = field(default_factory=dict)

    @property
    def line(self) -> str:
        return f"{LABELS[self.status]} {self.name}: {self.summary}"

    def to_json(self) -> dict:
        return {"name": self.name, "status": self.status, "line": self.line,
                "figures": self.figures}


@dataclass
class Report:
    path: Path
    results: list[Result] = field(default_factory=list)
    facts: dict = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)

    def add(self, name: str, status: str, summary: str, **figures) -> Result:
        result = Result(name, status, summary, figures)
        self.results.append(result)
        print(result.line, flush=True)
        return result

    def status_of(self, name: str) -> str | None:
        return next((r.status for r in self.results if r.name == name), None)

    @property
    def ok(self) -> bool:
        return bool(self.results) and all(r.status in (PASS, NOT_CHECKABLE) for r in self.results)

    def to_json(self) -> dict:
        return {"check": "servespec gpu-check", "ok": self.ok,
                "lines": [r.line for r in self.results], **self.facts,
                "results": [r.to_json() for r in self.results],
                "wall_seconds": round(time.monotonic() - self.started, 1)}

    def write(self) -> str:
        text = json.dumps(self.to_json(), indent=2, sort_keys=False, default=str)
        self.path.write_text(text + "\n", encoding="utf-8")
        return text


def secret_hits(secrets: dict[str, str], sources: dict[str, str]) -> list[str]:
    """'<source>: <secret name>' for every planted value found in a source's text (the names,
    never the values, so the finding itself leaks nothing)."""
    return [f"{where}: {name}" for where, text in sources.items()
            for name, value in secrets.items() if value and value in text]
