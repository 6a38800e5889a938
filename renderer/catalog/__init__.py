"""Knowledge as data: the GPU catalog, the rule catalog and SGLang's flag names per version.

Each table is a YAML file beside this module that says where its numbers come from; code only
reads them. Loaded lazily and once per process.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _read(name: str) -> dict:
    with open(HERE / name, encoding="utf-8") as fh:
        return yaml.load(fh, Loader=_Loader)  # noqa: S506 - our own table, safe loader


@lru_cache(maxsize=None)
def gpus() -> dict:
    return _read("gpus.yaml")["gpus"]


@lru_cache(maxsize=None)
def gpu_prices() -> dict:
    table = _read("gpus.yaml")
    return {"date": table["price_date"], "source": table["price_source"]}


@lru_cache(maxsize=None)
def rules() -> dict:
    return _read("rules.yaml")["rules"]


@lru_cache(maxsize=None)
def sglang_flags() -> dict:
    return _read("sglang_flags.yaml")


@lru_cache(maxsize=None)
def planning() -> dict:
    """Assumptions of `servespec plan` and the memory rules (read rates, overheads, reserves)."""
    return _read("planning.yaml")
