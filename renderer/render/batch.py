"""Checking and rendering many specs: read_spec and render_files for each, in order, spread over
the machine's cores when there are enough specs to pay for starting the workers.

Takes spec paths; gives one Outcome per path, in the order given, holding what a command prints
and writes for that spec: its findings, its artifacts (or why they could not be rendered), the
estimate line and the resolution note. Writing files and printing stay with the caller, in
order, so a parallel run prints and writes exactly what a sequential one does.

A worker is a fork of the command's process (the catalogs, templates and compiled schema it has
already loaded come with it); where fork is unavailable, or for a few specs, everything runs in
this process. An Outcome that crossed from a worker keeps the report's path, spec and findings
only: the loaded document, the deployment and the estimate stay behind, and what the caller
needs of them is computed in the worker (`describe`, `stale`).
"""

from __future__ import annotations

import gc
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from renderer.pipeline import SpecReport, read_spec
from renderer.render.artifacts import RenderError, render_files

# Below this many specs one process is faster: a worker costs a fork and warm-up of a few
# milliseconds each, about what one spec costs to check and render (bench/run.py).
PARALLEL_FROM = 48
SPECS_PER_TASK = 16  # small enough to keep every worker busy to the end
YOUNG_THRESHOLD = 100_000  # allocations between young collections while checking (default 700)


@dataclass
class Outcome:
    report: SpecReport
    files: dict[str, str] | None = None  # every artifact; None when not rendered
    error: str = ""  # why it could not be rendered, when render_files refused
    description: str = ""  # what `describe` said of the report (the estimate line)
    stale: str | None = None  # why OUT/<name>/sglang.resolved.json is stale, when asked


@dataclass(frozen=True)
class Job:
    """What to do with each spec; module-level callables only (a worker receives them)."""

    strict: bool = False
    describe: Callable[[SpecReport], str] | None = None
    stale: Callable[[SpecReport], str | None] | None = None


def outcomes(paths: list[Path], job: Job = Job(), workers: int | None = None) -> Iterator[Outcome]:
    """One Outcome per path, in order. `workers`: processes to use (None: one per core
    available, when there are at least PARALLEL_FROM specs; 1: this process only)."""
    paths = [Path(p) for p in paths]
    count = workers or (available_cores() if len(paths) >= PARALLEL_FROM else 1)
    with _fewer_collections():
        if count <= 1 or len(paths) < 2 or not hasattr(os, "fork"):
            yield from (_outcome(p, job) for p in paths)
        else:
            yield from _parallel(paths, job, count)


@contextmanager
def _fewer_collections():
    """Checking a spec allocates many short-lived containers and makes almost no cycles, so the
    default young-generation threshold (700) runs the collector every few fields: about a tenth
    of the time. A higher one (the workers inherit it) still collects cycles and bounds memory,
    far less often."""
    old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, *old[1:])
    try:
        yield
    finally:
        gc.set_threshold(*old)


def _parallel(paths: list[Path], job: Job, count: int) -> Iterator[Outcome]:
    import multiprocessing  # here: a few specs, the usual case, need neither
    from concurrent.futures import ProcessPoolExecutor

    yield _outcome(paths[0], job)  # loads what the workers then inherit instead of reloading
    rest = paths[1:]
    tasks = [rest[i:i + SPECS_PER_TASK] for i in range(0, len(rest), SPECS_PER_TASK)]
    gc.freeze()  # a worker's collections then skip what it inherited, instead of copying it
    try:
        with ProcessPoolExecutor(count, mp_context=multiprocessing.get_context("fork")) as pool:
            for batch in pool.map(_work, tasks, [job] * len(tasks)):
                yield from batch
    finally:
        gc.unfreeze()


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _work(paths: list[Path], job: Job) -> list[Outcome]:
    """In a worker: the outcomes of some specs, reduced to what the caller reads."""
    out = []
    for path in paths:
        outcome = _outcome(path, job)
        outcome.report = replace(outcome.report, doc=None, facts=None, draft_facts=None,
                                 deployment=None, estimate=None)
        out.append(outcome)
    return out


def _outcome(path: Path, job: Job) -> Outcome:
    report = read_spec(path)
    outcome = Outcome(report)
    if report.failed(job.strict):
        return outcome
    try:
        outcome.files = render_files(report)
    except RenderError as error:
        outcome.error = str(error)
        return outcome
    if job.describe is not None:
        outcome.description = job.describe(report)
    if job.stale is not None:
        outcome.stale = job.stale(report)
    return outcome
