"""The candidates `servespec size` weighs: GPU type x GPUs per node x nodes x parallel shape, at
the precision and KV dtype asked for, each as the spec that would deploy it.

Nothing here decides whether a candidate works: every one becomes a spec (the same YAML data a
person would write) and goes through the pipeline's own rules and estimate (sweep.py). This
module only lists shapes SGLang has a flag for: tensor parallelism over the GPUs, with expert
parallelism and attention data parallelism as MoE and MLA models allow, and across nodes either
tensor or pipeline parallelism.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from renderer import catalog
from renderer.facts.params import attention_kind

GPU_COUNTS = (1, 2, 4, 8)
DP_RANK_CHUNK = 2048  # the smallest prefill chunk SGLang picks by itself (rule SS213)
ENGINE_VERSION = "0.5.23"  # the SGLang whose parser and resolution servespec checks against
IMAGE = "lmsysorg/sglang:v{version}-cu129-amd64"
HF_HUB_VERSION = "2.4.0"
PRECISIONS = {"checkpoint": None, "fp8": "fp8_e4m3"}  # --precision -> precision.weights
KV_DTYPES = {"bf16": "bf16", "fp8": "fp8_e4m3"}  # --kv-cache -> precision.kv_cache


@dataclass(frozen=True)
class Request:
    """What the user asks `size` for."""

    context: int
    concurrency: int = 1
    gpus: tuple[str, ...] = ()  # empty: every type in the catalog
    max_gpus: int | None = None
    nodes: int = 1
    precision: str = "checkpoint"
    kv_cache: str = "bf16"
    speculative: bool = False
    targets: dict = field(default_factory=dict)  # p95_ttft_ms / median_tpot_ms -> max
    max_usd_per_hour: float | None = None


@dataclass(frozen=True)
class Shape:
    gpu: str
    gpus_per_node: int
    nodes: int
    tensor: int
    pipeline: int = 1
    expert: int = 1
    attention_data: int = 1

    @property
    def total_gpus(self) -> int:
        return self.gpus_per_node * self.nodes

    @property
    def label(self) -> str:
        where = f"{self.gpus_per_node}x {self.gpu}" + (f" x {self.nodes} nodes" if self.nodes > 1 else "")
        parts = [f"TP{self.tensor}"]
        parts += [f"PP{self.pipeline}"] if self.pipeline > 1 else []
        parts += [f"EP{self.expert}"] if self.expert > 1 else []
        parts += [f"DP-attn{self.attention_data}"] if self.attention_data > 1 else []
        return f"{where} {' '.join(parts)}"


def shapes(facts: dict, request: Request) -> list[Shape]:
    """Every shape the sweep checks, cheapest hardware first within each GPU type."""
    table = catalog.gpus()
    names = request.gpus or tuple(table)
    moe = bool(facts.get("moe"))
    mla = attention_kind(facts).startswith("mla")
    out = []
    for gpu in names:
        limit = int(table[gpu]["max_per_container"])
        for nodes in range(1, max(1, request.nodes) + 1):
            counts = [n for n in GPU_COUNTS if n <= limit] if nodes == 1 else [limit]
            for per_node in counts:
                total = per_node * nodes
                if request.max_gpus and total > request.max_gpus:
                    continue
                out += _parallel_shapes(gpu, per_node, nodes, moe, mla)
    return out


def _parallel_shapes(gpu: str, per_node: int, nodes: int, moe: bool, mla: bool) -> list[Shape]:
    total = per_node * nodes
    layouts = [(total, 1)] + ([(per_node, nodes)] if nodes > 1 else [])  # (TP, PP)
    out = []
    for tp, pp in layouts:
        experts = (1, tp) if moe and tp > 1 else (1,)
        attn_dp = (1, tp) if mla and moe and tp > 1 else (1,)
        for ep in experts:
            for dp in attn_dp:
                if dp > 1 and ep == 1:
                    continue  # SGLang's DP attention for MoE models runs with expert parallelism
                out.append(Shape(gpu, per_node, nodes, tp, pp, ep, dp))
    return out


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def spec_data(facts: dict, facts_ref: str, shape: Shape, request: Request,
              app: str | None = None) -> dict:
    """The spec of one candidate, as a person would write it (defaults left to the schema)."""
    repo = facts.get("repo") or "unknown/model"
    name = app or slug(f"{repo.rsplit('/', 1)[-1]}-{shape.gpu}")[:60]
    arch = catalog.gpus()[shape.gpu]["arch"]
    mtp = request.speculative and int(facts.get("num_nextn_predict_layers") or 0) > 0
    data = {
        "app": name,
        "description": f"{repo} on {shape.label}, sized by servespec size",
        "model": {"repo": repo, "revision": facts.get("revision") or "main",
                  "served_name": slug(repo.rsplit("/", 1)[-1]), "facts": facts_ref,
                  "context_length": request.context},
        "engine": {"version": ENGINE_VERSION, "image": IMAGE.format(version=ENGINE_VERSION),
                   "max_running_requests": request.concurrency},
        "hardware": {"gpu": shape.gpu, "gpus_per_node": shape.gpus_per_node, "nodes": shape.nodes},
        "parallelism": _parallelism(shape),
        "precision": {"kv_cache": KV_DTYPES[request.kv_cache]},
        # The start-up caches (DeepGEMM kernels, autotune results) hold code for one GPU
        # architecture: the volume is named for it.
        "storage": {"weights": {"volume": f"{name}-weights"[:64], "mount": "/model-cache"},
                    "cache": {"volume": f"{name}-cache-{arch}"[:64], "mount": "/cache"}},
        "download": {"huggingface_hub_version": HF_HUB_VERSION},
        "scaling": {"min_replicas": 1, "max_replicas": 1},
        # Modal's proxy token first, then SGLang's own key from a Modal Secret (rule SS114).
        "serving": {"auth": {"api_key_secret": f"{name}-api-key"[:64], "api_key_env": "SGLANG_API_KEY"}},
    }
    if shape.attention_data > 1:
        # each attention-DP rank schedules its share of the sequences; graphs beyond it would
        # never run (the per-rank check of `validate`)
        data["engine"]["cuda_graph_max_bs"] = max(1, request.concurrency // shape.attention_data)
    if PRECISIONS[request.precision]:
        data["precision"]["weights"] = PRECISIONS[request.precision]
    if mtp:
        data["speculative"] = {"algorithm": "EAGLE", "num_steps": 3, "eagle_topk": 1,
                               "num_draft_tokens": 4}
    return data


def with_rank_chunk(data: dict, shape: Shape) -> dict:
    """The candidate with a prefill chunk of DP_RANK_CHUNK per attention-DP rank: SGLang divides
    chunked_prefill_size by the ranks, and SS213 warns below that. Tried only when SS213 warns,
    since a larger chunk also reserves more activation memory (the rules then judge that)."""
    return {**data, "engine": {**data["engine"],
                               "chunked_prefill_size": DP_RANK_CHUNK * shape.attention_data}}


def _parallelism(shape: Shape) -> dict:
    out = {"tensor": shape.tensor}
    if shape.pipeline > 1:
        out["pipeline"] = shape.pipeline
    if shape.expert > 1:
        out["expert"] = shape.expert
    if shape.attention_data > 1:
        out["attention_data"] = shape.attention_data
    return out
