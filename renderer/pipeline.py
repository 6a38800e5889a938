"""The front half of the pipeline as one call: load -> validate -> rules -> resolve.

Render, estimate and deploy all start from a SpecReport, so they agree on what a valid spec is
and read the same resolved Deployment (servespec/resolve.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from renderer.errors import Finding, LoadError, SpecError, has_errors
from renderer.spec.load import Document, display, load


@dataclass
class SpecReport:
    path: Path
    doc: Document | None = None
    spec: dict | None = None  # validated, defaults filled; None when loading or schema failed
    findings: list[Finding] = field(default_factory=list)
    facts: dict | None = None  # the model facts the spec names, when they loaded
    deployment: object | None = None  # resolve.Deployment; None when the schema failed

    @property
    def name(self) -> str:
        return self.path.stem

    def failed(self, strict: bool = False) -> bool:
        return self.spec is None or has_errors(self.findings, strict)


def read_spec(path: Path | str) -> SpecReport:
    """Every finding for one spec file. Never raises for a bad spec."""
    from renderer.rules.general import run_rules
    from renderer.spec.validate import apply_defaults, schema, validate

    path = Path(path)
    result = SpecReport(path)
    try:
        result.doc = load(path)
    except LoadError as exc:
        result.findings = exc.findings
        return result
    schema_findings = validate(result.doc)
    if schema_findings:
        result.findings = schema_findings
        return result
    result.spec = apply_defaults(result.doc.data, schema())
    ctx = run_rules(result.doc, result.spec)
    result.findings, result.facts = ctx.findings, ctx.facts
    result.deployment = ctx.deployment
    return result


# Folders (under specs/) whose specs are rendered with the top-level ones; each renders to
# rendered/<file stem>/, so stems are unique across them (tests check).
SPEC_FOLDERS = ("", "examples")


def spec_paths(args: tuple[str, ...] | list[str], specs_dir: Path = Path("specs")) -> list[Path]:
    """The specs named on the command line, or every specs/*.yaml and specs/examples/*.yaml
    when none are."""
    if args:
        return [Path(a) for a in args]
    return [p for folder in SPEC_FOLDERS
            for p in sorted((specs_dir / folder).glob("*.yaml")) if p.is_file()]


__all__ = ["SpecError", "SpecReport", "display", "read_spec", "spec_paths"]
