"""Spec fields that were renamed: the old spelling keeps working, with a deprecation warning
(rule SS193) that names the new one.

A rename is applied to each file as it is read, before `extends:` merges it with its base, so a
spec written in the old spelling still overrides a base written in the new one (and the other way
round) key by key, and every value keeps the position it had in its own file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from renderer.errors import Finding, LoadError, Position


class Document(Protocol):
    """What a rename touches in one loaded file (renderer/spec/load.py's Document has it); a
    protocol, so that load imports this module and this module imports nothing back."""

    data: dict
    value_pos: dict
    key_pos: dict
    raw: dict
    renamed: list

# old path -> (new path, what the old spelling meant when a value was left out)
RENAMED: dict[tuple, tuple[tuple, dict]] = {
    # The DeepGEMM volume became the volume of every start-up cache (renderer/resolve/caches.py); under
    # its old name its mount keeps its old default, so an old spec renders the same paths, and its
    # volume its version: servespec created it v1, and Modal refuses version=2 for a v1 volume.
    ("storage", "deepgemm"): (("storage", "cache"), {"mount": "/dg-cache", "version": 1}),
    # serving.region set both the compute region and the Server's routing region, but routing
    # takes four regions only: the compute region is hardware's now, routing serving.routing_region.
    ("serving", "region"): (("hardware", "region"), {}),
}


@dataclass(frozen=True)
class Renamed:
    old: str  # dotted, as the user wrote it
    new: str
    position: Position  # of the old key, in the file that has it


def apply(doc: Document) -> None:
    """Move every old spelling in one file's data (and its positions) to the new one."""
    for old, (new, old_defaults) in RENAMED.items():
        parent = _parent(doc.data, old)
        if parent is None or old[-1] not in parent:
            continue
        where = doc.key_pos[old]
        target = _parent(doc.data, new, create=True) if new[:-1] != old[:-1] else parent
        for depth in range(1, len(new)):  # a section the move created stands at the old key
            doc.value_pos.setdefault(new[:depth], where)
            doc.key_pos.setdefault(new[:depth], where)
        if target is None or new[-1] in target:
            raise LoadError([Finding(where, ".".join(old), (
                f"{'.'.join(old)} is the old spelling of {'.'.join(new)}, which this file also "
                f"sets: keep only {'.'.join(new)}"), "renamed")])
        value = parent.pop(old[-1])
        if isinstance(value, dict):
            value = {**old_defaults, **value}
            for key in old_defaults:
                doc.value_pos.setdefault(old + (key,), where)
        target[new[-1]] = value
        _move_positions(doc, old, new)
        doc.renamed.append(Renamed(".".join(old), ".".join(new), where))


def _parent(data: dict, path: tuple, create: bool = False) -> dict | None:
    """The dict holding path's last key; with `create`, missing dicts on the way are added."""
    for part in path[:-1]:
        if create and isinstance(data, dict) and part not in data:
            data[part] = {}
        data = data.get(part) if isinstance(data, dict) else None
    return data if isinstance(data, dict) else None


def _move_positions(doc: Document, old: tuple, new: tuple) -> None:
    n = len(old)
    for table in (doc.value_pos, doc.key_pos, doc.raw):
        for key in [k for k in table if k[:n] == old]:
            table[new + key[n:]] = table.pop(key)
