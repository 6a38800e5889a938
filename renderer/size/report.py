"""What `servespec size` prints: the ranked table, why the cheaper candidates failed, and the
JSON shape docs/size.md documents (SHAPE names its version; a change of meaning bumps it)."""

from __future__ import annotations

from collections import Counter

from renderer import catalog
from renderer.size.candidates import Request
from renderer.size.sweep import Candidate, Sweep

SHAPE = "servespec.size/1"
TOP = 10
FLOOR_NOTE = ("floors are hardware limits from the datasheet's HBM bandwidth and dense FLOP/s, "
              "never predictions: a real server is slower")


def row_json(cand: Candidate, rank: int | None) -> dict:
    sh, est, fl = cand.shape, cand.estimate, cand.floors
    out = {
        "rank": rank, "label": sh.label, "gpu": sh.gpu, "gpus_per_node": sh.gpus_per_node,
        "nodes": sh.nodes, "total_gpus": sh.total_gpus,
        "parallelism": {"tensor": sh.tensor, "pipeline": sh.pipeline, "expert": sh.expert,
                        "attention_data": sh.attention_data},
        "precision": {"weights": _weights_format(cand),
                      "kv_cache": cand.data["precision"]["kv_cache"]},
        "dropped": None if cand.dropped is None else {"rule": cand.rule, "reason": cand.dropped},
        "fits": None, "kv_tokens": None, "sequences_at_context": None,
        "usd_per_hour_per_replica": None, "usd_per_hour_with_region": None,
        "cold_start_s": None, "floors": fl.to_json() if fl else None,
    }
    if est is not None:
        mult = catalog.regions()["multiplier"]  # hardware.region: a broad or a narrow pin
        lo, hi = min(mult.values()), max(mult.values())
        out.update({
            "fits": est.weights_fit and est.kv_fits_one_sequence, "kv_tokens": est.kv_tokens,
            "sequences_at_context": est.full_context_sequences,
            "usd_per_hour_per_replica": round(est.usd_per_hour_replica, 2),
            "usd_per_hour_with_region": [round(est.usd_per_hour_replica * lo, 2),
                                         round(est.usd_per_hour_replica * hi, 2)],
            "cold_start_s": round(est.cold_start_s),
        })
    return out


def _weights_format(cand: Candidate) -> str | None:
    """What the GPUs hold: the resolved deployment's format (the checkpoint's unless asked)."""
    dep = cand.report.deployment if cand.report else None
    return getattr(dep, "weights_format", None) or cand.data["precision"].get("weights")


def to_json(sw: Sweep) -> dict:
    req = sw.request
    return {
        "shape": SHAPE,
        "model": {"repo": sw.facts.get("repo"), "facts": str(sw.facts_path)},
        "request": request_json(req),
        "note": FLOOR_NOTE,
        "price_date": catalog.gpu_prices()["date"],
        "candidates": len(sw.candidates),
        "dropped_by_reason": dict(sorted(Counter(c.rule for c in sw.dropped).items())),
        "ranked": [row_json(c, i + 1) for i, c in enumerate(sw.ranked)],
        "dropped": [row_json(c, None) for c in sw.dropped],
    }


def request_json(req: Request) -> dict:
    return {"context": req.context, "concurrency": req.concurrency, "gpus": list(req.gpus),
            "max_gpus": req.max_gpus, "nodes": req.nodes, "precision": req.precision,
            "kv_cache": req.kv_cache, "speculative": req.speculative,
            "targets": dict(req.targets), "max_usd_per_hour": req.max_usd_per_hour}


HEADER = ("#", "candidate", "seqs@ctx", "$/h", "cold", "TPOT floor 1/C ms", "TTFT floor",
          "tok/s floor", "$/M floor")


def _cells(rank: str, cand: Candidate) -> tuple[str, ...]:
    est, fl = cand.estimate, cand.floors
    return (rank, cand.shape.label, f"{est.full_context_sequences}",
            f"{est.usd_per_hour_replica:.2f}", f"{est.cold_start_s / 60:.0f} min",
            f"{fl.tpot_floor_1_ms:.2f} / {fl.tpot_floor_c_ms:.2f}",
            f"{fl.ttft_floor_ms / 1000:.2f} s", f"{fl.tokens_per_s_floor:,.0f}",
            f"{fl.usd_per_m_tokens_floor:.3f}")


def table(rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for n, r in enumerate(rows):
        cells = [c.ljust(w) if i in (1,) else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))]
        lines.append("  ".join(cells).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return lines


def to_text(sw: Sweep, explain: bool = False, top: int = TOP) -> str:
    req = sw.request
    lines = [f"{sw.facts.get('repo')}: {req.concurrency} sequence(s) of {req.context:,} tokens,"
             f" KV {req.kv_cache}, weights {req.precision}"
             + _speculative(sw)
             + f"; {len(sw.candidates)} candidates,"
             f" {len(sw.ranked)} pass every rule" + (" and target" if req.targets else ""), ""]
    shown = sw.ranked[:top]
    if shown:
        lines += table([HEADER] + [_cells(str(i + 1), c) for i, c in enumerate(shown)])
        lines += ([""] + why) if (why := _why_not_more(sw)) else []
    else:
        lines.append("no candidate passes: see the reasons below")
    lines += ["", FLOOR_NOTE + f"; seqs@ctx: sequences of {req.context:,} tokens the KV cache holds;"
              f" floors at min(seqs@ctx, {req.concurrency}); prices of {catalog.gpu_prices()['date']}."]
    lines += [""] + _cheaper_failures(sw, shown, explain)
    return "\n".join(lines).rstrip() + "\n"


def _speculative(sw: Sweep) -> str:
    if not sw.request.speculative:
        return ""
    if int(sw.facts.get("num_nextn_predict_layers") or 0) > 0:
        return ", EAGLE with the checkpoint's MTP head (not in the floors)"
    return ", no MTP head in the checkpoint: --speculative has nothing to keep"


def _why_not_more(sw: Sweep) -> list[str]:
    """Why more GPUs of the best row's type are not cheaper: at the floor the bandwidth grows
    with the price, so the $/M stays at best level while the $/h multiplies."""
    best = sw.ranked[0]
    out = []
    for cand in sw.ranked[1:]:
        if cand.shape.gpu != best.shape.gpu or cand.shape.total_gpus <= best.shape.total_gpus:
            continue
        ratio_h = cand.estimate.usd_per_hour_replica / best.estimate.usd_per_hour_replica
        ratio_t = cand.floors.tokens_per_s_floor / best.floors.tokens_per_s_floor
        out.append(f"{cand.shape.label} is not cheaper than #1: {ratio_h:.1f}x the $/h for"
                   f" {ratio_t:.1f}x the tokens/s at the floor (${cand.usd_per_m:.3f}/M vs"
                   f" ${best.usd_per_m:.3f}/M)")
        if len(out) == 3:
            break
    return out


def _cheaper_failures(sw: Sweep, shown: list[Candidate], explain: bool) -> list[str]:
    """Why nothing cheaper per hour than row 1 is ranked: for each GPU type, its nearest miss
    (the most GPUs, the plainest shape) under row 1's $/h; every dropped candidate with
    --explain. Then the count per reason."""
    if explain:
        dropped = sw.dropped
    else:
        bar = shown[0].estimate.usd_per_hour_replica if shown else float("inf")
        nearest: dict[str, Candidate] = {}
        for cand in sw.dropped:
            if cand.estimate is not None and cand.estimate.usd_per_hour_replica >= bar:
                continue
            best = nearest.get(cand.shape.gpu)
            if best is None or _nearness(cand) > _nearness(best):
                nearest[cand.shape.gpu] = cand
        dropped = sorted(nearest.values(), key=lambda c: -_usd_per_hour(c))
    out = []
    if dropped:
        out.append("dropped" + ("" if explain else ", the nearest miss of each GPU type"
                                " cheaper per hour than row 1") + ":")
        out += [f"  {c.shape.label}: [{c.rule}] {c.dropped}" for c in dropped]
    counts = Counter(c.rule for c in sw.dropped)
    if counts:
        out.append("dropped by reason: " + ", ".join(f"{r} x{n}" for r, n in sorted(counts.items()))
                   + ("" if explain else " (--explain lists every one)"))
    return out


def _nearness(cand: Candidate) -> tuple:
    sh = cand.shape
    return (sh.total_gpus, -((sh.pipeline > 1) + (sh.expert > 1) + (sh.attention_data > 1)))


def _usd_per_hour(cand: Candidate) -> float:
    return cand.estimate.usd_per_hour_replica if cand.estimate is not None else 0.0
