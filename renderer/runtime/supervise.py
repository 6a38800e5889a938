"""Server supervision: SGLang as a child process inside the Modal container.

It:
  * forwards the server's output to our stdout (the Modal dashboard shows it), with secret
    values such as the API key replaced by "***";
  * waits for its /health endpoint, failing at once if it crashes meanwhile;
  * exits the container if it dies later (not when the container is shutting down), so Modal
    starts a replacement instead of routing traffic to a container with no server in it;
  * on shutdown, SIGTERMs the server (SGLang drains), then what of its group outlives it;
  * shuts a multi-node replica down in order: rank 0 tells the other ranks that shutdown
    began (their exit is then expected), drains, and its shutdown broadcast stops the others.

Standard library only: part of the runtime file every container imports
(renderer/runtime/__init__.py).
"""

import contextlib
import os
import shlex
import signal
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from http.client import HTTPException

from .redact import API_KEY_FLAG, Redactor, redact_argv, secrets_in_argv

SUPERVISOR_LOG_PREFIX = "[supervise] "
SERVER_LOG_PREFIX = "[sglang] "
# One /health request may take this long; a stalled probe must not hide a crash for long.
HEALTH_PROBE_TIMEOUT_SECONDS = 5.0
# How long to let the log thread catch up before reporting a dead server, so its last words
# (usually a traceback) reach the dashboard first. Bounded: workers that outlive it keep the pipe.
LOG_DRAIN_SECONDS = 5.0
# Multi-node: what rank 0 sends the other ranks when shutdown begins, and how long one
# notice may take. A non-zero rank waits the same grace period rank 0 drains in (its
# server stops on rank 0's broadcast), then gives its own group this long from SIGTERM
# to SIGKILL (SGLang's non-zero ranks ignore SIGTERM), which keeps the whole stop within
# the Server's exit_grace_period (the grace, the kill wait and the commits in deploy.py).
SHUTDOWN_NOTICE = b"servespec-shutdown\n"
NOTICE_TIMEOUT_SECONDS = 2.0
FOLLOWER_STOP_SECONDS = 3.0
KILL_WAIT_SECONDS = 5.0  # stop_process_group's wait after SIGKILL (counted in exit_grace_period)
# How SGLang ends when the container's SIGTERM reached its group before our stop() did: 0 after
# a drain, or SIGTERM (itself, or 128 + 15 through a shell). The crash monitor then waits this
# long for the runtime's shutdown (@modal.exit calling stop()) before calling it a crash.
SHUTDOWN_EXITS = (0, -signal.SIGTERM, 128 + signal.SIGTERM)
SHUTDOWN_WAIT_SECONDS = 10.0


class SupervisorError(RuntimeError):
    """The server could not be started or kept running."""


class ServerExitedError(SupervisorError):
    """The server process ended before it became healthy."""

    def __init__(self, message: str, returncode: int):
        super().__init__(message)
        self.returncode = returncode


class HealthTimeoutError(SupervisorError, TimeoutError):
    """The server stayed up but never answered its health check in time."""


@dataclass
class SupervisedServer:
    """A healthy server process and the threads that keep watching it.

    `followers` (rank 0 of a multi-node replica): (host, port) of the other ranks'
    notice listeners. `waits_for_leader` (the other ranks): SGLang's non-zero
    ranks ignore SIGTERM and stop on rank 0's shutdown broadcast (sglang 0.5.23
    srt/entrypoints/engine.py), so stop() lets rank 0 drain first.
    """

    process: subprocess.Popen
    shutdown: threading.Event
    log_thread: threading.Thread
    crash_monitor: threading.Thread | None = None
    followers: list = field(default_factory=list)
    waits_for_leader: bool = False

    def stop(self, grace_seconds: float = 15.0) -> None:
        """Shut the server down on purpose (for example from @modal.exit)."""
        self.shutdown.set()
        if self.process.poll() is not None:
            log(f"shutdown: the server had already stopped ({describe_exit(self.process.returncode)})")
        if self.followers:
            announce_shutdown(self.followers)
        if self.waits_for_leader:
            log(f"shutdown: waiting up to {grace_seconds:g}s for rank 0 to drain and stop this rank")
            if _wait_at_most(self.process, grace_seconds):
                log("server stopped by rank 0's shutdown")
            grace_seconds = FOLLOWER_STOP_SECONDS
        stop_process_group(self.process, grace_seconds)


# --- Multi-node shutdown -------------------------------------------------------


def listen_for_shutdown_notice(
    port: int, shutdown: threading.Event, host: str = "0.0.0.0"
) -> threading.Thread:
    """On a daemon thread, set `shutdown` when rank 0 announces that shutdown began.

    From then on the crash monitor treats the server's exit as expected. The port
    is on the cluster's private network; the only effect of a notice is that a
    later exit of the server is logged instead of ending the container with 1.
    """
    listener = socket.create_server((host, port))

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(NOTICE_TIMEOUT_SECONDS)
                try:
                    data = conn.recv(len(SHUTDOWN_NOTICE))
                except OSError:
                    continue
            if data == SHUTDOWN_NOTICE and not shutdown.is_set():
                shutdown.set()
                log("rank 0 announced shutdown; this rank's server exit is now expected")

    thread = threading.Thread(target=serve, name="shutdown-notice-listener", daemon=True)
    thread.start()
    return thread


def announce_shutdown(followers: Iterable[tuple[str, int]]) -> list[str]:
    """Tell every other rank that shutdown began; return the ranks not reached."""
    missed = []
    for host, port in followers:
        try:
            with socket.create_connection((host, port), timeout=NOTICE_TIMEOUT_SECONDS) as conn:
                conn.sendall(SHUTDOWN_NOTICE)
        except OSError as error:
            missed.append(f"{host}:{port}")
            log(f"could not tell rank at {host}:{port} that shutdown began: {error}")
    return missed


# --- Secrets -----------------------------------------------------------------


def build_argv(base_args: Sequence[str], api_key_env: str | None) -> list[str]:
    """Return the server command line, with the API key from `api_key_env` appended.

    The key is read from the environment (where a Modal Secret puts it) at start-up,
    so it never has to be written into deploy.py or any other file.
    """
    argv = list(base_args)
    if api_key_env is None:
        return argv
    api_key = os.environ.get(api_key_env, "")
    if not api_key.strip():
        state = "empty" if api_key_env in os.environ else "not set"
        raise SupervisorError(
            f"API key environment variable {api_key_env!r} is {state}. "
            "Attach the Modal Secret that defines it to this function, "
            "or remove the API key setting from the spec."
        )
    return argv + [API_KEY_FLAG, api_key]


# --- Logging -----------------------------------------------------------------


# What writing a line to stdout can raise: a broken pipe (OSError), a closed stream (ValueError),
# or a print interrupted by our SIGTERM handler printing on the same thread (RuntimeError
# "reentrant call"). Losing that one line is better than stopping the code that logs it.
OUTPUT_ERRORS = (OSError, ValueError, RuntimeError)


def log(message: str) -> None:
    """Print a supervisor message to stdout, which Modal shows on the dashboard."""
    with contextlib.suppress(*OUTPUT_ERRORS):
        print(SUPERVISOR_LOG_PREFIX + message, flush=True)


def _print_line(line: str) -> None:
    print(line, flush=True)


def forward_logs(
    stream,
    secrets: Iterable[str | None] = (),
    prefix: str = SERVER_LOG_PREFIX,
    write_line: Callable[[str], object] | None = None,
) -> threading.Thread:
    """Copy the server's output to our stdout line by line, redacted, on a daemon thread.

    The server blocks as soon as its pipe buffer is full, so this loop must keep
    reading no matter what: a failed write drops that line and carries on.
    """
    redact = Redactor(secrets)
    emit = write_line or _print_line

    def pump() -> None:
        for raw_line in iter(stream.readline, b""):
            # Bytes in, so that invalid UTF-8 from the server cannot stop the loop.
            line = raw_line.decode("utf-8", errors="replace").rstrip("\r\n")
            with contextlib.suppress(*OUTPUT_ERRORS):
                emit(prefix + redact(line))
        stream.close()

    thread = threading.Thread(target=pump, name="server-log-forwarder", daemon=True)
    thread.start()
    return thread


# --- Process control -----------------------------------------------------------


def start(argv: Sequence[str], env: dict[str, str] | None = None) -> subprocess.Popen:
    """Start the server in its own process group with stdout and stderr piped to us.

    `env` replaces the whole environment of the server; by default it inherits ours.
    """
    child_env = dict(os.environ if env is None else env)
    # A Python server block-buffers stdout into a pipe: its lines would come late, or never.
    child_env.setdefault("PYTHONUNBUFFERED", "1")
    return subprocess.Popen(
        list(argv),
        env=child_env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        # One pipe keeps stdout and stderr in order and needs only one reader thread.
        stderr=subprocess.STDOUT,
        # Its own group: the worker processes it spawns (one per GPU) can be stopped with it.
        start_new_session=True,
    )


def describe_exit(returncode: int) -> str:
    """Say how a process ended: "exit code 3" or "signal 9 (SIGKILL)"."""
    if returncode >= 0:
        return f"exit code {returncode}"
    try:
        name = signal.Signals(-returncode).name
    except ValueError:
        return f"signal {-returncode}"
    return f"signal {-returncode} ({name})"


def _signal_group(process: subprocess.Popen, signum: int) -> None:
    # start_new_session=True made the server the leader of a group with its own pid.
    with contextlib.suppress(ProcessLookupError):  # the whole group has gone
        os.killpg(process.pid, signum)


def _group_is_running(process: subprocess.Popen) -> bool:
    """True while any process in the server's group is alive (zombies do not count).

    Zombies matter because workers orphaned by the server wait for the container's
    init process to reap them, which may take seconds or never happen.
    """
    try:
        pids = [entry for entry in os.listdir("/proc") if entry.isdigit()]
    except FileNotFoundError:  # no procfs: fall back to "does the group exist"
        try:
            os.killpg(process.pid, 0)
        except ProcessLookupError:
            return False
        return True
    return any(_running_in_group(pid, process.pid) for pid in pids)


def _running_in_group(pid: str, group: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat_file:
            stat = stat_file.read()
    except OSError:
        return False  # exited while we were looking
    # "pid (command) state ppid pgrp ...": the command may contain spaces or ")".
    state, _ppid, pgrp = stat.rpartition(")")[2].split()[:3]
    return int(pgrp) == group and state not in ("Z", "X")


def _wait_at_most(process: subprocess.Popen, seconds: float) -> bool:
    try:
        process.wait(timeout=seconds)
        return True
    except subprocess.TimeoutExpired:
        return False


def stop_process_group(process: subprocess.Popen, grace_seconds: float) -> None:
    """SIGTERM the server alone, give it `grace_seconds` to drain, SIGTERM what of its group
    outlived it, SIGKILL the rest at the deadline. SGLang drains on SIGTERM and then stops its
    scheduler and detokenizer itself (sglang 0.5.16 srt/managers/tokenizer_manager.py
    sigterm_watchdog); they have no SIGTERM handler, so a group SIGTERM would cut every request
    in flight (seen on an H200: docs/gpu-check.md)."""
    deadline = time.monotonic() + grace_seconds
    with contextlib.suppress(ProcessLookupError):
        os.kill(process.pid, signal.SIGTERM)
    _wait_at_most(process, grace_seconds)
    if _group_is_running(process):  # workers that outlived the server: within the same grace
        _signal_group(process, signal.SIGTERM)
    while _group_is_running(process) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _group_is_running(process):
        log(f"server processes still running {grace_seconds:g}s after SIGTERM; sending SIGKILL")
        _signal_group(process, signal.SIGKILL)
    # Bounded: this may run in a signal handler that interrupted another wait() on it.
    _wait_at_most(process, KILL_WAIT_SECONDS)


# --- Health --------------------------------------------------------------------


def _is_healthy(url: str, timeout: float) -> bool:
    # No proxies: an HTTP_PROXY in the image must not capture a request meant for us.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=timeout) as response:
            return response.status == 200
    except (OSError, HTTPException):
        # Refused while the model loads, 503 while warming up, reset, timed out
        # (urllib's URLError and HTTPError are OSErrors).
        return False


def wait_healthy(proc: subprocess.Popen, url: str, timeout: float, interval: float) -> float:
    """Poll `url` until it answers HTTP 200 and return the seconds that took.

    Raises ServerExitedError as soon as the server exits, and HealthTimeoutError
    after `timeout` seconds. The exit check is deliberately outside the probe's
    error handling, so a crash is never mistaken for "not ready yet".
    """
    started = time.monotonic()
    deadline = started + timeout
    while True:
        returncode = proc.poll()
        if returncode is not None:
            elapsed = time.monotonic() - started
            raise ServerExitedError(
                f"server exited with {describe_exit(returncode)} {elapsed:.1f}s after "
                "start, before it became healthy; see its log lines above",
                returncode,
            )
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise HealthTimeoutError(
                f"server did not answer {url} with HTTP 200 within {timeout:g}s; "
                "its log lines above show whether it is stuck or only needs longer"
            )
        if _is_healthy(url, min(HEALTH_PROBE_TIMEOUT_SECONDS, remaining)):
            return time.monotonic() - started
        # Sleep by waiting on the process: this returns the moment it exits.
        _wait_at_most(proc, max(0.0, min(interval, deadline - time.monotonic())))


# --- Crash monitor and shutdown -----------------------------------------------


def watch_for_crash(
    proc: subprocess.Popen,
    shutdown: threading.Event,
    exit_fn: Callable[[int], object] = os._exit,
    log_thread: threading.Thread | None = None,
    shutdown_wait: float = SHUTDOWN_WAIT_SECONDS,
) -> threading.Thread:
    """On a daemon thread, wait for the server to exit and then end the container.

    A container whose server has died would otherwise keep receiving requests.
    `os._exit(1)` works from a thread, where sys.exit does not; it skips @modal.exit
    and the commits, so only a crash gets it. An exit during our shutdown (`shutdown`
    set, or set within `shutdown_wait` of a SHUTDOWN_EXITS exit) is expected.
    """

    def monitor() -> None:
        returncode = proc.wait()
        if log_thread is not None:
            log_thread.join(LOG_DRAIN_SECONDS)
        if not shutdown.is_set() and returncode in SHUTDOWN_EXITS:
            log(f"server ended ({describe_exit(returncode)}) before this container's shutdown "
                f"began; waiting up to {shutdown_wait:g}s for it")
            shutdown.wait(shutdown_wait)
        if shutdown.is_set():
            log(f"server stopped during shutdown ({describe_exit(returncode)})")
            return
        log(
            f"server exited unexpectedly ({describe_exit(returncode)}); "
            "exiting the container with status 1 so Modal replaces it"
        )
        exit_fn(1)  # log() has flushed; os._exit would skip the usual flush

    thread = threading.Thread(target=monitor, name="server-crash-monitor", daemon=True)
    thread.start()
    return thread


def install_sigterm_forwarding(
    proc: subprocess.Popen,
    shutdown: threading.Event,
    grace_seconds: float,
    stop: Callable[[float], object] | None = None,
) -> bool:
    """Forward SIGTERM to the server's process group; return False if not possible.

    The server runs in its own session, so a SIGTERM sent to this process does
    not reach it by itself. After the server is stopped, the previous handler
    runs, so this process still ends the way it would have without us. `stop`
    replaces the plain group stop (a multi-node rank's orderly stop).
    """
    if threading.current_thread() is not threading.main_thread():
        log("not on the main thread, so SIGTERM will not be forwarded to the server")
        return False
    previous = signal.getsignal(signal.SIGTERM)

    def on_sigterm(signum, frame) -> None:
        if shutdown.is_set():
            return  # a repeated SIGTERM while we are already stopping the server
        # Set before signalling, so the crash monitor sees the exit as expected.
        shutdown.set()
        log(f"SIGTERM received; stopping the server (grace {grace_seconds:g}s)")
        if stop is not None:
            stop(grace_seconds)
        else:
            stop_process_group(proc, grace_seconds)
        _run_previous_handler(previous, signum, frame)

    signal.signal(signal.SIGTERM, on_sigterm)
    return True


def _run_previous_handler(previous, signum: int, frame) -> None:
    if callable(previous):
        previous(signum, frame)
    elif previous == signal.SIG_DFL:
        # Die of the signal itself, as this process would have without our handler.
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
    # SIG_IGN, or a handler not installed from Python: nothing more to do.


# --- Entry point ---------------------------------------------------------------


def supervise(
    argv: Sequence[str],
    health_url: str | None,
    *,
    api_key_env: str | None = None,
    secrets: Iterable[str | None] = (),
    env: dict[str, str] | None = None,
    health_timeout: float = 30 * 60.0,
    poll_interval: float = 2.0,
    grace_seconds: float = 15.0,
    exit_fn: Callable[[int], object] = os._exit,
    forward_sigterm: bool = True,
    followers: Iterable[tuple[str, int]] = (),
    leader_notice_port: int | None = None,
    shutdown_wait: float = SHUTDOWN_WAIT_SECONDS,
) -> SupervisedServer:
    """Start the server, wait until it is healthy, and keep watching it.

    Returns once `health_url` answers HTTP 200, or straight after the start when
    `health_url` is None (a worker node that serves no HTTP). The log forwarder
    and crash monitor keep running on daemon threads. With `api_key_env`, the key
    is read from that variable and appended as --api-key. API keys on the command
    line never reach the logs; pass any other values to hide in `secrets`.
    If the server does not become healthy it is stopped and the error is raised.
    Multi-node: rank 0 passes `followers`, the other ranks `leader_notice_port`
    (see SupervisedServer and listen_for_shutdown_notice).
    """
    argv = build_argv(argv, api_key_env)
    all_secrets = [*secrets_in_argv(argv), *secrets]
    log("starting: " + shlex.join(redact_argv(argv, all_secrets)))
    proc = start(argv, env)
    log_thread, shutdown = forward_logs(proc.stdout, all_secrets), threading.Event()
    server = SupervisedServer(proc, shutdown, log_thread, followers=list(followers),
                              waits_for_leader=leader_notice_port is not None)
    if leader_notice_port is not None:
        listen_for_shutdown_notice(leader_notice_port, shutdown)
    if forward_sigterm:
        install_sigterm_forwarding(proc, shutdown, grace_seconds, stop=server.stop)
    if health_url is not None:
        try:
            seconds = wait_healthy(proc, health_url, health_timeout, poll_interval)
        except BaseException as error:
            stop_process_group(proc, grace_seconds)
            log_thread.join(LOG_DRAIN_SECONDS)  # the server's last lines first, then ours
            log(f"server failed to start: {error}")
            raise
        log(f"server healthy after {seconds:.1f}s at {health_url}")
    server.crash_monitor = watch_for_crash(proc, shutdown, exit_fn=exit_fn, log_thread=log_thread,
                                           shutdown_wait=shutdown_wait)
    return server

