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

import math

from renderer import catalog

LAYER_PARTS = ("attention", "attention_whole", "mlp", "experts", "shared_experts", "router",
               "bf16_whole")
SPLIT_BY_ATTN_TP = ("attention", "embed")
WHOLE = ("attention_whole", "router", "bf16_whole")
DTYPE_BYTES = {"bf16": 2, "fp16": 2, "fp32": 4, "fp8_e4m3": 1}
# Parts a format may quantize; everything else stays in the model's dtype.
QUANTIZABLE = {"attention": "attention", "attention_whole": "attention", "mlp": "mlp",
               "experts": "experts", "shared_experts": "experts"}


class FactError(Exception):
    """A fact the weights or the KV sizing need is missing."""


WeightsError = FactError  # the name callers knew


def need_int(facts: dict, *path: str) -> int:
    value = facts
    for part in path:
        if not isinstance(value, dict) or value.get(part) is None:
            raise FactError(f"model facts lack {'.'.join(path)}")
        value = value[part]
    # A hand-edited facts file may say `many` or `true`: name the field rather than crash.
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
        raise FactError(f"model facts: {'.'.join(path)} is {value!r}, not a whole number")
    return int(value)


def attention_kind(facts: dict) -> str:
    """mla, mla_dsa, gqa or mha; facts written before the kinds were split say "mla" and carry
    an indexer block for DSA."""
    att = facts.get("attention") or {}
    kind = att.get("kind") or "gqa"
    if kind == "mla" and facts.get("indexer"):
        return "mla_dsa"
    return kind


def attention_params(facts: dict) -> tuple[int, int, int]:
    """(split over attention TP, held whole, BF16 held whole) parameters of one decoder layer's
    attention."""
    att, h = facts["attention"], need_int(facts, "hidden_size")
    heads = need_int(facts, "attention", "num_attention_heads")
    if attention_kind(facts).startswith("mla"):
        rope, nope = need_int(facts, "attention", "qk_rope_head_dim"), need_int(facts, "attention", "qk_nope_head_dim")
        rank, v = need_int(facts, "attention", "kv_lora_rank"), need_int(facts, "attention", "v_head_dim")
        q_lora = int(att.get("q_lora_rank") or 0)
        q_b = q_lora * heads * (nope + rope) if q_lora else h * heads * (nope + rope)
        split = q_b + rank * heads * (nope + v) + heads * v * h
        whole = h * (q_lora + rank + rope)
        bf16 = 0
        idx = facts.get("indexer")
        if idx:
            ih, idim = need_int(facts, "indexer", "num_heads"), need_int(facts, "indexer", "head_dim")
            whole += (q_lora or h) * ih * idim + h * idim
            bf16 += h * ih
        return split, whole, bf16
    kv_heads = need_int(facts, "attention", "num_key_value_heads")
    dim = need_int(facts, "attention", "head_dim")
    split = 2 * h * heads * dim + 2 * h * kv_heads * dim
    if att.get("bias"):
        split += heads * dim + 2 * kv_heads * dim + h
    return split, 0, 0


def layer_params(facts: dict) -> dict[str, int]:
    """Parameters of every part over all decoder layers (MTP layers excluded)."""
    h, layers = need_int(facts, "hidden_size"), need_int(facts, "num_hidden_layers")
    split, whole, bf16 = attention_params(facts)
    parts = {"attention": split * layers, "attention_whole": whole * layers,
             "bf16_whole": bf16 * layers, "mlp": 0, "experts": 0, "shared_experts": 0, "router": 0}
    moe = facts.get("moe")
    if not moe:
        parts["mlp"] = layers * 3 * h * need_int(facts, "intermediate_size")
        return parts
    dense = int(moe.get("first_k_dense_replace") or 0)
    experts = need_int(facts, "moe", "n_routed_experts")
    width = int(moe.get("moe_intermediate_size") or facts.get("intermediate_size"))
    if dense:
        parts["mlp"] = dense * 3 * h * need_int(facts, "intermediate_size")
    sparse = layers - dense
    parts["experts"] = sparse * experts * 3 * h * width
    parts["shared_experts"] = sparse * int(moe.get("n_shared_experts") or 0) * 3 * h * width
    parts["router"] = sparse * experts * h
    return parts


def model_params(facts: dict) -> dict[str, int]:
    """Parameters per part: the decoder layers' parts, embed, lm_head and the MTP layers (one
    decoder layer each, plus the eh_proj that mixes the hidden state in)."""
    h, vocab = need_int(facts, "hidden_size"), need_int(facts, "vocab_size")
    parts = layer_params(facts)
    layers = need_int(facts, "num_hidden_layers")
    mtp = int(facts.get("num_nextn_predict_layers") or 0)
    per_layer = {k: v // layers for k, v in layer_params(_sparse_only(facts)).items()}
    parts["mtp"] = mtp * (sum(per_layer.values()) + 2 * h * h)
    parts["embed"] = vocab * h
    parts["lm_head"] = 0 if facts.get("tie_word_embeddings") else vocab * h
    return parts


def _sparse_only(facts: dict) -> dict:
    """The facts of a model whose every layer is like its last (MoE) layer: MTP layers are."""
    if not facts.get("moe"):
        return facts
    return {**facts, "moe": {**facts["moe"], "first_k_dense_replace": 0}}


def checkpoint_format(facts: dict) -> tuple[str, dict]:
    """(format name, table row) the checkpoint is stored in."""
    quant = facts.get("quantization_config") or {}
    method = quant.get("quant_method")
    if not method:
        legacy = facts.get("weights_dtype")  # facts written before quantization_config
        method = "fp8" if legacy == "fp8_e4m3" else None
    table = catalog.quantization()["formats"]
    if method:
        if method not in table:
            raise WeightsError(f"quantization method '{method}' is not in catalog/quantization.yaml")
        return method, _with_checkpoint_params(table[method], quant)
    dtype = facts.get("torch_dtype") or facts.get("weights_dtype") or "bf16"
    return dtype, table.get(dtype, table["bf16"])


def _with_checkpoint_params(row: dict, quant: dict) -> dict:
    """The table's defaults overridden by what the checkpoint declares."""
    row = dict(row)
    block = quant.get("weight_block_size")
    if block:
        row["scale_block"] = math.prod(block)
    if quant.get("bits"):
        row["bits"] = int(quant["bits"])
    if quant.get("group_size") and int(quant["group_size"]) > 0:
        row["scale_block"] = int(quant["group_size"])
    not_converted = " ".join(quant.get("modules_to_not_convert") or [])
    if "self_attn" in not_converted:
        row["quantized"] = [p for p in row["quantized"] if p != "attention"]
    return row


def bytes_per_param(row: dict, part: str, dtype_bytes: int) -> float:
    """Bytes one parameter of `part` takes in format `row` (scales and zero points included)."""
    if QUANTIZABLE.get(part) not in row.get("quantized", []):
        return dtype_bytes
    per = row["bits"] / 8
    block = row.get("scale_block")
    if block:
        per += (row.get("scale_bytes", 0) + row.get("zero_bits", 0) / 8) / block
    return per


def part_bytes(facts: dict, gpu_format: dict | None = None) -> dict[str, float]:
    """Bytes of each part as the GPUs hold them. Scaled so that, held in the checkpoint's own
    format, the parts add up to the checkpoint's real size; `gpu_format` (a quantization table
    row) is the format SGLang converts to when it quantizes on the fly."""
    params = model_params(facts)
    _, stored = checkpoint_format(facts)
    dtype_bytes = DTYPE_BYTES.get(facts.get("torch_dtype") or "bf16", 2)
    in_checkpoint = {p: n * _bpp(stored, p, dtype_bytes) for p, n in params.items()}
    modelled = sum(in_checkpoint.values())
    scale = int(facts["checkpoint_bytes"]) / modelled if facts.get("checkpoint_bytes") else 1.0
    held = gpu_format or stored
    return {p: n * _bpp(held, p, dtype_bytes) * scale for p, n in params.items()}


def _bpp(row: dict, part: str, dtype_bytes: int) -> float:
    if part == "mtp":  # an MTP layer is mostly experts: priced like them
        return bytes_per_param(row, "experts", dtype_bytes)
    if part in ("bf16_whole", "router", "embed", "lm_head"):
        return dtype_bytes
    return bytes_per_param(row, part, dtype_bytes)


def placement(spec: dict) -> dict[str, int]:
    """How many ways each kind of part is split on one rank."""
    par = spec["parallelism"]
    tp = int(par["tensor"])
    dp = int(par.get("attention_data") or 1)
    return {"tp": tp, "attn_tp": max(1, tp // dp), "pp": int(par["pipeline"])}


def per_rank_weight_bytes(facts: dict, spec: dict, *, mtp_loaded: bool,
                          gpu_format: dict | None = None) -> tuple[int, int]:
    """(bytes of weights on the busiest GPU, of which not split over the full TP group: parts
    held whole, and under attention DP the attention and embedding each DP rank replicates)."""
    parts = part_bytes(facts, gpu_format)
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
    per = {k: v for k, v in layer_params(_sparse_only(facts)).items()}
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
