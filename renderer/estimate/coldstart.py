"""The cold start of one replica as phases, each with its figure's source.

    volume read      checkpoint bytes (target + draft) at Modal's documented Volume rate
    engine init      process start, NCCL, weight post-processing, warm-up
    graph capture    CUDA graphs (FlashInfer autotune results come from the cache)
    caches           hit: nothing to rebuild (servespec persists every start-up cache in the
                     cache volume, keyed by GPU architecture and image: renderer/resolve/caches.py);
                     miss: DeepGEMM JIT (where DeepGEMM runs) plus autotune and JIT kernels

Figures live in catalog/coldstart.yaml and catalog/planning.yaml; the estimate (estimate.py)
calls `phases` and reports the hit case as its cold-start figure, the miss beside it.
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

    def to_json(self) -> dict:
        return {"name": self.name, "seconds": round(self.seconds), "what": self.what,
                "source": self.source, "on_cache_miss_only": self.on_miss_only}


def phases(read_bytes: int, deepgemm: bool) -> list[Phase]:
    """Every phase of a cold start; those marked on_miss_only happen only without caches."""
    rate = catalog.planning()["cold_start"]["volume_read_gb_per_s"]
    table = catalog.coldstart()["phases"]

    def phase(key: str, miss: bool = False) -> Phase:
        row = table[key]
        return Phase(key, float(row["seconds"]), _flat(row["what"]), _flat(row["source"]), miss)

    out = [Phase("volume_read", read_bytes / (rate * GB),
                 f"{read_bytes / GB:.0f} GB of checkpoint at {rate} GB/s",
                 "https://modal.com/docs/guide/volumes (\"up to 2.5 GB/s\"); catalog/planning.yaml"),
           phase("engine_init"), phase("graph_capture")]
    if deepgemm:
        out.append(phase("deepgemm_jit", miss=True))
    out.append(phase("autotune_and_jit", miss=True))
    return out


def total(found: list[Phase], cache_hit: bool = True) -> float:
    return sum(p.seconds for p in found if cache_hit is False or not p.on_miss_only)


def _flat(text: str) -> str:
    return " ".join(str(text).split())
