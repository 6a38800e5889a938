"""Regenerate renderer/catalog/sglang_flags.yaml from the REAL SGLang parsers, or verify it has not drifted.

    .venv/bin/python tools/gen_sglang_flags.py --verify         # CI / tests: exit 1 on drift
    .venv/bin/python tools/gen_sglang_flags.py --write          # rewrite the table in place
    .venv/bin/python tools/gen_sglang_flags.py --write --add-version 0.5.24

Each version's parser comes from the env that tools/sglang-env.sh builds for it (--build runs that
script for envs that are missing). The parser is asked through `renderer/engine/parse.py --describe`
in that env, so this script itself needs only PyYAML.

What is hand-written and what is derived:
  * hand-written, carried over untouched: `options` (every spelling a logical option has in any
    supported version, preferred first, and a note) and every `source`/`sources` note;
  * derived from the parsers, never to be edited by hand: per version `flags` (the first of the
    option's names that the parser has, or null), `choices` (the parser's choices for every
    rendered option that has them, or the values SGLang checks after parsing where the parser
    takes any string), `deprecated` (every option string whose action class is Deprecated*) and
    `all_flags` (every option string the parser accepts; renderer/resolve/sglang_args.py checks
    engine.extra_args against it).
A derived entry that is new, or whose value changed, gets a fresh "verified with the real parser
on <today>" note; the old value is kept in the note so a reviewer sees what moved.

The output is deterministic, so --verify is a byte comparison: any drift, in a parser or in the
file, shows as a unified diff.
"""

from __future__ import annotations

import argparse
import datetime
import difflib
import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
TABLE = ROOT / "renderer" / "catalog" / "sglang_flags.yaml"
PARSE = ROOT / "renderer" / "engine" / "parse.py"
ENV_SCRIPT = ROOT / "tools" / "sglang-env.sh"

HEADER = """\
# SGLang flag names per version: which flag spells each logical option servespec renders, the
# allowed values of enum options, deprecated flags and every flag the version accepts.
#
# GENERATED from the real SGLang argument parsers by tools/gen_sglang_flags.py (each version's
# parser installed by tools/sglang-env.sh). Hand-edit only `options` (the spellings to look for,
# preferred first) and the `source`/`sources`/`note` texts; the generator keeps those and derives
# everything else. After an edit, or to add a version:
#   .venv/bin/python tools/gen_sglang_flags.py --write [--add-version X.Y.Z]
# tests/test_sglang_parser.py runs `--verify` and fails on any drift.
#
# Every flag has one owner. `options.*.owner` names the spec field that owns the option's flags:
# engine.extra_args refuses them pointing at that field (SS122), whether or not a spec renders
# them. `extra_args` (hand-edited) lists the flags without a spec field that change SGLang's
# memory accounting or parallel shape: `estimate` says where the estimate and the memory rules
# read the value, `refused` why SS220 refuses it. Any other flag of the version passes through.
"""


class GenError(Exception):
    """A problem the user must fix (missing env, broken table); printed without a traceback."""


def version_key(version: str) -> tuple:
    # 0.5.9 < 0.5.10 < 0.5.10.post1; a string sort would put 0.5.10 first.
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p)
                 for p in version.replace("rc", ".rc").split("."))


def env_root() -> Path:
    return Path(os.environ.get("SERVESPEC_SGLANG_ENV_ROOT", ROOT / ".cache"))


def env_python(version: str) -> Path:
    return env_root() / f"sglang-{version}" / "bin" / "python"


def describe(version: str, build: bool) -> dict:
    python = env_python(version)
    if not python.exists():
        if not build:
            raise GenError(f"no parser env for sglang {version} at {python.parent.parent}; "
                           f"build it with `bash tools/sglang-env.sh {version}` (or pass --build)")
        done = subprocess.run(["bash", str(ENV_SCRIPT), version], check=False)
        if done.returncode != 0:
            raise GenError(f"tools/sglang-env.sh {version} failed (exit {done.returncode})")
    done = subprocess.run([str(python), str(PARSE), "--describe"], capture_output=True, text=True,
                          check=False)
    if done.returncode != 0:
        raise GenError(f"describing sglang {version}'s parser failed (exit {done.returncode}):\n"
                       + done.stderr.strip()[-2000:])
    described = json.loads(done.stdout)
    if described["version"] != version:
        raise GenError(f"the env for {version} holds sglang {described['version']}")
    return described


def _note(old_notes: dict, key, value, old_value, today: str) -> str:
    """Keep a hand-written note while the value it describes is unchanged."""
    if key in old_notes and value == old_value:
        return old_notes[key]
    note = f"verified with the real parser on {today}"
    if value is None:
        note += ": no such flag"
    if old_value is not None and value != old_value:
        note += f" (was {old_value!r})"
    return note


def generate(table: dict, described: dict[str, dict], today: str) -> dict:
    options = table.get("options") or {}
    if not options:
        raise GenError("the table has no `options` section to derive flags from")
    old_versions = table.get("versions") or {}
    # A spelling no supported version has is a typo, or a version that left the table.
    every = set().union(*(set(d["options"]) for d in described.values()))
    for key, spec in options.items():
        dead = [n for n in spec.get("names", []) if n not in every]
        if not spec.get("names") or dead:
            raise GenError(f"options.{key}: names {dead or '[]'} are flags of no supported version")

    versions = {}
    for version in sorted(described, key=version_key):
        parser = described[version]["options"]
        resolver = described[version].get("resolver_choices", {})
        old = old_versions.get(version) or {}
        old_flags, old_sources = old.get("flags") or {}, old.get("sources") or {}
        old_choices = old.get("choices") or {}

        flags, sources, choices, choice_notes = {}, {}, {}, {}
        for key, spec in options.items():
            present = [n for n in spec["names"] if n in parser]
            if spec.get("not_deprecated"):  # a fallback spelling, wanted only where it is current
                present = [n for n in present if not parser[n]["deprecated"]]
            # Prefer a spelling that is not deprecated; among those, the table's order.
            present.sort(key=lambda n: parser[n]["deprecated"])
            flag = present[0] if present else None
            flags[key] = flag
            sources[key] = _note(old_sources, key, flag, old_flags.get(key, flag), today)
            if flag is None:
                continue
            entry = parser[flag]
            if entry["choices"] is not None:
                choices[key] = FlowList(str(c) for c in entry["choices"])
            elif entry["dest"] in resolver and resolver[entry["dest"]]["choices"]:
                choices[key] = FlowList(resolver[entry["dest"]]["choices"])
                choice_notes[key] = ("the parser takes any string; values are checked after "
                                     "parsing by " + resolver[entry["dest"]]["checked_by"])
            if key in old_choices and old_choices[key] != choices.get(key):
                # The note vouched for the old values; say when the new ones were read.
                sources[key] = f"verified with the real parser on {today} (choices changed)"

        old_deprecated = old.get("deprecated") or {}
        deprecated = {}
        for name in sorted(n for n, e in parser.items() if e["deprecated"]):
            entry = parser[name]
            item = {"action": entry["action"], "replacement": entry.get("new_flag")}
            if entry.get("error_message"):
                item["error"] = entry["error_message"]
            previous = old_deprecated.get(name) or {}
            # A note written before the entry was generated (no derived keys yet) is kept too.
            same = all(previous.get(k, v) == v for k, v in item.items())
            item["source"] = (previous["source"] if same and "source" in previous else
                              f"{entry['action']} in the real parser, found on {today}")
            deprecated[name] = item

        out = {"source": old.get("source") or (
                   f"sglang=={version} wheel from PyPI, parser read by renderer/engine/parse.py "
                   f"--describe in the env tools/sglang-env.sh {version} builds; verified with the "
                   f"real parser on {today}"),
               "flags": flags, "sources": sources, "choices": choices}
        if choice_notes:
            out["choice_notes"] = choice_notes
        out["deprecated"] = deprecated
        out["all_flags"] = sorted(parser)
        versions[Quoted(version)] = out
    for spec in options.values():
        spec["names"] = FlowList(spec["names"])
    extra = table.get("extra_args") or {}
    for name, entry in extra.items():
        if f"--{name}" not in every:
            raise GenError(f"extra_args.{name}: --{name} is a flag of no supported version")
        if sorted(entry) not in (["estimate"], ["refused"]):
            raise GenError(f"extra_args.{name}: give `estimate` or `refused`, one of them")
    out = {"schema": 1, "options": options}
    if extra:
        out["extra_args"] = extra
    return {**out, "versions": versions}


class _Dumper(yaml.SafeDumper):
    """Block style, except FlowList: short enum lists read best on one (wrapped) line, while
    long lists (all_flags) keep one item per line so a drift diff names exactly what moved."""


class FlowList(list):
    pass


class Quoted(str):
    """A version number, quoted so no reader takes a future "1.0" for a float."""


_Dumper.add_representer(FlowList, lambda d, data: d.represent_sequence(
    "tag:yaml.org,2002:seq", data, flow_style=True))
_Dumper.add_representer(Quoted, lambda d, data: d.represent_scalar(
    "tag:yaml.org,2002:str", data, style='"'))


def render(generated: dict) -> str:
    body = yaml.dump(generated, Dumper=_Dumper, sort_keys=False, default_flow_style=False,
                     width=100, allow_unicode=True)
    return HEADER + body


def load(path: Path) -> dict:
    try:
        with open(path, encoding="utf-8") as fh:
            return yaml.safe_load(fh) or {}
    except FileNotFoundError:
        raise GenError(f"{path} does not exist") from None
    except yaml.YAMLError as exc:
        raise GenError(f"{path} is not valid YAML: {exc}") from None


def main(argv: list[str] | None = None) -> int:
    cli = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = cli.add_mutually_exclusive_group(required=True)
    # --check: the old spelling of --verify, kept for one release.
    mode.add_argument("--verify", "--check", dest="check", action="store_true",
                      help="exit 1 if the table has drifted")
    mode.add_argument("--write", action="store_true", help="rewrite the table in place")
    mode.add_argument("--stdout", action="store_true", help="print the regenerated table")
    cli.add_argument("--table", type=Path, default=TABLE)
    cli.add_argument("--add-version", action="append", default=[], metavar="X.Y.Z")
    cli.add_argument("--build", action="store_true",
                     help="build missing parser envs with tools/sglang-env.sh")
    cli.add_argument("--save-parsers", type=Path, metavar="JSON",
                     help="also save what the parsers described (version -> --describe output)")
    cli.add_argument("--parsers", type=Path, metavar="JSON",
                     help="read the parsers from a file --save-parsers wrote, not from the envs "
                          "(regenerating several tables from one reading)")
    cli.add_argument("--today", default=datetime.date.today().isoformat(),
                     help=argparse.SUPPRESS)  # fixed dates for tests
    args = cli.parse_args(argv)

    try:
        table = load(args.table)
        wanted = sorted(set(table.get("versions") or {}) | set(args.add_version), key=version_key)
        if not wanted:
            raise GenError("no versions: the table lists none and no --add-version was given")
        if args.parsers:
            saved = json.loads(args.parsers.read_text(encoding="utf-8"))
            missing = [v for v in wanted if v not in saved]
            if missing:
                raise GenError(f"{args.parsers} holds no parser for {', '.join(missing)}")
            described = {v: saved[v] for v in wanted}
        else:
            described = {v: describe(v, args.build) for v in wanted}
        if args.save_parsers:
            args.save_parsers.write_text(json.dumps(described, sort_keys=True), encoding="utf-8")
        text = render(generate(table, described, args.today))
    except GenError as exc:
        print(f"gen_sglang_flags: {exc}", file=sys.stderr)
        return 2

    current = args.table.read_text(encoding="utf-8")
    if args.stdout:
        sys.stdout.write(text)
        return 0
    if args.write:
        if text != current:
            args.table.write_text(text, encoding="utf-8")
            print(f"gen_sglang_flags: wrote {args.table}")
        else:
            print(f"gen_sglang_flags: {args.table} is up to date")
        return 0
    if text == current:
        print(f"gen_sglang_flags: {args.table} matches the real parsers of "
              f"{', '.join(wanted)}")
        return 0
    sys.stdout.writelines(difflib.unified_diff(
        current.splitlines(keepends=True), text.splitlines(keepends=True),
        fromfile=f"{args.table} (committed)", tofile="regenerated from the real parsers"))
    print(f"gen_sglang_flags: {args.table} has drifted from the real parsers; review the diff, "
          f"then run tools/gen_sglang_flags.py --write", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
