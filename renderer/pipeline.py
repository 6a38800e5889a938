"""The front half of the pipeline as one call: load -> validate -> facts -> resolve -> estimate
-> rules.

Each stage runs once per spec and hands its result on: the resolved Deployment and the Estimate
that the rules read are the same objects render, estimate, size and deploy read from the
SpecReport, so they all agree on what a valid spec is and what it means.
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
    draft_facts: dict | None = None  # speculative.draft.facts, when they loaded
    deployment: object | None = None  # resolve.Deployment; None when the schema failed
    estimate: object | None = None  # estimate.Estimate; None without usable facts
    estimate_error: str | None = None  # why there is no estimate, when there is none

    @property
    def name(self) -> str:
        return self.path.stem

    def failed(self, strict: bool = False) -> bool:
        return self.spec is None or has_errors(self.findings, strict)


def read_spec(path: Path | str) -> SpecReport:
    """Every finding for one spec file. Never raises for a bad spec."""
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
    derive(result)
    return result


def derive(result: SpecReport, facts=None) -> None:
    """Facts, resolve, estimate and rules for a loaded, schema-valid spec (result.doc/.spec).
    `facts` (facts.load.Facts) when the caller has loaded them already: `servespec size` checks
    hundreds of candidate specs of one model."""
    from renderer.facts.load import load_facts
    from renderer.resolve.deployment import resolve
    from renderer.rules.check import run_rules
    from renderer.rules.registry import RuleContext

    facts = facts or load_facts(result.doc, result.spec)
    result.facts, result.draft_facts = facts.model, facts.draft
    result.deployment = resolve(result.spec, facts.model, result.doc.name)
    result.estimate, result.estimate_error = estimate_of(result)
    ctx = RuleContext(result.doc, result.spec, result.deployment, facts.model, facts.draft,
                      result.estimate, result.estimate_error)
    result.findings = sorted(facts.findings + run_rules(ctx), key=Finding.sort_key)


def estimate_of(result: SpecReport):
    """(Estimate, None), or (None, why there is none)."""
    from renderer.estimate.core import EstimateError, estimate
    from renderer.resolve.sglang_resolved import committed

    if not result.facts:
        return None, None
    # SGLang's own resolution of this deployment, when rendered/<name>/ holds a current one
    resolved = committed(result.doc, result.spec, result.deployment)
    try:
        return estimate(result.spec, result.facts, result.name, result.draft_facts,
                        result.deployment, resolved), None
    except EstimateError as exc:
        return None, str(exc)


def check(doc: Document, spec: dict) -> list[Finding]:
    """The findings of facts, resolve and rules for a document already loaded and validated."""
    result = SpecReport(doc.path, doc, spec)
    derive(result)
    return result.findings


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


__all__ = ["SpecError", "SpecReport", "check", "display", "read_spec", "spec_paths"]
