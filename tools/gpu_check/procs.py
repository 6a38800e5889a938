"""A container stand-in process watched from outside, for the GPU check (tools/gpu_check/device.py).

`Container` starts tools/gpu_check/container.py on a rendered deploy.py, reads its output on a
thread, stamps every line with the seconds since the process started (SGLang's own timestamps
have whole seconds only) and keeps it all, raw, for the phase parser and the secrets scan: the
raw output is what Modal's dashboard would show. Standard library only.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent


class Container:
    def __init__(self, deploy_py: Path, env: dict[str, str], log_path: Path):
        self.log_path = log_path
        self.lines: list[tuple[float, str]] = []
        self.changed = threading.Condition()
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "container.py"), str(deploy_py)],
            env={**env, "PYTHONUNBUFFERED": "1"}, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        with open(self.log_path, "w", encoding="utf-8") as log:
            for raw in iter(self.proc.stdout.readline, b""):
                text = raw.decode("utf-8", errors="replace").rstrip("\r\n")
                seconds = time.monotonic() - self.started
                log.write(f"{seconds:9.3f} {text}\n")
                log.flush()
                with self.changed:
                    self.lines.append((seconds, text))
                    self.changed.notify_all()
        with self.changed:
            self.changed.notify_all()

    def now(self) -> float:
        return time.monotonic() - self.started

    def wait_for(self, test: Callable[[str], bool], timeout: float) -> tuple[float, str] | None:
        """The first line (seconds, text) that passes `test`; None on timeout or exit."""
        deadline = time.monotonic() + timeout
        seen = 0
        with self.changed:
            while True:
                for seconds, text in self.lines[seen:]:
                    if test(text):
                        return seconds, text
                seen = len(self.lines)
                remaining = deadline - time.monotonic()
                if remaining <= 0 or (self.proc.poll() is not None and not self.reader.is_alive()):
                    return None
                self.changed.wait(min(remaining, 0.5))

    def has(self, fragment: str) -> bool:
        with self.changed:
            return any(fragment in text for _, text in self.lines)

    def text(self) -> str:
        with self.changed:
            return "\n".join(text for _, text in self.lines)

    def sigterm(self) -> float:
        """SIGTERM to the container process alone, as Modal stops a container; returns when."""
        os.kill(self.proc.pid, signal.SIGTERM)
        return self.now()

    def wait(self, timeout: float) -> int | None:
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        self.reader.join(10)
        return code

    def kill(self) -> None:
        """End everything the container started (its own process group and SGLang's)."""
        for pid in [self.proc.pid, *descendants(self.proc.pid)]:
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        self.wait(10)


def _stat(pid: int) -> tuple[int, str] | None:
    """(parent pid, state) of a process, from /proc."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            stat = fh.read()
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()
    return int(fields[1]), fields[0]


def descendants(root: int) -> list[int]:
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            info = _stat(int(entry))
            if info and info[1] not in ("Z", "X"):
                parents[int(entry)] = info[0]
    found, frontier = [], [root]
    while frontier:
        current = frontier.pop()
        children = [pid for pid, parent in parents.items() if parent == current]
        found += children
        frontier += children
    return found


def command_line(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read().replace(b"\0", b" ").decode("utf-8", errors="replace").strip()
    except OSError:
        return ""


def find_process(root: int, fragment: str) -> int | None:
    """The first descendant of `root` whose command line (or setproctitle title) holds
    `fragment`: SGLang names its scheduler process "sglang::scheduler" (srt/managers/scheduler.py)."""
    for pid in descendants(root):
        if fragment in command_line(pid):
            return pid
    return None
