"""Code health over renderer/ and templates/, checked on every run so it stays true as the code
grows: no import cycle between its modules (type-only imports included), no subpackage importing
a later stage, the container runtime on the standard library alone, no module over
MAX_MODULE_LINES lines, no function over MAX_FUNCTION_LINES lines, no block of REPEAT_LINES
hand-written lines written twice, every rendered deploy.py under MAX_DEPLOY_LINES. Read from the
source with ast; nothing is imported."""

from __future__ import annotations

import ast
import re
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "renderer"
TEMPLATES = ROOT / "templates"
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 60
MAX_DEPLOY_LINES = 300
REPEAT_LINES = 6


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
    root = ROOT
    needle = "shared/" + "reference"  # split, so this file does not match itself
    cited = [str(p.relative_to(root)) for top in ("servespec", "specs", "tools", "tests", "bench")
             for p in (root / top).rglob("*") if p.is_file() and p.suffix != ".pyc"
             and needle in p.read_text(encoding="utf-8", errors="replace")]
    assert not cited, f"cite the upstream source instead of {needle} in: {cited}"


def test_the_container_runtime_uses_the_standard_library_only():
    """renderer/runtime/ runs inside the serving image: its imports are the standard library's,
    its own (relative) modules, and SGLang, the engine that image exists for, only inside the
    function that drives it (the benchmark driver), so importing the runtime never needs it."""
    foreign = []
    for path in sorted((PACKAGE / "runtime").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        top = {id(node) for node in tree.body}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module or ""]
            else:
                continue
            engine = id(node) not in top and {"sglang"}
            foreign += [f"{path.name}:{node.lineno} {n}" for n in names
                        if n.partition(".")[0] not in sys.stdlib_module_names | (engine or set())]
    assert not foreign, f"runtime imports beyond the standard library: {foreign}"


def test_every_rule_module_is_registered_by_name():
    """renderer/rules/check.py names every rule module in MODULES (importing one registers its
    rules); a module left out would have its rules silently never run."""
    tree = ast.parse((PACKAGE / "rules" / "check.py").read_text(encoding="utf-8"))
    listed = next({elt.id for elt in node.value.elts} for node in tree.body
                  if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "MODULES")
    present = {p.stem for p in (PACKAGE / "rules").glob("*.py")} - {"__init__", "check", "registry"}
    assert listed == present, f"rule modules not in check.MODULES: {present - listed}"


# --- repeated blocks --------------------------------------------------------------------------

# Hand-written code and templates. Left out: the scaffold's files (data written into a user's
# repository), the catalogs (YAML tables) and what a wheel build copies in (_packaged).
def _hand_written() -> list[Path]:
    found = [*sorted(PACKAGE.rglob("*.py")), *sorted(TEMPLATES.rglob("*.j2"))]
    skip = (PACKAGE / "scaffold" / "files", PACKAGE / "_packaged")
    return [p for p in found if not any(p.is_relative_to(s) for s in skip)]


def repeated_blocks(texts: dict[str, str], size: int = REPEAT_LINES) -> list[list[str]]:
    """Every run of `size` consecutive non-blank lines (whitespace normalized) that occurs at
    more than one place, as its places "file:line"; overlapping runs of one repeat each count."""
    places: dict[tuple[str, ...], list[str]] = defaultdict(list)
    for name, text in texts.items():
        lines = [(n, " ".join(line.split())) for n, line in enumerate(text.splitlines(), 1)]
        lines = [(n, line) for n, line in lines if line]
        for i in range(len(lines) - size + 1):
            places[tuple(line for _, line in lines[i:i + size])].append(f"{name}:{lines[i][0]}")
    return [where for where in places.values() if len(where) > 1]


def test_no_block_of_lines_is_written_twice():
    texts = {str(p.relative_to(ROOT)): p.read_text(encoding="utf-8") for p in _hand_written()}
    repeats = repeated_blocks(texts)
    assert not repeats, (f"{len(repeats)} blocks of {REPEAT_LINES} lines written more than once "
                         f"(make one a function, macro or table): {repeats[:5]}")


def test_the_repeat_finder_finds_one():
    block = "\n".join(f"x{i} = {i}" for i in range(REPEAT_LINES))
    assert repeated_blocks({"a": block, "b": "y = 0\n\n  " + block.replace(" = ", "  =  ")}) \
        == [["a:1", "b:3"]]
    assert repeated_blocks({"a": block, "b": block[:-1]}) == []


def test_no_path_into_the_old_package():
    """renderer/ and templates/ name no file under servespec/ (the compatibility shim only
    re-exports); `.servespec/` (a folder in the cache volume) names the tool, not the package."""
    pattern = re.compile(r"(?<![\w.-])servespec/")
    named = [f"{p.relative_to(ROOT)}:{n}" for p in _hand_written()
             for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
             if pattern.search(line)]
    assert not named, f"paths into servespec/: {named}"


def test_every_rendered_deploy_script_is_short_enough_to_review():
    long = {str(p.relative_to(ROOT)): n for p in sorted((ROOT / "rendered").glob("*/deploy.py"))
            if (n := len(p.read_text(encoding="utf-8").splitlines())) >= MAX_DEPLOY_LINES}
    assert len(list((ROOT / "rendered").glob("*/deploy.py"))) > 0
    assert not long, f"deploy.py of {MAX_DEPLOY_LINES} lines or more: {long}"
