"""Plain data (dicts, lists, strings, numbers, booleans, None) as the text of a committed file:
the YAML of spec.resolved.yaml and the JSON of steps.json, exactly as PyYAML's and the json
module's generic writers print them, in a fraction of their time (rendering many specs spent
most of its time there)."""

from __future__ import annotations

import math
from functools import lru_cache
from json.encoder import encode_basestring

import yaml


@lru_cache(maxsize=1)
def _dumper():
    """libyaml's emitter (when PyYAML has it) writes the same text several times faster than
    the pure-Python one, which was most of a render's time; its tag decisions are cached."""
    from renderer.spec.load import memoized_resolve

    return memoized_resolve(type("Dumper", (getattr(yaml, "CSafeDumper", yaml.SafeDumper),), {}))


_STR, _MAP, _SEQ = "tag:yaml.org,2002:str", "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"
_FLOATS = yaml.representer.SafeRepresenter()  # its float text: .inf, .nan, 1.0e+17


def _node(value, seen: dict) -> yaml.Node:
    """The node SafeDumper's representer makes for plain spec data (block style, sorted keys,
    an alias for a dict or list met twice), built directly: the generic representer looks up
    a representer per value through the type's MRO and was half of writing spec.resolved.yaml.
    tests/test_emit.py checks the text against yaml.dump's."""
    kind = type(value)
    if kind is str:
        return yaml.ScalarNode(_STR, value)
    if kind is dict or kind is list:
        if id(value) in seen:
            return seen[id(value)]
        if kind is dict:
            node = seen[id(value)] = yaml.MappingNode(_MAP, [], flow_style=False)
            node.value.extend((yaml.ScalarNode(_STR, k) if type(k) is str else _node(k, seen),
                               _node(v, seen)) for k, v in sorted(value.items()))
        else:
            node = seen[id(value)] = yaml.SequenceNode(_SEQ, [], flow_style=False)
            node.value.extend(_node(v, seen) for v in value)
        return node
    if kind is bool:
        return yaml.ScalarNode("tag:yaml.org,2002:bool", "true" if value else "false")
    if kind is int:
        return yaml.ScalarNode("tag:yaml.org,2002:int", str(value))
    if value is None:
        return yaml.ScalarNode("tag:yaml.org,2002:null", "null")
    if kind is float:
        return _FLOATS.represent_float(value)
    raise TypeError(f"spec data holds a {kind.__name__}, which a spec cannot")


def yaml_text(data: dict) -> str:
    """`data` as yaml.safe_dump(data, sort_keys=True, allow_unicode=True, width=100,
    default_flow_style=False) writes it."""
    return yaml.serialize(_node(data, {}), Dumper=_dumper(), allow_unicode=True, width=100)




def json_text(value, pad: str = "") -> str:
    """`value` as json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) writes it.
    The json module falls back to its pure-Python encoder whenever it indents."""
    kind = type(value)
    if kind is str:
        return encode_basestring(value)
    if kind is dict:
        if not value:
            return "{}"
        inner = pad + "  "
        items = [f"{inner}{encode_basestring(k)}: {json_text(v, inner)}"
                 for k, v in sorted(value.items())]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if kind is list or kind is tuple:
        if not value:
            return "[]"
        inner = pad + "  "
        return "[\n" + ",\n".join(inner + json_text(v, inner) for v in value) + "\n" + pad + "]"
    if value is None:
        return "null"
    if kind is bool:
        return "true" if value else "false"
    if kind is int:
        return int.__repr__(value)
    if kind is float:
        if math.isfinite(value):
            return float.__repr__(value)
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    raise TypeError(f"Object of type {kind.__name__} is not JSON serializable")
