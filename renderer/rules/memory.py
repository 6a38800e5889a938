"""Memory-fit rules (weights, KV-cache capacity, headroom), read from the spec's estimate
(renderer/estimate/core.py, computed once by the pipeline).

Each rule points at the field the user should change: hardware.gpu when the weights do not fit,
engine.mem_fraction_static or model.context_length when the KV cache is too small,
engine.mem_fraction_static when too little memory is left for activations, and
speculative.draft when a draft model's facts are missing (SS160), so its memory is not counted.
"""

from __future__ import annotations

from collections.abc import Iterator

from renderer import catalog
from renderer.estimate.core import GIB, fraction_for_tokens
from renderer.resolve.support import speculative_mode
from renderer.rules.registry import Hit, RuleContext, rule


def _gib(n: int) -> str:
    return f"{n / GIB:.1f} GiB"


@rule("SS130")
def weights_fit(ctx: RuleContext) -> Iterator[Hit]:
    est = ctx.estimate
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
def kv_holds_one_sequence(ctx: RuleContext) -> Iterator[Hit]:
    est = ctx.estimate
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
        f"{head}: lower context_length to at most {est.kv_tokens:,}, {_more_room(est)}"
    )


def _more_room(est) -> str:
    """MLA keeps one latent per token in every rank, so more TP adds no KV room; GQA/MHA split
    their KV heads across TP ranks (up to one head per rank), so more GPUs do."""
    if est.attention_kind.startswith("mla"):
        return "or use a GPU with more memory (MLA KV is not split by tensor parallelism)"
    return ("or use a GPU with more memory or more GPUs: raising parallelism.tensor splits the"
            " weights and the KV heads across more GPUs")


@rule("SS132")
def activation_headroom(ctx: RuleContext) -> Iterator[Hit]:
    est = ctx.estimate
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
def draft_has_facts(ctx: RuleContext) -> Iterator[Hit]:
    """Only when a draft model is named and the algorithm uses one (SS182 reports a draft the
    algorithm ignores), and names no facts file (SS126 reports one that is missing or broken)."""
    draft = (ctx.spec.get("speculative") or {}).get("draft")
    if not draft or speculative_mode(ctx.spec)["draft"] == "none" or not ctx.facts:
        return
    if not draft.get("facts"):  # a named file that does not load is SS126's, at that field
        yield ("speculative", "draft"), (
            f"draft {draft.get('repo')} names no facts: its weights and KV are left out of the"
            " estimate; write them with `servespec model-facts` and set speculative.draft.facts")
