"""Tests for renderer/runtime/supervise.py with real child processes and real HTTP.

The "server" is FAKE_SERVER below, a small http.server script started the same
way deploy.py starts SGLang. Every wait is bounded, and the `reaper` fixture
SIGKILLs each process group a test created, whatever the outcome.
"""

import ast
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from renderer.render.runtime_file import runtime_source
from renderer.runtime import supervise as sv

# The runtime file every container imports: renderer/runtime's modules joined into one.
SUPERVISE_SOURCE = runtime_source()
SECRET = "sk-test-9f8e7d6c5b4a"

# Configured by a JSON object in argv[1]. It can print lines, spawn a grandchild
# in its own process group, record SIGTERM in a file, exit on a timer, and serve
# /health (503 until `ready_after`, 200 after) once `listen_after` has passed.
FAKE_SERVER = r"""
import http.server, json, os, signal, sys, threading, time

config = json.loads(sys.argv[1])

def record_sigterm_in(path, shutdown_seconds=0):
    def on_sigterm(signum, frame):
        time.sleep(shutdown_seconds)
        with open(path, "w") as f:
            f.write("SIGTERM")
        os._exit(0)
    signal.signal(signal.SIGTERM, on_sigterm)

def wait_for_file(path):
    deadline = time.monotonic() + 10
    while not os.path.exists(path) and time.monotonic() < deadline:
        time.sleep(0.01)

if "pid_file" in config:
    with open(config["pid_file"], "w") as f:
        f.write(str(os.getpid()))
if config.get("echo_argv"):
    print("server_args:", sys.argv[2:])
for line in config.get("stdout_lines", []):
    print(line)
for line in config.get("stderr_lines", []):
    print(line, file=sys.stderr)
if "sigterm_file" in config:
    record_sigterm_in(config["sigterm_file"])
if config.get("ignore_sigterm"):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
if "grandchild_sigterm_file" in config:
    armed_file = config["grandchild_sigterm_file"] + ".armed"
    if os.fork() == 0:  # stays in our process group, like SGLang's GPU workers
        record_sigterm_in(
            config["grandchild_sigterm_file"], config.get("grandchild_shutdown_seconds", 0)
        )
        open(armed_file, "w").close()
        time.sleep(30)
        os._exit(0)
    wait_for_file(armed_file)
if "exit_after" in config:
    threading.Timer(config["exit_after"], os._exit, [config.get("exit_code", 0)]).start()
time.sleep(config.get("listen_after", 0))
ready_at = time.monotonic() + config.get("ready_after", 0)

class Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        ready = self.path == "/health" and time.monotonic() >= ready_at
        self.send_response(200 if ready else 503)
        self.end_headers()

    def log_message(self, *args):
        pass

http.server.HTTPServer(("127.0.0.1", config["port"]), Health).serve_forever()
"""


class Reaper:
    """Remembers process groups and kills them all at the end of a test."""

    def __init__(self):
        self.processes: list[subprocess.Popen] = []
        self.groups: list[int] = []

    def process(self, proc: subprocess.Popen) -> subprocess.Popen:
        self.processes.append(proc)
        self.groups.append(proc.pid)  # every process here leads its own group
        return proc

    def group_in_pid_file(self, pid_file: Path) -> None:
        if pid_file.exists():
            self.groups.append(int(pid_file.read_text()))

    def kill_all(self):
        for group in self.groups:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, signal.SIGKILL)
        for proc in self.processes:
            proc.wait(timeout=5)
            if proc.stdout:
                proc.stdout.close()


@pytest.fixture
def reaper():
    reaper = Reaper()
    yield reaper
    reaper.kill_all()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def fake_server_argv(**config) -> list[str]:
    return [sys.executable, "-c", FAKE_SERVER, json.dumps(config)]


def start_fake_server(reaper: Reaper, **config) -> tuple[subprocess.Popen, str]:
    """Start FAKE_SERVER and return it with its health URL."""
    config.setdefault("port", free_port())
    proc = reaper.process(sv.start(fake_server_argv(**config)))
    return proc, f"http://127.0.0.1:{config['port']}/health"


def wait_for_file(path: Path, seconds: float, unless_exited: subprocess.Popen) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and unless_exited.poll() is None:
        if path.exists():
            return True
        time.sleep(0.02)
    return path.exists()


# --- Verbatim include --------------------------------------------------------


def test_imports_only_the_standard_library():
    imported = set()
    for node in ast.walk(ast.parse(SUPERVISE_SOURCE)):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "the joined runtime file has no relative imports"
            imported.add(node.module.split(".")[0])
    assert imported, "the walk found no imports at all"
    # The benchmark driver imports SGLang's own module inside a function: it runs in the SGLang
    # image (or a local SGLang env), never where only the standard library is.
    assert imported - {"sglang"} <= sys.stdlib_module_names, imported - sys.stdlib_module_names
    # A __future__ import is only legal at the top of a file, which this text is not.
    assert "__future__" not in imported


def test_source_runs_on_its_own_as_pasted_text():
    # The serving image may have an older Python than ours; SGLang images start at 3.10.
    ast.parse(SUPERVISE_SOURCE, feature_version=(3, 10))
    namespace = {"__name__": "deploy"}
    exec(compile(SUPERVISE_SOURCE, "deploy.py", "exec"), namespace)  # noqa: S102
    assert callable(namespace["supervise"])
    assert namespace["build_argv"](["sglang"], None) == ["sglang"]


# --- API key and redaction ---------------------------------------------------


def test_build_argv_appends_the_api_key_from_the_environment(monkeypatch):
    monkeypatch.setenv("TEST_API_KEY", SECRET)
    base = ["python", "-m", "sglang.launch_server", "--port", "8000"]

    argv = sv.build_argv(base, "TEST_API_KEY")

    assert argv == [*base, "--api-key", SECRET]
    assert base == ["python", "-m", "sglang.launch_server", "--port", "8000"]


def test_build_argv_without_a_key_variable_adds_nothing():
    assert sv.build_argv(["sglang", "--port", "8000"], None) == ["sglang", "--port", "8000"]


@pytest.mark.parametrize(("value", "state"), [(None, "not set"), ("", "empty"), ("  ", "empty")])
def test_build_argv_fails_clearly_when_the_key_is_missing(monkeypatch, value, state):
    if value is None:
        monkeypatch.delenv("TEST_API_KEY", raising=False)
    else:
        monkeypatch.setenv("TEST_API_KEY", value)

    with pytest.raises(sv.SupervisorError) as error:
        sv.build_argv(["sglang"], "TEST_API_KEY")

    assert "'TEST_API_KEY'" in str(error.value)
    assert state in str(error.value)
    assert "Modal Secret" in str(error.value)


def test_redactor_hides_every_secret_and_ignores_empty_ones():
    redact = sv.Redactor(["abc", "", None, "abcdef"])

    # "abcdef" contains "abc": it must disappear whole, not leave "***def".
    assert redact("key=abcdef, short=abc, none=xyz") == "key=***, short=***, none=xyz"
    assert sv.Redactor([])("unchanged") == "unchanged"


def test_redact_argv_hides_api_key_values_in_both_spellings():
    argv = ["sglang", "--api-key", SECRET, f"--api-key={SECRET}2", "--hf-token", "hf_x"]

    assert sv.redact_argv(argv, ["hf_x"]) == [
        "sglang",
        "--api-key",
        "***",
        "--api-key=***",
        "--hf-token",
        "***",
    ]


def test_logs_are_forwarded_line_by_line_with_secrets_redacted(reaper):
    proc, _ = start_fake_server(
        reaper,
        stdout_lines=[f"server_args: api_key='{SECRET}'", "loading weights"],
        stderr_lines=[f"Traceback: bad key {SECRET}"],
        exit_after=0.2,
        listen_after=30,
    )
    forwarded: list[str] = []

    thread = sv.forward_logs(proc.stdout, [SECRET], prefix="[test] ", write_line=forwarded.append)
    proc.wait(timeout=5)
    thread.join(timeout=5)

    assert not thread.is_alive()
    assert forwarded == [
        "[test] server_args: api_key='***'",
        "[test] loading weights",
        "[test] Traceback: bad key ***",
    ]
    assert not any(SECRET in line for line in forwarded)


# --- Health wait ---------------------------------------------------------------


def test_wait_healthy_returns_once_the_server_answers_200(reaper):
    # Refuses connections for 0.3 s, then answers 503 for 0.3 s, then 200.
    proc, url = start_fake_server(reaper, listen_after=0.3, ready_after=0.3)

    seconds = sv.wait_healthy(proc, url, timeout=10, interval=0.05)

    assert 0.6 <= seconds < 5
    assert proc.poll() is None


def test_wait_healthy_raises_at_once_when_the_server_crashes(reaper):
    proc, url = start_fake_server(reaper, exit_after=0.3, exit_code=3, listen_after=30)
    started = time.monotonic()

    with pytest.raises(sv.ServerExitedError) as error:
        sv.wait_healthy(proc, url, timeout=30, interval=1.0)

    # Within about one poll of the crash, not at the 30 s deadline.
    assert time.monotonic() - started < 3
    assert error.value.returncode == 3
    assert "exit code 3" in str(error.value)


def test_wait_healthy_times_out_with_a_clear_error(reaper):
    proc, url = start_fake_server(reaper, ready_after=30)  # 503 for the whole test
    started = time.monotonic()

    with pytest.raises(sv.HealthTimeoutError) as error:
        sv.wait_healthy(proc, url, timeout=1.0, interval=0.1)

    assert 1.0 <= time.monotonic() - started < 4
    assert url in str(error.value)
    assert "1s" in str(error.value)
    assert proc.poll() is None, "a timeout alone must not touch the server"


# --- Crash monitor and SIGTERM ---------------------------------------------------


class ExitRecorder:
    """Stands in for os._exit so that a test can see whether the monitor fired."""

    def __init__(self):
        self.calls: list[int] = []
        self.called = threading.Event()

    def __call__(self, status: int) -> None:
        self.calls.append(status)
        self.called.set()


@pytest.mark.parametrize("exit_code", [0, 7])
def test_crash_monitor_exits_with_1_when_a_healthy_server_dies(reaper, exit_code):
    """Status 0 is how SGLang ends after a drain, so with no shutdown following it within the
    wait it is a crash all the same."""
    proc, url = start_fake_server(reaper, exit_after=1.0, exit_code=exit_code)
    sv.wait_healthy(proc, url, timeout=5, interval=0.05)
    assert proc.poll() is None
    fake_exit = ExitRecorder()

    monitor = sv.watch_for_crash(proc, threading.Event(), exit_fn=fake_exit, shutdown_wait=0.5)

    assert fake_exit.called.wait(timeout=5)
    monitor.join(timeout=5)
    assert fake_exit.calls == [1]
    assert proc.returncode == exit_code


def test_sigterm_reaches_the_server_process_group_and_the_monitor_stays_quiet(reaper, tmp_path):
    child_file, grandchild_file = tmp_path / "child", tmp_path / "grandchild"
    proc, url = start_fake_server(
        reaper,
        sigterm_file=str(child_file),
        grandchild_sigterm_file=str(grandchild_file),
        # A worker that takes a moment to shut down, after the server has exited.
        grandchild_shutdown_seconds=0.3,
    )
    sv.wait_healthy(proc, url, timeout=5, interval=0.05)
    shutdown, fake_exit = threading.Event(), ExitRecorder()
    monitor = sv.watch_for_crash(proc, shutdown, exit_fn=fake_exit)
    chained: list[int] = []
    original = signal.signal(signal.SIGTERM, lambda signum, frame: chained.append(signum))
    try:
        assert sv.install_sigterm_forwarding(proc, shutdown, grace_seconds=10)
        started = time.monotonic()
        os.kill(os.getpid(), signal.SIGTERM)  # the handler runs here, on this thread
        handler_seconds = time.monotonic() - started
        monitor.join(timeout=5)
    finally:
        signal.signal(signal.SIGTERM, original)

    assert child_file.read_text() == "SIGTERM"
    assert grandchild_file.read_text() == "SIGTERM"
    assert proc.returncode == 0
    assert not monitor.is_alive()
    assert fake_exit.calls == []
    assert chained == [signal.SIGTERM], "the previous SIGTERM handler must still run"
    # Done once the group has gone, not at the end of the grace period.
    assert handler_seconds < 1.5


# Drains as SGLang does after SIGTERM: stops taking requests, lets each in-flight /stream finish,
# then exits 0. Every event goes, with its time, to the file in argv[1] (JSON lines).
DRAIN_SERVER = r"""
import http.server, json, os, signal, sys, threading, time

events_path, port = sys.argv[1], int(sys.argv[2])
lock, in_flight, draining = threading.Lock(), [0], threading.Event()

def event(name):
    with lock, open(events_path, "a") as f:
        f.write(json.dumps({"event": name, "at": time.time()}) + "\n")

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/health":
            self.send_response(503 if draining.is_set() else 200)
            self.end_headers()
            return
        if draining.is_set():
            self.send_response(503)
            self.end_headers()
            return
        with lock:
            in_flight[0] += 1
        try:
            self.send_response(200)
            self.end_headers()
            for i in range(15):  # a streamed answer of 1.5 s
                self.wfile.write(f"token {i}\n".encode())
                self.wfile.flush()
                time.sleep(0.1)
            self.wfile.write(b"[DONE]\n")
        finally:
            with lock:
                in_flight[0] -= 1

    def log_message(self, *args):
        pass

def drain_then_exit():
    draining.wait()
    while True:
        with lock:
            if in_flight[0] == 0:
                break
        time.sleep(0.02)
    event("server-exit")
    os._exit(0)

signal.signal(signal.SIGTERM, lambda *a: (event("sigterm"), draining.set()))
threading.Thread(target=drain_then_exit, daemon=True).start()
http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
"""


def read_events(path: Path) -> list[str]:
    lines = path.read_text().splitlines() if path.exists() else []
    return [json.loads(line)["event"] for line in lines]


@pytest.mark.parametrize("first", ["runtime", "stop"])
def test_shutdown_drains_the_stream_then_commits_and_the_monitor_stays_quiet(reaper, tmp_path,
                                                                             first):
    """The order Modal's shutdown runs in, with a real SIGTERM to a real process group: a
    streamed answer in flight finishes, SGLang exits 0, stop() returns, the commit runs, and
    the crash monitor never ends the container (which would skip @modal.exit and the commit).
    "runtime": the container's SIGTERM reaches SGLang's group first, and the server has exited
    before @modal.exit calls stop(). "stop": @modal.exit's stop() sends the SIGTERM."""
    events, port = tmp_path / "events.jsonl", free_port()
    fake_exit = ExitRecorder()
    server = sv.supervise([sys.executable, "-c", DRAIN_SERVER, str(events), str(port)],
                          f"http://127.0.0.1:{port}/health", health_timeout=10,
                          poll_interval=0.05, exit_fn=fake_exit, forward_sigterm=False)
    reaper.process(server.process)
    body: list[bytes] = []
    first_token = threading.Event()

    def stream() -> None:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
            conn.sendall(b"GET /stream HTTP/1.0\r\n\r\n")
            while chunk := conn.recv(4096):
                body.append(chunk)
                first_token.set()
        with open(events, "a") as f:
            f.write(json.dumps({"event": "stream-complete", "at": time.time()}) + "\n")

    client = threading.Thread(target=stream)
    client.start()
    assert first_token.wait(5)
    if first == "runtime":
        os.killpg(server.process.pid, signal.SIGTERM)
        server.process.wait(timeout=10)  # drained and gone before @modal.exit runs
        time.sleep(0.5)
    server.stop(10)  # @modal.exit: Serve.stop
    read_events(events)  # stop() returned: the commit comes next
    with open(events, "a") as f:
        f.write(json.dumps({"event": "commit", "at": time.time()}) + "\n")
    client.join(10)
    server.crash_monitor.join(15)

    order = read_events(events)
    assert order.index("sigterm") < order.index("server-exit") < order.index("commit"), order
    assert "stream-complete" in order and order.index("stream-complete") < order.index("commit")
    assert b"".join(body).rstrip().endswith(b"[DONE]")
    assert server.process.returncode == 0
    assert not server.crash_monitor.is_alive() and fake_exit.calls == []


def test_a_sigterm_no_shutdown_follows_is_still_a_crash(reaper, tmp_path):
    """The wait for the runtime's shutdown is bounded: a server killed by SIGTERM that no
    shutdown of the container follows ends the container with 1."""
    events, port = tmp_path / "events.jsonl", free_port()
    fake_exit = ExitRecorder()
    server = sv.supervise([sys.executable, "-c", DRAIN_SERVER, str(events), str(port)],
                          f"http://127.0.0.1:{port}/health", health_timeout=10,
                          poll_interval=0.05, exit_fn=fake_exit, forward_sigterm=False,
                          shutdown_wait=0.5)
    reaper.process(server.process)
    os.killpg(server.process.pid, signal.SIGTERM)
    assert fake_exit.called.wait(10)
    assert fake_exit.calls == [1] and read_events(events) == ["sigterm", "server-exit"]


def test_stop_sends_sigkill_after_the_grace_period_when_sigterm_is_ignored(reaper):
    proc, url = start_fake_server(reaper, ignore_sigterm=True)
    sv.wait_healthy(proc, url, timeout=5, interval=0.05)
    started = time.monotonic()

    sv.stop_process_group(proc, grace_seconds=0.5)

    assert 0.5 <= time.monotonic() - started < 3
    assert proc.returncode == -signal.SIGKILL


# --- supervise() ---------------------------------------------------------------


def test_failed_start_raises_and_leaves_no_server_behind(reaper, tmp_path):
    pid_file = tmp_path / "pid"
    argv = fake_server_argv(port=free_port(), ready_after=30, pid_file=str(pid_file))
    url = f"http://127.0.0.1:{json.loads(argv[-1])['port']}/health"

    try:
        with pytest.raises(sv.HealthTimeoutError):
            sv.supervise(argv, url, health_timeout=1.0, poll_interval=0.1, forward_sigterm=False)
    finally:
        reaper.group_in_pid_file(pid_file)

    with pytest.raises(ProcessLookupError):
        os.kill(int(pid_file.read_text()), 0)


def test_supervise_without_a_health_url_returns_at_once_and_keeps_watching(reaper, tmp_path):
    pid_file = tmp_path / "pid"
    # A worker rank: serves no HTTP here, and dies after a while.
    argv = fake_server_argv(
        port=free_port(), listen_after=30, exit_after=1.0, pid_file=str(pid_file)
    )
    fake_exit = ExitRecorder()

    try:
        started = time.monotonic()
        server = sv.supervise(argv, None, exit_fn=fake_exit, forward_sigterm=False,
                               shutdown_wait=0.5)
        returned_after = time.monotonic() - started
        reaper.process(server.process)
        assert fake_exit.called.wait(timeout=5)
    finally:
        reaper.group_in_pid_file(pid_file)

    assert returned_after < 0.5
    assert fake_exit.calls == [1]


def test_supervise_refuses_to_start_without_the_api_key(reaper, monkeypatch, tmp_path):
    monkeypatch.delenv("TEST_API_KEY", raising=False)
    pid_file = tmp_path / "pid"
    argv = fake_server_argv(port=free_port(), pid_file=str(pid_file))

    try:
        with pytest.raises(sv.SupervisorError, match="TEST_API_KEY"):
            sv.supervise(
                argv, "http://127.0.0.1:1/health", api_key_env="TEST_API_KEY", health_timeout=2
            )
        time.sleep(0.3)  # long enough for a wrongly started server to write its pid
    finally:
        reaper.group_in_pid_file(pid_file)
    assert not pid_file.exists(), "no server may start without its API key"


# The module text followed by a deploy.py-like caller, run as its own process,
# so SIGTERM goes through the real default handler chain.
PASTED_SCRIPT_MAIN = """

import json, sys, time
config = json.loads(sys.argv[1])
server_argv = [sys.executable, "-c", config["code"], config["server"]]
supervise(
    server_argv,
    config["url"],
    api_key_env="TEST_API_KEY",
    health_timeout=10,
    poll_interval=0.05,
    grace_seconds=3,
)
open(config["ready_file"], "w").close()
while True:
    time.sleep(1)
"""


def test_pasted_supervisor_serves_forwards_sigterm_and_never_logs_the_key(reaper, tmp_path):
    port = free_port()
    files = {name: tmp_path / name for name in ("pid", "ready", "child", "grandchild")}
    server_config = {
        "port": port,
        "pid_file": str(files["pid"]),
        "echo_argv": True,  # prints the key, as SGLang's server_args dump does
        "sigterm_file": str(files["child"]),
        "grandchild_sigterm_file": str(files["grandchild"]),
    }
    config = {
        "code": FAKE_SERVER,
        "server": json.dumps(server_config),
        "url": f"http://127.0.0.1:{port}/health",
        "ready_file": str(files["ready"]),
    }
    script = tmp_path / "deploy.py"
    script.write_text(SUPERVISE_SOURCE + PASTED_SCRIPT_MAIN)
    supervisor = reaper.process(
        subprocess.Popen(
            [sys.executable, str(script), json.dumps(config)],
            env={**os.environ, "TEST_API_KEY": SECRET},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    )
    try:
        assert wait_for_file(files["ready"], 10, unless_exited=supervisor)
        supervisor.send_signal(signal.SIGTERM)
        output = supervisor.communicate(timeout=10)[0].decode()
    finally:
        reaper.group_in_pid_file(files["pid"])

    assert supervisor.returncode == -signal.SIGTERM, output
    assert files["child"].read_text() == "SIGTERM"
    assert files["grandchild"].read_text() == "SIGTERM"
    assert "--api-key '***'" in output  # the logged command line
    assert "[sglang] server_args: ['--api-key', '***']" in output
    assert "exited unexpectedly" not in output
    assert SECRET not in output
