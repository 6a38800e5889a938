"""SGLang 0.5.23's own memory defaults, from catalog/sglang_defaults.yaml.

When a spec leaves chunked_prefill_size, cuda_graph_max_bs or mem_fraction_static unset, SGLang
derives them from the GPU's memory, the TP size and the model (sglang 0.5.23
srt/arg_groups/memory_hook.py handle_gpu_memory_settings, reserve_for_graph_mb). This module
repeats that derivation so the estimate and the memory rules see the values SGLang will run with.
"""

from __future__ import annotations

from dataclasses import dataclass

from renderer import catalog


@dataclass(frozen=True)
class MemoryDefaults:
    chunked_prefill_size: int  # per attention-DP rank, as SGLang finally runs it
    chunked_prefill_is_default: bool
    cuda_graph_max_bs: int
    cuda_graph_max_bs_is_default: bool
    reserve_mib: float  # what SGLang keeps outside the static pool
    mem_fraction_static: float  # SGLang's default: (memory - reserve) / memory, 3 decimals


def _tier(hbm_mib: float) -> dict:
    for row in catalog.sglang_defaults()["gpu_memory_tiers"]:
        if row["below_mib"] is None or hbm_mib < row["below_mib"]:
            return row
    raise AssertionError("sglang_defaults.yaml gpu_memory_tiers needs a last row without a bound")


def prefill_capture_sizes(max_bs: int) -> list[int]:
    """generate_prefill_cuda_graph_batch_sizes (arg_groups/cuda_graph_hook.py)."""
    sizes: list[int] = []
    for start, stop, step in catalog.sglang_defaults()["reserve"]["prefill_capture_ranges"]:
        sizes += range(start, (stop if stop is not None else max_bs + 1), step)
    return [s for s in sizes if s <= max_bs]


def memory_defaults(spec: dict, hbm_mib: float, mla: bool, facts: dict | None = None
                    ) -> MemoryDefaults:
    """The values SGLang resolves for this spec on a GPU with `hbm_mib` MiB; the model facts'
    vision tower, if any, lowers SGLang's default fraction."""
    eng, par = spec["engine"], spec["parallelism"]
    tier = _tier(hbm_mib)
    tp, pp = int(par["tensor"]), int(par["pipeline"])
    chunked = eng.get("chunked_prefill_size") or tier["chunked_prefill_size"]
    max_bs = eng.get("cuda_graph_max_bs")
    if not max_bs:
        max_bs = tier["cuda_graph_max_bs_tp_below_4" if tp < 4 else "cuda_graph_max_bs_tp_4_up"]
        if eng.get("max_running_requests"):  # an explicit cap; EAGLE's own 48 comes later
            max_bs = min(max_bs, eng["max_running_requests"])
    r = catalog.sglang_defaults()["reserve"]
    reserve = r["base_mib"] + max(chunked, r["min_activation_tokens"]) * r["mib_per_activation_token"]
    reserve += tp * pp / 8 * r["mib_per_8_gpus_of_tp_x_pp"]
    reserve += _graph_reserve_mib(spec, max_bs, chunked, mla)
    if hbm_mib > r["floor_above_gpu_mib"]:
        reserve = max(reserve, r["floor_mib"])
    dp = int(par.get("attention_data") or 1)
    if catalog.sglang_defaults()["attention_dp_divides_chunked_prefill"]:
        chunked //= dp
    return MemoryDefaults(
        chunked_prefill_size=chunked,
        chunked_prefill_is_default=not eng.get("chunked_prefill_size"),
        cuda_graph_max_bs=max_bs,
        cuda_graph_max_bs_is_default=not eng.get("cuda_graph_max_bs"),
        reserve_mib=reserve,
        mem_fraction_static=vision_mem_fraction(round((hbm_mib - reserve) / hbm_mib, 3),
                                                (facts or {}).get("vision")),
    )


def vision_mem_fraction(fraction: float, vision: dict | None) -> float:
    """adjust_mem_fraction_for_vlm (catalog/sglang_defaults.yaml vision_mem_fraction): SGLang keeps
    more memory outside the static pool for a multimodal model's image encoder."""
    if not vision:
        return fraction
    v = catalog.sglang_defaults()["vision_mem_fraction"]
    complexity = (vision["num_hidden_layers"] * vision["hidden_size"] ** 2
                  / (v["baseline_layers"] * v["baseline_hidden_size"] ** 2))
    factor = max(v["min_factor"], min(v["max_factor"], 1.0 - v["sensitivity"] * (complexity - 1.0)))
    return fraction * v["base_factor"] * factor


def _graph_reserve_mib(spec: dict, max_bs: int, chunked: int, mla: bool) -> float:
    """reserve_for_graph_mb: decode graphs, attention-DP padding, breakable prefill graphs."""
    r = catalog.sglang_defaults()["reserve"]
    par = spec["parallelism"]
    reserve = max_bs * r["mib_per_decode_graph_bs"]
    dp = int(par.get("attention_data") or 1)
    if dp > 1:
        reserve += max_bs * dp * r["attn_dp_mib_per_bs_rank"]
        if max_bs > r["attn_dp_large_bs_above"]:
            reserve += max_bs * dp * r["attn_dp_large_mib_per_bs_rank"]
    if int(par["pipeline"]) > 1:  # breakable prefill graphs are off by default under PP
        return reserve
    if mla:
        return reserve + r["mla_prefill_graph_mib"]
    return reserve + len(prefill_capture_sizes(chunked)) * r["prefill_graph_mib_per_size"]
