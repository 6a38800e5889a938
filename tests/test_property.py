"""Property: whatever happens to the default spec, servespec answers with findings, never a crash.

Mutations: delete, duplicate, retype and rename keys, splice random text or bytes. The pipeline
(load -> validate -> check, and render when the spec still passes) must return normally; an
exception here is what a user would see as a traceback.
"""

from __future__ import annotations

import re
from pathlib import Path

from conftest import ROOT, default_text
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from renderer.pipeline import read_spec

LINES = default_text().splitlines()
KEY_LINES = [i for i, line in enumerate(LINES) if re.match(r"^\s*[a-z_]+:", line)]
SCALARS = st.sampled_from(["", "~", "null", "yes", "no", "on", "3.10", "0o17", "017", "1e999",
                           "-1", "0", "[]", "{}", "[1, 2]", "'x'", '"\\u0000"', "&a x", "*a",
                           "!!binary aGk=", "|\n  block", "9" * 40, "B200", "glm47"])
settings_ = settings(max_examples=150, deadline=None,
                     suppress_health_check=[HealthCheck.function_scoped_fixture])


def mutate(lines: list[str], op: str, index: int, payload: str) -> str:
    lines = list(lines)
    i = KEY_LINES[index % len(KEY_LINES)]
    line = lines[i]
    indent, _, _rest = line.partition(line.lstrip())
    key, _, value = line.strip().partition(":")
    if op == "delete":
        del lines[i]
    elif op == "duplicate":
        lines.insert(i + 1, line)
    elif op == "retype":
        lines[i] = f"{indent}{key}: {payload}"
    elif op == "rename":
        lines[i] = f"{indent}{payload or 'x'}:{value}"
    elif op == "splice":
        lines.insert(i, payload)
    return "\n".join(lines) + "\n"


def run_pipeline(spec_dir: Path, content: bytes | str) -> None:
    path = spec_dir / "specs" / "mutant.yaml"
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8", errors="surrogatepass")
    else:
        path.write_bytes(content)
    result = read_spec(path)  # must not raise
    for finding in result.findings:
        assert finding.position.line >= 1 and finding.format()
    if not result.failed():
        from renderer.render.artifacts import render_files

        files = render_files(result)
        for app_file in ("deploy.py", "jobs.py"):
            compile(files[app_file], app_file, "exec")


@settings_
@given(op=st.sampled_from(["delete", "duplicate", "retype", "rename", "splice"]),
       index=st.integers(min_value=0, max_value=10_000),
       payload=st.one_of(SCALARS, st.text(max_size=30)))
def test_mutated_spec_never_crashes(spec_dir, op, index, payload):
    run_pipeline(spec_dir, mutate(LINES, op, index, payload))


@settings_
@given(blob=st.binary(max_size=400), where=st.integers(min_value=0, max_value=len(default_text())))
def test_random_bytes_never_crash(spec_dir, blob, where):
    text = default_text().encode()
    run_pipeline(spec_dir, text[:where] + blob + text[where:])


@settings_
@given(blob=st.binary(max_size=200))
def test_pure_noise_never_crashes(spec_dir, blob):
    run_pipeline(spec_dir, blob)


def test_mutations_do_change_the_outcome(spec_dir):
    """Guard against a vacuous property: a deletion of a required key must produce a finding."""
    index = KEY_LINES.index(next(i for i in KEY_LINES if LINES[i].startswith("app:")))
    path = spec_dir / "specs" / "mutant.yaml"
    path.write_text(mutate(LINES, "delete", index, ""))
    assert any(f.rule == "schema/required" for f in read_spec(path).findings)
    assert ROOT.exists()


@settings_
@given(op=st.sampled_from(["delete", "duplicate", "retype", "rename", "splice"]),
       index=st.integers(min_value=0, max_value=10_000),
       payload=st.one_of(SCALARS, st.text(max_size=30)))
def test_the_compiled_schema_never_accepts_what_jsonschema_refuses(spec_dir, op, index, payload):
    """renderer/spec/compiled.py may send a valid spec to jsonschema, never pass an invalid one."""
    from renderer.errors import LoadError
    from renderer.spec import compiled
    from renderer.spec.load import load
    from renderer.spec.validate import _validator

    path = spec_dir / "specs" / "mutant.yaml"
    path.write_text(mutate(LINES, op, index, payload), encoding="utf-8", errors="surrogatepass")
    try:
        doc = load(path)
    except LoadError:
        return
    if compiled.is_valid(doc.data):
        assert not list(_validator().iter_errors(doc.data))
