"""Benchmarks: servespec against check-jsonschema, as whole processes, plus bulk rendering.

Peer: check-jsonschema (python-jsonschema/check-jsonschema), the usual CLI for validating a YAML
file against a JSON Schema. It only checks the schema; servespec validate also runs the rule
catalog, and servespec render also writes four artifacts. Both are timed as fresh processes,
the way a user or CI runs them: interpreter start-up and imports count.

Prints, per command, the fastest wall time of RUNS fresh processes, the commands taking turns
(the machine may be shared: other load only ever adds time, so the minimum is the figure that
repeats), the median, and the CPU time (user + system) of the fastest run beside it; then the
ratio of the fastest wall times to the peer's and the floor the issues set:
  validate <= 0.45x check-jsonschema, render <= 0.6x check-jsonschema, 500 specs in < 1.5 s.
The 500 specs go through renderer/render/batch.py as `servespec render` runs them (over the
machine's cores), and through one process beside it.
"""

from __future__ import annotations

import compileall
import os
import resource
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


class Timing:
    """Wall and CPU seconds of repeated runs of one thing."""

    def __init__(self, samples: list[tuple[float, float]]):
        self.samples = sorted(samples)

    @property
    def best(self) -> float:
        return self.samples[0][0]

    @property
    def cpu(self) -> float:
        return self.samples[0][1]  # of the fastest run

    @property
    def median(self) -> float:
        return statistics.median(w for w, _ in self.samples)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _one(argv: list[str]) -> tuple[float, float]:
    cpu, start = _children_cpu(), time.perf_counter()
    proc = subprocess.run(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    elapsed, used = time.perf_counter() - start, _children_cpu() - cpu
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {proc.stderr.decode()[-500:]}")
    return elapsed, used


def walls(commands: list[list[str]], runs: int = RUNS) -> list[Timing]:
    """`runs` fresh processes of each command, after two warm-up rounds (page cache, the user
    cache of parsed catalogs, compiled templates and the compiled schema). The commands take
    turns, one run each per round, so a slow spell of a shared machine slows them all alike."""
    samples: list[list[tuple[float, float]]] = [[] for _ in commands]
    for i in range(runs + 2):
        for argv, out in zip(commands, samples):
            sample = _one(argv)
            if i >= 2:
                out.append(sample)
    return [Timing(s) for s in samples]


def bulk_specs(tmp: str, count: int) -> list[Path]:
    """`count` specs, each a variant of the default one, under tmp/specs/."""
    base = (ROOT / SPEC).read_text()
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
    return paths


def bulk_render(paths: list[Path], workers: int | None) -> None:
    """Check and render every spec in memory, as `servespec render` does before writing:
    renderer.render.batch, over `workers` processes (None: as the command chooses)."""
    sys.path.insert(0, str(ROOT))
    from renderer.render import batch

    for outcome in batch.outcomes(paths, batch.Job(), workers):
        assert outcome.files, [f.format() for f in outcome.report.findings] or outcome.error


def bulk_timings(count: int = 500, repeats: int = int(os.environ.get("BENCH_BULK_RUNS", "5"))
                 ) -> tuple[Timing, Timing]:
    """bulk_render over the cores the command would use, and in one process, taking turns
    `repeats` times after a warm-up; CPU time includes the worker processes'."""
    samples: dict[int | None, list] = {None: [], 1: []}
    with tempfile.TemporaryDirectory() as tmp:
        paths = bulk_specs(tmp, count)
        bulk_render(paths[:20], 1)  # imports, catalogs, compiled templates and schema
        for _ in range(repeats):
            for workers, out in samples.items():
                cpu, start = time.process_time() + _children_cpu(), time.perf_counter()
                bulk_render(paths, workers)
                out.append((time.perf_counter() - start,
                            time.process_time() + _children_cpu() - cpu))
    return Timing(samples[None]), Timing(samples[1])


FLOORS = {"validate": 0.45, "render": 0.6, "bulk": 1.5}


def main() -> int:
    # A pip install compiles the package's bytecode, as it did check-jsonschema's; where
    # PYTHONDONTWRITEBYTECODE is set (the development machines), an edited checkout would
    # otherwise compile every changed module in every timed run.
    for folder in ("renderer", "servespec"):
        compileall.compile_dir(ROOT / folder, quiet=1)
    peer = [str(BIN / "check-jsonschema"), "--schemafile", "specs/schema.json", SPEC]
    validate = [str(BIN / "servespec"), "validate", SPEC]
    with tempfile.TemporaryDirectory() as out:
        render = [str(BIN / "servespec"), "render", SPEC, "--out", out]
        peer_t, validate_t, render_t = walls([peer, validate, render])
    bulk, single = bulk_timings()
    rows = [
        ("check-jsonschema (peer, schema only)", peer_t, None),
        ("servespec validate (schema + rules)", validate_t, FLOORS["validate"]),
        ("servespec render (check + 4 artifacts)", render_t, FLOORS["render"]),
    ]
    print(f"{RUNS} runs each; ratio = fastest wall time / the peer's fastest")
    print(f"{'command':40} {'fastest':>9} {'median':>9} {'cpu':>9} {'ratio':>6} {'cpu':>6} {'floor':>7}")
    ok = True
    for name, t, floor in rows:
        ratio, cpu_ratio = t.best / peer_t.best, t.cpu / peer_t.cpu
        print(f"{name:40} {t.best * 1000:7.1f}ms {t.median * 1000:7.1f}ms {t.cpu * 1000:7.1f}ms "
              f"{ratio:5.2f}x {cpu_ratio:5.2f}x {f'<={floor}x' if floor else '':>7}")
        ok &= floor is None or ratio <= floor
    from renderer.render.batch import available_cores

    print(f"{f'500 specs checked + rendered, {available_cores()} cores':40} {bulk.best:8.2f}s "
          f"{bulk.median:8.2f}s {bulk.cpu:8.2f}s {'':>6} {'':>6} {'<' + str(FLOORS['bulk']) + ' s':>7}")
    print(f"{'500 specs checked + rendered, 1 process':40} {single.best:8.2f}s "
          f"{single.median:8.2f}s {single.cpu:8.2f}s")
    ok &= bulk.best < FLOORS["bulk"]
    print("floors met" if ok else "FLOOR MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
