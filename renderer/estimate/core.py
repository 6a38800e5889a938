"""`servespec estimate`: memory fit, KV-cache capacity, cost and cold start of one spec.

Pure arithmetic over the validated spec, the model facts (specs/models/*.yaml) and the catalogs:
gpus.yaml (memory, prices), quantization.yaml (bytes per weight format), sglang_defaults.yaml
(what SGLang 0.5.23 picks by itself) and planning.yaml (this tool's own assumptions). Nothing
here imports torch, SGLang or huggingface_hub, so validate and render stay fast;
tests/test_estimate.py checks the KV sizing against SGLang's own code for each attention family.

How SGLang 0.5.23 spends a GPU (srt/mem_cache/kv_cache_configurator.py
_profile_available_bytes): the static pool is mem_fraction_static x GPU memory; it holds the
weights, some runtime buffers and the KV cache, which gets whatever is left. The rest of the GPU
(1 - mem_fraction_static) is for activations and CUDA graphs. Weights: renderer/estimate/weights.py;
KV per family: renderer/estimate/kv.py; SGLang's defaults: renderer/estimate/sglang_memory.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from renderer import catalog
from renderer.estimate import coldstart, kv, sglang_memory, weights
from renderer.facts.params import FactError
from renderer.resolve import regions
from renderer.resolve.sglang_resolved import Resolved
from renderer.resolve.support import capability, kv_cache_dtype, speculative_mode

GIB = 1 << 30
KIB = 1 << 10
GB = 10**9


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
    expert: int
    attention_data: int
    hbm_bytes: int
    # weights
    checkpoint_bytes: int
    draft_checkpoint_bytes: int
    weights_per_gpu_bytes: int
    replicated_weights_bytes: int  # of which held whole on every TP rank (MLA a-proj, indexer, router)
    # KV cache (one pool; attention data parallelism gives each DP rank a pool of its own)
    attention_kind: str
    kv_cache_dtype: str
    kv_layers: int  # target layers on the largest pipeline stage + draft layers
    kv_draft_layers: int
    kv_swa_layers: int  # of the target layers, those in SGLang's separate sliding-window pool
    kv_swa_ratio: float
    kv_bytes_per_token: int  # per full-pool token, sliding-window share included
    kv_bytes_per_token_bf16: int
    kv_bytes_per_token_fp8: int
    mem_fraction_static: float
    mem_fraction_from_sglang_default: bool
    chunked_prefill_size: int  # per attention-DP rank
    cuda_graph_max_bs: int  # decode graphs, captured on every rank up to this batch
    page_size: int  # tokens per KV page; the pool holds whole pages
    static_pool_bytes: int
    runtime_overhead_bytes: int
    kv_pool_bytes: int  # negative when the weights do not fit
    kv_tokens: int  # per pool (every GPU of an attention-TP group holds the KV of every token)
    kv_pools: int
    context_length: int
    full_context_sequences: int  # per replica (all model copies)
    max_running_requests: int | None  # as the spec (or SGLang's default) sets it, all ranks
    max_running_requests_per_rank: int | None  # what each attention-DP rank's scheduler admits
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
    cold_start_miss_s: float = 0.0  # with no cache in the volume (renderer/estimate/coldstart.py)
    cold_start_phases: list[dict] = field(default_factory=list)
    dtype: str | None = None  # the target's unquantized weights and activations
    # rendered/<name>/sglang.resolved.json when SGLang's own resolution supplied the engine's
    # values above (renderer/resolve/sglang_resolved.py), else None: servespec's derivation
    resolved_from: str | None = None
    resolved_by: str | None = None  # "SGLang 0.5.23"

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
        """Grouped, with units in every key, for `servespec estimate --format json`."""
        return {
            "spec": self.spec,
            "hardware": {
                "gpu": self.gpu, "gpus_per_node": self.gpus_per_node, "nodes": self.nodes,
                "total_gpus": self.total_gpus, "hbm_gib": _gib(self.hbm_bytes),
            },
            "parallelism": {"tensor": self.tensor, "pipeline": self.pipeline, "data": self.data,
                            "expert": self.expert, "attention_data": self.attention_data},
            "weights": {
                "checkpoint_bytes": self.checkpoint_bytes,
                "per_gpu_bytes": self.weights_per_gpu_bytes,
                "per_gpu_gb": round(self.weights_per_gpu_bytes / GB, 2),
                "per_gpu_gib": _gib(self.weights_per_gpu_bytes),
                "replicated_per_gpu_bytes": self.replicated_weights_bytes,
                "draft_checkpoint_bytes": self.draft_checkpoint_bytes,
                "fits": self.weights_fit,
            },
            "kv_cache": self._kv_json(),
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
                "cache_miss_s": round(self.cold_start_miss_s),
                "phases": self.cold_start_phases,
            },
            "notes": list(self.notes),
        }

    def _kv_json(self) -> dict:
        return {
            "attention_kind": self.attention_kind,
            "dtype": self.kv_cache_dtype,
            "layers": self.kv_layers,
            "draft_layers": self.kv_draft_layers,
            "sliding_window_layers": self.kv_swa_layers,
            "swa_full_tokens_ratio": self.kv_swa_ratio,
            "sliding_window_pool_tokens": int(self.kv_tokens * self.kv_swa_ratio),
            "pools": self.kv_pools,
            "bytes_per_token": self.kv_bytes_per_token,
            "kib_per_token": round(self.kv_bytes_per_token / KIB, 2),
            "bytes_per_token_by_dtype": {"bf16": self.kv_bytes_per_token_bf16,
                                         "fp8_e4m3": self.kv_bytes_per_token_fp8},
            "mem_fraction_static": self.mem_fraction_static,
            "mem_fraction_is_sglang_default": self.mem_fraction_from_sglang_default,
            "chunked_prefill_size": self.chunked_prefill_size,
            "cuda_graph_max_bs": self.cuda_graph_max_bs,
            "page_size": self.page_size,
            "model_dtype": self.dtype,
            "static_pool_gib": _gib(self.static_pool_bytes),
            "runtime_overhead_gib": _gib(self.runtime_overhead_bytes),
            "pool_gib": _gib(self.kv_pool_bytes),
            "tokens": self.kv_tokens,
            "context_length": self.context_length,
            "full_context_sequences": self.full_context_sequences,
            "tokens_per_running_request": self.tokens_per_running_request,
            "max_running_requests": self.max_running_requests,
            "max_running_requests_per_rank": self.max_running_requests_per_rank,
            "engine_values_from": self.resolved_from or "servespec's derivation of SGLang's defaults",
        }

    @property
    def tokens_per_running_request(self) -> int | None:
        if not self.max_running_requests:
            return None
        return self.kv_tokens * self.kv_pools * self.data // self.max_running_requests


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


def _draft_layers(facts: dict, spec: dict, draft: dict | None) -> int:
    """KV layers of the speculative draft: the separate draft model's layers (EAGLE3 /
    STANDALONE), else the checkpoint's own MTP layers (EAGLE / NEXTN); none without speculation
    (sglang 0.5.23 model_runner_components/spec_aux_hidden_state.py eagle_draft_num_layers)."""
    if speculative_mode(spec)["draft"] == "none":
        return 0
    if draft:
        return int(draft.get("num_hidden_layers") or 0)
    return int(facts.get("num_nextn_predict_layers") or 0)


def _gpu_format(deployment) -> dict | None:
    """The format SGLang converts to when the deployment quantizes an unquantized checkpoint on
    the fly (resolve.py decides --quantization; this only prices it); None when the GPUs hold
    the checkpoint as it is."""
    if deployment is None or not deployment.quantization:
        return None
    row = (catalog.quantization().get("on_the_fly") or {}).get(deployment.weights_format)
    if row is None:
        raise EstimateError(f"no on-the-fly format '{deployment.weights_format}' in"
                            " catalog/quantization.yaml")
    return row


def weights_per_gpu(facts: dict, spec: dict, draft: dict | None = None,
                    deployment=None, dtype: str | None = None) -> tuple[int, int]:
    """(weight bytes on the busiest GPU, of which held whole on every TP rank), target and draft.
    Per part and per format: renderer/estimate/weights.py. `deployment` (resolve.py) says whether
    SGLang quantizes on the fly; without it the GPUs hold the checkpoint as it is. `dtype` is the
    one SGLang runs the unquantized weights in (ModelConfig.dtype), when it is known."""
    try:
        mtp = speculative_mode(spec)["draft"] == "self" and not draft
        per_gpu, whole = weights.per_rank_weight_bytes(facts, spec, mtp_loaded=mtp,
                                                       gpu_format=_gpu_format(deployment),
                                                       dtype=dtype)
        if draft:  # the draft runs at the same TP; it shares the target's embedding
            per_gpu += int(_need(draft, "checkpoint_bytes")) // weights.placement(spec)["tp"]
    except FactError as exc:
        raise EstimateError(str(exc)) from None
    return per_gpu, whole


def kv_layout(facts: dict, spec: dict, kv_dtype: str, arch: str,
              draft: dict | None = None) -> kv.KVLayout:
    try:
        return kv.layout(facts, spec, kv_dtype, arch, _draft_layers(facts, spec, draft))
    except FactError as exc:
        raise EstimateError(str(exc)) from None


def kv_bytes_per_token(facts: dict, spec: dict, kv_dtype: str, arch: str,
                       draft: dict | None = None) -> tuple[int, int]:
    """(SGLang's cell size in bytes per full-pool token on one rank, KV layers)."""
    layout = kv_layout(facts, spec, kv_dtype, arch, draft)
    return layout.bytes_per_token, layout.layers


def _max_running_requests(spec: dict) -> int | None:
    eng = spec["engine"]
    if eng.get("max_running_requests"):
        return eng["max_running_requests"]
    if speculative_mode(spec)["draft"] != "none":
        return catalog.sglang_defaults()["speculative"]["default_max_running_requests"]
    return None


# --- the estimate -----------------------------------------------------------------------------


def estimate(spec: dict, facts: dict, name: str = "", draft: dict | None = None,
             deployment=None, resolved: Resolved | None = None) -> Estimate:
    """Every figure of the estimate for one validated spec (defaults filled), its model facts,
    for EAGLE3 / STANDALONE the draft's facts, its resolved deployment (resolved here if not
    given) and `resolved`, the committed resolution by the pinned SGLang's own code
    (renderer/resolve/sglang_resolved.py) that supplies the engine values it decides."""
    if not facts:
        raise EstimateError("the spec names no model facts (model.facts)")
    if deployment is None:
        from renderer.resolve.deployment import resolve

        deployment = resolve(spec, facts, name)
    hw, par = spec["hardware"], spec["parallelism"]
    gpu = catalog.gpus()[hw["gpu"]]
    hbm_mib = float(gpu.get("hbm_mib") or gpu["hbm_gib"] * 1024)
    hbm = int(hbm_mib * (1 << 20))
    family = kv.kind(facts)
    defaults = sglang_memory.memory_defaults(spec, hbm_mib, family.startswith("mla"), facts)
    engine = engine_values(spec, facts, gpu["arch"], defaults, resolved)

    per_gpu, whole = weights_per_gpu(facts, spec, draft, deployment, engine.dtype)
    layout = kv.with_page_size(kv_layout(facts, spec, engine.kv_cache_dtype, gpu["arch"], draft),
                               facts, engine.page_size)
    bf16 = kv_layout(facts, spec, "bf16", gpu["arch"], draft).bytes_per_token
    fp8 = kv_layout(facts, spec, "fp8_e4m3", gpu["arch"], draft).bytes_per_token

    static = int(engine.mem_fraction_static * hbm)
    overhead = int(catalog.planning()["memory"]["runtime_overhead_gib"] * GIB)
    pool = static - per_gpu - overhead
    tokens = kv.tokens(pool, layout)
    context = spec["model"]["context_length"]
    pools = int(par.get("attention_data") or 1)  # each attention-DP rank has a pool of its own

    return Estimate(
        spec=name, gpu=hw["gpu"], gpus_per_node=hw["gpus_per_node"], nodes=hw["nodes"],
        tensor=par["tensor"], pipeline=par["pipeline"], data=par["data"],
        expert=int(par.get("expert") or 1), attention_data=pools, hbm_bytes=hbm,
        checkpoint_bytes=int(_need(facts, "checkpoint_bytes")),
        draft_checkpoint_bytes=int(draft["checkpoint_bytes"]) if draft else 0,
        weights_per_gpu_bytes=per_gpu, replicated_weights_bytes=whole,
        attention_kind=family, kv_cache_dtype=engine.kv_cache_dtype, kv_layers=layout.layers,
        kv_draft_layers=layout.draft_layers, kv_swa_layers=layout.swa_layers,
        kv_swa_ratio=layout.swa_ratio, kv_bytes_per_token=layout.bytes_per_token,
        kv_bytes_per_token_bf16=bf16, kv_bytes_per_token_fp8=fp8,
        mem_fraction_static=engine.mem_fraction_static,
        mem_fraction_from_sglang_default=spec["engine"].get("mem_fraction_static") is None,
        chunked_prefill_size=engine.chunked_prefill_size,
        cuda_graph_max_bs=engine.cuda_graph_max_bs, page_size=layout.page_size,
        static_pool_bytes=static, runtime_overhead_bytes=overhead, kv_pool_bytes=pool,
        kv_tokens=tokens, kv_pools=pools, context_length=context,
        full_context_sequences=tokens // context * pools * par["data"] if context else 0,
        max_running_requests=engine.max_running_requests,
        max_running_requests_per_rank=engine.max_running_requests_per_rank,
        headroom_bytes=hbm - static, sglang_reserve_bytes=int(defaults.reserve_mib * (1 << 20)),
        sglang_default_mem_fraction=defaults.mem_fraction_static,
        **_cost_and_cold_start(spec, facts, gpu["usd_per_second"], deployment, draft),
        notes=_notes(spec, defaults, resolved), dtype=engine.dtype,
        resolved_from=resolved.source if resolved else None,
        resolved_by=f"SGLang {resolved.version}" if resolved else None,
    )


@dataclass(frozen=True)
class EngineValues:
    """The values SGLang decides that the estimate plans with, per attention-DP rank."""

    chunked_prefill_size: int
    cuda_graph_max_bs: int
    mem_fraction_static: float
    kv_cache_dtype: str
    page_size: int | None  # None: the layout's own (kv.py)
    dtype: str | None
    max_running_requests: int | None
    max_running_requests_per_rank: int | None


# SGLang's torch dtype names -> the names of catalog/quantization.yaml and kv.py.
_DTYPE_NAMES = {"bfloat16": "bf16", "float16": "fp16", "float32": "fp32", "half": "fp16"}


def engine_values(spec: dict, facts: dict, arch: str, defaults: sglang_memory.MemoryDefaults,
                  resolved: Resolved | None) -> EngineValues:
    """From SGLang's own resolution when there is one; else servespec's derivation."""
    ranks = int(spec["parallelism"].get("attention_data") or 1)
    running = _max_running_requests(spec)
    derived = EngineValues(
        chunked_prefill_size=defaults.chunked_prefill_size,
        cuda_graph_max_bs=defaults.cuda_graph_max_bs,
        mem_fraction_static=spec["engine"].get("mem_fraction_static") or defaults.mem_fraction_static,
        kv_cache_dtype=kv_cache_dtype(spec, facts, capability(arch)), page_size=None,
        dtype=facts.get("torch_dtype"), max_running_requests=running,
        # the scheduler of each rank: max(1, max_running_requests // attn_dp_size)
        # (sglang 0.5.23 srt/mem_cache/kv_cache_configurator.py resolve_max_num_reqs)
        max_running_requests_per_rank=max(1, running // ranks) if running else None)
    if resolved is None:
        return derived
    values, rank = resolved.values, resolved.per_rank
    kv_dtype = values.get("kv_cache_dtype")
    kv_dtype = derived.kv_cache_dtype if kv_dtype in (None, "auto") else _DTYPE_NAMES.get(kv_dtype, kv_dtype)
    dtype = resolved.model_dtype
    return EngineValues(
        chunked_prefill_size=rank.get("chunked_prefill_size") or derived.chunked_prefill_size,
        cuda_graph_max_bs=rank.get("decode_cuda_graph_max_bs") or derived.cuda_graph_max_bs,
        mem_fraction_static=values.get("mem_fraction_static") or derived.mem_fraction_static,
        kv_cache_dtype=kv_dtype, page_size=values.get("page_size"),
        dtype=_DTYPE_NAMES.get(dtype, dtype) if dtype else derived.dtype,
        max_running_requests=values.get("max_running_requests"),
        max_running_requests_per_rank=rank.get("max_running_requests"))


def _cost_and_cold_start(spec: dict, facts: dict, usd_per_gpu_second: float, deployment,
                         draft: dict | None = None) -> dict:
    """Modal bills every GPU of every node by the second; a scale-up pays at least the cold start
    plus one scaledown window before the replica may stop; a pinned region multiplies it all."""
    hw, sc = spec["hardware"], spec["scaling"]
    start = catalog.planning()["cold_start"]
    replica_s = usd_per_gpu_second * regions.multiplier(spec) * hw["gpus_per_node"] * hw["nodes"]
    rate = start["volume_read_gb_per_s"]
    read = int(_need(facts, "checkpoint_bytes")) + int((draft or {}).get("checkpoint_bytes") or 0)
    read_s = read / (rate * GB)
    # The phases and their sources: renderer/estimate/coldstart.py (h8); the hit case is the estimate.
    # Whether DeepGEMM runs and whether a cache volume keeps its kernels: the resolved deployment.
    subject = coldstart.Subject(hw["gpu"], spec["model"]["repo"], spec["engine"]["version"])
    phases = coldstart.phases(read, deployment.deepgemm_runs, subject)
    # Without a cache volume (storage.cache) every cold start is a cache miss (rule SS192).
    engine_s = coldstart.total(phases, cache_hit=deployment.cache is not None) - read_s
    return {
        "cold_start_phases": [p.to_json() for p in phases],
        "cold_start_miss_s": coldstart.total(phases, cache_hit=False),
        "usd_per_gpu_second": usd_per_gpu_second,
        "usd_per_hour_replica": replica_s * 3600,
        "usd_per_hour_max": replica_s * 3600 * sc["max_replicas"],
        "usd_per_hour_idle": replica_s * 3600 * sc["min_replicas"],
        "min_replicas": sc["min_replicas"], "max_replicas": sc["max_replicas"],
        "volume_read_gb_per_s": rate, "weights_read_s": read_s, "engine_start_s": engine_s,
        "cold_start_s": read_s + engine_s, "scaledown_window_s": sc["scaledown_window"],
        "burst_usd": replica_s * (read_s + engine_s + sc["scaledown_window"]),
    }


def _notes(spec: dict, defaults: sglang_memory.MemoryDefaults,
           resolved: Resolved | None = None) -> list[str]:
    notes = []
    if regions.compute_regions(spec):
        notes.append(f"hardware.region {', '.join(regions.compute_regions(spec))}: prices include "
                     f"Modal's {regions.multiplier(spec):g}x region multiplier")
    unset = [f"{field} {value}" for field, value, is_default in (
        ("mem_fraction_static", defaults.mem_fraction_static,
         spec["engine"].get("mem_fraction_static") is None),
        ("chunked_prefill_size", defaults.chunked_prefill_size, defaults.chunked_prefill_is_default),
        ("cuda_graph_max_bs", defaults.cuda_graph_max_bs, defaults.cuda_graph_max_bs_is_default),
    ) if is_default]
    if resolved is not None:
        notes.append(resolved_note(resolved))
    elif unset:
        notes.append(f"unset in the spec, SGLang's own defaults assumed: {', '.join(unset)}")
    return notes


# The values the estimate plans with that SGLang may set; the note names those it set or changed.
_PLANNED = ("chunked_prefill_size", "max_running_requests", "page_size", "dtype",
            "kv_cache_dtype", "mem_fraction_static", "cuda_graph_config")


def resolved_note(resolved: Resolved) -> str:
    """Which resolved values the estimate took from SGLang's own resolution, per rank."""
    rank, values = resolved.per_rank, resolved.values
    ranks = int(rank.get("attention_dp_ranks") or 1)
    parts = [f"chunked prefill {rank.get('chunked_prefill_size')}",
             f"page size {values.get('page_size')}", f"dtype {resolved.model_dtype}",
             f"KV {values.get('kv_cache_dtype')}", f"mem_fraction_static {values.get('mem_fraction_static')}"]
    if rank.get("max_running_requests"):
        parts.insert(1, f"running requests {rank['max_running_requests']}")
    per = f" per attention-DP rank (x{ranks})" if ranks > 1 else ""
    changed = [f for f in _PLANNED if f in resolved.changed]
    said = f"; set or changed by SGLang: {', '.join(changed)}" if changed else ""
    return (f"engine values as {resolved.source} resolves them ({resolved.version}){per}: "
            f"{', '.join(parts)}{said}")


def fraction_for_tokens(est: Estimate, tokens: int) -> float:
    """The mem_fraction_static that would give the KV pool room for `tokens` tokens."""
    needed = est.weights_per_gpu_bytes + est.runtime_overhead_bytes + tokens * est.kv_bytes_per_token
    return math.ceil(needed / est.hbm_bytes * 1000) / 1000

