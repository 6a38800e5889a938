"""`servespec status | logs | rollback | stop SPEC`: the deployed app's lifecycle, through the
real `modal` CLI (1.6.4). Each command is one or two CLI calls, located in modal's source:

  status    modal app info APP --json             (modal/cli/app.py, info: lifecycle + version)
            modal container list --app-id ID --json   (modal/cli/container.py, list_)
  logs      modal app logs APP [-f] [--since T] [-n N]  (modal/cli/app.py, logs)
  rollback  modal app rollback APP [vN]            (modal/cli/app.py, rollback; "v3", not "3")
  stop      modal app stop APP --yes               (modal/cli/app.py, stop; we ask first)

Every failure is one sentence and exit code 1: no token or a rejected one, Modal unreachable,
or no app of that name (modal/cli/app.py resolve_app_identifier: "No App with name ...").
rollback and stop append a record to runs/<name>.jsonl (renderer/run/history.py).
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta

from renderer.run import history

EXIT_FAILED, EXIT_USAGE = 1, 2
CLI_TIMEOUT = 180  # `modal` gives up on an unreachable server after about a minute
HEALTH_TIMEOUT = 20
# A deploy record matches the deployed version when Modal's deployed_at lies inside the
# recorded deploy step, give or take clock skew between this machine and Modal.
CLOCK_SLACK = timedelta(minutes=2)
ROLLBACK_EFFECTS = (
    "Modal redeploys that version's code and image under the same URL (a new entry in `modal "
    "app history`); volumes are not versioned, so the weights and the DeepGEMM cache keep what "
    "they hold now (their folders are keyed by model revision and by SGLang version and GPU "
    "architecture, so an older version finds its own files if they were never deleted); "
    "rendered/ is not changed, so `servespec status` will say the deployed version differs.")
STOP_EFFECTS = (
    "its containers are terminated and the URL stops answering; volumes, secrets and the "
    "deployment history are kept, and `servespec deploy` brings it back.")


class LifecycleProblem(Exception):
    def __init__(self, message: str, code: int = EXIT_FAILED):
        super().__init__(message)
        self.code = code


# --- the modal CLI ----------------------------------------------------------------------------


def info_argv(app: str) -> list[str]:
    return ["modal", "app", "info", app, "--json"]


def containers_argv(app_id: str) -> list[str]:
    return ["modal", "container", "list", "--app-id", app_id, "--json"]


def logs_argv(app: str, follow: bool, since: str | None, tail: int | None) -> list[str]:
    argv = ["modal", "app", "logs", app]
    if follow:
        argv.append("--follow")
    if since:
        argv += ["--since", since]
    if tail is not None:
        argv += ["--tail", str(tail)]
    return argv


def rollback_argv(app: str, version: str | None) -> list[str]:
    return ["modal", "app", "rollback", app, *([normalise_version(version)] if version else [])]


def stop_argv(app: str) -> list[str]:
    return ["modal", "app", "stop", app, "--yes"]


def normalise_version(version: str) -> str:
    """modal accepts "v3" only (re.match(r"v(\\d+)")); "3" is taken too and given the v."""
    text = version.strip()
    digits = text[1:] if text[:1] in ("v", "V") else text
    if not digits.isdigit() or int(digits) < 1:
        raise LifecycleProblem(f"'{version}' is not a version: use a number such as v3 "
                               "(see `modal app history APP`)", EXIT_USAGE)
    return f"v{int(digits)}"


def failure_sentence(app: str, output: str) -> str:
    """One sentence for a failed modal call, from what the CLI printed."""
    text = " ".join(output.split())
    if "Token missing" in text or "Could not authenticate" in text:
        return ("Modal is not reachable: no Modal token is configured (run `modal token new` or "
                "set MODAL_TOKEN_ID and MODAL_TOKEN_SECRET).")
    if "Token validation failed" in text or "AuthError" in text or "invalid token" in text.lower():
        return "Modal is not reachable: Modal rejected the configured token."
    if "No App with name" in text or "not found" in text.lower():
        return f"app '{app}' does not exist in Modal (never deployed, stopped long ago, or in another environment)."
    if "is not deployed" in text or "already stopped" in text:
        return f"app '{app}' is not deployed (it was stopped)."
    last = text[-300:] if text else "no output"
    return f"Modal is not reachable or refused the call: {last}"


def modal_call(argv: list[str], app: str, timeout: float = CLI_TIMEOUT) -> str:
    """Run one modal CLI call; its stdout, or LifecycleProblem with one sentence."""
    try:
        proc = subprocess.run([modal_executable(), *argv[1:]], capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL, check=False)
    except FileNotFoundError:
        raise LifecycleProblem("the modal CLI is not installed (pip install 'servespec[deploy]')") from None
    except subprocess.TimeoutExpired:
        raise LifecycleProblem(f"Modal is not reachable: `{' '.join(argv[:3])}` did not answer "
                               f"within {timeout:.0f} s.") from None
    if proc.returncode != 0:
        raise LifecycleProblem(failure_sentence(app, proc.stderr + "\n" + proc.stdout))
    return proc.stdout


def modal_executable() -> str:
    """`modal` from PATH (where tests put the stand-in), else the one installed beside this
    Python (a venv that is not activated)."""
    import shutil
    from pathlib import Path

    found = shutil.which("modal")
    beside = Path(sys.executable).with_name("modal")
    return found or (str(beside) if beside.is_file() else "modal")


def parse_json(text: str, argv: list[str]):
    try:
        return json.loads(text)
    except ValueError:
        raise LifecycleProblem(f"`{' '.join(argv)}` printed no JSON; is modal 1.6.4 installed?") from None


# --- status -----------------------------------------------------------------------------------


def status(spec: dict, spec_name: str) -> dict:
    app = spec["app"]
    argv = info_argv(app)
    info = parse_json(modal_call(argv, app), argv)
    life = info.get("lifecycle") or {}
    report = {"app": app, "app_id": info.get("app_id"), "state": life.get("state"),
              "deployed": life.get("state") == "deployed", "version": life.get("version"),
              "deployed_at": life.get("deployed_at"), "containers": None, "url": None,
              "health": None}
    if report["deployed"] and report["app_id"]:
        argv = containers_argv(report["app_id"])
        report["containers"] = len(parse_json(modal_call(argv, app), argv))
    report["url"] = _recorded_url(spec_name)
    report["health"] = _health(spec, report)
    report.update(_matches_rendered(spec_name, life.get("deployed_at")))
    return report


def _recorded_url(spec_name: str) -> str | None:
    for record in reversed(history.read(spec_name)):
        if record.get("url"):
            return record["url"]
    return None


def _health(spec: dict, report: dict) -> str:
    """GET the health path, but only when a container runs: on a scaled-to-zero app the request
    itself would start a GPU replica."""
    if not report["deployed"]:
        return "not deployed"
    if not report["containers"]:
        return "not probed: no container is running (a request would start one)"
    if not report["url"]:
        return "not probed: no endpoint URL recorded by a deploy"
    from renderer.resolve import edge
    from renderer.run.wait import probe

    proxy = edge.from_spec(spec)
    try:
        headers = proxy.headers() if proxy else {}
    except edge.ProxyTokenMissing as missing:
        return f"not probed: {missing}"
    answer = probe(report["url"] + spec["serving"]["health_path"], HEALTH_TIMEOUT, headers)
    return "healthy" if answer == "200" else f"unhealthy ({answer})"


def _matches_rendered(spec_name: str, deployed_at: str | None) -> dict:
    """Is the deployed version the one rendered/<name>/ holds now? Yes when the last deploy
    step servespec recorded shipped today's rendered digest AND Modal's deployed_at falls in
    that step (a later deploy by hand, or a rollback, moves deployed_at past it)."""
    now = history.rendered_digest(spec_name)
    record = history.last_deploy(history.read(spec_name))
    out = {"rendered_digest": now, "deployed_digest": (record or {}).get("rendered_digest")}
    if record is None or not record.get("rendered_digest"):
        return {**out, "matches_rendered": None, "why": "no deploy of this spec is recorded in runs/"}
    if record["rendered_digest"] != now:
        return {**out, "matches_rendered": False,
                "why": "rendered/ changed since the last recorded deploy (run `servespec deploy`)"}
    if not _within(deployed_at, record):
        return {**out, "matches_rendered": False,
                "why": "Modal's deployed version is not the one the last recorded deploy made "
                       "(a rollback or a deploy outside servespec since)"}
    return {**out, "matches_rendered": True, "why": "the last recorded deploy shipped rendered/ as it is now"}


def _within(deployed_at: str | None, record: dict) -> bool:
    try:
        at = datetime.fromisoformat(deployed_at or "")
        start = datetime.fromisoformat(record["start"]) - CLOCK_SLACK
        end = datetime.fromisoformat(record["end"]) + CLOCK_SLACK
    except (KeyError, ValueError, TypeError):
        return False
    return start <= at <= end


def status_sentence(r: dict) -> str:
    if not r["deployed"]:
        return f"app '{r['app']}' exists but is not deployed (state: {r['state']})."
    match = {True: "it is the version rendered/ holds now",
             False: f"it is NOT the version rendered/ holds now: {r['why']}",
             None: f"whether it matches rendered/ is unknown: {r['why']}"}[r["matches_rendered"]]
    count = r["containers"]
    return (f"app '{r['app']}' is deployed (v{r['version']}, {count} container"
            f"{'' if count == 1 else 's'} running, endpoint {r['health']}); {match}.")


def status_exit(r: dict) -> int:
    healthy = r["health"] == "healthy" or str(r["health"]).startswith("not probed")
    return 0 if r["deployed"] and healthy else EXIT_FAILED


# --- the commands -----------------------------------------------------------------------------


def _spec(spec_path: str) -> tuple[dict, str]:
    from renderer.operate.bench import BenchProblem, _checked_spec

    try:
        return _checked_spec(spec_path)
    except BenchProblem as problem:
        raise LifecycleProblem(str(problem), problem.code) from None


def _fail(command: str, problem: LifecycleProblem) -> int:
    print(f"servespec {command}: {problem}", file=sys.stderr)
    return problem.code


def status_main(spec_path: str, fmt: str) -> int:
    try:
        spec, name = _spec(spec_path)
        report = status(spec, name)
    except LifecycleProblem as problem:
        if fmt == "json":
            print(json.dumps({"ok": False, "error": str(problem)}, indent=2))
        return _fail("status", problem)
    if fmt == "json":
        print(json.dumps({**report, "ok": status_exit(report) == 0,
                          "sentence": status_sentence(report)}, indent=2, sort_keys=True))
    else:
        print(status_sentence(report))
    return status_exit(report)


def logs_main(spec_path: str, follow: bool, since: str | None, tail: int | None) -> int:
    """The app's logs, streamed as modal prints them; a failure is one sentence."""
    try:
        spec, _ = _spec(spec_path)
        app = spec["app"]
        modal_call(info_argv(app), app)  # the one-sentence error before any streaming
        proc = subprocess.run([modal_executable(), *logs_argv(app, follow, since, tail)[1:]], stdin=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True, check=False)
        if proc.returncode not in (0, 130):
            raise LifecycleProblem(failure_sentence(app, proc.stderr))
    except LifecycleProblem as problem:
        return _fail("logs", problem)
    except KeyboardInterrupt:  # following ends with Ctrl-C
        return 0
    return 0


def _record(name: str, command: str, start: str, status: str, detail: str, **extra) -> None:
    history.append(name, {"run": history.run_id(), "action": command, "start": start,
                          "end": history.now_iso(), "status": status, "detail": detail, **extra},
                   history.redactor([]))


def rollback_main(spec_path: str, version: str | None, fmt: str) -> int:
    start = history.now_iso()
    name = None
    try:
        spec, name = _spec(spec_path)
        app = spec["app"]
        modal_call(rollback_argv(app, version), app)
    except LifecycleProblem as problem:
        if name and problem.code == EXIT_FAILED:
            _record(name, "rollback", start, "failed", str(problem), version=version)
        return _fail("rollback", problem)
    target = normalise_version(version) if version else "the previous version"
    sentence = f"rolled app '{app}' back to {target}. {ROLLBACK_EFFECTS}"
    _record(name, "rollback", start, "ok", f"to {target}", version=version)
    print(json.dumps({"ok": True, "app": app, "version": version, "sentence": sentence},
                     indent=2) if fmt == "json" else sentence)
    return 0


def stop_main(spec_path: str, yes: bool, fmt: str, confirm) -> int:
    """`confirm(question) -> bool` asks the user (click.confirm); skipped with --yes."""
    start = history.now_iso()
    name = None
    try:
        spec, name = _spec(spec_path)
        app = spec["app"]
        argv = info_argv(app)
        info = parse_json(modal_call(argv, app), argv)
        if (info.get("lifecycle") or {}).get("state") != "deployed":
            raise LifecycleProblem(f"app '{app}' is not deployed; nothing to stop.")
        if not yes and not confirm(f"Stop app '{app}'? {STOP_EFFECTS[0].upper()}{STOP_EFFECTS[1:]}"):
            print("servespec stop: not stopped.", file=sys.stderr)
            return EXIT_FAILED
        modal_call(stop_argv(app), app)
    except LifecycleProblem as problem:
        if name and problem.code == EXIT_FAILED:
            _record(name, "stop", start, "failed", str(problem))
        return _fail("stop", problem)
    sentence = f"stopped app '{app}': {STOP_EFFECTS}"
    _record(name, "stop", start, "ok", "stopped")
    print(json.dumps({"ok": True, "app": app, "sentence": sentence}, indent=2)
          if fmt == "json" else sentence)
    return 0


def history_main(spec_path: str, fmt: str) -> int:
    from pathlib import Path

    name = Path(spec_path).stem
    rows = history.rows(history.read(name))
    # Records outlive their spec (a removed spec's history is still worth reading); a path that
    # names neither is a typo, said as the other lifecycle commands say it.
    if not rows and not Path(spec_path).is_file():
        print(f"servespec history: no spec at {spec_path} and no records for '{name}'",
              file=sys.stderr)
        return 1
    if fmt == "json":
        print(json.dumps(rows, indent=2, sort_keys=True))
    else:
        print(history.table(rows))
    return 0
