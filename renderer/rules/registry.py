"""The rule registry: the context every rule reads and the decorator that registers a rule.

Its own module so that rule modules (rules.py, rules_memory.py) import it rather than each other:
rules.py imports rules_memory.py to register the memory rules, and neither imports back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

from renderer import catalog
from renderer.errors import Finding, Position
from renderer.spec.load import Document


class Anchor(NamedTuple):
    """Where a finding points when the field path cannot say it: an old spelling renamed at load
    (servespec/renames.py) stands at a line the merged spec no longer has a path for."""

    position: Position
    field: str  # dotted, as the user wrote it


Hit = tuple[tuple | Anchor, str]  # (field path, message)
RULES: dict[str, Callable[[Context], Iterator[Hit]]] = {}


def rule(rule_id: str):
    def register(fn):
        RULES[rule_id] = fn
        return fn

    return register


@dataclass
class Context:
    doc: Document
    spec: dict  # validated, defaults filled
    facts: dict | None = None
    facts_doc: Document | None = None
    findings: list[Finding] = field(default_factory=list)
    memo: dict = field(default_factory=dict)  # results rules share, e.g. the memory plan

    @property
    def deployment(self):
        """The resolved deployment (servespec/resolve.py), computed once per check."""
        if "deployment" not in self.memo:
            from renderer.resolve.deployment import resolve

            self.memo["deployment"] = resolve(self.spec, self.facts, self.doc.name)
        return self.memo["deployment"]

    @property
    def gpu(self) -> dict:
        return catalog.gpus()[self.spec["hardware"]["gpu"]]

    @property
    def total_gpus(self) -> int:
        hw = self.spec["hardware"]
        return hw["gpus_per_node"] * hw["nodes"]
