"""How findings reach a person or a tool: one `file:line:col: error|warning: ...` line each, a
rule's hint once per run, a finding a base spec passes on to several specs once, and one summary
line per run. `--format json` gets every finding of every spec, acknowledged ones included."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import click

from renderer.errors import Finding, Severity
from renderer.pipeline import SpecReport


@dataclass
class Run:
    """What one command printed so far; the summary counts each distinct finding once."""

    quiet: bool = False
    shown: set[str] = field(default_factory=set)
    hinted: set[str] = field(default_factory=set)
    specs: int = 0
    errors: int = 0
    warnings: int = 0
    acknowledged: int = 0
    written: int = 0
    unchanged: int = 0
    states: dict[str, dict] = field(default_factory=dict)  # spec file -> what render did, for json

    def count(self, result: SpecReport) -> None:
        self.specs += 1
        for finding in result.findings:
            key = _key(finding)
            if key in self.shown:
                continue  # a base spec's finding, counted under the first spec that has it
            self.shown.add(key)
            if finding.severity is Severity.ERROR:
                self.errors += 1
            elif finding.acknowledged:
                self.acknowledged += 1
            else:
                self.warnings += 1

    def echo(self, result: SpecReport, warnings: bool | tuple[str, ...] = True) -> None:
        """Print a spec's findings not printed yet (errors always; warnings unless quiet or
        not wanted, or only those of the rules named; acknowledged warnings only in json),
        then count them."""
        for finding in result.findings:
            if _key(finding) in self.shown or not self._wanted(finding, warnings):
                continue
            click.echo(finding.format(), err=True)
            if finding.hint and finding.rule not in self.hinted:
                self.hinted.add(finding.rule)
                click.echo(f"    hint [{finding.rule}]: {finding.hint}", err=True)
        self.count(result)

    def _wanted(self, finding: Finding, warnings: bool | tuple[str, ...]) -> bool:
        if finding.severity is Severity.ERROR:
            return True
        if isinstance(warnings, tuple):
            warnings = finding.rule in warnings
        return warnings and not self.quiet and not finding.acknowledged

    def line(self, text: str, always: bool = False) -> None:
        """A spec's one line; --quiet keeps only those that report a failure (always)."""
        if always or not self.quiet:
            click.echo(text, err=True)

    def rendered(self, result: SpecReport, changed: list[str]) -> None:
        self.written += bool(changed)
        self.unchanged += not changed
        self.states[str(result.path)] = {"rendered": {"folder": result.name, "written": changed}}

    def render_tail(self, verify_only: bool) -> str:
        return "" if verify_only else f"rendered {self.written} written, {self.unchanged} unchanged"

    def summary(self, command: str, tail: str = "", listed: bool = False) -> str:
        """One line per run; listed: the warnings were counted, not printed."""
        def plural(n: int, word: str) -> str:
            return f"{n} {word}{'s' if n != 1 else ''}"

        parts = [plural(self.specs, "spec"), plural(self.errors, "error"),
                 plural(self.warnings, "warning")
                 + (" (`servespec validate` lists them)" if listed and self.warnings else "")]
        if self.acknowledged:
            parts.append(f"{self.acknowledged} acknowledged")
        return f"{command}: {', '.join(parts)}" + (f"; {tail}" if tail else "")


def _key(finding: Finding) -> str:
    return finding.format() + (" acknowledged" if finding.acknowledged else "")


def spec_status(result: SpecReport, strict: bool) -> str:
    errors = sum(1 for f in result.findings if f.severity is Severity.ERROR)
    warnings = sum(1 for f in result.findings
                   if f.severity is Severity.WARNING and not f.acknowledged)
    counts = [f"{n} {word}{'s' if n != 1 else ''}" for n, word in
              ((errors, "error"), (warnings, "warning")) if n]
    state = "FAILED" if result.failed(strict) else "ok"
    return f"{result.path}: {state}" + (f" ({', '.join(counts)})" if counts else "")


def json_payload(results: list[SpecReport], strict: bool, extra: dict | None = None) -> str:
    return json.dumps({
        "strict": strict,
        "specs": [{"file": str(r.path), "ok": not r.failed(strict),
                   "findings": [f.to_json() for f in r.findings],
                   **((extra or {}).get(str(r.path), {}))} for r in results],
    }, indent=2, sort_keys=True)


def warning_count(result: SpecReport) -> str:
    n = sum(1 for f in result.findings if f.severity is Severity.WARNING and not f.acknowledged)
    return f" ({n} warning{'s' if n != 1 else ''})" if n else ""
