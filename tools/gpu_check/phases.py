"""The phases of one server start, read from SGLang's own log lines (GPU check).

Each log line comes with the seconds since the container process started, stamped when the line
arrived (the line's own timestamp has whole seconds only). The markers are SGLang 0.5.16's
messages:

    weights_begin  "Load weight begin."              srt/model_executor/model_runner.py
    weights_end    "Load weight end. elapsed=..."    srt/model_executor/model_runner.py
    kv_pool        "Memory pool end."                srt/mem_cache/kv_cache_configurator.py
    graph_begin    "Capture ... graph begin."        srt/model_executor/model_runner_components/
    graph_end      "Capture ... graph end." (last)     cuda_graph_setup.py
    http_up        "Uvicorn running on" / "Application startup complete" (uvicorn)
    ready          "The server is fired up and ready to roll!"   srt/entrypoints/http_server.py,
                   after the warm-up request (the first request; Triton JIT runs in it)
    healthy        servespec's supervisor: "server healthy after ... s"

The phases are the gaps between them; a marker that is missing (an older or newer SGLang, CUDA
graphs off) leaves its phases out rather than guessing. Standard library only.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

MARKERS = (
    ("weights_begin", re.compile(r"Load weight begin"), "first"),
    ("weights_end", re.compile(r"Load weight end"), "first"),
    ("kv_pool", re.compile(r"Memory pool end|KV Cache is allocated"), "last"),
    ("graph_begin", re.compile(r"Capture .*graph begin", re.IGNORECASE), "first"),
    ("graph_end", re.compile(r"Capture .*graph end", re.IGNORECASE), "last"),
    ("http_up", re.compile(r"Uvicorn running on|Application startup complete"), "first"),
    ("ready", re.compile(r"The server is fired up and ready to roll"), "first"),
    ("healthy", re.compile(r"server healthy after"), "first"),
)

# (phase, from marker, to marker, what it covers)
PHASES = (
    ("engine_init", "start", "weights_begin",
     ("process start to weight loading: imports, scheduler and detokenizer processes, torch "
      "distributed init")),
    ("weights", "weights_begin", "weights_end", "checkpoint read and weight post-processing"),
    ("kv_pool", "weights_end", "kv_pool", "KV cache and request pools allocated"),
    ("graph_capture", "graph_begin", "graph_end",
     "CUDA-graph capture (decode, and prefill where on)"),
    ("server_up", "graph_end", "http_up",
     "the rest of the scheduler's start and the HTTP server"),
    ("first_request", "http_up", "ready",
     "SGLang's warm-up request: kernels JIT-compiled or read from the caches"),
    ("health_seen", "ready", "healthy", "until the supervisor's next /health probe"),
)


def events(lines: Iterable[tuple[float, str]]) -> dict[str, float]:
    """{marker: seconds since start} for every marker found."""
    found: dict[str, float] = {"start": 0.0}
    for seconds, text in lines:
        for name, pattern, which in MARKERS:
            if pattern.search(text) and (which == "last" or name not in found):
                found[name] = seconds
    return found


def phases(found: dict[str, float]) -> list[dict]:
    """Each phase whose two markers were both seen, in start order."""
    out = []
    for name, begin, end, what in PHASES:
        if begin in found and end in found and found[end] >= found[begin]:
            out.append({"name": name, "seconds": round(found[end] - found[begin], 2),
                        "what": what})
    return out


def load_weight_seconds(lines: Iterable[tuple[float, str]]) -> float | None:
    """SGLang's own figure for the weight load ("Load weight end. elapsed=1.23 s")."""
    pattern = re.compile(r"Load weight end\. elapsed=([0-9.]+) s")
    for _, text in lines:
        match = pattern.search(text)
        if match:
            return float(match.group(1))
    return None


def summary(lines: list[tuple[float, str]]) -> dict:
    found = events(lines)
    return {"events": {k: round(v, 2) for k, v in found.items()},
            "phases": phases(found),
            "start_to_healthy": round(found["healthy"], 2) if "healthy" in found else None,
            "sglang_load_weight_seconds": load_weight_seconds(lines)}
