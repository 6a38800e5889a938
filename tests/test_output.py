"""What the command line prints: `file:line:col: error|warning: field: message [ID]`, each rule's
hint once per run, one summary line per run, --quiet, --format json for render, acknowledged
warnings, and GPU names close to the catalog's."""

from __future__ import annotations

import json
import re
import shutil

from conftest import ROOT, run_cli

SPEC_COUNT = len(list((ROOT / "specs").glob("*.yaml")) + list((ROOT / "specs" / "examples").glob("*.yaml")))
LINE = re.compile(r"^\S+:\d+:\d+: (error|warning): \S+: .+ \[(SS\d{3}|schema|yaml|file)\]$")


def _spec(tmp_path, text: str, name: str = "spec.yaml"):
    path = tmp_path / name
    path.write_text(f"extends: {ROOT / 'specs' / 'glm51-fp8-b200.yaml'}\n{text}")
    return path


def test_findings_say_error_or_warning_and_hints_come_once(tmp_path):
    a = _spec(tmp_path, "parallelism:\n  tensor: 4\n", "a.yaml")
    b = _spec(tmp_path, "parallelism:\n  tensor: 2\n", "b.yaml")
    proc = run_cli("validate", str(a), str(b))
    assert proc.returncode == 1
    lines = proc.stderr.splitlines()
    findings = [line for line in lines if not line.startswith(("    hint", str(tmp_path) + "/a.yaml: ",
                                                                str(tmp_path) + "/b.yaml: ", "validate:"))]
    assert findings and all(LINE.match(line) for line in findings), findings
    errors = [line for line in findings if ": error: " in line and line.endswith("[SS101]")]
    assert len(errors) == 2  # one per spec: different positions in different files
    assert sum(1 for line in lines if line.startswith("    hint [SS101]")) == 1
    # the base spec's warnings are printed once, though both specs inherit them
    assert sum(1 for line in lines if line.endswith("[SS113]")) == 1
    # SS101 in each spec, SS130 (weights do not fit at TP4, at TP2) at the base's hardware.gpu
    assert lines[-1] == "validate: 2 specs, 4 errors, 3 warnings"


def test_quiet_prints_errors_and_the_summary_only(tmp_path):
    ok = run_cli("validate", "--quiet", str(ROOT / "specs" / "glm51-fp8-b200.yaml"))
    assert ok.returncode == 0 and ok.stderr.splitlines() == ["validate: 1 spec, 0 errors, 3 warnings"]
    bad = run_cli("validate", "-q", str(_spec(tmp_path, "parallelism:\n  tensor: 4\n")))
    lines = [line for line in bad.stderr.splitlines() if not line.startswith("    hint")]
    assert bad.returncode == 1 and lines[-1].startswith("validate: 1 spec, 2 errors")
    assert lines[:-1] and all(": error: " in line for line in lines[:-1]), lines


def test_make_render_prints_one_line_per_spec_and_a_summary(tmp_path):
    out = tmp_path / "rendered"
    shutil.copytree(ROOT / "rendered", out)
    # the first run rewrites what names the output folder; the second is a clean checkout's run
    assert run_cli("render", "--out", str(out), timeout=300).returncode == 0
    proc = run_cli("render", "--out", str(out), timeout=300)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) <= SPEC_COUNT + 1, lines
    assert all(re.match(rf"^{out}/\S+: unchanged", line) for line in lines[:-1]), lines
    assert re.fullmatch(rf"render: {SPEC_COUNT} specs, 0 errors, \d+ warnings \(`servespec validate`"
                        rf" lists them\); rendered 0 written, {SPEC_COUNT} unchanged", lines[-1]), lines[-1]
    assert "per replica" in lines[0]  # the estimate stays on the spec's line


def test_render_json_lists_findings_and_what_was_written(tmp_path):
    spec = _spec(tmp_path, "")
    proc = run_cli("render", "--format", "json", "--out", str(tmp_path / "out"), str(spec))
    assert proc.returncode == 0, proc.stderr
    [entry] = json.loads(proc.stdout)["specs"]
    assert "deploy.py" in entry["rendered"]["written"]
    assert {f["rule"] for f in entry["findings"]} >= {"SS113", "SS112"}


def test_an_acknowledged_warning_is_shown_in_json_only(tmp_path):
    spec = _spec(tmp_path, "acknowledge:\n  SS113: tracking main during development\n")
    text = run_cli("validate", "--strict", str(spec))
    assert "[SS113]" not in text.stderr and text.returncode == 1  # SS112 and SS141 still count
    assert "2 warnings, 1 acknowledged" in text.stderr.splitlines()[-1]
    payload = json.loads(run_cli("validate", "--format", "json", str(spec)).stdout)
    [hit] = [f for f in payload["specs"][0]["findings"] if f["rule"] == "SS113"]
    assert hit["acknowledged"] == "tracking main during development"


def test_acknowledging_an_error_is_refused(tmp_path):
    spec = _spec(tmp_path, "acknowledge:\n  SS101: fine\n  SS999: nothing\n")
    proc = run_cli("validate", str(spec))
    assert proc.returncode == 1
    assert "SS101 is an error: only warnings can be acknowledged" in proc.stderr
    assert "SS999 is not a rule" in proc.stderr


def test_gpu_names_find_the_catalog_name(tmp_path):
    for wrong, meant in (("H100-80GB", "H100"), ("NVIDIA H200", "H200"), ("l40s", "L40S"),
                         ("A100-80GB-SXM", "A100-80GB")):
        proc = run_cli("validate", str(_spec(tmp_path, f"hardware:\n  gpu: {wrong}\n")))
        assert f"did you mean '{meant}'?" in proc.stderr, (wrong, proc.stderr)
