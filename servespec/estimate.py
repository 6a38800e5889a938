"""`servespec plan`: memory fit, KV-cache capacity, cost and cold start of one spec.

Pure arithmetic over three kinds of data: the validated spec, the model facts
(specs/models/*.yaml) and the catalogs (gpus.yaml for HBM and prices, planning.yaml for every
assumption). Nothing here imports torch, SGLang or huggingface_hub, so validate and render stay
fast; tests/test_plan.py checks the KV formula against SGLang's own code.

How SGLang 0.5.23 spends a GPU (srt/mem_cache/kv_cache_configurator.py
_profile_available_bytes): the static pool is mem_fraction_static x GPU memory; it holds the
weights, some runtime buffers and the KV cache, which gets whatever is left. The rest of the GPU
(1 - mem_fraction_static) is for activations and CUDA graphs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from . import catalog

GIB = 1 << 30
KIB = 1 << 10
GB = 10**9

# --- SGLang's KV layout constants (sglang 0.5.23 srt/mem_cache/memory_pool.py DSATokenToKVPool)
DSA_QUANT_BLOCK = 128  # quant_block_size: one fp32 scale per 128 FP8 values
FP32_SCALE_BYTES = 4
ROPE_STORAGE_BYTES = 2  # rope_storage_dtype = bfloat16: the rope part is never quantised
INDEXER_ELEMENT_BYTES = 1  # index_k_with_scale_buffer_dtype = uint8, whatever the KV dtype
KV_DTYPE_BYTES = {"bf16": 2, "fp8_e4m3": 1}
WEIGHT_DTYPE_BYTES = {"bf16": 2, "fp8_e4m3": 1}
BF16_BYTES = 2  # router and indexer weights_proj stay BF16 in FP8 checkpoints


class EstimateError(Exception):
    """The facts or the spec lack something the plan needs; the message says what."""


@dataclass(frozen=True)
class Estimate:
    """Every figure of one plan, per GPU unless the name says otherwise."""

    spec: str
    gpu: str
    gpus_per_node: int
    nodes: int
    tensor: int
    pipeline: int
    data: int
    hbm_bytes: int
    # weights
    checkpoint_bytes: int
    weights_per_gpu_bytes: int
    replicated_weights_bytes: int  # of which held whole on every TP rank (MLA a-proj, indexer, router)
    # KV cache
    kv_cache_dtype: str
    kv_layers: int  # target layers on the largest pipeline stage + EAGLE draft layers
    kv_bytes_per_token: int
    kv_bytes_per_token_bf16: int
    kv_bytes_per_token_fp8: int
    mem_fraction_static: float
    mem_fraction_from_sglang_default: bool
    static_pool_bytes: int
    runtime_overhead_bytes: int
    kv_pool_bytes: int  # negative when the weights do not fit
    kv_tokens: int  # per model copy (every GPU of a copy holds the KV of every token)
    context_length: int
    full_context_sequences: int  # per replica (all model copies)
    max_running_requests: int | None
    # headroom outside the static pool
    headroom_bytes: int
    sglang_reserve_bytes: int
    sglang_default_mem_fraction: float
    # cost
    usd_per_gpu_second: float
    usd_per_hour_replica: float
    usd_per_hour_max: float
    usd_per_hour_idle: float
    min_replicas: int
    max_replicas: int
    # cold start
    volume_read_gb_per_s: float
    weights_read_s: float
    engine_start_s: float
    cold_start_s: float
    scaledown_window_s: int
    burst_usd: float
    notes: list[str] = field(default_factory=list)

    # --- derived figures -----------------------------------------------------------------

    @property
    def total_gpus(self) -> int:
        return self.gpus_per_node * self.nodes

    @property
    def weights_fit(self) -> bool:
        return self.kv_pool_bytes > 0

    @property
    def kv_fits_one_sequence(self) -> bool:
        return self.kv_tokens >= self.context_length

    @property
    def headroom_ratio(self) -> float:
        return self.headroom_bytes / self.sglang_reserve_bytes if self.sglang_reserve_bytes else 1.0

    def to_json(self) -> dict:
        """Grouped, with units in every key, for `servespec plan --format json`."""
        return {
            "spec": self.spec,
            "hardware": {
                "gpu": self.gpu, "gpus_per_node": self.gpus_per_node, "nodes": self.nodes,
                "total_gpus": self.total_gpus, "hbm_gib": _gib(self.hbm_bytes),
            },
            "parallelism": {"tensor": self.tensor, "pipeline": self.pipeline, "data": self.data},
            "weights": {
                "checkpoint_bytes": self.checkpoint_bytes,
                "per_gpu_bytes": self.weights_per_gpu_bytes,
                "per_gpu_gb": round(self.weights_per_gpu_bytes / GB, 2),
                "per_gpu_gib": _gib(self.weights_per_gpu_bytes),
                "replicated_per_gpu_bytes": self.replicated_weights_bytes,
                "fits": self.weights_fit,
            },
            "kv_cache": {
                "dtype": self.kv_cache_dtype,
                "layers": self.kv_layers,
                "bytes_per_token": self.kv_bytes_per_token,
                "kib_per_token": round(self.kv_bytes_per_token / KIB, 2),
                "bytes_per_token_by_dtype": {"bf16": self.kv_bytes_per_token_bf16,
                                             "fp8_e4m3": self.kv_bytes_per_token_fp8},
                "mem_fraction_static": self.mem_fraction_static,
                "mem_fraction_is_sglang_default": self.mem_fraction_from_sglang_default,
                "static_pool_gib": _gib(self.static_pool_bytes),
                "runtime_overhead_gib": _gib(self.runtime_overhead_bytes),
                "pool_gib": _gib(self.kv_pool_bytes),
                "tokens": self.kv_tokens,
                "context_length": self.context_length,
                "full_context_sequences": self.full_context_sequences,
                "tokens_per_running_request": self.tokens_per_running_request,
            },
            "headroom": {
                "outside_static_gib": _gib(self.headroom_bytes),
                "sglang_reserve_gib": _gib(self.sglang_reserve_bytes),
                "ratio": round(self.headroom_ratio, 3),
                "sglang_default_mem_fraction": self.sglang_default_mem_fraction,
            },
            "cost": {
                "usd_per_gpu_second": self.usd_per_gpu_second,
                "usd_per_hour_per_replica": round(self.usd_per_hour_replica, 2),
                "usd_per_hour_at_max_replicas": round(self.usd_per_hour_max, 2),
                "usd_per_hour_idle": round(self.usd_per_hour_idle, 2),
                "min_replicas": self.min_replicas,
                "max_replicas": self.max_replicas,
                "scale_up_burst_min_usd": round(self.burst_usd, 2),
                "price_date": catalog.gpu_prices()["date"],
                "price_source": catalog.gpu_prices()["source"],
            },
            "cold_start": {
                "estimate_s": round(self.cold_start_s),
                "weights_read_s": round(self.weights_read_s),
                "engine_start_s": round(self.engine_start_s),
                "volume_read_gb_per_s": self.volume_read_gb_per_s,
                "scaledown_window_s": self.scaledown_window_s,
            },
            "notes": list(self.notes),
        }

    @property
    def tokens_per_running_request(self) -> int | None:
        if not self.max_running_requests:
            return None
        return self.kv_tokens * self.data // self.max_running_requests


def _gib(n: int) -> float:
    return round(n / GIB, 2)


# --- the model: weights and KV bytes ----------------------------------------------------------


def _need(facts: dict, *path: str):
    value = facts
    for part in path:
        if not isinstance(value, dict) or value.get(part) is None:
            raise EstimateError(f"model facts lack {'.'.join(path)}")
        value = value[part]
    return value


def _mtp_layers(facts: dict, spec: dict) -> int:
    """EAGLE drafts with the checkpoint's MTP layers, which get KV of their own."""
    if spec["speculative"]["algorithm"] == "none":
        return 0
    return int(facts.get("num_nextn_predict_layers") or 0)


def replicated_params_per_layer(facts: dict) -> tuple[int, int]:
    """(parameters stored in the weights' dtype, parameters in BF16) that every TP rank holds whole.

    sglang 0.5.23 builds these as ReplicatedLinear: the MLA down-projections
    fused_qkv_a_proj_with_mqa (models/deepseek_v2.py:2070) and the DSA indexer's wq_b, wk and
    BF16 weights_proj (layers/attention/dsa/dsa_indexer.py:344-374). The MoE router is one
    BF16 matrix per MoE layer, also whole on every rank. Everything else is split by TP.
    """
    att = facts.get("attention") or {}
    if att.get("kind") != "mla":
        return 0, 0
    hidden = _need(facts, "hidden_size")
    q_lora = att.get("q_lora_rank") or 0
    a_proj = hidden * (q_lora + _need(facts, "attention", "kv_lora_rank")
                       + _need(facts, "attention", "qk_rope_head_dim"))
    quantised, bf16 = a_proj, 0
    idx = facts.get("indexer")
    if idx:
        heads, dim = _need(facts, "indexer", "num_heads"), _need(facts, "indexer", "head_dim")
        quantised += q_lora * heads * dim + hidden * dim  # wq_b, wk
        bf16 += hidden * heads  # weights_proj
    return quantised, bf16


def weights_per_gpu(facts: dict, spec: dict) -> tuple[int, int]:
    """(bytes per GPU, of which held whole on every TP rank): the checkpoint split over TP x PP,
    except the layers TP keeps whole. Expert parallelism moves experts between the same GPUs, so it changes
    nothing here. Not modelled (under 1% at TP8): SGLang's BF16 copies of the absorbed
    kv_b_proj (w_kc, w_vc)."""
    par = spec["parallelism"]
    split = par["tensor"] * par["pipeline"]
    checkpoint = int(_need(facts, "checkpoint_bytes"))
    layers = int(_need(facts, "num_hidden_layers")) + int(facts.get("num_nextn_predict_layers") or 0)
    quantised, bf16 = replicated_params_per_layer(facts)
    wbytes = WEIGHT_DTYPE_BYTES.get(facts.get("weights_dtype"), BF16_BYTES)
    replicated = layers * (quantised * wbytes + bf16 * BF16_BYTES) + _router_bytes(facts)
    replicated = min(replicated, checkpoint)
    per_gpu = (checkpoint - replicated) / split + replicated / par["pipeline"]
    return int(per_gpu), int(replicated / par["pipeline"])


def _router_bytes(facts: dict) -> int:
    moe = facts.get("moe")
    if not moe:
        return 0
    moe_layers = (int(facts["num_hidden_layers"]) - int(moe.get("first_k_dense_replace") or 0)
                  + int(facts.get("num_nextn_predict_layers") or 0))
    return moe_layers * int(moe["n_routed_experts"]) * int(facts["hidden_size"]) * BF16_BYTES


def mla_row_bytes(facts: dict, kv_dtype: str, arch: str) -> int:
    """Bytes of one token's MLA latent in one layer, as SGLang's calculate_mla_kv_cache_dim x
    element size: kv_lora_rank + qk_rope_head_dim values, FP8 rows on non-trtllm DSA backends
    carrying fp32 scales and a BF16 rope part. MLA stores one latent per token (head_num 1),
    so tensor parallelism does not split it."""
    rank = int(_need(facts, "attention", "kv_lora_rank"))
    rope = int(_need(facts, "attention", "qk_rope_head_dim"))
    if kv_dtype == "bf16":
        return (rank + rope) * KV_DTYPE_BYTES["bf16"]
    layout = catalog.planning()["kv_cache"]["dsa_fp8_layout_by_arch"].get(arch, "scaled")
    if not facts.get("indexer") or layout == "raw":
        return rank + rope
    return rank + rank // DSA_QUANT_BLOCK * FP32_SCALE_BYTES + rope * ROPE_STORAGE_BYTES


def indexer_row_bytes(facts: dict) -> int:
    """The DSA indexer's K cache per token per layer: head_dim FP8 values plus one fp32 scale per
    128, stored as uint8 whatever the KV dtype (pool_configurator.py
    _compute_dsa_indexer_cell_size)."""
    idx = facts.get("indexer")
    if not idx:
        return 0
    dim = int(_need(facts, "indexer", "head_dim"))
    kpool = int(idx.get("kpool") or 1)
    return -(-(dim + dim // DSA_QUANT_BLOCK * FP32_SCALE_BYTES) // kpool) * INDEXER_ELEMENT_BYTES


def kv_bytes_per_token(facts: dict, spec: dict, kv_dtype: str, arch: str) -> tuple[int, int]:
    """(bytes per token per GPU, KV layers): target layers of the largest pipeline stage with the
    indexer cache on every layer that computes its own top-k, plus the EAGLE draft layers, which
    SGLang sizes like target layers and always gives an indexer cache (pool_configurator.py
    DefaultPoolConfigurator.__init__)."""
    att = facts.get("attention") or {}
    layers = int(_need(facts, "num_hidden_layers"))
    pp = spec["parallelism"]["pipeline"]
    stage_layers = math.ceil(layers / pp)
    draft = _mtp_layers(facts, spec)
    if att.get("kind") == "mla":
        row = mla_row_bytes(facts, kv_dtype, arch)
        idx = indexer_row_bytes(facts)
        shared = int((facts.get("indexer") or {}).get("shared_layers") or 0)
        indexed = stage_layers - math.ceil(shared / pp)
        return (stage_layers + draft) * row + (indexed + draft) * idx, stage_layers + draft
    # Multi-head / grouped-query attention: K and V for each KV head this rank holds.
    heads = int(_need(facts, "attention", "num_key_value_heads"))
    head_dim = int(_need(facts, "attention", "head_dim"))
    local_heads = max(1, heads // spec["parallelism"]["tensor"])
    per_layer = 2 * local_heads * head_dim * KV_DTYPE_BYTES[kv_dtype]
    return (stage_layers + draft) * per_layer, stage_layers + draft


# --- SGLang's own memory heuristics -----------------------------------------------------------


def sglang_reserve_mib(spec: dict, hbm_mib: float, mla: bool = True) -> float:
    """What SGLang 0.5.23 would keep outside the static pool for activations and CUDA graphs
    (memory_hook.py handle_gpu_memory_settings); its default mem_fraction_static is
    (memory - this) / memory."""
    r = catalog.planning()["sglang_reserve"]
    eng, par = spec["engine"], spec["parallelism"]
    chunked = eng.get("chunked_prefill_size") or _default_chunked_prefill(hbm_mib)
    reserve = r["base_mib"] + max(chunked, r["min_activation_tokens"]) * r["mib_per_activation_token"]
    reserve += par["tensor"] * par["pipeline"] / 8 * r["mib_per_8_gpus_of_tp_x_pp"]
    reserve += _decode_graph_max_bs(spec) * r["mib_per_decode_graph_bs"]
    if mla:  # breakable prefill graphs, on by default on CUDA, cost more with MLA
        reserve += r["mla_prefill_graph_mib"]
    if hbm_mib > r["floor_above_gpu_mib"]:
        reserve = max(reserve, r["floor_mib"])
    return reserve


def _default_chunked_prefill(hbm_mib: float) -> int:
    for row in catalog.planning()["sglang_reserve"]["default_chunked_prefill"]:
        if row["below_mib"] is None or hbm_mib < row["below_mib"]:
            return row["tokens"]
    raise AssertionError("planning.yaml default_chunked_prefill needs a last row without a bound")


def _max_running_requests(spec: dict) -> int | None:
    eng = spec["engine"]
    if eng.get("max_running_requests"):
        return eng["max_running_requests"]
    if spec["speculative"]["algorithm"] != "none":
        return catalog.planning()["sglang_reserve"]["eagle_default_max_running_requests"]
    return None


def _decode_graph_max_bs(spec: dict) -> int:
    if spec["engine"].get("cuda_graph_max_bs"):
        return spec["engine"]["cuda_graph_max_bs"]
    default = catalog.planning()["sglang_reserve"]["default_decode_graph_max_bs"]
    cap = _max_running_requests(spec)
    return min(default, cap) if cap else default


def resolved_kv_dtype(spec: dict, facts: dict, arch: str) -> str:
    """The KV dtype SGLang 0.5.23 runs with: 'auto' means FP8 for DSA models on SM100 and above
    (_dsa_kv_cache_dtype_default, reference notes section 0), the model's BF16 otherwise."""
    kv = spec["precision"]["kv_cache"]
    if kv != "auto":
        return kv
    return "fp8_e4m3" if facts.get("indexer") and arch == "sm100" else "bf16"


# --- the estimate -----------------------------------------------------------------------------


def estimate(spec: dict, facts: dict, name: str = "") -> Estimate:
    """Every figure of the plan for one validated spec (defaults filled) and its model facts."""
    if not facts:
        raise EstimateError("the spec names no model facts (model.facts)")
    hw, par, eng = spec["hardware"], spec["parallelism"], spec["engine"]
    gpu = catalog.gpus()[hw["gpu"]]
    plan_cfg = catalog.planning()
    hbm = int(gpu["hbm_gib"] * GIB)
    hbm_mib = gpu["hbm_gib"] * 1024
    mla = (facts.get("attention") or {}).get("kind") == "mla"

    weights, replicated = weights_per_gpu(facts, spec)
    kv_dtype = resolved_kv_dtype(spec, facts, gpu["arch"])
    per_token, layers = kv_bytes_per_token(facts, spec, kv_dtype, gpu["arch"])
    bf16, _ = kv_bytes_per_token(facts, spec, "bf16", gpu["arch"])
    fp8, _ = kv_bytes_per_token(facts, spec, "fp8_e4m3", gpu["arch"])

    reserve_mib = sglang_reserve_mib(spec, hbm_mib, mla)
    default_fraction = round((hbm_mib - reserve_mib) / hbm_mib, 3)
    fraction = eng.get("mem_fraction_static") or default_fraction
    static = int(fraction * hbm)
    overhead = int(plan_cfg["memory"]["runtime_overhead_gib"] * GIB)
    pool = static - weights - overhead
    page = plan_cfg["memory"]["dsa_page_size_tokens"] if facts.get("indexer") else 1
    tokens = max(pool, 0) // per_token // page * page if per_token else 0
    context = spec["model"]["context_length"]

    return Estimate(
        spec=name, gpu=hw["gpu"], gpus_per_node=hw["gpus_per_node"], nodes=hw["nodes"],
        tensor=par["tensor"], pipeline=par["pipeline"], data=par["data"], hbm_bytes=hbm,
        checkpoint_bytes=int(facts["checkpoint_bytes"]), weights_per_gpu_bytes=weights,
        replicated_weights_bytes=replicated,
        kv_cache_dtype=kv_dtype, kv_layers=layers, kv_bytes_per_token=per_token,
        kv_bytes_per_token_bf16=bf16, kv_bytes_per_token_fp8=fp8,
        mem_fraction_static=fraction,
        mem_fraction_from_sglang_default=eng.get("mem_fraction_static") is None,
        static_pool_bytes=static, runtime_overhead_bytes=overhead, kv_pool_bytes=pool,
        kv_tokens=tokens, context_length=context,
        full_context_sequences=tokens // context * par["data"] if context else 0,
        max_running_requests=_max_running_requests(spec),
        headroom_bytes=hbm - static, sglang_reserve_bytes=int(reserve_mib * (1 << 20)),
        sglang_default_mem_fraction=default_fraction,
        **_cost_and_cold_start(spec, facts, gpu["usd_per_second"]),
        notes=_notes(spec, default_fraction),
    )


def _cost_and_cold_start(spec: dict, facts: dict, usd_per_gpu_second: float) -> dict:
    """Modal bills every GPU of every node by the second; a scale-up pays at least the cold start
    plus one scaledown window before the replica may stop."""
    hw, sc = spec["hardware"], spec["scaling"]
    start = catalog.planning()["cold_start"]
    replica_s = usd_per_gpu_second * hw["gpus_per_node"] * hw["nodes"]
    rate = start["volume_read_gb_per_s"]
    read_s = int(_need(facts, "checkpoint_bytes")) / (rate * GB)
    engine_s = float(start["engine_start_s"])
    return {
        "usd_per_gpu_second": usd_per_gpu_second,
        "usd_per_hour_replica": replica_s * 3600,
        "usd_per_hour_max": replica_s * 3600 * sc["max_replicas"],
        "usd_per_hour_idle": replica_s * 3600 * sc["min_replicas"],
        "min_replicas": sc["min_replicas"], "max_replicas": sc["max_replicas"],
        "volume_read_gb_per_s": rate, "weights_read_s": read_s, "engine_start_s": engine_s,
        "cold_start_s": read_s + engine_s, "scaledown_window_s": sc["scaledown_window"],
        "burst_usd": replica_s * (read_s + engine_s + sc["scaledown_window"]),
    }


def _notes(spec: dict, default_fraction: float) -> list[str]:
    notes = []
    if spec["serving"].get("region"):
        lo, hi = catalog.planning()["cost"]["region_multiplier_range"]
        notes.append(f"serving.region is set: Modal adds a {lo}x-{hi}x region multiplier, "
                     "not included in these prices")
    if spec["engine"].get("mem_fraction_static") is None:
        notes.append(f"mem_fraction_static unset: SGLang's own default {default_fraction} assumed")
    return notes


def fraction_for_tokens(est: Estimate, tokens: int) -> float:
    """The mem_fraction_static that would give the KV pool room for `tokens` tokens."""
    needed = est.weights_per_gpu_bytes + est.runtime_overhead_bytes + tokens * est.kv_bytes_per_token
    return math.ceil(needed / est.hbm_bytes * 1000) / 1000


# --- presentation ---------------------------------------------------------------------------


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 90 else f"{seconds:.0f} s"


def summary_line(name: str, est: Estimate) -> str:
    """One line per spec for `make render`."""
    topo = f"{est.gpus_per_node}x {est.gpu}" + (f" x {est.nodes} nodes" if est.nodes > 1 else "")
    if not est.weights_fit:
        kv = "no KV cache: the weights do not fit"
    else:
        kv = (f"KV {est.kv_cache_dtype} {est.kv_bytes_per_token / KIB:.1f} KiB/token ->"
              f" {est.kv_tokens:,} tokens = {est.full_context_sequences} x {est.context_length:,}")
    return (f"{name}: {topo}, TP{est.tensor} | weights {est.weights_per_gpu_bytes / GIB:.1f} GiB/GPU"
            f" of {est.hbm_bytes / GIB:.0f} | {kv} | ${est.usd_per_hour_replica:.2f}/h per replica,"
            f" ${est.usd_per_hour_max:.2f}/h at {est.max_replicas} | cold start"
            f" >= {_minutes(est.cold_start_s)}, scale-up burst >= ${est.burst_usd:.2f}")


def _gib_text(n: int) -> str:
    return f"{n / GIB:.1f} GiB"


def _memory_rows(est: Estimate) -> list[tuple[str, str]]:
    other = "fp8_e4m3" if est.kv_cache_dtype == "bf16" else "bf16"
    other_bytes = est.kv_bytes_per_token_fp8 if other == "fp8_e4m3" else est.kv_bytes_per_token_bf16
    default = " (SGLang default)" if est.mem_fraction_from_sglang_default else ""
    weights = (f"{_gib_text(est.weights_per_gpu_bytes)} ({est.weights_per_gpu_bytes / GB:.1f} GB)"
               f" of {_gib_text(est.hbm_bytes)} HBM, {_gib_text(est.replicated_weights_bytes)}"
               " of it layers TP does not split")
    kv = (f"{est.kv_bytes_per_token / KIB:.1f} KiB {est.kv_cache_dtype} over {est.kv_layers}"
          f" layers ({other}: {other_bytes / KIB:.1f} KiB)")
    static = (f"{est.mem_fraction_static}{default} x {_gib_text(est.hbm_bytes)} ="
              f" {_gib_text(est.static_pool_bytes)}: weights,"
              f" {_gib_text(est.runtime_overhead_bytes)} runtime buffers, KV")
    rows = [("weights per GPU", weights), ("KV per token per GPU", kv), ("static pool", static)]
    if not est.weights_fit:
        over = _gib_text(-est.kv_pool_bytes)
        return [*rows, ("KV cache", f"none: weights and buffers exceed the static pool by {over}")]
    per_req = est.tokens_per_running_request
    sequences = f"{est.full_context_sequences} x {est.context_length:,} tokens"
    if per_req:
        sequences += f"; {per_req:,} tokens each at {est.max_running_requests} running"
    return [*rows, ("KV cache", f"{_gib_text(est.kv_pool_bytes)} -> {est.kv_tokens:,} tokens"),
            ("full-context sequences", sequences)]


def _money_rows(est: Estimate) -> list[tuple[str, str]]:
    headroom = (f"{_gib_text(est.headroom_bytes)} outside the pool; SGLang would reserve"
                f" {_gib_text(est.sglang_reserve_bytes)} (its default fraction:"
                f" {est.sglang_default_mem_fraction})")
    cost = (f"${est.usd_per_hour_replica:.2f}/h per replica, ${est.usd_per_hour_max:.2f}/h at"
            f" {est.max_replicas} replicas, ${est.usd_per_hour_idle:.2f}/h idle"
            f" ({est.min_replicas} warm)")
    cold = (f">= {_minutes(est.cold_start_s)}: {est.checkpoint_bytes / GB:.0f} GB at"
            f" {est.volume_read_gb_per_s} GB/s ({_minutes(est.weights_read_s)}) + engine start"
            f" ({_minutes(est.engine_start_s)})")
    burst = (f">= ${est.burst_usd:.2f}: one replica for cold start +"
             f" {est.scaledown_window_s} s scaledown window")
    return [("headroom", headroom), ("cost", cost), ("cold start", cold),
            ("scale-up burst", burst)]


def format_table(name: str, est: Estimate) -> str:
    """The human-readable plan of one spec."""
    topo = (f"{est.gpus_per_node}x {est.gpu} x {est.nodes} node(s) = {est.total_gpus} GPUs,"
            f" TP{est.tensor} PP{est.pipeline} DP{est.data}")
    rows = [("hardware", topo), *_memory_rows(est), *_money_rows(est)]
    width = max(len(label) for label, _ in rows)
    lines = [name] + [f"  {label.ljust(width)}  {value}" for label, value in rows]
    lines += [f"  note: {note}" for note in est.notes]
    return "\n".join(lines)
