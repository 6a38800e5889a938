"""The example models: their facts files, and each one's estimate against a hand calculation
written here from the model's config.json (the formula is shown next to each number).

SGLang 0.5.23's own sizing of the same pools, run on CPU, is in test_estimate_sglang.py.
"""

from __future__ import annotations

import copy

import model_configs as mc
import pytest
from conftest import DEFAULT_SPEC, ROOT

from renderer.cli import estimate as estimate_cli
from renderer.estimate import core as estimate_mod
from renderer.estimate import weights as weights_mod
from renderer.facts import write as facts_yaml
from renderer.pipeline import read_spec
from renderer.spec.load import load_file

MODELS = ROOT / "specs" / "models"
MIB, GIB = 1 << 20, 1 << 30
OVERHEAD = 1.5 * GIB  # planning.yaml runtime_overhead_gib: buffers inside the static pool


@pytest.mark.parametrize("fname,repo,config,total_size,source", mc.EXAMPLES,
                         ids=[e[0] for e in mc.EXAMPLES])
def test_committed_facts_are_what_model_facts_writes(fname, repo, config, total_size, source):
    """specs/models/<file> is, byte for byte, what `servespec model-facts` writes from the
    model's config.json."""
    text = facts_yaml.to_yaml(mc.facts_of(config, repo, total_size), note=source,
                              size_from="the size the note gives" if total_size else None)
    assert text == (MODELS / fname).read_text()
    assert source.split()[0] in text  # the file says where it came from


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


# --- each example's estimate against a hand calculation ---------------------------------------
#
# Memory SGLang 0.5.23 leaves for the KV pool: mem_fraction_static x GPU memory (nvidia-smi's
# figure, MiB) - weights - 1.5 GiB of runtime buffers (planning.yaml). When the spec leaves the
# fraction unset, SGLang's own: round((memory - reserve) / memory, 3) with
#   reserve = 512 + 1.5 x chunked_prefill + 1024 x TP x PP / 8 + 2 x graph_bs (+ graph terms)
# (srt/arg_groups/memory_hook.py), at least 10240 MiB on GPUs above 60 GiB.

L40S_MIB, H100_MIB, H200_MIB = 46068, 81559, 143771
PREFILL_SIZES_4096 = 8 + 14 + 8 + 8 + 12  # breakable prefill graph sizes up to 4096 tokens
PREFILL_SIZES_8192 = PREFILL_SIZES_4096 + 8  # ... and 4608..8192 step 512


def example_spec(gpu: str, tp: int, *, context: int, kv: str = "bf16", algorithm: str = "none",
                 dp: int = 1, ep: int = 1, **engine) -> dict:
    spec = copy.deepcopy(read_spec(DEFAULT_SPEC).spec)
    spec["hardware"].update(gpu=gpu, gpus_per_node=tp, nodes=1)
    spec["parallelism"].update(tensor=tp, pipeline=1, data=1, attention_data=dp, expert=ep)
    spec["precision"].update(kv_cache=kv)
    spec["precision"].pop("weights", None)  # as the checkpoint declares
    spec["speculative"]["algorithm"] = algorithm
    for field in ("mem_fraction_static", "chunked_prefill_size", "cuda_graph_max_bs",
                  "max_running_requests"):
        spec["engine"].pop(field, None)
    spec["engine"].update(engine)
    spec["model"]["context_length"] = context
    return spec


def facts(name: str) -> dict:
    return load_file(MODELS / name).data


def pool_tokens(fraction: float, gpu_mib: int, weights: float, per_token: float) -> float:
    return (fraction * gpu_mib * MIB - weights - OVERHEAD) / per_token


def close(ours: float, hand: float, rel: float = 0.05) -> bool:
    return abs(ours / hand - 1) < rel


def test_qwen3_8b_on_one_l40s():
    est = estimate_mod.estimate(example_spec("L40S", 1, context=32768), facts("qwen3-8b.yaml"))
    weights = 16_381_470_720  # the whole BF16 checkpoint (index total_size) on one GPU
    kv = 36 * 2 * 8 * 128 * 2  # layers x (K, V) x KV heads x head_dim x BF16 = 147,456 B
    # L40S (< 60 GiB): chunked prefill 4096, decode graph bs 32 at TP < 4.
    reserve = 512 + 1.5 * 4096 + 1024 * 1 / 8 + 2 * 32 + 8 * PREFILL_SIZES_4096  # 7,248 MiB
    fraction = round((L40S_MIB - reserve) / L40S_MIB, 3)  # 0.843
    assert (est.chunked_prefill_size, est.cuda_graph_max_bs) == (4096, 32)
    assert est.mem_fraction_static == fraction == 0.843
    assert close(est.weights_per_gpu_bytes, weights) and est.kv_bytes_per_token == kv
    assert close(est.kv_tokens, pool_tokens(fraction, L40S_MIB, weights, kv))  # ~154K tokens
    assert est.full_context_sequences == 4  # 154K // 32,768


def test_llama_8b_with_its_eagle3_draft_on_one_h100():
    est = estimate_mod.estimate(example_spec("H100", 1, context=131072, algorithm="EAGLE3"),
                                facts("llama-3.1-8b-instruct.yaml"),
                                draft=facts("eagle3-llama-3.1-8b.yaml"))
    weights = 16_060_522_496 + 849_763_584  # target BF16 + the FP16 draft layer and its head
    kv = (32 + 1) * 2 * 8 * 128 * 2  # 32 target layers + the draft's one, sized like the target's
    # H100 (< 90 GiB): chunked 8192, graph bs 256 at TP 1 (EAGLE's own 48 comes after this).
    reserve = 512 + 1.5 * 8192 + 1024 / 8 + 2 * 256 + 8 * PREFILL_SIZES_8192  # 13,904 MiB
    fraction = round((H100_MIB - reserve) / H100_MIB, 3)  # 0.830
    assert est.mem_fraction_static == fraction
    assert close(est.weights_per_gpu_bytes, weights) and est.kv_bytes_per_token == kv
    assert est.kv_draft_layers == 1 and est.draft_checkpoint_bytes == 849_763_584
    assert close(est.kv_tokens, pool_tokens(fraction, H100_MIB, weights, kv))  # ~440K tokens
    assert est.max_running_requests == 48  # SGLang's EAGLE default


def test_qwen3_235b_fp8_on_four_h100():
    f = facts("qwen3-235b-a22b-fp8.yaml")
    est = estimate_mod.estimate(example_spec("H100", 4, context=32768), f)
    router = 94 * 128 * 4096 * 2  # BF16 router of every MoE layer, whole on each rank
    weights = (f["checkpoint_bytes"] - router) / 4 + router  # the rest split four ways
    kv = 94 * 2 * (4 // 4) * 128 * 2  # 4 KV heads over TP4: one head per rank = 48,128 B
    reserve = 512 + 1.5 * 8192 + 1024 * 4 / 8 + 2 * 512 + 8 * PREFILL_SIZES_8192  # 14,800 MiB
    fraction = round((H100_MIB - reserve) / H100_MIB, 3)  # 0.819
    assert est.mem_fraction_static == fraction
    assert close(est.weights_per_gpu_bytes, weights) and est.kv_bytes_per_token == kv
    assert close(est.kv_tokens, pool_tokens(fraction, H100_MIB, weights, kv))  # ~190K tokens
    # TP8: still one KV head per rank (4 heads < 8 ranks: replicated), so the same bytes.
    tp8 = estimate_mod.estimate(example_spec("H100", 8, context=32768, ep=8), f)
    assert tp8.kv_bytes_per_token == kv
    assert weights_mod.moe_shard_width(f, example_spec("H100", 8, context=1)) == 1536 // 8
    assert weights_mod.moe_shard_width(f, example_spec("H100", 8, context=1, ep=8)) == 1536


def test_gpt_oss_120b_on_one_h100_at_128k():
    f = facts("gpt-oss-120b.yaml")
    spec = example_spec("H100", 1, context=131072, chunked_prefill_size=4096,
                        mem_fraction_static=0.885)
    est = estimate_mod.estimate(spec, f)
    weights = f["checkpoint_bytes"]  # MXFP4 experts + BF16 rest, 60.7 GiB, all on one GPU
    # 18 full layers keep every token; 18 sliding-window layers live in SGLang's SWA pool,
    # sized at 0.8 x the full pool's tokens: per full-pool token
    kv = 18 * 2 * 8 * 64 * 2 + 0.8 * 18 * 2 * 8 * 64 * 2  # 36,864 + 29,491.2 = 66,355.2 B
    assert est.kv_swa_layers == 18 and est.kv_swa_ratio == 0.8
    assert close(est.weights_per_gpu_bytes, weights) and close(est.kv_bytes_per_token, kv, 1e-4)
    hand_tokens = pool_tokens(0.885, H100_MIB, weights, kv)  # ~134K full-pool tokens
    assert close(est.kv_tokens, hand_tokens) and est.kv_tokens >= 131072
    # Planned as if every layer kept full-context KV (what the issue reports), it would not fit:
    assert pool_tokens(0.885, H100_MIB, weights, 36 * 2 * 8 * 64 * 2) < 131072
    # Left to SGLang: reserve = max(512 + 1.5 x 4096 + 128 + 2 x 256 + 8 x 50, 10240 floor on
    # GPUs above 60 GiB) = 10,240 MiB -> 0.874, which holds ~120K tokens: under one 128K sequence.
    reserve = max(512 + 1.5 * 4096 + 1024 / 8 + 2 * 256 + 8 * PREFILL_SIZES_4096, 10240)
    fraction = round((H100_MIB - reserve) / H100_MIB, 3)
    spec["engine"].pop("mem_fraction_static")
    default = estimate_mod.estimate(spec, f)
    assert default.mem_fraction_static == fraction == 0.874
    assert close(default.kv_tokens, pool_tokens(fraction, H100_MIB, weights, kv))
    assert default.kv_tokens < 131072


def test_deepseek_v32_on_eight_h200_with_attention_dp_and_ep():
    f = facts("deepseek-v3.2.yaml")
    est = estimate_mod.estimate(example_spec("H200", 8, context=131072, dp=8, ep=8), f)
    fp8 = 1 + 4 / (128 * 128)  # e4m3 + one fp32 scale per 128x128 block
    h, layers, moe_layers = 7168, 61, 58
    # Attention TP = 8 / 8 = 1: attention and the embedding are whole on every rank.
    attn = layers * (1536 * 128 * 192 + 512 * 128 * 256 + 128 * 128 * h) * fp8  # q_b, kv_b, o
    a_proj = layers * (h * (1536 + 512 + 64) + 1536 * 64 * 128 + h * 128) * fp8  # + indexer
    bf16_whole = layers * h * 64 * 2 + moe_layers * 256 * h * 2  # indexer weights_proj, router
    embed = 129280 * h * 2
    split = (129280 * h * 2  # LM head
             + 3 * 3 * h * 18432 * fp8  # dense MLPs
             + moe_layers * (256 + 1) * 3 * h * 2048 * fp8)  # routed + shared experts
    weights = attn + a_proj + bf16_whole + embed + split / 8  # ~97 GB per GPU
    kv = 61 * ((512 + 64) * 2 + (128 + 4))  # latent in BF16 + the indexer's FP8 K and scale
    # H200: chunked 8192, graph bs 512 at TP8; attention DP pads the graphs: 3 + 1.5 MiB per
    # bs per DP rank (bs > 300); MLA prefill graphs 1536 MiB.
    reserve = 512 + 1.5 * 8192 + 1024 + 2 * 512 + 512 * 8 * (3 + 1.5) + 1536  # 34,816 MiB
    fraction = round((H200_MIB - reserve) / H200_MIB, 3)  # 0.758
    assert est.mem_fraction_static == fraction
    assert close(est.weights_per_gpu_bytes, weights) and est.kv_bytes_per_token == kv
    tokens = pool_tokens(fraction, H200_MIB, weights, kv)  # per DP rank, ~210K
    assert close(est.kv_tokens, tokens) and est.kv_pools == 8
    assert est.full_context_sequences == est.kv_tokens // 131072 * 8


# --- the example specs themselves (specs/examples/, written for issue 9) ------------------------


def example_estimate(name: str) -> estimate_mod.Estimate:
    result = read_spec(ROOT / "specs" / "examples" / name)
    assert not result.failed(), [f.format() for f in result.findings]
    est, why = estimate_cli.estimate_of(result)
    assert est is not None, why
    return est


def test_example_qwen3_8b_l40s_left_to_sglang_defaults():
    """No memory field set: planned with SGLang's own 0.843 (the issue's false SS131)."""
    est = example_estimate("qwen3-8b-l40s.yaml")
    weights, kv = 16_381_470_720, 36 * 2 * 8 * 128 * 2
    assert est.mem_fraction_static == 0.843  # reserve 7,248 MiB of 46,068, as above
    assert close(est.weights_per_gpu_bytes, weights) and est.kv_bytes_per_token == kv
    assert close(est.kv_tokens, pool_tokens(0.843, L40S_MIB, weights, kv))


def test_example_llama_eagle3_h100():
    est = example_estimate("llama-3.1-8b-eagle3-h100.yaml")
    weights = 16_060_522_496 + 849_763_584
    kv = (32 + 1) * 2 * 8 * 128 * 2
    # cuda_graph_max_bs 16: reserve = 512 + 1.5 x 8192 + 128 + 2 x 16 + 8 x 58 = 13,424 MiB
    fraction = round((H100_MIB - (512 + 1.5 * 8192 + 128 + 2 * 16 + 8 * 58)) / H100_MIB, 3)
    assert est.mem_fraction_static == fraction == 0.835
    assert close(est.weights_per_gpu_bytes, weights) and est.kv_bytes_per_token == kv
    assert close(est.kv_tokens, pool_tokens(fraction, H100_MIB, weights, kv))


def test_example_qwen3_235b_fp8_h100():
    est = example_estimate("qwen3-235b-a22b-fp8-h100.yaml")
    router = 94 * 128 * 4096 * 2
    weights = (facts("qwen3-235b-a22b-fp8.yaml")["checkpoint_bytes"] - router) / 4 + router
    kv = 94 * 2 * 1 * 128 * 2
    # max_running_requests 64 caps the graph batch: 512 + 12288 + 512 + 2 x 64 + 464 MiB
    fraction = round((H100_MIB - (512 + 1.5 * 8192 + 1024 * 4 / 8 + 2 * 64 + 8 * 58)) / H100_MIB, 3)
    assert est.mem_fraction_static == fraction == 0.83
    assert close(est.weights_per_gpu_bytes, weights) and est.kv_bytes_per_token == kv
    assert close(est.kv_tokens, pool_tokens(fraction, H100_MIB, weights, kv))


def test_example_gpt_oss_120b_h100():
    est = example_estimate("gpt-oss-120b-h100.yaml")
    weights = facts("gpt-oss-120b.yaml")["checkpoint_bytes"]
    kv = 18 * 2048 + 0.8 * 18 * 2048
    assert est.mem_fraction_static == 0.885
    assert close(est.kv_tokens, pool_tokens(0.885, H100_MIB, weights, kv))
    assert est.kv_tokens >= 131072 and est.full_context_sequences == 1


def test_example_deepseek_v32_h200():
    est = example_estimate("deepseek-v3.2-h200.yaml")
    fp8 = 1 + 4 / (128 * 128)
    h = 7168
    per_layer_attn = (1536 * 128 * 192 + 512 * 128 * 256 + 128 * 128 * h
                      + h * (1536 + 512 + 64) + 1536 * 64 * 128 + h * 128) * fp8 + h * 64 * 2
    experts_layer = (256 + 1) * 3 * h * 2048 * fp8
    # attention-DP 8: attention, indexer, router and embedding whole on every rank; 62 layers
    # of attention with the MTP layer that EAGLE drafts with, experts and LM head over 8.
    weights = (62 * per_layer_attn + 59 * 256 * h * 2 + 129280 * h * 2
               + (129280 * h * 2 + 3 * 3 * h * 18432 * fp8 + 59 * experts_layer + 2 * h * h) / 8)
    kv = (61 + 1) * (576 * 2 + 132)  # target layers + the MTP draft layer, indexer on both
    # decode graphs up to the spec's cuda_graph_max_bs 8 (64 running // 8 ranks); attention DP
    # pads 3 MiB per bs per rank
    reserve = 512 + 1.5 * 8192 + 1024 + 2 * 8 + 8 * 8 * 3 + 1536  # 15,568 MiB
    fraction = round((H200_MIB - reserve) / H200_MIB, 3)
    assert est.mem_fraction_static == fraction == 0.892
    assert close(est.weights_per_gpu_bytes, weights) and est.kv_bytes_per_token == kv
    assert close(est.kv_tokens, pool_tokens(fraction, H200_MIB, weights, kv))
    assert est.kv_pools == 8 and est.chunked_prefill_size == 8192 // 8


# --- weights per quantization format ----------------------------------------------------------

QWEN3_8B_LINEAR = 36 * (2 * 4096 * 4096 + 2 * 4096 * 1024 + 3 * 4096 * 12288)  # q,o + k,v + MLP
QWEN3_8B_EMBED_AND_HEAD = 2 * 151936 * 4096


def test_on_the_fly_fp8_halves_the_linear_layers():
    """precision.weights fp8_e4m3 on a BF16 checkpoint: SGLang quantizes the linear layers at
    load (--quantization fp8); embeddings and LM head stay BF16."""
    spec = example_spec("L40S", 1, context=32768)
    spec["precision"]["weights"] = "fp8_e4m3"
    est = estimate_mod.estimate(spec, facts("qwen3-8b.yaml"))
    hand = QWEN3_8B_LINEAR * 1 + QWEN3_8B_EMBED_AND_HEAD * 2  # ~9.4 GB instead of 16.4
    assert close(est.weights_per_gpu_bytes, hand, 0.01)


@pytest.mark.parametrize("quant,per_weight", [
    ({"quant_method": "awq", "bits": 4, "group_size": 128, "zero_point": True},
     0.5 + (2 + 0.5) / 128),  # int4 + an fp16 scale and a 4-bit zero per group of 128
    ({"quant_method": "gptq", "bits": 8, "group_size": 64}, 1 + (2 + 0.5) / 64),
    ({"quant_method": "fp8", "fmt": "e4m3", "weight_block_size": [128, 128]},
     1 + 4 / (128 * 128)),  # e4m3 + an fp32 scale per 128x128 block
    ({"quant_method": "compressed-tensors",
      "config_groups": {"group_0": {"weights": {"num_bits": 4, "group_size": 32}}}},
     0.5 + 2 / 32),  # pack-quantized int4 + a BF16 scale per group of 32
])
def test_checkpoint_formats_are_sized_per_weight(quant, per_weight):
    """A checkpoint's modelled size in its own format: quantized linear layers, BF16 rest."""
    config = {**mc.QWEN3_8B, "quantization_config": quant}
    hand = QWEN3_8B_LINEAR * per_weight + QWEN3_8B_EMBED_AND_HEAD * 2
    assert close(mc.modelled_total_size(config), hand, 0.001)
    # The estimate holds the checkpoint as it is: its real size on one GPU.
    f = mc.facts_of(config, "x/y", int(hand))
    est = estimate_mod.estimate(example_spec("H100", 1, context=4096), f)
    assert close(est.weights_per_gpu_bytes, hand, 0.001)


def test_pipeline_stages_split_layers_and_kv():
    """PP2: each stage holds half the decoder layers and their KV; the embedding sits on the
    first stage and the LM head on the last, so the busiest stage carries one of them."""
    spec = example_spec("L40S", 1, context=32768)
    spec["parallelism"]["pipeline"] = 2
    spec["hardware"]["gpus_per_node"] = 2
    est = estimate_mod.estimate(spec, facts("llama-3.1-8b-instruct.yaml"))
    table = 128256 * 4096 * 2  # embedding = LM head, BF16
    weights = (16_060_522_496 - 2 * table) / 2 + table
    assert close(est.weights_per_gpu_bytes, weights, 0.01)
    assert est.kv_bytes_per_token == 16 * 2 * 8 * 128 * 2  # 32 layers / 2 stages
