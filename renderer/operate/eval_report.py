"""What `servespec eval` leaves behind: a row per task with the module's figures, the score's
confidence interval, and the verdict against the expectation.

The figures are the module's own metrics dict per task (sglang test/run_eval.py writes it to
/tmp/<task>_<model>.json: score, score:std, latency, output_throughput and whatever the task adds),
kept whole. The interval is Wilson's score interval for a proportion: every task run_eval scores
is a mean of per-example scores of 0 or 1 (correct or not; pass@1 for humaneval), so the score
of n examples is a binomial proportion, and the interval says how far chance alone moves it at
that n (about +-0.2 at n=20 around 0.5, +-0.03 at n=1000 around 0.95).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from statistics import NormalDist

from renderer.files import write_atomic

MET, BELOW, UNCHECKED, FAILED = "met", "below", "no expectation", "no score"


def wilson(score: float, n: int, confidence: float) -> tuple[float, float]:
    """Wilson score interval of a proportion `score` observed over n trials."""
    if n <= 0:
        return (0.0, 1.0)
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    centre = (score + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(score * (1 - score) / n + z * z / (4 * n * n))
    return (max(0.0, centre - half), min(1.0, centre + half))


def task_row(task, outcome: dict | None, confidence: float) -> dict:
    outcome = outcome or {"metrics": None, "examples": None, "error": "no result came back"}
    metrics = outcome.get("metrics")
    score = metrics.get("score") if isinstance(metrics, dict) else None
    # The module aggregated this many per-example results; without that count, what was asked.
    n = outcome.get("examples") or task.examples
    row = {"task": task.name, "argv": list(task.argv), "examples_requested": task.examples,
           "examples": n, "metrics": metrics, "score": score, "error": outcome.get("error"),
           "expect": task.expect.to_json() if task.expect else None, "interval": None,
           "report": outcome.get("report")}
    if isinstance(score, (int, float)):
        low, high = wilson(float(score), n, confidence)
        row["interval"] = {"confidence": confidence, "low": round(low, 4), "high": round(high, 4)}
    row["verdict"] = verdict(row, task.expect)
    return row


def verdict(row: dict, expect) -> str:
    if row["score"] is None:
        return FAILED
    if expect is None:
        return UNCHECKED
    return MET if row["score"] >= expect.floor - 1e-9 else BELOW


def rows(tasks, outcomes: list[dict], confidence: float) -> list[dict]:
    by_task = {o["task"]: o for o in outcomes}
    return [task_row(t, by_task.get(t.name), confidence) for t in tasks]


def failure_sentence(row: dict) -> str | None:
    if row["verdict"] == FAILED:
        return f"task {row['task']} has no score: {row['error']}"
    if row["verdict"] != BELOW:
        return None
    e, iv = row["expect"], row["interval"]
    text = (f"task {row['task']} scored {row['score']:.3f} over {row['examples']} examples "
            f"({iv['confidence']:.0%} interval {iv['low']:.3f}-{iv['high']:.3f}), below the "
            f"expected {e['score']:.3f} - {e['tolerance']:.3f} = {e['floor']:.3f} ({e['source']})")
    if iv["high"] >= e["floor"]:
        text += ("; the interval reaches the floor, so chance alone could explain it at this "
                 "number of examples: run more (eval.examples) before calling it a regression")
    return text


def write_json(path: Path, doc: dict) -> None:
    write_atomic(path, json.dumps(doc, indent=2, sort_keys=True, allow_nan=False) + "\n")


def table(task_rows: list[dict]) -> str:
    grid = [["task", "n", "score", "interval", "expected", "verdict"]]
    for r in task_rows:
        iv, e = r["interval"], r["expect"]
        grid.append([
            r["task"], str(r["examples"]),
            f"{r['score']:.3f}" if r["score"] is not None else "-",
            f"{iv['low']:.3f}-{iv['high']:.3f}" if iv else "-",
            f">= {e['floor']:.3f} ({e['score']:.3f} - {e['tolerance']:.3f})" if e else "-",
            r["verdict"].upper() if r["verdict"] == BELOW else r["verdict"]])
    widths = [max(len(g[i]) for g in grid) for i in range(len(grid[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(g, widths, strict=True)).rstrip() for g in grid]
    lines.insert(1, "  ".join("-" * w for w in widths))
    confidence = next((r["interval"]["confidence"] for r in task_rows if r["interval"]), None)
    if confidence is not None:
        lines.append(f"(interval: {confidence:.0%} Wilson interval of the score for n examples)")
    for r in task_rows:
        if r["expect"]:
            lines.append(f"{r['task']}: expectation from {r['expect']['from']}: "
                         f"{r['expect']['source']}")
    return "\n".join(lines)
