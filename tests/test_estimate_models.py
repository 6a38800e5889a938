"""The example models: their facts files, and each one's estimate against a hand calculation
written here from the model's config.json (the formula is shown next to each number).

SGLang 0.5.23's own sizing of the same pools, run on CPU, is in test_estimate_sglang.py.
"""

from __future__ import annotations

import model_configs as mc
import pytest
from conftest import ROOT

from servespec import model_facts
from servespec.load import load_file

MODELS = ROOT / "specs" / "models"
MIB, GIB = 1 << 20, 1 << 30
OVERHEAD = 1.5 * GIB  # planning.yaml runtime_overhead_gib: buffers inside the static pool


@pytest.mark.parametrize("fname,repo,config,total_size,source", mc.EXAMPLES,
                         ids=[e[0] for e in mc.EXAMPLES])
def test_committed_facts_are_what_model_facts_writes(fname, repo, config, total_size, source,
                                                     tmp_path):
    """specs/models/<file> is `servespec model-facts` run on the model's config.json."""
    out = tmp_path / fname
    out.write_text(model_facts.to_yaml(mc.facts_of(config, repo, total_size), source=source))
    assert load_file(out).data == load_file(MODELS / fname).data
    assert source.split()[0] in (MODELS / fname).read_text()  # the file says where it came from


def test_generator_writes_the_new_fields():
    oss = mc.facts_of(mc.GPT_OSS_120B, "openai/gpt-oss-120b", None)
    assert oss["attention"]["sliding_window"] == 128
    assert oss["attention"]["layer_types"].count("sliding_attention") == 18
    assert oss["quantization_config"]["quant_method"] == "mxfp4"
    assert oss["moe"]["n_routed_experts"] == 128 and oss["moe"]["moe_intermediate_size"] == 2880
    v32 = mc.facts_of(mc.DEEPSEEK_V32, "deepseek-ai/DeepSeek-V3.2", None)
    assert v32["attention"]["kind"] == "mla_dsa" and v32["indexer"]["num_heads"] == 64
    assert v32["quantization_config"]["weight_block_size"] == [128, 128]
    qwen = mc.facts_of(mc.QWEN3_8B, "Qwen/Qwen3-8B", mc.QWEN3_8B_TOTAL_SIZE)
    assert qwen["attention"]["kind"] == "gqa" and "sliding_window" not in qwen["attention"]
    assert "quantization_config" not in qwen and qwen["torch_dtype"] == "bf16"
    draft = mc.facts_of(mc.EAGLE3_LLAMA_31_8B, "lmsys/x", mc.EAGLE3_LLAMA_31_8B_TOTAL_SIZE)
    assert draft["draft"] == {"draft_vocab_size": 32000} and draft["num_hidden_layers"] == 1
    mha = mc.facts_of({**mc.LLAMA_31_8B, "num_key_value_heads": 32}, "x/y", 1)
    assert mha["attention"]["kind"] == "mha"


def test_parameter_counts_match_the_real_index_sizes():
    """Where the real index size is known, 2 bytes x the counted parameters is within 0.01%
    of it (the count leaves out the norms)."""
    for config, size in ((mc.QWEN3_8B, mc.QWEN3_8B_TOTAL_SIZE),
                         (mc.LLAMA_31_8B, mc.LLAMA_31_8B_TOTAL_SIZE)):
        facts = mc.facts_of(config, "x/y", size)
        assert abs(2 * facts["parameters"] / size - 1) < 1e-4
    # gpt-oss-120b: OpenAI's model card gives a 60.8 GiB checkpoint.
    assert abs(mc.modelled_total_size(mc.GPT_OSS_120B) / GIB / 60.8 - 1) < 0.01
