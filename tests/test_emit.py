"""renderer/render/emit.py writes spec.resolved.yaml and steps.json with its own code, for speed:
its text must be exactly what PyYAML's safe dumper and json.dumps write for the same data, on
every shipped spec and on generated data full of the values YAML quotes (yes, 3.10, '', ~, #,
': ', leading dashes, long lines, unicode, whole and special floats, shared lists)."""

from __future__ import annotations

import json
import math

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from renderer.pipeline import read_spec, spec_paths
from renderer.render import emit
from renderer.render.steps import build_steps

TRICKY = ["yes", "no", "on", "off", "3.10", "017", "0o17", "1e3", "", "~", "null", "true",
          "- item", "a: b", "#x", "x #y", "'q'", '"q"', "@at", "`b`", "%p", "!t", "&a", "*a",
          "{x}", "[y]", "multi\nline", "trailing ", " leading", "tab\there", "é ü ✓", "\u2028",
          "x" * 120, "word " * 30]
SCALARS = st.one_of(st.sampled_from(TRICKY), st.text(max_size=40), st.integers(),
                    st.floats(allow_nan=False), st.booleans(), st.none())
KEYS = st.one_of(st.sampled_from(TRICKY), st.text(min_size=1, max_size=20))
DATA = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=5), st.dictionaries(KEYS, inner, max_size=5)), max_leaves=40)


def pyyaml(data) -> str:
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    return yaml.dump(data, Dumper=dumper, sort_keys=True, allow_unicode=True, width=100,
                     default_flow_style=False)


def stdlib_json(data) -> str:
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False)


@pytest.mark.parametrize("spec", spec_paths(()), ids=lambda p: p.stem)
def test_shipped_specs_read_as_pyyaml_and_json_write_them(spec):
    report = read_spec(spec)
    assert report.spec is not None
    assert emit.yaml_text(report.spec) == pyyaml(report.spec)
    steps = build_steps(report.deployment, str(spec))
    assert emit.json_text(steps) == stdlib_json(steps)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(KEYS, DATA, max_size=6))
def test_yaml_text_is_pyyamls_text(data):
    assert emit.yaml_text(data) == pyyaml(data)


# Printable ASCII only: the values emit.block_yaml writes itself, with words that make YAML 1.1
# read another type, indicators that force quotes, and lengths that fold past the width.
WORDS = st.sampled_from(["a", "word", "x" * 30, "yes", "1.5", "1_000", "2026-01-01", "~", "null",
                         "=", "'q'", "it's", "a:b", "a#b", "-x", "?y", ":z", "*z", "@k", "%",
                         "{x}", "[y]", ",", "!t", "http://x.y/z", '"q"', "`b`", "\\"])
ASCII = st.one_of(st.lists(WORDS, min_size=1, max_size=40).map(" ".join),
                  st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=30))
ASCII_DATA = st.recursive(st.one_of(ASCII, st.integers(), st.floats(), st.booleans(), st.none()),
                          lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(
                              ASCII.map(lambda k: k[:60]), inner, max_size=4)), max_leaves=30)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(ASCII.map(lambda k: k[:60]), ASCII_DATA, max_size=5))
def test_block_yaml_writes_what_pyyaml_writes_or_leaves_it_to_the_emitter(data):
    text = emit.block_yaml(data)
    assert text is None or text == pyyaml(data)


@pytest.mark.parametrize("spec", spec_paths(()), ids=lambda p: p.stem)
def test_every_shipped_spec_takes_the_common_path(spec):
    data = read_spec(spec).spec
    assert emit.block_yaml(data) == pyyaml(data)  # not None: the fast path wrote it


def test_long_values_fold_at_the_width_as_the_emitter_folds_them():
    words = " ".join(["word"] * 60)
    data = {"k": words, "n": {"m": [words, {"e": words}, [words]]}, "q": "yes " + words}
    assert emit.block_yaml(data) == pyyaml(data)
    assert len(pyyaml(data).splitlines()) > 10


def test_a_list_met_twice_is_an_alias_as_pyyaml_writes_it():
    shared = ["a", "b"]
    data = {"x": shared, "y": shared, "z": {"w": shared}}
    assert "&id001" in emit.yaml_text(data)
    assert emit.yaml_text(data) == pyyaml(data)


@settings(max_examples=300, deadline=None)
@given(st.recursive(st.one_of(SCALARS, st.floats()), lambda inner: st.one_of(
    st.lists(inner, max_size=5), st.dictionaries(st.text(max_size=10), inner, max_size=5)),
    max_leaves=40))
def test_json_text_is_json_dumps_text(data):
    assert emit.json_text(data) == stdlib_json(data)


def test_special_floats_and_big_integers_in_json():
    data = {"inf": math.inf, "ninf": -math.inf, "nan": math.nan, "neg0": -0.0, "big": 10**30}
    assert emit.json_text(data) == stdlib_json(data)


def test_what_no_spec_holds_is_refused_not_written():
    with pytest.raises(TypeError):
        emit.yaml_text({"a": {1, 2}})
    with pytest.raises(TypeError):
        emit.json_text({"a": {1, 2}})
    assert emit.json_text({"a": (1, 2)}) == stdlib_json({"a": (1, 2)})  # a tuple is a list
