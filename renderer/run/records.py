"""What a run leaves behind: runs/<spec>.jsonl (one line per step) and runs/<app>.lock."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from renderer.run.display import Display
from renderer.run.problems import DONE, STOPPED, UsageProblem
from renderer.runtime.redact import Redactor


@dataclass
class StepResult:
    name: str
    status: str  # ok | skipped | failed | timeout | interrupted
    exit_code: int | None
    start: float
    end: float
    reason: str = ""
    tail: list[str] = field(default_factory=list)
    command: str = ""
    url: str | None = None

    @property
    def skipped(self) -> bool:
        return self.status == "skipped"

    @property
    def duration(self) -> float:
        return round(self.end - self.start, 3)

    def record(self) -> dict:
        data = {"name": self.name, "status": self.status, "exit_code": self.exit_code,
                "start": iso(self.start), "end": iso(self.end), "duration": self.duration,
                "skipped": self.skipped, "reason": self.reason}
        if self.status in STOPPED:
            data["command"] = self.command
            data["tail"] = self.tail
        if self.url:
            data["url"] = self.url
        return data


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds")


class RunLog:
    """runs/<name>.jsonl: one line per step, appended as each step ends (a crash loses none)."""

    def __init__(self, path: Path, run_id: str, digest: str, redact: Redactor,
                 rendered_digest: str | None = None):
        self.path, self.run_id, self.digest, self.redact = path, run_id, digest, redact
        # All of rendered/<name>/ (renderer/run/history.py): `servespec status` compares it.
        self.rendered_digest = rendered_digest

    def append(self, result: StepResult) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = {"run": self.run_id, "steps_digest": self.digest,
                "rendered_digest": self.rendered_digest, **result.record()}
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(self.redact.deep(line), sort_keys=True) + "\n")


def read_records(path: Path) -> list[dict]:
    """The deploy runs' lines; bench, rollback and stop lines (with "action") are left out, so
    a bench after a failed deploy does not hide that deploy from resume."""
    if not path.is_file():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        with contextlib.suppress(ValueError):
            record = json.loads(line)
            if isinstance(record, dict) and record.get("action", "deploy") == "deploy":
                records.append(record)
    return records


def resumable(records: list[dict], digest: str) -> tuple[str | None, set[str]]:
    """(run id, finished steps) of the last run when it ran these same steps (same steps.json digest) and stopped early."""
    if not records:
        return None, set()
    last_run = records[-1].get("run")
    steps = [r for r in records if r.get("run") == last_run]
    if any(r.get("steps_digest") != digest for r in steps):
        return None, set()
    if not any(r.get("status") in STOPPED for r in steps):
        return None, set()
    # Preflight is re-checked on every run, so it never counts as work to carry over.
    done = {r["name"] for r in steps if r.get("status") in DONE and r["name"] != "preflight"}
    return (last_run, done) if done else (None, set())


def recorded_url(records: list[dict], digest: str) -> str | None:
    for record in reversed(records):
        if record.get("steps_digest") == digest and record.get("url"):
            return record["url"]
    return None


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def deploy_lock(path: Path, display: Display):
    """Hold runs/<app>.lock for the whole run. flock dies with its process, so a crashed run
    cannot block the next one; the pid inside is for the humans reading the messages."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").split()
            who = f"pid {holder[0]}" if holder else "another process"
            raise UsageProblem(f"another deploy of this app is running ({who} holds {path}); "
                               "wait for it or stop it first") from None
        previous = os.pread(fd, 64, 0).decode(errors="replace").split()
        if previous and previous[0].isdigit() and not pid_alive(int(previous[0])):
            display.print(f"note: the lock {path} was left by pid {previous[0]}, which is no "
                          "longer running (a crashed deploy); taking it over")
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
        os.ftruncate(fd, 0)
    finally:
        os.close(fd)  # closing releases the flock
