"""Runs inside an environment that has transformers (.cache/smoke-server): reads a JSON list of
config.json objects on stdin and prints, for each, what transformers' own configuration object
says about the fields model facts read. tests/test_model_facts.py compares the facts with it.

Usage: python tests/transformers_config_probe.py < configs.json
"""

import json
import sys
import warnings

TEXT = ("vocab_size", "max_position_embeddings", "num_hidden_layers", "hidden_size",
        "intermediate_size", "num_attention_heads", "num_key_value_heads", "head_dim",
        "sliding_window", "layer_types", "moe_intermediate_size", "num_experts_per_tok",
        "first_k_dense_replace", "kv_lora_rank", "q_lora_rank", "num_nextn_predict_layers")
VISION = ("num_hidden_layers", "hidden_size", "intermediate_size", "patch_size", "image_size")


def describe(raw: dict) -> dict:
    from transformers import AutoConfig

    raw = dict(raw)
    cfg = AutoConfig.for_model(raw.pop("model_type"), **raw)
    text = cfg.get_text_config(decoder=True)
    vision = getattr(cfg, "vision_config", None)
    experts = next((getattr(text, k) for k in ("n_routed_experts", "num_local_experts",
                                                "num_experts") if getattr(text, k, None)), None)
    return {
        "transformers": __import__("transformers").__version__,
        "class": type(cfg).__name__,
        "tie_word_embeddings": bool(getattr(cfg, "tie_word_embeddings", False)),
        "experts": experts,
        "text": {k: getattr(text, k, None) for k in TEXT},
        "vision": None if vision is None else {k: getattr(vision, k, None) for k in VISION},
    }


def main() -> int:
    warnings.simplefilter("ignore")
    print(json.dumps([describe(raw) for raw in json.load(sys.stdin)]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
