"""Each bench run against the hardware's floor: measured / floor, so a deployment's distance
from what its GPUs could do at best is a number (renderer/estimate/floors.py says what a floor
is; `servespec size` ranks by the same floors).

A run's floor is taken at its own concurrency and at the shortest context its requests decode
at (the prompt: the first output token's step reads the least KV), so it stays a floor for
every step of the run. With speculative decoding a step may emit several tokens and the
measured TPOT may fall below the floor; the ratio then says so rather than being hidden.
"""

from __future__ import annotations

from renderer.estimate.floors import floors


def prompt_tokens(workload: dict) -> int:
    """Tokens of context a run's requests start decoding at (catalog/bench.yaml workloads)."""
    if workload.get("dataset") == "random-ids":
        return int(workload.get("input_len") or 1)
    return int(workload.get("system_prompt_len") or 0) + int(workload.get("question_len") or 0) or 1


def add_floors(rows: list[dict], report, workloads: list[dict]) -> None:
    """Set row["floor"] for every run: the floors and measured / floor (None without an
    estimate or without that measurement)."""
    by_name = {w["name"]: w for w in workloads}
    for row in rows:
        row["floor"] = None
        if report is None or report.estimate is None or row["workload"] not in by_name:
            continue
        fl = floors(report.estimate, report.facts, report.spec, report.deployment,
                    row["concurrency"], prompt_tokens(by_name[row["workload"]]))
        result = row.get("result") or {}
        tpot, rate = result.get("median_tpot_ms"), result.get("output_throughput")
        row["floor"] = {
            **fl.to_json(),
            "median_tpot_vs_floor": _ratio(tpot, fl.tpot_floor_c_ms),
            "output_throughput_vs_floor": _ratio(rate, fl.tokens_per_s_floor),
        }


def _ratio(measured, floor: float) -> float | None:
    if not isinstance(measured, (int, float)) or not floor:
        return None
    return round(measured / floor, 3)


def floor_lines(rows: list[dict]) -> list[str]:
    """One line per run with a floor, under the bench table."""
    out = []
    for row in rows:
        fl = row.get("floor")
        if not fl or fl["median_tpot_vs_floor"] is None:
            continue
        rate = fl["output_throughput_vs_floor"]
        out.append(f"{row['key']}: TPOT p50 {fl['median_tpot_vs_floor']:.1f}x its floor of"
                   f" {fl['tpot_floor_ms_at_concurrency']:.2f} ms"
                   + (f"; out tok/s {rate:.2f}x the floor's {fl['output_tokens_per_s_floor']:,.0f}"
                      if rate is not None else ""))
    if out:
        out.append("(floors: datasheet bandwidth and FLOP/s limits at the run's prompt length, never"
                   " predictions; measured / floor)")
    return out
