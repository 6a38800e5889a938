"""Loading, schema validation and the command line: positions, hints, exit codes, no tracebacks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import ROOT, default_text, findings_of, run_cli

from renderer.pipeline import read_spec


def write_variant(spec_dir: Path, old: str, new: str, name: str = "variant.yaml") -> Path:
    text = default_text()
    assert old in text, old
    path = spec_dir / "specs" / name
    path.write_text(text.replace(old, new, 1))
    return path


def line_of(path: Path, needle: str) -> int:
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if needle in line:
            return number
    raise AssertionError(needle)


# --- the six rejections the issue names, through the real CLI ------------------------------------

@pytest.mark.parametrize(
    "old, new, needle, rule",
    [
        ("  max_replicas: 3", "  max_replica: 3", "max_replica: 3", "schema/unknown-field"),
        ("  port: 8000", "  port: 8000\n  port: 8001", "port: 8001", "duplicate-key"),
        ("  scaledown_window: 900", "  scaledown_window: fifteen", "scaledown_window: fifteen",
         "schema/type"),
        ("  tensor: 8", "  tensor: 4", "tensor: 4", "SS101"),
        ("  kv_cache: bf16", "  kv_cache: fp8_e4m3", "kv_cache: fp8_e4m3", "SS103"),
        ("  min_replicas: 0", "  min_replicas: 5", "min_replicas: 5", "SS107"),
    ],
)
def test_rejected_with_line_rule_and_exit_1(spec_dir, old, new, needle, rule):
    path = write_variant(spec_dir, old, new)
    proc = run_cli("validate", str(path), cwd=spec_dir)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    line = line_of(path, needle)
    assert f"specs/variant.yaml:{line}:" in proc.stderr, proc.stderr
    assert f"[{rule}]" in proc.stderr, proc.stderr


def test_typo_suggests_the_right_key(spec_dir):
    path = write_variant(spec_dir, "  max_replicas: 3", "  max_replica: 3")
    result = read_spec(path)
    (finding,) = [f for f in result.findings if f.rule == "schema/unknown-field"]
    assert finding.path == "scaling.max_replica"
    assert "did you mean 'max_replicas'" in finding.hint
    assert finding.position.col == 3


def test_default_spec_is_clean_and_cli_defaults_to_every_spec():
    proc = run_cli("validate")
    assert proc.returncode == 0, proc.stderr
    for spec in sorted((ROOT / "specs").glob("*.yaml")):
        assert f"specs/{spec.name}: ok" in proc.stderr


def test_strict_fails_the_unpinned_default_spec():
    code, findings = findings_of("--strict", "specs/glm51-fp8-b200.yaml")
    assert code == 1
    assert {"SS112", "SS113"} <= {f["rule"] for f in findings}


def test_usage_error_exits_2():
    assert run_cli("validate", "--no-such-option").returncode == 2
    assert run_cli("validate", "--format", "xml").returncode == 2


def test_json_findings_are_machine_readable(spec_dir):
    path = write_variant(spec_dir, "  tensor: 8", "  tensor: 2")
    code, findings = findings_of(str(path), cwd=spec_dir)
    assert code == 1
    (finding,) = [f for f in findings if f["rule"] == "SS101"]
    assert finding["line"] == line_of(path, "tensor: 2")
    assert finding["severity"] == "error" and finding["path"] == "parallelism.tensor"


# --- YAML 1.1 surprises become type errors, never silent coercion --------------------------------

@pytest.mark.parametrize(
    "old, new, rule, hint",
    [
        ('  python_version: "3.12"', "  python_version: 3.10", "schema/type", 'quote it: "3.10"'),
        ('  version: "0.5.23"', "  version: 0.5", "schema/type", "quote it"),
        ("  radix_cache: true", "  radix_cache: on", "schema/type", "write true or false"),
        ("  enable_metrics: true", "  enable_metrics: no", "schema/type", "write true or false"),
        ("  scaledown_window: 900", "  scaledown_window: 0o17", "schema/type", "plain decimal"),
        ("  scaledown_window: 900", "  scaledown_window: 017", "schema/type", "plain decimal"),
        ("  scaledown_window: 900", "  scaledown_window: 1_000", "schema/type", "without '_'"),
        ("  scaledown_window: 900", "  scaledown_window: 15:00", "schema/type", "without '_' or ':'"),
        # JSON Schema alone counts 8000.0 as an integer: it would render `--port 8000.0`
        ("  port: 8000", "  port: 8000.0", "schema/type", "write 8000"),
        ("  scaledown_window: 900", "  scaledown_window: 9e2", "schema/type", "write 900"),
    ],
)
def test_yaml11_surprises_are_type_errors(spec_dir, old, new, rule, hint):
    path = write_variant(spec_dir, old, new)
    result = read_spec(path)
    assert result.spec is None
    hits = [f for f in result.findings if f.rule == rule]
    assert hits and hits[0].position.line == line_of(path, new.strip())
    assert hint in hits[0].hint, hits[0].hint


def test_all_errors_reported_at_once_sorted_by_line(spec_dir):
    text = default_text()
    text = text.replace("  max_replicas: 3", "  max_replicas: three")
    text = text.replace("  gpu: B200", "  gpu: B300")
    text = text.replace("  served_name: glm-5.1", "  served_nam: glm-5.1")
    path = spec_dir / "specs" / "many.yaml"
    path.write_text(text)
    result = read_spec(path)
    lines = [f.position.line for f in result.findings]
    assert len(result.findings) >= 3
    assert lines == sorted(lines)
    assert {"schema/type", "schema/enum", "schema/unknown-field"} <= {f.rule for f in result.findings}


# --- files that are not specs ----------------------------------------------------------------------

@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "empty file"),
        (b"# only a comment\n", "empty file"),
        (b"- a\n- b\n", "top level is a list"),
        (b"just a string\n", "top level is a single value"),
        (b"a: [1, 2\n", "invalid YAML"),
        (b"a: 1\n---\nb: 2\n", "more than one YAML document"),
        (b"\x00\x01\x02binary", "binary data"),
        (b"\xff\xfe\xfa not utf8", "not UTF-8"),
        (b"a: &x [1]\nb: *y\n", "invalid YAML"),
        (b"a:\n\tb: 1\n", "invalid YAML"),
    ],
)
def test_non_specs_get_one_clear_error(tmp_path, content, message):
    path = tmp_path / "bad.yaml"
    path.write_bytes(content)
    proc = run_cli("validate", str(path), cwd=tmp_path)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert message in proc.stderr, proc.stderr
    assert "bad.yaml:" in proc.stderr


def test_oversized_file(tmp_path):
    path = tmp_path / "huge.yaml"
    path.write_text("a: " + "x" * (1024 * 1024) + "\n")
    proc = run_cli("validate", str(path), cwd=tmp_path)
    assert proc.returncode == 1 and "at most 1048576" in proc.stderr


def test_missing_file_and_directory(tmp_path):
    proc = run_cli("validate", str(tmp_path / "nope.yaml"), cwd=tmp_path)
    assert proc.returncode == 1 and "no such file" in proc.stderr and "Traceback" not in proc.stderr


def test_alias_bomb_is_bounded(tmp_path):
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [*a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}, "
              f"*a{i-1}, *a{i-1}, *a{i-1}]" for i in range(1, 9)]
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(lines) + "\n")
    proc = run_cli("validate", str(path), cwd=tmp_path, timeout=20)
    assert proc.returncode == 1 and "alias expansion" in proc.stderr


def test_merge_keys_and_tags_are_refused(tmp_path):
    path = tmp_path / "merge.yaml"
    path.write_text("base: &b {x: 1}\nother:\n  <<: *b\nt: !!python/object:os.system {}\n")
    result = read_spec(path)
    messages = " ".join(f.message for f in result.findings)
    assert "merge keys" in messages and "tag" in messages
    assert [f.position.line for f in result.findings] == [3, 4]


# --- extends -------------------------------------------------------------------------------------

def test_extends_positions_point_into_the_right_file(spec_dir):
    child = spec_dir / "specs" / "child.yaml"
    child.write_text("extends: glm51-fp8-b200.yaml\nscaling:\n  max_replicas: 0\n")
    result = read_spec(child)
    (finding,) = [f for f in result.findings if f.rule == "schema/range"]
    assert finding.position.file.endswith("child.yaml") and finding.position.line == 3


def test_extends_cycle_and_missing_base(spec_dir):
    a = spec_dir / "specs" / "a.yaml"
    b = spec_dir / "specs" / "b.yaml"
    a.write_text("extends: b.yaml\n")
    b.write_text("extends: a.yaml\n")
    assert "cycle" in read_spec(a).findings[0].message
    a.write_text("extends: missing.yaml\n")
    assert "not found" in read_spec(a).findings[0].message


def test_extends_null_removes_a_key(spec_dir):
    child = spec_dir / "specs" / "child.yaml"
    child.write_text("extends: glm51-fp8-b200.yaml\nengine:\n  max_running_requests: null\n")
    result = read_spec(child)
    assert "max_running_requests" not in result.spec["engine"]
    assert [f.rule for f in result.findings if f.rule == "SS124"] == ["SS124"]


def test_schema_is_valid_2020_12_and_closed_everywhere():
    from jsonschema import Draft202012Validator

    schema = json.loads((ROOT / "specs" / "schema.json").read_text())
    Draft202012Validator.check_schema(schema)

    def walk(node, where):
        if isinstance(node, dict):
            if node.get("type") == "object" and "properties" in node:
                assert node.get("additionalProperties") is False, where
                for key, sub in node["properties"].items():
                    assert sub.get("description"), f"{where}.{key} has no description"
            for key, sub in node.items():
                walk(sub, f"{where}.{key}")

    walk(schema, "$")


def test_spec_points_editors_at_the_schema():
    assert default_text().splitlines()[0] == "# yaml-language-server: $schema=schema.json"


def test_missing_facts_file_is_one_error_at_the_spec_line(spec_dir):
    # One cause, one finding: no second error at a position in a file that does not exist, and
    # the line says how to make the file.
    path = write_variant(spec_dir, "facts: models/glm-5.1-fp8.yaml", "facts: models/nope.yaml")
    proc = run_cli("validate", str(path), cwd=spec_dir)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    line = line_of(path, "facts: models/nope.yaml")
    errors = [ln for ln in proc.stderr.splitlines()
              if ": error: " in ln and ("facts" in ln or "nope" in ln)]  # the copy's SS128 aside
    expected = (f"specs/variant.yaml:{line}:10: error: model.facts: model facts file"
                " 'models/nope.yaml' does not exist: write it with `servespec model-facts SOURCE"
                " -o specs/models/nope.yaml` [SS126]")
    assert errors == [expected], proc.stderr
    assert "nope.yaml:1:1" not in proc.stderr


@pytest.mark.parametrize("old, new, reason", [
    ("num_hidden_layers: 78", "num_hidden_layers: many",
     "model facts: num_hidden_layers is 'many', not a whole number"),
    ("num_hidden_layers: 78 ", "xnum_hidden_layers: 78 ", "model facts lack num_hidden_layers"),
])
def test_broken_facts_field_is_named_not_a_traceback(spec_dir, old, new, reason):
    # A hand-edited facts file used to crash validate (int('many')) or pass it silently while
    # every memory rule was skipped; now SS126 names the field at the spec's model.facts line.
    facts = spec_dir / "specs" / "models" / "glm-5.1-fp8.yaml"
    assert old in facts.read_text()
    facts.write_text(facts.read_text().replace(old, new, 1))
    spec = spec_dir / "specs" / "glm51-fp8-b200.yaml"
    proc = run_cli("validate", str(spec), cwd=spec_dir)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    line = line_of(spec, "facts: models/glm-5.1-fp8.yaml")
    assert f"glm51-fp8-b200.yaml:{line}:10: warning: model.facts: {reason}" in proc.stderr
    assert run_cli("validate", "--strict", str(spec), cwd=spec_dir).returncode == 1
    est = run_cli("estimate", str(spec), cwd=spec_dir)
    assert est.returncode == 1 and "Traceback" not in est.stderr + est.stdout
    assert reason in est.stdout + est.stderr


# --- the compiled schema: a quick "valid", jsonschema for everything else -------------------------

def _every_spec_file() -> list[Path]:
    return sorted({*ROOT.glob("specs/*.yaml"), *ROOT.glob("specs/examples/*.yaml"),
                   *ROOT.glob("tests/fixtures/**/*.yaml")})


# One of each kind of schema finding (validate.py _translate), on the default spec.
SCHEMA_BREAKS = [("  max_replicas: 3", "  max_replica: 3"), ("  port: 8000", "  port: eighty"),
                 ("  gpu: B200", "  gpu: B300x"), ("  tensor: 8", "  tensor: 0"),
                 ("  repo: zai-org/GLM-5.1-FP8", "  repo: not a repo"), ("  port: 8000", "  port: 8000.0")]


def test_the_compiled_schema_agrees_with_jsonschema_on_every_spec_and_fixture(spec_dir):
    from renderer.errors import LoadError
    from renderer.spec import compiled
    from renderer.spec.load import load
    from renderer.spec.validate import _validator

    broken = [write_variant(spec_dir, old, new, f"break{i}.yaml")
              for i, (old, new) in enumerate(SCHEMA_BREAKS)]
    verdicts = []
    for path in [*_every_spec_file(), *broken]:
        try:
            doc = load(path)
        except LoadError:
            continue
        valid = not any(True for _ in _validator().iter_errors(doc.data))
        verdicts.append((path.name, compiled.is_valid(doc.data), valid))
    assert [v for v in verdicts if v[1] != v[2]] == []
    assert [v for v in verdicts if v[0].startswith("break") and v[2]] == []  # each one breaks it
    assert {fast for _, fast, _ in verdicts} == {True, False}


def test_a_whole_float_takes_jsonschemas_path(spec_dir):
    """fastjsonschema follows draft 6, where 8000.0 is an integer; validate.py's jsonschema
    does not accept it (the render would write --port 8000.0)."""
    from renderer.spec import compiled
    from renderer.spec.load import load

    path = write_variant(spec_dir, "  port: 8000", "  port: 8000.0")
    assert not compiled.is_valid(load(path).data)
    assert "schema/type" in {f.rule for f in read_spec(path).findings}


def test_a_valid_spec_is_checked_without_importing_jsonschema(spec_dir):
    """The error report is jsonschema's job; saying "valid" is the compiled schema's."""
    import subprocess
    import sys

    bad = write_variant(spec_dir, "  port: 8000", "  port: eighty", name="bad.yaml")
    code = ("import sys; from renderer.pipeline import read_spec; r = read_spec(sys.argv[1]); "
            "print(r.failed(), 'jsonschema' in sys.modules)")
    for path, expected in ((ROOT / "specs/glm51-fp8-b200.yaml", "False False"), (bad, "True True")):
        out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True,
                             text=True, cwd=ROOT, timeout=60, check=True).stdout.split()
        assert " ".join(out) == expected, (path, out)


DRAFT_SPEC = "specs/examples/llama-3.1-8b-eagle3-h100.yaml"


@pytest.mark.parametrize("content, says", [
    (None, ("draft facts file 'models/nope.yaml' does not exist: write it with `servespec"
            " model-facts SOURCE -o specs/models/nope.yaml`")),
    ("num_hidden_layers: [\n", "cannot use draft facts 'models/nope.yaml': "),
])
def test_draft_facts_that_do_not_load_are_one_error_at_the_field(spec_dir, content, says):
    # One cause, one finding at speculative.draft.facts (SS126), saying why; not a second, vaguer
    # SS160 at speculative.draft as well.
    text = (ROOT / DRAFT_SPEC).read_text()
    assert "facts: ../models/eagle3-llama-3.1-8b.yaml" in text
    text = text.replace("facts: ../models/eagle3-llama-3.1-8b.yaml", "facts: models/nope.yaml")
    text = text.replace("facts: ../models/", "facts: models/")
    target = "llama-3.1-8b-instruct.yaml"
    (spec_dir / "specs" / "models" / target).write_text((ROOT / "specs/models" / target).read_text())
    if content is not None:
        (spec_dir / "specs" / "models" / "nope.yaml").write_text(content)
    spec = spec_dir / "specs" / "draft.yaml"
    spec.write_text(text)
    proc = run_cli("validate", str(spec), cwd=spec_dir)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    line = line_of(spec, "facts: models/nope.yaml")
    at_field = [ln for ln in proc.stderr.splitlines() if f"draft.yaml:{line}:" in ln]
    assert len(at_field) == 1, proc.stderr
    assert f": error: speculative.draft.facts: {says}" in at_field[0], proc.stderr
    assert at_field[0].endswith("[SS126]")
    assert "SS160" not in proc.stderr, proc.stderr
