"""`servespec init [DIR]`: scaffold a repository that keeps servespec specs.

What it writes (the files lie in renderer/scaffold/files/, shipped in the package):
  specs/glm51-fp8-b200.yaml        one commented example spec (a copy of this project's own)
  specs/models/glm-5.1-fp8.yaml    the model facts the example's estimate and memory rules read
  specs/schema.json                the packaged schema, for the spec's yaml-language-server modeline
  Makefile                         render / validate / verify / estimate / deploy
  .github/workflows/servespec.yml  CI: install servespec as a package, validate, verify; an
                                   optional job parses every sglang.args with the real parser
  ci/sglang-parse.sh               what that optional job runs
  ci/install-servespec.sh          installs servespec from ci/servespec-requirement.txt (make
                                   install and CI); fails loudly while that file is a placeholder
  README.md                        the first-deploy checklist (Secrets, API key, proxy token)
  rendered/                        the example rendered, so CI passes on a fresh clone
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
    "ci/install-servespec.sh": SCAFFOLD / "ci" / "install-servespec.sh",
    "ci/servespec-requirement.txt": SCAFFOLD / "ci" / "servespec-requirement.txt",
    "README.md": SCAFFOLD / "README.md",
    ".gitignore": SCAFFOLD / "gitignore",
}
EXECUTABLE = {"ci/sglang-parse.sh", "ci/install-servespec.sh"}
PLACEHOLDER = "FILL-IN: one pip requirement for servespec (see above)"


def installed_requirement() -> str | None:
    """How this servespec was installed, as a pip requirement CI can use (PEP 610's
    direct_url.json): a VCS URL at its commit, or the local folder; None from an index."""
    import json
    from importlib import metadata

    try:
        text = metadata.distribution("servespec").read_text("direct_url.json")
    except metadata.PackageNotFoundError:
        return None
    info = json.loads(text) if text else {}
    url = info.get("url", "")
    if vcs := info.get("vcs_info"):
        return f"servespec @ {vcs['vcs']}+{url}@{vcs.get('requested_revision') or vcs['commit_id']}"
    if url.startswith("file://") and info.get("dir_info") is not None:
        return url.removeprefix("file://")
    return None


def default_requirement() -> str | None:
    """installed_requirement() when it is a VCS URL (a CI runner can fetch it), else None."""
    found = installed_requirement()
    return found if found and " @ " in found else None


def render_example(target: Path) -> str | None:
    """rendered/ for the example, as `make render` there writes it, so a fresh clone passes
    CI; the error output when it cannot."""
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "renderer.cli", "render"], cwd=target,
                          capture_output=True, text=True, check=False)
    return proc.stderr if proc.returncode else None


class InitRefused(Exception):
    """The target already holds one of the files; reported as one sentence."""


def scaffold(target: Path, requirement: str | None = None) -> list[str]:
    """Write the scaffold into `target` (created if missing); return the paths written.
    `requirement`: where its CI installs servespec from (default: the placeholder)."""
    if target.exists() and not target.is_dir():
        raise InitRefused(f"{target} exists and is not a folder")
    existing = [rel for rel in FILES if (target / rel).exists()]
    if existing:
        raise InitRefused(f"{target / existing[0]} already exists"
                          + (f" (and {len(existing) - 1} more)" if len(existing) > 1 else "")
                          + "; nothing was written. Move them away or choose another folder.")
    for rel, source in FILES.items():
        text = source.read_text(encoding="utf-8").replace("@VERSION@", __version__)
        text = text.replace("@REQUIREMENT@", requirement or PLACEHOLDER)
        write_atomic(target / rel, text)
        if rel in EXECUTABLE:
            (target / rel).chmod(0o755)
    return list(FILES)
