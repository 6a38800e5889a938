"""Property: hostile strings in any free-text field arrive in the rendered files as literal values
and never change the structure of the program (checked with ast), the argument list (shlex) or
the resolved spec (YAML)."""

from __future__ import annotations

import ast
import json
import shlex
import shutil
from pathlib import Path

from conftest import ROOT
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from renderer.pipeline import read_spec
from renderer.render.artifacts import render_files
from renderer.spec.load import load

HOSTILE = st.one_of(
    st.sampled_from(['"', "'", '"""', "'''", "\\", "\n", "\r\n", "{{ app }}", "{% if 1 %}x{% endif %}",
                     "${HOME}", "$(rm -rf /)", "`id`", "ü – 漢字 🚀", "\u2028", "\x0b\x0c", "# x",
                     '"); import os; os.system("id"); ("', "\\n", "\t", " lead", "trail ", "*", "&x"]),
    st.text(min_size=1, max_size=40),
)
# (path in the spec, how to make the hostile text acceptable there)
FIELDS = {
    ("description",): lambda t: t,
    ("model", "revision"): lambda t: t,
    ("model", "served_name"): lambda t: t,
    ("engine", "image"): lambda t: "registry.example/sglang:v1" + t.replace("@", "_"),
    ("engine", "env", "SGLANG_EXTRA_NOTE"): lambda t: t,
    ("download", "ignore_patterns"): lambda t: [t],
    ("hardware", "region"): lambda t: t,
}
BASE = load(ROOT / "specs" / "glm51-fp8-b200.yaml").data


def structure(tree: ast.Module) -> list:
    """Top-level shape of a module: statement kinds and the names they bind, decorators included."""
    shape = []
    for node in tree.body:
        names = [t.id for t in getattr(node, "targets", []) if isinstance(t, ast.Name)]
        names += [node.name] if hasattr(node, "name") else []
        decorators = [ast.dump(d, include_attributes=False)[:40] for d in getattr(node, "decorator_list", [])]
        shape.append((type(node).__name__, names, len(decorators)))
    return shape


def constants(tree: ast.Module) -> dict:
    out = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            try:
                out[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                pass
    return out


def set_path(data: dict, path: tuple, value) -> None:
    for part in path[:-1]:
        data = data.setdefault(part, {})
    data[path[-1]] = value


def render_with(tmp: Path, path: tuple, value):
    data = json.loads(json.dumps(BASE))
    data["model"]["facts"] = str(ROOT / "specs/models/glm-5.1-fp8.yaml")
    set_path(data, path, value)
    spec = tmp / "hostile.yaml"
    # JSON is YAML 1.2: json.dumps quotes every string exactly.
    spec.write_text(json.dumps(data, ensure_ascii=False))
    return read_spec(spec)


BASELINE_SHAPE = None


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(field=st.sampled_from(sorted(FIELDS)), text=HOSTILE)
def test_hostile_strings_stay_literal(tmp_path, field, text):
    global BASELINE_SHAPE
    if BASELINE_SHAPE is None:
        baseline = render_with(tmp_path, ("description",), "plain")
        BASELINE_SHAPE = shapes(render_files(baseline))
    value = FIELDS[field](text)
    result = render_with(tmp_path, field, value)
    if result.failed():  # the schema or a rule refused the value: that is an answer too
        assert result.findings
        return
    files = render_files(result)
    assert shapes(files) == BASELINE_SHAPE
    consts = {**constants(ast.parse(files["deploy.py"])), **constants(ast.parse(files["jobs.py"]))}
    spec = result.spec
    assert list(consts["DOWNLOADS"][0])[1] == spec["model"]["revision"]
    assert consts["IGNORE_PATTERNS"] == spec["download"]["ignore_patterns"]
    args = consts["SGLANG_ARGS"]
    assert args[args.index("--served-model-name") + 1] == spec["model"]["served_name"]
    assert args[args.index("--model-path") + 1].endswith("/" + spec["model"]["revision"])
    lines = [ln for ln in files["sglang.args"].splitlines() if ln and not ln.startswith("#")]
    assert [tok for ln in lines for tok in shlex.split(ln)] == args
    assert all(ln.startswith("--") for ln in lines)
    import yaml

    resolved = yaml.safe_load(files["spec.resolved.yaml"])
    assert resolved == spec
    json.loads(files["steps.json"])
    for app_file in APP_FILES:
        compile(files[app_file], app_file, "exec")


APP_FILES = ("deploy.py", "jobs.py")  # the serving app and the jobs app


def shapes(files: dict) -> list:
    return [structure(ast.parse(files[name])) for name in APP_FILES]


NASTY = ['"""', "'''", "\\", '"); import os; os.system("id"); ("', "{{ app }}", "{% raw %}",
         "ü – 漢字 🚀", "$(id)", "`id`", "# not a comment", "a'b\"c"]


def test_free_text_fields_accept_nasty_strings_and_keep_them_literal(tmp_path):
    """Not vacuous: these fields accept the nastiest strings, which must all render literally."""
    for text in NASTY:
        for field in (("description",), ("engine", "env", "SGLANG_NOTE"), ("download", "ignore_patterns")):
            value = [text] if field[-1] == "ignore_patterns" else text
            result = render_with(tmp_path, field, value)
            assert not result.failed(), [f.format() for f in result.findings]
            files = render_files(result)
            assert shapes(files) == shapes(render_files(render_with(tmp_path, ("description",), "plain")))
            if field[0] == "download":
                assert constants(ast.parse(files["jobs.py"]))["IGNORE_PATTERNS"] == [text]
            if field[0] == "engine":
                assert f"{json.dumps(text, ensure_ascii=False)}" in files["deploy.py"] or repr(text) in files["deploy.py"]


def test_control_characters_are_refused_where_they_would_break_a_line(tmp_path):
    for field in (("model", "served_name"), ("model", "revision"), ("description",)):
        result = render_with(tmp_path, field, "x\ny")
        assert result.failed() and any(f.rule == "schema/pattern" for f in result.findings)


def test_a_template_fault_is_one_sentence_and_keeps_earlier_artifacts(tmp_path, monkeypatch):
    """A template that fails (here: a real Jinja template naming a field the Deployment lacks)
    makes `servespec render` report the spec and the artifact in one line, exit non-zero and
    leave what an earlier render wrote as it was. The only stand-in is the template folder."""
    from click.testing import CliRunner

    from renderer.cli.main import main
    from renderer.render import artifacts as render

    spec, out = ROOT / "specs" / "examples" / "qwen3-8b-l40s.yaml", tmp_path / "out"
    assert CliRunner().invoke(main, ["render", "--out", str(out), str(spec)]).exit_code == 0
    before = {p.name: p.read_text() for p in (out / spec.stem).iterdir()}
    broken = tmp_path / "templates"
    shutil.copytree(render.TEMPLATES, broken)
    text = (render.TEMPLATES / "deploy.py.j2").read_text()
    (broken / "deploy.py.j2").write_text(text.replace("{{ dep.app | py }}", "{{ dep.no_such | py }}", 1))
    monkeypatch.setattr(render, "TEMPLATES", broken)
    render._environment.cache_clear()
    try:
        result = CliRunner().invoke(main, ["render", "--out", str(out), str(spec)])
    finally:
        render._environment.cache_clear()
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit)  # a clean exit, not an escaped error
    [line] = [x for x in result.output.splitlines() if "cannot render" in x]
    assert "qwen3-8b-l40s.yaml: cannot render deploy.py: UndefinedError:" in line
    assert "'no_such'" in line and "earlier artifacts kept" in line
    assert {p.name: p.read_text() for p in (out / spec.stem).iterdir()} == before
