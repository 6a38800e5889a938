"""Rules for the eval section: every task is one the pinned module scores, every setting reaches
the model, and a gate that gates something.

The tasks checked are the ones `servespec eval` will run: the spec's, else the catalog's
(renderer/resolve/evals.py, settings); what each release's module offers is
renderer/catalog/eval.yaml.
"""

from __future__ import annotations

from collections.abc import Iterator

from renderer.resolve import evals
from renderer.rules.registry import Hit, RuleContext, rule


def _own(ctx: RuleContext) -> dict:
    return ctx.spec.get("eval") or {}


def _task_path(ctx: RuleContext, index: int) -> tuple:
    own = _own(ctx).get("tasks")
    if not own:
        return ("eval",)
    return ("eval", "tasks", index) + (("name",) if isinstance(own[index], dict) else ())


@rule("SS250")
def task_known(ctx: RuleContext) -> Iterator[Hit]:
    if not _own(ctx):
        return
    for index, name, why in evals.unknown_tasks(ctx.spec):
        yield _task_path(ctx, index), f"task '{name}': {why}"


@rule("SS251")
def module_known(ctx: RuleContext) -> Iterator[Hit]:
    if not _own(ctx):
        return
    try:
        evals.module_of(ctx.spec["engine"]["version"])
    except evals.NoEvalModule as missing:
        yield ("engine", "version"), str(missing)


@rule("SS252")
def thinking_mode_known(ctx: RuleContext) -> Iterator[Hit]:
    mode = _own(ctx).get("thinking_mode")
    if not mode:
        return
    try:
        module = evals.module_of(ctx.spec["engine"]["version"])
    except evals.NoEvalModule:
        return
    if mode not in module["thinking_modes"]:
        yield ("eval", "thinking_mode"), (
            f"run_eval of sglang {ctx.spec['engine']['version']} takes --thinking-mode "
            f"{', '.join(module['thinking_modes'])}, not '{mode}'")


@rule("SS253")
def seed_used(ctx: RuleContext) -> Iterator[Hit]:
    own = _own(ctx)
    if own.get("seed") is None:
        return
    try:
        module = evals.module_of(ctx.spec["engine"]["version"])
    except evals.NoEvalModule:
        return
    names = [e["name"] for e in evals.task_entries(ctx.spec)]
    if not any((module["tasks"].get(n) or {}).get("seed_option") for n in names):
        yield ("eval", "seed"), (
            f"none of the tasks ({', '.join(names)}) takes a seed in sglang "
            f"{ctx.spec['engine']['version']}'s run_eval: they sample deterministically, so the "
            "seed changes nothing")


@rule("SS254")
def template_args_reach_model(ctx: RuleContext) -> Iterator[Hit]:
    own = _own(ctx)
    if evals.settings(ctx.spec)["api"] != "completion":
        return
    for field in ("chat_template_kwargs", "thinking_mode"):
        if own.get(field):
            yield ("eval", field), (
                f"eval.api is completion: /v1/completions applies no chat template, so {field} "
                "never reaches the model")


@rule("SS255")
def gate_checks_something(ctx: RuleContext) -> Iterator[Hit]:
    own = _own(ctx)
    if not own.get("after_deploy"):
        return
    try:
        runnable = evals.tasks(ctx.spec)
    except evals.NoEvalModule:
        return
    unchecked = [t.name for t in runnable if t.expect is None]
    if unchecked:
        yield ("eval", "after_deploy"), (
            f"the eval step gates the deploy, but {', '.join(unchecked)} has no expectation "
            "(none in the spec, none in renderer/catalog/eval.yaml for "
            f"{ctx.spec['model']['repo']}): its score is recorded, never checked")
