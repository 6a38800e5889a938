"""The start-up cache volume (storage.cache) and its old spelling storage.deepgemm.

Issue 9 item 10: a renamed field keeps its old spelling, with a deprecation message naming the new
one, and a spec written the old way renders the same artifacts. The old-spelling specs below are
the repository's own specs as they were written before the rename, rendered by the real pipeline
and compared with the committed goldens.
"""

from __future__ import annotations

import re
from pathlib import Path

from conftest import ROOT

from renderer.pipeline import read_spec
from renderer.render.artifacts import render_files

SPECS = ROOT / "specs"
FIXTURES = ROOT / "tests" / "fixtures" / "rules"


def old_spelling(tmp_path: Path, name: str, base: Path, storage: str) -> Path:
    """A spec named like a committed one, extending it, with storage written the old way."""
    path = tmp_path / f"{name}.yaml"
    path.write_text(f"extends: {base}\nstorage:\n{storage}")
    return path


def renders_like_the_golden(path: Path, golden: str, v1: bool = False) -> None:
    """Every artifact equal to the committed one, but for the spec file's path, which the
    artifacts quote (header comment, steps.json), and, with `v1`, the cache volume's version:
    the old spelling's volume was created v1 and stays so (Modal refuses version=2 for it)."""
    result = read_spec(path)
    assert not result.failed(), [f.format() for f in result.findings]
    files = render_files(result)
    assert files
    for name, text in files.items():
        committed = (ROOT / "rendered" / golden / name).read_text()
        if v1:
            committed = _as_v1(committed)
        assert _paths(text, f"{golden}.yaml") == _paths(committed, f"{golden}.yaml"), name


def _as_v1(text: str) -> str:
    text = text.replace("create_if_missing=True, version=2)", "create_if_missing=True, version=1)")
    text = text.replace("# Volume v2 (storage.cache.version): no inode limit, commits that stay "
                        "fast with many small files.", "# Volume v1 (storage.cache.version).")
    text = re.sub(r'("--version",\n\s*)"2"', r'\1"1"', text)
    return text.replace("    version: 2\n    volume:", "    version: 1\n    volume:")


def _paths(text: str, file: str) -> str:
    # spec.resolved.yaml names the extends chain: here one more file of the same name.
    return re.sub(r"SPEC( <- SPEC)+", "SPEC", re.sub(rf"[^\s\"']*/{re.escape(file)}", "SPEC", text))


def test_old_spelling_renders_the_default_spec_unchanged(tmp_path):
    path = old_spelling(tmp_path, "glm51-fp8-b200", SPECS / "glm51-fp8-b200.yaml",
                        "  deepgemm:\n    volume: glm51-deepgemm-sm100\n    mount: /dg-cache\n")
    warnings = [f for f in read_spec(path).findings if f.rule == "SS193"]
    assert [(w.position.line, w.severity.value) for w in warnings] == [(3, "warning")]
    assert "storage.deepgemm is deprecated" in warnings[0].message
    assert "storage.cache" in warnings[0].message
    renders_like_the_golden(path, "glm51-fp8-b200", v1=True)


def test_old_spelling_without_a_mount_keeps_its_old_default(tmp_path):
    """The H200 spec named only the volume (mount from the base); before the rename a spec
    without a base mount got /dg-cache, and still does, while the new spelling gets /cache."""
    path = old_spelling(tmp_path, "glm51-fp8-h200", SPECS / "glm51-fp8-h200.yaml",
                        "  deepgemm:\n    volume: glm51-deepgemm-sm90\n")
    renders_like_the_golden(path, "glm51-fp8-h200", v1=True)
    base = FIXTURES / "bases" / "llama-8b-h100.yaml"  # no cache volume
    old = old_spelling(tmp_path, "old", base, "  deepgemm:\n    volume: llama-cache-sm90\n")
    new = old_spelling(tmp_path, "new", base, "  cache:\n    volume: llama-cache-sm90\n")
    assert read_spec(old).deployment.cache.volume.mount == "/dg-cache"
    assert read_spec(new).deployment.cache.volume.mount == "/cache"


def test_both_spellings_in_one_file_is_an_error(tmp_path):
    path = old_spelling(tmp_path, "both", SPECS / "glm51-fp8-b200.yaml",
                        "  cache:\n    volume: a-sm100\n  deepgemm:\n    volume: b-sm100\n")
    result = read_spec(path)
    assert result.failed() and result.spec is None
    [error] = result.findings
    assert (error.position.line, error.position.col) == (5, 3)
    assert "keep only storage.cache" in error.message


def test_a_general_cache_volume_names_its_architecture(tmp_path):
    """SS106 covers the cache volume where DeepGEMM does not run too: it holds Triton,
    FlashInfer and SGLang JIT kernels built for one architecture."""
    base = FIXTURES / "bases" / "llama-8b-h100.yaml"
    path = old_spelling(tmp_path, "llama", base, "  cache:\n    volume: llama-cache-sm100\n")
    [hit] = [f for f in read_spec(path).findings if f.rule == "SS106"]
    assert hit.position.line == 4 and "llama-cache-sm90" in hit.message
    assert read_spec(path).deployment.deepgemm is None


def test_cache_root_names_architecture_and_image():
    dep = read_spec(SPECS / "examples" / "qwen3-8b-l40s.yaml").deployment
    assert dep.cache.root == "/cache/sm89/sglang_v0.5.23-cu129-amd64"
    env = dict(dep.image_env)
    assert env["TRITON_CACHE_DIR"].startswith(dep.cache.root + "/")
    assert "SGLANG_DG_CACHE_DIR" not in env and dep.deepgemm is None


def test_deepgemm_without_a_cache_volume_is_said_as_such(tmp_path):
    """Block-FP8 on Hopper with compile off and no cache volume (SS188's pass fixture): DeepGEMM
    still runs, JIT at every start; deploy.py and steps.json say that, not "no DeepGEMM here"."""
    import json

    result = read_spec(FIXTURES / "SS188-pass.yaml")
    dep = result.deployment
    assert dep.deepgemm_runs and dep.deepgemm is None and dep.cache is None
    assert "SS192" in {f.rule for f in result.findings}
    files = render_files(result)
    assert "# DeepGEMM runs here (fp8_e4m3 weights on sm90) but has no cache volume" in files["deploy.py"]
    assert "No DeepGEMM here" not in files["deploy.py"]
    steps = json.loads(files["steps.json"])
    assert "JIT-compiled at every cold start" in steps["omitted"]["compile"]
    assert "compile" not in [s["name"] for s in steps["steps"]]
