"""Benchmark: SGLang's own resolution of every shipped spec (`make resolved`, the envs-marked
tests), against one fresh SGLang process per spec.

What is timed: renderer/render/sglang_resolution.py resolve_reports for specs/*.yaml and
specs/examples/*.yaml, which starts one process per SGLang release (renderer/engine/resolution.py)
and resolves every spec of that release in it: prepare_server_args, the resolution pipeline,
check_server_args and the workers' ModelConfig of the target and the draft.
Peer: the same harness started once per spec, the way a per-spec check (or `python -m
sglang.launch_server` itself) pays SGLang's import every time.

Prints each median, the ratio to the peer, and the floor the issue sets: all shipped specs in
under 60 s on the 2-core development machine, with the envs of `make envs` built.

    .venv/bin/python bench/resolution.py        # BENCH_RUNS=3 by default
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNS = int(os.environ.get("BENCH_RUNS", "3"))
FLOOR_S = 60.0


def _reports():
    from renderer.pipeline import read_spec, spec_paths

    return [read_spec(p) for p in spec_paths((), ROOT / "specs")]


def batched(reports) -> float:
    """Seconds for all specs, one SGLang process per release (what servespec does)."""
    from renderer.render import sglang_resolution

    start = time.perf_counter()
    answers = sglang_resolution.resolve_reports(reports)
    elapsed = time.perf_counter() - start
    bad = {name: str(text) for name, text in answers.items() if not isinstance(text, str)}
    if bad:
        raise SystemExit(f"resolution failed: {bad}")
    return elapsed


def one_process_per_spec(reports) -> float:
    """Seconds for all specs, the harness started afresh for each (the peer)."""
    from renderer.render import sglang_resolution
    from renderer.resolve import sglang_resolved

    start = time.perf_counter()
    for report in reports:
        wanted = sglang_resolved.inputs(report.doc, report.spec, report.deployment)
        answer = sglang_resolution.ask(wanted.version, [wanted.case])
        if not answer["cases"][0]["ok"]:
            raise SystemExit(f"{report.name}: {answer['cases'][0]['error']}")
    return time.perf_counter() - start


def median(fn, reports) -> float:
    return statistics.median(fn(reports) for _ in range(RUNS))


def main() -> int:
    os.chdir(ROOT)
    sys.path.insert(0, str(ROOT))
    reports = _reports()
    ours = median(batched, reports)
    peer = median(one_process_per_spec, reports)
    print(f"SGLang resolution of {len(reports)} shipped specs (median of {RUNS}):")
    print(f"  servespec (one process per release): {ours:6.1f} s")
    print(f"  peer (one process per spec):         {peer:6.1f} s")
    print(f"  ratio: {ours / peer:.2f}x of the peer; floor: < {FLOOR_S:.0f} s -> "
          f"{'met' if ours < FLOOR_S else 'MISSED'}")
    return 0 if ours < FLOOR_S else 1


if __name__ == "__main__":
    sys.exit(main())
