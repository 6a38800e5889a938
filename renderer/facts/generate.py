"""`servespec model-facts`: the model facts file of a checkpoint, from its config.json.

SOURCE is a local folder (config.json, and model.safetensors.index.json or the *.safetensors
files and the chat templates when there), a config.json file, or a Hugging Face Hub repository
(renderer/facts/source.py reads each; only the Hub needs the network and huggingface_hub). config.json is read the way
transformers reads it, defaults of the model type's configuration class filled in
(renderer/facts/config.py). A field that neither config.json nor those defaults determine is
never written as null: the command refuses and names every such field.

The result is the layout of specs/models/*.yaml, which `servespec estimate` and the memory rules
read; its header names the command that regenerates it.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

from renderer import catalog
from renderer.facts import config as facts_config
from renderer.facts import template as chat_template
from renderer.facts.config import Section
from renderer.facts.params import DTYPE_BYTES, WeightsError, model_params, stored_part_bytes
from renderer.facts.source import (  # noqa: F401  (CONFIG, INDEX: names callers use)
    CONFIG,
    INDEX,
    FactsError,
    Inputs,
    is_local,
    read_hub,
    read_local,
)
from renderer.files import write_atomic


class Reader:
    """Reads one config section, collecting the fields it cannot determine."""

    def __init__(self, section: Section, missing: list[str], prefix: str = ""):
        self.section, self.missing, self.prefix = section, missing, prefix

    def int(self, name: str, *keys: str, optional: bool = False) -> int | None:
        for key in keys or (name,):
            value = self.section.get(key)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
                self.missing.append(f"{self.prefix}{name} ({self.section.where}{key} is {value!r},"
                                    " not a whole number)")
                return None
            return int(value)
        if not optional:
            self.missing.append(f"{self.prefix}{name} ({self.section.where}{(keys or (name,))[0]})")
        return None


def facts_from_inputs(inputs: Inputs) -> dict:
    """The model facts of one config.json and checkpoint size; FactsError names every field
    that could not be determined."""
    cfg = facts_config.read(inputs.config)
    missing: list[str] = []
    if not inputs.repo:
        missing.append("repo (a local folder does not say which Hub repository it is: --repo)")
    text = Reader(cfg.text, missing)
    facts = {
        "repo": inputs.repo,
        "revision": inputs.revision,
        "architecture": (cfg.top.get("architectures") or [None])[0],
        "model_type": cfg.top.model_type,
        "max_position_embeddings": text.int("max_position_embeddings"),
        "num_hidden_layers": text.int("num_hidden_layers"),
        "num_nextn_predict_layers": text.int("num_nextn_predict_layers", optional=True) or 0,
        "hidden_size": text.int("hidden_size"),
        "intermediate_size": text.int("intermediate_size", optional=True),
        "vocab_size": text.int("vocab_size"),
        "tie_word_embeddings": bool(cfg.top.get("tie_word_embeddings")
                                    or cfg.text.get("tie_word_embeddings")),
        "rope_scaling": _rope_scaling(cfg.text.get("rope_scaling") or cfg.text.get("rope_parameters")),
        "attention": _attention(cfg.text, missing),
        "indexer": _indexer(cfg.text, missing),
        "moe": _moe(cfg.text, missing),
    }
    for key, value in (("architecture", facts["architecture"]),
                       ("model_type", facts["model_type"])):
        if not value:
            missing.append(f"{key} (config.json {'architectures' if key == 'architecture' else key})")
    dense = not facts["moe"] or facts["moe"]["first_k_dense_replace"]
    if dense and facts["intermediate_size"] is None:
        text.int("intermediate_size")  # a dense MLP needs its width
    _dtypes(facts, cfg, inputs.notes)
    if inputs.card_rope_scaling:
        facts["card_rope_scaling"] = _rope_scaling(inputs.card_rope_scaling)
    if cfg.vision is not None:
        facts["vision"] = _vision(cfg.vision, missing)
    if missing:
        raise FactsError(_refusal(missing, cfg), usage=all(m.startswith("repo ") for m in missing))
    _sizes(facts, inputs)
    if inputs.chat_templates:  # none found: unknown, and the fact is left out
        facts["chat_template_reasoning"], inputs.notes["chat_template_reasoning"] = \
            chat_template.reasoning(inputs.chat_templates)
    if cfg.text.get("draft_vocab_size") or "Eagle" in str(facts["architecture"]):
        facts["draft"] = {"draft_vocab_size": cfg.text.get("draft_vocab_size")}
    return facts


def _refusal(missing: list[str], cfg: facts_config.Config) -> str:
    unknown = [s.model_type or "(none)" for s in (cfg.top, cfg.text) if not s.known]
    why = (f"; model type {', '.join(dict.fromkeys(unknown))} is not one of transformers"
           f" {facts_config.transformers_version()}'s configuration classes, so no defaults"
           " apply" if unknown else "")
    return (f"config.json does not determine {len(missing)} field(s) the facts need: "
            + ", ".join(missing) + why + ". Add them to config.json (or pass the option named)")


def facts_from_config(repo: str | None, revision: str | None, config: dict,
                      index: dict | None = None) -> dict:
    """The facts of a config.json (and, when given, its safetensors index)."""
    inputs = Inputs(config, repo, revision)
    if index is not None:
        meta = index.get("metadata") or {}
        inputs.total_size, inputs.size_from = meta.get("total_size"), f"{INDEX} metadata.total_size"
        inputs.total_parameters = meta.get("total_parameters")
    return facts_from_inputs(inputs)


def facts_from_repo(repo: str, revision: str | None = None, *, local_dir: str | Path | None = None,
                    cache_dir: str | Path | None = None, offline: bool = False) -> dict:
    """The model facts of Hub repository `repo` at `revision` (default: its default branch)."""
    return facts_from_inputs(read_hub(repo, revision, local_dir=local_dir, cache_dir=cache_dir,
                                      offline=offline))


# --- the parts --------------------------------------------------------------------------------


def _attention(cfg: Section, missing: list[str]) -> dict:
    r = Reader(cfg, missing, "attention.")
    heads = r.int("num_attention_heads")
    if cfg.get("kv_lora_rank"):
        return {
            "kind": "mla_dsa" if cfg.get("index_topk") is not None else "mla",
            "num_attention_heads": heads,
            "kv_lora_rank": r.int("kv_lora_rank"),
            "qk_rope_head_dim": r.int("qk_rope_head_dim"),
            "qk_nope_head_dim": r.int("qk_nope_head_dim"),
            "v_head_dim": r.int("v_head_dim"),
            "q_lora_rank": r.int("q_lora_rank", optional=True),
        }
    # transformers' convention: no num_key_value_heads is multi-head attention, no head_dim is
    # hidden_size / num_attention_heads.
    kv_heads = r.int("num_key_value_heads", optional=True) or heads
    hidden = Reader(cfg, []).int("hidden_size", optional=True)
    head_dim = r.int("head_dim", optional=True) or (hidden // heads if hidden and heads else None)
    if head_dim is None and heads:
        r.int("head_dim")
    out = {
        "kind": "mha" if kv_heads == heads else "gqa",
        "num_attention_heads": heads,
        "num_key_value_heads": kv_heads,
        "head_dim": head_dim,
        "bias": bool(cfg.get("attention_bias", False)),
    }
    if "layer_types" in cfg.undetermined:
        missing.append(f"attention.layer_types ({cfg.where}layer_types: which layers use the"
                       f" {cfg.get('sliding_window')}-token sliding window)")
    types = list(cfg.get("layer_types") or [])
    if cfg.get("sliding_window") and "sliding_attention" in types:
        # Sliding-window layers (gpt-oss, Gemma): which ones, and the window.
        out["sliding_window"] = r.int("sliding_window")
        out["layer_types"] = types
    return out


def _indexer(cfg: Section, missing: list[str]) -> dict | None:
    if cfg.get("index_topk") is None:
        return None
    r = Reader(cfg, missing, "indexer.")
    layers = Reader(cfg, []).int("num_hidden_layers", optional=True) or 0
    out = {
        "head_dim": r.int("head_dim", "index_head_dim"),
        "num_heads": r.int("num_heads", "index_n_heads"),
        "topk": r.int("topk", "index_topk"),
        "shared_layers": sum(_skips_topk(cfg.values, i) for i in range(layers)),
    }
    if cfg.get("index_kpool") not in (None, 1):
        out["kpool"] = int(cfg.get("index_kpool"))
    return out


def _skips_topk(cfg: dict, layer: int) -> bool:
    """Whether a DSA layer reuses the previous layer's top-k and so keeps no indexer cache.
    Mirrors sglang 0.5.23 srt/configs/model_config.py dsa_layer_skips_topk."""
    types = cfg.get("indexer_types")
    if types is not None:
        return 0 <= layer < len(types) and types[layer] == "shared"
    cli = cfg.get("cli_factor") or 1
    if cli > 1:
        return layer % cli != 0
    pattern = cfg.get("index_topk_pattern")
    if pattern is not None:
        return layer < len(pattern) and pattern[layer] == "S"
    freq = cfg.get("index_topk_freq") or 1
    offset = cfg.get("index_skip_topk_offset")
    if offset is not None:
        return max(layer - offset + 1, 0) % freq != 0
    return max(layer - 1, 0) % freq != 0


def _moe(cfg: Section, missing: list[str]) -> dict | None:
    r = Reader(cfg, missing, "moe.")
    experts = Reader(cfg, []).int("n_routed_experts", "n_routed_experts", "num_local_experts",
                                  "num_experts", optional=True)
    if not experts:
        return None
    width = r.int("moe_intermediate_size", "moe_intermediate_size", "intermediate_size")
    shared = r.int("n_shared_experts", optional=True)
    shared_width = r.int("shared_expert_intermediate_size", optional=True)
    if shared is None and shared_width and width:
        # One shared expert of width W holds the parameters of W / w routed-width experts
        # (Qwen2-MoE), which is how the estimate prices and splits it.
        shared = math.ceil(shared_width / width)
    return {
        "n_routed_experts": experts,
        "n_shared_experts": shared or 0,
        "num_experts_per_tok": r.int("num_experts_per_tok", "num_experts_per_tok",
                                     "experts_per_token"),
        "moe_intermediate_size": width,  # gpt-oss sizes its experts with intermediate_size
        "first_k_dense_replace": r.int("first_k_dense_replace", optional=True) or 0,
    }


def _rope_scaling(rope) -> dict | None:
    """A rope_scaling (or transformers 5 rope_parameters, per layer kind or not) that scales
    positions: its type, factor and the trained length it scales from."""
    if isinstance(rope, dict) and isinstance(rope.get("full_attention"), dict):
        rope = rope["full_attention"]
    if not isinstance(rope, dict) or not (rope.get("rope_type") or rope.get("type")):
        return None
    kind = rope.get("rope_type") or rope.get("type")
    if kind == "default":
        return None
    keep = ("factor", "original_max_position_embeddings")
    return {"rope_type": kind, **{k: rope[k] for k in keep if rope.get(k) is not None}}


def _vision(cfg: Section, missing: list[str]) -> dict:
    r = Reader(cfg, missing, "vision.")
    return {
        "model_type": cfg.model_type,
        "num_hidden_layers": r.int("num_hidden_layers"),
        "hidden_size": r.int("hidden_size"),
        "intermediate_size": r.int("intermediate_size", optional=True),
        "patch_size": r.int("patch_size", optional=True),
        "image_size": r.int("image_size", optional=True),
        "num_channels": r.int("num_channels", optional=True) or 3,
    }


# --- formats and sizes ------------------------------------------------------------------------

DTYPE_NAMES = {"bfloat16": "bf16", "float16": "fp16", "float32": "fp32"}
# config.json quantization_config keys the estimate and the quantization rules read.
QUANT_KEYS = ("quant_method", "fmt", "weight_block_size", "bits", "group_size", "zero_point",
              "activation_scheme", "modules_to_not_convert")


def _dtypes(facts: dict, cfg: facts_config.Config, notes: dict) -> None:
    raw = (cfg.top.get("torch_dtype") or cfg.top.get("dtype") or cfg.text.get("torch_dtype")
           or cfg.text.get("dtype"))
    dtype = DTYPE_NAMES.get(str(raw), str(raw)) if raw else _served_dtype(facts)
    if not raw:
        notes["torch_dtype"] = ("config.json names no dtype: the one SGLang serves it in"
                                " (catalog/sglang_defaults.yaml dtype_without_config)")
    quant = _quantization(cfg.top.get("quantization_config") or cfg.text.get("quantization_config")
                          or {})
    method = (quant or {}).get("quant_method")
    facts["weights_dtype"] = "fp8_e4m3" if method == "fp8" else str(method) if method else dtype
    facts["torch_dtype"] = dtype
    if quant:
        facts["quantization_config"] = quant


def _served_dtype(facts: dict) -> str:
    """What SGLang serves a config.json that names no dtype in (catalog/sglang_defaults.yaml
    dtype_without_config)."""
    table = catalog.sglang_defaults()["dtype_without_config"]
    if facts.get("architecture") in table["architecture"]:
        return table["architecture"][facts["architecture"]]
    for prefix, dtype in table["model_type_prefix"].items():
        if str(facts.get("model_type") or "").startswith(prefix):
            return dtype
    return table["default"]


def _quantization(quant: dict) -> dict | None:
    """The subset of quantization_config the estimate reads; compressed-tensors keeps its scheme
    in config_groups, from which the weights' bits and group size are taken."""
    if not quant.get("quant_method"):
        return None
    out = {k: quant[k] for k in QUANT_KEYS if quant.get(k) is not None}
    for group in (quant.get("config_groups") or {}).values():
        w = (group or {}).get("weights") or {}
        if w.get("num_bits") and "bits" not in out:
            out["bits"] = int(w["num_bits"])
        if w.get("group_size") and "group_size" not in out:
            out["group_size"] = int(w["group_size"])
    return out


def _sizes(facts: dict, inputs: Inputs) -> None:
    """parameters and checkpoint_bytes (the facts' key order: after the parts, before formats)."""
    formats = {k: facts.pop(k) for k in ("weights_dtype", "torch_dtype", "quantization_config")
               if k in facts}
    vision = facts.pop("vision", None)
    language = count_parameters({**facts, **formats})
    if vision is not None:
        vision["parameters"] = _vision_parameters(vision, {**facts, **formats}, inputs)
        facts["vision"] = vision
    facts["parameters"] = inputs.total_parameters or language + (vision or {}).get("parameters", 0)
    facts["checkpoint_bytes"] = inputs.total_size or _modelled_bytes({**facts, **formats})
    facts.update(formats)


def _modelled_bytes(facts: dict) -> int:
    """The checkpoint's tensor bytes from config.json's shapes in its own format."""
    vision = (facts.get("vision") or {}).get("parameters", 0)
    return int(sum(stored_part_bytes(facts).values())
               + vision * DTYPE_BYTES.get(facts.get("torch_dtype") or "bf16", 2))


def _vision_parameters(vision: dict, facts: dict, inputs: Inputs) -> int:
    """The tower and its projector: what the checkpoint holds beyond the language model when
    its size is known, else a ViT encoder counted from vision_config (projector left out)."""
    if inputs.total_size:
        rest = inputs.total_size - sum(stored_part_bytes(facts).values())
        per = DTYPE_BYTES.get(facts.get("torch_dtype") or "bf16", 2)
        if rest > 0:
            return int(rest // per)
    return vit_parameters(vision)


def vit_parameters(vision: dict) -> int:
    """A ViT encoder: per layer QKV and output projections and a two-matrix MLP with biases, two
    LayerNorms; a patch embedding and one learned position per patch."""
    h, layers = vision["hidden_size"], vision["num_hidden_layers"]
    inter = vision.get("intermediate_size") or 4 * h
    layer = 4 * h * h + 4 * h + 2 * h * inter + inter + h + 4 * h
    patch = vision.get("patch_size") or 0
    embed = vision["num_channels"] * patch * patch * h + h if patch else 0
    positions = (vision["image_size"] // patch) ** 2 * h if patch and vision.get("image_size") else 0
    return layers * layer + embed + positions + 2 * h


def _count_from_parts(facts: dict) -> int | None:
    """Linear-layer and embedding parameters (norms and biases left out) for other families."""
    try:
        return sum(model_params(facts).values())
    except (WeightsError, KeyError, TypeError, ValueError):
        return None


def count_parameters(facts: dict) -> int | None:
    """Parameters of an MLA mixture-of-experts model (DeepSeek-V3 / GLM-5 family), MTP layers
    included, shared embedding and head of the MTP layers not counted twice; other families are
    counted part by part (renderer/facts/params.py), norms and biases left out."""
    att, moe, idx = facts["attention"], facts.get("moe"), facts.get("indexer")
    if not str(att.get("kind")).startswith("mla") or not moe:
        return _count_from_parts(facts)
    h, heads = facts["hidden_size"], att["num_attention_heads"]
    qk = att["qk_nope_head_dim"] + att["qk_rope_head_dim"]
    q_lora = att.get("q_lora_rank")
    q = h * q_lora + q_lora + q_lora * heads * qk if q_lora else h * heads * qk
    kv = h * (att["kv_lora_rank"] + att["qk_rope_head_dim"]) + att["kv_lora_rank"] \
        + att["kv_lora_rank"] * heads * (att["qk_nope_head_dim"] + att["v_head_dim"])
    attn = q + kv + heads * att["v_head_dim"] * h + 2 * h  # + o_proj, two RMSNorms
    if idx:  # wq_b, wk, k_norm (LayerNorm: weight and bias), weights_proj
        attn += (q_lora or h) * idx["num_heads"] * idx["head_dim"] + h * idx["head_dim"] \
            + 2 * idx["head_dim"] + h * idx["num_heads"]
    expert = 3 * h * moe["moe_intermediate_size"]
    moe_mlp = (moe["n_routed_experts"] + moe["n_shared_experts"]) * expert \
        + moe["n_routed_experts"] * (h + 1)  # router weight and score-correction bias
    dense_mlp = 3 * h * (facts.get("intermediate_size") or 0)
    dense = moe["first_k_dense_replace"]
    layers = facts["num_hidden_layers"]
    body = dense * (attn + dense_mlp) + (layers - dense) * (attn + moe_mlp) + h
    embed = facts["vocab_size"] * h * (1 if facts.get("tie_word_embeddings") else 2)
    # Each MTP layer: a MoE decoder layer plus enorm, hnorm, eh_proj (2h -> h), shared_head norm.
    mtp = facts["num_nextn_predict_layers"] * (attn + moe_mlp + 3 * h + 2 * h * h)
    return body + embed + mtp


# --- the command ------------------------------------------------------------------------------


def read_source(source: str, revision: str | None, *, repo: str | None = None,
                index: str | None = None, checkpoint_bytes: int | None = None) -> Inputs:
    if is_local(source):
        return read_local(source, index=index, repo=repo, revision=revision,
                          checkpoint_bytes=checkpoint_bytes)
    if index:
        raise FactsError("--index reads a local file; the Hub repository's own index is used",
                         usage=True)
    if repo and repo != source:
        raise FactsError(f"--repo {repo} contradicts the repository read ({source})", usage=True)
    return read_hub(source, revision, checkpoint_bytes=checkpoint_bytes)


def model_facts_main(source: str, revision: str | None, output: str | None, *,
                     repo: str | None = None, index: str | None = None,
                     checkpoint_bytes: int | None = None, note: str | None = None,
                     announce: bool = True) -> int:
    """Print the facts file of `source` (or write it atomically to `output`, saying so unless
    `announce` is false: `size` writes one to a folder that is gone when it ends)."""
    from renderer.facts.write import command_line, to_yaml

    try:
        inputs = read_source(source, revision, repo=repo, index=index,
                             checkpoint_bytes=checkpoint_bytes)
        facts = facts_from_inputs(inputs)
    except FactsError as exc:
        print(f"servespec model-facts: {exc}", file=sys.stderr)
        return 2 if exc.usage else 1
    regen = command_line(source, facts, repo=repo, index=index,
                         checkpoint_bytes=checkpoint_bytes, note=note, output=output)
    text = to_yaml(facts, command=regen, note=note, size_from=inputs.size_from, notes=inputs.notes)
    if output is None:
        sys.stdout.write(text)
        return 0
    try:
        write_atomic(Path(output), text)
    except OSError as exc:
        print(f"servespec model-facts: cannot write {output}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    if announce:
        print(f"wrote {output}", file=sys.stderr)
    return 0



