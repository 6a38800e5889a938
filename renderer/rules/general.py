"""Rules of topology, scaling, context, pinning, names, secrets and the engine's flags.

Each rule is a small function registered under its id (renderer/rules/registry.py); its title,
severity, reason and upstream link live in catalog/rules.yaml.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

from renderer import catalog
from renderer.errors import LoadError
from renderer.resolve import sglang_args
from renderer.resolve.support import kv_auto_is_fp8, speculative_mode
from renderer.rules.registry import Hit, RuleContext, rule
from renderer.runtime.redact import looks_secret
from renderer.spec.load import dotted, load_file

# --- topology -------------------------------------------------------------------------------


@rule("SS101")
def parallelism_covers_gpus(ctx: RuleContext) -> Iterator[Hit]:
    par = ctx.spec["parallelism"]
    product = par["tensor"] * par["pipeline"] * par["data"]
    hw = ctx.spec["hardware"]
    if product != ctx.total_gpus:
        where = ("parallelism", "tensor") if ("parallelism", "tensor") in ctx.doc.value_pos \
            else ("parallelism",)
        yield where, (
            f"tensor x pipeline x data = {par['tensor']} x {par['pipeline']} x {par['data']} = "
            f"{product}, but the replica has {hw['gpus_per_node']} GPUs x {hw['nodes']} node(s) = "
            f"{ctx.total_gpus}"
        )


@rule("SS102")
def gpus_per_container(ctx: RuleContext) -> Iterator[Hit]:
    hw = ctx.spec["hardware"]
    limit = ctx.gpu["max_per_container"]
    if hw["gpus_per_node"] > limit:
        yield ("hardware", "gpus_per_node"), (
            f"{hw['gpus_per_node']} x {hw['gpu']} in one container; Modal allows at most {limit}"
        )


@rule("SS120")
def clusters_take_whole_hosts(ctx: RuleContext) -> Iterator[Hit]:
    hw = ctx.spec["hardware"]
    limit = ctx.gpu["max_per_container"]
    if hw["nodes"] > 1 and hw["gpus_per_node"] != limit:
        yield ("hardware", "gpus_per_node"), (
            f"a {hw['nodes']}-node replica needs all {limit} GPUs of each host, "
            f"not {hw['gpus_per_node']}"
        )


# --- precision and kernels ------------------------------------------------------------------


def _architecture_in(ctx: RuleContext, key: str) -> bool:
    """Model-specific rules fire only for the architectures catalog/model_support.yaml lists
    under `model_rules.<key>` (with the upstream source of the behaviour)."""
    listed = catalog.model_support()["model_rules"][key]["architectures"]
    return bool(ctx.facts) and ctx.facts.get("architecture") in listed


@rule("SS103")
def no_fp8_kv_with_eagle(ctx: RuleContext) -> Iterator[Hit]:
    if not _architecture_in(ctx, "fp8_kv_with_eagle"):
        return
    if ctx.spec["speculative"]["algorithm"] != "none" and ctx.spec["precision"]["kv_cache"].startswith("fp8"):
        yield ("precision", "kv_cache"), (
            f"kv_cache {ctx.spec['precision']['kv_cache']} with speculative "
            f"{ctx.spec['speculative']['algorithm']} on {ctx.facts['architecture']}; use bf16"
        )


@rule("SS104")
def kv_dtype_explicit(ctx: RuleContext) -> Iterator[Hit]:
    if ctx.spec["precision"]["kv_cache"] == "auto" and kv_auto_is_fp8(ctx.facts, ctx.deployment.capability):
        yield ("precision", "kv_cache"), (
            f"kv_cache 'auto' makes SGLang pick fp8_e4m3 for this DSA model on {ctx.deployment.gpu};"
            " write bf16 or fp8_e4m3"
        )


@rule("SS106")
def cache_volume_names_arch(ctx: RuleContext) -> Iterator[Hit]:
    """Only a name that says another architecture: every directory inside the volume is keyed
    by architecture and image (resolve/caches.py), so sharing one volume is harmless."""
    cache = ctx.deployment.cache
    if cache is None:
        return  # nothing persisted (SS192 says what that costs)
    arch, volume = ctx.deployment.arch, cache.volume.name
    if arch in volume.lower():
        return
    others = sorted({g["arch"] for g in catalog.gpus().values()} - {arch})
    stale = [a for a in others if re.search(rf"(^|[^a-z0-9]){a}($|[^0-9a-z])", volume.lower())]
    if stale:
        yield ("storage", "cache", "volume"), (
            f"volume '{volume}' names {stale[0]}, but {ctx.spec['hardware']['gpu']} kernels are"
            f" {arch} (kept under {cache.root}): rename it, e.g. '{_with_arch(volume, arch)}',"
            " or drop the architecture from the name"
        )


def _with_arch(volume: str, arch: str) -> str:
    base = re.sub(r"-?sm[0-9]+[a-z]?", "", volume) or "cache"
    return f"{base}-{arch}"


# --- scaling --------------------------------------------------------------------------------


@rule("SS107")
def min_at_most_max(ctx: RuleContext) -> Iterator[Hit]:
    sc = ctx.spec["scaling"]
    if sc["min_replicas"] > sc["max_replicas"]:
        yield ("scaling", "min_replicas"), (
            f"min_replicas {sc['min_replicas']} is more than max_replicas {sc['max_replicas']}"
        )


@rule("SS108")
def scaledown_in_range(ctx: RuleContext) -> Iterator[Hit]:
    window = ctx.spec["scaling"]["scaledown_window"]
    if not 2 <= window <= 3600:
        yield ("scaling", "scaledown_window"), f"scaledown_window {window} s is outside 2..3600 s"


@rule("SS121")
def target_at_most_max_inputs(ctx: RuleContext) -> Iterator[Hit]:
    sc = ctx.spec["scaling"]
    target = sc.get("target_inputs")
    if target is not None and target > sc["max_inputs"]:
        yield ("scaling", "target_inputs"), (
            f"target_inputs {target} is more than max_inputs {sc['max_inputs']}"
        )


# --- model and context ----------------------------------------------------------------------


@rule("SS109")
def context_within_model(ctx: RuleContext) -> Iterator[Hit]:
    if not ctx.facts:
        return
    limit = ctx.facts.get("max_position_embeddings")
    length = ctx.spec["model"]["context_length"]
    override = _rope_override(ctx.spec)
    if override:  # SGLang's context length is the scaled one (configs/model_config.py)
        limit = int(override.get("original_max_position_embeddings") or limit or 0) \
            * float(override.get("factor") or 1)
    if isinstance(limit, (int, float)) and length > limit:
        yield ("model", "context_length"), (
            f"context_length {length} exceeds the model's max_position_embeddings {int(limit):,}"
            + _card_scaling_hint(ctx.facts, length)
        )


_OVERRIDE = "json-model-override-args"


def _rope_override(spec: dict) -> dict | None:
    """rope_scaling given through engine.extra_args json-model-override-args, if any."""
    raw = (spec["engine"].get("extra_args") or {}).get(_OVERRIDE)
    try:
        value = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        return None
    scaling = (value or {}).get("rope_scaling") if isinstance(value, dict) else None
    return scaling if isinstance(scaling, dict) else None


def _card_scaling_hint(facts: dict, length: int) -> str:
    card = facts.get("card_rope_scaling")
    if not card:
        return ""
    reach = int(card.get("original_max_position_embeddings") or facts["max_position_embeddings"]) \
        * float(card.get("factor") or 1)
    text = json.dumps({"rope_scaling": card}, separators=(",", ":"))
    fits = "" if reach >= length else f" (still short of {length:,})"
    return (f"; the model card documents {card.get('rope_type')} scaling to {int(reach):,}"
            f" positions{fits}: set engine.extra_args {_OVERRIDE}: '{text}'")


@rule("SS110")
def prefill_within_context(ctx: RuleContext) -> Iterator[Hit]:
    model = ctx.spec["model"]
    prefill = model.get("max_prefill_tokens")
    if prefill is not None and prefill > model["context_length"]:
        yield ("model", "max_prefill_tokens"), (
            f"max_prefill_tokens {prefill} exceeds context_length {model['context_length']}"
        )


@rule("SS125")
def facts_match_model(ctx: RuleContext) -> Iterator[Hit]:
    if ctx.facts and ctx.facts.get("repo") not in (None, ctx.spec["model"]["repo"]):
        yield ("model", "facts"), (
            f"facts describe {ctx.facts.get('repo')}, but the spec serves {ctx.spec['model']['repo']}"
        )


@rule("SS126")
def facts_available(ctx: RuleContext) -> Iterator[Hit]:
    if not ctx.spec["model"].get("facts"):
        yield ("model",), "no model.facts: memory fit and context length are not checked"
    elif ctx.facts and (problem := ctx.estimate_error):
        yield ("model", "facts"), f"{problem}: memory fit and KV capacity are not checked"


# --- pinning --------------------------------------------------------------------------------

_DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
_COMMIT = re.compile(r"^[0-9a-f]{40}$")


def _image_tag(image: str) -> str | None:
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else None


@rule("SS111")
def image_not_latest(ctx: RuleContext) -> Iterator[Hit]:
    image = ctx.spec["engine"]["image"]
    tag = _image_tag(image)
    if not _DIGEST.search(image) and tag in (None, "latest"):
        shown = "no tag (which means 'latest')" if tag is None else "the tag 'latest'"
        yield ("engine", "image"), f"image '{image}' has {shown}"


@rule("SS112")
def image_pinned(ctx: RuleContext) -> Iterator[Hit]:
    image = ctx.spec["engine"]["image"]
    if not _DIGEST.search(image) and _image_tag(image) not in (None, "latest"):
        yield ("engine", "image"), f"image '{image}' is pinned by tag only, not by @sha256 digest"


@rule("SS113")
def revision_pinned(ctx: RuleContext) -> Iterator[Hit]:
    revision = ctx.spec["model"]["revision"]
    if not _COMMIT.match(revision):
        yield ("model", "revision"), f"revision '{revision}' is a branch or tag, not a commit hash"


# --- security and names ---------------------------------------------------------------------


@rule("SS114")
def endpoint_authenticated(ctx: RuleContext) -> Iterator[Hit]:
    auth = ctx.spec["serving"].get("auth", {})
    if not auth.get("api_key_secret") and not auth.get("allow_unauthenticated"):
        reach = ("anyone with the URL" if auth.get("public")
                 else "anyone holding one of the workspace's proxy tokens")
        yield ("serving",), f"no serving.auth.api_key_secret: {reach} could use the endpoint"


_APP_ID = re.compile(r"^ap-[a-zA-Z0-9]{22}$")
_OBJECT_NAME = re.compile(r"^[a-zA-Z0-9._-]+$")
_DNS_LABEL = re.compile(r"^(?![0-9]+$)(?!-)[a-z0-9-]{1,40}(?<!-)$")


def modal_name_problem(name: str) -> str | None:
    """Mirrors modal 1.6.4 is_valid_object_name; tests compare the two on many strings."""
    if len(name) > 64:
        return f"{len(name)} characters; at most 64"
    if not _OBJECT_NAME.match(name):
        return "only letters, digits, '-', '_' and '.' are allowed"
    if _APP_ID.match(name):
        return "looks like a Modal App id (ap-...)"
    return None


@rule("SS115")
def names_valid_for_modal(ctx: RuleContext) -> Iterator[Hit]:
    spec = ctx.spec
    app = spec["app"]
    problem = modal_name_problem(app)
    if problem is None and not _DNS_LABEL.match(app):
        problem = "the App name is the URL label: lowercase letters, digits and '-', at most 40"
    if problem:
        yield ("app",), f"invalid App name '{app}': {problem}"
    named = [
        (("storage", "weights", "volume"), "Volume"),
        (("storage", "cache", "volume"), "Volume"),
        (("download", "hf_token_secret"), "Secret"),
        (("serving", "auth", "api_key_secret"), "Secret"),
    ]
    for path, kind in named:
        value = _get(spec, path)
        if value is not None and (problem := modal_name_problem(value)):
            yield path, f"invalid {kind} name '{value}': {problem}"


@rule("SS127")
def own_app_name(ctx: RuleContext) -> Iterator[Hit]:
    """A spec that inherits `app` from a sibling spec would deploy over the sibling's app."""
    written = ctx.doc.position(("app",)).file
    source, here = _resolved(written), _resolved(ctx.doc.position(()).file)
    if source != here and source.parent == here.parent:
        yield ("extends",) if ("extends",) in ctx.doc.key_pos else ("app",), (
            f"app '{ctx.spec['app']}' is inherited from {Path(written).name}, which deploys"
            " on its own:"
            " deploying this spec would replace that app; give this spec its own `app:`"
        )


@rule("SS128")
def app_name_unique(ctx: RuleContext) -> Iterator[Hit]:
    """Two specs in one folder that name the same app would deploy over each other."""
    here = _resolved(ctx.doc.position(()).file)
    if _resolved(ctx.doc.position(("app",)).file) != here:
        return  # inherited: SS127 speaks for inherited names
    app = ctx.spec["app"]
    for other in _app_lines(here.parent).get(app, []):
        if other != here and _own_app(other) == app:  # the loader has the last word
            yield ("app",), f"app '{app}' is also the app of {other.name}: they would replace each other"


def _resolved(file: str) -> Path:
    return _resolved_in(file, os.getcwd())


@lru_cache(maxsize=1024)  # two rules ask for the same files; resolve() reads the file system
def _resolved_in(file: str, cwd: str) -> Path:
    return Path(cwd, file).resolve()


_APP_LINE = re.compile(r"^app:[ \t]*[\"']?([A-Za-z0-9._-]+)[\"']?[ \t]*(?:#.*)?$", re.MULTILINE)


@lru_cache(maxsize=64)
def _app_lines(folder: Path) -> dict[str, list[Path]]:
    """Which specs of a folder write which `app:` line: a cheap index, built once per process
    and folder, so that checking N specs does not read N x N files."""
    index: dict[str, list[Path]] = {}
    for path in sorted(folder.glob("*.yaml")):
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        for match in _APP_LINE.finditer(text):
            index.setdefault(match.group(1), []).append(path.resolve())
    return index


def _own_app(path: Path) -> str | None:
    """`app:` as written in that file itself (not inherited)."""
    try:
        app = load_file(path).data.get("app")
    except LoadError:
        return None  # that file's own check reports it
    return app if isinstance(app, str) else None


@rule("SS123")
def no_secret_values_in_env(ctx: RuleContext) -> Iterator[Hit]:
    for key in ctx.spec["engine"].get("env", {}):
        if looks_secret(key):
            yield ("engine", "env", key), (
                f"'{key}' looks like a secret; put it in a Modal Secret, not in engine.env"
            )


def _get(data: dict, path: tuple):
    for part in path:
        if not isinstance(data, dict) or part not in data:
            return None
        data = data[part]
    return data


# --- speculative decoding -------------------------------------------------------------------


@rule("SS116")
def eagle_draft_tokens(ctx: RuleContext) -> Iterator[Hit]:
    """Every EAGLE-family algorithm (EAGLE, NEXTN, EAGLE3, STANDALONE: the draft-tree ones in
    catalog/model_support.yaml) goes through SGLang's _handle_eagle_family, which does this."""
    spec = ctx.spec["speculative"]
    if speculative_mode(ctx.spec)["tree"] and spec["eagle_topk"] == 1 \
            and spec["num_draft_tokens"] != spec["num_steps"] + 1:
        yield ("speculative", "num_draft_tokens"), (
            f"with eagle_topk 1 SGLang uses num_steps + 1 = {spec['num_steps'] + 1} draft tokens, "
            f"not {spec['num_draft_tokens']}"
        )


@rule("SS124")
def speculative_needs_running_cap(ctx: RuleContext) -> Iterator[Hit]:
    algorithm = ctx.spec["speculative"]["algorithm"]
    if algorithm != "none" and ctx.spec["engine"].get("max_running_requests") is None:
        yield ("engine",), (f"speculative {algorithm} without engine.max_running_requests "
                            "(SGLang then picks 48)")


# --- SGLang version knowledge ---------------------------------------------------------------


@rule("SS118")
def version_known(ctx: RuleContext) -> Iterator[Hit]:
    version = ctx.spec["engine"]["version"]
    if sglang_args.table(version) is None:
        known = ", ".join(sglang_args.known_versions())
        yield ("engine", "version"), f"SGLang {version} is not in the flag table (known: {known})"


@rule("SS117")
def options_exist_in_version(ctx: RuleContext) -> Iterator[Hit]:
    version = ctx.spec["engine"]["version"]
    if sglang_args.table(version) is None:
        return
    for option in sglang_args.missing_options(version, ctx.deployment.options):
        yield option.path, f"SGLang {version} has no flag for {option.name}"
    for name, path in sglang_args.unknown_extra_args(ctx.spec):
        yield path, f"SGLang {version} has no flag --{name}"


@rule("SS119")
def values_accepted_by_version(ctx: RuleContext) -> Iterator[Hit]:
    version = ctx.spec["engine"]["version"]
    if sglang_args.table(version) is None:
        return
    for path, value, choices in sglang_args.invalid_choices(version, ctx.deployment.options):
        yield path, f"'{value}' is not accepted by SGLang {version}: {_short(choices)}"


@rule("SS122")
def extra_args_do_not_repeat_fields(ctx: RuleContext) -> Iterator[Hit]:
    for name, path, field_path in sglang_args.extra_args_conflicts(ctx.spec,
                                                                   ctx.deployment.options):
        yield path, f"--{name} belongs to {dotted(field_path)}; set that field instead"


@rule("SS220")
def extra_args_the_estimate_reads(ctx: RuleContext) -> Iterator[Hit]:
    for name, path, reason in sglang_args.refused_extra_args(ctx.spec):
        yield path, f"--{name} is not accepted in extra_args: {reason}"


def _short(choices: list[str], limit: int = 12) -> str:
    shown = ", ".join(choices[:limit])
    return shown + (f", ... ({len(choices)} in all)" if len(choices) > limit else "")

