"""Rules for the bench section: every target can be measured, every run reaches its level.

The workloads checked are the ones `servespec bench` will run: the spec's, else the catalog's
(renderer/operate/bench.py, settings).
"""

from __future__ import annotations

from collections.abc import Iterator

from renderer.resolve.bench import prompt_count, settings
from renderer.rules.registry import Hit, RuleContext, rule

# What each dataset needs from a workload (sglang 0.5.23 benchmark/serving.py flags).
DATASET_FIELDS = {
    "random-ids": ("input_len", "output_len", "prompts_per_concurrency", "min_prompts"),
    "generated-shared-prefix": ("groups", "prompts_per_group", "system_prompt_len",
                                "question_len", "output_len"),
}


def _workloads(ctx: RuleContext) -> tuple[list[dict], bool]:
    """(workloads, whether the spec wrote them)."""
    own = (ctx.spec.get("bench") or {}).get("workloads")
    return (own, True) if own else (settings(ctx.spec)["workloads"], False)


@rule("SS202")
def workload_complete(ctx: RuleContext) -> Iterator[Hit]:
    workloads, own = _workloads(ctx)
    if not own:
        return
    seen = set()
    for i, w in enumerate(workloads):
        missing = [f for f in DATASET_FIELDS[w["dataset"]] if f not in w]
        if missing:
            yield ("bench", "workloads", i, "dataset"), (
                f"workload '{w['name']}' ({w['dataset']}) needs {', '.join(missing)}")
        if w["name"] in seen:
            yield ("bench", "workloads", i, "name"), f"workload name '{w['name']}' is used twice"
        seen.add(w["name"])


@rule("SS200")
def targets_measurable(ctx: RuleContext) -> Iterator[Hit]:
    workloads, _ = _workloads(ctx)
    runs = {(w["name"], c) for w in workloads for c in w["concurrencies"]}
    for i, target in enumerate((ctx.spec.get("bench") or {}).get("targets") or []):
        name = target.get("workload") or workloads[0]["name"]
        if (name, target["concurrency"]) not in runs:
            field = "workload" if "workload" in target and not any(
                w["name"] == name for w in workloads) else "concurrency"
            levels = sorted(c for n, c in runs if n == name)
            yield ("bench", "targets", i, field), (
                f"no bench run measures workload '{name}' at concurrency "
                f"{target['concurrency']} (it runs at {levels or 'no level: unknown workload'})")


@rule("SS201")
def concurrency_reached(ctx: RuleContext) -> Iterator[Hit]:
    workloads, own = _workloads(ctx)
    if not own:
        return
    for i, w in enumerate(workloads):
        if any(f not in w for f in DATASET_FIELDS[w["dataset"]]):
            continue  # SS202 reports it
        for c in w["concurrencies"]:
            if prompt_count(w, c) < c:
                yield ("bench", "workloads", i, "concurrencies"), (
                    f"workload '{w['name']}' sends {prompt_count(w, c)} prompts, so concurrency "
                    f"{c} is never reached")
