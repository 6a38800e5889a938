"""The schema compiled to plain Python, to say quickly that a spec is valid.

Most specs a person runs are valid, and then jsonschema's only job is to say so; importing it
(referencing, attrs, jsonschema-specifications' metaschemas) costs more than loading the spec
and running every rule. fastjsonschema (horejsek/python-fastjsonschema: pure Python, no
dependencies, released regularly, also what validate-pyproject compiles pyproject.toml's schema
with) turns specs/schema.json into one Python function. It is compiled once per schema and
interpreter and kept as bytecode in the user's cache beside the parsed catalogs, so a
run loads a code object and never imports either library.

The verdict is one-sided by design: `is_valid` True means valid; False means "ask jsonschema",
which renderer/spec/validate.py then does, for the findings it turns into file:line:col errors.
Where fastjsonschema reads the schema more loosely than validate.py's jsonschema does, the
difference is closed here: a float is never an integer to validate.py (8000.0 would render as
`--port 8000.0`), while fastjsonschema follows draft 6 and accepts it, so a document holding a
whole-number float always takes jsonschema's path. tests/test_spec_language.py checks that the
two agree on every shipped spec and rule fixture.
"""

from __future__ import annotations

import json
import marshal
import sys
import zlib
from functools import lru_cache
from pathlib import Path

from renderer import paths
from renderer.files import write_atomic

# What the compiled source imports only for its own use: its exceptions (the verdict needs just
# "raised or not") and Decimal (a YAML document never holds one). Bound here instead, so loading
# the function imports neither fastjsonschema nor decimal.
_IMPORTS = {
    "from fastjsonschema import JsonSchemaValueException, JsonSchemaValuesException\n":
        ("JsonSchemaValueException", "JsonSchemaValuesException"),
    "from decimal import Decimal\n": ("Decimal",),
}
# Annotations fastjsonschema would copy into every error message (and `default`, which it would
# write into the checked document): the verdict needs none of them.
_ANNOTATIONS = frozenset({"description", "title", "default", "deprecated", "examples",
                          "$comment"})
_SUBSCHEMA_MAPS = frozenset({"properties", "patternProperties", "$defs", "definitions"})
FORMAT = 1


class Invalid(Exception):
    """What the compiled function raises for a document the schema does not accept."""

    def __init__(self, message: str = "", *args, **kwargs) -> None:
        super().__init__(message)


class _NeverInstance:
    """Stands in for decimal.Decimal in the compiled function's isinstance checks."""


def is_valid(data, whole_float: bool | None = None) -> bool:
    """True when the schema accepts `data` as validate.py's jsonschema would; False when it
    does not, or when only jsonschema can tell. `whole_float`: whether data holds a float
    like 2.0 (None: look)."""
    check = _function()
    if whole_float is None:
        whole_float = _has_whole_float(data)
    if check is None or whole_float:
        return False
    try:
        check(data)
    except Exception:  # noqa: BLE001 - Invalid, or anything else: jsonschema decides then
        return False
    return True


def _has_whole_float(value) -> bool:
    if isinstance(value, float):
        return value.is_integer()
    if isinstance(value, dict):
        return any(_has_whole_float(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_whole_float(v) for v in value)
    return False


@lru_cache(maxsize=1)
def _function():
    """The compiled validator, from the cache or compiled now; None when fastjsonschema cannot
    compile it (validate.py's jsonschema then checks every spec)."""
    raw = paths.SCHEMA.read_bytes()
    code = _cached(raw) or _compile(raw)
    if code is None:
        return None
    namespace = {"__name__": "servespec_schema", "Decimal": _NeverInstance,
                 "JsonSchemaValueException": Invalid, "JsonSchemaValuesException": Invalid}
    exec(code, namespace)  # noqa: S102 - code fastjsonschema generated from our own schema
    return next(v for k, v in namespace.items() if k.startswith("validate") and callable(v))


def _cache_path(raw: bytes) -> Path:
    """Keyed by the schema's content and the interpreter (marshal's format follows it): an
    edited schema is a miss. FORMAT changes when this module compiles differently."""
    from renderer.catalog import _cache_dir

    name = f"{len(raw)}-{zlib.crc32(raw):08x}-{FORMAT}-{sys.implementation.cache_tag}.bin"
    return _cache_dir().parent / "schema" / name


def _cached(raw: bytes):
    try:
        return marshal.loads(_cache_path(raw).read_bytes())
    except (OSError, ValueError, EOFError, TypeError):
        return None


def _compile(raw: bytes):
    try:
        import fastjsonschema
    except ImportError:
        return None
    schema = _strip(json.loads(raw))
    try:
        source = fastjsonschema.compile_to_code(schema)
    except fastjsonschema.JsonSchemaDefinitionException:
        return None
    for line in _IMPORTS:
        source = source.replace(line, "", 1)
    code = compile(source, "<specs/schema.json compiled by fastjsonschema>", "exec")
    try:
        write_atomic(_cache_path(raw), marshal.dumps(code))
    except OSError:
        pass  # a read-only home just means compiling again next time
    return code


def _strip(node, in_map: bool = False):
    """The schema without annotations; keys of `properties` (field names) are kept as they are."""
    if isinstance(node, list):
        return [_strip(v) for v in node]
    if not isinstance(node, dict):
        return node
    if in_map:
        return {k: _strip(v) for k, v in node.items()}
    return {k: _strip(v, k in _SUBSCHEMA_MAPS) for k, v in node.items() if k not in _ANNOTATIONS}
