"""Parse a rendered deploy.py's DeepGEMM compile argv with SGLang's REAL compile parser.

Run it with the Python of an env built by tools/sglang-env.sh (it imports renderer/engine/parse.py
by path, as that env has no servespec):

    .cache/sglang-0.5.23/bin/python renderer/engine/compile_parse.py rendered/<name>/deploy.py

`python -m sglang.compile_deep_gemm` builds its parser from ServerArgs.add_cli_args and its own
CompileArgs.add_cli_args (sglang 0.5.23 compile_deep_gemm.py, `__main__`). Importing that module
needs the GPU stack (it imports the HTTP server), so the CompileArgs class is taken from the
module's source in the installed wheel and executed on its own; this tool checks that `__main__`
still builds the parser from exactly those two calls, so a change upstream fails here.

Prints one JSON object: {"ok", "error", "timeout", "version"}; exit 0 when the argv parses.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib.util
import json
import sys
from pathlib import Path

# renderer/engine/parse.py is standard library only, importable without the package.
sys.path.insert(0, str(Path(__file__).resolve().parent))
from parse import ParseFailure, build_parser


def compile_source() -> ast.Module:
    spec = importlib.util.find_spec("sglang.compile_deep_gemm")
    return ast.parse(Path(spec.origin).read_text(encoding="utf-8"))


def compile_args_class(tree: ast.Module):
    """CompileArgs, executed from the wheel's own source (it needs only argparse/dataclasses)."""
    node = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "CompileArgs")
    namespace = {"dataclasses": dataclasses, "argparse": __import__("argparse")}
    # SGLang's own source from the pinned wheel, not input from a user: exec is the point.
    exec(compile(ast.Module([node], []), "sglang/compile_deep_gemm.py", "exec"), namespace)  # noqa: S102
    return namespace["CompileArgs"]


def main_calls(tree: ast.Module) -> list[str]:
    """The add_cli_args calls of the `if __name__ == "__main__"` block, in order."""
    block = next(n for n in tree.body if isinstance(n, ast.If) and "__main__" in ast.unparse(n.test))
    return [ast.unparse(c.func) for c in ast.walk(block)
            if isinstance(c, ast.Call) and ast.unparse(c.func).endswith(".add_cli_args")]


def rendered_argv(deploy_py: Path) -> list[str]:
    values = {}
    for node in ast.parse(deploy_py.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 \
                and getattr(node.targets[0], "id", None) in ("SGLANG_ARGS", "COMPILE_ARGS"):
            values[node.targets[0].id] = ast.literal_eval(node.value)
    return [*values["SGLANG_ARGS"], *values.get("COMPILE_ARGS", [])]


def main(path: str) -> int:
    tree = compile_source()
    calls = main_calls(tree)
    if calls != ["ServerArgs.add_cli_args", "CompileArgs.add_cli_args"]:
        print(json.dumps({"ok": False, "error": f"compile_deep_gemm builds its parser from {calls}"}))
        return 3
    compile_args = compile_args_class(tree)
    version, parser = build_parser()
    compile_args.add_cli_args(parser)
    result = {"version": version, "ok": True, "error": None, "timeout": None}
    try:
        namespace = parser.parse_args(rendered_argv(Path(path)))
        result["timeout"] = compile_args.from_cli_args(namespace).timeout
    except ParseFailure as failure:
        result.update(ok=False, error=str(failure))
    print(json.dumps(result))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
