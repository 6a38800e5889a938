"""`servespec status | logs | rollback | stop | history` (renderer/operate/lifecycle.py, history.py).

Three kinds of evidence:
  * the REAL modal 1.6.4 CLI with no token: each command gives its one-sentence error, exit 1;
  * the argument lists servespec builds are parsed by the real CLI's own click commands
    (modal/cli/app.py, container.py) and their options appear in the real `--help`;
  * what needs Modal's servers (a deployed app, its containers, a rollback, a stop) is answered
    by the stand-in `modal` executable of the deploy tests (tests/standin_modal.py), put first
    on PATH, which records every call. Only Modal's servers are stood in for.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from modal.cli.app import app_cli
from modal.cli.container import container_cli

from renderer.operate import lifecycle
from renderer.run import history

ROOT = Path(__file__).resolve().parents[1]
STANDIN = ROOT / "tests" / "standin_modal.py"
SPEC = "specs/glm51-fp8-b200.yaml"
APP = "glm51-fp8-b200"
APP_ID = "ap-0123456789abcdefghijkl"
MODAL_BIN = Path(sys.executable).parent  # the real modal CLI of this venv


def cli(args: list[str], cwd: Path, env: dict, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "renderer.cli.main", *args], cwd=cwd, env=env,
                          input=stdin, capture_output=True, text=True, timeout=240, check=False)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository-shaped folder: the spec, its model facts and its rendered files."""
    shutil.copytree(ROOT / "specs", tmp_path / "specs")
    shutil.copytree(ROOT / "rendered" / APP, tmp_path / "rendered" / APP)
    shutil.copytree(ROOT / "rendered" / "_runtime", tmp_path / "rendered" / "_runtime")
    (tmp_path / "home").mkdir()
    return tmp_path


def no_token_env(repo: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODAL_")}
    return {**env, "HOME": str(repo / "home"), "PATH": f"{MODAL_BIN}{os.pathsep}{env['PATH']}"}


# --- the real modal CLI, no token -------------------------------------------------------------


@pytest.mark.parametrize("args", [["status", SPEC], ["logs", SPEC, "--since", "1h"],
                                  ["rollback", SPEC, "v2"], ["stop", SPEC, "--yes"]])
def test_real_modal_without_token_gives_one_sentence(repo, args):
    proc = cli(args, repo, no_token_env(repo))
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    sentence = (f"servespec {args[0]}: Modal is not reachable: no Modal token is configured "
                "(run `modal token new` or set MODAL_TOKEN_ID and MODAL_TOKEN_SECRET).")
    assert lines == [sentence]
    assert "Traceback" not in proc.stdout


def test_status_json_without_token(repo):
    proc = cli(["status", SPEC, "--format", "json"], repo, no_token_env(repo))
    assert proc.returncode == 1
    assert json.loads(proc.stdout)["ok"] is False


# --- our argument lists against the real CLI's parser -----------------------------------------


def parse(group, argv: list[str]) -> dict:
    """Parse with the real click command, without running it (no token needed)."""
    command = group.commands[argv[0]]
    return command.make_context(argv[0], argv[1:]).params


def test_argument_lists_parse_with_the_real_modal_cli():
    assert parse(app_cli, lifecycle.info_argv(APP)[2:]) == {
        "app_identifier": APP, "env": None, "json": True, "no_color": False}
    params = parse(container_cli, lifecycle.containers_argv(APP_ID)[2:])
    assert params["app_id"] == APP_ID and params["json"] is True
    params = parse(app_cli, lifecycle.logs_argv(APP, True, "2h", 50)[2:])
    assert (params["follow"], params["since"], params["tail"]) == (True, "2h", 50)
    params = parse(app_cli, lifecycle.rollback_argv(APP, "3")[2:])
    assert (params["app_identifier"], params["version"]) == (APP, "v3")  # modal wants the v
    assert parse(app_cli, lifecycle.rollback_argv(APP, None)[2:])["version"] == ""
    params = parse(app_cli, lifecycle.stop_argv(APP)[2:])
    assert params["yes"] is True and params["app_identifier"] == APP


def test_options_appear_in_the_real_help():
    for argv, options in ((["app", "logs"], ["--follow", "--since", "--tail"]),
                          (["app", "stop"], ["--yes"]), (["app", "info"], ["--json"]),
                          (["container", "list"], ["--app-id", "--json"])):
        proc = subprocess.run([str(MODAL_BIN / "modal"), *argv, "--help"], capture_output=True,
                              text=True, timeout=120, check=False)
        assert proc.returncode == 0, proc.stderr
        for option in options:
            assert option in proc.stdout, (argv, option)


def test_bad_version_is_a_usage_error(repo):
    proc = cli(["rollback", SPEC, "latest"], repo, no_token_env(repo))
    assert proc.returncode == 2 and "'latest' is not a version" in proc.stderr


# --- stand-in for Modal's servers -------------------------------------------------------------


class Standin:
    def __init__(self, repo: Path):
        self.repo = repo
        bin_dir = repo / "standin-bin"
        bin_dir.mkdir()
        wrapper = bin_dir / "modal"
        wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{STANDIN}" modal "$@"\n')
        wrapper.chmod(0o755)
        self.log, self.config = repo / "standin.log", repo / "standin.json"
        self.rules: list[dict] = []
        self.env = {**no_token_env(repo), "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
                    "STANDIN_LOG": str(self.log), "STANDIN_CONFIG": str(self.config)}

    def answer(self, match: str, payload=None, exit_code: int = 0, lines=None) -> None:
        text = [json.dumps(payload)] if payload is not None else (lines or [])
        self.rules.append({"match": match, "exit": exit_code, "lines": text})

    def run(self, args: list[str], stdin: str = "") -> subprocess.CompletedProcess:
        self.config.write_text(json.dumps({"rules": self.rules}))
        return cli(args, self.repo, self.env, stdin)

    def calls(self) -> list[list[str]]:
        if not self.log.exists():
            return []
        return [json.loads(line)["argv"] for line in self.log.read_text().splitlines()]


def app_info(state: str = "deployed", version: int = 7, deployed_at: datetime | None = None):
    """`modal app info APP --json` as modal/cli/app.py info prints it."""
    at = (deployed_at or datetime.now(UTC)).isoformat(sep=" ", timespec="seconds")
    return {"description": APP, "app_id": APP_ID, "functions": {}, "servers": {},
            "lifecycle": {"state": state, "created_at": at, "created_by": "me",
                          "deployed_at": at, "deployed_by": "me", "version": version,
                          "stopped_at": None, "stopped_by": None}}


def record_deploy(repo: Path, digest: str | None, minutes_ago: float = 0) -> None:
    end = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    line = {"run": "r1", "name": "deploy", "status": "ok", "plan_digest": "x",
            "rendered_digest": digest, "start": (end - timedelta(seconds=30)).isoformat(),
            "end": end.isoformat()}
    (repo / "runs").mkdir(exist_ok=True)
    with open(repo / "runs" / f"{APP}.jsonl", "a") as fh:
        fh.write(json.dumps(line) + "\n")


def current_digest(repo: Path) -> str:
    old = os.getcwd()
    os.chdir(repo)
    try:
        return history.rendered_digest(APP)
    finally:
        os.chdir(old)


@pytest.fixture
def standin(repo) -> Standin:
    return Standin(repo)


def test_status_deployed_matching_rendered(standin, repo):
    record_deploy(repo, current_digest(repo))
    standin.answer("app info", app_info())
    standin.answer("container list", [{"container_id": "ta-1"}, {"container_id": "ta-2"}])
    proc = standin.run(["status", SPEC, "--format", "json"])
    out = json.loads(proc.stdout)
    assert proc.returncode == 0, proc.stderr
    assert (out["deployed"], out["version"], out["containers"]) == (True, 7, 2)
    assert out["matches_rendered"] is True
    # No URL was recorded, so nothing is probed (and a request could start a GPU replica).
    assert out["health"].startswith("not probed")
    assert ["container", "list", "--app-id", APP_ID, "--json"] in standin.calls()


def test_status_says_when_rendered_changed_or_app_was_redeployed(standin, repo):
    record_deploy(repo, "0" * 16)
    standin.answer("app info", app_info())
    standin.answer("container list", [])
    proc = standin.run(["status", SPEC])
    assert proc.returncode == 0
    assert "v7, 0 containers running" in proc.stdout
    assert "NOT the version rendered/ holds now: rendered/ changed" in proc.stdout

    standin.rules.clear()
    record_deploy(repo, current_digest(repo), minutes_ago=90)  # Modal's version is newer
    standin.answer("app info", app_info())
    standin.answer("container list", [])
    assert "a rollback or a deploy outside servespec" in standin.run(["status", SPEC]).stdout


def test_the_recorded_digest_covers_the_runtime_file(standin, repo):
    """A deploy ships the runtime file too: editing it alone makes status say rendered/ changed."""
    record_deploy(repo, current_digest(repo))
    runtime = repo / "rendered" / "_runtime" / "servespec_runtime.py"
    runtime.write_text(runtime.read_text() + "# changed\n")
    standin.answer("app info", app_info())
    standin.answer("container list", [])
    assert "NOT the version rendered/ holds now: rendered/ changed" in standin.run(["status", SPEC]).stdout


def test_status_of_a_missing_app_is_one_sentence(standin):
    standin.answer("app info", exit_code=1, lines=[
        f"Error: No App with name '{APP}' found in the 'main' environment."])
    proc = standin.run(["status", SPEC])
    assert proc.returncode == 1
    assert proc.stderr.strip() == (f"servespec status: app '{APP}' does not exist in Modal (never "
                                   "deployed, stopped long ago, or in another environment).")


def test_rollback_calls_modal_records_and_states_the_effect_on_volumes(standin, repo):
    proc = standin.run(["rollback", SPEC, "3"])
    assert proc.returncode == 0, proc.stderr
    assert ["app", "rollback", APP, "v3"] in standin.calls()
    assert "volumes are not versioned" in proc.stdout and "DeepGEMM cache" in proc.stdout
    records = [json.loads(x) for x in (repo / "runs" / f"{APP}.jsonl").read_text().splitlines()]
    assert records[-1]["action"] == "rollback" and records[-1]["status"] == "ok"


def test_stop_asks_and_does_nothing_on_no(standin):
    standin.answer("app info", app_info())
    proc = standin.run(["stop", SPEC], stdin="n\n")
    assert proc.returncode == 1 and "not stopped" in proc.stderr
    assert "Stop app" in proc.stdout
    assert not any(c[:2] == ["app", "stop"] for c in standin.calls())


def test_stop_with_yes_stops_and_history_shows_it(standin, repo):
    standin.answer("app info", app_info())
    proc = standin.run(["stop", SPEC, "--yes"])
    assert proc.returncode == 0, proc.stderr
    assert ["app", "stop", APP, "--yes"] in standin.calls()
    assert "volumes, secrets and the deployment history are kept" in proc.stdout
    shown = standin.run(["history", SPEC])
    assert shown.returncode == 0 and "stop" in shown.stdout and "ok" in shown.stdout


def test_logs_pass_follow_and_since(standin):
    standin.answer("app info", app_info())
    standin.answer("app logs", lines=["line one from the app"])
    proc = standin.run(["logs", SPEC, "-f", "--since", "30m", "-n", "5"])
    assert proc.returncode == 0 and "line one from the app" in proc.stdout
    assert ["app", "logs", APP, "--follow", "--since", "30m", "--tail", "5"] in standin.calls()


def test_status_probes_health_through_the_edge_when_a_container_runs(standin, repo):
    """A real local health endpoint behind the edge stand-in (tests/edge_proxy.py): status sends
    the spec's proxy-auth headers, read from the environment by name."""
    from http.server import ThreadingHTTPServer
    from threading import Thread

    from edge_proxy import EdgeProxy
    from health_handler import Health

    upstream = ThreadingHTTPServer(("127.0.0.1", 0), Health)
    Thread(target=upstream.serve_forever, daemon=True).start()
    try:
        with EdgeProxy(f"http://127.0.0.1:{upstream.server_address[1]}", "wk-7", "ws-8") as edge:
            record_deploy(repo, current_digest(repo))
            with open(repo / "runs" / f"{APP}.jsonl", "a") as fh:
                fh.write(json.dumps({"run": "r1", "name": "wait", "status": "ok",
                                     "url": edge.url}) + "\n")
            standin.answer("app info", app_info())
            standin.answer("container list", [{"container_id": "ta-1"}])
            standin.env.update({"MODAL_PROXY_TOKEN_ID": "wk-7", "MODAL_PROXY_TOKEN_SECRET": "ws-8"})
            proc = standin.run(["status", SPEC])
            assert proc.returncode == 0, proc.stderr
            assert "1 container running, endpoint healthy" in proc.stdout
            assert edge.seen == [("GET", "/health", True)]

            standin.env["MODAL_PROXY_TOKEN_SECRET"] = "ws-wrong"
            proc = standin.run(["status", SPEC])
            assert proc.returncode == 1 and "endpoint unhealthy (HTTP 401)" in proc.stdout
    finally:
        upstream.shutdown()


def test_status_of_a_stopped_app(standin):
    standin.answer("app info", app_info(state="stopped"))
    proc = standin.run(["status", SPEC])
    assert proc.returncode == 1
    assert proc.stdout.strip() == f"app '{APP}' exists but is not deployed (state: stopped)."
    assert not any(c[:2] == ["container", "list"] for c in standin.calls())


def test_history_of_a_path_that_names_nothing_is_one_sentence(repo):
    """A typo'd spec path with no records is an error, as for status/logs/rollback/stop; a
    removed spec whose records remain still shows them (history is kept by name)."""
    proc = cli(["history", "specs/nope.yaml"], repo, no_token_env(repo))
    assert proc.returncode == 1
    assert proc.stderr.strip() == (
        "servespec history: no spec at specs/nope.yaml and no records for 'nope'")
