"""Stage rules: engine- and hardware-aware checks beyond what the schema can say.

Every rule module is named here; importing one registers its rules (renderer/rules/registry.py).
A rule yields (field path, message) pairs; run_rules turns them into findings that point at the
line of the field to change, with the rule's severity and reason from catalog/rules.yaml.
"""

from __future__ import annotations

from renderer import catalog
from renderer.errors import Finding, Severity
from renderer.rules import bench, edge, engine, evals, general, memory, modal_runtime, model
from renderer.rules.registry import RULES, Anchor, RuleContext
from renderer.spec.load import dotted

# each registers its rules when imported
MODULES = (general, model, memory, edge, bench, evals, engine, modal_runtime)


def run_rules(ctx: RuleContext) -> list[Finding]:
    """Every rule's findings, sorted by position; a warning the spec acknowledges carries the
    spec's reason (SS221 refuses acknowledging an error or a rule that does not exist)."""
    accepted = ctx.spec.get("acknowledge") or {}
    findings = []
    for rule_id, fn, severity, hint in _catalogued():
        for path, message in fn(ctx):
            where, name = ((path.position, path.field) if isinstance(path, Anchor)
                           else (ctx.doc.position(path), dotted(path)))
            reason = accepted.get(rule_id, "") if severity is Severity.WARNING else ""
            findings.append(Finding(where, name, message, rule_id, severity, hint=hint,
                                    acknowledged=reason))
    findings.sort(key=Finding.sort_key)
    return findings


def _catalogued() -> list[tuple[str, object, Severity, str]]:
    """(id, function, severity, reason) of every registered rule, read from the catalog once:
    every spec runs every rule."""
    if len(_RULE_ROWS) != len(RULES):
        meta = catalog.rules()
        _RULE_ROWS[:] = [(rule_id, fn, Severity(meta[rule_id]["severity"]), meta[rule_id]["reason"])
                         for rule_id, fn in RULES.items()]
    return _RULE_ROWS


_RULE_ROWS: list[tuple[str, object, Severity, str]] = []
