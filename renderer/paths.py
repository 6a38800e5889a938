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
# The runtime as one file per render tree (renderer/render/runtime_file.py): rendered/_runtime/,
# attached to every image at RUNTIME_REMOTE, where /root is on the container's sys.path (modal
# 1.6.4 mounts the app's own file at /root/<file> and imports it by module name:
# _utils/function_utils.py FunctionInfo, _runtime/user_code_imports.py import_single_function_service).
RUNTIME_FOLDER = "_runtime"
RUNTIME_MODULE = "servespec_runtime"
RUNTIME_REMOTE = f"/root/{RUNTIME_MODULE}.py"
ENGINE = PACKAGE / "engine"

# The user's repository, relative to where servespec runs.
SPECS_DIR = Path("specs")
RENDERED_DIR = "rendered"
RUNS_DIR = Path("runs")


def rendered_dir(spec_name: str) -> str:
    return f"{RENDERED_DIR}/{spec_name}"


def runtime_file(rendered_root: str | Path = RENDERED_DIR) -> Path:
    """The runtime file of a render tree: <root>/_runtime/servespec_runtime.py. A spec cannot be
    named _runtime: its folder would be this one."""
    return Path(rendered_root) / RUNTIME_FOLDER / f"{RUNTIME_MODULE}.py"
