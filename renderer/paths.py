"""Every path servespec names, once: its own files (templates, schema, catalog, scaffold, the
runtime) and the layout of the user's repository (specs/, rendered/, runs/).

The templates and the schema live at the repository's top level (templates/, specs/schema.json),
where a person edits them. A wheel carries copies of both inside the package (renderer/_packaged/,
pyproject.toml's force-include); an editable install and a checkout read the top-level files.
Which of the two applies is decided here and nowhere else.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
_PACKAGED = PACKAGE / "_packaged"  # only in an installed wheel
_CHECKOUT = PACKAGE.parent
DATA = _PACKAGED if _PACKAGED.is_dir() else _CHECKOUT

TEMPLATES = DATA / "templates"
SCHEMA = DATA / "specs" / "schema.json" if DATA is _CHECKOUT else DATA / "schema.json"
CATALOG = PACKAGE / "catalog"
SCAFFOLD = PACKAGE / "scaffold" / "files"
RUNTIME = PACKAGE / "runtime"
ENGINE = PACKAGE / "engine"

# The user's repository, relative to where servespec runs.
SPECS_DIR = Path("specs")
RENDERED_DIR = "rendered"
RUNS_DIR = Path("runs")


def rendered_dir(spec_name: str) -> str:
    return f"{RENDERED_DIR}/{spec_name}"
