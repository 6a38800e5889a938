"""Every path servespec names, once: its own files (templates, schema, catalog, scaffold, the
runtime) and the layout of the user's repository (specs/, rendered/, runs/).

The templates and the schema live at the repository's top level (templates/, specs/schema.json),
where a person edits them. A wheel carries copies of both inside the package (renderer/_packaged/,
pyproject.toml's force-include); an editable install and a checkout read the top-level files.
Which of the two applies is decided here and nowhere else.
"""

from __future__ import annotations

import os
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


# Two Modal apps per spec: the serving app (deploy.py, `modal deploy`) and its jobs app (jobs.py,
# `modal run` of one function at a time), so that a one-off step never creates the server.
SERVING_FILE = "deploy.py"
JOBS_FILE = "jobs.py"
JOBS_APP_SUFFIX = "-jobs"


def serving_file(spec_name: str) -> str:
    return f"{rendered_dir(spec_name)}/{SERVING_FILE}"


def jobs_file(spec_name: str) -> str:
    return f"{rendered_dir(spec_name)}/{JOBS_FILE}"


# The SGLang environments of tools/sglang-env.sh and its overlays (tools/sglang-overlay-env.sh),
# relative to where servespec runs unless SERVESPEC_SGLANG_ENV_ROOT names another folder.
SGLANG_ENV_ROOT_VAR = "SERVESPEC_SGLANG_ENV_ROOT"


def sglang_env_root() -> Path:
    return Path(os.environ.get(SGLANG_ENV_ROOT_VAR) or ".cache")


def sglang_python(version: str) -> Path:
    return sglang_env_root() / f"sglang-{version}" / "bin" / "python"


def sglang_overlay(version: str, kind: str) -> Path:
    return sglang_env_root() / f"sglang-{version}-{kind}-overlay"


def runtime_file(rendered_root: str | Path = RENDERED_DIR) -> Path:
    """The runtime file of a render tree: <root>/_runtime/servespec_runtime.py. A spec cannot be
    named _runtime: its folder would be this one."""
    return Path(rendered_root) / RUNTIME_FOLDER / f"{RUNTIME_MODULE}.py"
