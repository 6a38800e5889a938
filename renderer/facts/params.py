"""What a checkpoint is, read from its model facts: parameters per part, attention kind, the
weight format it is stored in. Pure arithmetic over the facts (renderer/facts/generate.py writes
them from config.json) and catalog/quantization.yaml; the estimate places these parts on ranks
(renderer/estimate/weights.py).
"""

from __future__ import annotations

import math

from renderer import catalog


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
    decoder layer each, plus the eh_proj that mixes the hidden state in). Counted once per facts
    object: a facts file is loaded once and read-only (renderer/facts/load.py), and every spec
    naming it asks again, several times (checking 500 specs counted the same model 3,000 times)."""
    held = _counted.get(id(facts))
    if held is not None and held[0] is facts:
        return dict(held[1])
    parts = _count_params(facts)
    if len(_counted) >= 64:
        _counted.clear()
    _counted[id(facts)] = (facts, parts)  # the facts kept alive, so the id stays theirs
    return dict(parts)


_counted: dict[int, tuple[dict, dict[str, int]]] = {}


def _count_params(facts: dict) -> dict[str, int]:
    h, vocab = need_int(facts, "hidden_size"), need_int(facts, "vocab_size")
    parts = layer_params(facts)
    layers = need_int(facts, "num_hidden_layers")
    mtp = int(facts.get("num_nextn_predict_layers") or 0)
    per_layer = {k: v // layers for k, v in layer_params(sparse_only(facts)).items()}
    parts["mtp"] = mtp * (sum(per_layer.values()) + 2 * h * h)
    parts["embed"] = vocab * h
    parts["lm_head"] = 0 if facts.get("tie_word_embeddings") else vocab * h
    return parts


def sparse_only(facts: dict) -> dict:
    """The facts of a model whose every layer is like its last (MoE) layer: MTP layers are."""
    if not facts.get("moe"):
        return facts
    return {**facts, "moe": {**facts["moe"], "first_k_dense_replace": 0}}


DTYPE_BYTES = {"bf16": 2, "fp16": 2, "fp32": 4, "fp8_e4m3": 1}
# Parts a format may quantize; everything else stays in the model's dtype.
QUANTIZABLE = {"attention": "attention", "attention_whole": "attention", "mlp": "mlp",
               "experts": "experts", "shared_experts": "experts"}


def bytes_per_param(row: dict, part: str, dtype_bytes: int) -> float:
    """Bytes one parameter of `part` takes in format `row` (scales and zero points included)."""
    if part == "mtp":  # an MTP layer is mostly experts: priced like them
        part = "experts"
    if QUANTIZABLE.get(part) not in row.get("quantized", []):
        return dtype_bytes
    per = row["bits"] / 8
    block = row.get("scale_block")
    if block:
        per += (row.get("scale_bytes", 0) + row.get("zero_bits", 0) / 8) / block
    return per


def stored_part_bytes(facts: dict, row: dict | None = None,
                      dtype: str | None = None) -> dict[str, float]:
    """Bytes of each part in format `row` (default: the checkpoint's own), the unquantized parts
    in `dtype` (default: the checkpoint's torch_dtype), from the parameter counts alone: not
    scaled to the checkpoint's real size."""
    if row is None:
        row = checkpoint_format({**facts, "torch_dtype": dtype} if dtype else facts)[1]
    dtype_bytes = DTYPE_BYTES.get(dtype or facts.get("torch_dtype") or "bf16", 2)
    return {p: n * bytes_per_param(row, p, dtype_bytes) for p, n in model_params(facts).items()}


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
