"""Pruning the cache volume's old image directories (`servespec prune-cache`).

  * renderer/runtime/cache_prune.py on a real directory tree: keeps the current image's
    directory, removes the others of the architecture, leaves other architectures alone, and a dry
    run removes nothing and reports sizes;
  * the REAL modal 1.6.4 client importing each rendered jobs app: prune_cache mounts the cache
    volume read-write and holds no GPU;
  * the REAL modal CLI with no token: the command fails in one sentence, exit 1.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from renderer import paths
from renderer.runtime import cache_prune
from tests.test_lifecycle import cli, no_token_env, repo  # noqa: F401 - the fixture
from tests.test_render import SPEC_IDS, SPECS, checked, inspect_app, rendered

MOUNT_KEY = "sglang_v0.5.23-cu129-amd64"


def make_tree(root: Path) -> None:
    for arch, key, size in [("sm90", MOUNT_KEY, 10), ("sm90", "sglang_v0.5.22-cu129-amd64", 3000),
                            ("sm90", "sha256-0123456789abcdef", 500), ("sm100", "sglang_v0.5.22-cu129-amd64", 7)]:
        folder = root / arch / key / "triton" / "abc"
        folder.mkdir(parents=True)
        (folder / "kernel.bin").write_bytes(b"x" * size)


def listing(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.glob("*/*")}


def test_prune_keeps_the_current_image_and_other_architectures(tmp_path, capsys):
    make_tree(tmp_path)
    results = cache_prune.prune_caches(str(tmp_path), "sm90", MOUNT_KEY)
    assert listing(tmp_path) == {f"sm90/{MOUNT_KEY}", "sm100/sglang_v0.5.22-cu129-amd64"}
    assert sorted((Path(p).name, size, removed) for p, size, removed in results) == [
        ("sglang_v0.5.22-cu129-amd64", 3000, True), ("sha256-0123456789abcdef", 500, True)]
    out = capsys.readouterr().out
    assert "removed 2 directories" in out and f"kept {tmp_path}/sm90/{MOUNT_KEY}" in out


def test_dry_run_removes_nothing_and_lists_sizes(tmp_path, capsys):
    make_tree(tmp_path)
    before = listing(tmp_path)
    results = cache_prune.prune_caches(str(tmp_path), "sm90", MOUNT_KEY, dry_run=True)
    assert listing(tmp_path) == before
    assert sum(size for _, size, _ in results) == 3500 and not any(r for _, _, r in results)
    out = capsys.readouterr().out
    assert f"would remove {tmp_path}/sm90/sglang_v0.5.22-cu129-amd64 (0.0 MB)" in out
    assert "would remove 2 directories" in out


def test_other_architectures_only_when_named(tmp_path):
    make_tree(tmp_path)
    cache_prune.prune_caches(str(tmp_path), "sm90", MOUNT_KEY, other_archs=("sm100",))
    assert listing(tmp_path) == {f"sm90/{MOUNT_KEY}"}


def test_missing_architecture_folder_is_no_error(tmp_path, capsys):
    assert cache_prune.prune_caches(str(tmp_path), "sm90", MOUNT_KEY) == []
    assert "does not exist" in capsys.readouterr().out


@pytest.mark.parametrize("spec", SPECS, ids=SPEC_IDS)
def test_jobs_app_prune_cache_mounts_the_cache_volume_without_gpu(spec):
    s = checked(spec).spec
    fns = inspect_app(rendered(spec.stem, paths.JOBS_FILE))["functions"]
    cache = s["storage"].get("cache")
    if not cache:
        assert "prune_cache" not in fns
        return
    fn = fns["prune_cache"]
    assert fn["volumes"] == {cache["mount"]: cache["volume"]}
    assert fn["read_only"] == [] and not fn["gpus"]


def test_prune_cache_without_token_gives_one_sentence(repo):  # noqa: F811 - the fixture
    proc = cli(["prune-cache", "specs/glm51-fp8-b200.yaml", "--dry-run"], repo, no_token_env(repo))
    assert proc.returncode == 1, proc.stderr
    sentence = ("servespec prune-cache: Modal is not reachable: no Modal token is configured "
                "(run `modal token new` or set MODAL_TOKEN_ID and MODAL_TOKEN_SECRET).")
    assert proc.stderr.strip().splitlines() == [sentence]
    assert "Traceback" not in proc.stdout + proc.stderr
