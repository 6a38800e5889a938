"""Deprecated path of the SGLang argument check: renderer/engine/parse.py.

`servespec init` wrote a CI script that runs this file with the Python of an SGLang venv (where
servespec itself is not installed), so it stays runnable as a plain script for one release.
"""

import runpy
import sys
from pathlib import Path

if __name__ == "__main__":
    print("servespec/sglang_parse.py is deprecated: run renderer/engine/parse.py instead",
          file=sys.stderr)
    target = Path(__file__).resolve().parent.parent / "renderer" / "engine" / "parse.py"
    sys.argv[0] = str(target)
    runpy.run_path(str(target), run_name="__main__")
