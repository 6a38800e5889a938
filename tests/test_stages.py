"""Unit tests per stage, calling each stage's functions directly (no subprocess, no CLI):
load -> validate -> rules -> args -> steps. The CLI tests (test_spec_language.py, test_rules.py,
test_render.py, test_run.py) cover the same stages end to end."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import DEFAULT_SPEC, default_text

from renderer.errors import LoadError, Severity
from renderer.pipeline import check, read_spec
from renderer.render.steps import STEPS_FORMAT, build_steps
from renderer.resolve import sglang_args
from renderer.resolve.deployment import resolve
from renderer.spec.load import load
from renderer.spec.validate import apply_defaults, schema, validate


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


# --- load ---------------------------------------------------------------------------------------


def test_load_keeps_where_each_value_came_from(tmp_path):
    doc = load(write(tmp_path, "a.yaml", "app: x\nscaling:\n  max_replicas: 3\n"))
    assert doc.data == {"app": "x", "scaling": {"max_replicas": 3}}
    pos = doc.position(("scaling", "max_replicas"))
    assert (pos.line, pos.col) == (3, 17)


def test_load_rejects_a_duplicate_key_at_its_line(tmp_path):
    with pytest.raises(LoadError) as caught:
        load(write(tmp_path, "a.yaml", "app: x\napp: y\n"))
    (finding,) = caught.value.findings
    assert finding.position.line == 2 and "app" in finding.message


def test_load_reads_yaml_1_2_scalars(tmp_path):
    """YAML 1.1 would read `no` as false and 0o17 differently; servespec reads YAML 1.2."""
    doc = load(write(tmp_path, "a.yaml", "region: no\nversion: 0.5\n"))
    assert doc.data == {"region": "no", "version": 0.5}


def test_load_merges_extends_child_over_base(tmp_path):
    write(tmp_path, "base.yaml", "app: base\nscaling:\n  min_replicas: 0\n  max_replicas: 3\n")
    doc = load(write(tmp_path, "child.yaml", "extends: base.yaml\napp: child\n"
                                             "scaling:\n  max_replicas: 5\n"))
    assert doc.data["app"] == "child"
    assert doc.data["scaling"] == {"min_replicas": 0, "max_replicas": 5}
    assert doc.position(("scaling", "min_replicas")).file.endswith("base.yaml")


# --- validate -----------------------------------------------------------------------------------


def test_validate_points_at_the_wrong_value_and_names_the_type(spec_dir):
    spec = spec_dir / "specs" / "glm51-fp8-b200.yaml"
    spec.write_text(default_text().replace("max_replicas: 3", "max_replicas: three"))
    findings = validate(load(spec))
    (finding,) = [f for f in findings if f.path == "scaling.max_replicas"]
    line = default_text().splitlines().index("  max_replicas: 3") + 1
    assert finding.rule.startswith("schema") and finding.position.line == line
    assert "integer" in finding.message


def test_validate_accepts_the_default_spec_and_defaults_fill_in():
    doc = load(DEFAULT_SPEC)
    assert validate(doc) == []
    filled = apply_defaults(doc.data, schema())
    assert filled["serving"]["health_path"] == "/health"
    assert "health_path" in filled["serving"] and doc.data is not filled


# --- rules --------------------------------------------------------------------------------------


def test_rules_pass_the_default_spec_with_its_pinning_warnings():
    doc = load(DEFAULT_SPEC)
    findings = check(doc, apply_defaults(doc.data, schema()))
    assert {"SS112", "SS113"} <= {f.rule for f in findings}  # image tag, revision 'main'
    assert all(f.severity is Severity.WARNING for f in findings)


def test_a_rule_blames_the_field_to_change(spec_dir):
    spec = spec_dir / "specs" / "glm51-fp8-b200.yaml"
    spec.write_text(default_text().replace("min_replicas: 0", "min_replicas: 5"))
    doc = load(spec)
    findings = check(doc, apply_defaults(doc.data, schema()))
    (finding,) = [f for f in findings if f.severity is Severity.ERROR]
    assert finding.path == "scaling.min_replicas"
    assert finding.position.line == spec.read_text().splitlines().index("  min_replicas: 5") + 1


# --- args ---------------------------------------------------------------------------------------


def test_args_switches_are_bare_and_values_shell_quoted():
    pairs = [("--tp-size", 8), ("--enable-metrics", True), ("--served-model-name", "a b'c")]
    assert sglang_args.argv(pairs) == ["--tp-size", "8", "--enable-metrics",
                                       "--served-model-name", "a b'c"]
    assert sglang_args.lines(pairs) == ["--tp-size 8", "--enable-metrics",
                                        "--served-model-name 'a b'\"'\"'c'"]


def test_args_are_spelled_per_version():
    """0.5.10 and 0.5.23 spell the CUDA-graph batch cap differently; the table knows which."""
    old, new = sglang_args.table("0.5.10")["flags"], sglang_args.table("0.5.23")["flags"]
    assert old["cuda_graph_max_bs"] == "--cuda-graph-max-bs"
    assert new["cuda_graph_max_bs"] != old["cuda_graph_max_bs"]
    assert sglang_args.table("0.0.1") is None


# --- steps --------------------------------------------------------------------------------------


def test_steps_are_built_from_the_resolved_deployment():
    checked = read_spec(DEFAULT_SPEC)
    doc = build_steps(resolve(checked.spec, checked.facts, checked.name), "specs/x.yaml")
    assert doc["format"] == STEPS_FORMAT and doc["spec"] == "specs/x.yaml"
    names = [s["name"] for s in doc["steps"]]
    assert names[0] == "preflight" and names[-3:] == ["deploy", "wait", "smoke"]
    assert all(s["timeout"] > 0 for s in doc["steps"])
    assert doc == build_steps(resolve(checked.spec, checked.facts, checked.name), "specs/x.yaml")
