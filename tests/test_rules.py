"""Every rule in the catalog has a fixture that trips it and one that passes.

Fixtures live in tests/fixtures/rules/<ID>-trip.yaml and <ID>-pass.yaml; each extends the
default spec and changes one thing. The line that should be reported carries `# expect: <ID>`,
so the test checks the rule id AND the line number the user is sent to.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from renderer import catalog
from renderer.pipeline import read_spec
from renderer.rules.check import RULES

FIXTURES = Path(__file__).parent / "fixtures" / "rules"
RULE_IDS = sorted(catalog.rules())


def expected_line(path: Path, rule_id: str) -> int:
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if re.search(rf"#\s*expect:\s*{rule_id}\b", line):
            return number
    raise AssertionError(f"{path.name} marks no line with '# expect: {rule_id}'")


def test_catalog_and_code_list_the_same_rules():
    assert sorted(RULES) == RULE_IDS


def test_every_rule_has_both_fixtures():
    missing = [f"{rid}-{kind}.yaml" for rid in RULE_IDS for kind in ("trip", "pass")
               if not (FIXTURES / f"{rid}-{kind}.yaml").is_file()]
    assert not missing, f"rules without fixtures: {missing}"


def test_catalog_entries_are_complete():
    for rid, info in catalog.rules().items():
        assert info["severity"] in ("error", "warning"), rid
        assert info["title"] and info["reason"], rid
        assert "upstream" in info, rid


@pytest.mark.parametrize("rule_id", RULE_IDS)
def test_rule_trips_at_the_marked_line(rule_id):
    fixture = FIXTURES / f"{rule_id}-trip.yaml"
    result = read_spec(fixture)
    hits = [f for f in result.findings if f.rule == rule_id]
    assert hits, f"{rule_id} did not fire on {fixture.name}: {[f.format() for f in result.findings]}"
    line = expected_line(fixture, rule_id)
    assert any(f.position.line == line and f.position.file.endswith(fixture.name) for f in hits), \
        [f.format() for f in hits]
    severity = catalog.rules()[rule_id]["severity"]
    assert all(f.severity.value == severity for f in hits)


@pytest.mark.parametrize("rule_id", RULE_IDS)
def test_rule_passes_its_pass_fixture(rule_id):
    fixture = FIXTURES / f"{rule_id}-pass.yaml"
    result = read_spec(fixture)
    assert result.spec is not None, [f.format() for f in result.findings]
    assert not [f for f in result.findings if f.rule == rule_id], \
        [f.format() for f in result.findings if f.rule == rule_id]


def test_strict_turns_warnings_into_failures():
    result = read_spec(FIXTURES / "SS113-trip.yaml")
    assert not result.failed(strict=False)
    assert result.failed(strict=True)


def test_modal_name_rule_agrees_with_modal_itself():
    """The rule mirrors modal's own name check; compare them on awkward names."""
    from modal._utils.name_utils import is_valid_object_name  # private, but it is the truth

    from renderer.rules.general import modal_name_problem

    names = ["glm", "a" * 64, "a" * 65, "with space", "dots.and_under-score", "ap-" + "a" * 22,
             "ap-" + "a" * 21, "ü", "", "slash/name", "UPPER", "-lead", "x" * 63 + "."]
    for name in names:
        ours = modal_name_problem(name) is None and name != ""
        assert ours == is_valid_object_name(name), name


def test_rules_command_lists_the_catalog():
    from conftest import run_cli

    proc = run_cli("rules", "--format", "json")
    assert proc.returncode == 0
    import json

    assert sorted(json.loads(proc.stdout)) == RULE_IDS
    text = run_cli("rules").stdout
    assert all(f"{rid}  " in text for rid in RULE_IDS)


def test_schema_gpu_choices_match_the_gpu_catalog():
    """The schema's enum (editor completion) and the catalog (what rules know) must not drift."""
    import json
    from pathlib import Path

    schema = json.loads((Path(__file__).parent.parent / "specs" / "schema.json").read_text())
    enum = schema["properties"]["hardware"]["properties"]["gpu"]["enum"]
    assert sorted(enum) == sorted(catalog.gpus())


def test_running_cap_warning_names_the_algorithm_in_use(tmp_path):
    """SGLang caps every speculative algorithm at 48, NGRAM included (SS124's upstream)."""
    spec = tmp_path / "ngram.yaml"
    spec.write_text(f"extends: {FIXTURES / 'SS182-pass.yaml'}\nengine:\n  max_running_requests: null\n")
    [hit] = [f for f in read_spec(spec).findings if f.rule == "SS124"]
    assert hit.message.startswith("speculative NGRAM without engine.max_running_requests")
