"""Model facts as a spec names them: model.facts and speculative.draft.facts, each a YAML file
relative to the spec file that sets the field (renderer/facts/generate.py writes them).

A facts file that does not load is reported as findings (SS126) at the facts file's own line and
at the spec's field; a file that does not exist, once, at the field; the same for the draft's facts.
The rest of the pipeline then runs without those facts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from renderer.errors import Finding, LoadError, Severity
from renderer.spec.load import Document, load_file

MODEL_FACTS = ("model", "facts")
DRAFT_FACTS = ("speculative", "draft", "facts")


@dataclass
class Facts:
    """The model's and the draft's facts, None where the spec names none or the file failed."""

    model: dict | None = None
    model_doc: Document | None = None
    draft: dict | None = None
    findings: list[Finding] = field(default_factory=list)


def load_facts(doc: Document, spec: dict) -> Facts:
    loaded = Facts()
    if ref := spec["model"].get("facts"):
        loaded.model_doc = _facts_at(doc, MODEL_FACTS, ref, "model facts", loaded.findings)
        loaded.model = loaded.model_doc.data if loaded.model_doc else None
    if ref := ((spec.get("speculative") or {}).get("draft") or {}).get("facts"):
        draft = _facts_at(doc, DRAFT_FACTS, ref, "draft facts", loaded.findings)
        loaded.draft = draft.data if draft else None
    return loaded


def _facts_at(doc: Document, where: tuple[str, ...], ref: str, what: str,
              findings: list[Finding]) -> Document | None:
    """The facts file `ref` at the spec's field `where`, or None with findings (SS126) saying why."""
    field_name = ".".join(where)
    path = doc.file_dir(where) / ref
    if not path.is_file():  # one finding, at the field: the file has no position to point at
        findings.append(Finding(
            doc.position(where), field_name,
            f"{what} file '{ref}' does not exist: write it with"
            f" `servespec model-facts SOURCE -o {path}`", "SS126", Severity.ERROR))
        return None
    try:
        return facts_file(path)
    except LoadError as exc:
        # The facts file's own position is the useful one; also point at the field naming it.
        # Findings sort by file, so the facts file's own lines may print after this one: say
        # what went wrong here too rather than "see above".
        findings.extend(exc.findings)
        why = exc.findings[0].message if exc.findings else str(exc)
        findings.append(Finding(doc.position(where), field_name,
                                f"cannot use {what} '{ref}': {why}", "SS126", Severity.ERROR))
        return None


def facts_file(path: Path) -> Document:
    """A model-facts file, parsed once per process and file version: many specs name the same
    one (checking 500 specs parsed it 500 times). Read-only by convention, like the spec."""
    try:
        stat = path.stat()
    except OSError:
        return load_file(path)  # reports the missing file with its position
    return _facts_file(str(path), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=64)
def _facts_file(path: str, mtime_ns: int, size: int) -> Document:
    return load_file(Path(path))
