"""Child processes: each command in its own session, stopped as a group at its deadline or on
Ctrl-C/SIGTERM, its output streamed line by line."""

from __future__ import annotations

import collections
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from renderer.resolve import bench, evals
from renderer.run.problems import EXIT_INTERRUPTED, TIMEOUT_EXIT_CODE, Interrupted
from renderer.runtime.redact import looks_secret

TAIL_LINES = 20
KILL_GRACE_SECONDS = 10.0  # between the polite signal and SIGKILL


@dataclass
class Outcome:
    status: str  # ok | failed | timeout | interrupted
    exit_code: int
    tail: list[str]
    output: str


def resolve(program: str) -> str | None:
    """PATH first (tests put stand-ins there), then the interpreter's own bin directory, so
    `make deploy` finds the venv's `modal` and `servespec` without an activated venv."""
    found = shutil.which(program)
    if found:
        return found
    local = Path(sys.executable).parent / program
    return str(local) if local.is_file() and os.access(local, os.X_OK) else None


# The credentials the modal CLI itself reads from the environment (modal/config.py _SETTINGS,
# MODAL_<KEY>, modal 1.6.4); every other secret-looking variable reaches a command only when its
# step names it (the smoke step: the API key and proxy-token variables).
MODAL_CLIENT_SECRETS = frozenset({
    "MODAL_TOKEN_ID", "MODAL_TOKEN_SECRET", "MODAL_OAUTH_REFRESH_TOKEN",
    "MODAL_OAUTH_CLIENT_SECRET", "MODAL_OAUTH_JWT_KEY"})
# Only `servespec bench` and `servespec eval` set these, for their own `modal run`: exported by
# hand, one would make any `modal run` of the jobs app copy the proxy token into a Secret
# (renderer/resolve/bench.py, renderer/resolve/evals.py).
NEVER_PASSED = frozenset({bench.REMOTE_FLAG_VAR, evals.REMOTE_FLAG_VAR})


# modal prints with rich, which wraps at COLUMNS (80 on a pipe: modal/_output/rich.py
# _make_console): a URL in `modal deploy`'s tree would break across lines.
WIDE_COLUMNS = "1000"


def child_env(needs=()) -> dict[str, str]:
    """This environment, less NEVER_PASSED and every secret-looking variable that neither the
    modal CLI nor the step (`needs`: names) reads; output unbuffered and never wrapped."""
    keep = MODAL_CLIENT_SECRETS | set(needs)
    env = {name: value for name, value in os.environ.items()
           if name not in NEVER_PASSED and (name in keep or not looks_secret(name))}
    return {**env, "PYTHONUNBUFFERED": "1", "COLUMNS": WIDE_COLUMNS}


@contextlib.contextmanager
def signals_held():
    """Hold SIGINT/SIGTERM while a group is being stopped: a second Ctrl-C must not abandon
    the cleanup halfway. A held signal is delivered (and raises) as soon as the block ends."""
    held = {signal.SIGINT, signal.SIGTERM}
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, held)


def stop_group(proc: subprocess.Popen, first_signal: int) -> None:
    """Signal the child's whole process group, then SIGKILL whatever is left after a grace."""
    with signals_held():
        _stop_group(proc, first_signal)


def _stop_group(proc: subprocess.Popen, first_signal: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, first_signal)
    try:
        proc.wait(timeout=KILL_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        pass
    # Grandchildren may outlive the child itself; the group id is still the child's pid.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def run_command(argv: list[str], deadline: float, on_line=None, needs=()) -> Outcome:
    """Run argv in a new session, streaming lines to on_line; stop it at the deadline. `needs`:
    the secret-looking variables the command reads besides the modal CLI's own."""
    program = resolve(argv[0])
    if program is None:
        return Outcome("failed", 127, [f"{argv[0]}: command not found"], "")
    proc = subprocess.Popen([program, *argv[1:]], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, errors="replace",
                            start_new_session=True, env=child_env(needs))
    lines: list[str] = []
    tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)

    def pump() -> None:
        for line in proc.stdout:
            line = line.rstrip("\n")
            lines.append(line)
            tail.append(line)
            if on_line:
                on_line(line)

    reader = threading.Thread(target=pump, daemon=True)
    status = "ok"
    try:
        reader.start()
        proc.wait(timeout=max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        status = "timeout"
        stop_group(proc, signal.SIGTERM)
    except KeyboardInterrupt:
        # Like a Ctrl-C in a terminal: `modal run` stops its ephemeral app on SIGINT.
        stop_group(proc, signal.SIGINT)
        reader.join(timeout=2)
        raise Interrupted(Outcome("interrupted", EXIT_INTERRUPTED, list(tail), "\n".join(lines)))
    reader.join(timeout=2)  # a grandchild holding the pipe open must not hang the runner
    if status == "timeout":
        return Outcome("timeout", TIMEOUT_EXIT_CODE, list(tail), "\n".join(lines))
    code = proc.returncode
    return Outcome("ok" if code == 0 else "failed", code, list(tail), "\n".join(lines))


@contextlib.contextmanager
def interrupts_raise():
    """SIGINT and SIGTERM both become Interrupted, so the child group is stopped either way."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise Interrupted(None)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
