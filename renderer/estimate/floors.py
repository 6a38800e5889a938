"""Physical floors of one deployment: times no serving engine can beat on these GPUs.

A roofline over the estimate's own numbers and the datasheet figures of catalog/gpus.yaml
(hbm_tb_per_s, dense_tflops). They are floors, never predictions: a real server adds kernel
launch gaps, communication between ranks, scheduling and sampling on top.

  decode: one step of C sequences reads, on each GPU, its shard of the active weights and the KV
      of the sequences it holds; it cannot take less than those bytes / HBM bandwidth, nor less
      than the step's FLOPs / peak dense FLOP/s. With pipeline parallelism a token passes every
      stage in turn, so the step is one column of GPUs (one per stage) read end to end. MoE
      layers read only the experts the batch routes to: k experts per token, and for C tokens
      the number a uniform router touches on average, E x (1 - (1 - k/E)^C).
  attention reads every cached token of a full layer, min(context, window) of a sliding-window
      layer, and for DSA (DeepSeek-V3.2, GLM-5) the indexer's keys of every token plus the
      latents of its top-k.
  prefill of one prompt as long as the context: 2 x active parameters x tokens, in the GEMM
      format of the weights (FP8 or FP4 tensor cores where the GPU has them and the format uses
      them, BF16 otherwise), plus causal attention in BF16, over every GPU of the replica.
  speculative decoding is left out: each accepted draft token divides the decode floor by the
      tokens a step emits, so a server with EAGLE may run below it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from renderer import catalog
from renderer.estimate import kv, weights
from renderer.facts.params import model_params, need_int

TB = 10**12
BF16_BYTES = 2


@dataclass(frozen=True)
class Floors:
    """Floors for one replica at `concurrency` sequences that each hold `context` tokens."""

    gpu: str
    hbm_tb_per_s: float
    gemm_format: str  # bf16, fp8 or fp4: the tensor cores the weights' GEMMs can use
    gemm_tflops: float
    attention_tflops: float
    context: int
    concurrency: int
    decode_bytes_1: int  # bytes one GPU reads per decode step, one sequence
    decode_bytes_c: int  # the same with `concurrency` sequences
    tpot_floor_1_ms: float
    tpot_floor_c_ms: float
    ttft_floor_ms: float  # one prompt of `context` tokens
    tokens_per_s_floor: float  # output tokens per second of the replica at `concurrency`
    usd_per_m_tokens_floor: float | None  # $ per million output tokens at that rate
    bound_c: str  # "memory" or "compute": which limit sets tpot_floor_c_ms

    def to_json(self) -> dict:
        return {
            "label": "floor: a hardware limit, never a prediction",
            "gpu": self.gpu, "hbm_tb_per_s": self.hbm_tb_per_s,
            "gemm_format": self.gemm_format, "gemm_dense_tflops": self.gemm_tflops,
            "attention_dense_tflops": self.attention_tflops,
            "context": self.context, "concurrency": self.concurrency,
            "decode_bytes_per_gpu_at_1": self.decode_bytes_1,
            "decode_bytes_per_gpu_at_concurrency": self.decode_bytes_c,
            "tpot_floor_ms_at_1": round(self.tpot_floor_1_ms, 3),
            "tpot_floor_ms_at_concurrency": round(self.tpot_floor_c_ms, 3),
            "decode_bound_at_concurrency": self.bound_c,
            "ttft_floor_ms": round(self.ttft_floor_ms, 1),
            "output_tokens_per_s_floor": round(self.tokens_per_s_floor, 1),
            "usd_per_million_output_tokens_floor": (
                None if self.usd_per_m_tokens_floor is None
                else round(self.usd_per_m_tokens_floor, 4)),
        }


def gemm_format(weights_format: str | None, gpu: dict) -> str:
    """The tensor cores the weights' GEMMs run on: FP8 for 8-bit float formats on GPUs with FP8
    tensor cores, FP4 for MXFP4 on GPUs with FP4 ones, BF16 otherwise (weight-only formats such
    as AWQ, GPTQ, or FP8 through Marlin on Ampere, multiply in BF16)."""
    peaks = gpu.get("dense_tflops") or {}
    if weights_format in ("fp8_e4m3", "compressed-tensors") and gpu.get("fp8") and peaks.get("fp8"):
        return "fp8"
    if weights_format == "mxfp4" and gpu.get("fp4") and peaks.get("fp4"):
        return "fp4"
    return "bf16"


def experts_touched(experts: int, per_token: int, tokens: int) -> float:
    """Distinct experts `tokens` tokens route to on average when routing is uniform."""
    if experts <= 0 or tokens <= 0:
        return 0.0
    return experts * (1 - (1 - per_token / experts) ** tokens)


def _ways(spec: dict) -> tuple[int, int]:
    par = spec["parallelism"]
    tp = int(par["tensor"])
    return tp, max(1, tp // int(par.get("attention_data") or 1))


def weight_read_bytes(facts: dict, spec: dict, tokens: int, gpu_format: dict | None = None,
                      dtype: str | None = None) -> float:
    """Weight bytes one GPU column (one GPU per pipeline stage) reads in a decode step of
    `tokens` tokens: its shard of every part the step uses. The input embedding is a lookup
    of a few rows (it counts only as the LM head, when the two are tied) and the MTP layers
    serve only speculation."""
    parts = weights.part_bytes(facts, gpu_format, dtype)
    tp, attn_tp = _ways(spec)
    moe = facts.get("moe") or {}
    share = 1.0
    if moe and parts.get("experts"):
        total = need_int(facts, "moe", "n_routed_experts")
        share = experts_touched(total, need_int(facts, "moe", "num_experts_per_tok"), tokens) / total
    read = 0.0
    tied = not parts.get("lm_head")
    for name, size in parts.items():
        if name == "mtp" or (name == "embed" and not tied):
            continue
        if name == "experts":
            size *= share
        read += size / (1 if name in weights.WHOLE else attn_tp if name == "attention" else tp)
    return read


def _attended(facts: dict, context: int) -> tuple[float, float]:
    """(main-attention tokens, indexer tokens) one query token attends over, summed over all
    layers (MTP excluded), at `context` cached tokens."""
    layers = need_int(facts, "num_hidden_layers")
    att = facts.get("attention") or {}
    if kv.kind(facts) == "mla_dsa":
        topk = need_int(facts, "indexer", "topk")
        shared = int((facts.get("indexer") or {}).get("shared_layers") or 0)
        return layers * min(context, topk), (layers - shared) * context
    swa = kv.sliding_layers(facts) if att.get("sliding_window") else 0
    window = int(att.get("sliding_window") or 0)
    return (layers - swa) * context + swa * min(context, window), 0.0


def kv_read_bytes(facts: dict, spec: dict, kv_dtype: str, arch: str, context: int) -> float:
    """KV bytes one GPU column reads per sequence in a decode step at `context` cached tokens."""
    _, attn_tp = _ways(spec)
    tokens, indexed = _attended(facts, context)
    if kv.kind(facts).startswith("mla"):
        return tokens * kv.mla_row_bytes(facts, kv_dtype, arch) + indexed * kv.indexer_row_bytes(facts)
    return tokens * kv.gqa_row_bytes(facts, kv_dtype, attn_tp)


def _head_params(parts: dict) -> int:
    """The LM head: its own matrix, or the embedding's when the two are tied."""
    return parts["lm_head"] or parts["embed"]


def active_params(facts: dict) -> float:
    """Parameters the GEMMs multiply per token: every dense part, the LM head, the k routed
    experts of the token; not the embedding lookup nor the MTP layers."""
    parts = model_params(facts)
    total = sum(v for k, v in parts.items() if k not in ("embed", "lm_head", "mtp", "experts"))
    total += _head_params(parts)
    if facts.get("moe") and parts.get("experts"):
        total += parts["experts"] * need_int(facts, "moe", "num_experts_per_tok") / need_int(
            facts, "moe", "n_routed_experts")
    return float(total)


def attention_flops(facts: dict, context: int, prefill: bool = False) -> float:
    """FLOPs of one query token's attention over `context` cached tokens, all layers. MLA decodes
    absorbed (scores over the latent and its rope part, values from the latent) and prefills as
    plain attention over up-projected heads (qk_nope + qk_rope wide keys, v_head_dim values),
    the cheaper form for long prompts."""
    att = facts["attention"]
    heads = need_int(facts, "attention", "num_attention_heads")
    tokens, indexed = _attended(facts, context)
    if not kv.kind(facts).startswith("mla"):
        return tokens * 4 * heads * int(att["head_dim"])
    if prefill:
        width = sum(need_int(facts, "attention", k)
                    for k in ("qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim"))
    else:
        width = 2 * need_int(facts, "attention", "kv_lora_rank") + need_int(
            facts, "attention", "qk_rope_head_dim")
    index = indexed * 2 * need_int(facts, "indexer", "num_heads") * need_int(
        facts, "indexer", "head_dim") if indexed else 0.0
    return tokens * 2 * heads * width + index


def _causal_sum(prompt: int, reach: int | None) -> float:
    """Sum over the positions p of a prompt of the cached tokens p attends to: p for a full
    layer, min(p, reach) for a window or a top-k."""
    if reach is None or reach >= prompt:
        return prompt * prompt / 2
    return prompt * reach - reach * reach / 2


def prefill_flops(facts: dict, prompt: int) -> tuple[float, float]:
    """(GEMM FLOPs, attention FLOPs) of one causal prefill of `prompt` tokens: each position
    attends over the positions before it, and the LM head runs for the last position only.
    attention_flops is linear in the tokens attended, so the sum over positions is that of
    one query over 1 token, times the causal sums of each kind of layer."""
    head = _head_params(model_params(facts))
    gemm = 2 * (active_params(facts) - head) * prompt + 2 * head
    layers = need_int(facts, "num_hidden_layers")
    att = facts.get("attention") or {}
    one = {**facts, "num_hidden_layers": 1}  # one layer, one cached token
    if facts.get("indexer"):
        one["indexer"] = {**facts["indexer"], "shared_layers": 0}
    per_pair = attention_flops(one, 1, prefill=True)
    if kv.kind(facts) == "mla_dsa":
        topk = need_int(facts, "indexer", "topk")
        index = 2 * need_int(facts, "indexer", "num_heads") * need_int(facts, "indexer", "head_dim")
        indexed = layers - int((facts.get("indexer") or {}).get("shared_layers") or 0)
        main = (per_pair - index) * layers * _causal_sum(prompt, topk)
        return gemm, main + index * indexed * _causal_sum(prompt, None)
    swa = kv.sliding_layers(facts) if att.get("sliding_window") else 0
    window = int(att.get("sliding_window") or 0) or None
    attn = per_pair * ((layers - swa) * _causal_sum(prompt, None) + swa * _causal_sum(prompt, window))
    return gemm, attn


def floors(est, facts: dict, spec: dict, deployment=None, concurrency: int = 1,
           context: int | None = None, gpu_format: dict | None = None) -> Floors:
    """The floors of the estimated deployment `est` (renderer/estimate/core.py) at `concurrency`
    sequences of `context` tokens each (default: the spec's context length)."""
    gpu = catalog.gpus()[est.gpu]
    context = int(context or est.context_length)
    concurrency = max(1, int(concurrency))
    bandwidth = float(gpu["hbm_tb_per_s"]) * TB
    fmt = gemm_format(getattr(deployment, "weights_format", None) or spec["precision"].get("weights")
                      or _checkpoint_format(facts), gpu)
    peaks = gpu["dense_tflops"]
    gemm_peak, attn_peak = float(peaks[fmt]) * TB, float(peaks["bf16"]) * TB
    tp, _ = _ways(spec)
    copies = int(spec["parallelism"].get("data") or 1)
    pools = int(spec["parallelism"].get("attention_data") or 1)

    def step(sequences: int) -> tuple[float, float, str]:
        per_copy = math.ceil(sequences / copies)
        per_pool = math.ceil(per_copy / pools)
        read = (weight_read_bytes(facts, spec, per_copy, gpu_format, est.dtype)
                + per_pool * kv_read_bytes(facts, spec, est.kv_cache_dtype, gpu["arch"], context))
        compute = (2 * active_params(facts) * per_copy / (tp * gemm_peak)
                   + per_pool * attention_flops(facts, context) * pools / (tp * attn_peak))
        memory = read / bandwidth
        return read, max(memory, compute), "memory" if memory >= compute else "compute"

    read_1, tpot_1, _ = step(1)
    read_c, tpot_c, bound = step(concurrency)
    gemm, attn = prefill_flops(facts, context)
    gpus = est.gpus_per_node * est.nodes // copies
    ttft = gemm / (gpus * gemm_peak) + attn / (gpus * attn_peak)
    rate = concurrency / tpot_c
    usd = est.usd_per_hour_replica / 3600 / rate * 1e6 if est.usd_per_hour_replica else None
    return Floors(
        gpu=est.gpu, hbm_tb_per_s=float(gpu["hbm_tb_per_s"]), gemm_format=fmt,
        gemm_tflops=float(peaks[fmt]), attention_tflops=float(peaks["bf16"]), context=context,
        concurrency=concurrency, decode_bytes_1=int(read_1), decode_bytes_c=int(read_c),
        tpot_floor_1_ms=tpot_1 * 1e3, tpot_floor_c_ms=tpot_c * 1e3, ttft_floor_ms=ttft * 1e3,
        tokens_per_s_floor=rate, usd_per_m_tokens_floor=usd, bound_c=bound)


def _checkpoint_format(facts: dict) -> str:
    from renderer.resolve.deployment import checkpoint_format

    return checkpoint_format(facts) or "bf16"
