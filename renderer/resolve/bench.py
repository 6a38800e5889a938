"""What `servespec bench` will run for a spec: its settings and each workload's prompt count.
A module of its own so that the bench rules (rules_bench.py) can read it without importing
bench.py, which reads specs through the pipeline that runs those rules (no import cycle)."""

from __future__ import annotations

from renderer import catalog
from renderer.resolve import edge

REMOTE_FUNCTION = "bench_endpoint"  # the app's CPU function that runs SGLang's benchmark
# Set only for a `servespec bench` run: deploy.py then copies the proxy token into the bench
# function's Secret; a plain `modal deploy` stores no token in the app.
REMOTE_FLAG_VAR = "SERVESPEC_BENCH"


def settings(spec: dict) -> dict:
    """The spec's bench section over the catalog defaults (workloads replace as a whole)."""
    merged = dict(catalog.bench())
    merged.update({k: v for k, v in (spec.get("bench") or {}).items() if v is not None})
    return merged


def prompt_count(workload: dict, concurrency: int) -> int:
    if workload["dataset"] == "generated-shared-prefix":
        return workload["groups"] * workload["prompts_per_group"]
    return max(workload["min_prompts"], workload["prompts_per_concurrency"] * concurrency)


def template_context(spec: dict) -> dict:
    """What deploy.py.j2's bench block needs (the render stage adds it to its context)."""
    proxy = edge.from_spec(spec)
    return {"timeout": settings(spec)["timeout"], "flag_env": REMOTE_FLAG_VAR,
            "proxy_env": proxy.names if proxy else [], "function": REMOTE_FUNCTION}
