"""One container of a two-node replica, standing in for Modal's container process (tests only).

    python rank.py leader  WORKDIR HEALTH_PORT CONTROL_PORT NOTICE_PORT [--no-notice]
    python rank.py follower WORKDIR CONTROL_PORT NOTICE_PORT

It starts a stand-in "SGLang rank" (this file with `server-leader` / `server-follower`) under the
REAL renderer/runtime/supervise.py, as deploy.py's Serve.start does, then behaves as Modal does after
@modal.enter: on SIGTERM it runs the @modal.exit body (server.stop) and exits 0.

The stand-in ranks mimic what sglang 0.5.23 does (srt/entrypoints/engine.py): the leader serves
/health and, on SIGTERM, drains for a moment and then broadcasts a shutdown to the other rank;
the follower ignores SIGTERM and exits when that broadcast arrives. Each writes timestamped
events to WORKDIR/events.
"""

import os
import signal
import socket
import sys
import time
from http.server import ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for health_handler
from health_handler import Health

from renderer.runtime import supervise as sv

DRAIN_SECONDS = 0.5
GRACE_SECONDS = 2.0  # short, so the test that waits one full grace stays quick


def event(workdir: str, text: str) -> None:
    with open(Path(workdir) / "events", "a") as f:
        f.write(f"{time.time():.6f} {text}\n")


def server_leader(workdir: str, health_port: int, control_port: int) -> None:
    def on_sigterm(signum, frame):
        event(workdir, "leader-server: SIGTERM, draining")
        time.sleep(DRAIN_SECONDS)
        # Recorded before the broadcast: once it is sent, the other rank may log its exit first.
        event(workdir, "leader-server: drained, broadcast shutdown, exiting")
        with socket.create_connection(("127.0.0.1", control_port), timeout=2) as conn:
            conn.sendall(b"shutdown")  # SGLang's ShutdownReq broadcast to the other ranks
        os._exit(0)

    signal.signal(signal.SIGTERM, on_sigterm)
    ThreadingHTTPServer(("127.0.0.1", health_port), Health).serve_forever()


def server_follower(workdir: str, control_port: int) -> None:
    signal.signal(signal.SIGTERM, lambda *_: event(workdir, "follower-server: SIGTERM ignored"))
    listener = socket.create_server(("127.0.0.1", control_port))
    while True:
        conn, _ = listener.accept()
        if conn.recv(16) == b"shutdown":
            event(workdir, "follower-server: shutdown broadcast received, exiting")
            os._exit(0)


def container(role: str, workdir: str, args: list[str]) -> None:
    me = [sys.executable, __file__]
    if role == "leader":
        health_port, control_port, notice_port = (int(a) for a in args[:3])
        followers = [] if "--no-notice" in args else [("127.0.0.1", notice_port)]
        server = sv.supervise([*me, "server-leader", workdir, str(health_port), str(control_port)],
                              f"http://127.0.0.1:{health_port}/health", health_timeout=20,
                              poll_interval=0.05, grace_seconds=GRACE_SECONDS, followers=followers)
    else:
        control_port, notice_port = int(args[0]), int(args[1])
        server = sv.supervise([*me, "server-follower", workdir, str(control_port)], None,
                              grace_seconds=GRACE_SECONDS, leader_notice_port=notice_port)

    def modal_exit(signum, frame):  # Modal runs @modal.exit on SIGTERM, then the process ends
        event(workdir, f"{role}-container: SIGTERM, @modal.exit")
        server.stop(GRACE_SECONDS)
        event(workdir, f"{role}-container: stopped, exit 0")
        os._exit(0)

    signal.signal(signal.SIGTERM, modal_exit)
    # The server runs in its own process group; the test reaps it by this pid.
    (Path(workdir) / f"{role}-server.pid").write_text(str(server.process.pid))
    event(workdir, f"{role}-container: started")
    while True:
        time.sleep(1)


if __name__ == "__main__":
    what, workdir, *rest = sys.argv[1:]
    if what == "server-leader":
        server_leader(workdir, int(rest[0]), int(rest[1]))
    elif what == "server-follower":
        server_follower(workdir, int(rest[0]))
    else:
        container(what, workdir, rest)
