"""`servespec init`: what it writes, that it never overwrites, and that its files stay in step
with this repository (the example spec and facts are copies of specs/; the schema is the
packaged one). The wheel test (tests/test_wheel.py) runs the scaffold from an installed wheel."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from renderer.cli.main import main
from renderer.scaffold import write as init

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("SERVESPEC_SGLANG_ENV_ROOT", ROOT / ".cache"))


def invoke(*args: str):
    result = CliRunner().invoke(main, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result


def test_init_writes_the_scaffold_and_says_what_is_next(tmp_path):
    result = invoke("init", str(tmp_path / "repo"))
    assert result.exit_code == 0
    written = sorted(str(p.relative_to(tmp_path / "repo")) for p in (tmp_path / "repo").rglob("*")
                     if p.is_file() and p.parts[len(tmp_path.parts) + 1] != "rendered")
    assert written == sorted(init.FILES)
    # The example is rendered too, so a fresh clone of the scaffold passes its CI.
    assert (tmp_path / "repo" / "rendered" / "glm51-fp8-b200" / "deploy.py").is_file()
    assert "FILL-IN" in (tmp_path / "repo" / "ci" / "servespec-requirement.txt").read_text()
    assert "make render" in result.output
    assert os.access(tmp_path / "repo" / "ci" / "sglang-parse.sh", os.X_OK)
    spec = (tmp_path / "repo" / "specs" / "glm51-fp8-b200.yaml").read_text()
    assert spec.startswith("# yaml-language-server: $schema=schema.json\n")
    makefile = (tmp_path / "repo" / "Makefile").read_text()
    for target in ("render:", "verify:", "deploy:"):
        assert f"\n{target}" in makefile


@pytest.mark.parametrize("existing", sorted(init.FILES))
def test_init_refuses_to_overwrite_any_file_and_writes_nothing(tmp_path, existing):
    (tmp_path / existing).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / existing).write_text("mine\n")
    result = invoke("init", str(tmp_path))
    assert result.exit_code == 1
    assert f"{tmp_path / existing} already exists" in result.output
    assert "nothing was written" in result.output
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == [tmp_path / existing]
    assert (tmp_path / existing).read_text() == "mine\n"


def test_init_refuses_a_file_as_target(tmp_path):
    (tmp_path / "x").write_text("")
    result = invoke("init", str(tmp_path / "x"))
    assert result.exit_code != 0 and "Traceback" not in result.output


def test_init_into_a_folder_it_cannot_make_is_one_sentence(tmp_path):
    # /proc refuses new folders even to root, so this fails the same way for every user.
    result = invoke("init", "/proc/servespec-demo")
    assert result.exit_code == 1
    assert result.output.startswith("servespec init: cannot write /proc/servespec-demo")
    assert "Traceback" not in result.output


def test_init_here_says_make_render_without_cd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke("init")
    assert result.exit_code == 0
    assert "next: make render" in result.output and "cd ." not in result.output


@pytest.mark.parametrize("rel", ["specs/glm51-fp8-b200.yaml", "specs/models/glm-5.1-fp8.yaml",
                                 "specs/schema.json"])
def test_scaffold_copies_match_this_repository(rel):
    """The example is this project's own spec: when specs/ changes, copy it into the scaffold
    (cp specs/X renderer/scaffold/files/specs/X); the schema is copied from the package itself."""
    assert init.FILES[rel].read_text() == (ROOT / rel).read_text(), (
        f"renderer/scaffold/files/{rel} is stale: cp {rel} renderer/scaffold/files/{rel}")


@pytest.mark.envs
def test_the_optional_ci_job_parses_every_args_file_with_the_real_parser(tmp_path):
    """ci/sglang-parse.sh against the SGLang env `make envs` built (the job builds the same with
    pip); a flag SGLang does not know fails it, naming the flag."""
    assert invoke("init", str(tmp_path)).exit_code == 0
    assert invoke("render", "--out", str(tmp_path / "rendered"),
                  str(tmp_path / "specs" / "glm51-fp8-b200.yaml")).exit_code == 0
    env = {**os.environ, "SGLANG_ENV_DIR": str(CACHE), "PYTHON": sys.executable}
    proc = subprocess.run(["bash", "ci/sglang-parse.sh"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    assert '"ok": true' in proc.stdout and "SGLang 0.5.23" in proc.stdout
    args = tmp_path / "rendered" / "glm51-fp8-b200" / "sglang.args"
    args.write_text(args.read_text() + "--no-such-flag 1\n")
    proc = subprocess.run(["bash", "ci/sglang-parse.sh"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 1 and "--no-such-flag" in proc.stdout


def test_the_install_placeholder_fails_loudly_and_the_readme_has_the_checklist(tmp_path):
    assert invoke("init", str(tmp_path)).exit_code == 0
    proc = subprocess.run(["bash", "ci/install-servespec.sh"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60, check=False)
    assert proc.returncode == 1 and "ci/servespec-requirement.txt" in proc.stderr
    readme = (tmp_path / "README.md").read_text()
    for item in ("Secrets", "API key", "Proxy auth token", "hf_token_secret", "make deploy SPEC="):
        assert item in readme, item


def test_init_writes_the_requirement_it_is_given(tmp_path):
    req = "servespec @ git+https://example.org/servespec@v1.2.3"
    assert invoke("init", str(tmp_path), "--servespec", req).exit_code == 0
    assert req in (tmp_path / "ci" / "servespec-requirement.txt").read_text()
