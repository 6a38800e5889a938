"""The `servespec plan` and `servespec model-facts` commands, without click.

cli.py wires these in; they print and return the exit code: 0 clean, 1 a spec has errors or a
step failed, 2 a usage error. Bad input gets one sentence, never a traceback.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from .errors import Severity
from .files import write_atomic
from .pipeline import Checked, check_spec, spec_paths

MEMORY_RULES = ("SS130", "SS131", "SS132")  # shown by plan even as warnings: they are its subject


def plan_of(result: Checked):
    """(Estimate or None, reason when None) for a checked spec."""
    from .check import Context, load_facts  # the same facts the rules saw
    from .plan import PlanError, estimate

    if result.spec is None:
        return None, "the spec does not load or does not match the schema"
    ctx = Context(result.doc, result.spec)
    load_facts(ctx)
    if not ctx.facts:
        return None, "no usable model facts (model.facts)"
    try:
        return estimate(result.spec, ctx.facts, result.name), None
    except PlanError as exc:
        return None, str(exc)


def plans(spec_args: list[str]) -> list[tuple[Checked, object, str | None]]:
    return [(r, *plan_of(r)) for r in (check_spec(p) for p in spec_paths(spec_args))]


def plan_main(spec_paths_arg: list[str], fmt: str) -> int:
    """Print the plan of each spec (every specs/*.yaml when none are named)."""
    from .plan import format_table, summary_line

    if fmt not in ("text", "json"):
        print(f"servespec plan: unknown format '{fmt}' (text or json)", file=sys.stderr)
        return 2
    results = plans(list(spec_paths_arg))
    if not results:
        print("servespec plan: no spec given and no specs/*.yaml found", file=sys.stderr)
        return 2
    failed = any(r.failed() or est is None for r, est, _ in results)
    if fmt == "json":
        payload = {"specs": [{
            "file": str(r.path),
            "ok": not r.failed() and est is not None,
            "findings": [f.to_json() for f in r.findings],
            "plan": est.to_json() if est is not None else None,
            "summary": summary_line(r.name, est) if est is not None else None,
            **({"error": why} if est is None else {}),
        } for r, est, why in results]}
        print(json.dumps(payload, indent=2, sort_keys=True))
        return 1 if failed else 0
    blocks = []
    for r, est, why in results:
        shown = [f for f in r.findings if f.severity is Severity.ERROR or f.rule in MEMORY_RULES]
        for finding in shown:
            print(finding.format(), file=sys.stderr)
        blocks.append(format_table(str(r.path), est) if est is not None
                      else f"{r.path}\n  cannot plan: {why}")
    print("\n\n".join(blocks))
    return 1 if failed else 0


def summary_lines(spec_args: list[str]) -> list[str]:
    """One line per spec, for `make render`."""
    from .plan import summary_line

    return [summary_line(r.name, est) if est is not None else f"{r.name}: cannot plan: {why}"
            for r, est, why in plans(spec_args)]


def model_facts_main(repo: str, revision: str | None, output: str | None) -> int:
    """Print the facts file of `repo` (or write it atomically to `output`)."""
    from .model_facts import FactsError, facts_from_repo, to_yaml

    _quiet_hub_logging()
    try:
        text = to_yaml(facts_from_repo(repo, revision))
    except FactsError as exc:
        print(f"servespec model-facts: {exc}", file=sys.stderr)
        return 2 if exc.usage else 1
    if output is None:
        sys.stdout.write(text)
        return 0
    try:
        write_atomic(Path(output), text)
    except OSError as exc:
        print(f"servespec model-facts: cannot write {output}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    print(f"wrote {output}", file=sys.stderr)
    return 0


def _quiet_hub_logging() -> None:
    """huggingface_hub logs each retry; the one-sentence error at the end says enough."""
    try:
        from huggingface_hub.utils import logging as hf_logging
    except ImportError:
        return
    hf_logging.set_verbosity_error()
