"""Weights per GPU: the model split into parts, each part's bytes in its format, placed on ranks.

Pure arithmetic over the model facts, the quantization table (catalog/quantization.yaml) and the
spec's parallelism; no torch, no SGLang. The checkpoint's real size (facts checkpoint_bytes, the
safetensors index's total_size) is the total; the parameter count of each part, from config.json,
only says how that total divides between parts that SGLang 0.5.23 places differently:

  tensor parallel (TP ranks split it):  attention projections (over the attention-TP group,
      TP / attention_data), the input embedding (vocab-parallel over the same group:
      layers/vocab_parallel_embedding.py get_embedding_tp_kwargs), the LM head, dense MLPs,
      routed and shared experts (expert parallelism regroups experts but each of the TP ranks
      still holds 1/TP of them: ep_size x moe_tp_size = tp_size).
  whole on every rank: the MoE router, the MLA down-projection fused_qkv_a_proj_with_mqa
      (models/deepseek_v2.py, a ReplicatedLinear) and the DSA indexer's wq_b, wk and BF16
      weights_proj (layers/attention/dsa/dsa_indexer.py).
  pipeline parallel: decoder layers divide over the stages; the embedding sits on the first,
      the LM head on the last.
"""

from __future__ import annotations

from renderer.facts.params import layer_params, sparse_only, stored_part_bytes

LAYER_PARTS = ("attention", "attention_whole", "mlp", "experts", "shared_experts", "router",
               "bf16_whole")
SPLIT_BY_ATTN_TP = ("attention", "embed")
WHOLE = ("attention_whole", "router", "bf16_whole")


def part_bytes(facts: dict, gpu_format: dict | None = None,
               dtype: str | None = None) -> dict[str, float]:
    """Bytes of each part as the GPUs hold them. Scaled so that, held in the checkpoint's own
    format, the parts add up to the checkpoint's real size; `gpu_format` (a quantization table
    row) is the format SGLang converts to when it quantizes on the fly, `dtype` the one it holds
    the unquantized parts in (ModelConfig.dtype; the checkpoint's own when not given)."""
    modelled = sum(stored_part_bytes(facts).values())
    scale = int(facts["checkpoint_bytes"]) / modelled if facts.get("checkpoint_bytes") else 1.0
    held = stored_part_bytes(facts, gpu_format, dtype)
    return {p: n * scale for p, n in held.items()}


def placement(spec: dict) -> dict[str, int]:
    """How many ways each kind of part is split on one rank."""
    par = spec["parallelism"]
    tp = int(par["tensor"])
    dp = int(par.get("attention_data") or 1)
    return {"tp": tp, "attn_tp": max(1, tp // dp), "pp": int(par["pipeline"])}


def per_rank_weight_bytes(facts: dict, spec: dict, *, mtp_loaded: bool,
                          gpu_format: dict | None = None,
                          dtype: str | None = None) -> tuple[int, int]:
    """(bytes of weights on the busiest GPU, of which not split over the full TP group: parts
    held whole, and under attention DP the attention and embedding each DP rank replicates)."""
    parts = part_bytes(facts, gpu_format, dtype)
    if not mtp_loaded:
        parts["mtp"] = 0.0
    ways = placement(spec)
    total = whole = 0.0
    for name, size in parts.items():
        if name in ("embed", "lm_head"):
            continue
        if name in WHOLE:
            whole += size / ways["pp"]
        elif name == "mtp":
            whole += size * _whole_share(facts)
            total += size * (1 - _whole_share(facts)) / ways["tp"]
        elif name in SPLIT_BY_ATTN_TP and ways["attn_tp"] < ways["tp"]:
            whole += size / ways["attn_tp"] / ways["pp"]  # attention-DP replicas of attention
        else:
            total += size / (ways["attn_tp"] if name in SPLIT_BY_ATTN_TP else ways["tp"]) / ways["pp"]
    embed = parts["embed"] / ways["attn_tp"]
    head = parts["lm_head"] / ways["tp"]
    total += max(embed, head) if ways["pp"] > 1 else embed + head
    if ways["attn_tp"] < ways["tp"]:  # the embedding too is replicated across attention DP
        whole += embed if ways["pp"] == 1 else 0
        total -= embed if ways["pp"] == 1 else 0
    return int(total + whole), int(whole)


def _whole_share(facts: dict) -> float:
    """The share of one MTP layer that TP keeps whole (router, MLA a-proj, indexer)."""
    per = {k: v for k, v in layer_params(sparse_only(facts)).items()}
    layer = sum(per.values()) or 1
    return sum(per[p] for p in WHOLE) / layer


def moe_shard_width(facts: dict, spec: dict) -> int | None:
    """Each rank's slice of one expert's intermediate width: moe_intermediate_size / (TP / EP).
    SGLang's block-FP8 MoE needs it to be a multiple of the 128 block (h9r's shape rule)."""
    moe = facts.get("moe")
    if not moe:
        return None
    par = spec["parallelism"]
    moe_tp = max(1, int(par["tensor"]) // int(par.get("expert") or 1))
    width = int(moe.get("moe_intermediate_size") or facts.get("intermediate_size") or 0)
    return width // moe_tp
