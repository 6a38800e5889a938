"""Model facts as the hand-readable YAML of specs/models/*.yaml: a header naming the command that
regenerates the file, one line per fact, a comment where a fact needs one."""

from __future__ import annotations

import json
import re
import shlex
import textwrap

from renderer.facts import config as facts_config

COMMENTS = {
    "num_nextn_predict_layers": "MTP layers EAGLE drafts with; they get KV cache of their own",
    "rope_scaling": "config.json's position scaling (null: none)",
    "card_rope_scaling": ("the rope_scaling the model card (README.md) says to add for longer"
                          " contexts"),
    "attention": ("kind: mla / mla_dsa (one latent per token per layer), gqa / mha (K and V per"
                  " KV head); sliding_window and layer_types when some layers only see a window"),
    "indexer": ("DSA sparse-attention indexer: an FP8 K cache of its own in every layer that"
                " computes top-k (shared_layers reuse the previous layer's)"),
    "vision": ("the vision tower (vision_config); SGLang lowers its default mem_fraction_static"
               " for vision-language architectures (catalog/sglang_defaults.yaml multimodal)"),
    "parameters": "from the index's metadata.total_parameters, else counted from config.json",
    "quantization_config": "the checkpoint's own format (config.json quantization_config)",
    "torch_dtype": "dtype of everything the checkpoint does not quantize",
}
COMPUTED = "computed from config.json's tensor shapes in the checkpoint's format (no index)"


def to_yaml(facts: dict, *, command: str | None = None, note: str | None = None,
            size_from: str | None = None, notes: dict | None = None) -> str:
    """The facts file: header, then the facts in order."""
    title = f"Model facts for {facts.get('repo')}, used by `servespec estimate` and the memory rules."
    lines = [f"# {title}"]
    about = (f"From config.json as transformers {facts_config.transformers_version()} reads it"
             " (its configuration class's defaults fill what it leaves out); checkpoint size: "
             f"{size_from or COMPUTED}.")
    lines += [f"# {line}" for line in textwrap.wrap(about, 96)]
    if note:
        lines += [f"# {line}" for line in textwrap.wrap(f"Source: {note}", 96)]
    lines.append("# Regenerate rather than edit: "
                 + (command or "servespec model-facts SOURCE --repo REPO -o FILE"))
    comments = {**COMMENTS, "checkpoint_bytes": f"tensor bytes: {size_from or COMPUTED}"}
    if "vision" in facts:
        comments["parameters"] = "language model + vision tower"
    comments.update(notes or {})
    for key, value in facts.items():
        comment = f"  # {comments[key]}" if key in comments else ""
        if isinstance(value, dict):
            lines.append(f"{key}:{comment}")
            lines += [f"  {k}: {_value(v)}" for k, v in value.items()]
        else:
            lines.append(f"{key}: {_scalar(value)}{comment}")
    return "\n".join(lines) + "\n"


def command_line(source: str, facts: dict, *, repo: str | None, index: str | None,
                 checkpoint_bytes: int | None, note: str | None, output: str | None) -> str:
    """The `servespec model-facts` command that writes this file again."""
    args = ["servespec", "model-facts", source]
    if repo:
        args += ["--repo", repo]
    if facts.get("revision"):
        args += ["--revision", str(facts["revision"])]
    if index:
        args += ["--index", index]
    if checkpoint_bytes is not None:
        args += ["--checkpoint-bytes", str(checkpoint_bytes)]
    if note:
        args += ["--note", note]
    args += ["-o", output or "FILE"]
    return shlex.join(args)


def _value(value) -> str:
    """A scalar, or a list of scalars as a YAML flow sequence."""
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_scalar(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_scalar(v)}" for k, v in value.items()) + "}"
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
