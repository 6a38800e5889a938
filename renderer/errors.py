"""Findings and the typed errors that carry them.

Every problem servespec reports about a spec is a Finding: a position in a file, the dotted
path of the field, a message, a severity and the id of the rule (or schema keyword) behind it.
Stages never print; they return or raise findings, and the CLI decides how to show them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import NamedTuple


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"


class Position(NamedTuple):
    """Where a value stands in a file: 1-based line and column, as editors count. A tuple, not
    a dataclass: loading records one per key and value, and a tuple is several times cheaper."""

    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@dataclass(frozen=True)
class Finding:
    position: Position
    path: str  # dotted field path, e.g. "scaling.min_replicas"; "" for the whole document
    message: str
    rule: str  # rule id (e.g. "SS103") or "schema", "yaml", "file"
    severity: Severity = Severity.ERROR
    hint: str = ""
    acknowledged: str = ""  # the spec's reason for accepting this warning (spec `acknowledge`)

    def sort_key(self) -> tuple:
        return (self.position.file, self.position.line, self.position.col, self.rule, self.path)

    def format(self) -> str:
        """`file:line:col: error|warning: field: message [ID]`, as compilers print them; the
        rule's hint is printed once per run by the command line, not with every finding."""
        where = f"{self.path}: " if self.path else ""
        return f"{self.position}: {self.severity.value}: {where}{self.message} [{self.rule}]"

    def to_json(self) -> dict:
        return {
            "file": self.position.file,
            "line": self.position.line,
            "col": self.position.col,
            "path": self.path,
            "rule": self.rule,
            "severity": self.severity.value,
            "message": self.message,
            "hint": self.hint,
            "acknowledged": self.acknowledged or None,
        }


@dataclass
class SpecError(Exception):
    """Raised by a stage that cannot go on; carries every finding it collected."""

    findings: list[Finding] = field(default_factory=list)

    def __str__(self) -> str:
        return "\n".join(f.format() for f in self.findings)


class LoadError(SpecError):
    """The file cannot be read or parsed as a YAML mapping."""


def has_errors(findings: list[Finding], strict: bool = False) -> bool:
    """Errors always count; warnings count too under --strict, unless the spec acknowledged them."""
    return any(f.severity is Severity.ERROR or (strict and not f.acknowledged) for f in findings)
