"""`servespec model-facts`: the model facts file of a Hugging Face repository.

Reads two small files through huggingface_hub (imported only here, only when called): config.json
for the architecture and model.safetensors.index.json for the checkpoint size. Neither download
touches the weights. The result is the layout of specs/models/*.yaml, which `servespec estimate` and
the memory rules read.

Works offline too: with HF_HUB_OFFLINE=1 (or offline=True) huggingface_hub answers from its cache,
and with local_dir from a folder that `hf download --local-dir` filled.
"""

from __future__ import annotations

import json
import re
import sys
import textwrap
from datetime import date
from pathlib import Path

from renderer.files import write_atomic

CONFIG = "config.json"
INDEX = "model.safetensors.index.json"
_COMMIT = re.compile(r"^[0-9a-f]{40}$")


class FactsError(Exception):
    """A one-sentence reason the facts could not be produced."""

    def __init__(self, message: str, usage: bool = False):
        super().__init__(message)
        self.usage = usage  # the user's input is wrong (exit 2), not the world (exit 1)


# --- fetching -------------------------------------------------------------------------------


def fetch(repo: str, revision: str | None, *, local_dir: str | Path | None = None,
          cache_dir: str | Path | None = None, offline: bool = False) -> tuple[dict, dict, str | None]:
    """(config, safetensors index, resolved commit or None) via huggingface_hub."""
    try:
        from huggingface_hub import errors as hf_errors
        from huggingface_hub import hf_hub_download
    except ImportError:
        raise FactsError("huggingface-hub is not installed: pip install 'servespec[facts]'") from None

    def get(filename: str) -> Path:
        try:
            return Path(hf_hub_download(repo_id=repo, filename=filename, revision=revision,
                                        local_dir=local_dir, cache_dir=cache_dir,
                                        local_files_only=offline))
        except hf_errors.HFValidationError as exc:
            raise FactsError(f"'{repo}' is not a valid repository id: {_first_line(exc)}",
                             usage=True) from None
        except hf_errors.GatedRepoError:
            raise FactsError(f"{repo} is gated: accept its terms on the Hub and set HF_TOKEN") from None
        except hf_errors.RepositoryNotFoundError:
            raise FactsError(f"no repository {repo} on the Hub (or it is private: set HF_TOKEN)") from None
        except hf_errors.RevisionNotFoundError:
            raise FactsError(f"{repo} has no revision '{revision}'") from None
        except hf_errors.RemoteEntryNotFoundError:
            raise FactsError(f"{repo} has no {filename}"
                             + (" (single-file checkpoints are not supported)" if filename == INDEX
                                else "")) from None
        except hf_errors.LocalEntryNotFoundError as exc:
            raise FactsError(f"cannot reach the Hugging Face Hub and {filename} of {repo} is not in"
                             f" the local cache: {_first_line(exc)}") from None
        except (hf_errors.HfHubHTTPError, OSError) as exc:
            raise FactsError(f"cannot reach the Hugging Face Hub: {_first_line(exc)}") from None

    config_path = get(CONFIG)
    index_path = get(INDEX)
    return _read_json(config_path), _read_json(index_path), _commit_of(config_path, revision)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FactsError(f"{path.name} is not readable JSON: {_first_line(exc)}") from None
    if not isinstance(data, dict):
        raise FactsError(f"{path.name} is not a JSON object")
    return data


def _commit_of(path: Path, revision: str | None) -> str | None:
    """The commit a file came from: the hub cache keeps files under snapshots/<commit>/."""
    if revision and _COMMIT.match(revision):
        return revision
    parts = path.parts
    if "snapshots" in parts:
        i = len(parts) - 1 - parts[::-1].index("snapshots")
        if i + 1 < len(parts) and _COMMIT.match(parts[i + 1]):
            return parts[i + 1]
    return None


# --- config.json -> facts ----------------------------------------------------------------


def facts_from_repo(repo: str, revision: str | None = None, *, local_dir: str | Path | None = None,
                    cache_dir: str | Path | None = None, offline: bool = False) -> dict:
    """The model facts of `repo` at `revision` (default: the Hub's default branch)."""
    config, index, commit = fetch(repo, revision, local_dir=local_dir, cache_dir=cache_dir,
                                  offline=offline)
    return facts_from_config(repo, commit, config, index)


def facts_from_config(repo: str, revision: str | None, config: dict, index: dict) -> dict:
    cfg = {**config, **(config.get("text_config") or {})}  # multimodal: the language model's
    try:
        facts = {
            "repo": repo,
            "revision": revision,
            "architecture": (cfg.get("architectures") or [None])[0],
            "model_type": cfg.get("model_type"),
            "max_position_embeddings": cfg.get("max_position_embeddings"),
            "num_hidden_layers": int(cfg["num_hidden_layers"]),
            "num_nextn_predict_layers": int(cfg.get("num_nextn_predict_layers") or 0),
            "hidden_size": int(cfg["hidden_size"]),
            "intermediate_size": cfg.get("intermediate_size"),
            "vocab_size": cfg.get("vocab_size"),
            "tie_word_embeddings": bool(cfg.get("tie_word_embeddings", False)),
            "attention": _attention(cfg),
            "indexer": _indexer(cfg),
            "moe": _moe(cfg),
        }
    except (KeyError, TypeError, ValueError) as exc:
        raise FactsError(f"config.json lacks or mangles a field the plan needs: {exc}") from None
    total_size = (index.get("metadata") or {}).get("total_size")
    if not isinstance(total_size, int) or total_size <= 0:
        raise FactsError(f"{INDEX} has no metadata.total_size")
    facts["parameters"] = (index.get("metadata") or {}).get("total_parameters") \
        or count_parameters(facts)
    facts["checkpoint_bytes"] = total_size
    facts["weights_dtype"] = _weights_dtype(cfg)
    facts["torch_dtype"] = _dtype(cfg)
    quant = _quantization(cfg)
    if quant:
        facts["quantization_config"] = quant
    if cfg.get("draft_vocab_size") or any("Eagle" in a for a in cfg.get("architectures") or []):
        facts["draft"] = {"draft_vocab_size": cfg.get("draft_vocab_size")}
    return facts


# config.json quantization_config keys the estimate and the quantization rules read.
QUANT_KEYS = ("quant_method", "fmt", "weight_block_size", "bits", "group_size", "zero_point",
              "activation_scheme", "modules_to_not_convert")


def _quantization(cfg: dict) -> dict | None:
    """The subset of quantization_config the estimate reads; compressed-tensors keeps its scheme
    in config_groups, from which the weights' bits and group size are taken."""
    quant = cfg.get("quantization_config") or {}
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


def _dtype(cfg: dict) -> str:
    dtype = cfg.get("torch_dtype") or cfg.get("dtype") or "bfloat16"
    return {"bfloat16": "bf16", "float16": "fp16", "float32": "fp32"}.get(dtype, str(dtype))


def _attention(cfg: dict) -> dict:
    heads = int(cfg["num_attention_heads"])
    if cfg.get("kv_lora_rank"):
        return {
            "kind": "mla_dsa" if cfg.get("index_topk") is not None else "mla",
            "num_attention_heads": heads,
            "kv_lora_rank": int(cfg["kv_lora_rank"]),
            "qk_rope_head_dim": int(cfg["qk_rope_head_dim"]),
            "qk_nope_head_dim": int(cfg["qk_nope_head_dim"]),
            "v_head_dim": int(cfg["v_head_dim"]),
            "q_lora_rank": cfg.get("q_lora_rank"),
        }
    kv_heads = int(cfg.get("num_key_value_heads") or heads)
    out = {
        "kind": "mha" if kv_heads == heads else "gqa",
        "num_attention_heads": heads,
        "num_key_value_heads": kv_heads,
        "head_dim": int(cfg.get("head_dim") or int(cfg["hidden_size"]) // heads),
        "bias": bool(cfg.get("attention_bias", False)),
    }
    types = list(cfg.get("layer_types") or [])
    if cfg.get("sliding_window") and "sliding_attention" in types:
        # Sliding-window layers (gpt-oss, Gemma): which ones, and the window.
        out["sliding_window"] = int(cfg["sliding_window"])
        out["layer_types"] = types
    return out


def _indexer(cfg: dict) -> dict | None:
    if cfg.get("index_topk") is None:
        return None
    out = {
        "head_dim": int(cfg["index_head_dim"]),
        "num_heads": int(cfg["index_n_heads"]),
        "topk": int(cfg["index_topk"]),
        "shared_layers": sum(_skips_topk(cfg, i) for i in range(int(cfg["num_hidden_layers"]))),
    }
    if cfg.get("index_kpool") not in (None, 1):
        out["kpool"] = int(cfg["index_kpool"])
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


def _moe(cfg: dict) -> dict | None:
    experts = cfg.get("n_routed_experts") or cfg.get("num_local_experts") or cfg.get("num_experts")
    if not experts:
        return None
    return {
        "n_routed_experts": int(experts),
        "n_shared_experts": int(cfg.get("n_shared_experts") or 0),
        "num_experts_per_tok": cfg.get("num_experts_per_tok") or cfg.get("experts_per_token"),
        # gpt-oss sizes its experts with intermediate_size
        "moe_intermediate_size": cfg.get("moe_intermediate_size") or cfg.get("intermediate_size"),
        "first_k_dense_replace": int(cfg.get("first_k_dense_replace") or 0),
    }


def _weights_dtype(cfg: dict) -> str:
    quant = cfg.get("quantization_config") or {}
    method = quant.get("quant_method")
    if method == "fp8":
        return "fp8_e4m3"  # DeepSeek-style block FP8 ("fmt": "e4m3")
    if method:
        return str(method)
    dtype = cfg.get("torch_dtype") or cfg.get("dtype") or "bfloat16"
    return {"bfloat16": "bf16", "float16": "fp16", "float32": "fp32"}.get(dtype, str(dtype))


def _count_from_parts(facts: dict) -> int | None:
    """Linear-layer and embedding parameters (norms and biases left out) for other families."""
    from renderer.facts.params import WeightsError, model_params

    try:
        return sum(model_params(facts).values())
    except (WeightsError, KeyError, TypeError, ValueError):
        return None


def count_parameters(facts: dict) -> int | None:
    """Parameters of an MLA mixture-of-experts model (DeepSeek-V3 / GLM-5 family), MTP layers
    included, shared embedding and head of the MTP layers not counted twice; other families are
    counted part by part (renderer/estimate/weights.py), norms and biases left out."""
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


# --- facts -> YAML --------------------------------------------------------------------------

_COMMENTS = {
    "num_nextn_predict_layers": "MTP layers EAGLE drafts with; they get KV cache of their own",
    "attention": "kind: mla / mla_dsa (one latent per token per layer), gqa / mha (K and V per"
                 " KV head); sliding_window and layer_types when some layers only see a window",
    "indexer": "DSA sparse-attention indexer: an FP8 K cache of its own in every layer that"
               " computes top-k (shared_layers reuse the previous layer's)",
    "parameters": "from the index's metadata.total_parameters, else counted from config.json",
    "checkpoint_bytes": "metadata.total_size of model.safetensors.index.json: tensor bytes",
    "quantization_config": "the checkpoint's own format (config.json quantization_config)",
    "torch_dtype": "dtype of everything the checkpoint does not quantize",
}


def to_yaml(facts: dict, *, source: str | None = None) -> str:
    """The facts as a hand-readable YAML file, in the layout of specs/models/*.yaml."""
    repo, revision = facts.get("repo"), facts.get("revision")
    source = source or (
        f"generated by `servespec model-facts {repo}"
        + (f" --revision {revision}" if revision else "") + f"` on {date.today().isoformat()}"
        + "\n# from the repository's config.json and model.safetensors.index.json"
    )
    lines = [f"# Model facts for {repo}, used by `servespec estimate` and the memory rules."]
    for paragraph in f"Source: {source}.".splitlines():
        lines += [f"# {line}" for line in textwrap.wrap(paragraph.removeprefix("# "), 96)]
    lines.append("# Regenerate rather than edit: servespec model-facts REPO --revision COMMIT -o FILE")
    for key, value in facts.items():
        comment = f"  # {_COMMENTS[key]}" if key in _COMMENTS else ""
        if isinstance(value, dict):
            lines.append(f"{key}:{comment}")
            lines += [f"  {k}: {_value(v)}" for k, v in value.items()]
        else:
            lines.append(f"{key}: {_scalar(value)}{comment}")
    return "\n".join(lines) + "\n"


def _value(value) -> str:
    """A scalar, or a list of scalars as a YAML flow sequence."""
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_scalar(v) for v in value) + "]"
    return _scalar(value)


def _scalar(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    text = str(value)
    # Quote anything YAML might read as something else (numbers, booleans, keys, comments).
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_./-]*", text) and text.lower() not in (
            "true", "false", "null", "yes", "no", "on", "off", "y", "n", "~"):
        return text
    return json.dumps(text)


def model_facts_main(repo: str, revision: str | None, output: str | None) -> int:
    """Print the facts file of `repo` (or write it atomically to `output`)."""
    _quiet_hub_logging()
    try:
        text = to_yaml(facts_from_repo(repo, revision))
    except FactsError as exc:
        print(f"servespec model-facts: {exc}", file=sys.stderr)
        return 2 if exc.usage else 1
    if output is None:
        sys.stdout.write(text)
        return 0
    try:
        write_atomic(Path(output), text)
    except OSError as exc:
        print(f"servespec model-facts: cannot write {output}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    print(f"wrote {output}", file=sys.stderr)
    return 0


def _quiet_hub_logging() -> None:
    """huggingface_hub logs each retry; the one-sentence error at the end says enough."""
    try:
        from huggingface_hub.utils import logging as hf_logging
    except ImportError:
        return
    hf_logging.set_verbosity_error()
