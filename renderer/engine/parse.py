"""Check SGLang launch-argument files against the REAL SGLang parser of one release.

Run it, as a file, with the Python of an env that holds that release (tools/sglang-env.sh builds
one; users' CI builds one with `ci/sglang-parse.sh`, which `servespec init` writes):

    .cache/sglang-0.5.23/bin/python renderer/engine/parse.py ARGS_FILE [ARGS_FILE ...]
    .cache/sglang-0.5.23/bin/python renderer/engine/parse.py --describe

ARGS_FILE is the renderer's sglang.args artifact: lines starting with '#' are comments, blank
lines are ignored, and every other line is one flag with its value(s) in POSIX shell quoting
(`--served-model-name 'glm-5.1'`), split with shlex.

For each file one JSON object is printed on its own line of stdout (JSON Lines):

    {"file": ..., "version": sglang.__version__, "ok": bool, "error": str | null,
     "errors": [str], "deprecated": [flag], "replacements": {flag: new flag},
     "namespace": {dest: value} | null}

The exit status is 0 when every file parses, 1 when any does not, 2 for a usage error and 3 when
sglang's parser cannot be imported (a broken env, not a bad file). A bad file never produces a
traceback: argparse's exit-on-error is turned into the "error" field.

Stricter than `sglang serve`, on purpose:
  * abbreviations are errors. argparse accepts any unambiguous prefix (`--tp 8` means
    `--tp-size 8`), so an abbreviation that works today silently changes meaning, or breaks, when
    a later release adds a flag with the same prefix (0.5.23's `--cuda-graph-max-bs` is exactly
    that). The renderer must emit full names; aliases SGLang defines itself (`--ep`) are fine.
  * a line holds one flag, and a flag is given once (argparse would keep the last silently).

--describe prints one JSON object describing every option of the parser (dest, action class,
choices, nargs, deprecation) plus choices that the parser leaves open but SGLang checks later;
tools/gen_sglang_flags.py builds renderer/catalog/sglang_flags.yaml from it.

Standard library only and importing nothing from servespec: the env holds sglang's import chain
and nothing else. It ships inside the package so a user's CI can run it without this repository.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import json
import os
import shlex
import sys
import warnings
from pathlib import Path


class ParseFailure(Exception):
    """argparse wanted to print usage and exit; we report the message instead."""


class _Parser(argparse.ArgumentParser):
    # Python 3.11's exit_on_error=False still calls error() for unrecognized arguments and
    # missing required ones, and error() exits: override both exits instead.
    def error(self, message):
        raise ParseFailure(message)

    def exit(self, status=0, message=None):
        raise ParseFailure((message or "").strip() or f"the parser exited with status {status}")


def build_parser():
    """sglang's own parser, built the way `sglang serve` builds it, minus abbreviations and -h."""
    # Importing sglang prints nothing we want on stdout, and 0.5.10's torchvision warns that its
    # image extension is missing (the parser never decodes an image): keep stdout for the JSON.
    with contextlib.redirect_stdout(sys.stderr), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import sglang
        from sglang.srt.server_args import ServerArgs

        parser = _Parser(prog="sglang serve", allow_abbrev=False, add_help=False)
        ServerArgs.add_cli_args(parser)
    return sglang.__version__, parser


def _is_deprecated(action) -> bool:
    # SGLang marks retired flags by action class: DeprecatedAction, DeprecatedStoreTrueAction,
    # DeprecatedStoreConstAction, DeprecatedAliasStoreAction (sglang/srt/arg_groups/
    # argparse_actions.py in 0.5.23; classes in server_args.py in 0.5.10).
    return type(action).__name__.startswith("Deprecated")


def _repeatable(action) -> bool:
    return isinstance(action, (argparse._AppendAction, argparse._AppendConstAction,
                               argparse._CountAction))


def _jsonable(value):
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return repr(value)


def read_lines(path: Path) -> list[tuple[int, str]]:
    """(line number, text) of the lines that carry a flag."""
    text = path.read_text(encoding="utf-8")
    out = []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            out.append((number, stripped))
    return out


def _unknown_flag_message(name: str, parser, version: str) -> str:
    options = parser._option_string_actions
    longer = sorted(o for o in options if o.startswith(name))
    if len(longer) == 1:
        return (f"{name} is an abbreviation of {longer[0]}: argparse would accept it, but servespec "
                f"emits full flag names (a later release can make a prefix ambiguous)")
    if longer:
        return (f"{name} is not a flag of sglang {version}; it is only a prefix of "
                f"{', '.join(longer)} (plain argparse reports it as ambiguous)")
    message = f"unknown flag {name} for sglang {version}"
    close = difflib.get_close_matches(name, list(options), n=3, cutoff=0.75)
    if close:
        message += f" (did you mean {' or '.join(close)}?)"
    return message


def _checked_argv(lines: list[tuple[int, str]], parser, version: str, result: dict) -> list[str]:
    """The tokens of the lines that pass the line checks; each failure goes to result["errors"],
    each deprecated flag to result["deprecated"] (and its new spelling to "replacements")."""
    errors = result["errors"]
    options = parser._option_string_actions
    argv: list[str] = []
    seen: dict[int, tuple[int, str]] = {}  # id(action) -> (line, flag) that set it first
    for number, line in lines:
        try:
            tokens = shlex.split(line, comments=False, posix=True)
        except ValueError as exc:
            errors.append(f"line {number}: cannot split as shell words ({exc}): {line}")
            continue
        if not tokens or not tokens[0].startswith("-"):
            errors.append(f"line {number}: expected a flag at the start of the line: {line}")
            continue
        flag = tokens[0].split("=", 1)[0]
        # argparse reads a later '--x' token as another option, unless it holds a space (then
        # it is a value, e.g. --sidecar-args '--foo bar'); mirror that rule.
        extra = [t for t in tokens[1:] if t.startswith("--") and " " not in t]
        if extra:
            errors.append(f"line {number}: one flag per line, but {flag} is followed by "
                          f"{', '.join(extra)}")
            continue
        action = options.get(flag)
        if action is None:
            errors.append(f"line {number}: {_unknown_flag_message(flag, parser, version)}")
            continue
        if id(action) in seen and not _repeatable(action):
            first_line, first_flag = seen[id(action)]
            same = "" if first_flag == flag else f" as {first_flag}"
            errors.append(f"line {number}: {flag} was already given on line {first_line}{same}; "
                          f"argparse would silently keep the last value")
            continue
        seen.setdefault(id(action), (number, flag))
        if _is_deprecated(action):
            result["deprecated"].append(flag)
            new_flag = getattr(action, "new_flag", None)
            if new_flag:
                result["replacements"][flag] = new_flag
        argv.extend(tokens)
    return argv


def check_file(path: Path, version: str, parser) -> dict:
    result = {"file": str(path), "version": version, "ok": False, "error": None, "errors": [],
              "deprecated": [], "replacements": {}, "namespace": None}
    errors = result["errors"]
    try:
        lines = read_lines(path)
    except (OSError, UnicodeDecodeError) as exc:
        errors.append(f"cannot read the file: {exc}")
        result["error"] = errors[0]
        return result

    argv = _checked_argv(lines, parser, version, result)

    # Lines that failed above are left out; the rest still goes through the real parser so that
    # one run reports bad values too. Its first complaint ends the parse, as in `sglang serve`.
    try:
        with contextlib.redirect_stdout(sys.stderr):
            namespace = parser.parse_args(argv)
    except ParseFailure as exc:
        errors.append(f"sglang {version} parser: {exc}")
    except Exception as exc:  # noqa: BLE001 - a custom action or type function may raise anything
        errors.append(f"sglang {version} parser raised {type(exc).__name__}: {exc}")
    else:
        if not errors:
            result["namespace"] = _jsonable(vars(namespace))

    result["ok"] = not errors
    result["error"] = "; ".join(errors) if errors else None
    return result


def _resolver_choices(parser) -> dict:
    """Values SGLang checks after parsing, for options whose parser takes any string."""
    out = {}
    action = next((a for a in parser._actions if a.dest == "speculative_algorithm"), None)
    if action is not None and action.choices is None:
        # 0.5.23: `--speculative-algorithm` is a free str; SpeculativeAlgorithm.from_string()
        # upper-cases it and accepts the enum's members (NONE means "off") and the reserved
        # aliases (NEXTN -> EAGLE). Plugins may register more at run time.
        try:
            with contextlib.redirect_stdout(sys.stderr):
                from sglang.srt.speculative.spec_info import SpeculativeAlgorithm
                try:
                    from sglang.srt.speculative.spec_registry import _RESERVED_ALIASES
                except ImportError:
                    _RESERVED_ALIASES = frozenset()
            names = {m.name for m in SpeculativeAlgorithm if m.name != "NONE"}
            out["speculative_algorithm"] = {
                "choices": sorted(names | set(_RESERVED_ALIASES)),
                "checked_by": "sglang.srt.speculative.spec_info.SpeculativeAlgorithm.from_string "
                              "(case-insensitive)",
            }
        except Exception as exc:  # noqa: BLE001 - report, don't guess
            out["speculative_algorithm"] = {"choices": None,
                                            "checked_by": f"unknown: {type(exc).__name__}: {exc}"}
    return out


def describe(version: str, parser) -> dict:
    options = {}
    for action in parser._actions:
        entry = {
            "option_strings": list(action.option_strings),
            "dest": action.dest,
            "action": type(action).__name__,
            "choices": _jsonable(list(action.choices)) if action.choices is not None else None,
            "nargs": _jsonable(action.nargs),
            "type": getattr(action.type, "__name__", None) if action.type else None,
            "required": bool(action.required),
            "default": _jsonable(action.default),
            "deprecated": _is_deprecated(action),
        }
        for attr in ("new_flag", "error_message"):
            if getattr(action, attr, None):
                entry[attr] = getattr(action, attr)
        for option in action.option_strings:
            options[option] = entry
    return {"version": version, "options": options, "resolver_choices": _resolver_choices(parser)}


def main(argv: list[str] | None = None) -> int:
    cli = argparse.ArgumentParser(
        prog="sglang_parse.py",
        description="Check SGLang argument files against the real parser of this env's sglang.")
    cli.add_argument("files", nargs="*", type=Path, metavar="ARGS_FILE")
    cli.add_argument("--describe", action="store_true",
                     help="print the parser's options as JSON instead of checking files")
    args = cli.parse_args(argv)
    if not args.files and not args.describe:
        cli.error("give at least one ARGS_FILE, or --describe")

    try:
        version, parser = build_parser()
    except Exception as exc:  # noqa: BLE001 - an env problem: say which, briefly
        print(f"sglang_parse: cannot build sglang's parser with {sys.executable}: "
              f"{type(exc).__name__}: {exc}. Rebuild the env (tools/sglang-env.sh).",
              file=sys.stderr)
        return 3

    try:
        if args.describe:
            sys.stdout.write(json.dumps(describe(version, parser), sort_keys=True) + "\n")
            return 0
        failed = False
        for path in args.files:
            result = check_file(path, version, parser)
            failed |= not result["ok"]
            sys.stdout.write(json.dumps(result, sort_keys=True) + "\n")
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader went away (`| head`); nobody is left to tell, so leave quietly.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
