"""The flag table and the argument check against the REAL SGLang parsers.

For every version in renderer/catalog/sglang_flags.yaml a session fixture builds (or finds
cached) the env of tools/sglang-env.sh: the real sglang wheel of that version on a CPU torch.
Every check then goes through renderer/engine/parse.py running in that env, i.e. through
`ServerArgs.add_cli_args` of the real release, never through a copy of its flag list:

  (a) each non-null flag of the table is accepted (with every recorded choice), each null one is
      rejected under every spelling other versions use, deprecated flags are reported as such;
  (b) known-good argument files, and the renderer's own rendered/*/sglang.args, parse;
  (c) unknown flags, abbreviations, removed flags, bad values and malformed files fail with an
      error that names the flag, and never with a traceback;
  (d) tools/gen_sglang_flags.py regenerates exactly the committed table (and notices a change).

No test skips: an env that cannot be built fails the tests of its version. The first build of an
env takes about a minute (and 2 GB); after that it is cached under .cache/.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
ENV_SCRIPT = ROOT / "tools" / "sglang-env.sh"
PARSE = ROOT / "renderer" / "engine" / "parse.py"
GENERATOR = ROOT / "tools" / "gen_sglang_flags.py"
TABLE_PATH = ROOT / "renderer" / "catalog" / "sglang_flags.yaml"
FIXTURES = ROOT / "tests" / "fixtures" / "sglang"
ENV_ROOT = Path(os.environ.get("SERVESPEC_SGLANG_ENV_ROOT", ROOT / ".cache"))

ENV_BUILD_TIMEOUT = 1800  # seconds; a cold build takes about a minute here
PARSE_TIMEOUT = 300

TABLE = yaml.safe_load(TABLE_PATH.read_text(encoding="utf-8"))
VERSIONS = sorted(TABLE["versions"])


# --- the envs ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def sglang_env():
    """version -> python of its real-parser env, built on first use (cached on disk after)."""
    built: dict[str, Path] = {}
    failed: dict[str, str] = {}

    def get(version: str) -> Path:
        if version in failed:
            pytest.fail(failed[version])
        if version not in built:
            proc = subprocess.run(["bash", str(ENV_SCRIPT), version], capture_output=True,
                                  text=True, timeout=ENV_BUILD_TIMEOUT, check=False)
            python = ENV_ROOT / f"sglang-{version}" / "bin" / "python"
            if proc.returncode != 0 or not python.exists():
                failed[version] = (f"tools/sglang-env.sh {version} failed (exit {proc.returncode})"
                                   f":\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
                pytest.fail(failed[version])
            built[version] = python
        return built[version]

    return get


def parse(python: Path, *files: Path) -> tuple[int, list[dict], str]:
    proc = subprocess.run([str(python), str(PARSE), *map(str, files)], capture_output=True,
                          text=True, timeout=PARSE_TIMEOUT, check=False)
    assert "Traceback" not in proc.stderr, proc.stderr
    results = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [r["file"] for r in results] == [str(f) for f in files], proc.stdout + proc.stderr
    return proc.returncode, results, proc.stderr


_described: dict[Path, dict] = {}


def describe(python: Path) -> dict:
    """The env's parser as `sglang_parse.py --describe` reports it (read once per session)."""
    if python not in _described:
        proc = subprocess.run([str(python), str(PARSE), "--describe"], capture_output=True,
                              text=True, timeout=PARSE_TIMEOUT, check=False)
        assert proc.returncode == 0, proc.stderr
        _described[python] = json.loads(proc.stdout)
    return _described[python]


def write_args(path: Path, *lines: str) -> Path:
    path.write_text("# written by tests/test_sglang_parser.py\n" + "\n".join(lines) + "\n",
                    encoding="utf-8")
    return path


def sample_value(entry: dict) -> str | None:
    """A value of the right type for an option the parser describes (None: a bare switch)."""
    if entry["nargs"] == 0:
        return None
    if entry["choices"]:
        return str(entry["choices"][0])
    return {"int": "8", "float": "0.5", "human_readable_int": "64k"}.get(entry["type"], "x")


MODEL = "--model-path /models/m"  # the parser requires it; every test file carries it


# --- (a) the table against the real parsers ---------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
def test_table_flags_accepted_and_nulls_rejected(version, sglang_env, tmp_path):
    python = sglang_env(version)
    entry = TABLE["versions"][version]
    options = describe(python)["options"]
    files: list[tuple[str, Path]] = []  # (what it checks, file)
    expect_ok: dict[Path, str] = {}
    expect_rejected: dict[Path, str] = {}

    for n, (key, flag) in enumerate(entry["flags"].items()):
        if flag is None:
            # Null means no spelling of the option, from any version, exists here (for a
            # `not_deprecated` option: none that is not deprecated; describe() says which).
            names = TABLE["options"][key]["names"]
            assert names, f"{key}: no spelling to try"
            if TABLE["options"][key].get("not_deprecated"):
                assert all(options[n]["deprecated"] for n in names if n in options), key
                names = [n for n in names if n not in options]
            for m, name in enumerate(names):
                path = write_args(tmp_path / f"null-{n}-{m}.args", MODEL, f"{name} 1")
                files.append((f"{key}: {name} must be rejected by {version}", path))
                expect_rejected[path] = name
            continue
        if key == "model_path":
            values = ["/models/m"]
        elif key in entry["choices"]:
            values = entry["choices"][key]  # every recorded choice goes through the parser
        else:
            # A flag the parser lacks still goes through it: the parser's error is the report.
            values = [sample_value(options[flag]) if flag in options else "1"]
        for m, value in enumerate(values):
            line = flag if value is None else f"{flag} {value}"
            lines = [line] if key == "model_path" else [MODEL, line]
            path = write_args(tmp_path / f"flag-{n}-{m}.args", *lines)
            files.append((f"{key}: {line!r} must parse on {version}", path))
            expect_ok[path] = flag

    rc, results, _ = parse(python, *(path for _, path in files))
    by_file = {Path(r["file"]): r for r in results}
    problems = []
    for what, path in files:
        result = by_file[path]
        if path in expect_ok:
            if not result["ok"]:
                problems.append(f"{what}: {result['error']}")
            elif result["deprecated"]:
                problems.append(f"{what}: the table maps to a deprecated flag {result['deprecated']}")
        elif result["ok"] or expect_rejected[path] not in result["error"]:
            problems.append(f"{what}: got ok={result['ok']} error={result['error']}")
    assert not problems, "\n".join(problems)
    assert rc == (1 if expect_rejected else 0)


@pytest.mark.parametrize("version", VERSIONS)
def test_table_deprecated_flags_are_reported(version, sglang_env, tmp_path):
    python = sglang_env(version)
    deprecated = TABLE["versions"][version]["deprecated"]
    options = describe(python)["options"]
    files = {}
    for n, flag in enumerate(sorted(deprecated)):
        assert flag in options, f"{flag} is not a flag of {version}"
        value = sample_value(options[flag])
        files[flag] = write_args(tmp_path / f"dep-{n}.args", MODEL,
                                 flag if value is None else f"{flag} {value}")
    if not files:
        return
    _, results, _ = parse(python, *files.values())
    for (flag, _), result in zip(files.items(), results):
        # A retired flag either still works with a warning or stops the launch by design
        # (DeprecatedAction with error_message); both must be visible to the caller.
        assert result["deprecated"] == [flag] or (not result["ok"] and flag in result["error"]), \
            result
        if deprecated[flag]["replacement"] and result["ok"]:
            assert result["replacements"] == {flag: deprecated[flag]["replacement"]}


@pytest.mark.parametrize("version", VERSIONS)
def test_choices_the_parser_leaves_open_are_checked_by_sglang(version, sglang_env):
    """choice_notes mark choices read from SGLang's own resolver; check them with that resolver:
    its alias hook first (NEXTN becomes EAGLE there in 0.5.16, inside from_string in 0.5.23:
    srt/arg_groups/speculative_hook.py _resolve_speculative_algorithm_alias), then from_string."""
    notes = TABLE["versions"][version].get("choice_notes", {})
    for key in notes:
        if key != "speculative_algorithm":
            pytest.fail(f"choice_notes.{key}: no real check for it in this test; add one")
        choices = TABLE["versions"][version]["choices"][key]
        code = (
            "import json, sys\n"
            "from sglang.srt.speculative.spec_info import SpeculativeAlgorithm as S\n"
            "from sglang.srt.arg_groups.speculative_hook import (\n"
            "    _resolve_speculative_algorithm_alias as alias)\n"
            "ok = {c: S.from_string(alias(c, None)).name != 'NONE'\n"
            "      for c in json.loads(sys.argv[1])}\n"
            "try:\n    S.from_string('NOT_AN_ALGORITHM'); bogus = 'accepted'\n"
            "except ValueError as e:\n    bogus = str(e)\n"
            "print(json.dumps({'ok': ok, 'bogus': bogus}))\n")
        proc = subprocess.run([str(sglang_env(version)), "-c", code, json.dumps(choices)],
                              capture_output=True, text=True, timeout=PARSE_TIMEOUT, check=False)
        assert proc.returncode == 0, proc.stderr
        out = json.loads(proc.stdout.splitlines()[-1])
        assert all(out["ok"].values()), out
        assert "NOT_AN_ALGORITHM" in out["bogus"], out


# --- (b) known-good files ---------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
def test_known_good_args_file_parses(version, sglang_env):
    python = sglang_env(version)
    path = FIXTURES / f"glm51-b200-{version}.args"
    assert path.exists(), f"add a known-good args file for {version}: {path}"
    rc, [result], _ = parse(python, path)
    assert rc == 0 and result["ok"], result["error"]
    assert result["version"] == version
    assert result["deprecated"] == []
    # The values arrive typed, through sglang's own type functions, under sglang's own dests
    # (0.5.10 names the tensor-parallel dest after --tensor-parallel-size, not --tp-size).
    options = describe(python)["options"]
    ns = result["namespace"]
    flags = TABLE["versions"][version]["flags"]

    def value(key):
        return ns[options[flags[key]]["dest"]]

    assert value("tp_size") == 8
    assert value("context_length") == 202752
    assert value("mem_fraction_static") == 0.85
    assert value("cuda_graph_max_bs") == 64
    assert value("kv_cache_dtype") == "bf16"
    assert value("served_model_name") == "glm-5.1"
    assert value("api_key") == "sk-test with spaces"  # shell quoting undone by shlex
    assert value("enable_metrics") is True
    assert value("dsa_decode_backend") == "trtllm"
    assert value("disable_radix_cache") is False  # not in the file: sglang's default


def test_rendered_args_parse_with_the_version_they_pin(sglang_env):
    """The renderer's real artifacts, checked by the real parser of the version each one names."""
    rendered = sorted((ROOT / "rendered").glob("*/sglang.args"))
    assert rendered, "no rendered/*/sglang.args to check"
    for path in rendered:
        match = re.search(r"SGLang (\S+) launch arguments", path.read_text(encoding="utf-8"))
        assert match, f"{path}: no 'SGLang <version> launch arguments' header line"
        version = match.group(1)
        assert version in TABLE["versions"], f"{path} pins {version}, which the table lacks"
        rc, [result], _ = parse(sglang_env(version), path)
        assert rc == 0 and result["ok"], f"{path}: {result['error']}"
        assert result["deprecated"] == [], f"{path} uses deprecated flags {result['deprecated']}"


# --- (c) what must fail, and how --------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
def test_unknown_flag_and_abbreviation_fail_naming_the_flag(version, sglang_env, tmp_path):
    python = sglang_env(version)
    unknown = write_args(tmp_path / "unknown.args", MODEL, "--no-such-flag 1")
    abbrev = write_args(tmp_path / "abbrev.args", MODEL, "--tp 8")
    rc, (r_unknown, r_abbrev), _ = parse(python, unknown, abbrev)
    assert rc == 1
    assert not r_unknown["ok"] and "unknown flag --no-such-flag" in r_unknown["error"]
    assert r_unknown["namespace"] is None
    # argparse alone would take `--tp 8` as --tp-size 8; we must not.
    assert not r_abbrev["ok"]
    assert "--tp is an abbreviation of --tp-size" in r_abbrev["error"]


def test_removed_flags_fail_on_0_5_23(sglang_env, tmp_path):
    python = sglang_env("0.5.23")
    max_bs = write_args(tmp_path / "max-bs.args", MODEL, "--cuda-graph-max-bs 32")
    nsa = write_args(tmp_path / "nsa.args", MODEL, "--nsa-prefill-backend trtllm")
    rc, (r_max_bs, r_nsa), _ = parse(python, max_bs, nsa)
    assert rc == 1
    assert not r_max_bs["ok"]
    assert "--cuda-graph-max-bs is not a flag of sglang 0.5.23" in r_max_bs["error"]
    assert "--cuda-graph-max-bs-decode" in r_max_bs["error"]  # points at the new spelling
    assert not r_nsa["ok"] and "unknown flag --nsa-prefill-backend" in r_nsa["error"]


def test_bad_values_and_malformed_lines_fail_cleanly(sglang_env, tmp_path):
    python = sglang_env("0.5.23")
    cases = {
        "bad-choice": ([MODEL, "--kv-cache-dtype fp9"],
                       ["argument --kv-cache-dtype: invalid choice: 'fp9'"]),
        "bad-int": ([MODEL, "--tp-size eight"], ["--tp-size", "invalid int value: 'eight'"]),
        "missing-value": ([MODEL, "--port"], ["argument --port: expected one argument"]),
        "no-model": (["--tp-size 8"], ["required: --model-path"]),
        "quote": ([MODEL, "--served-model-name 'glm"], ["line 3: cannot split as shell words"]),
        "two-flags": ([MODEL, "--port 1 --host x"], ["line 3: one flag per line", "--host"]),
        "duplicate": ([MODEL, "--tp-size 4", "--tensor-parallel-size 8"],
                      ["line 4: --tensor-parallel-size was already given on line 3 as --tp-size"]),
        "not-a-flag": ([MODEL, "tp-size 8"], ["line 3: expected a flag"]),
    }
    paths = {name: write_args(tmp_path / f"{name}.args", *lines)
             for name, (lines, _) in cases.items()}
    binary = tmp_path / "binary.args"
    binary.write_bytes(b"--model-path \xff\xfe\n")
    missing = tmp_path / "missing.args"
    rc, results, _ = parse(python, *paths.values(), binary, missing, tmp_path)
    assert rc == 1
    for (name, (_, expected)), result in zip(cases.items(), results):
        assert not result["ok"], name
        for text in expected:
            assert text in result["error"], (name, result["error"])
    for result in results[len(cases):]:
        assert not result["ok"] and result["error"].startswith("cannot read the file"), result


def test_usage_errors(sglang_env):
    python = sglang_env(VERSIONS[-1])
    proc = subprocess.run([str(python), str(PARSE)], capture_output=True, text=True,
                          timeout=PARSE_TIMEOUT, check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stdout == ""


# --- the env script ---------------------------------------------------------------------------


def test_env_script_is_a_fast_no_op_once_built(sglang_env):
    version = VERSIONS[-1]
    python = sglang_env(version)
    start = time.monotonic()
    proc = subprocess.run(["bash", str(ENV_SCRIPT), version], capture_output=True, text=True,
                          timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "up to date" in proc.stdout
    assert time.monotonic() - start < 10
    # What CI gets is a CPU torch and no CUDA package, whatever sglang's metadata asks for.
    code = ("import importlib.metadata as md, torch; "
            "print(torch.version.cuda, sorted(d.metadata['Name'] for d in md.distributions() "
            "if d.metadata['Name'].lower().startswith(('nvidia-', 'cuda-'))))")
    out = subprocess.run([str(python), "-c", code], capture_output=True, text=True,
                         timeout=PARSE_TIMEOUT, check=True).stdout.strip()
    assert out == "None []"


@pytest.mark.parametrize("version, message", [
    ("latest", "is not a release number"),
    ("0.0.1", "no requirements file for 0.0.1"),
])
def test_env_script_refuses_what_it_cannot_build(version, message, tmp_path):
    env = {**os.environ, "SERVESPEC_SGLANG_ENV_ROOT": str(tmp_path)}
    proc = subprocess.run(["bash", str(ENV_SCRIPT), version], capture_output=True, text=True,
                          timeout=60, env=env, check=False)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert list(tmp_path.iterdir()) == []  # nothing half-made left behind


# --- (d) drift --------------------------------------------------------------------------------


def _generator(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(GENERATOR), *args], capture_output=True,
                          text=True, timeout=PARSE_TIMEOUT, check=False)


@pytest.fixture(scope="session")
def parsers_json(sglang_env, tmp_path_factory) -> Path:
    """The drift check proper, against every env; it also saves what the parsers described so
    the tests below can regenerate variant tables without importing sglang again."""
    for version in VERSIONS:
        sglang_env(version)
    saved = tmp_path_factory.mktemp("parsers") / "parsers.json"
    proc = _generator("--verify", "--save-parsers", str(saved))
    assert "Traceback" not in proc.stderr
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr
    return saved


def test_committed_table_matches_the_real_parsers(parsers_json):
    assert set(json.loads(parsers_json.read_text())) == set(VERSIONS)


def test_drift_check_notices_a_changed_table(parsers_json, tmp_path):
    latest = VERSIONS[-1]
    text = TABLE_PATH.read_text(encoding="utf-8")

    # A hand-edited note is kept: notes are the one thing meant to be edited.
    table = yaml.safe_load(text)
    table["versions"][latest]["sources"]["port"] = "a reviewer's note"
    noted = tmp_path / "noted.yaml"
    noted.write_text(yaml.safe_dump(table, sort_keys=False), encoding="utf-8")
    proc = _generator("--stdout", "--table", str(noted), "--parsers", str(parsers_json))
    assert proc.returncode == 0, proc.stderr
    assert "port: a reviewer's note" in proc.stdout

    # A derived value edited by hand is drift: --verify fails and shows it.
    broken = tmp_path / "broken.yaml"
    broken.write_text(text.replace("      tp_size: --tp-size\n", "      tp_size: --tp\n", 1),
                      encoding="utf-8")
    assert broken.read_text() != text
    proc = _generator("--verify", "--table", str(broken), "--parsers", str(parsers_json))
    assert proc.returncode == 1
    assert "-      tp_size: --tp\n" in proc.stdout and "+      tp_size: --tp-size\n" in proc.stdout

    # A spelling no version has is an error in the hand-written part, named.
    table = yaml.safe_load(text)
    table["options"]["tp_size"]["names"].append("--tp-sise")
    typo = tmp_path / "typo.yaml"
    typo.write_text(yaml.safe_dump(table, sort_keys=False), encoding="utf-8")
    # --check is the old spelling of --verify, kept for one release.
    proc = _generator("--check", "--table", str(typo), "--parsers", str(parsers_json))
    assert proc.returncode == 2 and "--tp-sise" in proc.stderr and "Traceback" not in proc.stderr


def test_adding_a_version_derives_its_entries(parsers_json, tmp_path):
    """--add-version fills a version in from its parser alone: drop one, add it back, compare."""
    version = VERSIONS[0]
    table = yaml.safe_load(TABLE_PATH.read_text(encoding="utf-8"))
    committed = table["versions"].pop(version)
    without = tmp_path / "without.yaml"
    without.write_text(yaml.safe_dump(table, sort_keys=False), encoding="utf-8")
    proc = _generator("--stdout", "--table", str(without), "--add-version", version,
                      "--parsers", str(parsers_json), "--today", "2000-01-01")
    assert proc.returncode == 0, proc.stderr
    added = yaml.safe_load(proc.stdout)["versions"][version]
    for part in ("flags", "choices", "all_flags"):
        assert added[part] == committed[part], part
    assert set(added["deprecated"]) == set(committed["deprecated"])
    # Its notes are new, and say when they were verified.
    assert all("verified with the real parser on 2000-01-01" in note
               for note in added["sources"].values())


def test_generator_fails_loudly_without_an_env(tmp_path):
    env = {**os.environ, "SERVESPEC_SGLANG_ENV_ROOT": str(tmp_path / "none")}
    proc = subprocess.run([sys.executable, str(GENERATOR), "--verify"], capture_output=True,
                          text=True, timeout=60, env=env, check=False)
    assert proc.returncode == 2
    assert "tools/sglang-env.sh" in proc.stderr and "Traceback" not in proc.stderr


def test_table_is_what_the_renderer_reads():
    """renderer/resolve/sglang_args.py reads flags/choices/all_flags; keep the shape it relies on."""
    from renderer.resolve import sglang_args

    for version in VERSIONS:
        entry = sglang_args.table(version)
        assert set(entry["flags"]) == set(TABLE["options"])
        assert all(flag is None or flag in entry["all_flags"] for flag in entry["flags"].values())
        assert all(key in entry["flags"] for key in entry["choices"])
