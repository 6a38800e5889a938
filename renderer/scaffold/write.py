"""`servespec init [DIR]`: scaffold a repository that keeps servespec specs.

What it writes (the files lie in renderer/scaffold/files/, shipped in the package):
  specs/glm51-fp8-b200.yaml        one commented example spec (a copy of this project's own)
  specs/models/glm-5.1-fp8.yaml    the model facts the example's estimate and memory rules read
  specs/schema.json                the packaged schema, for the spec's yaml-language-server modeline
  Makefile                         render / validate / verify / estimate / deploy
  .github/workflows/servespec.yml  CI: install servespec as a package, validate, verify; an
                                   optional job parses every sglang.args with the real parser
  ci/sglang-parse.sh               what that optional job runs
  .gitignore

It never overwrites: when any of these files exists, nothing is written and the exit code is 1.
"""

from __future__ import annotations

from pathlib import Path

from renderer import __version__, paths
from renderer.files import write_atomic

SCAFFOLD = paths.SCAFFOLD
SCHEMA = paths.SCHEMA

# Destination in the new repository -> source in the package. Dot-files are stored without the
# dot, because setuptools' package-data globs skip hidden files.
FILES = {
    "specs/glm51-fp8-b200.yaml": SCAFFOLD / "specs" / "glm51-fp8-b200.yaml",
    "specs/models/glm-5.1-fp8.yaml": SCAFFOLD / "specs" / "models" / "glm-5.1-fp8.yaml",
    "specs/schema.json": SCHEMA,
    "Makefile": SCAFFOLD / "Makefile",
    ".github/workflows/servespec.yml": SCAFFOLD / "github-workflow.yml",
    "ci/sglang-parse.sh": SCAFFOLD / "ci" / "sglang-parse.sh",
    ".gitignore": SCAFFOLD / "gitignore",
}
EXECUTABLE = {"ci/sglang-parse.sh"}


class InitRefused(Exception):
    """The target already holds one of the files; reported as one sentence."""


def scaffold(target: Path) -> list[str]:
    """Write the scaffold into `target` (created if missing); return the paths written."""
    if target.exists() and not target.is_dir():
        raise InitRefused(f"{target} exists and is not a folder")
    existing = [rel for rel in FILES if (target / rel).exists()]
    if existing:
        raise InitRefused(f"{target / existing[0]} already exists"
                          + (f" (and {len(existing) - 1} more)" if len(existing) > 1 else "")
                          + "; nothing was written. Move them away or choose another folder.")
    for rel, source in FILES.items():
        text = source.read_text(encoding="utf-8").replace("@VERSION@", __version__)
        write_atomic(target / rel, text)
        if rel in EXECUTABLE:
            (target / rel).chmod(0o755)
    return list(FILES)
