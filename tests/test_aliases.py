"""The old spellings keep working for one release (issue 11's renames), each saying so:
`servespec plan` (now `estimate`), `servespec render --check` (now `--verify`), `make plan` and
`make check` (now `make estimate` and `make verify`)."""

from __future__ import annotations

import re

from click.testing import CliRunner
from conftest import DEFAULT_SPEC, ROOT

from renderer.cli.main import main


def invoke(*args: str):
    return CliRunner().invoke(main, list(args))


def test_plan_is_estimate_and_says_it_is_deprecated():
    old, new = invoke("plan", str(DEFAULT_SPEC)), invoke("estimate", str(DEFAULT_SPEC))
    assert old.exit_code == new.exit_code == 0
    assert "servespec plan is deprecated: use `servespec estimate`" in old.output
    assert new.output in old.output  # the same figures
    assert "plan" not in invoke("--help").output.split("Commands:")[1]  # hidden


def test_render_check_is_render_verify(monkeypatch):
    monkeypatch.chdir(ROOT)  # --verify compares with the committed rendered/
    for flag in ("--check", "--verify"):
        result = invoke("render", flag, str(DEFAULT_SPEC))
        assert result.exit_code == 0, result.output
        assert "up to date" in result.output
    assert "render --check is deprecated" in invoke("render", "--check", str(DEFAULT_SPEC)).output


def test_make_keeps_the_old_target_names():
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^check: verify\b", makefile, re.MULTILINE)
    assert re.search(r"^plan: estimate\b", makefile, re.MULTILINE)
