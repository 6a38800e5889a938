"""The cold-start phases (renderer/estimate/coldstart.py) as the estimate reports them."""

from __future__ import annotations

from pathlib import Path

import pytest

from renderer.cli.estimate import estimate_of
from renderer.pipeline import read_spec

ROOT = Path(__file__).resolve().parents[1]


def cold_start(spec: str) -> dict:
    est, why = estimate_of(read_spec(ROOT / spec))
    assert est is not None, why
    return {"hit": est.cold_start_s, "miss": est.cold_start_miss_s,
            "read": est.weights_read_s, "phases": est.cold_start_phases,
            "bytes": est.checkpoint_bytes}


def test_phases_add_up_to_the_estimate_and_each_names_its_source():
    cs = cold_start("specs/glm51-fp8-b200.yaml")
    hit = [p for p in cs["phases"] if not p["on_cache_miss_only"]]
    assert sum(p["seconds"] for p in hit) == pytest.approx(cs["hit"], abs=len(hit))
    assert sum(p["seconds"] for p in cs["phases"]) == pytest.approx(cs["miss"], abs=5)
    assert all(p["source"] and p["what"] for p in cs["phases"])
    read = next(p for p in cs["phases"] if p["name"] == "volume_read")
    assert read["seconds"] == round(cs["read"]) == round(cs["bytes"] / 2.5e9)
    assert "modal.com/docs/guide/volumes" in read["source"]


def test_a_cache_miss_costs_deepgemm_jit_only_where_deepgemm_runs():
    glm = cold_start("specs/glm51-fp8-b200.yaml")
    qwen = cold_start("specs/examples/qwen3-8b-l40s.yaml")  # bf16 on an L40S: no DeepGEMM
    assert "deepgemm_jit" in [p["name"] for p in glm["phases"] if p["on_cache_miss_only"]]
    assert "deepgemm_jit" not in [p["name"] for p in qwen["phases"]]
    assert glm["miss"] - glm["hit"] > qwen["miss"] - qwen["hit"] > 0


def test_without_a_cache_volume_every_cold_start_is_a_miss():
    """SS192's spec (no storage.cache) rebuilds its caches at every start; the same model with
    the volume pays that only on the first start of an image on an architecture."""
    without = cold_start("tests/fixtures/rules/SS192-trip.yaml")
    with_ = cold_start("tests/fixtures/rules/SS192-pass.yaml")
    assert without["hit"] == pytest.approx(without["miss"])
    assert with_["hit"] < with_["miss"] == pytest.approx(without["miss"])


def test_measured_figures_replace_assumptions_only_for_the_measured_gpu_model_and_version():
    """catalog/coldstart.yaml's measured entries (the GPU check on an H200) hold for the tiny
    model with SGLang 0.5.16 on an H200; every other spec keeps the labelled assumptions."""
    from renderer import catalog

    tiny = {p["name"]: p for p in cold_start("specs/examples/tiny-qwen3-h200.yaml")["phases"]}
    entries = {e["caches"]: e for e in catalog.coldstart()["measured"]
               if e["model"] == "servespec/tiny-qwen3-reasoner"}
    hit, miss = entries["hit"], entries["miss"]
    assert {n: p["basis"] for n, p in tiny.items()} == {
        "volume_read": "documented", "engine_init": "measured", "graph_capture": "measured",
        "autotune_and_jit": "measured"}
    assert tiny["graph_capture"]["seconds"] == round(hit["phases"]["graph_capture"])
    assert tiny["engine_init"]["seconds"] + tiny["graph_capture"]["seconds"] == pytest.approx(
        hit["start_to_healthy"], abs=1)
    assert tiny["autotune_and_jit"]["seconds"] == round(miss["start_to_healthy"]
                                                        - hit["start_to_healthy"])
    assert "measured on" in tiny["engine_init"]["source"]
    # The same GPU with another model: assumptions, as before.
    glm = cold_start("specs/glm51-fp8-h200.yaml")["phases"]
    assert {p["basis"] for p in glm if p["name"] != "volume_read"} == {"assumed"}
    assert catalog.coldstart()["phases"]["engine_init"]["seconds"] == next(
        p["seconds"] for p in glm if p["name"] == "engine_init")
