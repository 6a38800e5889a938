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
    """Every rule's findings, sorted by position."""
    meta = catalog.rules()
    findings = []
    for rule_id, fn in RULES.items():
        info = meta[rule_id]
        severity = Severity(info["severity"])
        for path, message in fn(ctx):
            where, name = ((path.position, path.field) if isinstance(path, Anchor)
                           else (ctx.doc.position(path), dotted(path)))
            findings.append(Finding(where, name, message, rule_id, severity, hint=info["reason"]))
    findings.sort(key=Finding.sort_key)
    return findings
