"""rendered/<name>/sglang.resolved.json: every rendered argv resolved by the pinned SGLang's own
code (renderer/engine/resolution.py in the env of tools/sglang-env.sh plus the overlay of
`tools/sglang-overlay-env.sh resolve VERSION`), and what reads it without SGLang.

Stand-ins, named: the GPU (torch's device queries and an nvidia-smi on PATH answer for the
spec's GPU, renderer/engine/stand_in.py install_gpu) and the GPU-only kernel packages the wheel
requires but cannot load on CPU (stand_in.py STUBS: sgl_kernel, flashinfer, deep_gemm, flash_mla,
deep_ep). Everything else is SGLang 0.5.23's and 0.5.10's own code.

The tests marked `envs` (the `resolve_env` fixture) run the real resolution; the rest read the
committed artifacts the way `render --verify` and `servespec estimate` do.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import ROOT, run_cli

from renderer import catalog
from renderer.pipeline import read_spec, spec_paths
from renderer.render import sglang_resolution
from renderer.resolve import sglang_resolved

SPECS = spec_paths((), ROOT / "specs")
SPEC_IDS = [p.stem for p in SPECS]
RULE_FIXTURES = ROOT / "tests" / "fixtures" / "rules"
ENV_ROOT = Path(os.environ.get("SERVESPEC_SGLANG_ENV_ROOT", ROOT / ".cache")).resolve()
OVERLAY_SCRIPT = ROOT / "tools" / "sglang-overlay-env.sh"


def committed(name: str) -> dict:
    return json.loads((ROOT / "rendered" / name / sglang_resolved.ARTIFACT).read_text())


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "specs", tmp_path / "specs")
    shutil.copytree(ROOT / "rendered", tmp_path / "rendered")
    return tmp_path


# --- the committed artifacts, read without SGLang -------------------------------------------------


@pytest.mark.parametrize("spec", SPECS, ids=SPEC_IDS)
def test_every_spec_has_a_current_resolution(spec):
    report = read_spec(spec)
    assert report.deployment is not None, [f.format() for f in report.findings]
    assert sglang_resolution.verify(report, ROOT / "rendered") is None


def test_deepseek_v32_resolves_to_per_rank_chunks_and_dsa_pages():
    found = committed("deepseek-v3.2-h200")
    assert found["per_rank"]["attention_dp_ranks"] == 8
    assert found["per_rank"]["chunked_prefill_size"] == 1024
    assert found["resolved"]["page_size"] == 64
    changed = {c["field"]: c for c in found["changed"]}
    chunk_steps = [s["by"] for s in changed["chunked_prefill_size"]["steps"]]
    assert chunk_steps[-1].startswith("srt/arg_groups/parallel_hook.py handle_data_parallelism")
    assert "model_overrides/deepseek_v2.py" in changed["page_size"]["steps"][-1]["by"]
    assert changed["schedule_conservativeness"]["resolved"] == 0.3
    assert any("chunked prefill size is adjusted from 8192 to 1024" in e["message"]
               for e in found["log"])


def test_gpt_oss_dtype_forced_by_its_model_override():
    changed = {c["field"]: c for c in committed("gpt-oss-120b-h100")["changed"]}
    assert changed["dtype"]["argv"] == "auto" and changed["dtype"]["resolved"] == "bfloat16"
    assert "model_overrides/gpt_oss.py _gpt_oss_overrides" in changed["dtype"]["steps"][-1]["by"]


def test_estimate_plans_with_the_committed_resolution():
    proc = run_cli("estimate", "specs/examples/deepseek-v3.2-h200.yaml", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    kv = json.loads(proc.stdout)["specs"][0]["estimate"]["kv_cache"]
    assert kv["chunked_prefill_size"] == 1024 and kv["page_size"] == 64
    assert kv["max_running_requests_per_rank"] == 8 and kv["model_dtype"] == "bf16"
    assert kv["engine_values_from"] == "rendered/deepseek-v3.2-h200/sglang.resolved.json"


def test_estimate_reads_the_artifact_not_its_own_derivation(workspace):
    """A current artifact's figures win: the estimate shows what the file says."""
    target = workspace / "rendered" / "deepseek-v3.2-h200" / sglang_resolved.ARTIFACT
    data = json.loads(target.read_text())
    data["per_rank"]["chunked_prefill_size"] = 512
    data["resolved"]["page_size"] = 128
    target.write_text(json.dumps(data))
    proc = run_cli("estimate", "specs/examples/deepseek-v3.2-h200.yaml", "--format", "json",
                   cwd=workspace)
    kv = json.loads(proc.stdout)["specs"][0]["estimate"]["kv_cache"]
    assert kv["chunked_prefill_size"] == 512 and kv["page_size"] == 128
    assert kv["tokens"] % 128 == 0


def test_a_stale_artifact_is_not_planned_with(workspace):
    """Once the inputs change, the estimate falls back to its own derivation, never to a stale
    resolution, and render --verify says which file to regenerate."""
    config = workspace / "specs" / "models" / "deepseek-v3.2.config.json"
    data = json.loads(config.read_text())
    data["index_topk"] = 1024
    config.write_text(json.dumps(data, indent=2))
    proc = run_cli("estimate", "specs/examples/deepseek-v3.2-h200.yaml", "--format", "json",
                   cwd=workspace)
    kv = json.loads(proc.stdout)["specs"][0]["estimate"]["kv_cache"]
    assert kv["engine_values_from"] == "servespec's derivation of SGLang's defaults"
    verify = run_cli("render", "--verify", cwd=workspace)
    assert verify.returncode == 1
    assert ("rendered/deepseek-v3.2-h200/sglang.resolved.json: STALE: resolved from other inputs"
            in verify.stderr)
    assert "make resolved" in verify.stderr


def test_verify_flags_an_argv_change_and_a_missing_artifact(workspace):
    spec = workspace / "specs" / "examples" / "qwen3-8b-l40s.yaml"
    spec.write_text(spec.read_text().replace("tool_call_parser: qwen\n",
                                             "tool_call_parser: hermes\n"))
    (workspace / "rendered" / "gpt-oss-120b-h100" / sglang_resolved.ARTIFACT).unlink()
    run_cli("render", "specs/examples/qwen3-8b-l40s.yaml", cwd=workspace)  # argv only
    proc = run_cli("render", "--verify", cwd=workspace)
    assert proc.returncode == 1
    assert "rendered/qwen3-8b-l40s/sglang.resolved.json: STALE: resolved from other" in proc.stderr
    assert "rendered/gpt-oss-120b-h100/sglang.resolved.json: STALE: missing" in proc.stderr
    assert "rendered/deepseek-v3.2-h200/sglang.resolved.json" not in proc.stderr


# --- the real resolution (envs) ---------------------------------------------------------------


@pytest.fixture(scope="session")
def resolve_env() -> dict:
    """The environment that points servespec at the resolve overlays, built on first use."""
    env = {**os.environ, "SERVESPEC_SGLANG_ENV_ROOT": str(ENV_ROOT)}
    for version in ("0.5.23", "0.5.10"):
        proc = subprocess.run(["bash", str(OVERLAY_SCRIPT), "resolve", version], env=env,
                              capture_output=True, text=True, timeout=1800, check=False)
        if proc.returncode != 0:
            pytest.fail(f"tools/sglang-overlay-env.sh resolve {version} failed:\n"
                        f"{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return env


def resolve(resolve_env, *paths: Path) -> dict:
    """name -> artifact text, or the ResolutionError SGLang's refusal became. SGLang is asked
    whatever the rules say: these tests check that it refuses what they flag."""
    reports = [read_spec(p) for p in paths]
    assert all(r.deployment is not None for r in reports)
    saved = os.environ.get("SERVESPEC_SGLANG_ENV_ROOT")
    os.environ["SERVESPEC_SGLANG_ENV_ROOT"] = resolve_env["SERVESPEC_SGLANG_ENV_ROOT"]
    try:
        return sglang_resolution.resolve_reports(reports)
    finally:
        if saved is None:
            del os.environ["SERVESPEC_SGLANG_ENV_ROOT"]
        else:
            os.environ["SERVESPEC_SGLANG_ENV_ROOT"] = saved


RESOLVED_FIXTURES = [("SS210", "trip"), ("SS210", "pass"), ("SS211", "trip"), ("SS212", "trip"),
                     ("SS212", "pass"), ("SS213", "trip"), ("SS213", "pass"), ("SS214", "trip"),
                     ("SS214", "pass"), ("SS215", "trip"), ("SS215", "pass")]


@pytest.fixture(scope="session")
def answers(resolve_env, tmp_path_factory) -> dict:
    """Every shipped spec, the rule fixtures and the 0.5.10 cases, resolved once (one SGLang
    process per release): name -> artifact text or ResolutionError."""
    folder = tmp_path_factory.mktemp("v0510")
    old = []
    for name, base, extra in (
            ("v0510-qwen", "specs/examples/qwen3-8b-l40s.yaml", "  tool_call_parser: qwen25\n"),
            ("v0510-dsv32", "specs/examples/deepseek-v3.2-h200.yaml", "")):
        path = folder / f"{name}.yaml"
        path.write_text(f"extends: {ROOT / base}\nengine:\n  version: \"0.5.10\"\n"
                        f"  image: lmsysorg/sglang:v0.5.10-cu129-amd64\n{extra}")
        old.append(path)
    return resolve(resolve_env, *SPECS, *(_fixture(*f) for f in RESOLVED_FIXTURES), *old)


def test_every_shipped_spec_resolves_to_its_committed_artifact(answers):
    """Every spec whose release has a resolution entry (catalog/sglang_resolution.yaml); the GPU
    check's spec pins 0.5.16, which has none: its argv is checked by 0.5.16's parser alone."""
    for spec in SPECS:
        if spec.stem == "tiny-qwen3-h200":
            assert "0.5.16" not in catalog.sglang_resolution()["versions"]
            assert not (ROOT / "rendered" / spec.stem / sglang_resolved.ARTIFACT).exists()
            continue
        text = answers[spec.stem]
        assert isinstance(text, str), f"{spec.stem}: {text}"
        on_disk = (ROOT / "rendered" / spec.stem / sglang_resolved.ARTIFACT).read_text()
        assert text == on_disk, f"rendered/{spec.stem}/sglang.resolved.json is stale: make resolved"


def _fixture(rule_id: str, kind: str) -> Path:
    return RULE_FIXTURES / f"{rule_id}-{kind}.yaml"


def test_sglang_refuses_what_ss210_flags_and_starts_what_it_passes(answers):
    refusal = str(answers["SS210-trip"])
    assert isinstance(answers["SS210-trip"], sglang_resolution.ResolutionError)
    assert refusal.startswith("tests/fixtures/rules/SS210-trip.yaml:6:")  # the draft's line
    assert "speculative.draft.repo: SGLang 0.5.23 refuses to start this deployment:" in refusal
    assert "greater than the derived context_length (2048)" in refusal
    assert "SGLANG_ALLOW_OVERWRITE_LONGER_CONTEXT_LEN=1" in refusal
    assert "(srt/configs/model_config.py _derive_context_length)" in refusal
    assert "\n" not in refusal and "Traceback" not in refusal
    assert isinstance(answers["SS210-pass"], str)
    overridden = json.loads(answers["SS211-trip"])
    assert overridden["model"]["draft"]["context_len"] == 32768
    assert any("Overriding the draft model's max_position_embeddings to 32768" in e["message"]
               for e in overridden["log"])


def test_render_resolve_reports_a_refusal_in_one_sentence(resolve_env, tmp_path):
    """A refusal no rule foresaw (here: facts that claim a longer draft context than the draft's
    config.json allows) is one line naming the spec, the field and SGLang's message."""
    models = tmp_path / "specs" / "models"
    models.mkdir(parents=True)
    for stem in ("llama-3.1-8b-instruct", "eagle3-llama-3.1-8b"):
        for suffix in (".yaml", ".config.json"):
            shutil.copy(ROOT / "specs" / "models" / f"{stem}{suffix}", models)
    facts = models / "eagle3-llama-3.1-8b.yaml"
    facts.write_text(facts.read_text().replace("max_position_embeddings: 2048",
                                               "max_position_embeddings: 131072"))
    spec = tmp_path / "specs" / "llama.yaml"
    spec.write_text((ROOT / "specs/examples/llama-3.1-8b-eagle3-h100.yaml").read_text()
                    .replace("../models/", "models/")
                    .replace('    SGLANG_ALLOW_OVERWRITE_LONGER_CONTEXT_LEN: "1"\n', "")
                    .replace("  env:\n", ""))
    proc = run_cli("render", "--resolve", "specs/llama.yaml", cwd=tmp_path, env=resolve_env,
                   timeout=300)
    assert proc.returncode == 1, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if "refuses to start" in line]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert lines[0].startswith("specs/llama.yaml:") and ": speculative.draft.repo: SGLang 0.5.23" in lines[0]
    assert "greater than the derived context_length (2048)" in lines[0]
    assert not (tmp_path / "rendered" / "llama" / sglang_resolved.ARTIFACT).exists()


def test_sglang_refuses_a_chunk_of_partial_pages_as_ss215_says(answers):
    refusal = str(answers["SS215-trip"])
    assert "engine.chunked_prefill_size: SGLang 0.5.23 refuses to start" in refusal
    assert "chunked_prefill_size must be divisible by page_size" in refusal
    assert "srt/arg_groups/validation_hook.py" in refusal
    assert json.loads(answers["SS215-pass"])["per_rank"]["chunked_prefill_size"] == 1088


def test_deprecated_parser_is_rewritten_as_ss212_says(answers):
    tripped = json.loads(answers["SS212-trip"])
    change = {c["field"]: c for c in tripped["changed"]}["tool_call_parser"]
    assert (change["argv"], change["resolved"]) == ("qwen25", "qwen")
    assert change["steps"][-1]["by"] == "srt/arg_groups/serving_hook.py handle_deprecated_args"
    assert any("'qwen25' is deprecated. Please use 'qwen'" in e["message"] for e in tripped["log"])
    passed = json.loads(answers["SS212-pass"])
    assert "tool_call_parser" not in {c["field"] for c in passed["changed"]}


def test_per_rank_figures_are_what_ss213_and_ss214_say(answers):
    names = ["SS213-trip", "SS213-pass", "SS214-trip", "SS214-pass"]
    rank = {name: json.loads(answers[name])["per_rank"] for name in names}
    assert rank["SS213-trip"]["chunked_prefill_size"] == 1024
    assert rank["SS213-pass"]["chunked_prefill_size"] == 2048
    assert rank["SS214-trip"]["max_running_requests"] == 8
    assert rank["SS214-trip"]["decode_cuda_graph_max_bs"] == 64
    assert rank["SS214-pass"]["decode_cuda_graph_max_bs"] == 8
    for name, found in rank.items():  # the estimate the rules read agrees with SGLang
        est = read_spec(RULE_FIXTURES / f"{name}.yaml").estimate
        assert est.chunked_prefill_size == found["chunked_prefill_size"], name
        assert est.max_running_requests_per_rank == found["max_running_requests"], name
        assert est.cuda_graph_max_bs == found["decode_cuda_graph_max_bs"], name


def test_0_5_10_resolves_through_its_own_post_init(answers):
    """0.5.10 has no resolution pipeline: ServerArgs.__post_init__'s _handle_* methods decide."""
    qwen, dsv32 = json.loads(answers["v0510-qwen"]), json.loads(answers["v0510-dsv32"])
    assert qwen["sglang"] == dsv32["sglang"] == "0.5.10"
    change = {c["field"]: c for c in qwen["changed"]}["tool_call_parser"]
    assert (change["argv"], change["resolved"]) == ("qwen25", "qwen")
    assert change["steps"][-1]["by"] == "srt/server_args.py _handle_deprecated_args"
    assert dsv32["per_rank"] == {
        "attention_dp_ranks": 8, "chunked_prefill_size": 1024, "max_running_requests": 8,
        "decode_cuda_graph_max_bs": 8,
        "source": "sglang 0.5.10 srt/model_executor/model_runner_kv_cache_mixin.py _resolve_max_num_reqs"}
    assert dsv32["resolved"]["page_size"] == 64
    chunk = {c["field"]: c for c in dsv32["changed"]}["chunked_prefill_size"]
    assert chunk["steps"][-1]["by"] == "srt/server_args.py _handle_data_parallelism"
