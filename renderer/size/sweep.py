"""Every candidate through the pipeline `validate` and `estimate` run, then ranked by its floors.

Each candidate spec (candidates.py) is checked in-process by renderer/pipeline.py: the schema,
then facts -> resolve -> estimate -> rules, with the model facts loaded once. A candidate any
error rule refuses is dropped under that rule's ID and message; one that passes is measured by
the floors (renderer/estimate/floors.py) against the request's concurrency, targets and budget.
So `size` has no rules of its own: what it proposes, `servespec validate` accepts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from renderer.errors import Severity

PINNING = ("SS112", "SS113")  # image digest, revision hash: known only once pulled and tested
from renderer.estimate.floors import Floors, floors
from renderer.pipeline import SpecReport, derive
from renderer.size.candidates import Request, Shape, shapes, spec_data, with_rank_chunk
from renderer.spec.load import Document


@dataclass
class Candidate:
    shape: Shape
    data: dict  # the spec as written
    report: SpecReport | None = None
    floors: Floors | None = None
    dropped: str | None = None  # why it is not ranked (None: it is)
    rule: str | None = None  # the rule ID that refused it, or the sizing check that did

    @property
    def estimate(self):
        return self.report.estimate if self.report else None

    @property
    def usd_per_m(self) -> float:
        if self.floors is None or self.floors.usd_per_m_tokens_floor is None:
            return float("inf")
        return self.floors.usd_per_m_tokens_floor


@dataclass
class Sweep:
    request: Request
    facts: dict
    facts_path: Path
    ranked: list[Candidate] = field(default_factory=list)
    dropped: list[Candidate] = field(default_factory=list)

    @property
    def candidates(self) -> list[Candidate]:
        return self.ranked + self.dropped


@lru_cache(maxsize=1)
def _schema() -> dict:
    from renderer.spec.validate import schema

    return schema()


def check(data: dict, path: Path, facts=None, schema_first: bool = True) -> SpecReport:
    """The pipeline's findings for one spec held in memory as if it were the file `path`.
    `schema_first` False runs the schema after the rules, only when they find no error: the
    sweep builds every candidate from one template, so the rules decide between them and the
    schema check (a third of the time) is spent only on the candidates that can be proposed."""
    from renderer.spec.validate import apply_defaults, validate

    doc = Document(path=path, data=data)
    result = SpecReport(path, doc)
    if schema_first and (findings := validate(doc)):
        result.findings = findings
        return result
    result.spec = apply_defaults(data, _schema())
    derive(result, facts)
    if not schema_first and not result.failed() and (findings := validate(doc)):
        result.spec, result.findings = None, findings
    return result


def sweep(facts_path: Path, request: Request, spec_path: Path | None = None) -> Sweep:
    """Every candidate for the model whose facts are at `facts_path`, checked and ranked."""
    from renderer.facts.load import load_facts

    spec_path = spec_path or Path("specs") / "sized.yaml"
    ref = _relative(facts_path, spec_path.parent)
    facts_doc = None
    result = Sweep(request, {}, facts_path)
    taken = apps_beside(spec_path)
    for shape in shapes(_facts_data(facts_path), request):
        cand = Candidate(shape, spec_data(_facts_data(facts_path), ref, shape, request))
        cand.data["app"] = free_name(cand.data["app"], taken)
        if facts_doc is None:
            facts_doc = load_facts(Document(path=spec_path, data=cand.data), cand.data)
        cand.report = check(cand.data, spec_path, facts_doc, schema_first=False)
        if _only_warns(cand.report, "SS213"):
            cand.data = with_rank_chunk(cand.data, shape)
            cand.report = check(cand.data, spec_path, facts_doc, schema_first=False)
        judge(cand, request)
        (result.dropped if cand.dropped else result.ranked).append(cand)
    result.facts = _facts_data(facts_path)
    result.ranked.sort(key=order)
    result.dropped.sort(key=order)
    return result


def apps_beside(spec_path: Path) -> set[str]:
    """The apps of the other specs in the folder the candidate is written to. A candidate named
    like one of them would be refused by SS128 (they would replace each other), which would rank
    the hardware by what the folder already holds: the candidate takes a free name instead."""
    from renderer.errors import LoadError
    from renderer.spec.load import load_file

    here = spec_path.resolve()
    apps = set()
    for other in sorted(spec_path.parent.glob("*.yaml")):
        if other.resolve() == here:
            continue
        try:
            app = load_file(other).data.get("app")
        except LoadError:
            continue  # not a spec this sweep can collide with; validate reports it
        if isinstance(app, str):
            apps.add(app)
    return apps


def free_name(name: str, taken: set[str]) -> str:
    """`name`, or `name-2`, `name-3`, ... where another spec of the folder has it."""
    if name not in taken:
        return name
    n = 2
    while f"{name}-{n}" in taken:
        n += 1
    return f"{name}-{n}"


def _only_warns(report: SpecReport, rule: str) -> bool:
    """`rule` is among the findings, and nothing but it and the pinning warnings is."""
    rules = {f.rule for f in report.findings} - set(PINNING)
    return report.spec is not None and rules == {rule}


def order(cand: Candidate) -> tuple:
    """Cheapest per million output tokens at the floor, then fewer GPUs, then the plainer shape."""
    sh = cand.shape
    return (round(cand.usd_per_m, 6), sh.total_gpus,
            (sh.pipeline > 1) + (sh.expert > 1) + (sh.attention_data > 1), sh.label)


def _facts_data(path: Path) -> dict:
    from renderer.facts.load import facts_file

    return facts_file(path).data


def _relative(target: Path, base: Path) -> str:
    """`target` as the spec in `base` names it; absolute while `base` does not exist yet (the
    OS cannot walk `..` out of a missing folder; --write writes the relative form)."""
    import os

    if not base.is_dir():
        return str(target.resolve())
    return os.path.relpath(target.resolve(), base.resolve())


def judge(cand: Candidate, request: Request) -> None:
    """Drop a candidate for its first error finding, else for what the request asks of it.
    Floors are computed whenever there is an estimate, so that a dropped candidate still shows
    what it would have cost."""
    report = cand.report
    est = report.estimate
    if est is not None and report.spec is not None:
        cand.floors = floors(est, report.facts, report.spec, report.deployment,
                             served(est, request), request.context)
    # `validate --strict`: a warning refuses too, except the pinning ones no new spec can avoid
    errors = [f for f in report.findings if report.spec is None or f.severity is Severity.ERROR
              or f.rule not in PINNING]
    if errors:
        cand.rule, cand.dropped = errors[0].rule or "schema", errors[0].message
        return
    if est is None:
        cand.rule, cand.dropped = "estimate", report.estimate_error or "no estimate"
        return
    for rule, why in _misses(cand, request):
        cand.rule, cand.dropped = rule, why
        return


def served(est, request: Request) -> int:
    """Sequences of the context the replica serves at once: the request's concurrency, or fewer
    when its KV cache holds fewer (at least one: SS131 refuses a pool without room for one)."""
    return max(1, min(request.concurrency, est.full_context_sequences))


def _misses(cand: Candidate, request: Request):
    est, fl = cand.estimate, cand.floors
    ttft = request.targets.get("p95_ttft_ms")
    if ttft is not None and fl.ttft_floor_ms > ttft:
        yield "target", f"TTFT floor {fl.ttft_floor_ms:.0f} ms is above the p95_ttft_ms target {ttft:g}"
    tpot = request.targets.get("median_tpot_ms")
    if tpot is not None and fl.tpot_floor_c_ms > tpot:
        yield "target", (f"TPOT floor {fl.tpot_floor_c_ms:.1f} ms at {fl.concurrency} sequences"
                         f" is above the median_tpot_ms target {tpot:g}")
    budget = request.max_usd_per_hour
    if budget is not None and est.usd_per_hour_replica > budget:
        yield "budget", f"${est.usd_per_hour_replica:.2f}/h per replica is over the ${budget:g}/h budget"
