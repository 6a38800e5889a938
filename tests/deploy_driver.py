"""Runs the real deploy runner in its own process, as `servespec deploy` would (tests only).

    python tests/deploy_driver.py '{"spec": ..., "dry_run": false, "from_step": null,
                                    "only_step": null, "fmt": "text", "render": true,
                                    "steps": {"VOLUMES_TIMEOUT": 1}, "run": {...}}'

A process of its own, because the tests send it signals and give it its own PATH and HOME.
"steps" and "run" shorten the runner's fixed budgets (step timeouts, the kill grace) so the
tests finish in seconds. steps.json is rendered with the same values the freshness check then
re-renders with, so it stays fresh, exactly as `make render` followed by a deploy would.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main() -> int:
    args = json.loads(sys.argv[1])
    from renderer.render import steps
    from renderer.run import main as run_main
    from renderer.run import process, wait

    for name, value in args.get("steps", {}).items():
        assert hasattr(steps, name), name
        setattr(steps, name, value)
    # The runner's budgets live in the module that uses them (renderer/run/<job>.py).
    run_modules = [process, run_main, wait]
    for name, value in args.get("run", {}).items():
        owners = [m for m in run_modules if hasattr(m, name)]
        assert len(owners) == 1, name
        setattr(owners[0], name, value)
    if args.get("render", True):
        from renderer.pipeline import read_spec
        from renderer.render import artifacts as render

        checked = read_spec(args["spec"])
        render.write_files(Path("rendered") / checked.name, render.render_files(checked))
        render.write_files(Path("rendered") / "_runtime", render.runtime_files())
    return run_main.deploy_main(args["spec"], dry_run=args.get("dry_run", False),
                                from_step=args.get("from_step"),
                                only_step=args.get("only_step"), fmt=args.get("fmt", "text"))


if __name__ == "__main__":
    sys.exit(main())
