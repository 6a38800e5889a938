"""Stage 2, validate: check the loaded document against specs/schema.json, then fill defaults.

The JSON Schema is the single source of truth for structure, types, ranges, enums, defaults and
the descriptions editors show as tooltips. This module only translates jsonschema's errors into
findings that point at the spec's line and say what to write instead.

Why the schema is written by hand rather than generated from a typed model (as Truss generates
its config schema from pydantic): here the schema itself is what runs. Validation is jsonschema
against this file, the descriptions are the user documentation, and it uses JSON Schema
constructs a Python type cannot carry without a parallel metadata table (patterns,
propertyNames, anyOf for extra_args, exclusiveMinimum, uniqueItems), which would be the schema
again under another name. Generating it from pydantic would also put pydantic on the validate
path: importing it and building a two-class model costs ~100 ms on the development machine, a
large share of what `servespec validate` may take under its floor (0.45x of check-jsonschema). A
valid spec does not import jsonschema either: renderer/spec/compiled.py says "valid" from the
schema compiled to Python, and jsonschema runs only to report what is wrong.
The typed model servespec does keep is the output side, resolve.Deployment. What can drift is
checked by tests instead: specs/schema.json against this copy, and every enum that mirrors a
catalog (GPU types, weight formats, speculative algorithms) against that catalog
(tests/test_rules.py, tests/test_resolve.py).
"""

from __future__ import annotations

import difflib
import json
from functools import lru_cache

from renderer import paths
from renderer.errors import Finding
from renderer.spec import compiled
from renderer.spec.load import Document, dotted

SCHEMA_PATH = paths.SCHEMA

_JSON_TYPES = {
    bool: "boolean", int: "integer", float: "number", str: "string",
    list: "list", dict: "mapping", type(None): "null",
}
# YAML 1.1 words that other tools read as booleans; servespec keeps them as strings.
_YAML11_BOOLS = {"yes", "no", "on", "off", "y", "n", "Yes", "No", "On", "Off", "YES", "NO", "ON", "OFF"}


@lru_cache(maxsize=1)
def schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def _validator():
    from jsonschema import Draft202012Validator, validators  # only validation needs it

    # JSON Schema counts 8000.0 as an integer; the render would then write `--port 8000.0`,
    # which SGLang's int parser refuses at start, and `max_containers=2.0` for Modal. A spec's
    # whole numbers are written whole, so a float is never an integer here.
    checker = Draft202012Validator.TYPE_CHECKER.redefine(
        "integer", lambda _checker, value: isinstance(value, int) and not isinstance(value, bool))
    return validators.extend(Draft202012Validator, type_checker=checker)(schema())


def validate(doc: Document) -> list[Finding]:
    """Every schema finding of the document, sorted by position. A document the compiled schema
    accepts has none (renderer/spec/compiled.py); jsonschema is imported only to report."""
    if compiled.is_valid(doc.data, doc.whole_float):
        return []
    findings: list[Finding] = []
    for error in _validator().iter_errors(doc.data):
        findings.extend(_translate(doc, error))
    return sorted(set(findings), key=Finding.sort_key)


# --- error translation ------------------------------------------------------------------------


def _describe(value) -> str:
    kind = _JSON_TYPES.get(type(value), type(value).__name__)
    if isinstance(value, (dict, list)):
        return f"a {kind}"
    return f"{kind} {json.dumps(value, ensure_ascii=False)}"


def _expected(types) -> str:
    types = [types] if isinstance(types, str) else list(types)
    names = [{"object": "mapping", "array": "list"}.get(t, t) for t in types]
    return " or ".join(names)


def _yaml_hint(doc: Document, path: tuple, value, expected_types) -> str:
    raw = doc.raw.get(path)
    expected = [expected_types] if isinstance(expected_types, str) else list(expected_types)
    if raw is None:
        return ""
    if "string" in expected and isinstance(value, (int, float, bool)):
        return f"quote it: \"{raw}\" (YAML reads the bare {raw} as {_describe(value)})"
    if "boolean" in expected and raw in _YAML11_BOOLS:
        return f"write true or false: servespec follows YAML 1.2, where '{raw}' is a string"
    if "integer" in expected and isinstance(value, float) and value.is_integer():
        return f"write {int(value)}: a whole number without '.0' or an exponent"
    if ("integer" in expected or "number" in expected) and isinstance(value, str):
        if raw[:2].lower() in ("0o", "0x", "0b") or (len(raw) > 1 and raw[0] == "0" and raw.isdigit()):
            return f"write the number in plain decimal: YAML dialects disagree on what '{raw}' means"
        if "_" in raw or ":" in raw:
            return f"write the number without '_' or ':' (YAML 1.1 reads '{raw}' differently)"
    return ""


def _suggest(word: str, choices) -> str:
    """The choice the user most likely meant: one that is the same name in another case or
    spacing, or the longest one the word starts with (H100-80GB, "NVIDIA H100" -> H100), before
    the closest spelling (difflib)."""
    names = [str(c) for c in choices]
    plain = {_normal(c): c for c in names}
    word_n = _normal(str(word)).removeprefix("NVIDIA")
    match = plain.get(word_n)
    if match is None:
        heads = [c for n, c in plain.items() if n and word_n.startswith(n)]
        match = max(heads, key=len) if heads else None
    if match is None:
        close = difflib.get_close_matches(str(word), names, n=1, cutoff=0.6)
        match = close[0] if close else None
    return f"did you mean '{match}'?" if match else ""


def _normal(name: str) -> str:
    return "".join(ch for ch in name.upper() if ch.isalnum())


def _translate(doc: Document, error) -> list[Finding]:
    path = tuple(error.absolute_path)
    where = dotted(path)
    kind = error.validator
    value = error.instance
    pos = doc.position(path)

    if kind == "additionalProperties" and isinstance(value, dict):
        allowed = list(error.schema.get("properties", {}))
        out = []
        for key in value:
            if key in allowed:
                continue
            hint = _suggest(key, allowed) or f"allowed here: {', '.join(allowed)}"
            out.append(Finding(doc.position(path + (key,), key=True), dotted(path + (key,)),
                               f"unknown field '{key}'", "schema/unknown-field", hint=hint))
        return out
    if kind == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        return [Finding(pos, where, f"missing required field '{missing}'", "schema/required")]
    if kind == "type":
        hint = _yaml_hint(doc, path, value, error.validator_value)
        return [Finding(pos, where, f"expected {_expected(error.validator_value)}, got "
                        f"{_describe(value)}", "schema/type", hint=hint)]
    if kind == "enum":
        choices = error.validator_value
        hint = _suggest(str(value), choices) if isinstance(value, str) else ""
        return [Finding(pos, where, f"{_describe(value)} is not one of: "
                        + ", ".join(str(c) for c in choices), "schema/enum", hint=hint)]
    if kind == "propertyNames":
        bad = value if isinstance(value, str) else ""
        key_path = path + (bad,) if bad else path
        return [Finding(doc.position(key_path, key=True), dotted(key_path),
                        f"key '{bad}' does not match {error.validator_value.get('pattern', '')}",
                        "schema/key")]
    if kind == "pattern":
        return [Finding(pos, where, f"{_describe(value)} does not match the pattern "
                        f"{error.validator_value}", "schema/pattern",
                        hint=_description(error.schema))]
    if kind in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        words = {"minimum": "at least", "maximum": "at most",
                 "exclusiveMinimum": "more than", "exclusiveMaximum": "less than"}
        return [Finding(pos, where, f"{_describe(value)} is out of range: must be "
                        f"{words[kind]} {error.validator_value}", "schema/range")]
    return [Finding(pos, where, error.message, f"schema/{kind}")]


def _description(subschema: dict) -> str:
    return subschema.get("description", "")


# --- defaults -------------------------------------------------------------------------------


def apply_defaults(data: dict, root: dict) -> dict:
    """A copy of data with every schema default filled in, objects created where needed."""
    return _fill(_copy(data), root)


def _copy(value):
    """A deep copy of plain spec data (dicts, lists, scalars), many times faster than
    copy.deepcopy, which also handles cycles and shared objects that spec data never has."""
    if type(value) is dict:
        return {k: _copy(v) for k, v in value.items()}
    if type(value) is list:
        return [_copy(v) for v in value]
    return value


def _fill(value, subschema: dict):
    if subschema.get("type") != "object" or not isinstance(value, dict):
        return value
    for key, prop in subschema.get("properties", {}).items():
        if key in value:
            value[key] = _fill(value[key], prop)
        elif "default" in prop:
            value[key] = _copy(prop["default"])
        elif prop.get("type") == "object" and "properties" in prop and not prop.get("required"):
            filled = _fill({}, prop)
            if filled:
                value[key] = filled
    return value
