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
from functools import cache
from typing import Any

from renderer import catalog

# `sglang serve` exists in 0.5.10 and 0.5.23 (sglang/cli/main.py); 0.5.23 warns that
# `python -m sglang.launch_server` is deprecated. A version may override it with `launcher`.
DEFAULT_LAUNCHER = ("sglang", "serve")


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


def options(spec: dict, *, quantization: str | None, draft_dir: str | None, model_dir: str,
            tree: bool) -> list[Option]:
    """The logical options this spec sets, in the order they are rendered. The values that
    depend on model facts (quantization, the draft's directory) come from renderer/resolve/deployment.py."""
    model = spec["model"]
    out = [
        Option("model_path", model_dir, ("model", "repo")),
        Option("served_model_name", model["served_name"], ("model", "served_name")),
        Option("host", "0.0.0.0", ("serving", "port")),
        Option("port", spec["serving"]["port"], ("serving", "port")),
        *_parallelism(spec),
    ]
    if model.get("trust_remote_code"):
        out.append(Option("trust_remote_code", True, ("model", "trust_remote_code")))
    if quantization:
        out.append(Option("quantization", quantization, ("precision", "weights")))
    # Always explicit: on 'auto' SGLang 0.5.23 picks FP8 KV for DSA models on Blackwell.
    out.append(Option("kv_cache_dtype", spec["precision"]["kv_cache"], ("precision", "kv_cache")))
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
    out += _speculative(spec, draft_dir, tree)
    return out + _engine(spec["engine"])


def _parallelism(spec: dict) -> list[Option]:
    """tp/pp/dp/ep and attention data parallelism. Where the version has no --attn-dp-size
    (0.5.10), attention DP is spelled --dp-size N --enable-dp-attention; SS190 rejects a spec
    that would need --dp-size for both meanings at once."""
    par, hw = spec["parallelism"], spec["hardware"]
    out = [Option("tp_size", par["tensor"], ("parallelism", "tensor"))]
    for key, logical in (("pipeline", "pp_size"), ("data", "dp_size"), ("expert", "ep_size")):
        if par[key] != 1:
            out.append(Option(logical, par[key], ("parallelism", key)))
    adp = par.get("attention_data", 1)
    if adp != 1:
        flags = (table(spec["engine"]["version"]) or {}).get("flags", {})
        if flags.get("attn_dp_size") or not flags.get("enable_dp_attention"):
            out.append(Option("attn_dp_size", adp, ("parallelism", "attention_data")))
        else:
            out += [Option("dp_size", adp, ("parallelism", "attention_data")),
                    Option("enable_dp_attention", True, ("parallelism", "attention_data"))]
    if hw["nodes"] > 1:
        out.append(Option("nnodes", hw["nodes"], ("hardware", "nodes")))
    return out


def _speculative(spec: dict, draft_dir: str | None, tree: bool) -> list[Option]:
    sd = spec["speculative"]
    if sd["algorithm"] == "none":
        return []
    path = ("speculative",)
    out = [Option("speculative_algorithm", sd["algorithm"], path + ("algorithm",))]
    if draft_dir:
        out.append(Option("speculative_draft_model_path", draft_dir, path + ("draft", "repo")))
    if tree:  # EAGLE-style draft trees; n-gram takes only the number of draft tokens
        out += [Option("speculative_num_steps", sd["num_steps"], path + ("num_steps",)),
                Option("speculative_eagle_topk", sd["eagle_topk"], path + ("eagle_topk",))]
    out.append(Option("speculative_num_draft_tokens", sd["num_draft_tokens"],
                      path + ("num_draft_tokens",)))
    return out


def _engine(engine: dict) -> list[Option]:
    out = []
    for key in ("tool_call_parser", "reasoning_parser"):
        if engine.get(key):
            out.append(Option(key, engine[key], ("engine", key)))
    if not engine["radix_cache"]:
        out.append(Option("disable_radix_cache", True, ("engine", "radix_cache")))
    if engine["enable_metrics"]:
        out.append(Option("enable_metrics", True, ("engine", "enable_metrics")))
    out.append(Option("log_level", engine["log_level"], ("engine", "log_level")))
    if engine.get("watchdog_timeout") is not None:
        out.append(Option("watchdog_timeout", engine["watchdog_timeout"],
                          ("engine", "watchdog_timeout")))
    return out


def missing_options(version: str, opts) -> list[Option]:
    """Options the spec sets that the pinned version has no flag for."""
    flags = table(version)["flags"]
    return [o for o in opts if flags.get(o.name) is None]


def invalid_choices(version: str, opts) -> list[tuple[tuple, Any, list[str]]]:
    choices = table(version).get("choices", {})
    bad = []
    for option in opts:
        allowed = choices.get(option.name)
        if allowed is not None and str(option.value) not in allowed:
            bad.append((option.path, option.value, list(allowed)))
    return bad


def _extra(spec: dict) -> dict:
    return spec["engine"].get("extra_args", {})


def unknown_extra_args(spec: dict) -> list[tuple[str, tuple]]:
    if not _extra(spec):
        return []
    every = _all_flags(spec["engine"]["version"])
    return [(name, ("engine", "extra_args", name)) for name in sorted(_extra(spec))
            if f"--{name}" not in every]


@cache
def _all_flags(version: str) -> frozenset[str]:
    return frozenset((table(version) or {}).get("all_flags", []))


def owned_flags(version: str) -> dict[str, tuple]:
    """Every flag of `version` a spec field owns (catalog/sglang_flags.yaml options.*.owner),
    the option's other spellings included: flag -> the field's path."""
    return dict(_owned_flags(version))


@cache
def _owned_flags(version: str) -> dict[str, tuple]:
    every = _all_flags(version)
    out = {}
    for option in catalog.sglang_flags()["options"].values():
        for flag in option["names"] if option.get("owner") else ():
            if flag in every:
                out[flag] = tuple(option["owner"].split("."))
    return out


def extra_args_conflicts(spec: dict, opts) -> list[tuple[str, tuple, tuple]]:
    """extra_args flags a spec field owns, whether or not this spec renders that field."""
    if not _extra(spec):
        return []
    version = spec["engine"]["version"]
    flags = (table(version) or {}).get("flags", {})
    owned = owned_flags(version)
    owned.update({flags.get(o.name): o.path for o in opts if flags.get(o.name)})
    return [(name, ("engine", "extra_args", name), owned[f"--{name}"])
            for name in sorted(_extra(spec)) if f"--{name}" in owned]


def refused_extra_args(spec: dict) -> list[tuple[str, tuple, str]]:
    """extra_args flags that change memory accounting or parallel shape which the estimate does
    not read (catalog/sglang_flags.yaml extra_args.*.refused): (name, path, reason)."""
    table_ = catalog.sglang_flags().get("extra_args") or {}
    return [(name, ("engine", "extra_args", name), table_[name]["refused"])
            for name in sorted(_extra(spec)) if "refused" in (table_.get(name) or {})]


def extra_arg(spec: dict, name: str):
    """An extra_args value the estimate reads (catalog/sglang_flags.yaml extra_args.*.estimate)."""
    return _extra(spec).get(name)


# --- rendering ------------------------------------------------------------------------------


def arguments(opts, spec: dict) -> list[tuple[str, Any]]:
    """(flag, value) pairs in render order; value True means a bare switch."""
    flags = table(spec["engine"]["version"])["flags"]
    pairs = [(flags[o.name], o.value) for o in opts]
    # A switch set to false in extra_args means "leave it off": there is nothing to render.
    pairs += [(f"--{name}", value) for name, value in sorted(_extra(spec).items())
              if value is not False]
    return pairs


def text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def argv(pairs: list[tuple[str, Any]]) -> list[str]:
    """The argument vector after the program name, as the server process receives it."""
    out: list[str] = []
    for flag, value in pairs:
        out.append(flag)
        if value is not True:
            out.append(text(value))
    return out


def lines(pairs: list[tuple[str, Any]]) -> list[str]:
    """One flag per line, values quoted for a POSIX shell: diffs show exactly what changed."""
    return [flag if value is True else f"{flag} {shlex.quote(text(value))}"
            for flag, value in pairs]
