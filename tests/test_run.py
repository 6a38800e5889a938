"""Tests for the deploy runner (renderer/run/) and its steps (renderer/render/steps.py).

Every runner test starts the real runner in its own process (tests/deploy_driver.py) in a
temporary copy of the repository layout, with steps.json rendered by the real render stage.
Steps that would need Modal's servers (there is no token here and the servers are unreachable)
reach a stand-in instead: tests/standin_modal.py, installed first on PATH as `modal`, and as
`servespec` for the smoke step, whose target is the live endpoint. The stand-in records its
arguments and answers, fails, sleeps or spawns a grandchild as each test says. The health
check polls a real local HTTP server. One test drives the REAL modal 1.6.4 CLI with no token.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from renderer.pipeline import read_spec
from renderer.render.steps import build_steps
from renderer.resolve.deployment import resolve

HERE = Path(__file__).resolve().parent
DRIVER = HERE / "deploy_driver.py"
STANDIN = HERE / "standin_modal.py"
SPEC = "specs/glm51-fp8-b200.yaml"
APP = "glm51-fp8-b200"
ORDER = ["preflight", "volumes", "download", "compile", "deploy", "wait", "smoke"]
PLANTED_KEY = "sk-planted-api-key-6f1d2c"  # the endpoint's API key, never to be shown
PLANTED_TOKEN = "as-planted-modal-secret-93ab"  # a Modal token secret, never to be shown
PROXY_ID = "wk-planted-proxy-id-51c0"  # the Modal proxy token the wait and smoke steps send
PROXY_SECRET = "ws-planted-proxy-secret-7e2a"  # never to be shown
WEIGHTS, DEEPGEMM = "glm51-fp8-weights", "glm51-deepgemm-sm100"
DOWNLOAD_MARKER = "zai-org/GLM-5.1-FP8/main/.servespec-download-complete"
FAST = {"steps": {"HEALTH_POLL_INTERVAL": 0.1}, "run": {"KILL_GRACE_SECONDS": 2.0}}


# --- fixtures --------------------------------------------------------------------------------


class Health(BaseHTTPRequestHandler):
    """The endpoint behind Modal's proxy: 401 without the proxy token, as the proxy answers."""

    status = 200
    loading_answers = 0  # answer 503 this many times first, as a replica that is loading

    def do_GET(self):
        if (self.headers.get("Modal-Key"), self.headers.get("Modal-Secret")) != (PROXY_ID,
                                                                                PROXY_SECRET):
            self.send_response(401)
        elif self.path == "/health" and type(self).loading_answers > 0:
            type(self).loading_answers -= 1
            self.send_response(503)
        else:
            self.send_response(self.status if self.path == "/health" else 404)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def health():
    """A real HTTP server on localhost standing where the endpoint would be. Its handler class
    is private to the test, so a test can make it answer 503 (`health.handler.status`)."""
    handler = type("TestHealth", (Health,), {"status": 200})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.handler = handler
    server.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    yield server
    server.shutdown()


class Workspace:
    """A repository-shaped temp dir with stand-ins on PATH; runs the runner inside it."""

    def __init__(self, root: Path, url: str):
        self.root = root
        self.bin = root / "standin-bin"
        self.bin.mkdir()
        for prog in ("modal", "servespec"):
            wrapper = self.bin / prog
            wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{STANDIN}" {prog} "$@"\n')
            wrapper.chmod(0o755)
        self.log = root / "standin.log"
        self.config_path = root / "standin.json"
        self.config = {"workspace": "testws", "secrets": ["glm51-api-key", "huggingface-secret"],
                       "volumes": [], "files": {}, "rules": []}
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("MODAL_")},
            "PATH": f"{self.bin}{os.pathsep}{os.environ['PATH']}",
            "HOME": str(root / "home"),
            "STANDIN_LOG": str(self.log),
            "STANDIN_CONFIG": str(self.config_path),
            "SGLANG_API_KEY": PLANTED_KEY,
            "MODAL_TOKEN_ID": "ak-standin-id",
            "MODAL_TOKEN_SECRET": PLANTED_TOKEN,
            "MODAL_PROXY_TOKEN_ID": PROXY_ID,
            "MODAL_PROXY_TOKEN_SECRET": PROXY_SECRET,
            "SERVESPEC_ENDPOINT_URL": url,
        }
        (root / "home").mkdir()

    def save(self) -> None:
        self.config_path.write_text(json.dumps(self.config))

    def args(self, **overrides) -> str:
        return json.dumps({"spec": SPEC, **FAST, **overrides})

    def start(self, **overrides) -> subprocess.Popen:
        self.save()
        return subprocess.Popen([sys.executable, str(DRIVER), self.args(**overrides)],
                                cwd=self.root, env=self.env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)

    def deploy(self, timeout: float = 30, **overrides) -> subprocess.CompletedProcess:
        self.save()
        return subprocess.run([sys.executable, str(DRIVER), self.args(**overrides)],
                              cwd=self.root, env=self.env, capture_output=True, text=True,
                              timeout=timeout, check=False)

    def calls(self) -> list[dict]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]

    def commands(self) -> list[str]:
        """What ran, as 'prog arg ...', skip checks and preflight included."""
        return [" ".join([c["prog"], *c["argv"]]) for c in self.calls()]

    def records(self) -> list[dict]:
        path = self.root / "runs" / f"{APP}.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    def last_run(self) -> list[dict]:
        records = self.records()
        return [r for r in records if r["run"] == records[-1]["run"]]

    def reset_log(self) -> None:
        self.log.unlink(missing_ok=True)


@pytest.fixture
def ws(spec_dir: Path, health) -> Workspace:
    workspace = Workspace(spec_dir, health.url)
    workspace.health = health.handler
    workspace.health_url = health.url
    return workspace


def main_commands(ws: Workspace) -> list[str]:
    """The commands that change something (not the preflight and skip-check probes)."""
    probes = ("modal --version", "modal token info", "modal secret list", "modal volume list",
              "modal volume ls")
    return [c for c in ws.commands() if not c.startswith(probes)]


def assert_no_traceback(proc) -> None:
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stderr


# --- the steps -------------------------------------------------------------------------------


def steps_of(text_changes: dict | None = None) -> dict:
    checked = read_spec(HERE.parent / SPEC)
    spec = checked.spec
    for dotted, value in (text_changes or {}).items():
        section, key = dotted.split(".")
        spec[section][key] = value
    return build_steps(resolve(spec, checked.facts, checked.name), SPEC)


def test_steps_list_the_seven_steps_with_real_modal_commands():
    doc = steps_of()
    assert [s["name"] for s in doc["steps"]] == ORDER
    steps = {s["name"]: s for s in doc["steps"]}
    assert steps["download"]["commands"][0]["argv"] == [
        "modal", "run", f"rendered/{APP}/jobs.py::download_weights"]
    assert steps["compile"]["commands"][0]["argv"] == [
        "modal", "run", f"rendered/{APP}/jobs.py::compile_deepgemm"]
    assert steps["deploy"]["commands"][0]["argv"] == [
        "modal", "deploy", "--name", APP, f"rendered/{APP}/deploy.py"]
    assert steps["download"]["timeout"] > 14400 and steps["compile"]["timeout"] > 7200
    assert steps["wait"]["timeout"] > 3600
    # The default spec is an @app.server: its *.modal.direct URL comes from `modal deploy`.
    assert doc["endpoint"]["kind"] == "server" and doc["endpoint"]["url_template"] is None
    # Secrets by name only; the proxy token by variable names only.
    assert doc["secrets"] == ["glm51-api-key", "huggingface-secret"]
    assert doc["proxy_auth"] == {"token_id_env": "MODAL_PROXY_TOKEN_ID",
                                 "token_secret_env": "MODAL_PROXY_TOKEN_SECRET"}
    checks = {c["name"]: c for c in steps["preflight"]["checks"]}
    assert checks["proxy-token-env"]["env"] == ["MODAL_PROXY_TOKEN_ID", "MODAL_PROXY_TOKEN_SECRET"]


LONG_WORKSPACE = "acme-research-platform-inference-team-01"  # 40 characters
LONG_URL = f"https://{LONG_WORKSPACE}--{APP}-serve.us-east.modal.direct"


def test_the_url_comes_from_modal_after_the_deploy(ws):
    """`servespec url SPEC` (Modal's Server.get_url()) answers after `modal deploy`; the wait
    step polls what it gave, and the deploy record keeps it."""
    del ws.env["SERVESPEC_ENDPOINT_URL"]
    ws.config.update({"workspace": LONG_WORKSPACE, "modal_url": ws.health_url})
    proc = ws.deploy()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "servespec url specs/glm51-fp8-b200.yaml" in ws.commands()
    assert f"endpoint (from Modal): {ws.health_url}" in proc.stdout
    deploy = next(r for r in ws.last_run() if r["name"] == "deploy")
    assert deploy["url"] == ws.health_url
    assert next(r for r in ws.last_run() if r["name"] == "wait")["status"] == "ok"


def test_with_a_40_character_workspace_the_printed_url_is_still_found(ws):
    """When Modal cannot be asked, the URL comes from `modal deploy`'s tree, drawn by modal
    1.6.4's own rich output code (tests/standin_modal.py print_created): the runner's wide
    COLUMNS keeps the 99-character URL on one line, and the wait step polls all of it."""
    del ws.env["SERVESPEC_ENDPOINT_URL"]
    ws.config["workspace"] = LONG_WORKSPACE
    proc = ws.deploy(only_step="deploy")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "reading modal deploy's output" in proc.stdout
    assert next(r for r in ws.last_run() if r["name"] == "deploy")["url"] == LONG_URL
    dry = json.loads(ws.deploy(dry_run=True, fmt="json", only_step="wait").stdout)
    assert dry["steps"][-1]["url"] == LONG_URL + "/health"


def test_at_80_columns_modal_wraps_the_url_past_the_pattern(ws):
    """Why the wide COLUMNS: the same real output at 80 columns breaks the URL."""
    import re

    ws.config["workspace"] = LONG_WORKSPACE
    ws.save()
    argv = [sys.executable, str(STANDIN), "modal", "deploy", "--name", APP,
            str(HERE.parent / "rendered" / APP / "deploy.py")]
    pattern = json.loads((HERE.parent / "rendered" / APP / "steps.json").read_text())[
        "endpoint"]["deploy_output_pattern"]
    for columns, found in (("80", None), ("1000", LONG_URL)):
        out = subprocess.run(argv, env={**ws.env, "COLUMNS": columns}, capture_output=True,
                             text=True, timeout=60, check=True).stdout
        match = re.search(pattern, out)
        assert (match.group(0) if match else None) == found, out


def test_the_lookup_is_the_real_servespec_url_command_and_fails_in_one_sentence(tmp_path):
    """The lookup argv parses under the real `servespec url`; run with the real modal client and
    no token, it exits 1 with one sentence naming the app (the runner then reads the output)."""
    from renderer.cli.main import main

    doc = json.loads((HERE.parent / "rendered" / APP / "steps.json").read_text())
    lookup = doc["endpoint"]["lookup"]["argv"]
    assert lookup[:2] == ["servespec", "url"]
    command = main.get_command(None, lookup[1])
    assert command.make_context(lookup[1], lookup[2:]).params == {"spec": SPEC}
    assert (doc["endpoint"]["app"], doc["endpoint"]["object"]) == (APP, "Serve")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODAL_")}
    proc = subprocess.run([sys.executable, "-m", "renderer.cli.main", *lookup[1:]], cwd=HERE.parent,
                          env={**env, "HOME": str(tmp_path)}, capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith(f"servespec url: Modal did not give the URL of Serve in app {APP}")


def test_web_server_spec_learns_its_url_from_the_label():
    doc = build_steps(read_spec(HERE.parent / "specs" / "glm51-fp8-b200-web.yaml").deployment,
                      "specs/glm51-fp8-b200-web.yaml")
    assert doc["endpoint"]["kind"] == "web_server"
    assert doc["endpoint"]["url_template"] == "https://{workspace}--glm51-fp8-b200-web.modal.run"


def test_smoke_step_uses_options_the_real_smoke_command_accepts():
    """Parses the smoke step's argv with the real `servespec smoke` click command."""
    from renderer.cli.main import smoke

    argv = next(s for s in steps_of()["steps"] if s["name"] == "smoke")["commands"][0]["argv"]
    assert argv[:2] == ["servespec", "smoke"]
    params = smoke.make_context("smoke", argv[2:]).params
    assert params["url"] == "{url}" and params["api_key_env"] == "SGLANG_API_KEY"
    assert (params["model"], params["expect_reasoning"], params["expect_tools"]) == (
        "glm-5.1", True, True)
    assert (params["proxy_auth"], params["proxy_token_id_env"],
            params["proxy_token_secret_env"]) == (True, "MODAL_PROXY_TOKEN_ID",
                                                  "MODAL_PROXY_TOKEN_SECRET")


def modal_argvs(doc: dict) -> list[list[str]]:
    found = []
    for step in doc["steps"]:
        found += [c["argv"] for c in step.get("checks", []) if c.get("argv")]
        for command in step.get("commands", []):
            found.append(command["argv"])
            if command.get("skip_if"):
                found.append(command["skip_if"]["argv"])
    return [argv for argv in found if argv[0] == "modal"]


def parse_with_real_modal(argv: list[str]) -> tuple[list[str], dict]:
    """Resolve argv through the installed modal 1.6.4 click tree and parse the leaf's options,
    without running it (a typo'd subcommand or option raises click.UsageError)."""
    import click
    from modal.cli.entry_point import entrypoint_cli

    command, args, path = entrypoint_cli, list(argv[1:]), []
    while isinstance(command, click.Group):
        name = args.pop(0)
        parent = command.make_context(" ".join(["modal", *path]), [name, *args])
        command = command.get_command(parent, name)  # `modal run` imports FILE here
        assert command is not None, f"no `modal {' '.join([*path, name])}`"
        path.append(name)
    return path, command.make_context(" ".join(path), args).params


def test_every_modal_command_in_the_steps_is_real_modal_cli(ws, monkeypatch):
    """Each argv parses under the real modal 1.6.4 CLI; `modal run FILE::FUNC` finds FUNC in the
    rendered deploy.py (imported offline, as `modal run` itself would)."""
    assert ws.deploy(dry_run=True).returncode == 0  # renders steps.json into ws.root
    monkeypatch.chdir(ws.root)
    doc = json.loads((ws.root / "rendered" / APP / "steps.json").read_text())
    parsed = {}
    for argv in modal_argvs(doc):
        if argv == ["modal", "--version"]:
            from modal.cli.entry_point import entrypoint_cli

            assert any("--version" in p.opts for p in entrypoint_cli.params)
            continue
        path, params = parse_with_real_modal(argv)
        parsed[" ".join(argv)] = (path, params)
    assert parsed[f"modal volume ls --json {WEIGHTS} zai-org/GLM-5.1-FP8/main"] == (
        ["volume", "ls"], {"json": True, "volume_name": WEIGHTS,
                           "path": "zai-org/GLM-5.1-FP8/main", "env": None})
    assert parsed[f"modal deploy --name {APP} rendered/{APP}/deploy.py"][1]["name"] == APP
    assert parsed[f"modal run rendered/{APP}/jobs.py::compile_deepgemm"][0] == [
        "run", f"rendered/{APP}/jobs.py::compile_deepgemm"]


def test_json_keys_the_skip_checks_read_are_the_ones_modal_prints():
    """`--json` listings key each column by _col_name_to_json_key (modal/cli/utils.py)."""
    from modal.cli.utils import _col_name_to_json_key

    assert _col_name_to_json_key("Name") == "name"  # volume list, secret list
    assert _col_name_to_json_key("Filename") == "filename"  # volume ls


def test_steps_are_deterministic_and_json_ready():
    assert json.dumps(steps_of(), sort_keys=True) == json.dumps(steps_of(), sort_keys=True)


def test_steps_without_compile_omits_the_step_and_says_why():
    doc = steps_of({"compile.enabled": False})
    assert "compile" not in [s["name"] for s in doc["steps"]]
    assert "compile.enabled" in doc["omitted"]["compile"]


# --- dry run ---------------------------------------------------------------------------------


def test_dry_run_lists_seven_steps_in_order_with_real_commands_and_runs_nothing(ws):
    proc = ws.deploy(dry_run=True)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    positions = [out.index(f". {name} (") for name in ORDER]
    assert positions == sorted(positions)
    for command in ("$ modal --version", "$ modal token info", "$ modal secret list --json",
                    f"$ modal volume create {WEIGHTS}", f"$ modal volume create --version 2 {DEEPGEMM}",
                    f"$ modal run rendered/{APP}/jobs.py::download_weights",
                    f"$ modal run rendered/{APP}/jobs.py::compile_deepgemm",
                    f"$ modal deploy --name {APP} rendered/{APP}/deploy.py",
                    "$ servespec smoke"):
        assert command in out, command
    assert ws.calls() == []  # nothing ran, not even preflight's probes
    assert not (ws.root / "runs" / f"{APP}.jsonl").exists()


def test_dry_run_shows_every_one_off_step_on_the_jobs_app(ws):
    """Only the deploy step touches the serving app: download, compile (and bench) run
    functions of rendered/<name>/jobs.py, app <app>-jobs, and the dry run says so."""
    payload = json.loads(ws.deploy(dry_run=True, fmt="json").stdout)
    apps = {s["name"]: s.get("app") for s in payload["steps"]}
    assert apps == {"preflight": None, "volumes": None, "download": f"{APP}-jobs",
                    "compile": f"{APP}-jobs", "deploy": APP, "wait": None, "smoke": None}
    for step in payload["steps"]:
        for command in step.get("commands", []):
            argv = command["argv"]
            if argv[:2] == ["modal", "run"]:
                assert argv[2].startswith(f"rendered/{APP}/jobs.py::"), argv
            if argv[:2] == ["modal", "deploy"]:
                assert step["name"] == "deploy" and argv[-1] == f"rendered/{APP}/deploy.py"
    text = ws.deploy(dry_run=True).stdout
    assert f"3. download (commands, timeout 16200 s, app {APP}-jobs)" in text
    assert f"app {APP}):" in text


def test_every_shipped_spec_runs_its_one_off_steps_on_the_jobs_app():
    root = HERE.parent
    for steps_json in sorted((root / "rendered").glob("*/steps.json")):
        doc = json.loads(steps_json.read_text())
        folder = steps_json.parent.relative_to(root).as_posix()
        assert doc["jobs_app"] == doc["app"] + "-jobs"
        for step in doc["steps"]:
            for command in step.get("commands", []):
                argv = command["argv"]
                if argv[:2] == ["modal", "run"]:
                    assert argv[2].startswith(f"{folder}/jobs.py::"), argv
                    assert step["app"] == doc["jobs_app"]
                elif argv[:2] == ["modal", "deploy"]:
                    assert argv[-1] == f"{folder}/deploy.py" and step["app"] == doc["app"]


def test_dry_run_json_is_machine_readable(ws):
    proc = ws.deploy(dry_run=True, fmt="json")
    payload = json.loads(proc.stdout)
    assert payload["dry_run"] is True
    assert [s["name"] for s in payload["steps"]] == ORDER
    smoke = payload["steps"][-1]["commands"][0]["argv"]
    assert smoke[:3] == ["servespec", "smoke", ws.env["SERVESPEC_ENDPOINT_URL"]]


def test_eval_after_deploy_adds_a_step_after_smoke_that_dry_run_shows_redacted(ws):
    spec = ws.root / SPEC
    spec.write_text(spec.read_text().replace("\neval:\n", "\neval:\n  after_deploy: true\n"))
    proc = ws.deploy(dry_run=True, fmt="json")
    assert proc.returncode == 0, proc.stderr
    steps = json.loads(proc.stdout)["steps"]
    assert [s["name"] for s in steps] == [*ORDER, "eval"]
    argv = steps[-1]["commands"][0]["argv"]
    assert argv == ["servespec", "eval", SPEC, "--url", ws.env["SERVESPEC_ENDPOINT_URL"]]
    text = ws.deploy(dry_run=True).stdout
    assert f"$ servespec eval {SPEC} --url" in text
    for planted in (PLANTED_KEY, PLANTED_TOKEN, PROXY_SECRET):
        assert planted not in proc.stdout + text
    doc = json.loads((ws.root / "rendered" / APP / "steps.json").read_text())
    assert "servespec rollback" in doc["steps"][-1]["on_failure"]


def test_dry_run_honours_from_and_only(ws):
    proc = ws.deploy(dry_run=True, fmt="json", from_step="deploy")
    assert [s["name"] for s in json.loads(proc.stdout)["steps"]] == [
        "preflight", "deploy", "wait", "smoke"]
    proc = ws.deploy(dry_run=True, fmt="json", only_step="compile")
    assert [s["name"] for s in json.loads(proc.stdout)["steps"]] == ["preflight", "compile"]


# --- a full run ------------------------------------------------------------------------------


def test_full_run_executes_steps_in_order_and_records_each(ws):
    proc = ws.deploy(fmt="json")
    assert proc.returncode == 0, proc.stderr
    assert_no_traceback(proc)
    assert main_commands(ws) == [
        f"modal volume create {WEIGHTS}",
        f"modal volume create --version 2 {DEEPGEMM}",
        f"modal run rendered/{APP}/jobs.py::download_weights",
        f"modal run rendered/{APP}/jobs.py::compile_deepgemm",
        f"modal deploy --name {APP} rendered/{APP}/deploy.py",
        (f"servespec smoke {ws.env['SERVESPEC_ENDPOINT_URL']} --api-key-env SGLANG_API_KEY "
         "--proxy-token-id-env MODAL_PROXY_TOKEN_ID --proxy-token-secret-env "
         "MODAL_PROXY_TOKEN_SECRET --model glm-5.1 --reasoning --tools"),
    ]
    # Preflight ran first, before anything that changes something.
    assert ws.commands()[:3] == ["modal --version", "modal token info",
                                 "modal secret list --json"]
    records = ws.last_run()
    assert [r["name"] for r in records] == ORDER
    assert all(r["status"] == "ok" and r["exit_code"] == 0 for r in records)
    for r in records:
        assert {"name", "start", "end", "exit_code", "duration", "skipped"} <= set(r)
    # The URL `modal deploy` printed is learned and recorded.
    deploy = next(r for r in records if r["name"] == "deploy")
    assert deploy["url"] == f"https://testws--{APP}-serve.us-east.modal.direct"
    summary = json.loads(proc.stdout)
    assert summary["ok"] is True and summary["exit_code"] == 0
    assert [s["name"] for s in summary["steps"]] == ORDER
    assert summary["failed_step"] is None


def test_existing_volumes_and_markers_are_skipped_and_reported(ws):
    key = steps_of()["steps"][3]["deepgemm_key"]
    ws.config["volumes"] = [WEIGHTS, DEEPGEMM]
    ws.config["files"] = {WEIGHTS: [DOWNLOAD_MARKER],
                          DEEPGEMM: [(f"sm100/sglang_v0.5.23-cu129-amd64/deep_gemm/.servespec/"
                                      f"{key}.done")]}
    proc = ws.deploy()
    assert proc.returncode == 0, proc.stderr
    assert not any("volume create" in c or " run " in c for c in ws.commands())
    assert f"volume {WEIGHTS} exists? yes: skipped `modal volume create {WEIGHTS}`" in proc.stdout
    assert "skipped `modal run" in proc.stdout and DOWNLOAD_MARKER in proc.stdout
    status = {r["name"]: r for r in ws.last_run()}
    for step in ("volumes", "download", "compile"):
        assert status[step]["skipped"] is True and status[step]["status"] == "skipped"
    assert status["deploy"]["status"] == "ok"


def test_a_marker_for_another_revision_does_not_skip_the_download(ws):
    ws.config["volumes"] = [WEIGHTS, DEEPGEMM]
    ws.config["files"] = {WEIGHTS: ["zai-org/GLM-5.1-FP8/0123abc/.servespec-download-complete"]}
    proc = ws.deploy(only_step="download")
    assert proc.returncode == 0, proc.stderr
    assert f"modal run rendered/{APP}/jobs.py::download_weights" in main_commands(ws)


# --- failure, resume -------------------------------------------------------------------------


def test_failure_stops_reports_and_resume_skips_what_finished(ws):
    ws.config["rules"] = [{"match": "compile_deepgemm", "exit": 3,
                           "lines": [f"compile line {i}" for i in range(30)]
                           + ["RuntimeError: DeepGEMM exploded"]}]
    first = ws.deploy()
    assert first.returncode == 1
    assert_no_traceback(first)
    err = first.stderr
    assert "deploy stopped at step 'compile'" in err and "exit code 3" in err
    assert "RuntimeError: DeepGEMM exploded" in err and "compile line 29" in err
    assert "compile line 5" not in err  # only the last lines
    assert f"resume with: servespec deploy {SPEC} --from compile" in err
    assert not any(c.startswith("modal deploy") for c in ws.commands())  # nothing after it ran
    assert [(r["name"], r["status"]) for r in ws.last_run()] == [
        ("preflight", "ok"), ("volumes", "ok"), ("download", "ok"), ("compile", "failed")]
    assert ws.last_run()[-1]["exit_code"] == 3

    # The fix lands; a plain re-run resumes: finished steps are not run again.
    ws.config["rules"] = []
    ws.reset_log()
    second = ws.deploy()
    assert second.returncode == 0, second.stderr
    assert "resuming run" in second.stdout
    assert main_commands(ws)[:2] == [f"modal run rendered/{APP}/jobs.py::compile_deepgemm",
                                     f"modal deploy --name {APP} rendered/{APP}/deploy.py"]
    # Not even their checks: only compile's own marker check touched a volume.
    assert not any("volume create" in c or "volume list" in c or WEIGHTS in c
                   or "download_weights" in c for c in ws.commands())
    statuses = {r["name"]: (r["status"], r["reason"]) for r in ws.last_run()}
    assert statuses["volumes"][0] == statuses["download"][0] == "skipped"
    assert statuses["download"][1].startswith("done in run ")
    assert statuses["compile"][0] == "ok" and statuses["smoke"][0] == "ok"

    # After a completed run a plain run starts over (markers decide what to skip).
    ws.reset_log()
    third = ws.deploy()
    assert third.returncode == 0 and "resuming" not in third.stdout
    assert f"modal volume create {WEIGHTS}" in main_commands(ws)


def test_printed_resume_command_runs_from_the_failed_step(ws):
    ws.config["rules"] = [{"match": "deploy --name", "exit": 2, "lines": ["image build failed"]}]
    failed = ws.deploy(fmt="json")
    assert failed.returncode == 1
    summary = json.loads(failed.stdout)
    assert (summary["ok"], summary["failed_step"]) == (False, "deploy")
    assert summary["resume_command"] == f"servespec deploy {SPEC} --from deploy"
    assert summary["steps"][-1]["exit_code"] == 2
    assert summary["steps"][-1]["tail"] == ["image build failed"]
    ws.config["rules"] = []
    ws.reset_log()
    proc = ws.deploy(from_step="deploy")
    assert proc.returncode == 0, proc.stderr
    assert main_commands(ws)[0] == f"modal deploy --name {APP} rendered/{APP}/deploy.py"
    assert not any("volume create" in c or " run " in c for c in ws.commands())
    reasons = {r["name"]: r["reason"] for r in ws.last_run()}
    assert reasons["compile"] == "before --from deploy"


def test_only_runs_preflight_and_that_step(ws):
    proc = ws.deploy(only_step="volumes")
    assert proc.returncode == 0, proc.stderr
    assert main_commands(ws) == [f"modal volume create {WEIGHTS}",
                                 f"modal volume create --version 2 {DEEPGEMM}"]
    assert [r["name"] for r in ws.last_run()] == ["preflight", "volumes"]


def test_unknown_step_is_a_usage_error(ws):
    proc = ws.deploy(from_step="nonsense")
    assert proc.returncode == 2
    assert "no step 'nonsense'" in proc.stderr and "preflight, volumes" in proc.stderr
    assert_no_traceback(proc)


# --- timeout, interrupt, lock ----------------------------------------------------------------


def dead(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # A zombie still answers kill(0); it has exited, only nobody reaped it yet.
    with open(f"/proc/{pid}/stat") as fh:
        return fh.read().split()[2] == "Z"


def wait_for(predicate, timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def test_step_timeout_kills_the_whole_process_group(ws):
    pidfile = ws.root / "grandchild.pid"
    ws.config["rules"] = [{"match": f"volume create {WEIGHTS}", "sleep": 60,
                           "grandchild_pidfile": str(pidfile)}]
    started = time.monotonic()
    proc = ws.deploy(steps={**FAST["steps"], "VOLUMES_TIMEOUT": 1})
    assert time.monotonic() - started < 15
    assert proc.returncode == 1
    assert "deploy stopped at step 'volumes': timeout" in proc.stderr
    assert f"resume with: servespec deploy {SPEC} --from volumes" in proc.stderr
    record = ws.last_run()[-1]
    assert (record["name"], record["status"], record["exit_code"]) == ("volumes", "timeout", 124)
    wait_for(lambda: dead(int(pidfile.read_text())), 5)
    assert not any("download_weights" in c for c in ws.commands())


def test_wait_gives_up_after_its_timeout_and_smoke_does_not_run(ws):
    ws.health.status = 503
    # startup_timeout (3600) + margin = 1 s: the step's budget, shortened for the test.
    proc = ws.deploy(steps={**FAST["steps"], "COLD_START_MARGIN": 1 - 3600})
    assert proc.returncode == 1
    assert "deploy stopped at step 'wait': timeout, exit code 124" in proc.stderr
    assert "last answer: HTTP 503" in proc.stderr
    assert not any(c.startswith("servespec smoke") for c in ws.commands())
    assert ws.last_run()[-1]["status"] == "timeout"


def test_sigint_stops_the_child_group_and_records_the_interruption(ws):
    pidfile = ws.root / "grandchild.pid"
    ws.config["rules"] = [{"match": "download_weights", "sleep": 60,
                           "grandchild_pidfile": str(pidfile)}]
    runner = ws.start()
    wait_for(pidfile.exists)
    wait_for(lambda: pidfile.read_text().strip() != "")
    runner.send_signal(signal.SIGINT)
    out, err = runner.communicate(timeout=15)
    assert runner.returncode == 130, err
    assert "Traceback" not in out + err
    assert "interrupted" in err
    assert f"resume with: servespec deploy {SPEC} --from download" in err
    record = ws.last_run()[-1]
    assert (record["name"], record["status"], record["exit_code"]) == (
        "download", "interrupted", 130)
    wait_for(lambda: dead(int(pidfile.read_text())), 5)
    stand_in = next(c for c in ws.calls() if "download_weights" in c["argv"][-1])
    wait_for(lambda: dead(stand_in["pid"]), 5)
    assert not any("compile_deepgemm" in c for c in ws.commands())


def test_lock_prevents_a_second_concurrent_deploy(ws):
    pidfile = ws.root / "grandchild.pid"
    ws.config["rules"] = [{"match": "download_weights", "sleep": 60,
                           "grandchild_pidfile": str(pidfile)}]
    first = ws.start()
    try:
        wait_for(pidfile.exists)
        second = ws.deploy()
        assert second.returncode == 1
        assert "another deploy of this app is running" in second.stderr
        assert f"pid {first.pid}" in second.stderr
        assert_no_traceback(second)
    finally:
        first.send_signal(signal.SIGINT)
        first.communicate(timeout=15)
    # The second attempt ran nothing and recorded nothing of its own.
    assert {r["run"] for r in ws.records()} == {ws.records()[0]["run"]}


def test_a_lock_left_by_a_dead_process_is_reported_and_taken_over(ws):
    gone = subprocess.Popen(["true"])
    gone.wait()
    (ws.root / "runs").mkdir()
    (ws.root / "runs" / f"{APP}.lock").write_text(f"{gone.pid}\n")
    proc = ws.deploy(only_step="volumes")
    assert proc.returncode == 0, proc.stderr
    assert f"was left by pid {gone.pid}, which is no longer running" in proc.stdout


# --- preflight -------------------------------------------------------------------------------


def test_missing_secret_stops_in_preflight_before_anything_changes(ws):
    ws.config["secrets"] = ["huggingface-secret"]
    proc = ws.deploy()
    assert proc.returncode == 1
    assert "preflight failed: Modal Secret glm51-api-key not found" in proc.stderr
    assert main_commands(ws) == []
    assert [r["name"] for r in ws.last_run()] == ["preflight"]


def test_stale_steps_are_refused_with_make_render(ws):
    assert ws.deploy(dry_run=True).returncode == 0  # renders steps.json
    spec = ws.root / SPEC
    spec.write_text(spec.read_text().replace("max_replicas: 3", "max_replicas: 2"))
    for dry_run in (False, True):
        proc = ws.deploy(render=False, dry_run=dry_run)
        assert proc.returncode == 1
        assert "stale" in proc.stderr and "run `make render`" in proc.stderr
        assert_no_traceback(proc)
    assert ws.calls() == []


def test_a_runtime_file_other_than_the_installed_one_is_refused(ws):
    """The runtime file ships with every app: one left by another servespec, or edited, stops
    the deploy in preflight, before anything changes, naming the file and the remedy."""
    assert ws.deploy(dry_run=True).returncode == 0  # renders steps.json and the runtime file
    runtime = ws.root / "rendered" / "_runtime" / "servespec_runtime.py"
    runtime.write_text(runtime.read_text() + "# edited\n")
    proc = ws.deploy(render=False)
    assert proc.returncode == 1, proc.stderr
    assert ("preflight failed: rendered/_runtime/servespec_runtime.py differs from the runtime "
            "servespec ") in proc.stderr and "run `make render`" in proc.stderr
    assert main_commands(ws) == [] and ws.calls() == []
    runtime.unlink()
    proc = ws.deploy(render=False)
    assert proc.returncode == 1 and "servespec_runtime.py is missing" in proc.stderr


def test_missing_steps_is_one_sentence(ws):
    proc = ws.deploy(render=False)
    assert proc.returncode == 1
    assert proc.stderr.strip() == (
        f"servespec deploy: no steps at rendered/{APP}/steps.json; run `make render` first")


def test_real_modal_cli_without_token_stops_in_preflight(ws, tmp_path):
    """No stand-in: the real modal 1.6.4 CLI, no MODAL_* variables, HOME empty (no
    ~/.modal.toml), and PATH without the stand-ins (the runner finds the venv's modal)."""
    venv_modal = Path(sys.executable).parent / "modal"
    assert venv_modal.exists()
    env = {k: v for k, v in ws.env.items()
           if not k.startswith("MODAL_") or k.startswith("MODAL_PROXY_")}
    env.update(HOME=str(tmp_path / "empty-home"), PATH="/usr/bin:/bin")
    (tmp_path / "empty-home").mkdir()
    ws.env = env
    proc = ws.deploy(timeout=90)
    assert proc.returncode == 1
    assert_no_traceback(proc)
    failure = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(failure) == 1, proc.stderr
    assert failure[0].startswith("preflight failed: Modal is not usable from here: "
                                 "`modal token info` failed (Token missing)")
    assert failure[0].count(". ") == 0 and failure[0].endswith(".")  # one sentence
    assert "the modal CLI is installed and is version 1.6.4" in proc.stdout  # the real one ran
    assert ws.calls() == []  # the stand-in was never reached
    assert [(r["name"], r["status"]) for r in ws.records()] == [("preflight", "failed")]
    assert "▶ volumes" not in proc.stdout


# --- secrets ---------------------------------------------------------------------------------


def test_planted_secrets_never_appear_in_output_or_records(ws):
    leak = {"print_env": ["SGLANG_API_KEY", "MODAL_TOKEN_SECRET"]}
    ws.config["rules"] = [
        {"match": "download_weights", **leak, "lines": [f"token={PLANTED_TOKEN}"]},
        {"match": "compile_deepgemm", **leak, "exit": 1, "lines": [f"key {PLANTED_KEY} bad"]},
    ]
    outputs = []
    for kwargs in ({"dry_run": True}, {"dry_run": True, "fmt": "json"}, {}, {"fmt": "json"}):
        proc = ws.deploy(**kwargs)
        outputs += [proc.stdout, proc.stderr]
    outputs.append((ws.root / "runs" / f"{APP}.jsonl").read_text())
    everything = "\n".join(outputs)
    assert PLANTED_KEY not in everything and PLANTED_TOKEN not in everything
    assert PROXY_SECRET not in everything and PROXY_ID not in everything
    # The modal CLI's own token reaches `modal run` (and is redacted there); the API key does
    # not reach it at all (test_a_step_gets_only_the_secrets_it_reads).
    assert "MODAL_TOKEN_SECRET=***" in everything and "key *** bad" in everything
    # The stand-in really got the values (so the test would catch a leak).
    assert any("compile_deepgemm" in c for c in ws.commands())


def test_a_step_gets_only_the_secrets_it_reads(ws):
    """The child environment: `modal` commands get the modal CLI's own token and no other
    secret-looking variable; `servespec smoke` gets the API key and proxy-token variables it
    names; SERVESPEC_BENCH (which makes the jobs app copy the proxy token into a Secret)
    reaches nothing."""
    ws.env.update({"SERVESPEC_BENCH": "1", "SERVESPEC_EVAL": "1", "HF_TOKEN": "hf_planted_0a1b",
                   "OPENAI_API_KEY": "sk-x1",
                   "AWS_SECRET_ACCESS_KEY": "planted", "PLAIN_SETTING": "kept"})
    proc = ws.deploy()
    assert proc.returncode == 0, proc.stderr
    calls = ws.calls()
    modal_calls = [c for c in calls if c["prog"] == "modal"]
    smoke = [c for c in calls if c["prog"] == "servespec"]
    assert modal_calls and smoke
    dropped = {"SERVESPEC_BENCH", "SERVESPEC_EVAL", "HF_TOKEN", "OPENAI_API_KEY",
               "AWS_SECRET_ACCESS_KEY"}
    for call in calls:
        names = set(call["env_names"])
        assert not names & dropped, (call["argv"], names & dropped)
        assert "PLAIN_SETTING" in names
    for call in modal_calls:
        names = set(call["env_names"])
        assert {"MODAL_TOKEN_ID", "MODAL_TOKEN_SECRET"} <= names
        assert not names & {"SGLANG_API_KEY", "MODAL_PROXY_TOKEN_ID", "MODAL_PROXY_TOKEN_SECRET"}
    assert {"SGLANG_API_KEY", "MODAL_PROXY_TOKEN_ID",
            "MODAL_PROXY_TOKEN_SECRET"} <= set(smoke[0]["env_names"])


def test_the_modal_cli_s_own_credentials_are_the_ones_kept():
    """MODAL_CLIENT_SECRETS is every secret-looking variable modal 1.6.4's config reads
    (modal/config.py: MODAL_<KEY> for each setting)."""
    from modal.config import _SETTINGS

    from renderer.run.process import MODAL_CLIENT_SECRETS
    from renderer.runtime.redact import looks_secret

    read = {f"MODAL_{key.upper()}" for key in _SETTINGS}
    assert {name for name in read if looks_secret(name)} == MODAL_CLIENT_SECRETS


def test_missing_proxy_token_stops_in_preflight_naming_the_variable(ws):
    del ws.env["MODAL_PROXY_TOKEN_SECRET"]
    proc = ws.deploy()
    assert proc.returncode == 1
    assert "preflight failed: set MODAL_PROXY_TOKEN_SECRET to a Modal Proxy Auth Token" in proc.stderr
    assert PROXY_ID not in proc.stdout + proc.stderr
    assert not any("volume create" in c or c.startswith("modal run") for c in ws.commands())


def test_wait_sends_the_proxy_token_and_fails_without_the_right_one(ws, health):
    """The health server answers 401 unless Modal-Key/Modal-Secret match: a wrong token
    never turns healthy (the wait step times out), the right one passes (other tests)."""
    ws.env["MODAL_PROXY_TOKEN_SECRET"] = "ws-wrong-secret"
    proc = ws.deploy(steps={**FAST["steps"], "COLD_START_MARGIN": 1 - 3600})
    assert proc.returncode == 1
    assert "last answer: HTTP 401" in proc.stderr
    assert "ws-wrong-secret" not in proc.stdout + proc.stderr


def test_wait_reports_progress_while_the_replica_loads(ws):
    ws.health.loading_answers = 3
    proc = ws.deploy(only_step="wait", run={**FAST["run"], "PROGRESS_EVERY_SECONDS": 0.0})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("still loading: HTTP 503 after") == 3
    assert "healthy after 4 attempt(s)" in proc.stdout
