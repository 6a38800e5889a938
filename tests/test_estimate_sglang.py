"""The estimate's KV bytes per token and token capacity against SGLang 0.5.23's own pool sizing,
for one model of each attention family, run from the pinned wheel on CPU
(tests/sglang_kv_probe.py; the env and its overlay come from test_estimate.py's fixture).

Families: GQA with heads split over TP, GQA with fewer KV heads than ranks (replicated), MHA,
MLA (DeepSeek-V3 layout, MTP draft layer), MLA with the DSA indexer (DeepSeek-V3.2), the
sliding-window hybrid gpt-oss (SGLang's separate SWA pool at --swa-full-tokens-ratio 0.8), an
EAGLE3 draft model's layer, and attention data parallelism (attention TP = TP / DP).
"""

from __future__ import annotations

import copy
import json
import subprocess

import model_configs as mc
import pytest
from conftest import DEFAULT_SPEC, ROOT
from test_estimate import PROBE, SGLANG_VERSION, sglang_python  # noqa: F401  (the fixture)

from renderer.estimate import core as estimate_mod
from renderer.pipeline import read_spec

# DeepSeek-V3's MLA without the DSA indexer: V3.2's config without the index_* fields.
DEEPSEEK_V3 = {**{k: v for k, v in mc.DEEPSEEK_V32.items() if not k.startswith("index_")},
               "architectures": ["DeepseekV3ForCausalLM"], "model_type": "deepseek_v3"}
MHA_LLAMA = {**mc.LLAMA_31_8B, "num_key_value_heads": 32}

# (id, config, draft config or None, GPU, TP, attention DP, KV dtype, speculative algorithm)
CASES = [
    ("gqa-qwen3-8b-l40s-tp1", mc.QWEN3_8B, None, "L40S", 1, 1, "bf16", "none"),
    ("gqa-qwen3-8b-tp4-dp2", mc.QWEN3_8B, None, "H100", 4, 2, "bf16", "none"),
    ("gqa-split-qwen3-235b-tp4", mc.QWEN3_235B_FP8, None, "H100", 4, 1, "bf16", "none"),
    ("gqa-replicated-qwen3-235b-tp8", mc.QWEN3_235B_FP8, None, "H100", 8, 1, "bf16", "none"),
    ("gqa-fp8-kv-llama-tp2", mc.LLAMA_31_8B, None, "H100", 2, 1, "fp8_e4m3", "none"),
    ("mha-llama-tp2", MHA_LLAMA, None, "H100", 2, 1, "bf16", "none"),
    ("eagle3-draft-llama-tp1", mc.LLAMA_31_8B, mc.EAGLE3_LLAMA_31_8B, "H100", 1, 1, "bf16", "EAGLE3"),
    ("swa-gpt-oss-120b-tp1", mc.GPT_OSS_120B, None, "H100", 1, 1, "bf16", "none"),
    ("swa-gpt-oss-120b-tp8", mc.GPT_OSS_120B, None, "H100", 8, 1, "bf16", "none"),
    ("mla-deepseek-v3-mtp", DEEPSEEK_V3, None, "H200", 8, 1, "bf16", "NEXTN"),
    ("mla-deepseek-v3-fp8", DEEPSEEK_V3, None, "H200", 8, 1, "fp8_e4m3", "none"),
    ("mla-dsa-deepseek-v32-dp8", mc.DEEPSEEK_V32, None, "H200", 8, 8, "bf16", "none"),
    ("mla-dsa-deepseek-v32-mtp", mc.DEEPSEEK_V32, None, "H200", 8, 1, "bf16", "EAGLE"),
]
DSA_BACKEND = {("B200", "bf16"): "trtllm", ("B200", "fp8_e4m3"): "trtllm",
               ("H200", "bf16"): "flashmla_sparse", ("H200", "fp8_e4m3"): "flashmla_kv"}


def spec_for(gpu: str, tp: int, dp: int, kv: str, algorithm: str) -> dict:
    spec = copy.deepcopy(read_spec(DEFAULT_SPEC).spec)
    spec["hardware"].update(gpu=gpu, gpus_per_node=tp, nodes=1)
    spec["parallelism"].update(tensor=tp, pipeline=1, data=1, attention_data=dp)
    spec["precision"]["kv_cache"] = kv
    spec["speculative"]["algorithm"] = algorithm
    for field in ("mem_fraction_static", "chunked_prefill_size", "cuda_graph_max_bs",
                  "max_running_requests"):
        spec["engine"].pop(field, None)
    spec["model"]["context_length"] = 4096
    return spec


def ours(case) -> estimate_mod.Estimate:
    _, config, draft, gpu, tp, dp, kv, algorithm = case
    facts = mc.facts_of(config, "example/model", mc.modelled_total_size(config))
    draft_facts = mc.facts_of(draft, "example/draft", mc.EAGLE3_LLAMA_31_8B_TOTAL_SIZE) \
        if draft else None
    return estimate_mod.estimate(spec_for(gpu, tp, dp, kv, algorithm), facts, draft=draft_facts)


def probe_request(case, est: estimate_mod.Estimate) -> dict:
    _, config, _, gpu, tp, dp, kv, _ = case
    draft_layers = est.kv_draft_layers
    return {"config": {k: v for k, v in config.items() if k != "quantization_config"},
            "cases": [{"kv_cache_dtype": kv, "tp_size": tp, "attn_dp_size": dp,
                       "dsa_backend": DSA_BACKEND.get((gpu, kv)),
                       "eagle_draft_layers": draft_layers,
                       "page_size": 64 if config.get("index_topk") else 1,
                       "available_bytes": est.kv_pool_bytes}]}


@pytest.fixture(scope="module")
def sglang_answers(sglang_python):  # noqa: F811  (the fixture imported above)
    """One probe run for every case: loading SGLang is most of its time."""
    python, env = sglang_python
    estimates = [ours(case) for case in CASES]
    request = {"models": [probe_request(c, e) for c, e in zip(CASES, estimates)]}
    proc = subprocess.run([python, str(PROBE), json.dumps(request)], cwd=ROOT, env=env,
                          capture_output=True, text=True, check=False, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    answer = json.loads(proc.stdout.strip().splitlines()[-1])
    assert answer["sglang"] == SGLANG_VERSION
    return {c[0]: (e, m) for c, e, m in zip(CASES, estimates, answer["models"])}


@pytest.mark.parametrize("case_id", [c[0] for c in CASES])
def test_kv_bytes_and_tokens_match_sglangs_own(sglang_answers, case_id):
    est, model = sglang_answers[case_id]
    (theirs,) = model["cases"]
    assert theirs["configurator"] == ("HybridSWAPoolConfigurator" if est.kv_swa_layers
                                      else "DefaultPoolConfigurator"), theirs
    assert abs(est.kv_bytes_per_token - theirs["bytes_per_token"]) <= 1, (est.kv_bytes_per_token, theirs)
    assert est.kv_tokens > 0
    assert abs(est.kv_tokens / theirs["tokens"] - 1) < 0.05, (est.kv_tokens, theirs)
    # Whole bytes and whole pages aside, the counts agree to the page.
    assert abs(est.kv_tokens - theirs["tokens"]) <= 64, (est.kv_tokens, theirs)
    if est.kv_swa_layers:
        assert theirs["swa_tokens"] == int(theirs["tokens"] * 0.8)
