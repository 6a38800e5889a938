"""The container of a rendered app's server, as Modal runs it, in a plain process (GPU check).

    python3 tools/gpu_check/container.py rendered/<name>/deploy.py

It imports the rendered deploy.py with tools/gpu_check/modal_standin.py as `modal`, puts the
image's environment variables (Image.env) into its own environment, and then does what Modal
does with the server class: creates it, runs its @modal.enter methods (deploy.py's own start
code: volume reloads, supervise() from the runtime file, the cache commit), and on SIGTERM runs
its @modal.exit methods (deploy.py's own stop code) and exits 0. Modal replaces the SIGTERM
handler that supervise() installs once @modal.enter returns; so does this process. The runtime
file deploy.py imports is the rendered one, rendered/_runtime/servespec_runtime.py, found the
way the container finds it at /root: on sys.path.

Lines it prints itself start with CONTAINER_PREFIX; one of them is a JSON object with what
deploy.py asked of Modal (the server's options, the image's variables), for the check's report.
If supervise() raises, the traceback is printed and the process exits 1, as a failed
@modal.enter ends a Modal container.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import sys
import threading
import time
import traceback
from pathlib import Path

CONTAINER_PREFIX = "[container] "
OPTIONS_MARKER = CONTAINER_PREFIX + "options "
STARTED_LINE = CONTAINER_PREFIX + "@modal.enter returned"
STOPPED_LINE = CONTAINER_PREFIX + "@modal.exit returned"


def say(text: str) -> None:
    print(CONTAINER_PREFIX + text, flush=True)


def load_app(deploy_py: Path):
    """Import deploy.py under the modal stand-in; return (module, the stand-in's record)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import modal_standin

    modal = modal_standin.install()
    runtime_dir = deploy_py.resolve().parent.parent / "_runtime"
    sys.path.insert(0, str(runtime_dir))
    spec = importlib.util.spec_from_file_location("deploy", deploy_py)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module, modal.RECORD


def server_class(module, record: dict):
    for entry in record["servers"]:
        target = getattr(module, entry["name"], None)
        if isinstance(target, type):
            return target, entry
    raise SystemExit(f"{module.__file__} defines no server class")


def hooks(cls, kind: str) -> list:
    return [getattr(cls, name) for name in dir(cls)
            if getattr(getattr(cls, name), "modal_standin_hook", None) == kind]


def main(argv: list[str]) -> int:
    deploy_py = Path(argv[0])
    module, record = load_app(deploy_py)
    cls, options = server_class(module, record)
    os.environ.update(record["env"])  # the image's variables, as the container has them
    print(OPTIONS_MARKER + json.dumps({"server": {k: v for k, v in options.items()
                                                  if isinstance(v, (int, float, str, bool))},
                                       "image_env": record["env"]}), flush=True)
    instance = cls()
    stopping = threading.Event()
    try:
        for enter in hooks(cls, "enter"):
            enter(instance)
    except BaseException:  # noqa: BLE001 - a failed @modal.enter ends the container
        traceback.print_exc()
        sys.stdout.flush()
        return 1
    say("@modal.enter returned")

    def on_sigterm(signum, frame) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, on_sigterm)
    while not stopping.wait(0.2):
        pass
    started = time.monotonic()
    say("SIGTERM received; running @modal.exit")
    for leave in hooks(cls, "exit"):
        leave(instance)
    say(f"@modal.exit returned after {time.monotonic() - started:.1f} s")
    print(json.dumps({"volumes": record["volumes"]}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
