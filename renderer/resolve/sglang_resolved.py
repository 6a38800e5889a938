"""What the pinned SGLang release resolves a deployment to: rendered/<name>/sglang.resolved.json.

`servespec render --resolve` writes that file by running the release's own resolution code on
CPU (renderer/render/sglang_resolution.py runs renderer/engine/resolution.py in the SGLang env).
This module is the half that needs no SGLang:
  * the request for one deployment: its argv, each model's own config.json (the file beside its
    facts, specs/models/<facts>.config.json), the GPU as nvidia-smi reports it (catalog/gpus.yaml),
    the container's environment, and what to record (catalog/sglang_resolution.yaml);
  * the digest of that request and of the resolution code, which the artifact records: a file
    whose digest no longer matches was resolved from other inputs, and `render --verify` says so
    without running SGLang;
  * the committed artifact's values when its digest matches, which `servespec estimate` and the
    rules read where SGLang overrides what the spec asked for.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from renderer import catalog, paths
from renderer.spec.load import Document

ARTIFACT = "sglang.resolved.json"
# The code that decides what the artifact says, beside the inputs: a change there re-resolves.
HARNESS = (paths.ENGINE / "resolution.py", paths.ENGINE / "stand_in.py")
_CUDA_TAG = re.compile(r"-cu(\d+)(\d)(?:-|$)")


@dataclass(frozen=True)
class Inputs:
    """One deployment's resolution request (renderer/engine/resolution.py's CASE) and digest."""

    version: str
    case: dict
    configs: dict[str, str]  # path in the argv -> config.json as the project names it
    digest: str


def table(version: str) -> dict | None:
    return catalog.sglang_resolution()["versions"].get(version)


def config_json(facts: Path) -> Path:
    """The checkpoint's config.json kept beside its facts: x.yaml -> x.config.json."""
    return facts.with_name(facts.stem + ".config.json")


def _facts_path(doc: Document, spec: dict, path: tuple) -> Path | None:
    node = spec
    for key in path:
        node = (node or {}).get(key)
    return doc.file_dir(path) / node if node else None


def model_configs(doc: Document, spec: dict, deployment) -> dict[str, Path] | str:
    """argv model path -> its config.json, or why one cannot be named."""
    pairs = [(deployment.model, ("model", "facts"))]
    if deployment.draft is not None:
        pairs.append((deployment.draft, ("speculative", "draft", "facts")))
    found = {}
    for download, field in pairs:
        facts = _facts_path(doc, spec, field)
        if facts is None:
            return f"{'.'.join(field)} is not set, so no config.json is known for {download.repo}"
        config = config_json(facts)
        if not config.is_file():
            return f"{_project(config)} (the config.json of {download.repo}) does not exist"
        found[download.directory] = config
    return found


def gpu_request(deployment) -> dict:
    """The GPU as SGLang queries it: nvidia-smi's memory.total (MiB), compute capability."""
    gpu = catalog.gpus()[deployment.gpu]
    tag = _CUDA_TAG.search(deployment.spec["engine"]["image"])
    cuda = f"{tag.group(1)}.{tag.group(2)}" if tag else table(deployment.sglang_version)["cuda_version"]
    return {"name": f"NVIDIA {deployment.gpu}", "compute_capability": gpu["compute_capability"],
            "count": deployment.gpus_per_node, "memory_mib": gpu["hbm_mib"], "cuda_version": cuda}


def inputs(doc: Document, spec: dict, deployment) -> Inputs | str:
    """The request for one deployment, or why SGLang's resolution cannot be asked for it."""
    version = deployment.sglang_version
    wanted = table(version)
    if wanted is None:
        return f"catalog/sglang_resolution.yaml has no entry for SGLang {version}"
    configs = model_configs(doc, spec, deployment)
    if isinstance(configs, str):
        return configs
    case = {"name": deployment.name, "argv": deployment.argv,
            "models": {k: str(v) for k, v in configs.items()}, "gpu": gpu_request(deployment),
            "env": dict(deployment.image_env), "fields": wanted["fields"],
            "volatile": wanted["volatile"]}
    hashed = {**case, "models": {k: file_digest(v) for k, v in configs.items()},
              "sglang": version, "harness": [file_digest(p) for p in HARNESS]}
    digest = _sha256(json.dumps(hashed, sort_keys=True).encode())
    return Inputs(version, case, {k: _project(v) for k, v in configs.items()}, digest)


def file_digest(path: Path) -> str:
    """The sha256 of a file's content, read once per content: every spec of a model names
    the same config.json, and every spec the same harness files."""
    stat = Path(path).stat()
    return _file_digest(str(path), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=256)
def _file_digest(path: str, mtime_ns: int, size: int) -> str:
    return _sha256(Path(path).read_bytes())


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _project(path: Path) -> str:
    """A path as the project names it (specs/models/x.config.json), wherever servespec runs."""
    path = Path(path).resolve()
    for parent in path.parents:
        if parent.name == "specs":
            return "specs/" + path.relative_to(parent).as_posix()
    return path.as_posix()


# --- the committed artifact -------------------------------------------------------------------


def artifact_path(name: str, root: Path | str = paths.RENDERED_DIR) -> Path:
    return Path(root) / name / ARTIFACT


def read(name: str, root: Path | str = paths.RENDERED_DIR) -> dict | None:
    """The committed artifact of rendered/<name>/, or None when there is none (or it is not JSON)."""
    try:
        return json.loads(artifact_path(name, root).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def staleness(found: dict | None, wanted: Inputs | str) -> str | None:
    """Why the committed artifact does not describe this deployment; None when it does."""
    if isinstance(wanted, str):
        return f"it cannot be resolved: {wanted}" if found is not None else None
    if found is None:
        return "missing"
    if (found.get("inputs") or {}).get("digest") != wanted.digest:
        return ("resolved from other inputs (the argv, a config.json, the GPU, the environment, "
                "the SGLang version or the resolution code changed)")
    return None


@dataclass(frozen=True)
class Resolved:
    """The values SGLang runs one deployment with, from a committed artifact that is current."""

    version: str  # the SGLang release that resolved it
    values: dict  # catalog/sglang_resolution.yaml fields, as SGLang finally runs them
    per_rank: dict  # what each attention-DP rank works with
    model: dict  # the workers' ModelConfig of the target (and the draft)
    changed: tuple[str, ...]  # the fields SGLang ended on a value other than the argv's
    source: str  # rendered/<name>/sglang.resolved.json

    @property
    def model_dtype(self) -> str | None:
        """The dtype the target's unquantized weights and activations run in (ModelConfig)."""
        return (self.model.get("target") or {}).get("dtype")


def committed(doc: Document, spec: dict, deployment,
              root: Path | str = paths.RENDERED_DIR) -> Resolved | None:
    """The committed resolution of this deployment when its digest matches; else None."""
    found = read(deployment.name, root)
    if found is None:
        return None
    wanted = inputs(doc, spec, deployment)
    if staleness(found, wanted) is not None:
        return None
    return Resolved(str(found.get("sglang")), found.get("resolved") or {},
                    found.get("per_rank") or {}, found.get("model") or {},
                    tuple(c["field"] for c in found.get("changed") or []),
                    artifact_path(deployment.name, root).as_posix())
