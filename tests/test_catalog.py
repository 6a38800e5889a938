"""The parsed-table cache: same data as parsing the YAML, never stale after an edit, and
harmless when the cache folder cannot be written."""

from __future__ import annotations

import yaml

from renderer import catalog


def _fresh(monkeypatch, tmp_path, tables):
    monkeypatch.setattr(catalog, "HERE", tables)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    catalog._read.cache_clear()


def test_cache_returns_what_the_yaml_says_and_follows_edits(monkeypatch, tmp_path):
    tables = tmp_path / "tables"
    tables.mkdir()
    table = tables / "t.yaml"
    table.write_text("a: 1\nb: [x, y]\n")
    _fresh(monkeypatch, tmp_path, tables)
    assert catalog._read("t.yaml") == {"a": 1, "b": ["x", "y"]}
    assert len(list((tmp_path / "cache").rglob("t.yaml.*.json"))) == 1
    catalog._read.cache_clear()
    assert catalog._read("t.yaml") == {"a": 1, "b": ["x", "y"]}  # now from the cache
    table.write_text("a: 2\n")
    catalog._read.cache_clear()
    assert catalog._read("t.yaml") == {"a": 2}


def test_real_tables_round_trip_through_the_cache(monkeypatch, tmp_path):
    _fresh(monkeypatch, tmp_path, catalog.HERE)
    for name in ("gpus.yaml", "rules.yaml", "sglang_flags.yaml", "planning.yaml",
                 "sglang_defaults.yaml", "quantization.yaml"):
        expected = yaml.safe_load((catalog.HERE / name).read_text())
        assert catalog._read(name) == expected
        catalog._read.cache_clear()
        assert catalog._read(name) == expected


def test_unwritable_cache_is_not_an_error(monkeypatch, tmp_path):
    blocker = tmp_path / "cache"
    blocker.write_text("a file where the cache folder should be")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    catalog._read.cache_clear()
    assert catalog._read("gpus.yaml")["gpus"]["B200"]["arch"] == "sm100"
    catalog._read.cache_clear()
