"""Rules that need the model: speculative drafts, checkpoint quantization, parallel shapes,
DeepGEMM applicability (SS180-SS199) and a reasoning parser on a model whose chat template shows
no reasoning (SS222).

Each rule reads the resolved Deployment and the model facts, and repeats a check SGLang makes at
start-up (the upstream source of each is in catalog/rules.yaml), so a spec that cannot start is
rejected here, at the line to change. Without model facts these rules stay silent: SS126 already
says that nothing model-specific is checked.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from renderer.resolve.support import min_capability, speculative_mode, support
from renderer.rules.registry import Anchor, Hit, RuleContext, rule
from renderer.spec.load import display

_COMMIT = re.compile(r"^[0-9a-f]{40}$")


def _facts(ctx: RuleContext) -> dict:
    return ctx.facts or {}


def _at(ctx: RuleContext, *candidates: tuple) -> tuple:
    """The first of `candidates` written in the spec (or its bases); else the last one."""
    for path in candidates:
        if path in ctx.doc.value_pos or path in ctx.doc.key_pos:
            return path
    return candidates[-1]


# --- speculative decoding ----------------------------------------------------------------------


@rule("SS180")
def eagle_needs_mtp_or_draft(ctx: RuleContext) -> Iterator[Hit]:
    sd = ctx.spec["speculative"]
    if not ctx.facts or speculative_mode(ctx.spec)["draft"] != "self" or sd.get("draft"):
        return
    facts = _facts(ctx)
    arch = facts.get("architecture")
    mtp = int(facts.get("num_nextn_predict_layers") or 0)
    listed = arch in support()["speculative"]["self_draft_architectures"]
    if mtp > 0 and listed:
        return
    why = ("has no MTP layers (num_nextn_predict_layers is 0)" if mtp == 0 else
           f"is a {arch}, for which SGLang does not default the draft to the checkpoint")
    yield ("speculative", "algorithm"), (
        f"{sd['algorithm']} without speculative.draft drafts with the checkpoint's own MTP head, "
        f"but {ctx.spec['model']['repo']} {why}: add speculative.draft (e.g. an EAGLE3 head) "
        "or choose NGRAM"
    )


@rule("SS181")
def draft_required(ctx: RuleContext) -> Iterator[Hit]:
    sd = ctx.spec["speculative"]
    if speculative_mode(ctx.spec)["draft"] == "required" and not sd.get("draft"):
        yield ("speculative", "algorithm"), (
            f"{sd['algorithm']} needs a separate draft model: set speculative.draft.repo and "
            "speculative.draft.revision"
        )


@rule("SS182")
def draft_unused(ctx: RuleContext) -> Iterator[Hit]:
    sd = ctx.spec["speculative"]
    if sd.get("draft") and speculative_mode(ctx.spec)["draft"] == "none":
        yield ("speculative", "draft"), (
            f"speculative.draft is ignored with algorithm {sd['algorithm']}: it is neither "
            "downloaded nor passed to SGLang"
        )


@rule("SS191")
def draft_revision_pinned(ctx: RuleContext) -> Iterator[Hit]:
    draft = ctx.spec["speculative"].get("draft")
    if draft and not _COMMIT.match(draft["revision"]):
        yield ("speculative", "draft", "revision"), (
            f"draft revision '{draft['revision']}' is a branch or tag, not a commit hash"
        )


# --- checkpoint quantization -------------------------------------------------------------------


@rule("SS183")
def precision_matches_checkpoint(ctx: RuleContext) -> Iterator[Hit]:
    dep = ctx.deployment
    wanted, ckpt = ctx.spec["precision"].get("weights"), dep.checkpoint_format
    if not wanted or ckpt is None or wanted == ckpt:
        return
    if ckpt.startswith("unsupported:"):
        return  # a quant_method servespec has no entry for: SGLang decides (SS126-like gap)
    formats = support()["weight_formats"]
    if formats[ckpt]["quant_methods"]:
        method = (_facts(ctx).get("quantization_config") or {}).get("quant_method")
        yield ("precision", "weights"), (
            f"the checkpoint is quantized as {ckpt} (quant_method '{method}'); SGLang refuses "
            f"another format ({wanted}): remove precision.weights or write {ckpt}"
        )
    elif dep.quantization is None:
        yield ("precision", "weights"), (
            f"the checkpoint holds {ckpt} weights and SGLang cannot quantize them to {wanted} "
            "at load time: remove precision.weights, or serve a checkpoint published in "
            f"{wanted}"
        )


@rule("SS105")
def weight_format_needs_capability(ctx: RuleContext) -> Iterator[Hit]:
    dep = ctx.deployment
    need = min_capability(dep.weights_format, dep.quantization is not None)
    if dep.capability < need:
        yield ("hardware", "gpu"), (
            f"{dep.weights_format} weights need compute capability {need // 10}.{need % 10} or "
            f"newer; {dep.gpu} is {dep.capability // 10}.{dep.capability % 10} ({dep.arch})"
        )


# --- parallel shapes ---------------------------------------------------------------------------


@rule("SS184")
def expert_parallel_shape(ctx: RuleContext) -> Iterator[Hit]:
    par = ctx.spec["parallelism"]
    ep, tp = par["expert"], par["tensor"]
    if ep == 1:
        return
    if tp % ep:
        yield ("parallelism", "expert"), f"expert {ep} does not divide tensor {tp}"
        return
    moe = _facts(ctx).get("moe")
    if ctx.facts and not moe:
        yield ("parallelism", "expert"), "expert parallelism on a model without MoE layers"
    elif moe and int(moe.get("n_routed_experts") or 0) % ep:
        yield ("parallelism", "expert"), (
            f"the model's {moe['n_routed_experts']} routed experts do not split evenly over "
            f"expert {ep}"
        )


@rule("SS185")
def attention_data_shape(ctx: RuleContext) -> Iterator[Hit]:
    par = ctx.spec["parallelism"]
    if par["tensor"] % par["attention_data"]:
        yield ("parallelism", "attention_data"), (
            f"attention_data {par['attention_data']} does not divide tensor {par['tensor']}"
        )


@rule("SS186")
def heads_split_over_tp(ctx: RuleContext) -> Iterator[Hit]:
    par = ctx.spec["parallelism"]
    att = _facts(ctx).get("attention") or {}
    heads = att.get("num_attention_heads")
    if not heads or par["tensor"] % par["attention_data"]:
        return
    attn_tp = par["tensor"] // par["attention_data"]
    where = _at(ctx, ("parallelism", "attention_data"), ("parallelism", "tensor"))
    if heads % attn_tp:
        yield where, f"{heads} attention heads do not split over attention TP {attn_tp}"
        return
    kv = att.get("num_key_value_heads")
    if att.get("kind") in ("gqa", "mha") and kv and (kv % attn_tp if kv >= attn_tp else attn_tp % kv):
        yield where, (
            f"{kv} KV heads can be neither split over nor replicated across attention TP {attn_tp}"
        )


@rule("SS187")
def fp8_block_divides_moe_shard(ctx: RuleContext) -> Iterator[Hit]:
    facts = _facts(ctx)
    block = (facts.get("quantization_config") or {}).get("weight_block_size")
    inter = (facts.get("moe") or {}).get("moe_intermediate_size")
    par = ctx.spec["parallelism"]
    if not block or not inter or par["tensor"] % par["expert"]:
        return
    moe_tp = par["tensor"] // par["expert"]
    where = _at(ctx, ("parallelism", "expert"), ("parallelism", "tensor"))
    if inter % moe_tp:
        yield where, f"moe_intermediate_size {inter} does not split over MoE TP {moe_tp}"
    elif (inter // moe_tp) % block[0]:
        yield where, (
            f"each rank's expert shard is {inter} / {moe_tp} = {inter // moe_tp} wide, not a "
            f"multiple of the checkpoint's {block[0]}-wide FP8 blocks: use a tensor size that "
            f"leaves a multiple of {block[0]}, or expert parallelism (MoE TP = tensor / expert)"
        )


@rule("SS190")
def attention_data_spelling(ctx: RuleContext) -> Iterator[Hit]:
    """0.5.10 spells attention DP as --dp-size N --enable-dp-attention, so whole replicas
    (--dp-size) and attention DP cannot both be asked for."""
    par, dep = ctx.spec["parallelism"], ctx.deployment
    names = [o.name for o in dep.options]
    if par["attention_data"] > 1 and par["data"] > 1 and "enable_dp_attention" in names:
        yield ("parallelism", "attention_data"), (
            f"SGLang {dep.sglang_version} spells attention DP with --dp-size, which "
            "parallelism.data already sets: use one of the two, or SGLang 0.5.23"
        )


# --- the start-up cache volume and DeepGEMM -----------------------------------------------------


@rule("SS188")
def deepgemm_volume_where_it_applies(ctx: RuleContext) -> Iterator[Hit]:
    dep = ctx.deployment
    if dep.cache is not None or not ctx.spec["compile"]["enabled"]:
        return
    if dep.deepgemm_runs:
        yield ("storage",), (
            f"DeepGEMM runs for {dep.weights_format} weights on {dep.gpu} ({dep.arch}): add "
            f"storage.cache (a volume named for {dep.arch}), or set compile.enabled false"
        )


@rule("SS189")
def deepgemm_volume_unused(ctx: RuleContext) -> Iterator[Hit]:
    """The old spelling storage.deepgemm where DeepGEMM does not run: it used to be dropped, it is
    now mounted as the start-up cache volume; say so, since the artifacts changed."""
    dep = ctx.deployment
    old = next((r for r in ctx.doc.renamed if r.old == "storage.deepgemm"), None)
    if old is not None and dep.cache is not None and not dep.deepgemm_runs:
        yield Anchor(old.position, old.old), (
            f"DeepGEMM does not run for {dep.weights_format or 'these'} weights on {dep.gpu} "
            f"({dep.arch}): no compile step is rendered, and the volume is mounted as the "
            "start-up cache volume for the other caches: write it as storage.cache"
        )


@rule("SS192")
def no_cache_volume(ctx: RuleContext) -> Iterator[Hit]:
    dep = ctx.deployment
    if dep.cache is not None or (ctx.spec["compile"]["enabled"] and dep.deepgemm_runs):
        return  # SS188 asks for the volume where DeepGEMM would JIT as well
    yield ("storage",), (
        "no storage.cache: every cold start rebuilds FlashInfer autotune results, Triton kernels, "
        "TorchInductor graphs and SGLang's JIT kernels"
        + (" (and DeepGEMM's)" if dep.deepgemm_runs else "")
        + f"; add storage.cache with a volume named for {dep.arch}"
    )


@rule("SS193")
def renamed_field(ctx: RuleContext) -> Iterator[Hit]:
    for old in ctx.doc.renamed:
        yield Anchor(old.position, old.old), (
            f"{old.old} is deprecated: it is now {old.new} (same fields); rename it"
        )


# --- the chat template -------------------------------------------------------------------------


@rule("SS222")
def reasoning_parser_without_reasoning_template(ctx: RuleContext) -> Iterator[Hit]:
    """Only a template known to be plain warns: a facts file without the fact (no template was
    read) says nothing either way."""
    parser = ctx.spec["engine"].get("reasoning_parser")
    if not parser or _facts(ctx).get("chat_template_reasoning") is not False:
        return
    where = ("model", "facts")
    facts_file = display(ctx.doc.file_dir(where) / ctx.spec["model"]["facts"])
    yield ("engine", "reasoning_parser"), (
        f"reasoning_parser {parser} is set, so the smoke step runs `servespec smoke --reasoning`"
        " and requires reasoning_content in a reply, but the chat template of "
        f"{ctx.spec['model']['repo']} shows no reasoning (chat_template_reasoning: false in "
        f"{facts_file}): a model that writes no reasoning block gives SGLang's {parser} parser "
        "none to split off, and the smoke step fails after the deploy")
