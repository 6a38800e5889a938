"""The resolve stage: what each example deployment resolves to, from its spec and model facts.

Every expectation below is a consequence of SGLang's own behaviour (cited in
renderer/catalog/model_support.yaml), not of servespec's code: the checkpoint's declared
format decides --quantization, DeepGEMM runs only for block-FP8 weights on sm90+, a draft model is
downloaded beside the target and passed by its local path, and 0.5.10 spells attention DP with
--dp-size. The specs are the real example specs and rule fixtures, resolved by the real pipeline.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import ROOT

from renderer.pipeline import SPEC_FOLDERS, read_spec, spec_paths
from renderer.resolve.deployment import Deployment

EXAMPLES = ROOT / "specs" / "examples"
FIXTURES = ROOT / "tests" / "fixtures" / "rules"


def resolved(path: Path) -> Deployment:
    result = read_spec(path)
    assert not result.failed(), [f.format() for f in result.findings]
    return result.deployment


def flag(dep: Deployment, name: str):
    """The value after `name` in the argv (True for a bare switch), None when absent."""
    argv = dep.argv
    if name not in argv:
        return None
    i = argv.index(name)
    return argv[i + 1] if i + 1 < len(argv) and not argv[i + 1].startswith("--") else True


GLM_SPECS = sorted((ROOT / "specs").glob("glm51-*.yaml"))


@pytest.mark.parametrize("spec", GLM_SPECS, ids=[p.stem for p in GLM_SPECS])
def test_glm_checkpoint_declares_fp8_so_no_quantization_flag(spec):
    """Issue 8: no rendered argv of a GLM-5.1 spec carries --quantization (the checkpoint
    declares FP8 itself), in the Deployment and in the committed sglang.args and deploy.py."""
    dep = resolved(spec)
    assert dep.checkpoint_format == "fp8_e4m3" and dep.weights_format == "fp8_e4m3"
    assert dep.quantization is None and "--quantization" not in dep.argv
    for artifact in ("sglang.args", "deploy.py"):
        assert "--quantization" not in (ROOT / "rendered" / spec.stem / artifact).read_text()
    assert dep.deepgemm is not None  # block FP8 on sm90/sm100


@pytest.mark.parametrize("name, fmt, deepgemm", [
    ("qwen3-8b-l40s", "bf16", False),
    ("qwen3-235b-a22b-fp8-h100", "fp8_e4m3", True),
    ("gpt-oss-120b-h100", "mxfp4", False),
    ("deepseek-v3.2-h200", "fp8_e4m3", True),
    ("llama-3.1-8b-eagle3-h100", "bf16", False),
])
def test_examples_serve_the_checkpoint_as_declared(name, fmt, deepgemm):
    dep = resolved(EXAMPLES / f"{name}.yaml")
    assert dep.weights_format == fmt and "--quantization" not in dep.argv
    assert (dep.deepgemm is not None) == deepgemm
    env = dict(dep.image_env)
    assert ("SGLANG_DG_CACHE_DIR" in env) == deepgemm
    # Every example persists its start-up caches; DeepGEMM's only where DeepGEMM runs.
    assert [v.role for v in dep.volumes] == ["weights", "cache"]
    assert env["SGLANG_CACHE_DIR"] == dep.cache.root
    assert env["HF_HUB_OFFLINE"] == "1"


def test_on_the_fly_fp8_renders_quantization_for_an_unquantized_checkpoint(tmp_path):
    spec = tmp_path / "otf.yaml"
    spec.write_text(f"extends: {FIXTURES / 'bases' / 'llama-8b-h100.yaml'}\n"
                    "precision:\n  weights: fp8_e4m3\n")
    dep = resolved(spec)
    assert dep.checkpoint_format == "bf16" and dep.quantization == "fp8"
    assert flag(dep, "--quantization") == "fp8"
    # Per-tensor FP8 made at load time has no 128x128 blocks: DeepGEMM is not involved.
    assert dep.deepgemm is None


def test_eagle3_draft_is_downloaded_and_passed_by_local_path():
    dep = resolved(EXAMPLES / "llama-3.1-8b-eagle3-h100.yaml")
    assert [d.role for d in dep.downloads] == ["model", "draft"]
    draft = dep.draft
    assert draft.repo == "lmsys/sglang-EAGLE3-LLaMA3.1-Instruct-8B"
    assert draft.directory.startswith(dep.volumes[0].mount + "/")
    assert flag(dep, "--speculative-draft-model-path") == draft.directory
    assert flag(dep, "--speculative-algorithm") == "EAGLE3"


def test_mtp_eagle_needs_no_draft_path():
    dep = resolved(EXAMPLES / "deepseek-v3.2-h200.yaml")
    assert dep.draft is None and "--speculative-draft-model-path" not in dep.argv
    assert flag(dep, "--speculative-algorithm") == "EAGLE"


def test_attention_dp_and_ep_spelled_per_version():
    dep = resolved(EXAMPLES / "deepseek-v3.2-h200.yaml")
    assert flag(dep, "--attn-dp-size") == "8" and flag(dep, "--ep-size") == "8"
    assert "--enable-dp-attention" not in dep.argv and "--dp-size" not in dep.argv
    old = resolved(FIXTURES / "SS190-pass.yaml")  # SGLang 0.5.10, attention_data 2
    assert flag(old, "--dp-size") == "2" and flag(old, "--enable-dp-attention") is True
    assert "--attn-dp-size" not in old.argv


def test_ngram_renders_no_tree_options():
    dep = resolved(FIXTURES / "SS182-pass.yaml")
    assert flag(dep, "--speculative-algorithm") == "NGRAM"
    assert flag(dep, "--speculative-num-draft-tokens") == "8"
    assert "--speculative-num-steps" not in dep.argv and "--speculative-eagle-topk" not in dep.argv


def test_model_specific_rules_stay_with_their_architectures(tmp_path):
    """FP8 KV with EAGLE (GLM-5.x DSA) and KV 'auto' (DSA on Blackwell) do not fire elsewhere."""
    spec = tmp_path / "llama.yaml"
    spec.write_text(f"extends: {FIXTURES / 'SS181-pass.yaml'}\nprecision:\n  kv_cache: auto\n")
    rules = {f.rule for f in read_spec(spec).findings}
    assert not {"SS103", "SS104"} & rules
    spec.write_text(f"extends: {FIXTURES / 'SS181-pass.yaml'}\nprecision:\n  kv_cache: fp8_e4m3\n")
    assert "SS103" not in {f.rule for f in read_spec(spec).findings}
    # DeepSeek-V3.2 (DSA) on Hopper: 'auto' keeps BF16 there, so it is allowed.
    spec.write_text(f"extends: {EXAMPLES / 'deepseek-v3.2-h200.yaml'}\napp: x\n"
                    "precision:\n  kv_cache: auto\n")
    assert "SS104" not in {f.rule for f in read_spec(spec).findings}


def test_spec_folders_render_to_distinct_names():
    stems = [p.stem for p in spec_paths([], ROOT / "specs")]
    assert len(stems) == len(set(stems))
    folders = {p.parent.name for p in spec_paths([], ROOT / "specs")}
    assert folders == {"specs", *SPEC_FOLDERS[1:]}


def test_schema_enums_match_the_catalogs_resolve_reads():
    """The schema is hand-written (renderer/spec/validate.py says why); its enums that mirror a
    catalog must list exactly what resolve.py knows, or a value would validate and then resolve
    to nothing."""
    import json

    from renderer import catalog

    schema = json.loads((ROOT / "specs" / "schema.json").read_text())["properties"]
    support = catalog.model_support()
    weights = schema["precision"]["properties"]["weights"]["enum"]
    assert sorted(weights) == sorted(support["weight_formats"])
    algorithms = schema["speculative"]["properties"]["algorithm"]["enum"]
    assert sorted(algorithms) == sorted(["none", *support["speculative"]["algorithms"]])
    quant = catalog.quantization()
    for name, info in support["weight_formats"].items():
        key = (info["quant_methods"] or [name])[0]
        assert key in quant["formats"], f"{name}: no capability entry for {key}"


# Issue 9, "What users hit today": each deployment, and what servespec now says about it. The
# ones that cannot start are rule fixtures (the rule id and line are checked in test_rules.py);
# here each case is also checked end to end through read_spec.
USERS_HIT = [
    # (case, spec, rule that rejects it or None when it is valid)
    ("dense GQA 8B on one L40S needs no DeepGEMM volume", EXAMPLES / "qwen3-8b-l40s.yaml", None),
    ("BF16 model without a DeepGEMM volume on Hopper", FIXTURES / "SS189-pass.yaml", None),
    ("FP8 weights on sm89", FIXTURES / "SS105-pass.yaml", None),
    ("gpt-oss-120b at 128K on one H100, MXFP4", EXAMPLES / "gpt-oss-120b-h100.yaml", None),
    ("EAGLE on a model with no MTP head", FIXTURES / "SS180-trip.yaml", "SS180"),
    ("EAGLE3 with a separate draft repository", EXAMPLES / "llama-3.1-8b-eagle3-h100.yaml", None),
    ("attention DP and EP as fields", EXAMPLES / "deepseek-v3.2-h200.yaml", None),
    ("Qwen3-235B-FP8 at TP8", FIXTURES / "SS187-trip.yaml", "SS187"),
    ("Qwen3-235B-FP8 at TP4", EXAMPLES / "qwen3-235b-a22b-fp8-h100.yaml", None),
]


@pytest.mark.parametrize("case, spec, rule", USERS_HIT, ids=[c for c, _, _ in USERS_HIT])
def test_what_users_hit_today(case, spec, rule):
    result = read_spec(spec)
    errors = [f for f in result.findings if f.severity.value == "error"]
    if rule is None:
        assert not result.failed(), [f.format() for f in errors]
    else:
        assert result.failed() and {f.rule for f in errors} >= {rule}, case


@pytest.mark.parametrize(("gpu", "fp8"), [("H200", False), ("B200", True), ("RTX-PRO-6000", True)])
def test_kv_auto_is_decided_once_for_rule_and_estimate(tmp_path, gpu, fp8):
    """SGLang turns kv_cache 'auto' into fp8_e4m3 for DSA models on capability >= 10.0, sm120
    included (srt/arg_groups/overrides.py _dsa_kv_cache_dtype_default: major >= 10): SS104 warns
    exactly where the estimate sizes an FP8 cache."""
    spec = tmp_path / "dsa.yaml"
    spec.write_text(f"extends: {EXAMPLES / 'deepseek-v3.2-h200.yaml'}\napp: x\n"
                    f"hardware:\n  gpu: {gpu}\nprecision:\n  kv_cache: auto\n")
    result = read_spec(spec)
    assert result.estimate is not None, result.estimate_error
    assert ("SS104" in {f.rule for f in result.findings}) is fp8
    assert result.estimate.kv_cache_dtype == ("fp8_e4m3" if fp8 else "bf16")
