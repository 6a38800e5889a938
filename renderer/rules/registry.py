"""The rule registry: the context every rule reads and the decorator that registers a rule.

Rule modules import this one, never each other's registration; renderer/rules/check.py imports
every rule module by name and runs what they registered.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

from renderer import catalog
from renderer.errors import Position
from renderer.estimate.core import Estimate
from renderer.resolve.deployment import Deployment
from renderer.spec.load import Document


class Anchor(NamedTuple):
    """Where a finding points when the field path cannot say it: an old spelling renamed at load
    (renderer/spec/renames.py) stands at a line the merged spec no longer has a path for."""

    position: Position
    field: str  # dotted, as the user wrote it


Hit = tuple[tuple | Anchor, str]  # (field path, message)
RULES: dict[str, Callable[[RuleContext], Iterator[Hit]]] = {}


def rule(rule_id: str):
    def register(fn):
        RULES[rule_id] = fn
        return fn

    return register


@dataclass
class RuleContext:
    """What every rule reads: the spec and everything the pipeline derived from it once."""

    doc: Document
    spec: dict  # validated, defaults filled
    deployment: Deployment
    facts: dict | None = None
    draft_facts: dict | None = None
    estimate: Estimate | None = None  # None without usable facts
    estimate_error: str | None = None  # why facts that loaded could not be estimated (SS126)
    memo: dict = field(default_factory=dict)  # results rules share

    @property
    def gpu(self) -> dict:
        return catalog.gpus()[self.spec["hardware"]["gpu"]]

    @property
    def total_gpus(self) -> int:
        hw = self.spec["hardware"]
        return hw["gpus_per_node"] * hw["nodes"]
