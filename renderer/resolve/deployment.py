"""Stage 4, resolve: one checked spec + model facts + catalogs -> one typed Deployment.

Every value that more than one consumer needs is derived here, once: the SGLang options and
their spelling for the pinned version, the checkpoint's weight format and whether --quantization
is rendered, whether DeepGEMM applies, the draft model, volume and marker names, Modal's
container counts, secrets. The rules, the estimate, steps.py (steps.json) and the deploy.py
template read the Deployment; none of them derives these again.

Inputs beyond the spec are data: catalog/gpus.yaml (GPU architecture), catalog/sglang_flags.yaml
(flag spellings per SGLang version) and catalog/model_support.yaml (weight formats, DeepGEMM
conditions, speculative algorithms, each with its SGLang source), read through
renderer/resolve/support.py.

resolve() never raises for a spec that passed the schema: where the facts or the flag table lack
something, the Deployment says so (e.g. checkpoint_format None, an option with no flag) and the
rules turn that into findings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from renderer import catalog
from renderer.paths import JOBS_APP_SUFFIX, rendered_dir
from renderer.resolve import caches, edge, sglang_args
from renderer.resolve.sglang_args import Option
from renderer.resolve.support import (
    capability,
    checkpoint_format,
    deepgemm_applies,
    quantization_flag,
    speculative_mode,
)

DIST_INIT_PORT = 5757  # any free port on rank 0; SGLang's docs use 5000-5xxx
SHUTDOWN_NOTICE_PORT = 5758  # rank 0 -> other ranks "shutdown began" (renderer/runtime/supervise.py)
# sglang.compile_deep_gemm gets its own --timeout this far under the Modal function's timeout.
COMPILE_TIMEOUT_MARGIN = 300
# After SIGTERM SGLang drains until no request is left, checks that every 5 s, then gives its
# schedulers 15 s to exit (sglang 0.5.23 srt/managers/tokenizer_manager.py sigterm_watchdog,
# _SCHEDULER_EXIT_TIMEOUT_SECS): its own exit takes up to this long once the drain is over.
SGLANG_EXIT_SECONDS = 20
# The supervisor's bounded wait for the group after SIGKILL (renderer/runtime/supervise.py
# KILL_WAIT_SECONDS), then @modal.exit's cache commit and the runtime's own volume commits
# (modal/_runtime/user_code_imports.py, volume.py, modal 1.6.4).
KILL_WAIT_SECONDS = 5
COMMIT_MARGIN_SECONDS = 60
# A Server's exit_grace_period may not exceed this (modal/_server.py validate_http_server_config).
MODAL_SERVER_EXIT_GRACE_LIMIT = 3600
# Give up on an unhealthy server a minute before Modal's start-up deadline, so the failure is
# ours, with the server's last log lines, rather than a bare Modal timeout.
HEALTH_MARGIN = 60
# Files every download step leaves last, so an interrupted download is resumed, not trusted.
DOWNLOAD_MARKER = ".servespec-download-complete"


@dataclass(frozen=True)
class Volume:
    role: str  # "weights" or "cache"
    name: str
    mount: str
    version: int | None = None  # Modal Volume version; None: Modal's default (v1)


@dataclass(frozen=True)
class Download:
    """One Hugging Face snapshot the download step puts into the weights volume."""

    role: str  # "model" or "draft"
    repo: str
    revision: str
    directory: str  # absolute, inside the weights volume's mount
    marker: str
    ignore_patterns: tuple[str, ...]


@dataclass(frozen=True)
class Cache:
    """The start-up cache volume (storage.cache): every cache SGLang rebuilds at a cold start
    unless it finds it on disk (renderer/resolve/caches.py), under one directory per GPU architecture and
    image. Serving commits it back once healthy and at exit."""

    volume: Volume
    root: str  # SGLANG_CACHE_DIR: <mount>/<arch>/<image key>
    env: tuple[tuple[str, str], ...]  # the variables that put each cache under root


@dataclass(frozen=True)
class DeepGemm:
    """The DeepGEMM cache, present only where SGLang would call DeepGEMM (see catalog), in the
    cache volume under <cache root>/deep_gemm."""

    volume: Volume  # the cache volume
    cache_dir: str  # SGLANG_DG_CACHE_DIR
    key: str  # one precompile run: version, arch, model revision, parallelism
    marker: str
    compile: bool  # compile.enabled: precompile before serving
    compile_timeout: int
    # sglang.compile_deep_gemm --timeout (its own deadline and watchdog; default 3600)
    sglang_compile_timeout: int = 0

    @property
    def compile_margin(self) -> int:
        return self.compile_timeout - self.sglang_compile_timeout


@dataclass(frozen=True)
class Containers:
    """Modal counts containers; the spec counts replicas of `nodes` containers each."""

    min: int
    max: int
    buffer: int


@dataclass(frozen=True)
class Auth:
    api_key_secret: str | None  # None: SGLang checks no key
    api_key_env: str | None
    hf_token_secret: str | None
    secrets: tuple[str, ...]  # every Modal Secret name the deployment uses, sorted
    # Modal's edge: the variables holding the proxy token, None when serving.auth.public
    proxy: edge.ProxyAuth | None = None


@dataclass(frozen=True)
class ModalArgs:
    """Arguments of the Modal decorators and images, as deploy.py writes them."""

    port: int
    surface_line: str  # one line for deploy.py's docstring: surface and edge auth
    serve_name: str  # "Serve (class)" or "serve"
    serve_step: int  # the serving function's step number in deploy.py
    public: bool  # serving.auth.public: no proxy token at Modal's edge
    image: str
    image_key_source: str  # what keys the cache directory: the image digest, or its tag
    region: str | list[str] | None  # hardware.region (compute), None lets Modal choose
    routing_region: str  # serving.routing_region: @app.server's routing_region
    max_inputs: int
    target_inputs: int | None
    scaledown_window: int
    startup_timeout: int
    request_timeout: int
    exit_grace_period: int
    download_timeout: int
    download_python: str
    download_requirement: str  # pip requirement of the download image

    @property
    def requires_proxy_auth(self) -> bool:
        return not self.public


@dataclass(frozen=True)
class Deployment:
    name: str  # spec file stem: rendered/<name>/
    app: str
    spec: dict  # the checked spec, defaults filled (read-only by convention)
    sglang_version: str
    # hardware
    gpu: str
    arch: str  # "sm90"
    capability: int  # 90
    gpus_per_node: int
    nodes: int
    gpu_request: str  # Modal's gpu= argument, e.g. "H100!:8"
    gpu_label: str  # "8x H100 x 2 nodes"
    # the checkpoint and what the GPUs hold
    checkpoint_format: str | None  # from the facts; None when unknown (no facts)
    weights_format: str | None  # what the GPUs hold: the spec's, else the checkpoint's
    quantization: str | None  # --quantization value: on-the-fly quantization only
    # SGLang launch
    options: tuple[Option, ...]
    launcher: tuple[str, ...]
    # storage and steps
    rendered_dir: str
    volumes: tuple[Volume, ...]
    downloads: tuple[Download, ...]
    cache: Cache | None  # None: no storage.cache, every cold start rebuilds its caches (SS192)
    deepgemm: DeepGemm | None  # None where DeepGEMM does not run, or runs with no cache volume
    # Modal
    containers: Containers
    auth: Auth
    image_env: tuple[tuple[str, str], ...]
    health_url: str
    health_timeout: int
    # SIGTERM to SIGKILL: serving.drain_seconds plus SGLang's own exit after the drain
    shutdown_grace: int
    dist_init_port: int = DIST_INIT_PORT
    shutdown_notice_port: int = SHUTDOWN_NOTICE_PORT
    surface: str = "server"  # serving.surface: "server" (@app.server) or "web_server"
    deepgemm_runs: bool = False  # SGLang calls DeepGEMM here (cached or not)
    modal: ModalArgs | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def drain_seconds(self) -> int:
        return self.spec["serving"]["drain_seconds"]

    @property
    def sglang_exit_seconds(self) -> int:
        return SGLANG_EXIT_SECONDS

    @property
    def jobs_app(self) -> str:
        """The app of the one-off steps (jobs.py): download, compile, bench."""
        return f"{self.app}{JOBS_APP_SUFFIX}"

    @property
    def weights(self) -> Volume:
        return self.volumes[0]

    @property
    def cluster(self) -> bool:
        return self.nodes > 1

    @property
    def model(self) -> Download:
        return self.downloads[0]

    @property
    def draft(self) -> Download | None:
        return next((d for d in self.downloads if d.role == "draft"), None)

    @property
    def arguments(self) -> list[tuple[str, Any]]:
        return sglang_args.arguments(self.options, self.spec)

    @property
    def rendered_arguments(self) -> list[tuple[str, str | None]]:
        """(flag, value as text) pairs for deploy.py; None for a bare switch."""
        return [(flag, None if value is True else sglang_args.text(value))
                for flag, value in self.arguments]

    @property
    def argv(self) -> list[str]:
        return sglang_args.argv(self.arguments)

    @property
    def lines(self) -> list[str]:
        return sglang_args.lines(self.arguments)


def _model_dir(spec: dict, repo: str, revision: str) -> str:
    """One folder per repository and revision inside the weights volume."""
    return f"{spec['storage']['weights']['mount']}/{repo}/{revision}"


def _downloads(spec: dict) -> tuple[Download, ...]:
    model, ignore = spec["model"], tuple(spec["download"]["ignore_patterns"])
    out = [Download("model", model["repo"], model["revision"],
                    _model_dir(spec, model["repo"], model["revision"]),
                    f"{_model_dir(spec, model['repo'], model['revision'])}/{DOWNLOAD_MARKER}",
                    ignore)]
    draft = spec["speculative"].get("draft")
    if draft and spec["speculative"]["algorithm"] != "none":
        directory = _model_dir(spec, draft["repo"], draft["revision"])
        out.append(Download("draft", draft["repo"], draft["revision"], directory,
                            f"{directory}/{DOWNLOAD_MARKER}", ignore))
    return tuple(out)


def _cache(spec: dict, arch: str) -> Cache | None:
    """storage.cache (its old spelling storage.deepgemm is renamed when the spec is loaded)."""
    store = spec["storage"].get("cache")
    if not store:
        return None
    root = caches.cache_root(store["mount"], arch, spec["engine"]["image"])
    return Cache(Volume("cache", store["volume"], store["mount"], store["version"]), root,
                 tuple(caches.cache_env(root).items()))


def _deepgemm(spec: dict, arch: str, cache: Cache | None) -> DeepGemm | None:
    if cache is None:
        return None
    cache_dir = f"{cache.root}/deep_gemm"
    par, hw, model = spec["parallelism"], spec["hardware"], spec["model"]
    repo = re.sub(r"[^A-Za-z0-9._-]", "_", model["repo"])
    key = (f"sglang-{spec['engine']['version']}_{arch}_{repo}@{model['revision']}"
           f"_tp{par['tensor']}-pp{par['pipeline']}-dp{par['data']}-ep{par['expert']}"
           + (f"-adp{par['attention_data']}" if par["attention_data"] != 1 else "")
           + f"-nodes{hw['nodes']}")
    total = spec["compile"]["timeout"]
    return DeepGemm(cache.volume, cache_dir, key,
                    f"{cache_dir}/.servespec/{key}.done", spec["compile"]["enabled"],
                    total, total - min(COMPILE_TIMEOUT_MARGIN, total // 2))


def api_key_secret(spec: dict) -> str | None:
    """The Modal Secret that holds SGLang's API key; None when SGLang checks no key."""
    auth = spec["serving"].get("auth") or {}
    unauthenticated = auth.get("allow_unauthenticated") and not auth.get("api_key_secret")
    return None if unauthenticated else auth.get("api_key_secret")


def api_key_env(spec: dict) -> str | None:
    """The variable that carries the API key (inside the Secret, and on the client side)."""
    return (spec["serving"].get("auth") or {}).get("api_key_env") if api_key_secret(spec) else None


def _auth(spec: dict) -> Auth:
    key_secret, key_env = api_key_secret(spec), api_key_env(spec)
    hf = spec["download"].get("hf_token_secret")
    return Auth(key_secret, key_env, hf, tuple(sorted({s for s in (hf, key_secret) if s})),
                edge.from_spec(spec))


def _image_env(spec: dict, cache: Cache | None,
               deepgemm: DeepGemm | None) -> tuple[tuple[str, str], ...]:
    # Serve only what the download step put in the volume; never fetch at start-up.
    env = {"HF_HUB_OFFLINE": "1"}
    if cache:
        # Every start-up cache in the cache volume (renderer/resolve/caches.py says which and why).
        env.update(cache.env)
    if deepgemm:
        # SGLang overwrites DG_JIT_CACHE_DIR with this, so this is the one to set.
        env["SGLANG_DG_CACHE_DIR"] = deepgemm.cache_dir
    env.update(spec["engine"]["env"])
    return tuple(sorted(env.items()))


def _modal(spec: dict, deepgemm: DeepGemm | None, public: bool) -> ModalArgs:
    serving, scaling, download = spec["serving"], spec["scaling"], spec["download"]
    server = serving["surface"] == "server"
    kind = ("@app.server class (no request cap; 429 above max_concurrency)" if server
            else "@modal.web_server function (150 s request cap, then 303)")
    edge_line = ("PUBLIC at Modal's edge" if public
                 else "Modal proxy auth (Modal-Key/Modal-Secret) required")
    image = spec["engine"]["image"]
    return ModalArgs(
        port=serving["port"], surface_line=f"{kind}; {edge_line}.",
        serve_name="Serve (class)" if server else "serve", serve_step=3 if deepgemm else 2,
        public=public, image=image,
        image_key_source="digest" if "@sha256:" in image else "tag until pinned by digest",
        region=spec["hardware"].get("region"), routing_region=serving["routing_region"],
        max_inputs=scaling["max_inputs"], target_inputs=scaling.get("target_inputs"),
        scaledown_window=scaling["scaledown_window"], startup_timeout=serving["startup_timeout"],
        request_timeout=serving["timeout"], exit_grace_period=exit_grace_period(serving),
        download_timeout=download["timeout"], download_python=download["python_version"],
        download_requirement=f"huggingface-hub[hf_xet]=={download['huggingface_hub_version']}",
    )


def shutdown_grace(serving: dict) -> int:
    """Seconds from SIGTERM to SIGKILL for SGLang: the spec's drain, then SGLang's own exit."""
    return serving["drain_seconds"] + SGLANG_EXIT_SECONDS


def exit_grace_needed(serving: dict) -> int:
    """What Modal must wait after SIGTERM: the shutdown grace, the kill wait, the commits."""
    return shutdown_grace(serving) + KILL_WAIT_SECONDS + COMMIT_MARGIN_SECONDS


def exit_grace_period(serving: dict) -> int:
    """The Server's exit_grace_period, capped at Modal's limit (rule SS240 reports a spec whose
    drain would need more)."""
    return min(exit_grace_needed(serving), MODAL_SERVER_EXIT_GRACE_LIMIT)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


# --- the resolution ---------------------------------------------------------------------------


def resolve(spec: dict, facts: dict | None = None, name: str = "") -> Deployment:
    """The Deployment of one checked spec (defaults filled) and its model facts."""
    hw, serving, scaling = spec["hardware"], spec["serving"], spec["scaling"]
    gpu = catalog.gpus()[hw["gpu"]]
    arch = gpu["arch"]
    cap = capability(arch)
    ckpt = checkpoint_format(facts)
    quant = quantization_flag(spec, ckpt)
    downloads = _downloads(spec)
    cache = _cache(spec, arch)
    runs = deepgemm_applies(facts, spec, cap)
    deepgemm = _deepgemm(spec, arch, cache) if runs else None
    volumes = (Volume("weights", spec["storage"]["weights"]["volume"],
                      spec["storage"]["weights"]["mount"]),)
    if cache:
        volumes += (cache.volume,)
    draft = next((d for d in downloads if d.role == "draft"), None)
    options = sglang_args.options(spec, quantization=quant,
                                  draft_dir=draft.directory if draft else None,
                                  model_dir=downloads[0].directory,
                                  tree=speculative_mode(spec)["tree"])
    table = sglang_args.table(spec["engine"]["version"]) or {}
    nodes = hw["nodes"]
    auth = _auth(spec)
    return Deployment(
        name=name, app=spec["app"], spec=spec, sglang_version=spec["engine"]["version"],
        gpu=hw["gpu"], arch=arch, capability=cap, gpus_per_node=hw["gpus_per_node"], nodes=nodes,
        gpu_request=f"{gpu['modal_name']}:{hw['gpus_per_node']}",
        gpu_label=_one_line(f"{hw['gpus_per_node']}x {hw['gpu']}"
                            + (f" x {nodes} nodes" if nodes > 1 else "")),
        checkpoint_format=ckpt,
        weights_format=spec["precision"].get("weights") or ckpt,
        quantization=quant,
        options=tuple(options),
        launcher=tuple(table.get("launcher", sglang_args.DEFAULT_LAUNCHER)),
        rendered_dir=rendered_dir(name),
        volumes=volumes, downloads=downloads, cache=cache, deepgemm=deepgemm,
        containers=Containers(scaling["min_replicas"] * nodes, scaling["max_replicas"] * nodes,
                              scaling["buffer_replicas"] * nodes),
        auth=auth,
        image_env=_image_env(spec, cache, deepgemm),
        health_url=f"http://127.0.0.1:{serving['port']}{serving['health_path']}",
        health_timeout=max(serving["startup_timeout"] - HEALTH_MARGIN, 10),
        shutdown_grace=shutdown_grace(serving),
        surface=serving["surface"], deepgemm_runs=runs,
        modal=_modal(spec, deepgemm, auth.proxy is None),
    )


def volume_relative(volume: Volume, absolute: str) -> str:
    """A path inside a mounted volume as `modal volume` commands name it (relative to its root)."""
    mount = volume.mount.rstrip("/")
    assert absolute.startswith(mount + "/"), (absolute, mount)
    return absolute[len(mount) + 1:]
