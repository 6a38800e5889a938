"""Memory-fit rules (weights, KV-cache capacity, headroom), computed by servespec/estimate.py.

Each rule points at the field the user should change: hardware.gpu when the weights do not fit,
engine.mem_fraction_static or model.context_length when the KV cache is too small,
engine.mem_fraction_static when too little memory is left for activations, and
speculative.draft when a draft model's facts are missing (SS160), so its memory is not counted.
"""

from __future__ import annotations

from collections.abc import Iterator

from renderer import catalog
from renderer.errors import LoadError
from renderer.estimate.core import GIB, Estimate, EstimateError, estimate, fraction_for_tokens
from renderer.spec.load import load_file
from renderer.rules.registry import Context, Hit, rule

DRAFT_FACTS = ("speculative", "draft", "facts")


def draft_facts(ctx: Context) -> dict | None:
    """The separate draft model's facts (speculative.draft.facts, relative to the file that sets
    it), loaded once per check; None when the spec names none or the file does not load (the
    speculative rules say which)."""
    if "draft_facts" not in ctx.memo:
        ref = ((ctx.spec.get("speculative") or {}).get("draft") or {}).get("facts")
        facts = None
        if ref:
            try:
                facts = load_file(ctx.doc.file_dir(DRAFT_FACTS) / ref).data
            except LoadError:
                facts = None
        ctx.memo["draft_facts"] = facts
    return ctx.memo["draft_facts"]


def _estimate(ctx: Context) -> Estimate | None:
    """The estimate, computed once per check; None without usable facts (SS126 says so)."""
    if "plan" not in ctx.memo:
        try:
            ctx.memo["plan"] = estimate(ctx.spec, ctx.facts, ctx.doc.name, draft_facts(ctx),
                                        ctx.deployment) if ctx.facts else None
        except EstimateError as exc:
            ctx.memo["plan"] = None
            ctx.memo["plan_error"] = str(exc)  # SS126 names it: memory fit goes unchecked
    return ctx.memo["plan"]


def estimate_problem(ctx: Context) -> str | None:
    """Why model facts that loaded still cannot be estimated (a missing or malformed field)."""
    _estimate(ctx)
    return ctx.memo.get("plan_error")


def _gib(n: int) -> str:
    return f"{n / GIB:.1f} GiB"


@rule("SS130")
def weights_fit(ctx: Context) -> Iterator[Hit]:
    est = _estimate(ctx)
    if est is None or est.weights_fit:
        return
    fix = "a GPU with more memory, or more GPUs with a larger parallelism.tensor"
    wanted = fraction_for_tokens(est, est.context_length)
    if wanted <= est.sglang_default_mem_fraction:  # a fraction SGLang itself would accept
        fix = f"engine.mem_fraction_static {wanted} or more, or {fix}"
    yield ("hardware", "gpu"), (
        f"weights need {_gib(est.weights_per_gpu_bytes)} ({est.weights_per_gpu_bytes / 1e9:.0f} GB)"
        f" per GPU at TP{est.tensor} plus {_gib(est.runtime_overhead_bytes)} of buffers, but"
        f" {est.mem_fraction_static} of each {est.gpu}'s {_gib(est.hbm_bytes)} is"
        f" {_gib(est.static_pool_bytes)}: use {fix}"
    )


@rule("SS131")
def kv_holds_one_sequence(ctx: Context) -> Iterator[Hit]:
    est = _estimate(ctx)
    if est is None or not est.weights_fit or est.kv_fits_one_sequence:
        return
    head = (f"the KV cache holds {est.kv_tokens:,} tokens ({est.kv_bytes_per_token / 1024:.1f} KiB"
            f" each), less than one sequence of context_length {est.context_length:,}")
    wanted = fraction_for_tokens(est, est.context_length)
    if wanted <= est.sglang_default_mem_fraction and ctx.spec["engine"].get("mem_fraction_static"):
        # SGLang's own heuristic would leave enough for activations at that fraction.
        yield ("engine", "mem_fraction_static"), f"{head}: raise mem_fraction_static to {wanted}"
        return
    yield ("model", "context_length"), (
        f"{head}: lower context_length to at most {est.kv_tokens:,}, or use a GPU with more memory"
    )


@rule("SS132")
def activation_headroom(ctx: Context) -> Iterator[Hit]:
    est = _estimate(ctx)
    if est is None or not est.weights_fit or ctx.spec["engine"].get("mem_fraction_static") is None:
        return  # SS130 covers weights that do not fit; SGLang's default leaves its own reserve
    ratio = catalog.planning()["memory"]["headroom_warn_ratio"]
    if est.headroom_ratio >= ratio:
        return
    yield ("engine", "mem_fraction_static"), (
        f"mem_fraction_static {est.mem_fraction_static} leaves {_gib(est.headroom_bytes)} per GPU"
        f" for activations and CUDA graphs; SGLang reserves {_gib(est.sglang_reserve_bytes)} at"
        f" chunked_prefill_size {est.chunked_prefill_size}: lower it to"
        f" {est.sglang_default_mem_fraction} or reduce engine.chunked_prefill_size"
    )


@rule("SS160")
def draft_has_facts(ctx: Context) -> Iterator[Hit]:
    """Only when a draft model is named and the algorithm uses one (SS182 reports a draft the
    algorithm ignores)."""
    draft = (ctx.spec.get("speculative") or {}).get("draft")
    if not draft or ctx.spec["speculative"]["algorithm"] in ("none", "NGRAM") or not ctx.facts:
        return
    if draft_facts(ctx) is None:
        said = "names no facts" if not draft.get("facts") else f"facts '{draft['facts']}' do not load"
        yield ("speculative", "draft"), (
            f"draft {draft.get('repo')} {said}: its weights and KV are left out of the estimate;"
            " write them with `servespec model-facts` and set speculative.draft.facts")
