"""Benchmark: a full `servespec size` sweep of one model, in-process, against the way a user
would size without it: one `servespec validate` process per candidate spec.

Peer: `servespec validate SPEC` as a fresh process (what a shell loop over hand-written
candidate specs runs), timed on the reference spec and multiplied by the sweep's candidate
count. The sweep checks the same rules and estimate for every candidate, in one process.

Prints, per model: candidates, the median sweep time, ms per candidate, and the ratio to the
peer; the floor the issue sets: a full sweep of one model in under 1 s.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.chdir(ROOT)

from renderer.size.candidates import Request
from renderer.size.sweep import sweep

RUNS = int(os.environ.get("BENCH_RUNS", "5"))
CASES = (  # model facts, context, concurrency, nodes
    ("glm-5.1-fp8", 131072, 32, 1),
    ("glm-5.1-fp8", 131072, 32, 2),
    ("qwen3-235b-a22b-fp8", 32768, 32, 1),
    ("deepseek-v3.2", 131072, 32, 1),
    ("llama-3.1-8b-instruct", 8192, 8, 1),
)


def sweep_time(model: str, context: int, concurrency: int, nodes: int) -> tuple[float, int]:
    path = ROOT / "specs" / "models" / f"{model}.yaml"
    request = Request(context=context, concurrency=concurrency, nodes=nodes)
    sweep(path, request)  # warm: catalog tables and the facts file parsed once per process
    times, count = [], 0
    for _ in range(RUNS):
        start = time.perf_counter()
        count = len(sweep(path, request).candidates)
        times.append(time.perf_counter() - start)
    return statistics.median(times), count


def validate_process() -> float:
    argv = [str(Path(sys.executable).parent / "servespec"), "validate", "specs/glm51-fp8-b200.yaml"]
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        subprocess.run(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    peer = validate_process()
    print(f"peer: one `servespec validate` process {peer * 1000:.0f} ms")
    slow = False
    for model, context, concurrency, nodes in CASES:
        took, count = sweep_time(model, context, concurrency, nodes)
        slow |= took >= 1.0
        print(f"{model} ctx {context} x{concurrency} nodes<={nodes}: {count} candidates in"
              f" {took * 1000:.0f} ms ({took / count * 1000:.1f} ms each);"
              f" {took / (peer * count):.3f}x a validate process per candidate"
              f" [floor: < 1 s {'MISSED' if took >= 1.0 else 'met'}]")
    return 1 if slow else 0


if __name__ == "__main__":
    sys.exit(main())
