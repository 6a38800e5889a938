"""`servespec size --write SPEC`: the chosen candidate as a commented spec file.

The file holds the same data the sweep checked (candidates.spec_data), so it passes the same
rules; each sized value carries a comment saying why it was chosen. With `--extends BASE` it
names the base and holds only what sizing decides (plus the app and the volumes, which must
not be shared with the base's deployment).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from renderer.files import write_atomic
from renderer.size.sweep import Candidate, Sweep

# What sizing decides; with --extends only these (and the app and volume names) are written.
SIZED = (("app",), ("description",), ("model", "context_length"), ("model", "facts"),
         ("engine", "max_running_requests"), ("hardware",), ("parallelism",), ("precision",),
         ("speculative",), ("storage", "weights", "volume"), ("storage", "cache", "volume"),
         ("serving", "auth", "api_key_secret"))


def comments(sw: Sweep, cand: Candidate, rank: int) -> dict[tuple, str]:
    req, est, fl = sw.request, cand.estimate, cand.floors
    passing = len(sw.ranked)
    return {
        ("hardware",): (f"rank {rank} of {passing} candidates that pass every rule, by $ per million"
                        f" output tokens at the floor (${cand.usd_per_m:.3f}/M, {fl.tokens_per_s_floor:,.0f}"
                        f" tokens/s at {fl.concurrency} sequences): a hardware limit, not a prediction"),
        ("hardware", "gpus_per_node"): (f"${est.usd_per_hour_replica:.2f}/h per replica;"
                                        f" weights {est.weights_per_gpu_bytes / 2**30:.1f} GiB per GPU"),
        ("parallelism",): (f"{cand.shape.label}: KV for {est.full_context_sequences} sequence(s) of"
                           f" {req.context:,} tokens ({est.kv_tokens:,} tokens per pool)"),
        ("model", "context_length"): "servespec size --context",
        ("engine", "max_running_requests"): "servespec size --concurrency: the sequences sized for",
        ("precision", "kv_cache"): "servespec size --kv-cache",
        ("model", "revision"): "replace with the commit hash you tested",
        ("engine", "image"): "add @sha256:<digest> once pulled and tested",
        ("scaling", "min_replicas"): ("one warm replica: at 0 an @app.server answers 503 for a whole"
                                      " cold start (SS141); set 0 and run `servespec wake` to scale to zero"),
    }


def _only(data: dict, paths) -> dict:
    out: dict = {}
    for path in paths:
        src, dst = data, out
        for key in path[:-1]:
            if key not in src:
                break
            src = src[key]
            dst = dst.setdefault(key, {})
        else:
            if path[-1] in src:
                dst[path[-1]] = src[path[-1]]
    return out


def _scalar(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_scalar(v) for v in value) + "]"
    return json.dumps(value)  # a JSON string is a YAML 1.2 string, quoted where it must be


def emit(data: dict, notes: dict[tuple, str], path: tuple = (), indent: int = 0) -> list[str]:
    lines = []
    for key, value in data.items():
        here = (*path, key)
        pad = "  " * indent
        note = notes.get(here)
        if isinstance(value, dict):
            if note:
                lines.append(f"{pad}# {note}")
            lines.append(f"{pad}{key}:")
            lines += emit(value, notes, here, indent + 1)
            if indent == 0:
                lines.append("")
        else:
            tail = f"  # {note}" if note else ""
            lines.append(f"{pad}{key}: {_scalar(value)}{tail}")
    return lines


def spec_text(sw: Sweep, cand: Candidate, rank: int, target: Path, command: str,
              extends: Path | None = None) -> str:
    data = dict(cand.data)
    data["model"] = {**data["model"], "facts": os.path.relpath(sw.facts_path.resolve(),
                                                               target.resolve().parent)}
    if extends is not None:
        data = {"extends": os.path.relpath(extends.resolve(), target.resolve().parent),
                **_only(data, SIZED)}
    head = ["# yaml-language-server: $schema=schema.json", "#",
            f"# Written by `{command}`.",
            "# Every value below passed the rules `servespec validate` runs; the figures in the",
            "# comments are floors (datasheet bandwidth and FLOP/s), never predictions.", ""]
    return "\n".join(head + emit(data, comments(sw, cand, rank))).rstrip() + "\n"


def write_spec(sw: Sweep, rank: int, target: Path, command: str,
               extends: Path | None = None) -> Candidate:
    cand = sw.ranked[rank - 1]
    write_atomic(target, spec_text(sw, cand, rank, target, command, extends))
    return cand
