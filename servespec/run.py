"""`servespec deploy`: run rendered/<name>/steps.json step by step (the plan: servespec/steps.py).

What a run does:
  * Preflight first, always, before anything changes: the plan is fresh against its spec, the
    `modal` CLI is installed at the version deploy.py targets, the smoke step's API key is set
    locally, Modal accepts the token, and every Secret the spec names exists. The first failed
    check stops the run with one sentence.
  * Each later step runs its commands as child processes in their own session (process group),
    so a timeout or Ctrl-C stops the command and everything it started. A command whose skip
    check proves it already happened (volume exists, marker present) is skipped and said so.
  * The first failure stops the run and reports the step, its exit code, the last lines of its
    output and the command that resumes from there.
  * One JSON line per step goes to runs/<spec name>.jsonl; runs/<app>.lock keeps two deploys of
    the same app apart (flock, so a crashed runner never leaves a lock that blocks).

Resume semantics:
  * `--from STEP` runs preflight, then STEP and everything after it. The failure message names
    this command.
  * A plain run (no --from/--only) right after a run of the same plan (same steps.json digest)
    that failed, timed out or was interrupted resumes it: steps that run recorded as finished
    (ok or skipped) are skipped as "done in run <id>"; preflight is re-checked anyway. After a
    completed run, or when the plan changed, a plain run starts over (every step still checks
    its markers). `--from preflight` forces a run of every step.
  * `--only STEP` runs preflight and STEP.

The endpoint URL (for wait and smoke): $SERVESPEC_ENDPOINT_URL if set, else the URL `modal
deploy` printed in this run, else one recorded for this plan, else the plan's template filled
with the workspace `modal token info` named in preflight.

Exit codes: 0 done, 1 a step or preflight failed (or the lock is held), 2 usage error,
130 interrupted. A timed-out step is recorded with exit code 124, as timeout(1) reports it.

Every string printed or recorded goes through one redactor: values of environment variables
whose names look secret (TOKEN, SECRET, KEY, PASSWORD, PASSWD, CREDENTIAL; MODAL_TOKEN_* among
them) and of the spec's API key variable become "***".
"""

from __future__ import annotations

import collections
import contextlib
import fcntl
import hashlib
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from . import names
from .steps import PLAN_FORMAT, URL_PLACEHOLDER

REDACTED = "***"
SECRET_NAME = re.compile(r"TOKEN|SECRET|KEY|PASSWORD|PASSWD|CREDENTIAL", re.IGNORECASE)
# Shorter values ("1", "on") would turn ordinary output into asterisks without hiding anything.
MIN_SECRET_LENGTH = 4
TAIL_LINES = 20
KILL_GRACE_SECONDS = 10.0  # between the polite signal and SIGKILL
SKIP_CHECK_TIMEOUT = 120.0
HEALTH_REQUEST_TIMEOUT = 60.0
RUNS_DIR = Path("runs")
DONE = ("ok", "skipped")
STOPPED = ("failed", "timeout", "interrupted")
EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130
TIMEOUT_EXIT_CODE = 124  # what timeout(1) reports, for a step the runner had to stop


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM reached the runner."""


class UsageProblem(Exception):
    """A bad option or a missing input: reported as one sentence, never a traceback."""

    def __init__(self, message: str, code: int = EXIT_FAILED):
        super().__init__(message)
        self.code = code


# --- redaction -------------------------------------------------------------------------------


@dataclass
class Redactor:
    values: list[str]

    @classmethod
    def from_env(cls, env: dict[str, str], extra_names: list[str]) -> Redactor:
        picked = {value for name, value in env.items()
                  if (SECRET_NAME.search(name) or name in extra_names)
                  and len(value) >= MIN_SECRET_LENGTH}
        # Longest first, so a secret that contains another is replaced whole.
        return cls(sorted(picked, key=len, reverse=True))

    def __call__(self, text: str) -> str:
        for value in self.values:
            text = text.replace(value, REDACTED)
        return text

    def deep(self, obj):
        """Redact every string inside a JSON-ready structure (before serializing, so a secret
        that contains a quote cannot survive as its escaped form)."""
        if isinstance(obj, str):
            return self(obj)
        if isinstance(obj, list):
            return [self.deep(v) for v in obj]
        if isinstance(obj, dict):
            return {k: self.deep(v) for k, v in obj.items()}
        return obj


# --- output ----------------------------------------------------------------------------------


class Display:
    """Human output: stdout for text runs, stderr when stdout carries the JSON summary.
    A rich spinner with the elapsed time shows while a step runs on a terminal."""

    def __init__(self, fmt: str, redact: Redactor):
        self.redact = redact
        self.stream = sys.stderr if fmt == "json" else sys.stdout
        self.console = None
        self.progress = None
        try:
            from rich.console import Console
        except ImportError:  # the `deploy` extra is optional; plain text works everywhere
            return
        self.console = Console(file=self.stream, highlight=False, soft_wrap=True)

    def print(self, text: str, style: str | None = None) -> None:
        text = self.redact(text)
        target = self.progress.console if self.progress else self.console
        if target is None:
            print(text, file=self.stream, flush=True)
        else:
            target.print(text, style=style, markup=False, emoji=False)

    def error(self, text: str) -> None:
        print(self.redact(text), file=sys.stderr, flush=True)

    @contextlib.contextmanager
    def running(self, label: str):
        """A live spinner on terminals; a no-op in logs and pipes. Yields a status setter."""
        if self.console is None or not self.console.is_terminal:
            yield lambda text: None
            return
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                      console=self.console, transient=True) as progress:
            task = progress.add_task(self.redact(label))
            self.progress = progress
            try:
                yield lambda text: progress.update(
                    task, description=self.redact(f"{label}: {text}"))
            finally:
                self.progress = None


# --- child processes -------------------------------------------------------------------------


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


def child_env() -> dict[str, str]:
    return {**os.environ, "PYTHONUNBUFFERED": "1"}


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


def run_command(argv: list[str], deadline: float, on_line=None) -> Outcome:
    """Run argv in a new session, streaming lines to on_line; stop it at the deadline."""
    program = resolve(argv[0])
    if program is None:
        return Outcome("failed", 127, [f"{argv[0]}: command not found"], "")
    proc = subprocess.Popen([program, *argv[1:]], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, errors="replace",
                            start_new_session=True, env=child_env())
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


# --- skip checks -----------------------------------------------------------------------------


def json_list(text: str) -> list | None:
    """The JSON list a `modal ... --json` command printed (rich may add lines around it)."""
    with contextlib.suppress(ValueError):
        value = json.loads(text)
        return value if isinstance(value, list) else None
    start, end = text.find("["), text.rfind("]")
    if 0 <= start < end:
        with contextlib.suppress(ValueError):
            value = json.loads(text[start:end + 1])
            return value if isinstance(value, list) else None
    return None


def matches(entry: object, rule: dict) -> bool:
    if not isinstance(entry, dict) or rule["field"] not in entry:
        return False
    value = str(entry[rule["field"]])
    if "equals" in rule:
        return value == rule["equals"]
    return value.rstrip("/").rsplit("/", 1)[-1] == rule["basename"]


def check_done(check: dict, deadline: float) -> tuple[bool, str]:
    """(True, "yes") when the check proves the command already happened; else False and "no"
    or why it cannot tell (then the command runs: running needlessly beats skipping wrongly)."""
    limit = min(deadline, time.monotonic() + SKIP_CHECK_TIMEOUT)
    outcome = run_command(check["argv"], limit)
    if outcome.status != "ok":
        last = outcome.tail[-1] if outcome.tail else ""
        return False, f"cannot tell ({outcome.status}, exit {outcome.exit_code}: {last})"
    entries = json_list(outcome.output)
    if entries is None:
        return False, "cannot tell (no JSON list in the output)"
    if any(matches(e, check["json_has"]) for e in entries):
        return True, "yes"
    return False, "no"


# --- records ---------------------------------------------------------------------------------


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

    def __init__(self, path: Path, run_id: str, digest: str, redact: Redactor):
        self.path, self.run_id, self.digest, self.redact = path, run_id, digest, redact

    def append(self, result: StepResult) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = {"run": self.run_id, "plan_digest": self.digest, **result.record()}
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(self.redact.deep(line), sort_keys=True) + "\n")


def read_records(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        with contextlib.suppress(ValueError):
            record = json.loads(line)
            if isinstance(record, dict):
                records.append(record)
    return records


def resumable(records: list[dict], digest: str) -> tuple[str | None, set[str]]:
    """(run id, finished steps) of the last run when it was of this plan and stopped early."""
    if not records:
        return None, set()
    last_run = records[-1].get("run")
    steps = [r for r in records if r.get("run") == last_run]
    if any(r.get("plan_digest") != digest for r in steps):
        return None, set()
    if not any(r.get("status") in STOPPED for r in steps):
        return None, set()
    # Preflight is re-checked on every run, so it never counts as work to carry over.
    done = {r["name"] for r in steps if r.get("status") in DONE and r["name"] != "preflight"}
    return (last_run, done) if done else (None, set())


def recorded_url(records: list[dict], digest: str) -> str | None:
    for record in reversed(records):
        if record.get("plan_digest") == digest and record.get("url"):
            return record["url"]
    return None


# --- lock ------------------------------------------------------------------------------------


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


# --- the run ---------------------------------------------------------------------------------


@dataclass
class Context:
    spec_path: str
    plan: dict
    digest: str
    display: Display
    redact: Redactor
    selected: list[str]
    records: list[dict]
    workspace: str | None = None
    url: str | None = None

    def resume_command(self, step: str) -> str:
        return f"servespec deploy {shlex.quote(self.spec_path)} --from {step}"

    def endpoint_url(self) -> str | None:
        """Override, else what `modal deploy` printed, else a recorded URL, else the template."""
        endpoint = self.plan["endpoint"]
        override = os.environ.get(endpoint.get("override_env") or "", "")
        if override:
            return override.rstrip("/")
        if self.url:
            return self.url
        recorded = recorded_url(self.records, self.digest)
        if recorded:
            return recorded
        if endpoint.get("url_template") and self.workspace:
            return endpoint["url_template"].replace("{workspace}", self.workspace)
        return None


def load_plan(spec_path: str) -> tuple[dict, str, Path]:
    spec_name = Path(spec_path).stem
    plan_path = Path(names.rendered_dir(spec_name)) / "steps.json"
    if not Path(spec_path).is_file():
        raise UsageProblem(f"no spec at {spec_path}")
    if not plan_path.is_file():
        raise UsageProblem(f"no plan at {plan_path}; run `make render` first")
    raw = plan_path.read_bytes()
    try:
        plan = json.loads(raw)
    except ValueError:
        plan = None
    if not isinstance(plan, dict) or plan.get("format") != PLAN_FORMAT:
        raise UsageProblem(f"{plan_path} is not a plan this servespec wrote; run `make render`")
    return plan, hashlib.sha256(raw).hexdigest()[:16], plan_path


def select(plan: dict, from_step: str | None, only_step: str | None) -> list[str]:
    """Names of the steps to run, in plan order; preflight always comes first."""
    order = [s["name"] for s in plan["steps"]]
    if from_step and only_step:
        raise UsageProblem("use --from or --only, not both", EXIT_USAGE)
    for wanted in (from_step, only_step):
        if wanted and wanted not in order:
            omitted = (plan.get("omitted") or {}).get(wanted)
            why = f" ({omitted})" if omitted else ""
            raise UsageProblem(f"no step {wanted!r} in this plan{why}; steps: {', '.join(order)}",
                               EXIT_USAGE)
    if only_step:
        chosen = [only_step]
    elif from_step:
        chosen = order[order.index(from_step):]
    else:
        chosen = order
    if "preflight" not in order:
        return chosen
    return ["preflight", *[n for n in chosen if n != "preflight"]]


def stale_problem(spec_path: str) -> str | None:
    """One sentence when rendered/ disagrees with the spec, else None."""
    from .errors import SpecError

    try:
        from .render import stale_files
    except ImportError:
        return "cannot check that the plan is fresh: servespec.render is missing from this install"
    try:
        stale = stale_files(spec_path)
    except SpecError:
        return f"{spec_path} does not validate; run `servespec validate {spec_path}`"
    if stale:
        rendered = names.rendered_dir(Path(spec_path).stem)
        verb = "differs" if len(stale) == 1 else "differ"
        return (f"{rendered} is stale against {spec_path} ({', '.join(stale)} {verb} from a "
                "fresh render); run `make render`")
    return None


# --- preflight -------------------------------------------------------------------------------


def modal_error(outcome: Outcome) -> str:
    """The first sentence of the `Error: ...` line the modal CLI prints (modal/__main__.py:45)."""
    for line in outcome.output.splitlines():
        if "Error:" in line:
            text = line.split("Error:", 1)[1].strip()
            return text.split(". ")[0].rstrip(".")
    return outcome.tail[-1].strip() if outcome.tail else f"exit code {outcome.exit_code}"


def check_modal_installed(ctx: Context, check: dict, deadline: float) -> str | None:
    if resolve("modal") is None:
        return "the modal CLI is not installed; run `pip install -e '.[deploy]'`"
    outcome = run_command(check["argv"], deadline)
    found = re.search(r"version:?\s*(\S+)", outcome.output)
    if outcome.status != "ok" or not found:
        return f"`modal --version` failed ({modal_error(outcome)}); reinstall modal"
    wanted = ctx.plan.get("modal_version")
    if wanted and found.group(1) != wanted:
        return (f"modal {found.group(1)} is installed but deploy.py is written for modal {wanted}; "
                f"run `pip install modal=={wanted}`")
    return None


def check_authenticated(ctx: Context, check: dict, deadline: float) -> str | None:
    outcome = run_command(check["argv"], deadline)
    if outcome.status != "ok":
        return (f"Modal is not usable from here: `modal token info` failed "
                f"({modal_error(outcome)}); run `modal token new` or set MODAL_TOKEN_ID and "
                "MODAL_TOKEN_SECRET")
    found = re.search(r"Workspace:\s*(\S+)", outcome.output)
    ctx.workspace = found.group(1) if found else None
    return None


def check_secrets(ctx: Context, check: dict, deadline: float) -> str | None:
    outcome = run_command(check["argv"], deadline)
    entries = json_list(outcome.output) if outcome.status == "ok" else None
    if entries is None:
        return f"could not list Modal Secrets ({modal_error(outcome)})"
    have = {str(e.get("name")) for e in entries if isinstance(e, dict)}
    missing = [n for n in check["names"] if n not in have]
    if missing:
        return (f"Modal Secret{'s' if len(missing) > 1 else ''} {', '.join(missing)} not found; "
                "create with `modal secret create NAME KEY=VALUE`")
    return None


def check_api_key_env(ctx: Context, check: dict, deadline: float) -> str | None:
    if "smoke" not in ctx.selected or os.environ.get(check["env"]):
        return None
    return (f"set {check['env']} to the endpoint's API key before deploying: the smoke step "
            "sends it (its value is never shown)")


def check_fresh(ctx: Context, check: dict, deadline: float) -> str | None:
    return stale_problem(ctx.spec_path)


PREFLIGHT_CHECKS = {
    "plan-fresh": check_fresh,
    "modal-installed": check_modal_installed,
    "api-key-env": check_api_key_env,
    "authenticated": check_authenticated,
    "secrets": check_secrets,
}


def run_preflight(ctx: Context, step: dict, deadline: float) -> StepResult:
    start = time.time()
    for check in step["checks"]:
        problem = PREFLIGHT_CHECKS[check["name"]](ctx, check, deadline)
        if problem is None and time.monotonic() > deadline:
            problem = f"preflight took longer than its {step['timeout']} s"
        if problem:
            return StepResult("preflight", "failed", EXIT_FAILED, start, time.time(), problem,
                              command=shlex.join(check.get("argv", [])))
        ctx.display.print(f"  ✓ {check['description']}")
    return StepResult("preflight", "ok", 0, start, time.time())


# --- command steps and waiting ---------------------------------------------------------------


def substitute(argv: list[str], url: str | None) -> list[str]:
    return [a.replace(URL_PLACEHOLDER, url or URL_PLACEHOLDER) for a in argv]


def run_commands(ctx: Context, step: dict, deadline: float) -> StepResult:
    start = time.time()
    ran = 0
    for command in step["commands"]:
        if command.get("skip_if"):
            done, answer = check_done(command["skip_if"], deadline)
            question = f"  {command['skip_if']['description']}? {answer}"
            if done:
                ctx.display.print(f"{question}: skipped `{shlex.join(command['argv'])}`")
                continue
            ctx.display.print(f"{question}: running it")
        needs_url = any(URL_PLACEHOLDER in a for a in command["argv"])
        url = ctx.endpoint_url() if needs_url else None
        if needs_url and not url:
            return StepResult(step["name"], "failed", EXIT_FAILED, start, time.time(),
                              unknown_url(ctx), command=shlex.join(command["argv"]))
        argv = substitute(command["argv"], url)
        ran += 1
        ctx.display.print(f"  $ {shlex.join(argv)}")
        with ctx.display.running(step["name"]):
            outcome = run_command(argv, deadline, lambda line: ctx.display.print(f"  │ {line}"))
        if step["name"] == "deploy":
            learn_url(ctx, outcome.output)
        if outcome.status != "ok":
            return StepResult(step["name"], outcome.status, outcome.exit_code, start, time.time(),
                              f"{shlex.join(argv)} {describe(outcome)}", outcome.tail,
                              shlex.join(argv))
    status = "skipped" if ran == 0 else "ok"
    reason = "every command was already done" if ran == 0 else ""
    return StepResult(step["name"], status, 0, start, time.time(), reason,
                      url=ctx.url if step["name"] == "deploy" else None)


def describe(outcome: Outcome) -> str:
    if outcome.status == "timeout":
        return "ran out of time and was stopped"
    return f"exited with code {outcome.exit_code}"


def learn_url(ctx: Context, output: str) -> None:
    found = re.search(ctx.plan["endpoint"]["deploy_output_pattern"], output)
    if found:
        ctx.url = found.group(0)


def unknown_url(ctx: Context) -> str:
    env = ctx.plan["endpoint"].get("override_env")
    return ("the endpoint URL is unknown (not in `modal deploy` output, not recorded, no "
            f"workspace from `modal token info`); set {env} to it")


def probe(url: str, timeout: float, api_key: str | None) -> str:
    """'200' when healthy, else a short reason (HTTP status or network error). The key rides
    only in the header (SGLang may guard every path); no reason printed can contain it."""
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return str(response.status)
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code}"
    except (urllib.error.URLError, OSError) as exc:
        return type(getattr(exc, "reason", exc)).__name__


def run_wait(ctx: Context, step: dict, deadline: float) -> StepResult:
    start = time.time()
    base = ctx.endpoint_url()
    if not base:
        return StepResult("wait", "failed", EXIT_FAILED, start, time.time(), unknown_url(ctx))
    url = base + step["path"]
    ctx.display.print(f"  GET {url} until 200 (every {step['poll_interval']} s)")
    api_key = os.environ.get(ctx.plan.get("api_key_env") or "") or None
    attempts = 0
    with ctx.display.running("wait") as status:
        while True:
            attempts += 1
            remaining = max(1.0, deadline - time.monotonic())
            answer = probe(url, min(HEALTH_REQUEST_TIMEOUT, remaining), api_key)
            if answer == "200":
                return StepResult("wait", "ok", 0, start, time.time(),
                                  f"healthy after {attempts} attempt(s)", url=base)
            status(f"{answer} (attempt {attempts})")
            if time.monotonic() + step["poll_interval"] > deadline:
                return StepResult("wait", "timeout", TIMEOUT_EXIT_CODE, start, time.time(),
                                  f"{url} not healthy within {step['timeout']} s "
                                  f"(last answer: {answer})", [f"last answer: {answer}"],
                                  f"GET {url}", url=base)
            time.sleep(step["poll_interval"])


RUNNERS = {"internal:preflight": run_preflight, "internal:wait_healthy": run_wait,
           "commands": run_commands}


def run_step(ctx: Context, step: dict) -> StepResult:
    deadline = time.monotonic() + step["timeout"]
    runner = RUNNERS.get(step["kind"])
    if runner is None:
        now = time.time()
        return StepResult(step["name"], "failed", EXIT_FAILED, now, now,
                          f"unknown step kind {step['kind']!r}; run `make render`")
    return runner(ctx, step, deadline)


# --- dry run ---------------------------------------------------------------------------------


def dry_run_steps(ctx: Context) -> list[dict]:
    """The selected steps with every argv as it would run (the URL where it is not known yet)."""
    endpoint = ctx.plan["endpoint"]
    url = ctx.endpoint_url() or (endpoint["url_template"] or "<url from modal deploy>").replace(
        "{workspace}", "<workspace>")
    steps = []
    for step in ctx.plan["steps"]:
        if step["name"] not in ctx.selected:
            continue
        shown = {k: step[k] for k in ("name", "kind", "description", "timeout")}
        if step["kind"] == "commands":
            shown["commands"] = [{"argv": substitute(c["argv"], url),
                                  "skip_if": c.get("skip_if")} for c in step["commands"]]
        elif step["kind"] == "internal:preflight":
            shown["checks"] = step["checks"]
        elif step["kind"] == "internal:wait_healthy":
            shown["url"] = url + step["path"]
            shown["poll_interval"] = step["poll_interval"]
        steps.append(shown)
    return steps


def print_dry_run(display: Display, steps: list[dict]) -> None:
    for number, step in enumerate(steps, 1):
        display.print(f"{number}. {step['name']} ({step['kind']}, timeout {step['timeout']} s): "
                      f"{step['description']}")
        for check in step.get("checks", []):
            how = f"$ {shlex.join(check['argv'])}" if check.get("argv") else "(local)"
            display.print(f"     check {check['name']}: {how}  # {check['description']}")
        for command in step.get("commands", []):
            if command.get("skip_if"):
                skip = command["skip_if"]
                display.print(
                    f"     skip if: $ {shlex.join(skip['argv'])}  # {skip['description']}")
            display.print(f"     $ {shlex.join(command['argv'])}")
        if "url" in step:
            display.print(f"     GET {step['url']} until 200, every {step['poll_interval']} s")


# --- entry point -----------------------------------------------------------------------------


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


def deploy_main(spec_path: str, *, dry_run: bool = False, from_step: str | None = None,
                only_step: str | None = None, fmt: str = "text") -> int:
    """Run (or with dry_run, print) the plan of `spec_path`. Returns the exit code."""
    redact = Redactor.from_env(dict(os.environ), [])
    display = Display(fmt, redact)
    try:
        if fmt not in ("text", "json"):
            raise UsageProblem(f"unknown format {fmt!r}: use text or json", EXIT_USAGE)
        plan, digest, _ = load_plan(spec_path)
        redact = Redactor.from_env(dict(os.environ), [plan.get("api_key_env") or ""])
        display = Display(fmt, redact)
        records_path = RUNS_DIR / f"{Path(spec_path).stem}.jsonl"
        ctx = Context(spec_path, plan, digest, display, redact, select(plan, from_step, only_step),
                      read_records(records_path))
        if dry_run:
            return dry_run_main(ctx, fmt)
        with deploy_lock(RUNS_DIR / f"{plan['app']}.lock", display):
            return execute(ctx, records_path, fmt, resume=not (from_step or only_step),
                           from_step=from_step)
    except UsageProblem as problem:
        display.error(f"servespec deploy: {problem}")
        return problem.code
    except KeyboardInterrupt:  # between steps, or before the first one started
        display.error("servespec deploy: interrupted")
        return EXIT_INTERRUPTED


def dry_run_main(ctx: Context, fmt: str) -> int:
    problem = stale_problem(ctx.spec_path)
    if problem:
        raise UsageProblem(problem)
    steps = dry_run_steps(ctx)
    if fmt == "json":
        payload = {"dry_run": True, "spec": ctx.spec_path, "app": ctx.plan["app"],
                   "plan_digest": ctx.digest, "steps": steps}
        print(json.dumps(ctx.redact.deep(payload), indent=2, sort_keys=True))
    else:
        ctx.display.print(f"dry run of {ctx.spec_path} (app {ctx.plan['app']}); nothing is run:")
        print_dry_run(ctx.display, steps)
    return 0


def execute(ctx: Context, records_path: Path, fmt: str, *, resume: bool,
            from_step: str | None) -> int:
    run_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ") + f"-{os.getpid()}"
    log = RunLog(records_path, run_id, ctx.digest, ctx.redact)
    resumed_from, done = resumable(ctx.records, ctx.digest) if resume else (None, set())
    if resumed_from:
        finished = [s["name"] for s in ctx.plan["steps"] if s["name"] in done]
        ctx.display.print(f"resuming run {resumed_from}: skipping {', '.join(finished)} (already "
                          "finished); `--from preflight` runs every step")
    results: list[StepResult] = []
    before_from = True
    with interrupts_raise():
        for step in ctx.plan["steps"]:
            name = step["name"]
            before_from = before_from and name != from_step
            result = planned_skip(ctx, step, done, resumed_from, from_step, before_from)
            if result is None:
                ctx.display.print(f"▶ {name}: {step['description']}")
                result = guarded(ctx, step)
            if result is False:
                continue
            results.append(result)
            log.append(result)
            report_step(ctx, result)
            if result.status in STOPPED:
                break
    return finish(ctx, results, run_id, resumed_from, records_path, fmt)


def planned_skip(ctx: Context, step: dict, done: set[str], resumed_from: str | None,
                 from_step: str | None, before_from: bool):
    """A StepResult for a step skipped by resume or --from, False for one not selected at all,
    None for a step that must run."""
    name, now = step["name"], time.time()
    if name == "preflight":
        return None
    if name in done:
        return StepResult(name, "skipped", None, now, now, f"done in run {resumed_from}")
    if from_step and before_from:
        return StepResult(name, "skipped", None, now, now, f"before --from {from_step}")
    if name not in ctx.selected:
        return False
    return None


def guarded(ctx: Context, step: dict) -> StepResult:
    """run_step, turning Ctrl-C into an 'interrupted' result (the child group is already down)."""
    start = time.time()
    try:
        return run_step(ctx, step)
    except Interrupted as stop:
        outcome = stop.args[0] if stop.args and isinstance(stop.args[0], Outcome) else None
        return StepResult(step["name"], "interrupted", EXIT_INTERRUPTED, start, time.time(),
                          "interrupted (Ctrl-C or SIGTERM); the step's processes were stopped",
                          outcome.tail if outcome else [], "")


def report_step(ctx: Context, result: StepResult) -> None:
    if result.status == "ok":
        ctx.display.print(f"✓ {result.name} ({result.duration:.1f} s)"
                          + (f": {result.reason}" if result.reason else ""))
    elif result.status == "skipped":
        ctx.display.print(f"- {result.name} skipped: {result.reason}")
    elif result.name == "preflight":
        ctx.display.error(f"preflight failed: {result.reason}.")
    else:
        lines = [(f"deploy stopped at step '{result.name}': {result.status}, exit code "
                  f"{result.exit_code}, after {result.duration:.1f} s")]
        if result.reason:
            lines.append(f"  {result.reason}")
        if result.tail:
            lines.append(f"  last {len(result.tail)} lines of output:")
            lines += [f"    | {line}" for line in result.tail]
        lines.append(f"  resume with: {ctx.resume_command(result.name)}")
        ctx.display.error("\n".join(lines))


def finish(ctx: Context, results: list[StepResult], run_id: str, resumed_from: str | None,
           records_path: Path, fmt: str) -> int:
    stopped = next((r for r in results if r.status in STOPPED), None)
    if stopped is None:
        code = 0
    elif stopped.status == "interrupted":
        code = EXIT_INTERRUPTED
    else:
        code = EXIT_FAILED
    url = ctx.endpoint_url() if stopped is None else None
    if fmt == "json":
        payload = {
            "spec": ctx.spec_path, "app": ctx.plan["app"], "run_id": run_id,
            "plan_digest": ctx.digest, "ok": code == 0, "exit_code": code,
            "resumed_from": resumed_from, "records": str(records_path), "url": url,
            "failed_step": stopped.name if stopped else None,
            "resume_command": ctx.resume_command(stopped.name) if stopped else None,
            "steps": [r.record() for r in results],
        }
        print(json.dumps(ctx.redact.deep(payload), indent=2, sort_keys=True))
    elif stopped is None:
        skipped = sum(r.skipped for r in results)
        ctx.display.print(f"deploy finished: {len(results)} steps ({skipped} skipped)"
                          + (f"; endpoint {url}" if url else ""))
    return code
