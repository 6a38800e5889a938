"""Knowledge as data: the GPU catalog, the rule catalog and SGLang's flag names per version.

Each table is a YAML file beside this module that says where its numbers come from; code only
reads them. Loaded lazily and once per process.
"""

from __future__ import annotations

import json
import os
import zlib
from functools import cache
from pathlib import Path

from renderer.files import write_atomic

HERE = Path(__file__).resolve().parent


def _cache_dir() -> Path:
    """Parsed tables; renderer/render/artifacts.py keeps compiled templates beside it."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "servespec" / "catalog"


@cache
def _read(name: str) -> dict:
    """Parse a table. YAML is for people; parsing the SGLang flag table takes longer than the
    rest of `servespec validate`, so the parsed form is kept as JSON in the user's cache, keyed
    by the table's content hash: an edited table is simply a cache miss."""
    raw = (HERE / name).read_bytes()
    cached = _cache_dir() / f"{name}.{len(raw)}-{zlib.crc32(raw):08x}.json"  # zlib: hashlib costs more to import
    try:
        return json.loads(cached.read_bytes())
    except (OSError, ValueError):
        pass
    import yaml

    data = yaml.load(raw, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    _store(cached, data)
    return data


def _store(path: Path, data: dict) -> None:
    """Best effort: a read-only home or a table JSON cannot represent just means no cache."""
    try:
        text = json.dumps(data)
        if json.loads(text) != data:
            return
        write_atomic(path, text)  # concurrent processes may fill the same cache entry
    except (OSError, TypeError, ValueError):
        pass


@cache
def gpus() -> dict:
    return _read("gpus.yaml")["gpus"]


@cache
def regions() -> dict:
    return _read("regions.yaml")


@cache
def gpu_prices() -> dict:
    table = _read("gpus.yaml")
    return {"date": table["price_date"], "source": table["price_source"]}


@cache
def rules() -> dict:
    return _read("rules.yaml")["rules"]


@cache
def sglang_flags() -> dict:
    return _read("sglang_flags.yaml")


@cache
def planning() -> dict:
    """Assumptions of `servespec estimate` and the memory rules (read rates, overheads, reserves)."""
    return _read("planning.yaml")


@cache
def sglang_defaults() -> dict:
    """What SGLang picks by itself when a spec leaves a value unset, and its KV pool layout."""
    return _read("sglang_defaults.yaml")


@cache
def quantization() -> dict:
    """Weight formats: bytes per parameter, the parts each quantizes, the GPUs each runs on."""
    return _read("quantization.yaml")


@cache
def model_support() -> dict:
    """Weight formats, DeepGEMM conditions, speculative algorithms, architecture-scoped rules."""
    return _read("model_support.yaml")


@cache
def bench() -> dict:
    """Default workloads of `servespec bench` (catalog/bench.yaml)."""
    return _read("bench.yaml")["bench"]


@cache
def coldstart() -> dict:
    """Cold-start phases: one figure per phase, each with its source (renderer/estimate/coldstart.py)."""
    return _read("coldstart.yaml")


@cache
def sglang_resolution() -> dict:
    """What `render --resolve` records per SGLang release, and the deprecated values each accepts."""
    return _read("sglang_resolution.yaml")


@cache
def config_defaults() -> dict:
    """config.json defaults per model type, from transformers' own configuration classes
    (catalog/config_defaults.yaml, written by tools/gen_config_defaults.py)."""
    return _read("config_defaults.yaml")


@cache
def evals() -> dict:
    """`servespec eval`: defaults, each release's evaluation module and tasks, and expectations."""
    return _read("eval.yaml")


@cache
def chat_templates() -> dict:
    """What in a chat template shows a reasoning model (`servespec model-facts`, rule SS222)."""
    return _read("chat_templates.yaml")
