"""Shared helpers: the repository root, running the real `servespec` CLI, writing specs."""

from __future__ import annotations

import compileall
import json
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Fixtures that hand out an environment `make envs` builds under .cache/ (the real SGLang parser
# envs, the KV-sizing overlay, the bench env, the smoke server). A test using one, or calling
# one of the ENV_HELPERS directly, is marked `envs` here, so `pytest -m "not envs"` runs
# everything else on a fresh venv with the dev extras only; a test that reaches an env some
# other way carries @pytest.mark.envs itself. `make test-no-envs` on a clean clone (CI runs it
# before `make envs`) fails on a test that needs an env and is not marked.
ENV_FIXTURES = {"sglang_env", "parsers_json", "sglang_python", "server_python", "model_dirs",
                "reasoner_server", "plain_server", "bench_env", "resolve_env", "eval_env"}
ENV_HELPERS = {"sglang_python", "parse_args_files", "parse_compile_argv"}  # tests/test_render.py
DEFAULT_SPEC = ROOT / "specs" / "glm51-fp8-b200.yaml"
# The smoke server's env (transformers, CPU torch): tests/test_smoke.py serves from it, and
# tests/test_model_facts.py reads configs with its transformers.
SMOKE_ENV_SCRIPT = ROOT / "tools" / "smoke-server-env.sh"
SERVER_ENV = Path(os.environ.get("SERVESPEC_SMOKE_SERVER_ENV", ROOT / ".cache" / "smoke-server"))
ENV_BUILD_TIMEOUT = 1500  # seconds; a cold build takes about 40 s here
SERVESPEC = [sys.executable, "-m", "renderer.cli"]


def pytest_sessionstart(session):
    """Compile the package, the tools and the test helpers once. Most tests start servespec,
    the stand-in modal or a tool in a subprocess; where PYTHONDONTWRITEBYTECODE is set (it is on
    the development machines) each of those would otherwise compile every module it imports
    again, which costs the fast suite (`pytest -m "not envs"`) about a tenth of its time."""
    for folder in ("renderer", "servespec", "tools", "tests"):
        compileall.compile_dir(ROOT / folder, quiet=1)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A skipped test fails: this suite tests the real thing or says why it cannot (`make test`
    runs everything; leaving tests out is what -m "not envs" is for, and it says how many)."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped, but no test may skip: {report.longrepr}"


_DESELECTED: list = []


def pytest_deselected(items):
    _DESELECTED.extend(items)


def pytest_sessionfinish(session):
    """On an xdist worker: hand the deselected count to the controller (next hook)."""
    if hasattr(session.config, "workeroutput"):
        session.config.workeroutput["deselected"] = len(_DESELECTED)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    """On the xdist controller: every worker deselects the same tests, so the first count to
    arrive is the count. Put it where the summary line reads it ("N passed, M deselected")."""
    reporter = node.config.pluginmanager.get_plugin("terminalreporter")
    count = getattr(node, "workeroutput", {}).get("deselected", 0)
    if reporter is not None and count and "deselected" not in reporter.stats:
        # Plugins walk these entries as reports (hypothesis reads each one's __dict__).
        reporter.stats["deselected"] = [types.SimpleNamespace() for _ in range(count)]


def pytest_collection_modifyitems(config, items):
    for item in items:
        code = getattr(getattr(item, "function", None), "__code__", None)
        if (ENV_FIXTURES & set(getattr(item, "fixturenames", ()))
                or (code is not None and ENV_HELPERS & set(code.co_names))):
            item.add_marker(pytest.mark.envs)


def run_cli(*args: str, cwd: Path = ROOT, env: dict | None = None, timeout: float = 60):
    """Run the real command line in a subprocess, as a user would."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([*SERVESPEC, *args], cwd=cwd, env=full_env, capture_output=True,
                          text=True, timeout=timeout, check=False)


def findings_of(*args: str, cwd: Path = ROOT) -> tuple[int, list[dict]]:
    proc = run_cli("validate", "--format", "json", *args, cwd=cwd)
    assert "Traceback" not in proc.stderr, proc.stderr
    payload = json.loads(proc.stdout)
    return proc.returncode, [f for spec in payload["specs"] for f in spec["findings"]]


@pytest.fixture
def spec_dir(tmp_path: Path) -> Path:
    """A temporary specs/ folder holding a copy of the default spec and its model facts."""
    (tmp_path / "specs" / "models").mkdir(parents=True)
    for rel in ("specs/glm51-fp8-b200.yaml", "specs/models/glm-5.1-fp8.yaml", "specs/schema.json"):
        (tmp_path / rel).write_text((ROOT / rel).read_text())
    return tmp_path


def default_text() -> str:
    return DEFAULT_SPEC.read_text()


@pytest.fixture(scope="session")
def server_python() -> Path:
    """The smoke-server venv's Python; built (once) by tools/smoke-server-env.sh."""
    env = {**os.environ, "SERVESPEC_SMOKE_SERVER_ENV": str(SERVER_ENV)}
    try:
        proc = subprocess.run(
            ["bash", str(SMOKE_ENV_SCRIPT)],
            check=False,
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=ENV_BUILD_TIMEOUT,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"tools/smoke-server-env.sh did not finish within {ENV_BUILD_TIMEOUT}s")
    if proc.returncode != 0:
        pytest.fail(
            "could not build the smoke-server env with tools/smoke-server-env.sh "
            f"(exit {proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )
    python = SERVER_ENV / "bin" / "python"
    assert python.exists(), f"{python} is missing after tools/smoke-server-env.sh succeeded"
    return python
