"""Orderly shutdown of a multi-node replica (renderer/runtime/supervise.py), with two local processes
standing in for the two containers of a clustered @app.server and a real SIGTERM.

Each process runs the real supervisor around a stand-in SGLang rank (tests/cluster/rank.py):
rank 0 drains and then broadcasts shutdown; the other rank ignores SIGTERM and stops on that
broadcast, as sglang 0.5.23 does (srt/entrypoints/engine.py). Only Modal's part, sending SIGTERM
and running @modal.exit, is imitated by rank.py.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from renderer.runtime import supervise as sv

RANK = Path(__file__).resolve().parent / "cluster" / "rank.py"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    def __init__(self, workdir: Path, notice: bool = True):
        self.workdir = workdir
        health, control, notice_port = free_port(), free_port(), free_port()
        self.follower = self._start("follower", str(control), str(notice_port))
        self._wait_for("follower-container: started")
        self.leader = self._start("leader", str(health), str(control), str(notice_port),
                                  *([] if notice else ["--no-notice"]))
        self._wait_for("leader-container: started")

    def _start(self, role: str, *args: str) -> subprocess.Popen:
        log = open(self.workdir / f"{role}.log", "w")  # noqa: SIM115 - closed with the process
        return subprocess.Popen([sys.executable, str(RANK), role, str(self.workdir), *args],
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def events(self) -> list[str]:
        path = self.workdir / "events"
        lines = path.read_text().splitlines() if path.exists() else []
        return [line.split(" ", 1)[1] for line in sorted(lines)]

    def log(self, role: str) -> str:
        return (self.workdir / f"{role}.log").read_text()

    def _wait_for(self, text: str, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.events():
            assert time.monotonic() < deadline, (text, self.events())
            time.sleep(0.02)

    def stop_all(self) -> None:
        """Every process group this cluster made: both containers and both stand-in servers."""
        for proc in (self.leader, self.follower):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        for pidfile in self.workdir.glob("*-server.pid"):
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.killpg(int(pidfile.read_text()), signal.SIGKILL)


@pytest.fixture
def cluster(tmp_path):
    made = []

    def make(**kwargs) -> Cluster:
        made.append(Cluster(tmp_path, **kwargs))
        return made[-1]

    yield make
    for c in made:
        c.stop_all()


def test_scale_down_sigterm_to_both_containers_is_orderly(cluster):
    c = cluster()
    # Modal stops a cluster by sending SIGTERM to every container at once.
    os.kill(c.follower.pid, signal.SIGTERM)
    os.kill(c.leader.pid, signal.SIGTERM)
    assert c.leader.wait(timeout=30) == 0, c.log("leader")
    assert c.follower.wait(timeout=30) == 0, c.log("follower")
    events = c.events()
    # Rank 0 drained first; only its broadcast stopped the other rank's server.
    assert events.index("leader-server: drained, broadcast shutdown, exiting") < \
        events.index("follower-server: shutdown broadcast received, exiting")
    assert "follower-server: SIGTERM ignored" not in events  # never signalled before rank 0 was done
    follower = c.log("follower")
    assert "server stopped during shutdown (exit code 0)" in follower
    assert "exited unexpectedly" not in follower + c.log("leader")


def test_leader_first_the_follower_expects_its_exit_and_stays_up(cluster):
    """Rank 0's container stops first: the other rank's server exits on the broadcast, and its
    container treats that as shutdown, not as a crash, until its own SIGTERM arrives."""
    c = cluster()
    os.kill(c.leader.pid, signal.SIGTERM)
    assert c.leader.wait(timeout=30) == 0
    time.sleep(1.0)
    assert c.follower.poll() is None, c.log("follower")  # not os._exit(1)
    assert "rank 0 announced shutdown" in c.log("follower")
    os.kill(c.follower.pid, signal.SIGTERM)
    assert c.follower.wait(timeout=30) == 0
    assert "exited unexpectedly" not in c.log("follower")


def test_without_the_notice_the_follower_would_call_it_a_crash(cluster):
    """The check above can fail: with no notice (the old behaviour), the same sequence ends the
    other container with status 1 from its crash monitor."""
    c = cluster(notice=False)
    os.kill(c.leader.pid, signal.SIGTERM)
    assert c.leader.wait(timeout=30) == 0
    assert c.follower.wait(timeout=30) == 1
    assert "server exited unexpectedly (exit code 0)" in c.log("follower")


def test_without_rank_0_the_other_rank_still_stops_within_the_exit_grace(cluster):
    """Rank 0's container is gone (no drain, no broadcast): the other rank waits one grace
    period for it, then stops its own server group, inside the Server's exit_grace_period."""
    c = cluster()
    os.killpg(c.leader.pid, signal.SIGKILL)
    c.leader.wait(timeout=10)
    started = time.monotonic()
    os.kill(c.follower.pid, signal.SIGTERM)
    assert c.follower.wait(timeout=30) == 0
    took = time.monotonic() - started
    grace, stop = 2.0, sv.FOLLOWER_STOP_SECONDS  # tests/cluster/rank.py's GRACE_SECONDS
    assert grace <= took < grace + stop + 2.0  # one grace for rank 0, the stop, some slack
    assert "sending SIGKILL" in c.log("follower")  # its server ignored SIGTERM, as SGLang's does
