"""The cold start of one replica as phases, each with its figure's source.

    volume read      checkpoint bytes (target + draft) at Modal's documented Volume rate
    engine init      process start, NCCL, weight post-processing, warm-up
    graph capture    CUDA graphs (FlashInfer autotune results come from the cache)
    caches           hit: nothing to rebuild (servespec persists every start-up cache in the
                     cache volume, keyed by GPU architecture and image: renderer/resolve/caches.py);
                     miss: DeepGEMM JIT (where DeepGEMM runs) plus autotune and JIT kernels

Figures live in catalog/coldstart.yaml and catalog/planning.yaml; the estimate (estimate.py)
calls `phases` and reports the hit case as its cold-start figure, the miss beside it. Each phase
says whether its figure is measured or assumed: the catalog's `measured` entries (the GPU check,
tools/gpu-check, on a real SGLang) replace an assumption only for a spec of the same GPU, model
and SGLang version, never for another model.
"""

from __future__ import annotations

from dataclasses import dataclass

from renderer import catalog

GB = 10**9


@dataclass(frozen=True)
class Phase:
    name: str
    seconds: float
    what: str
    source: str
    on_miss_only: bool = False
    basis: str = "assumed"  # "measured" (catalog measured entry), "assumed", or "documented"

    def to_json(self) -> dict:
        return {"name": self.name, "seconds": round(self.seconds), "what": self.what,
                "source": self.source, "on_cache_miss_only": self.on_miss_only,
                "basis": self.basis}


@dataclass(frozen=True)
class Subject:
    """What a measured entry must match: GPU name, model repository, SGLang version."""

    gpu: str
    model: str
    sglang: str


def phases(read_bytes: int, deepgemm: bool, subject: Subject | None = None) -> list[Phase]:
    """Every phase of a cold start; those marked on_miss_only happen only without caches."""
    rate = catalog.planning()["cold_start"]["volume_read_gb_per_s"]
    table = catalog.coldstart()["phases"]
    found = measured(subject)

    def phase(key: str, miss: bool = False) -> Phase:
        if key in found:
            return found[key]
        row = table[key]
        return Phase(key, float(row["seconds"]), _flat(row["what"]), _flat(row["source"]), miss)

    out = [Phase("volume_read", read_bytes / (rate * GB),
                 f"{read_bytes / GB:.0f} GB of checkpoint at {rate} GB/s",
                 "https://modal.com/docs/guide/volumes (\"up to 2.5 GB/s\"); catalog/planning.yaml",
                 basis="documented"),
           phase("engine_init"), phase("graph_capture")]
    if deepgemm:
        out.append(phase("deepgemm_jit", miss=True))
    out.append(phase("autotune_and_jit", miss=True))
    return out


def measured(subject: Subject | None) -> dict[str, Phase]:
    """The phases the catalog's measured entries give for exactly this GPU, model and SGLang
    version: from the cache-hit start, graph capture and the rest of the engine's start; from
    the cache-miss start less the cache-hit start, what rebuilding the caches costs."""
    entries = {e["caches"]: e for e in catalog.coldstart().get("measured") or []
               if subject is not None
               and (e["gpu"], e["model"], str(e["sglang"])) == (subject.gpu, subject.model,
                                                                subject.sglang)}
    hit, miss = entries.get("hit"), entries.get("miss")
    if hit is None:
        return {}
    where = f"measured on {hit['date']} ({hit['source']})"
    graphs = float(hit["phases"].get("graph_capture", 0.0))
    out = {
        "engine_init": Phase("engine_init", float(hit["start_to_healthy"]) - graphs,
                             "start to healthy with caches, less graph capture", where,
                             basis="measured"),
        "graph_capture": Phase("graph_capture", graphs, "CUDA-graph capture with caches", where,
                               basis="measured"),
    }
    if miss is not None:
        out["autotune_and_jit"] = Phase(
            "autotune_and_jit", float(miss["start_to_healthy"]) - float(hit["start_to_healthy"]),
            "the cache-miss start less the cache-hit start",
            f"measured on {miss['date']} ({miss['source']})", on_miss_only=True,
            basis="measured")
    return out


def total(found: list[Phase], cache_hit: bool = True) -> float:
    return sum(p.seconds for p in found if cache_hit is False or not p.on_miss_only)


def _flat(text: str) -> str:
    return " ".join(str(text).split())
