"""The real config.json of each example model (specs/models/<facts>.config.json) and its
safetensors index size, as public copies give them. The Hugging Face Hub is unreachable from here, so the
tests write these to a folder and run `servespec model-facts` on it; specs/models/*.yaml must be
exactly what that writes. Where a checkpoint's index could not be read, total_size is computed
from the config's tensor shapes and the format's bytes (a comment says so)."""

from __future__ import annotations

import json
from pathlib import Path

MODELS = Path(__file__).resolve().parent.parent / "specs" / "models"


def config_json(stem: str) -> dict:
    """specs/models/<stem>.config.json: the one copy of the checkpoint's config.json, which the
    facts beside it are generated from and SGLang's resolution check reads (where each copy
    comes from: specs/models/config-sources.yaml)."""
    return json.loads((MODELS / f"{stem}.config.json").read_text())


# Qwen/Qwen3-8B config.json, as copied at github.com/sanjithudupa/compute-aware-arch-search
# Qwen3-8B/config.json (a re-save: dtype float32 there; the Hub's file says torch_dtype
# bfloat16 and its shards are BF16). Index total_size 16381470720: the figure other public
# copies of the index show, equal to 2 bytes x the 8,190,735,360 parameters these fields give.
QWEN3_8B = config_json("qwen3-8b")
QWEN3_8B_TOTAL_SIZE = 16_381_470_720

# meta-llama/Llama-3.1-8B-Instruct config.json (LlamaForCausalLM, 32 layers, GQA 32/8,
# 128K context with llama3 RoPE scaling). Index total_size 16060522496, quoted in many public
# copies of its model.safetensors.index.json; = 2 bytes x 8,030,261,248 parameters.
LLAMA_31_8B = config_json("llama-3.1-8b-instruct")
LLAMA_31_8B_TOTAL_SIZE = 16_060_522_496

# lmsys/sglang-EAGLE3-LLaMA3.1-Instruct-8B config.json: one Llama decoder layer drafting from
# the target's hidden states, a 32,000-token draft vocabulary (the same fields appear in
# SGLang's and SpecForge's EAGLE3 test configs). The repository ships pytorch_model.bin and no
# safetensors index: total_size is computed from the tensor shapes in FP16 (q_proj 2h->h,
# k/v 2h->h/4, o, MLP, fc 3h->h, lm_head 32000 x h, norms, d2t int64[32000], t2d bool[128256];
# the embedding is the target's): 849,763,584 bytes.
EAGLE3_LLAMA_31_8B = config_json("eagle3-llama-3.1-8b")
EAGLE3_LLAMA_31_8B_TOTAL_SIZE = (2 * (8192 * 4096 + 2 * 8192 * 1024 + 4096 * 4096
                                      + 3 * 4096 * 14336 + 3 * 4096 * 4096 + 32000 * 4096
                                      + 4 * 4096) + 8 * 32000 + 128256)

# Qwen/Qwen3-235B-A22B-FP8 config.json (model card: 94 layers, GQA 64/4, 128 experts, 8
# active; the fields as in public copies, e.g. github.com/akash-network/awesome-akash
# Qwen3-235B-A22B-FP8 and slime's scripts/models/qwen3-235B-A22B.sh). The index could not be
# read here: total_size computed from these fields, FP8 linear layers with one fp32 scale per
# 128x128 block, BF16 embeddings, LM head, router and norms.
QWEN3_235B_FP8 = config_json("qwen3-235b-a22b-fp8")

# openai/gpt-oss-120b config.json: 36 layers alternating 128-token sliding-window and full
# attention, GQA 64/8 with head_dim 64, 128 experts (4 active), MXFP4 experts with attention,
# router, embeddings and LM head left in BF16. The index could not be read here: total_size
# computed from these fields (MXFP4: 4 bits + one scale byte per 32), 60.8 GiB, the checkpoint
# size OpenAI's model card gives.
GPT_OSS_120B = config_json("gpt-oss-120b")

# deepseek-ai/DeepSeek-V3.2 config.json, as quoted in full by a public write-up of it
# ("DeepSeek-V3.2 模型架构详解", a GitHub docs page found through the code search): MLA with the
# DSA indexer (64 heads of 128), 61 layers + 1 MTP layer, 256 experts, block FP8 with ue8m0
# scales. The index could not be read here: total_size computed like Qwen3-235B-FP8's.
DEEPSEEK_V32 = config_json("deepseek-v3.2")


def modelled_total_size(config: dict) -> int:
    """total_size from the config's tensor shapes in the checkpoint's own format
    (renderer/estimate/weights.py part_bytes with no real size to scale to)."""
    from renderer.estimate import weights
    from renderer.facts import generate as model_facts

    facts = model_facts.facts_from_config("computed", None, config, {"metadata": {"total_size": 1}})
    facts.pop("checkpoint_bytes")
    return int(sum(weights.part_bytes(facts).values()))


# (facts file, repository, config.json, total_size or None when computed, where it came from)
EXAMPLES = [
    ("qwen3-8b.yaml", "Qwen/Qwen3-8B", QWEN3_8B, QWEN3_8B_TOTAL_SIZE,
     ("Qwen/Qwen3-8B config.json as copied at github.com/sanjithudupa/compute-aware-arch-search"
      " (Qwen3-8B/config.json); index total_size 16381470720 (= 2 bytes x the parameters)")),
    ("llama-3.1-8b-instruct.yaml", "meta-llama/Llama-3.1-8B-Instruct", LLAMA_31_8B,
     LLAMA_31_8B_TOTAL_SIZE,
     ("meta-llama/Llama-3.1-8B-Instruct config.json; index total_size 16060522496 as quoted by"
      " public copies of its model.safetensors.index.json")),
    ("eagle3-llama-3.1-8b.yaml", "lmsys/sglang-EAGLE3-LLaMA3.1-Instruct-8B", EAGLE3_LLAMA_31_8B,
     EAGLE3_LLAMA_31_8B_TOTAL_SIZE,
     ("lmsys/sglang-EAGLE3-LLaMA3.1-Instruct-8B config.json (the fields of SGLang's EAGLE3 test"
      " config); it ships pytorch_model.bin without an index, so checkpoint_bytes is computed from"
      " the tensor shapes in FP16")),
    ("qwen3-235b-a22b-fp8.yaml", "Qwen/Qwen3-235B-A22B-FP8", QWEN3_235B_FP8, None,
     ("Qwen/Qwen3-235B-A22B-FP8 config.json (fields as in public copies: the model card in"
      " github.com/akash-network/awesome-akash, slime scripts/models/qwen3-235B-A22B.sh);"
      " the index was not readable here: checkpoint_bytes computed (FP8 + 128x128 fp32 scales)")),
    ("gpt-oss-120b.yaml", "openai/gpt-oss-120b", GPT_OSS_120B, None,
     ("openai/gpt-oss-120b config.json; the index was not readable here: checkpoint_bytes"
      " computed (MXFP4 experts, BF16 rest), 60.7 GiB against the model card's 60.8 GiB")),
    ("deepseek-v3.2.yaml", "deepseek-ai/DeepSeek-V3.2", DEEPSEEK_V32, None,
     ("deepseek-ai/DeepSeek-V3.2 config.json as quoted in full by a public write-up"
      " (\"DeepSeek-V3.2 模型架构详解\"); the index was not readable here: checkpoint_bytes"
      " computed (FP8 + 128x128 fp32 scales, MTP layer included)")),
]


def facts_of(config: dict, repo: str, total_size: int | None) -> dict:
    from renderer.facts import generate as model_facts

    size = total_size if total_size is not None else modelled_total_size(config)
    return model_facts.facts_from_config(repo, None, config, {"metadata": {"total_size": size}})
