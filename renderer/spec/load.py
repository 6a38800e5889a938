"""Stage 1, load: read a spec file into plain data, remembering where every value stands.

PyYAML alone is the wrong tool for a file users edit by hand: it keeps the last of two duplicate
keys without a word, forgets line numbers once it builds Python objects, and follows YAML 1.1,
where `no` is false, `3.10` is the number 3.1 and `017` is fifteen. So this module composes the
YAML node graph itself (libyaml when present), resolves scalars with YAML 1.2 core rules (only
true/false are booleans, only plain decimal numbers are numbers; everything else stays a string
for the schema to reject as the wrong type), and records the position of every key and value.

A spec may name a base with `extends:`; mappings merge key by key, other values replace, null
removes a key (JSON Merge Patch, RFC 7396), and each value keeps the position of the file it came
from.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import yaml

from renderer.errors import Finding, LoadError, Position
from renderer.spec import renames

MAX_BYTES = 1024 * 1024  # a spec is a page of settings; a megabyte is a mistake, not a spec
MAX_DEPTH = 32
MAX_NODES = 20_000  # bounds alias expansion ("billion laughs") as well as honest size

PathKey = tuple  # ("scaling", "min_replicas"), list indexes as ints


# --- YAML 1.2 core scalar resolution -------------------------------------------------------


def memoized_resolve(cls):
    """Give a PyYAML resolver class a cache of its tag decisions. With no path resolvers
    registered, the tag of a node depends on (kind, value, implicit) alone, and the same keys
    and values recur in every spec: libyaml calls resolve() back in Python once per scalar
    (twice when writing), which was a fifth of loading a spec and of writing
    spec.resolved.yaml. A plain dict, not functools.lru_cache: the call itself is the cost."""
    prototype = cls.__new__(cls)
    yaml.resolver.BaseResolver.__init__(prototype)
    uncached = cls.resolve
    cache: dict = {}

    def resolve(self, kind, value, implicit):
        try:
            return cache[kind, value, implicit]
        except KeyError:
            pass
        except TypeError:  # a list of flags (the pure-Python parser): not a dict key
            return uncached(self, kind, value, implicit)
        if self.yaml_path_resolvers:
            return uncached(self, kind, value, implicit)
        tag = uncached(prototype, kind, value, implicit)
        if len(cache) < 8192 and (value is None or len(value) <= 200):
            cache[kind, value, implicit] = tag
        return tag

    cls.resolve = resolve
    return cls


@memoized_resolve
class _Resolver(yaml.resolver.BaseResolver):
    """Only the YAML 1.2 core schema's booleans, nulls and plain decimal numbers."""


_Resolver.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_Resolver.add_implicit_resolver(
    "tag:yaml.org,2002:null", re.compile(r"^(?:~|null|Null|NULL|)$"), ["~", "n", "N", ""]
)
_Resolver.add_implicit_resolver(
    "tag:yaml.org,2002:int", re.compile(r"^[-+]?(?:0|[1-9][0-9]*)$"), list("-+0123456789")
)
_Resolver.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9]+\.[0-9]*|\.[0-9]+|[0-9]+(?:\.[0-9]*)?[eE][-+]?[0-9]+)$"),
    list("-+.0123456789"),
)

try:  # libyaml is several times faster; the pure-Python parser gives the same nodes
    from yaml._yaml import CParser as _Parser
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml.composer import Composer
    from yaml.parser import Parser as _Parser  # type: ignore[assignment]
    from yaml.reader import Reader
    from yaml.scanner import Scanner

    class _Loader(Reader, Scanner, _Parser, Composer, _Resolver):  # type: ignore[misc]
        def __init__(self, stream):
            Reader.__init__(self, stream)
            Scanner.__init__(self)
            _Parser.__init__(self)
            Composer.__init__(self)
            _Resolver.__init__(self)
else:

    class _Loader(_Parser, _Resolver):  # type: ignore[no-redef]
        def __init__(self, stream):
            _Parser.__init__(self, stream)
            _Resolver.__init__(self)


_STR = "tag:yaml.org,2002:str"
_COLLECTION_TAGS = {"tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"}
_tuple_new = tuple.__new__
_SCALAR_TAGS = {
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
}


# --- the loaded document -------------------------------------------------------------------


@dataclass
class Document:
    """A spec's data plus where each value came from."""

    path: Path  # the spec file as named by the user
    data: dict
    value_pos: dict[PathKey, Position] = field(default_factory=dict)
    key_pos: dict[PathKey, Position] = field(default_factory=dict)
    raw: dict[PathKey, str] = field(default_factory=dict)  # source text of plain scalars
    sources: list[Path] = field(default_factory=list)  # this file and its bases, child first
    renamed: list = field(default_factory=list)  # renames.Renamed: old spellings it used
    # whether a file wrote a whole number as a float (2.0), which the compiled schema cannot
    # tell from an integer (renderer/spec/compiled.py); None: not known, look at the data
    whole_float: bool | None = None

    @property
    def name(self) -> str:
        return self.path.stem

    def position(self, path: PathKey, *, key: bool = False) -> Position:
        """Position of the value at `path`, or of its nearest ancestor that is in a file."""
        probe = tuple(path)
        # A finding about a whole section points at its key: a block mapping's value starts on
        # the line below, at its first child, which would blame the wrong field.
        table = self.key_pos if key or self._is_section(probe) else self.value_pos
        while probe:
            if probe in table:
                return table[probe]
            if probe in self.key_pos:
                return self.key_pos[probe]
            probe = probe[:-1]
        whole = self.value_pos.get(())
        return whole if whole is not None else Position(display(self.path), 1, 1)

    def _is_section(self, path: PathKey) -> bool:
        value = self.data
        for part in path:
            try:
                value = value[part]
            except (KeyError, IndexError, TypeError):
                return False
        return isinstance(value, (dict, list)) and path in self.key_pos

    def file_dir(self, path: PathKey) -> Path:
        """Directory of the file that set `path`: relative paths in a value are relative to it."""
        pos = self.position(path)
        return Path(pos.file).parent


def display(path: Path) -> str:
    """The path as the user should read it in a message: relative to the working directory."""
    return _display(str(path), os.getcwd())


@lru_cache(maxsize=4096)  # every finding and position names its file; relpath is string work
def _display(path: str, cwd: str) -> str:
    try:
        rel = os.path.relpath(path, cwd)
    except ValueError:  # another drive on Windows
        return path
    return path if rel.startswith("..") else rel


# --- reading one file ----------------------------------------------------------------------


def _fail(file: str, message: str, line: int = 1, col: int = 1, rule: str = "file") -> LoadError:
    return LoadError([Finding(Position(file, line, col), "", message, rule)])


def read_text(path: Path) -> str:
    name = display(path)
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise _fail(name, f"file is {size} bytes; a spec may be at most {MAX_BYTES} (1 MiB)")
        blob = path.read_bytes()
    except FileNotFoundError:
        raise _fail(name, "no such file") from None
    except IsADirectoryError:
        raise _fail(name, "is a directory, not a spec file") from None
    except PermissionError:
        raise _fail(name, "permission denied") from None
    except OSError as exc:
        raise _fail(name, f"cannot read: {exc.strerror or exc}") from None
    if b"\x00" in blob:
        raise _fail(name, "binary data (NUL bytes), not a YAML spec")
    try:
        text = blob.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = blob[: exc.start].count(b"\n") + 1
        raise _fail(name, "not UTF-8 text (binary data?)", line) from None
    return text.removeprefix("\ufeff")


def compose(text: str, name: str) -> yaml.Node:
    loader = None
    try:
        loader = _Loader(text)
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        if "expected a single document" in str(exc):
            problem = "more than one YAML document ('---'); a spec is a single mapping"
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise _fail(name, f"invalid YAML: {problem}", line, col, "yaml") from None
    except yaml.YAMLError as exc:  # reader errors: control characters and the like
        raise _fail(name, f"invalid YAML: {exc}", rule="yaml") from None
    finally:
        if loader is not None:
            loader.dispose()
    if node is None:
        raise _fail(name, "empty file: expected a mapping of spec fields")
    return node


class _Builder:
    """Turns a node graph into plain data, collecting findings instead of stopping at the first."""

    def __init__(self, name: str):
        self.name = name
        self.findings: list[Finding] = []
        self.value_pos: dict[PathKey, Position] = {}
        self.key_pos: dict[PathKey, Position] = {}
        self.raw: dict[PathKey, str] = {}
        self.nodes = 0
        self.whole_float = False

    def pos(self, node: yaml.Node) -> Position:
        mark = node.start_mark  # tuple.__new__: one per key and value, the namedtuple call costs
        return _tuple_new(Position, (self.name, mark.line + 1, mark.column + 1))

    def error(self, node: yaml.Node, path: PathKey, message: str, rule: str = "yaml") -> None:
        self.findings.append(Finding(self.pos(node), dotted(path), message, rule))

    def build(self, node: yaml.Node, path: PathKey = ()):
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise _fail(self.name, f"more than {MAX_NODES} YAML nodes (alias expansion?)", rule="yaml")
        if len(path) > MAX_DEPTH:
            raise _fail(self.name, f"nested deeper than {MAX_DEPTH} levels", *self._lc(node), "yaml")
        self.value_pos[path] = self.pos(node)
        kind = type(node)
        if kind is yaml.ScalarNode:
            return self._scalar(node, path)
        if node.tag not in _COLLECTION_TAGS:
            self.error(node, path, f"YAML tag {node.tag!r} is not supported in a spec")
            return None
        if kind is yaml.MappingNode:
            return self._mapping(node, path)
        return [self.build(item, path + (i,)) for i, item in enumerate(node.value)]

    def _lc(self, node: yaml.Node) -> tuple[int, int]:
        return node.start_mark.line + 1, node.start_mark.column + 1

    def _mapping(self, node: yaml.MappingNode, path: PathKey) -> dict:
        out: dict = {}
        for key_node, value_node in node.value:
            plain_key = type(key_node) is yaml.ScalarNode and key_node.tag == _STR
            if not plain_key or (key_node.value == "<<" and not key_node.style):
                self._bad_key(key_node, path)
                continue
            key = key_node.value
            child = path + (key,)
            if key in out:
                first = self.key_pos[child]
                self.error(
                    key_node,
                    child,
                    f"duplicate key '{key}' (first at line {first.line}); YAML would silently keep"
                    " only the last one",
                    "duplicate-key",
                )
                continue
            self.key_pos[child] = self.pos(key_node)
            out[key] = self.build(value_node, child)
        return out

    def _bad_key(self, key_node: yaml.Node, path: PathKey) -> None:
        if key_node.tag == "tag:yaml.org,2002:merge" or (
            isinstance(key_node, yaml.ScalarNode) and key_node.value == "<<" and not key_node.style
        ):
            self.error(key_node, path, "merge keys ('<<') are not supported; use 'extends:'")
            return
        shown = getattr(key_node, "value", "?")
        shown = shown if isinstance(shown, str) else type(key_node).__name__
        self.error(key_node, path, f"key {shown!r} is not a string; quote it")

    def _scalar(self, node: yaml.ScalarNode, path: PathKey):
        tag, text = node.tag, node.value
        if tag not in _SCALAR_TAGS:
            self.error(node, path, f"YAML tag {tag!r} is not supported in a spec")
            return None
        if not node.style:  # plain scalar (libyaml says "", PyYAML None): keep text for hints
            self.raw[path] = text
        if tag == "tag:yaml.org,2002:bool":
            return text.lower() == "true"
        if tag == "tag:yaml.org,2002:null":
            return None
        if tag == "tag:yaml.org,2002:int":
            return int(text)
        if tag == "tag:yaml.org,2002:float":
            value = float(text)
            self.whole_float = self.whole_float or value.is_integer()
            return value
        return text


def dotted(path: PathKey) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def load_file(path: Path) -> Document:
    """Read one file, no `extends` handling. Raises LoadError with every finding at once."""
    name = display(path)
    node = compose(read_text(path), name)
    builder = _Builder(name)
    if not isinstance(node, yaml.MappingNode):
        kind = "a list" if isinstance(node, yaml.SequenceNode) else "a single value"
        raise _fail(name, f"the top level is {kind}; a spec is a mapping of fields", *builder._lc(node))
    data = builder.build(node)
    if builder.findings:
        raise LoadError(sorted(builder.findings, key=Finding.sort_key))
    return Document(path, data, builder.value_pos, builder.key_pos, builder.raw, [path],
                    whole_float=builder.whole_float)


# --- extends ---------------------------------------------------------------------------------


def load(path: Path | str, _chain: tuple[Path, ...] = ()) -> Document:
    """Load a spec and, recursively, the bases it extends; return the merged document."""
    path = Path(path)
    doc = load_file(path)
    renames.apply(doc)  # per file, before merging: old and new spellings merge key by key
    base_ref = doc.data.pop("extends", None)
    if base_ref is None:
        return doc
    if not isinstance(base_ref, str) or not base_ref:
        raise LoadError([Finding(doc.position(("extends",)), "extends",
                                 "expected the path of a base spec (a string)", "schema")])
    base_path = (path.parent / base_ref).resolve()
    if base_path in _chain or base_path == path.resolve():
        raise LoadError([Finding(doc.position(("extends",)), "extends",
                                 f"'{base_ref}' extends itself (a cycle)", "extends")])
    if not base_path.is_file():
        raise LoadError([Finding(doc.position(("extends",)), "extends",
                                 f"base spec '{base_ref}' not found next to {display(path)}",
                                 "extends")])
    base = load(base_path, _chain + (path.resolve(),))
    return _merge(base, doc)


def _merge(base: Document, child: Document) -> Document:
    """Child values win; mappings merge key by key; positions follow the value they describe."""
    merged = Document(child.path, {}, sources=child.sources + base.sources,
                      renamed=child.renamed + base.renamed,
                      whole_float=None if None in (child.whole_float, base.whole_float)
                      else child.whole_float or base.whole_float)
    merged.value_pos[()] = child.value_pos[()]
    for table, source in ((merged.value_pos, child.value_pos), (merged.key_pos, child.key_pos)):
        if ("extends",) in source:  # gone from the data, still the line rules point at
            table[("extends",)] = source[("extends",)]
    merged.data = _merge_into(base, child, (), base.data, child.data, merged)
    return merged


def _merge_into(base, child, path, base_value, child_value, out: Document):
    if isinstance(base_value, dict) and isinstance(child_value, dict):
        out.value_pos[path] = child.value_pos[path]
        if path in child.key_pos:
            out.key_pos[path] = child.key_pos[path]
        result = {}
        for key in list(base_value) + [k for k in child_value if k not in base_value]:
            sub = path + (key,)
            if key in child_value and child_value[key] is None:
                continue  # JSON Merge Patch (RFC 7396): null in an override removes the key
            if key in child_value:
                result[key] = _merge_into(base, child, sub, base_value.get(key), child_value[key], out)
            else:
                _copy_positions(base, sub, out)
                result[key] = base_value[key]
        return result
    _copy_positions(child, path, out)
    return child_value


def _copy_positions(src: Document, prefix: PathKey, out: Document) -> None:
    n = len(prefix)
    for table, dest in ((src.value_pos, out.value_pos), (src.key_pos, out.key_pos),
                        (src.raw, out.raw)):
        for key, value in table.items():
            if key[:n] == prefix:
                dest[key] = value
