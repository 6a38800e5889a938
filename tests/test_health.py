"""Code health over renderer/, checked on every run so it stays true as the code grows: no import
cycle between its modules (type-only imports included), no subpackage importing a later stage,
no module over MAX_MODULE_LINES lines, no function over MAX_FUNCTION_LINES lines. Read from the
source with ast; nothing is imported."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "renderer"
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 60


def modules() -> dict[str, Path]:
    """Dotted module name -> file, for every .py file in the package."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def imported(name: str, path: Path, known: set[str]) -> set[str]:
    """The package's modules that `name` imports, at top level or inside functions alike (a
    function-level import still runs the other module), TYPE_CHECKING blocks included (a
    type-only import still ties the two modules together)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets: set[str] = set()
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            submodules = {f"{base}.{alias.name}" for alias in node.names} & known
            # `from pkg import mod` names module mod; the package itself only when it also
            # hands out one of its own attributes (`from pkg import name`).
            if len(submodules) < len(node.names):
                targets.add(base)
            targets |= submodules
    found = set()
    for target in targets:
        # `from . import x` names module x; `from .x import y` names module x (y is an attribute).
        while target and target not in known:
            target = target.rpartition(".")[0]
        if target and target != name:
            found.add(target)
    return found


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_no_import_cycle_between_modules():
    mods = modules()
    graph = {name: imported(name, path, set(mods)) for name, path in mods.items()}
    # A package imports its own submodules by design (renderer.run -> renderer.run.main);
    # a submodule importing its package's __init__ back is what would make that a cycle.
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_cycle_finder_finds_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


# Stages in flow order: a module may import its own layer and earlier ones, never a later one.
LAYERS = (
    ("renderer", "renderer.errors", "renderer.files", "renderer.paths", "renderer.catalog",
     "renderer.runtime", "renderer.engine"),
    ("renderer.spec",),
    ("renderer.facts",),
    ("renderer.resolve",),
    ("renderer.estimate",),
    ("renderer.rules",),
    ("renderer.pipeline",),
    ("renderer.size",),
    ("renderer.render",),
    ("renderer.run",),
    ("renderer.operate",),
    ("renderer.scaffold",),
    ("renderer.cli",),
)
# Code that runs elsewhere: in the Modal container (runtime) or in the pinned SGLang's own venv
# (engine). Neither has the package installed, so neither imports any of it.
STANDALONE = ("renderer.runtime", "renderer.engine")


def layer_of(module: str) -> int:
    best, found = -1, None
    for index, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
                best, found = len(prefix), index
    assert found is not None, f"{module} is in no layer: add it to LAYERS"
    return found


def _graph() -> dict[str, set[str]]:
    mods = modules()
    return {name: imported(name, path, set(mods)) for name, path in mods.items()}


def test_no_stage_imports_a_later_one():
    upward = sorted(f"{a} -> {b}" for a, targets in _graph().items() for b in targets
                    if b != "renderer" and layer_of(b) > layer_of(a))
    assert not upward, "imports of a later stage: " + "; ".join(upward)


def test_code_that_runs_elsewhere_imports_nothing_of_ours():
    leaks = sorted(f"{a} -> {b}" for a, targets in _graph().items() for b in targets
                   if a.startswith(STANDALONE) and not b.startswith(a.rpartition(".")[0]))
    assert not leaks, "runtime/engine import the package: " + "; ".join(leaks)


def test_the_layer_check_finds_an_upward_import():
    assert layer_of("renderer.spec.load") < layer_of("renderer.rules.check")
    assert layer_of("renderer.runtime.supervise") == 0


def test_no_module_over_the_limit():
    long = {str(p.relative_to(PACKAGE.parent)): n for p in modules().values()
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES}
    assert not long, f"modules over {MAX_MODULE_LINES} lines (split them by job): {long}"


def test_no_function_over_the_limit():
    long = {}
    for path in modules().values():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                start = min([d.lineno for d in node.decorator_list] + [node.lineno])
                if (n := node.end_lineno - start + 1) > MAX_FUNCTION_LINES:
                    long[f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {node.name}"] = n
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines: {long}"


def test_no_citation_of_notes_outside_the_repository():
    """Sources are upstream (a URL, or a package and path at a version), never the private
    research notes this project was started from."""
    root = PACKAGE.parent
    needle = "shared/" + "reference"  # split, so this file does not match itself
    cited = [str(p.relative_to(root)) for top in ("servespec", "specs", "tools", "tests", "bench")
             for p in (root / top).rglob("*") if p.is_file() and p.suffix != ".pyc"
             and needle in p.read_text(encoding="utf-8", errors="replace")]
    assert not cited, f"cite the upstream source instead of {needle} in: {cited}"
