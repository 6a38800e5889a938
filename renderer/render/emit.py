"""Plain data (dicts, lists, strings, numbers, booleans, None) as the text of a committed file:
the YAML of spec.resolved.yaml and the JSON of steps.json, exactly as PyYAML's and the json
module's generic writers print them, in a fraction of their time (rendering many specs spent
most of its time there)."""

from __future__ import annotations

import math
import re
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
    text = block_yaml(data)
    if text is not None:
        return text
    return yaml.serialize(_node(data, {}), Dumper=_dumper(), allow_unicode=True, width=100)


# --- the common case, written here -----------------------------------------------------------
# A spec is keys and values of printable ASCII: for those the emitter's choice is fixed (plain,
# or single-quoted where YAML 1.1 would read another type or an indicator comes first, folded at
# single spaces past the width), and lines are joined here several times faster than libyaml's
# emitter and its callbacks into Python. Anything else (non-ASCII, breaks, tabs, ' #', ': ',
# runs of spaces in a line that folds, a list met twice) goes to the emitter whole;
# tests/test_emit.py holds both to PyYAML's text.

WIDTH = 100  # PyYAML's best_width for width=100: a plain or quoted scalar folds past it
_PRINTABLE = re.compile(r"[ -~]+")  # ASCII: no breaks, tabs or characters the emitter escapes
_QUOTED_FIRST = frozenset("#,[]{}&*!|>'\"%@`")  # an indicator first: the emitter quotes
_tags: dict[str, bool] = {}
_strings: dict[str, str] = {}


class _Emitter(Exception):
    """The value needs the real emitter."""


def _reads_as_str(text: str) -> bool:
    """Whether YAML 1.1 (what PyYAML writes and reads) takes `text` unquoted as a string."""
    try:
        return _tags[text]
    except KeyError:
        pass
    tag = yaml.resolver.Resolver().resolve(yaml.ScalarNode, text, (True, False))
    if len(_tags) < 8192:
        _tags[text] = tag == _STR
    return tag == _STR


def _string(value: str) -> str:
    """A string's text before folding: plain, or single-quoted where the emitter quotes it."""
    if not value:
        return "''"
    if (not _PRINTABLE.fullmatch(value) or ": " in value or " #" in value
            or value[-1] in ": " or value[0] == " " or value.startswith(("---", "..."))
            or (value[0] in "-?:" and value[1:2] in ("", " "))):
        raise _Emitter
    if value[0] in _QUOTED_FIRST or not _reads_as_str(value):
        text = "'" + value.replace("'", "''") + "'"
    else:
        text = value
    if len(_strings) < 8192:  # the same keys and values recur in every spec
        _strings[value] = text
    return text


def _text(value, column: int, indent: int | None) -> str:
    """A scalar as it is written starting at `column`, its continuation lines at `indent`
    (None: a key, which stays on its line)."""
    kind = type(value)
    if kind is str:
        text = _strings.get(value) or _string(value)
        if indent is None or column + len(text) <= WIDTH or " " not in text:
            return text  # a key is never folded
        if "  " in value:
            raise _Emitter
        return _fold(text, column, indent)
    if kind is bool:
        return "true" if value else "false"
    if kind is int:
        return int.__repr__(value)
    if value is None:
        return "null"
    if kind is float:
        return _FLOATS.represent_float(value).value
    raise _Emitter


def _fold(text: str, column: int, indent: int) -> str:
    """Break at single spaces once a line has passed WIDTH, as the emitter folds a plain or
    single-quoted scalar (libyaml's yaml_emitter_write_plain / write_single_quoted)."""
    words = text.split(" ")
    pieces, column = [words[0]], column + len(words[0])
    for word in words[1:]:
        if column > WIDTH:
            pieces.append("\n" + " " * indent + word)
            column = indent + len(word)
        else:
            pieces.append(" " + word)
            column += 1 + len(word)
    return "".join(pieces)


def _mapping(data: dict, indent: int, out: list, seen: set) -> None:
    pad = " " * indent
    for key, value in sorted(data.items()):
        if type(key) is not str or len(key) > 80:
            raise _Emitter
        head = pad + _text(key, indent, None) + ":"
        kind = type(value)
        if (kind is dict or kind is list) and value:
            if id(value) in seen:
                raise _Emitter  # an alias
            seen.add(id(value))
            out.append(head)
            (_mapping if kind is dict else _sequence)(value, indent + 2 * (kind is dict), out, seen)
        else:
            out.append(f"{head} {_leaf(value, len(head) + 1, indent + 2, seen)}")


def _sequence(data: list, indent: int, out: list, seen: set) -> None:
    pad, bullet = " " * indent, " " * indent + "- "
    for value in data:
        kind = type(value)
        if (kind is dict or kind is list) and value:
            if id(value) in seen:
                raise _Emitter
            seen.add(id(value))
            start = len(out)
            (_mapping if kind is dict else _sequence)(value, indent + 2, out, seen)
            out[start] = bullet + out[start][indent + 2:]  # the first entry shares the dash's line
        else:
            out.append(pad + "- " + _leaf(value, indent + 2, indent + 2, seen))


def _leaf(value, column: int, indent: int, seen: set) -> str:
    kind = type(value)
    if kind is dict or kind is list:  # empty: flow style, as the emitter writes it
        if id(value) in seen:
            raise _Emitter
        seen.add(id(value))
        return "{}" if kind is dict else "[]"
    return _text(value, column, indent)


def block_yaml(data) -> str | None:
    """`data` as yaml_text writes it, when every value is of the common kind; else None."""
    if type(data) is not dict:
        return None
    if not data:
        return "{}\n"
    out: list[str] = []
    try:
        _mapping(data, 0, out, {id(data)})
    except _Emitter:
        return None
    return "\n".join(out) + "\n"




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
        items = [f"{inner}{encode_basestring(k)}: "
                 f"{encode_basestring(v) if type(v) is str else json_text(v, inner)}"
                 for k, v in sorted(value.items())]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if kind is list or kind is tuple:
        if not value:
            return "[]"
        inner = pad + "  "
        return "[\n" + ",\n".join(inner + (encode_basestring(v) if type(v) is str else json_text(v, inner))
                                   for v in value) + "\n" + pad + "]"
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
