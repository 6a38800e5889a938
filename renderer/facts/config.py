"""config.json as transformers reads it, without importing transformers.

A checkpoint's config.json often leaves fields out (Gemma-3's text_config has no vocab_size, no
max_position_embeddings); transformers fills them from the model type's configuration class. The
defaults, aliases, sub-configurations and layer_types derivations of every class are a table
(catalog/config_defaults.yaml) that tools/gen_config_defaults.py writes from transformers' own
classes; this module applies it the way transformers does:

  - keys renamed by the class's attribute_map (gpt-oss `num_experts` is `num_local_experts`);
  - missing keys take the class's default;
  - a composite model's language model is its text_config (transformers
    PreTrainedConfig.get_text_config(decoder=True) looks for decoder, generator, text_config),
    built from the sub-configuration's own defaults, and its vision tower is vision_config;
  - sliding_window is None unless use_sliding_window is on, for the classes that say so, and
    layer_types is derived when config.json does not list it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from renderer import catalog

TEXT_CONFIG_NAMES = ("decoder", "generator", "text_config")
VISION_CONFIG_NAME = "vision_config"  # what SGLang reads (srt/arg_groups/memory_hook.py)


@dataclass
class Section:
    """One configuration (top level, text or vision) with the defaults applied."""

    values: dict
    model_type: str | None
    known: bool  # the model type is in the table (its defaults were applied)
    where: str  # how to name its keys in messages: "" or "text_config."
    undetermined: list[str] = field(default_factory=list)  # keys the table could not derive

    def get(self, key: str, default=None):
        value = self.values.get(key)
        return default if value is None else value


def table() -> dict:
    return catalog.config_defaults()


def fill(raw: dict, model_type: str | None, where: str = "") -> Section:
    """raw (one config.json section) with its class's defaults and derivations applied."""
    row = table()["model_types"].get(model_type or "")
    if row is None:
        return Section(dict(raw), model_type, False, where)
    aliases = row.get("aliases") or {}
    values = {aliases.get(k, k): v for k, v in (row.get("defaults") or {}).items()}
    values.update({aliases.get(k, k): v for k, v in raw.items()})
    section = Section(values, model_type, True, where)
    when = row.get("sliding_window_when")
    if when and not values.get(when):
        values["sliding_window"] = None
    if values.get("layer_types") is None and values.get("sliding_window"):
        _derive_layer_types(section, row.get("layer_types"))
    return section


def _derive_layer_types(section: Section, rule: dict | None) -> None:
    values = section.values
    layers = values.get("num_hidden_layers")
    if not rule or not isinstance(layers, int):
        return
    if rule.get("all"):
        values["layer_types"] = ["sliding_attention"] * layers
    elif "every" in rule:
        period = int(values.get(rule.get("period_key") or "") or rule["every"])
        values["layer_types"] = ["full_attention" if (i + 1) % period == 0 else "sliding_attention"
                                 for i in range(layers)]
    elif "from" in rule:
        start = int(values.get(rule["from"]) or 0)
        values["layer_types"] = ["sliding_attention" if i >= start else "full_attention"
                                 for i in range(layers)]
    else:
        section.undetermined.append("layer_types")


@dataclass
class Config:
    """A config.json read the way transformers reads it."""

    top: Section
    text: Section  # the language model: text_config of a composite model, else the top level
    vision: Section | None


def read(config: dict) -> Config:
    top_type = config.get("model_type")
    top = fill(config, top_type)
    row = table()["model_types"].get(top_type or "") or {}
    subs = row.get("sub_configs") or {}
    text = top
    for name in TEXT_CONFIG_NAMES:
        if isinstance(config.get(name), dict) or name in subs:
            text = _sub(config, name, subs)
            break
    vision = None
    if isinstance(config.get(VISION_CONFIG_NAME), dict) or VISION_CONFIG_NAME in subs:
        vision = _sub(config, VISION_CONFIG_NAME, subs)
    return Config(top, text, vision)


def _sub(config: dict, name: str, subs: dict) -> Section:
    raw = config.get(name) if isinstance(config.get(name), dict) else {}
    return fill(raw, raw.get("model_type") or subs.get(name), f"{name}.")


def transformers_version() -> str:
    return str(table()["transformers"])
