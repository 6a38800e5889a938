"""KV-cache bytes per token, per attention family, as SGLang 0.5.23 sizes its pools.

SGLang turns a memory budget into a token count by dividing it by a per-token "cell size"
(sglang 0.5.23 srt/model_executor/pool_configurator.py). This module computes that cell size
from the model facts, without torch or SGLang; tests/test_estimate.py runs SGLang's own
configurator on CPU for one model of each family and compares.

  MLA (DeepSeek-V3, Kimi): one latent of kv_lora_rank + qk_rope_head_dim per token per layer
      (mem_cache/kv_cache_configurator.py calculate_mla_kv_cache_dim). One latent per token, so
      tensor parallelism does not split it: every attention-TP rank holds all of it.
  MLA + DSA indexer (DeepSeek-V3.2, GLM-5): the latent plus the indexer's FP8 K cache with one
      fp32 scale per 128 values, stored as uint8 in every layer that computes its own top-k
      (DefaultPoolConfigurator._compute_dsa_indexer_cell_size).
  GQA / MHA: K and V of each KV head the rank holds: max(1, kv_heads // attention TP) heads
      (configs/model_config.py get_num_kv_heads), so heads split across TP when there are
      enough of them and are replicated otherwise.
  Sliding-window hybrids (gpt-oss): for architectures SGLang runs with a separate SWA pool
      (HybridSWAPoolConfigurator), a token of the full pool costs the full layers' K/V plus
      swa_full_tokens_ratio x the sliding layers' K/V; other models keep full KV everywhere.
  MTP / EAGLE draft layers: EAGLE, NEXTN and EAGLE3 drafts get KV of their own, sized like
      target layers (DefaultPoolConfigurator.__init__: "assumes the draft shares the target's
      per-layer KV size"); DSA drafts always get an indexer cache.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from renderer import catalog
from renderer.facts.params import FactError, attention_kind, need_int
from renderer.resolve import sglang_args

KVError = FactError  # a fact the KV sizing needs is missing

DSA_QUANT_BLOCK = 128  # DSATokenToKVPool.quant_block_size: one fp32 scale per 128 FP8 values
FP32_SCALE_BYTES = 4
ROPE_STORAGE_BYTES = 2  # rope_storage_dtype = bfloat16: the rope part is never quantised
INDEXER_ELEMENT_BYTES = 1  # index_k_with_scale_buffer_dtype = uint8, whatever the KV dtype
KV_DTYPE_BYTES = {"bf16": 2, "fp16": 2, "fp8_e4m3": 1, "fp8_e5m2": 1}


@dataclass(frozen=True)
class KVLayout:
    """One rank's KV pool: bytes per full-pool token and how they are made up."""

    bytes_per_token: int  # SGLang's cell size (whole bytes): the divisor of the pool budget
    layers: int  # target layers on this rank's pipeline stage + draft layers
    full_layers: int
    swa_layers: int  # sliding-window layers in a separate pool (0 when SGLang has none)
    swa_ratio: float  # SWA-pool tokens per full-pool token
    draft_layers: int
    page_size: int
    cell_bytes: float = 0.0  # the exact cell size: the SWA share may be a fraction of a byte

    @property
    def divisor(self) -> float:
        return self.cell_bytes or self.bytes_per_token


kind = attention_kind  # mla, mla_dsa, gqa or mha


def mla_row_bytes(facts: dict, kv_dtype: str, arch: str) -> int:
    """One token's MLA latent in one layer (calculate_mla_kv_cache_dim x element size); FP8 rows
    on non-trtllm DSA backends carry fp32 scales and a BF16 rope part."""
    rank = need_int(facts, "attention", "kv_lora_rank")
    rope = need_int(facts, "attention", "qk_rope_head_dim")
    if KV_DTYPE_BYTES[kv_dtype] == 2:
        return (rank + rope) * 2
    layout = catalog.sglang_defaults()["kv_cache"]["dsa_fp8_layout_by_arch"].get(arch, "scaled")
    if kind(facts) != "mla_dsa" or layout == "raw":
        return rank + rope
    return rank + rank // DSA_QUANT_BLOCK * FP32_SCALE_BYTES + rope * ROPE_STORAGE_BYTES


def indexer_row_bytes(facts: dict) -> int:
    """The DSA indexer's K cache per token per layer (pool_configurator.py
    _compute_dsa_indexer_cell_size)."""
    idx = facts.get("indexer")
    if not idx:
        return 0
    dim = need_int(facts, "indexer", "head_dim")
    kpool = int(idx.get("kpool") or 1)
    return -(-(dim + dim // DSA_QUANT_BLOCK * FP32_SCALE_BYTES) // kpool) * INDEXER_ELEMENT_BYTES


def gqa_row_bytes(facts: dict, kv_dtype: str, attn_tp: int) -> int:
    """K and V of the KV heads one attention-TP rank holds, in one layer."""
    heads = need_int(facts, "attention", "num_key_value_heads")
    dim = need_int(facts, "attention", "head_dim")
    return 2 * max(1, heads // attn_tp) * dim * KV_DTYPE_BYTES[kv_dtype]


def sliding_layers(facts: dict) -> int:
    """Layers SGLang keeps in a separate sliding-window pool: only for the architectures it runs
    as hybrid SWA (catalog/sglang_defaults.yaml), counted from config.json's layer_types."""
    att = facts.get("attention") or {}
    hybrid = catalog.sglang_defaults()["kv_cache"]["hybrid_swa_architectures"]
    if facts.get("architecture") not in hybrid or not att.get("sliding_window"):
        return 0
    return sum(1 for t in att.get("layer_types") or [] if t == "sliding_attention")


def layout(facts: dict, spec: dict, kv_dtype: str, arch: str, draft_layers: int) -> KVLayout:
    """The KV pool of one rank of the largest pipeline stage."""
    par = spec["parallelism"]
    pp = int(par["pipeline"])
    attn_tp = max(1, int(par["tensor"]) // int(par.get("attention_data") or 1))
    layers = need_int(facts, "num_hidden_layers")
    stage = math.ceil(layers / pp)
    defaults = catalog.sglang_defaults()["kv_cache"]
    family = kind(facts)
    if family.startswith("mla"):
        row = mla_row_bytes(facts, kv_dtype, arch)
        idx = indexer_row_bytes(facts)
        shared = int((facts.get("indexer") or {}).get("shared_layers") or 0)
        indexed = stage - math.ceil(shared / pp)
        cell = (stage + draft_layers) * row + (indexed + draft_layers) * idx
        page = defaults["dsa_page_size_tokens"] * int((facts.get("indexer") or {}).get("kpool") or 1) \
            if family == "mla_dsa" else 1
        return KVLayout(cell, stage + draft_layers, stage, 0, 0.0, draft_layers, page)
    row = gqa_row_bytes(facts, kv_dtype, attn_tp)
    swa = math.ceil(sliding_layers(facts) / pp)
    # --swa-full-tokens-ratio has no spec field: engine.extra_args owns it and the estimate reads
    # it there (catalog/sglang_flags.yaml extra_args).
    given = sglang_args.extra_arg(spec, "swa-full-tokens-ratio")
    ratio = float(given or defaults["swa_full_tokens_ratio"]) if swa else 0.0
    full = stage - swa
    # HybridSWAPoolConfigurator._recompute_cell_size: full rows + ratio x sliding rows.
    cell = (full + draft_layers) * row + ratio * swa * row
    return KVLayout(math.ceil(cell), stage + draft_layers, full, swa, ratio, draft_layers, 1, cell)


def with_page_size(layout: KVLayout, facts: dict, page_size: int | None) -> KVLayout:
    """The layout with SGLang's resolved page size (None keeps the layout's own); a DSA pool's
    page spans index kpool pages (kv_cache_configurator.py pool_page_size)."""
    if not page_size:
        return layout
    scale = int((facts.get("indexer") or {}).get("kpool") or 1) if kind(facts) == "mla_dsa" else 1
    return dataclasses.replace(layout, page_size=int(page_size) * scale)


def tokens(pool_bytes: int, kv: KVLayout) -> int:
    """Full-pool tokens SGLang sizes from `pool_bytes` (calculate_pool_sizes), whole pages."""
    if pool_bytes <= 0 or kv.divisor <= 0:
        return 0
    return int(pool_bytes // kv.divisor) // kv.page_size * kv.page_size
