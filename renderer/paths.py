"""Where rendered artifacts live, shared by the render stage and the deploy runner.

Every name derived from a spec (checkpoint directory, markers, DeepGEMM cache) is computed once
in servespec/resolve.py and read from the Deployment; only the layout of rendered/ stays here,
because the runner needs it before any spec is resolved.
"""

from __future__ import annotations

RENDERED_DIR = "rendered"


def rendered_dir(spec_name: str) -> str:
    return f"{RENDERED_DIR}/{spec_name}"
