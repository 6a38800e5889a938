"""The `servespec estimate` command (alias `plan`), without click.

cli.py wires these in; they print and return the exit code: 0 clean, 1 a spec has errors or a
step failed, 2 a usage error. Bad input gets one sentence, never a traceback.
"""

from __future__ import annotations

import json
import sys

from renderer.cli.report import Run
from renderer.pipeline import SpecReport, read_spec, spec_paths

MEMORY_RULES = ("SS130", "SS131", "SS132", "SS160")  # shown by estimate even as warnings: they are its subject


def estimate_of(result: SpecReport):
    """(Estimate or None, reason when None) for a checked spec: the pipeline's own estimate."""
    if result.spec is None:
        return None, "the spec does not load or does not match the schema"
    if result.estimate is None:
        return None, result.estimate_error or "no usable model facts (model.facts)"
    return result.estimate, None


def estimates(spec_args: list[str]) -> list[tuple[SpecReport, object, str | None]]:
    return [(r, *estimate_of(r)) for r in (read_spec(p) for p in spec_paths(spec_args))]


def estimate_main(spec_paths_arg: list[str], fmt: str) -> int:
    """Print the estimate of each spec (every specs/*.yaml when none are named)."""
    from renderer.estimate.text import format_table, summary_line

    if fmt not in ("text", "json"):
        print(f"servespec estimate: unknown format '{fmt}' (text or json)", file=sys.stderr)
        return 2
    results = estimates(list(spec_paths_arg))
    if not results:
        print("servespec estimate: no spec given and no specs/*.yaml found", file=sys.stderr)
        return 2
    failed = any(r.failed() or est is None for r, est, _ in results)
    if fmt == "json":
        payload = {"specs": [{
            "file": str(r.path),
            "ok": not r.failed() and est is not None,
            "findings": [f.to_json() for f in r.findings],
            "estimate": est.to_json() if est is not None else None,
            "summary": summary_line(r.name, est) if est is not None else None,
            "measured": bench_capacity(r.name, est) if est is not None else None,
            **({"error": why} if est is None else {}),
        } for r, est, why in results]}
        print(json.dumps(payload, indent=2, sort_keys=True))
        return 1 if failed else 0
    run, blocks = Run(), []
    for r, est, why in results:
        run.echo(r, warnings=MEMORY_RULES)  # errors, and the warnings that are the estimate's subject
        blocks.append(format_table(str(r.path), est) + measured_text(r.name, est)
                      if est is not None else f"{r.path}\n  cannot estimate: {why}")
    print("\n\n".join(blocks))
    print(run.summary("estimate", listed=True), file=sys.stderr)
    return 1 if failed else 0


def bench_capacity(name: str, est) -> dict | None:
    """The last `servespec bench` run's concurrency next to the KV capacity (bench_report.py)."""
    from renderer.operate.bench_report import capacity

    return capacity(name, est)


def measured_text(name: str, est) -> str:
    from renderer.operate.bench_report import capacity_text

    return capacity_text(bench_capacity(name, est))


def summary_lines(spec_args: list[str]) -> list[str]:
    """One line per spec, for `make render`."""
    from renderer.estimate.text import summary_line

    return [summary_line(r.name, est) if est is not None else f"{r.name}: cannot estimate: {why}"
            for r, est, why in estimates(spec_args)]
