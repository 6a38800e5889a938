"""The real config.json of each example model (the fields sizing reads) and its safetensors
index size, as public copies give them. The Hugging Face Hub is unreachable from here, so the
tests write these to a folder and run `servespec model-facts` on it; specs/models/*.yaml must be
exactly what that writes. Where a checkpoint's index could not be read, total_size is computed
from the config's tensor shapes and the format's bytes (a comment says so)."""

from __future__ import annotations

# Qwen/Qwen3-8B config.json, as copied at github.com/sanjithudupa/compute-aware-arch-search
# Qwen3-8B/config.json (a re-save: dtype float32 there; the Hub's file says torch_dtype
# bfloat16 and its shards are BF16). Index total_size 16381470720: the figure other public
# copies of the index show, equal to 2 bytes x the 8,190,735,360 parameters these fields give.
QWEN3_8B = {
    "architectures": ["Qwen3ForCausalLM"], "model_type": "qwen3", "attention_bias": False,
    "head_dim": 128, "hidden_size": 4096, "intermediate_size": 12288,
    "max_position_embeddings": 40960, "max_window_layers": 36, "num_attention_heads": 32,
    "num_hidden_layers": 36, "num_key_value_heads": 8, "rope_theta": 1000000,
    "sliding_window": None, "tie_word_embeddings": False, "torch_dtype": "bfloat16",
    "use_sliding_window": False, "vocab_size": 151936,
}
QWEN3_8B_TOTAL_SIZE = 16_381_470_720

# meta-llama/Llama-3.1-8B-Instruct config.json (LlamaForCausalLM, 32 layers, GQA 32/8,
# 128K context with llama3 RoPE scaling). Index total_size 16060522496, quoted in many public
# copies of its model.safetensors.index.json; = 2 bytes x 8,030,261,248 parameters.
LLAMA_31_8B = {
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "attention_bias": False,
    "head_dim": 128, "hidden_size": 4096, "intermediate_size": 14336,
    "max_position_embeddings": 131072, "num_attention_heads": 32, "num_hidden_layers": 32,
    "num_key_value_heads": 8, "rope_theta": 500000.0, "tie_word_embeddings": False,
    "rope_scaling": {"factor": 8.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                     "original_max_position_embeddings": 8192, "rope_type": "llama3"},
    "torch_dtype": "bfloat16", "vocab_size": 128256,
}
LLAMA_31_8B_TOTAL_SIZE = 16_060_522_496

# lmsys/sglang-EAGLE3-LLaMA3.1-Instruct-8B config.json: one Llama decoder layer drafting from
# the target's hidden states, a 32,000-token draft vocabulary (the same fields appear in
# SGLang's and SpecForge's EAGLE3 test configs). The repository ships pytorch_model.bin and no
# safetensors index: total_size is computed from the tensor shapes in FP16 (q_proj 2h->h,
# k/v 2h->h/4, o, MLP, fc 3h->h, lm_head 32000 x h, norms, d2t int64[32000], t2d bool[128256];
# the embedding is the target's): 849,763,584 bytes.
EAGLE3_LLAMA_31_8B = {
    "architectures": ["LlamaForCausalLMEagle3"], "model_type": "llama", "hidden_size": 4096,
    "intermediate_size": 14336, "max_position_embeddings": 2048, "num_attention_heads": 32,
    "num_hidden_layers": 1, "num_key_value_heads": 8, "tie_word_embeddings": False,
    "torch_dtype": "float16", "vocab_size": 128256, "draft_vocab_size": 32000,
}
EAGLE3_LLAMA_31_8B_TOTAL_SIZE = (2 * (8192 * 4096 + 2 * 8192 * 1024 + 4096 * 4096
                                      + 3 * 4096 * 14336 + 3 * 4096 * 4096 + 32000 * 4096
                                      + 4 * 4096) + 8 * 32000 + 128256)

# Qwen/Qwen3-235B-A22B-FP8 config.json (model card: 94 layers, GQA 64/4, 128 experts, 8
# active; the fields as in public copies, e.g. github.com/akash-network/awesome-akash
# Qwen3-235B-A22B-FP8 and slime's scripts/models/qwen3-235B-A22B.sh). The index could not be
# read here: total_size computed from these fields, FP8 linear layers with one fp32 scale per
# 128x128 block, BF16 embeddings, LM head, router and norms.
QWEN3_235B_FP8 = {
    "architectures": ["Qwen3MoeForCausalLM"], "model_type": "qwen3_moe", "attention_bias": False,
    "decoder_sparse_step": 1, "head_dim": 128, "hidden_size": 4096, "intermediate_size": 12288,
    "max_position_embeddings": 40960, "mlp_only_layers": [], "moe_intermediate_size": 1536,
    "norm_topk_prob": True, "num_attention_heads": 64, "num_experts": 128,
    "num_experts_per_tok": 8, "num_hidden_layers": 94, "num_key_value_heads": 4,
    "quantization_config": {"activation_scheme": "dynamic", "fmt": "e4m3", "quant_method": "fp8",
                            "weight_block_size": [128, 128]},
    "sliding_window": None, "tie_word_embeddings": False, "torch_dtype": "bfloat16",
    "use_sliding_window": False, "vocab_size": 151936,
}

# openai/gpt-oss-120b config.json: 36 layers alternating 128-token sliding-window and full
# attention, GQA 64/8 with head_dim 64, 128 experts (4 active), MXFP4 experts with attention,
# router, embeddings and LM head left in BF16. The index could not be read here: total_size
# computed from these fields (MXFP4: 4 bits + one scale byte per 32), 60.8 GiB, the checkpoint
# size OpenAI's model card gives.
GPT_OSS_120B = {
    "architectures": ["GptOssForCausalLM"], "model_type": "gpt_oss", "attention_bias": True,
    "experts_per_token": 4, "head_dim": 64, "hidden_size": 2880, "initial_context_length": 4096,
    "intermediate_size": 2880, "layer_types": ["sliding_attention", "full_attention"] * 18,
    "max_position_embeddings": 131072, "num_attention_heads": 64, "num_experts_per_tok": 4,
    "num_hidden_layers": 36, "num_key_value_heads": 8, "num_local_experts": 128,
    "quantization_config": {"modules_to_not_convert": ["model.layers.*.self_attn",
                                                       "model.layers.*.mlp.router",
                                                       "model.embed_tokens", "lm_head"],
                            "quant_method": "mxfp4"},
    "sliding_window": 128, "tie_word_embeddings": False, "torch_dtype": "bfloat16",
    "vocab_size": 201088,
}

# deepseek-ai/DeepSeek-V3.2 config.json, as quoted in full by a public write-up of it
# ("DeepSeek-V3.2 模型架构详解", a GitHub docs page found through the code search): MLA with the
# DSA indexer (64 heads of 128), 61 layers + 1 MTP layer, 256 experts, block FP8 with ue8m0
# scales. The index could not be read here: total_size computed like Qwen3-235B-FP8's.
DEEPSEEK_V32 = {
    "architectures": ["DeepseekV32ForCausalLM"], "model_type": "deepseek_v32",
    "attention_bias": False, "first_k_dense_replace": 3, "hidden_size": 7168,
    "index_head_dim": 128, "index_n_heads": 64, "index_topk": 2048, "intermediate_size": 18432,
    "kv_lora_rank": 512, "max_position_embeddings": 163840, "moe_intermediate_size": 2048,
    "moe_layer_freq": 1, "n_group": 8, "n_routed_experts": 256, "n_shared_experts": 1,
    "norm_topk_prob": True, "num_attention_heads": 128, "num_experts_per_tok": 8,
    "num_hidden_layers": 61, "num_key_value_heads": 128, "num_nextn_predict_layers": 1,
    "q_lora_rank": 1536, "qk_nope_head_dim": 128, "qk_rope_head_dim": 64,
    "quantization_config": {"activation_scheme": "dynamic", "fmt": "e4m3", "quant_method": "fp8",
                            "scale_fmt": "ue8m0", "weight_block_size": [128, 128]},
    "tie_word_embeddings": False, "topk_group": 4, "torch_dtype": "bfloat16",
    "v_head_dim": 128, "vocab_size": 129280,
}


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
