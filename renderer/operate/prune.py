"""`servespec prune-cache SPEC [--dry-run]`: remove the cache volume's old image directories.

Runs `modal run rendered/<name>/jobs.py::prune_cache [--dry-run]` (the flag: modal/cli/run.py
_add_click_options, modal 1.6.4, a bool parameter becomes --dry-run/--no-dry-run): a CPU
function of the jobs app mounts the cache volume read-write, removes every directory under
<mount>/<arch>/ other than the current image's (servespec_runtime.prune_caches), and commits the
volume. With --dry-run it lists what it would remove, with sizes, and removes nothing. Other
architectures' directories are left alone. Every failure is one sentence and exit code 1.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from renderer import paths
from renderer.operate.lifecycle import LifecycleProblem, _spec, failure_sentence, modal_executable

FUNCTION = "prune_cache"
TIMEOUT = 3900.0  # the function's own 3600 s plus start-up


def prune_argv(spec_name: str, dry_run: bool) -> list[str]:
    argv = ["modal", "run", f"{paths.jobs_file(spec_name)}::{FUNCTION}"]
    return argv + (["--dry-run"] if dry_run else [])


def run_prune(argv: list[str], app: str) -> str:
    """Run the modal call, echoing its output; LifecycleProblem with one sentence on failure."""
    from renderer.run.process import child_env

    try:
        proc = subprocess.run([modal_executable(), *argv[1:]], capture_output=True, text=True,
                              timeout=TIMEOUT, stdin=subprocess.DEVNULL, env=child_env(needs=()),
                              check=False)
    except FileNotFoundError:
        raise LifecycleProblem("the modal CLI is not installed (pip install 'servespec[deploy]')") from None
    except subprocess.TimeoutExpired:
        raise LifecycleProblem(f"`{' '.join(argv[:3])}` did not finish within {TIMEOUT:.0f} s.") from None
    if proc.returncode != 0:
        raise LifecycleProblem(failure_sentence(app, proc.stderr + "\n" + proc.stdout))
    return proc.stdout


def prune_main(spec_path: str, dry_run: bool) -> int:
    try:
        spec, name = _spec(spec_path)
        if not (spec.get("storage") or {}).get("cache"):
            raise LifecycleProblem(f"spec '{name}' has no cache volume (storage.cache); there is nothing to prune.")
        if not Path(paths.jobs_file(name)).is_file():
            raise LifecycleProblem(f"{paths.jobs_file(name)} does not exist; run `servespec render` first.")
        output = run_prune(prune_argv(name, dry_run), f"{spec['app']}-jobs")
    except LifecycleProblem as problem:
        print(f"servespec prune-cache: {problem}", file=sys.stderr)
        return problem.code
    lines = [line for line in output.splitlines() if "cache prune" in line]
    print("\n".join(lines) if lines else output.rstrip())
    return 0
