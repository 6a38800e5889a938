"""What `servespec bench` leaves behind: the results JSON, the PNG, the table, the target check.

The figures are SGLang's own result line per run (sglang 0.5.23 benchmark/serving.py, the dict
written to --output-file): throughputs, {mean,median,std,p90,p95,p99}_{ttft,tpot,itl,
e2e_latency}_ms, concurrency, accept_length (speculative decoding; null when the server does
not report it) and the rest, kept whole.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from renderer import paths
from renderer.files import write_atomic

PNG_SIZE_INCHES = (10.0, 4.0)
PNG_DPI = 100  # 1000 x 400 pixels
TABLE_COLUMNS = [  # (header, SGLang field, format)
    ("run", None, "{}"),
    ("done", "completed", "{:d}"),
    ("req/s", "request_throughput", "{:.2f}"),
    ("out tok/s", "output_throughput", "{:.1f}"),
    ("TTFT p50", "median_ttft_ms", "{:.1f}"),
    ("TTFT p95", "p95_ttft_ms", "{:.1f}"),
    ("TPOT p50", "median_tpot_ms", "{:.2f}"),
    ("TPOT p95", "p95_tpot_ms", "{:.2f}"),
    ("ITL p95", "p95_itl_ms", "{:.2f}"),
    ("E2E p95", "p95_e2e_latency_ms", "{:.1f}"),
    ("accept", "accept_length", "{:.2f}"),
]


def finite(obj):
    """SGLang writes request_rate inf as the non-JSON token Infinity; keep the file standard."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return str(obj)
    if isinstance(obj, dict):
        return {k: finite(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [finite(v) for v in obj]
    return obj


def add_cost(rows: list[dict], usd_per_hour: float | None) -> None:
    """Each run's $ per million output tokens: the replica's hourly price (the estimate's, from
    renderer/catalog/gpus.yaml) over the output tokens it produced in an hour at the measured
    output_throughput. One replica: the benchmark measures the one it reaches."""
    for row in rows:
        tps = (row.get("result") or {}).get("output_throughput")
        row["usd_per_million_output_tokens"] = (
            round(usd_per_hour / (tps * 3600) * 1e6, 4)
            if usd_per_hour and isinstance(tps, (int, float)) and tps > 0 else None)


def run_rows(cells, outcomes: list[dict]) -> list[dict]:
    by_key = {o["key"]: o for o in outcomes}
    rows = []
    for cell in cells:
        outcome = by_key.get(cell.key) or {"result": None, "error": "no result came back"}
        rows.append({"key": cell.key, "workload": cell.workload, "dataset": cell.dataset,
                     "concurrency": cell.concurrency, "argv": cell.argv,
                     "result": finite(outcome.get("result")), "error": outcome.get("error")})
    return rows


# --- targets --------------------------------------------------------------------------------


def check_targets(targets: list[dict], rows: list[dict], default_workload: str) -> list[dict]:
    """Each target with the measured value and met: True/False (None: that run has no figure)."""
    checked = []
    for target in targets:
        workload = target.get("workload") or default_workload
        row = next((r for r in rows if r["workload"] == workload
                    and r["concurrency"] == target["concurrency"]), None)
        value = (row.get("result") or {}).get(target["metric"]) if row else None
        met = None
        if isinstance(value, (int, float)):
            met = value <= target["max"] if "max" in target else value >= target["min"]
        checked.append({**target, "workload": workload, "value": value, "met": met,
                        "text": target_text(target, workload)})
    return checked


def target_text(target: dict, workload: str) -> str:
    bound = f"<= {target['max']}" if "max" in target else f">= {target['min']}"
    return f"{target['metric']} {bound} at concurrency {target['concurrency']} ({workload})"


def missed(checked: list[dict]) -> list[dict]:
    return [t for t in checked if t["met"] is not True]


def missed_sentence(t: dict) -> str:
    if t["met"] is None:
        return f"target not measured: {t['text']} (that run has no such figure)"
    return f"target missed: {t['text']}, measured {t['value']:.2f}"


# --- outputs --------------------------------------------------------------------------------


def write_json(path: Path, doc: dict) -> None:
    write_atomic(path, json.dumps(doc, indent=2, sort_keys=True, allow_nan=False) + "\n")


def table(rows: list[dict], checked: list[dict]) -> str:
    """One screen: a line per run, then one per target."""
    grid = [[h for h, _, _ in TABLE_COLUMNS] + ["$/M out"]]
    for row in rows:
        result = row["result"] or {}
        line = [row["key"]]
        for _, field, fmt in TABLE_COLUMNS[1:]:
            value = result.get(field)
            line.append(fmt.format(value) if isinstance(value, (int, float)) else "-")
        cost = row.get("usd_per_million_output_tokens")
        line.append(f"{cost:.2f}" if cost is not None else "-")
        grid.append(line)
    widths = [max(len(r[i]) for r in grid) for i in range(len(grid[0]))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in
                       enumerate(zip(r, widths, strict=True))) for r in grid]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.append("(latencies in ms; TPOT excludes the first token; accept = speculative accept length;"
                 " $/M out = the replica's hourly price per million output tokens at that throughput)")
    for row in rows:
        if row["error"]:
            lines.append(f"{row['key']}: {row['error']}")
    for t in checked:
        state = {True: "met   ", False: "MISSED", None: "NO DATA"}[t["met"]]
        value = f"{t['value']:.2f}" if isinstance(t["value"], (int, float)) else "-"
        lines.append(f"target {state} {t['text']}: {value}")
    return "\n".join(lines)


def plot(path: Path, rows: list[dict], checked: list[dict], title: str) -> None:
    """TTFT and TPOT (p50 and p95) against concurrency, one line per workload; each max-target
    of a TTFT or TPOT figure is a dashed line (green met, red missed) with an x at its level.
    matplotlib is imported here only (the `bench` extra), with the file-only Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, LogLocator

    fig, axes = plt.subplots(1, 2, figsize=PNG_SIZE_INCHES, dpi=PNG_DPI)
    for ax, metric, label in ((axes[0], "ttft", "TTFT (ms)"), (axes[1], "tpot", "TPOT (ms)")):
        _plot_metric(ax, rows, metric)
        for t in checked:
            if t["metric"].endswith(f"_{metric}_ms") and "max" in t:
                ax.axhline(t["max"], linestyle="--", color="red" if t["met"] is False else "green",
                           linewidth=1, label=f"target {t['metric']} @ c={t['concurrency']}")
                ax.plot([t["concurrency"]], [t["max"]], marker="x", color="black")
        # Both axes logarithmic: concurrency doubles per level, and a target far above the
        # measured latencies would flatten them on a linear scale.
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        levels = sorted({r["concurrency"] for r in rows})
        ax.set_xticks(levels, [str(c) for c in levels])
        ax.minorticks_off()
        ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        ax.set_xlabel("concurrency (requests in flight)")
        ax.set_ylabel(label)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def _plot_metric(ax, rows: list[dict], metric: str) -> None:
    for workload in dict.fromkeys(r["workload"] for r in rows):
        points = sorted(((r["concurrency"], r["result"]) for r in rows
                         if r["workload"] == workload and r["result"]), key=lambda p: p[0])
        if not points:
            continue
        xs = [c for c, _ in points]
        for stat, style in (("median", "-o"), ("p95", ":s")):
            ax.plot(xs, [res.get(f"{stat}_{metric}_ms") for _, res in points], style,
                    label=f"{workload} {'p50' if stat == 'median' else stat}")


# --- next to the estimate -------------------------------------------------------------------


def latest_results(spec_name: str, runs_dir: Path = paths.RUNS_DIR) -> Path | None:
    found = sorted((runs_dir / spec_name).glob("bench-*.json"))
    return found[-1] if found else None


def capacity(spec_name: str, est) -> dict | None:
    """The last bench run's concurrency next to the estimate's KV capacity, per replica: tokens
    in flight = concurrency x measured tokens per request (input + output, from SGLang's own
    totals). An upper bound for shared-prefix runs: the radix cache stores a prefix once."""
    path = latest_results(spec_name)
    if path is None:
        return None
    doc = json.loads(path.read_text(encoding="utf-8"))
    total = est.kv_tokens * est.kv_pools * est.data
    runs = []
    for row in doc.get("runs", []):
        result = row.get("result") or {}
        if not result.get("completed"):
            continue
        per_request = (result["total_input_tokens"] + result["total_output_tokens"]) / result["completed"]
        in_flight = round(row["concurrency"] * per_request)
        runs.append({"run": row["key"], "concurrency": row["concurrency"],
                     "tokens_per_request": round(per_request), "tokens_in_flight": in_flight,
                     "share_of_kv": in_flight / total if total else None,
                     "p95_ttft_ms": result.get("p95_ttft_ms")})
    return {"results": str(path), "kv_tokens": total, "runs": runs}


def capacity_text(found: dict | None) -> str:
    if not found:
        return ""
    lines = [f"  measured ({found['results']}), against {found['kv_tokens']:,} KV tokens per replica:"]
    for r in found["runs"]:
        share = f"{r['share_of_kv']:.1%}" if r["share_of_kv"] is not None else "-"
        lines.append(f"    {r['run']}: {r['concurrency']} in flight x {r['tokens_per_request']:,} "
                     f"tokens = {r['tokens_in_flight']:,} tokens ({share} of the KV cache), "
                     f"p95 TTFT {r['p95_ttft_ms']:.0f} ms")
    return "\n" + "\n".join(lines)
