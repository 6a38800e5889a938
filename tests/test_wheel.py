"""The wheel works anywhere: built from this tree, installed (not editable) into a fresh venv,
then used from an empty folder the way a user would, with no traceback anywhere. An editable
install (what the Makefile makes) is checked the same way.

The wheel's venv has no access to this repository: the commands run from a temporary folder, and
the test checks that `renderer` is imported from the venv's site-packages and reads the packaged
templates and schema. Dependencies come from the package index pip is configured with (this
machine's local mirror, else PyPI).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from renderer import __version__

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = "specs/glm51-fp8-b200.yaml"
# Needs more than the dev extras: a package index (this machine's mirror or PyPI) for the build
# backend and the fresh venv's dependencies, and ~20 s. `make test` runs it; -m "not envs" not.
pytestmark = pytest.mark.envs


def run(argv: list, cwd: Path, env: dict, timeout: float = 300) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(a) for a in argv], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout, check=False)
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    return proc


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict:
    """A fresh venv holding the wheel; returns its bin folder and a clean environment."""
    tmp = tmp_path_factory.mktemp("wheel")
    # Build from a copy, so the build leaves nothing in the working tree (build/, egg-info).
    src = tmp / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    for folder in ("renderer", "servespec", "templates"):
        shutil.copytree(ROOT / folder, src / folder, ignore=shutil.ignore_patterns("__pycache__"))
    (src / "specs").mkdir()
    shutil.copy(ROOT / "specs" / "schema.json", src / "specs" / "schema.json")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    built = run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", tmp / "dist",
                 src], tmp, env)
    assert built.returncode == 0, built.stderr
    wheel = next((tmp / "dist").glob("servespec-*.whl"))
    venv = tmp / "venv"
    assert run([sys.executable, "-m", "venv", venv], tmp, env).returncode == 0
    bin_dir = venv / "bin"
    done = run([bin_dir / "python", "-m", "pip", "install", "--quiet", wheel], tmp, env)
    assert done.returncode == 0, done.stderr
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    return {"bin": bin_dir, "env": env, "home": tmp}


def test_the_installed_package_is_the_wheel_not_this_tree(installed, tmp_path):
    code = ("import renderer, renderer.paths as p; "
            "print(renderer.__file__); print(p.TEMPLATES); print(p.SCHEMA)")
    proc = run([installed["bin"] / "python", "-c", code], tmp_path, installed["env"])
    assert proc.returncode == 0
    for line in proc.stdout.splitlines():
        assert "site-packages" in line and str(ROOT) not in line, line
    version = run([installed["bin"] / "servespec", "--version"], tmp_path, installed["env"])
    assert version.stdout.strip().endswith(__version__)


def test_init_validate_render_estimate_from_an_empty_folder(installed, tmp_path):
    env, servespec = installed["env"], installed["bin"] / "servespec"
    init = run([servespec, "init", "demo"], tmp_path, env)
    assert init.returncode == 0, init.stderr
    demo = tmp_path / "demo"
    for argv in (["validate"], ["render"], ["estimate"], ["render", "--verify"]):
        proc = run([servespec, *argv], demo, env)
        assert proc.returncode == 0, (argv, proc.stderr)
    name = Path(EXAMPLE).stem
    for artifact in ("deploy.py", "jobs.py", "sglang.args", "steps.json", "spec.resolved.yaml"):
        # The same spec renders to the same bytes as this repository's committed artifacts.
        assert (demo / "rendered" / name / artifact).read_bytes() == (
            ROOT / "rendered" / name / artifact).read_bytes(), artifact
    # So does the runtime file every app attaches, from the runtime package inside the wheel.
    runtime = Path("_runtime") / "servespec_runtime.py"
    assert (demo / "rendered" / runtime).read_bytes() == (ROOT / "rendered" / runtime).read_bytes()
    estimate = run([servespec, "estimate"], demo, env)
    assert "weights" in estimate.stdout and "KV" in estimate.stdout


def test_the_ci_workflow_installs_the_package_and_its_steps_pass(installed, tmp_path):
    """Every step of the scaffolded workflow's main job after its install step, run here with the
    wheel's servespec; a hand edit in rendered/ then fails the verify step."""
    env = installed["env"]
    assert run([installed["bin"] / "servespec", "init", tmp_path], tmp_path, env).returncode == 0
    workflow = yaml.safe_load((tmp_path / ".github/workflows/servespec.yml").read_text())
    # The install step reads ci/servespec-requirement.txt (test_the_scaffold_ci_passes_on_a_fresh_clone
    # runs it); here servespec is already installed from the wheel.
    steps = [s["run"] for s in workflow["jobs"]["verify"]["steps"] if "run" in s]
    assert steps[0] == "bash ci/install-servespec.sh"
    env = {**env, **workflow["env"]}  # the workflow's SERVESPEC: the servespec on PATH
    assert workflow["jobs"]["sglang-parser"]["steps"][-2]["run"] == steps[0]
    assert workflow["jobs"]["sglang-parser"]["steps"][-1]["run"] == "bash ci/sglang-parse.sh"
    assert "if" in workflow["jobs"]["sglang-parser"], "the parser job must stay optional"
    run([installed["bin"] / "servespec", "render"], tmp_path, env)
    for step in steps[1:]:
        proc = run(["bash", "-c", step], tmp_path, env)
        assert proc.returncode == 0, (step, proc.stdout, proc.stderr)
    # A hand edit in rendered/ fails the verify step with a diff.
    args = tmp_path / "rendered" / Path(EXAMPLE).stem / "sglang.args"
    args.write_text(args.read_text().replace("--port 8000", "--port 8001"))
    proc = run(["bash", "-c", steps[-1]], tmp_path, env)
    assert proc.returncode != 0 and "---port 8001" in proc.stdout  # committed side of the diff


def render_every_spec(servespec: Path, env: dict, tmp_path: Path) -> None:
    """Render a copy of this repository's specs/ with `servespec` and compare every artifact with
    the committed rendered/ tree."""
    work = tmp_path / "repo"
    shutil.copytree(ROOT / "specs", work / "specs")
    proc = run([servespec, "render"], work, env)
    assert proc.returncode == 0, proc.stderr
    committed = sorted(p.relative_to(ROOT) for p in (ROOT / "rendered").rglob("*") if p.is_file())
    # sglang.resolved.json is written by `render --resolve` (the SGLang env): the installed
    # servespec must find the committed ones current, digest and all.
    resolved = [rel for rel in committed if rel.name == "sglang.resolved.json"]
    assert resolved
    for rel in committed:
        if rel in resolved:
            shutil.copy(ROOT / rel, work / rel)
        assert (work / rel).read_bytes() == (ROOT / rel).read_bytes(), rel
    proc = run([servespec, "render", "--verify"], work, env)
    assert proc.returncode == 0, proc.stderr


def test_the_wheel_renders_every_spec_as_committed(installed, tmp_path):
    render_every_spec(installed["bin"] / "servespec", installed["env"], tmp_path)


def test_an_editable_install_renders_every_spec_as_committed(tmp_path):
    """`pip install -e .` (the Makefile's install): renderer imports from this checkout and reads
    the top-level templates/ and specs/schema.json, not a copy."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    venv = tmp_path / "venv"
    assert run([sys.executable, "-m", "venv", venv], tmp_path, env).returncode == 0
    done = run([venv / "bin" / "python", "-m", "pip", "install", "--quiet", "-e", ROOT],
               tmp_path, env)
    assert done.returncode == 0, done.stderr
    code = "import renderer.paths as p; print(p.TEMPLATES); print(p.SCHEMA)"
    where = run([venv / "bin" / "python", "-c", code], tmp_path, env).stdout.split()
    assert where == [str(ROOT / "templates"), str(ROOT / "specs" / "schema.json")]
    render_every_spec(venv / "bin" / "servespec", env, tmp_path)


def test_the_scaffold_ci_passes_on_a_fresh_clone(installed, tmp_path):
    """`servespec init --servespec <the wheel>` from the installed package, committed and cloned;
    then what the scaffold's workflow runs: ci/install-servespec.sh, make validate, make verify."""
    wheel = next((installed["home"] / "dist").glob("servespec-*.whl"))
    env, bin_dir = installed["env"], installed["bin"]
    repo, clone = tmp_path / "repo", tmp_path / "clone"
    made = run([bin_dir / "servespec", "init", repo, "--servespec", wheel], tmp_path, env)
    assert made.returncode == 0, made.stderr
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    for argv in (["git", "init", "-q"], [*git, "add", "-A"], [*git, "commit", "-qm", "scaffold"]):
        assert run(argv, repo, env).returncode == 0
    assert run(["git", "clone", "-q", repo, clone], tmp_path, env).returncode == 0
    install = run(["bash", "ci/install-servespec.sh"], clone, {**env, "PYTHON": bin_dir / "python"})
    assert install.returncode == 0, install.stderr
    for target in ("validate", "verify"):
        proc = run(["make", target, f"SERVESPEC={bin_dir / 'servespec'}"], clone, env)
        assert proc.returncode == 0, (target, proc.stdout, proc.stderr)
