"""Names and paths derived from a spec, shared by the render stage and the deploy runner.

Both sides must agree on where the checkpoint lands, where DeepGEMM kernels are cached and which
marker files prove a step finished; deriving them in one place keeps them from drifting.
"""

from __future__ import annotations

import re

from . import catalog

RENDERED_DIR = "rendered"


def rendered_dir(spec_name: str) -> str:
    return f"{RENDERED_DIR}/{spec_name}"


def model_dir(spec: dict) -> str:
    """Checkpoint directory inside the weights volume's mount: one folder per revision."""
    model = spec["model"]
    return f"{spec['storage']['weights']['mount']}/{model['repo']}/{model['revision']}"


def download_marker(spec: dict) -> str:
    """Written after a complete snapshot; its presence makes a second download a no-op."""
    return f"{model_dir(spec)}/.servespec-download-complete"


def gpu_arch(spec: dict) -> str:
    return catalog.gpus()[spec["hardware"]["gpu"]]["arch"]


def image_key(spec: dict) -> str:
    """The image as a path component: its digest once pinned (a tag can be re-pushed with other
    kernels inside), else its last path component and tag."""
    image = spec["engine"]["image"]
    if "@sha256:" in image:
        return "sha256-" + image.rsplit("@sha256:", 1)[1][:16]
    return re.sub(r"[^A-Za-z0-9._-]", "_", image.rsplit("/", 1)[-1])


def cache_dir(spec: dict) -> str:
    """SGLANG_CACHE_DIR in the cache volume: every cache SGLang rebuilds at start lives under it.
    Keyed by GPU architecture and image, the two things compiled kernels depend on beyond shapes
    (each cache's own key hashes the rest)."""
    mount = spec["storage"]["deepgemm"]["mount"]
    return f"{mount}/{gpu_arch(spec)}/{image_key(spec)}"


def deepgemm_cache_dir(spec: dict) -> str:
    """SGLANG_DG_CACHE_DIR: SGLang's own default place under SGLANG_CACHE_DIR (sglang 0.5.23
    srt/environ.py), written out because SGLang overwrites DeepGEMM's DG_JIT_CACHE_DIR with it."""
    return f"{cache_dir(spec)}/deep_gemm"


def deepgemm_key(spec: dict) -> str:
    """Identifies one precompile run: SGLang version, GPU architecture, model revision and
    parallelism (the GEMM shapes depend on how the model is split)."""
    par, hw = spec["parallelism"], spec["hardware"]
    model = re.sub(r"[^A-Za-z0-9._-]", "_", spec["model"]["repo"])
    return (
        f"sglang-{spec['engine']['version']}_{gpu_arch(spec)}_{model}@{spec['model']['revision']}"
        f"_tp{par['tensor']}-pp{par['pipeline']}-dp{par['data']}-ep{par['expert']}"
        f"-nodes{hw['nodes']}"
    )


def deepgemm_marker(spec: dict) -> str:
    return f"{deepgemm_cache_dir(spec)}/.servespec/{deepgemm_key(spec)}.done"


def volume_relative(spec: dict, volume: str, absolute: str) -> str:
    """A path inside a mounted volume as `modal volume` commands name it (relative to its root)."""
    mount = spec["storage"][volume]["mount"].rstrip("/")
    assert absolute.startswith(mount + "/"), (absolute, mount)
    return absolute[len(mount) + 1:]
