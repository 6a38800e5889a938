"""Text forms of an estimate: the table of `servespec estimate` and the one-line summary that
`make render` prints. Formatting only; every figure comes from renderer/estimate/core.py."""

from __future__ import annotations

from renderer.estimate.core import GB, GIB, KIB, Estimate


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
               " of it held whole on every rank")
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
        running = (f"{est.max_running_requests_per_rank} running on each of {est.kv_pools} ranks"
                   if est.kv_pools > 1 and est.max_running_requests_per_rank
                   else f"{est.max_running_requests} running")
        sequences += f"; {per_req:,} tokens each at {running}"
    pools = f" in each of {est.kv_pools} pools" if est.kv_pools > 1 else ""
    swa = (f" (+ {int(est.kv_tokens * est.kv_swa_ratio):,} in the sliding-window pool of"
           f" {est.kv_swa_layers} layers)" if est.kv_swa_layers else "")
    kv = f"{_gib_text(est.kv_pool_bytes)} -> {est.kv_tokens:,} tokens{pools}{swa}"
    return [*rows, ("KV cache", kv),
            ("full-context sequences", sequences)]


def _money_rows(est: Estimate) -> list[tuple[str, str]]:
    headroom = (f"{_gib_text(est.headroom_bytes)} outside the pool; SGLang would reserve"
                f" {_gib_text(est.sglang_reserve_bytes)} (its default fraction:"
                f" {est.sglang_default_mem_fraction})")
    cost = (f"${est.usd_per_hour_replica:.2f}/h per replica, ${est.usd_per_hour_max:.2f}/h at"
            f" {est.max_replicas} replicas, ${est.usd_per_hour_idle:.2f}/h idle"
            f" ({est.min_replicas} warm)")
    persisted = est.cold_start_s < est.cold_start_miss_s  # equal: no cache volume (SS192)
    lead = (f">= {_minutes(est.cold_start_s)} with caches, >= {_minutes(est.cold_start_miss_s)}"
            " without: " if persisted
            else f">= {_minutes(est.cold_start_s)} at every start (no cache volume): ")
    cold = (lead + ", ".join(
                f"{p['name'].replace('_', ' ')} {_minutes(p['seconds'])}"
                + f" [{p.get('basis', 'assumed')}]"
                + (" (miss only)" if p["on_cache_miss_only"] else "")
                for p in est.cold_start_phases)
            + " (sources: servespec estimate --format json)")
    burst = (f">= ${est.burst_usd:.2f}: one replica for cold start +"
             f" {est.scaledown_window_s} s scaledown window")
    return [("headroom", headroom), ("cost", cost), ("cold start", cold),
            ("scale-up burst", burst)]


def _moe_and_attention_dp(est: Estimate) -> str:
    """Only when set: most specs use neither."""
    text = f" EP{est.expert}" if est.expert > 1 else ""
    if est.attention_data > 1:
        text += (f" attention-DP{est.attention_data} (attention TP"
                 f" {max(1, est.tensor // est.attention_data)}, one KV pool per DP rank)")
    return text


def format_table(name: str, est: Estimate) -> str:
    """The human-readable plan of one spec."""
    topo = (f"{est.gpus_per_node}x {est.gpu} x {est.nodes} node(s) = {est.total_gpus} GPUs,"
            f" TP{est.tensor} PP{est.pipeline} DP{est.data}{_moe_and_attention_dp(est)}")
    rows = [("hardware", topo), *_memory_rows(est), *_money_rows(est)]
    width = max(len(label) for label, _ in rows)
    lines = [name] + [f"  {label.ljust(width)}  {value}" for label, value in rows]
    lines += [f"  note: {note}" for note in est.notes]
    return "\n".join(lines)
