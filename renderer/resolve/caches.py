"""Start-up caches of SGLang 0.5.23 persisted in the architecture-keyed cache volume.

A cold start rebuilds, unless found on disk: DeepGEMM kernels, FlashInfer autotune results and
JIT modules, Triton kernels, TorchInductor graphs, SGLang's own JIT kernels (and the CUDA driver's
and TileLang's caches). All of them key their entries by the content they compile (source,
shapes, GPU architecture, library version), so one directory can be shared by every container
of an image on one GPU architecture; the directory still names both, so that another image, or
a re-pushed tag once the image is pinned by digest, never reads kernels it did not build.

Variable names and defaults, from the sglang 0.5.23 wheel:
  SGLANG_CACHE_DIR        srt/environ.py (default ~/.cache/sglang); FlashInfer autotune results
                          go to <it>/flashinfer/autotune/<flashinfer version>/<arch>/<model key>/
                          rank_*.json (srt/model_executor/runner/flashinfer_autotune.py)
  TRITON_CACHE_DIR, TORCHINDUCTOR_CACHE_DIR, FLASHINFER_WORKSPACE_BASE, CUDA_CACHE_PATH,
  TILELANG_CACHE_DIR      srt/environ.py third_party_cache_defaults(), set with setdefault at
                          `import sglang` (sglang/__init__.py), so a value baked into an image
                          wins over SGLANG_CACHE_DIR: the first three are written out here
  SGLANG_JIT_CACHE_DIR    srt/environ.py; does NOT follow SGLANG_CACHE_DIR (default
                          ~/.cache/sglang/jit, kernels/jit/utils/compile/cache.py)
  SGLANG_DG_CACHE_DIR     srt/environ.py (default <SGLANG_CACHE_DIR>/deep_gemm); set in resolve.py
"""

from __future__ import annotations

import re


def image_key(image: str) -> str:
    """The image as a path component: its digest once pinned (a tag can be re-pushed with other
    kernels inside), else its last path component and tag."""
    if "@sha256:" in image:
        return "sha256-" + image.rsplit("@sha256:", 1)[1][:16]
    return re.sub(r"[^A-Za-z0-9._-]", "_", image.rsplit("/", 1)[-1])


def cache_root(mount: str, arch: str, image: str) -> str:
    """SGLANG_CACHE_DIR inside the cache volume: one directory per GPU architecture and image."""
    return f"{mount}/{arch}/{image_key(image)}"


def cache_env(root: str) -> dict[str, str]:
    """The image environment that puts every start-up cache under `root`."""
    return {
        "SGLANG_CACHE_DIR": root,
        "TRITON_CACHE_DIR": f"{root}/triton",
        "TORCHINDUCTOR_CACHE_DIR": f"{root}/inductor",
        # FlashInfer appends .cache/flashinfer to this base itself.
        "FLASHINFER_WORKSPACE_BASE": root,
        "SGLANG_JIT_CACHE_DIR": f"{root}/jit",
    }
