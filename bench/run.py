"""Benchmarks: servespec against check-jsonschema, as whole processes, plus bulk rendering.

Peer: check-jsonschema (python-jsonschema/check-jsonschema), the usual CLI for validating a YAML
file against a JSON Schema. It only checks the schema; servespec validate also runs the rule
catalog, and servespec render also writes four artifacts. Both are timed as fresh processes,
the way a user or CI runs them: interpreter start-up and imports count.

Prints each median, the ratio to the peer, and the floor the issues set:
  validate <= 0.6x check-jsonschema, render <= 0.8x check-jsonschema, 500 specs in < 3 s.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SPEC = "specs/glm51-fp8-b200.yaml"
RUNS = int(os.environ.get("BENCH_RUNS", "15"))


def wall(argv: list[str], runs: int = RUNS) -> float:
    """Median wall time of `runs` fresh processes, after two warm-up runs (page cache)."""
    times = []
    for i in range(runs + 2):
        start = time.perf_counter()
        proc = subprocess.run(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
        elapsed = time.perf_counter() - start
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} failed: {proc.stderr.decode()[-500:]}")
        if i >= 2:
            times.append(elapsed)
    return statistics.median(times)


def bulk_render(count: int = 500) -> float:
    """Check and render `count` generated specs in one process; seconds for all of them."""
    sys.path.insert(0, str(ROOT))
    from renderer.pipeline import read_spec
    from renderer.render.artifacts import render_files

    base = (ROOT / SPEC).read_text()
    with tempfile.TemporaryDirectory() as tmp:
        specs = Path(tmp, "specs")
        (specs / "models").mkdir(parents=True)
        (specs / "models" / "glm-5.1-fp8.yaml").write_text(
            (ROOT / "specs/models/glm-5.1-fp8.yaml").read_text())
        paths = []
        for i in range(count):
            text = (base.replace("app: glm51-fp8-b200", f"app: bench-{i}")
                        .replace("max_replicas: 3", f"max_replicas: {1 + i % 8}")
                        .replace("max_running_requests: 32", f"max_running_requests: {16 + i % 48}")
                        .replace("served_name: glm-5.1", f"served_name: glm-{i}"))
            path = specs / f"bench-{i}.yaml"
            path.write_text(text)
            paths.append(path)
        start = time.perf_counter()
        for path in paths:
            checked = read_spec(path)
            assert not checked.failed(), [f.format() for f in checked.findings]
            render_files(checked)
        return time.perf_counter() - start


def main() -> int:
    peer = [str(BIN / "check-jsonschema"), "--schemafile", "specs/schema.json", SPEC]
    validate = [str(BIN / "servespec"), "validate", SPEC]
    with tempfile.TemporaryDirectory() as out:
        render = [str(BIN / "servespec"), "render", SPEC, "--out", out]
        peer_s, validate_s, render_s = wall(peer), wall(validate), wall(render)
    bulk_s = bulk_render()
    rows = [
        ("check-jsonschema (peer, schema only)", peer_s, None, None),
        ("servespec validate (schema + rules)", validate_s, validate_s / peer_s, 0.6),
        ("servespec render (check + 4 artifacts)", render_s, render_s / peer_s, 0.8),
    ]
    print(f"{'command':42} {'median':>9} {'ratio':>7} {'floor':>7}")
    ok = True
    for name, seconds, ratio, floor in rows:
        r = f"{ratio:.2f}x" if ratio is not None else "1.00x"
        f = f"<={floor}x" if floor else ""
        print(f"{name:42} {seconds * 1000:7.1f}ms {r:>7} {f:>7}")
        ok &= ratio is None or ratio <= floor
    print(f"{'500 specs checked + rendered, one process':42} {bulk_s:8.2f}s {'':>7} {'<3 s':>7}")
    ok &= bulk_s < 3.0
    print("floors met" if ok else "FLOOR MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
