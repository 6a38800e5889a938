"""From a validated spec to SGLang launch arguments, for the exact SGLang version it pins.

The spec speaks in logical options (tensor parallel size, KV cache dtype, ...). Which flag spells
each option, and whether the version has it at all, is data: catalog/sglang_flags.yaml. This
module only decides which options a spec sets and asks the table how to spell them, so the check
stage (unknown options, invalid choices) and the render stage (the argument list) agree.

Runtime-only arguments are not rendered: the API key (read from a Modal Secret at start-up) and,
for multi-node replicas, --node-rank and --dist-init-addr (known only inside the cluster).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Any

from . import catalog
from .names import model_dir


@dataclass(frozen=True)
class Option:
    name: str  # logical option key in catalog/sglang_flags.yaml
    value: Any  # True renders a bare switch
    path: tuple  # the spec field it comes from, for findings


def known_versions() -> list[str]:
    return sorted(catalog.sglang_flags()["versions"], key=_version_key)


def _version_key(version: str) -> tuple:
    return tuple(int(p) if p.isdigit() else p for p in version.replace("rc", ".rc").split("."))


def table(version: str) -> dict | None:
    return catalog.sglang_flags()["versions"].get(version)


def options(spec: dict) -> list[Option]:
    """The logical options this spec sets, in the order they are rendered."""
    model, engine = spec["model"], spec["engine"]
    par, prec, spec_dec = spec["parallelism"], spec["precision"], spec["speculative"]
    out = [
        Option("model_path", model_dir(spec), ("model", "repo")),
        Option("served_model_name", model["served_name"], ("model", "served_name")),
        Option("host", "0.0.0.0", ("serving", "port")),
        Option("port", spec["serving"]["port"], ("serving", "port")),
        Option("tp_size", par["tensor"], ("parallelism", "tensor")),
    ]
    for key, logical in (("pipeline", "pp_size"), ("data", "dp_size"), ("expert", "ep_size")):
        if par[key] != 1:
            out.append(Option(logical, par[key], ("parallelism", key)))
    if spec["hardware"]["nodes"] > 1:
        out.append(Option("nnodes", spec["hardware"]["nodes"], ("hardware", "nodes")))
    if model.get("trust_remote_code"):
        out.append(Option("trust_remote_code", True, ("model", "trust_remote_code")))
    if prec["weights"].startswith("fp8"):
        out.append(Option("quantization", "fp8", ("precision", "weights")))
    # Always explicit: on 'auto' SGLang 0.5.23 picks FP8 KV for DSA models on Blackwell.
    out.append(Option("kv_cache_dtype", prec["kv_cache"], ("precision", "kv_cache")))
    for key, logical, section in (
        ("context_length", "context_length", "model"),
        ("max_prefill_tokens", "max_prefill_tokens", "model"),
        ("chunked_prefill_size", "chunked_prefill_size", "engine"),
        ("max_running_requests", "max_running_requests", "engine"),
        ("cuda_graph_max_bs", "cuda_graph_max_bs", "engine"),
        ("mem_fraction_static", "mem_fraction_static", "engine"),
    ):
        value = spec[section].get(key)
        if value is not None:
            out.append(Option(logical, value, (section, key)))
    if spec_dec["algorithm"] != "none":
        out += [
            Option("speculative_algorithm", spec_dec["algorithm"], ("speculative", "algorithm")),
            Option("speculative_num_steps", spec_dec["num_steps"], ("speculative", "num_steps")),
            Option("speculative_eagle_topk", spec_dec["eagle_topk"], ("speculative", "eagle_topk")),
            Option("speculative_num_draft_tokens", spec_dec["num_draft_tokens"],
                   ("speculative", "num_draft_tokens")),
        ]
    for key in ("tool_call_parser", "reasoning_parser"):
        if engine.get(key):
            out.append(Option(key, engine[key], ("engine", key)))
    if not engine["radix_cache"]:
        out.append(Option("disable_radix_cache", True, ("engine", "radix_cache")))
    if engine["enable_metrics"]:
        out.append(Option("enable_metrics", True, ("engine", "enable_metrics")))
    out.append(Option("log_level", engine["log_level"], ("engine", "log_level")))
    if engine.get("watchdog_timeout") is not None:
        out.append(Option("watchdog_timeout", engine["watchdog_timeout"], ("engine", "watchdog_timeout")))
    return out


def missing_options(spec: dict) -> list[Option]:
    """Options the spec sets that the pinned version has no flag for."""
    flags = table(spec["engine"]["version"])["flags"]
    return [o for o in options(spec) if flags.get(o.name) is None]


def invalid_choices(spec: dict) -> list[tuple[tuple, Any, list[str]]]:
    choices = table(spec["engine"]["version"]).get("choices", {})
    bad = []
    for option in options(spec):
        allowed = choices.get(option.name)
        if allowed is not None and str(option.value) not in allowed:
            bad.append((option.path, option.value, list(allowed)))
    return bad


def _extra(spec: dict) -> dict:
    return spec["engine"].get("extra_args", {})


def unknown_extra_args(spec: dict) -> list[tuple[str, tuple]]:
    every = set(table(spec["engine"]["version"]).get("all_flags", []))
    return [(name, ("engine", "extra_args", name)) for name in sorted(_extra(spec))
            if f"--{name}" not in every]


def extra_args_conflicts(spec: dict) -> list[tuple[str, tuple, tuple]]:
    flags = table(spec["engine"]["version"])["flags"] if table(spec["engine"]["version"]) else {}
    rendered = {flags.get(o.name): o.path for o in options(spec) if flags.get(o.name)}
    runtime = {flags.get(name) for name in ("api_key", "node_rank", "dist_init_addr")}
    out = []
    for name in sorted(_extra(spec)):
        flag = f"--{name}"
        if flag in rendered:
            out.append((name, ("engine", "extra_args", name), rendered[flag]))
        elif flag in runtime:
            out.append((name, ("engine", "extra_args", name), ("serving", "auth")))
    return out


# --- rendering ------------------------------------------------------------------------------


def arguments(spec: dict) -> list[tuple[str, Any]]:
    """(flag, value) pairs in render order; value True means a bare switch."""
    flags = table(spec["engine"]["version"])["flags"]
    pairs = [(flags[o.name], o.value) for o in options(spec)]
    # A switch set to false in extra_args means "leave it off": there is nothing to render.
    pairs += [(f"--{name}", value) for name, value in sorted(_extra(spec).items())
              if value is not False]
    return pairs


def text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def argv(spec: dict) -> list[str]:
    """The argument vector after the program name, as the server process receives it."""
    out: list[str] = []
    for flag, value in arguments(spec):
        out.append(flag)
        if value is not True:
            out.append(text(value))
    return out


def lines(spec: dict) -> list[str]:
    """One flag per line, values quoted for a POSIX shell: diffs show exactly what changed."""
    out = []
    for flag, value in arguments(spec):
        out.append(flag if value is True else f"{flag} {shlex.quote(text(value))}")
    return out
