"""The physical floors (renderer/estimate/floors.py) against hand calculations from each model's
config.json numbers and the datasheet figures, for a dense GQA model, an MoE model and an MLA
(DSA) model; and the GPU catalog's bandwidth and FLOP/s, each with its NVIDIA source."""

from __future__ import annotations

import copy

import pytest
from conftest import ROOT

from renderer import catalog
from renderer.estimate import floors as floors_mod
from renderer.pipeline import read_spec

H100_BW, H100_BF16, H100_FP8 = 3.35e12, 989e12, 1979e12  # nvidia.com/en-us/data-center/h100/
B200_BW, B200_BF16, B200_FP8 = 7.7e12, 2250e12, 4500e12  # nvidia.com/en-us/data-center/hgx/


def within(value: float, hand: float, tolerance: float = 0.01) -> bool:
    return abs(value - hand) <= tolerance * abs(hand)


def report(spec: str):
    r = read_spec(ROOT / spec)
    assert r.estimate is not None, r.estimate_error
    return r


def test_dense_gqa_llama_8b_on_one_h100():
    """Llama-3.1-8B (32 layers, hidden 4096, 32 heads, 8 KV heads of 128, FFN 14336, vocab
    128256, untied) in BF16 on one H100."""
    r = report("specs/examples/llama-3.1-8b-eagle3-h100.yaml")
    assert r.spec["parallelism"]["tensor"] == 1
    h, layers, ffn, vocab = 4096, 32, 14336, 128256
    attention = layers * (2 * h * 32 * 128 + 2 * h * 8 * 128)
    mlp = layers * 3 * h * ffn
    weights = 2 * (attention + mlp + vocab * h)  # BF16; the embedding lookup reads a few rows
    kv_per_token = layers * 2 * 8 * 128 * 2
    context = 8192
    f1 = floors_mod.floors(r.estimate, r.facts, r.spec, r.deployment, 1, context)
    assert within(f1.tpot_floor_1_ms, (weights + context * kv_per_token) / H100_BW * 1e3)
    f8 = floors_mod.floors(r.estimate, r.facts, r.spec, r.deployment, 8, context)
    assert within(f8.tpot_floor_c_ms, (weights + 8 * context * kv_per_token) / H100_BW * 1e3)
    assert f8.bound_c == "memory"
    # prefill: 2 FLOPs per parameter per token, LM head once; causal attention sums p over p
    gemm = 2 * (attention + mlp) * context + 2 * vocab * h
    attn = 4 * 32 * 128 * layers * context**2 / 2
    assert within(f1.ttft_floor_ms, (gemm + attn) / H100_BF16 * 1e3)
    assert f8.tokens_per_s_floor == pytest.approx(8 / (f8.tpot_floor_c_ms / 1e3))
    usd = r.estimate.usd_per_hour_replica / 3600 / f8.tokens_per_s_floor * 1e6
    assert f8.usd_per_m_tokens_floor == pytest.approx(usd)


def test_moe_qwen3_235b_fp8_on_four_h100():
    """Qwen3-235B-A22B-FP8 (94 layers, hidden 4096, 64 heads and 4 KV heads of 128, 128 experts
    of width 1536, 8 per token, vocab 151936) at TP4: block-FP8 weights (one byte plus a 4-byte
    scale per 128x128 block), BF16 router and LM head."""
    r = report("specs/examples/qwen3-235b-a22b-fp8-h100.yaml")
    h, layers, vocab, experts, k = 4096, 94, 151936, 128, 8
    fp8 = 1 + 4 / (128 * 128)
    attention = layers * (2 * h * 64 * 128 + 2 * h * 4 * 128) * fp8 / 4
    expert = 3 * h * 1536 * fp8 / 4  # one expert's shard on one of the 4 GPUs
    router = layers * experts * h * 2  # whole on every GPU
    head = vocab * h * 2 / 4
    kv_per_token = layers * 2 * 1 * 128 * 2  # 4 KV heads over TP4: one per GPU
    context = 32768

    def hand(sequences: int, touched: float) -> float:
        read = attention + layers * touched * expert + router + head
        return (read + sequences * context * kv_per_token) / H100_BW * 1e3

    f1 = floors_mod.floors(r.estimate, r.facts, r.spec, r.deployment, 1, context)
    assert within(f1.tpot_floor_1_ms, hand(1, k))
    f32 = floors_mod.floors(r.estimate, r.facts, r.spec, r.deployment, 32, context)
    assert within(f32.tpot_floor_c_ms, hand(32, experts * (1 - (1 - k / experts) ** 32)))
    assert f1.gemm_format == "fp8"
    # prefill in FP8: 22B active parameters per token
    active = layers * (2 * h * 64 * 128 + 2 * h * 4 * 128 + k * 3 * h * 1536 + experts * h)
    gemm = 2 * active * context + 2 * vocab * h
    attn = 4 * 64 * 128 * layers * context**2 / 2
    assert within(f1.ttft_floor_ms, (gemm / H100_FP8 + attn / H100_BF16) / 4 * 1e3)


def test_mla_dsa_glm51_on_eight_b200():
    """GLM-5.1-FP8 at TP8: a token's MLA latent is kv_lora_rank 512 + rope 64 in BF16 in each of
    78 layers, the DSA indexer's key 128 FP8 values + one fp32 scale; a query reads the indexer
    keys of every cached token and the latents of its top 2048 only."""
    r = report("specs/glm51-fp8-b200.yaml")
    context = 131072
    layers = 78
    kv_read = layers * ((512 + 64) * 2 * 2048 + (128 + 4) * context)
    f1 = floors_mod.floors(r.estimate, r.facts, r.spec, r.deployment, 1, context)
    f2 = floors_mod.floors(r.estimate, r.facts, r.spec, r.deployment, 2, context)
    assert floors_mod.kv_read_bytes(r.facts, r.spec, "bf16", "sm100", context) == kv_read
    # one decoder layer's expert shard: 256 experts of 3 x 6144 x 2048, FP8, over 8 GPUs;
    # 75 MoE layers; the second sequence adds 8 x (1 - 8/256) experts per layer on average
    expert = 3 * 6144 * 2048 * (1 + 4 / 16384) / 8
    extra = 75 * expert * (256 * (1 - (1 - 8 / 256) ** 2) - 8)
    scale = 756e9 / sum(floors_mod.weights.part_bytes(r.facts).values())  # modelled vs real size
    assert within(f2.decode_bytes_c - f1.decode_bytes_1, extra * scale + kv_read)
    # prefill: MLA runs as plain attention, keys 192 + 64 wide and values 256, for 64 heads;
    # each position's scores cover at most 2048 cached tokens; the indexer's 32 heads of 128
    # score every earlier position
    topk = 2048
    pairs = topk * (context - topk) + topk**2 / 2  # sum over p of min(p, 2048)
    attn = layers * (2 * 64 * (192 + 64 + 256) * pairs + 2 * 32 * 128 * context**2 / 2)
    gemm_time = (f1.ttft_floor_ms / 1e3) - attn / (8 * B200_BF16)
    active = floors_mod.active_params(r.facts)
    hand_gemm = (2 * (active - 6144 * 154880) * context + 2 * 6144 * 154880) / (8 * B200_FP8)
    assert within(gemm_time, hand_gemm)
    assert within(active, 40e9, 0.05)  # "~40B active" (GLM-5 model card)


def test_the_catalog_cites_a_datasheet_for_every_figure():
    for name, gpu in catalog.gpus().items():
        assert gpu["datasheet"].startswith("https://www.nvidia.com/") or gpu["datasheet"].startswith(
            "https://resources.nvidia.com/"), name
        assert 0.1 < gpu["hbm_tb_per_s"] < 20, name
        peaks = gpu["dense_tflops"]
        assert peaks["bf16"] > 0, name
        assert (peaks["fp8"] is not None) == bool(gpu["fp8"]), name
        assert (peaks["fp4"] is not None) == bool(gpu["fp4"]), name
    text = (ROOT / "renderer" / "catalog" / "gpus.yaml").read_text()
    assert text.count("datasheet: https://") == len(catalog.gpus())


def test_attention_dp_splits_the_kv_reads():
    r = report("specs/glm51-fp8-b200.yaml")
    f = floors_mod.floors(r.estimate, r.facts, r.spec, r.deployment, 32)
    spec = copy.deepcopy(r.spec)
    spec["parallelism"]["attention_data"] = 8
    g = floors_mod.floors(r.estimate, r.facts, spec, r.deployment, 32)
    # attention DP: every rank holds 4 sequences' latents instead of all 32
    assert g.decode_bytes_c < f.decode_bytes_c
    assert f.to_json()["label"].startswith("floor")


def test_bench_reports_each_run_against_its_floor():
    """renderer/operate/bench_floors.py: a run's measured TPOT and throughput over the floor at
    its concurrency and prompt length."""
    from renderer.operate import bench_floors

    r = report("specs/glm51-fp8-b200.yaml")
    workloads = [{"name": "random", "dataset": "random-ids", "input_len": 1024, "output_len": 256}]
    fl = floors_mod.floors(r.estimate, r.facts, r.spec, r.deployment, 8, 1024)
    rows = [{"key": "random@8", "workload": "random", "concurrency": 8,
             "result": {"median_tpot_ms": 3 * fl.tpot_floor_c_ms,
                        "output_throughput": fl.tokens_per_s_floor / 4}},
            {"key": "random@1", "workload": "random", "concurrency": 1, "result": None}]
    bench_floors.add_floors(rows, r, workloads)
    assert rows[0]["floor"]["median_tpot_vs_floor"] == 3.0
    assert rows[0]["floor"]["output_throughput_vs_floor"] == 0.25
    assert rows[0]["floor"]["context"] == 1024 and rows[0]["floor"]["concurrency"] == 8
    assert rows[1]["floor"]["median_tpot_vs_floor"] is None  # no result: no ratio
    lines = bench_floors.floor_lines(rows)
    assert lines[0].startswith("random@8: TPOT p50 3.0x its floor of") and "0.25x" in lines[0]
    assert bench_floors.prompt_tokens({"dataset": "generated-shared-prefix",
                                       "system_prompt_len": 2048, "question_len": 128}) == 2176
