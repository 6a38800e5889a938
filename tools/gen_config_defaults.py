"""Write the config.json defaults table (catalog/config_defaults.yaml) from transformers' own
configuration classes.

`servespec model-facts` reads a checkpoint's config.json without importing transformers; where
config.json leaves a field out, transformers fills it from the model type's configuration class
(transformers/models/<type>/configuration_<type>.py, dataclass fields since transformers 5). This
tool records, for every model type transformers registers (models/auto/configuration_auto.py
CONFIG_MAPPING), the defaults of the fields the facts read, the aliases its attribute_map declares,
the sub-configurations a composite model nests (text_config, vision_config, ...), and how the class
derives layer_types when config.json does not list them, found by instantiating the class:

    every: P   layer i is full attention when (i + 1) % P == 0, the others slide
               (period_key: the config.json key that changes P, e.g. sliding_window_pattern)
    from: K    layers from index config[K] on slide (K: max_window_layers)
    all        every layer slides when sliding_window is set (e.g. a class without layer_types)
    unknown    none of the above: config.json must list layer_types itself
    (absent)   no layer ever slides

sliding_window_when: use_sliding_window records the classes whose sliding_window is None unless
config.json sets use_sliding_window (Qwen2, Qwen3).

Run it in an environment that has transformers (e.g. the smoke server env `make envs` builds):

    .cache/smoke-server/bin/python tools/gen_config_defaults.py > <catalog>/config_defaults.yaml

tests/test_config_defaults.py checks the committed table is this tool's output for the installed
transformers, and that facts filled from it agree with transformers' own configuration objects.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import warnings

# Fields of a language model's config the facts read (renderer facts generation).
TEXT_FIELDS = (
    "vocab_size", "max_position_embeddings", "num_hidden_layers", "hidden_size",
    "intermediate_size", "num_attention_heads", "num_key_value_heads", "head_dim",
    "attention_bias", "tie_word_embeddings", "sliding_window", "use_sliding_window",
    "max_window_layers", "layer_types", "kv_lora_rank", "q_lora_rank", "qk_rope_head_dim",
    "qk_nope_head_dim", "v_head_dim", "n_routed_experts", "num_local_experts", "num_experts",
    "n_shared_experts", "num_experts_per_tok", "moe_intermediate_size", "first_k_dense_replace",
    "num_nextn_predict_layers", "index_topk", "index_head_dim", "index_n_heads",
    "shared_expert_intermediate_size",
)
# Fields of a vision tower's config: what SGLang's memory defaults read, and the tower's size.
VISION_FIELDS = ("num_hidden_layers", "hidden_size", "intermediate_size", "num_attention_heads",
                 "patch_size", "image_size", "num_channels")
FIELDS = tuple(dict.fromkeys(TEXT_FIELDS + VISION_FIELDS))
PROBE_LAYERS = (12, 13, 62)


def scalar(value) -> bool:
    if isinstance(value, (bool, int, float, str)) or value is None:
        return True
    return isinstance(value, list) and all(isinstance(v, (bool, int, float, str)) for v in value)


def declared_defaults(cls) -> dict:
    """The dataclass defaults of FIELDS that the class declares (JSON-able ones only)."""
    out = {}
    for f in dataclasses.fields(cls):
        if f.name not in FIELDS:
            continue
        if f.default is not dataclasses.MISSING:
            value = f.default
        elif f.default_factory is not dataclasses.MISSING:
            value = f.default_factory()
        else:
            continue
        if scalar(value):
            out[f.name] = value
    return out


def sub_configs(cls) -> dict:
    """Sub-configuration name -> the model type transformers builds it as by default."""
    out = {}
    for name, spec in (getattr(cls, "sub_configs_defaults", None) or {}).items():
        model_type = getattr(spec, "model_type", None)
        target = getattr(spec, "config_class", spec)
        if not model_type:
            model_type = getattr(target, "model_type", None) or None
        if model_type:
            out[name] = model_type
    return dict(sorted(out.items()))


def aliases(cls) -> dict:
    amap = getattr(cls, "attribute_map", None) or {}
    return {k: v for k, v in sorted(amap.items()) if k in FIELDS or v in FIELDS}


def instantiate(cls, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return cls(**kwargs)
        except Exception:  # noqa: BLE001 - a class that refuses the probe is recorded as unknown
            return None


def layer_types_rule(cls, names: set[str]) -> dict | None:
    """How the class derives layer_types while sliding windows are on (see the module
    docstring); None when every layer is full attention whatever the probe."""
    if "layer_types" not in names:
        return {"all": True} if "sliding_window" in names else None
    on = {"use_sliding_window": True, "sliding_window": 64} if "use_sliding_window" in names else {}
    seen = {}
    for n in PROBE_LAYERS:
        cfg = instantiate(cls, num_hidden_layers=n, **on)
        if cfg is None or not isinstance(getattr(cfg, "layer_types", None), list):
            return {"unknown": True}
        seen[n] = (list(cfg.layer_types), getattr(cfg, "max_window_layers", None))
    kinds = {t for types, _ in seen.values() for t in types}
    if "sliding_attention" not in kinds:  # full, or kinds that keep no sliding window
        return None
    if kinds == {"sliding_attention"}:
        return {"all": True}
    if all(types == ["sliding_attention" if i >= (start or 0) else "full_attention"
                     for i in range(len(types))] for types, start in seen.values()) \
            and "max_window_layers" in names:
        return {"from": "max_window_layers"}
    period = _period([types for types, _ in seen.values()])
    if period is None:
        return {"unknown": True}
    rule = {"every": period}
    cfg = instantiate(cls, num_hidden_layers=12, sliding_window_pattern=3, **on)
    if cfg is not None and period != 3 and _period([list(cfg.layer_types)]) == 3:
        rule["period_key"] = "sliding_window_pattern"
    return rule


def _period(seen: list[list[str]]) -> int | None:
    """P such that layer i is full exactly when (i + 1) % P == 0, in every probe."""
    for p in range(2, 17):
        if all(types == ["full_attention" if (i + 1) % p == 0 else "sliding_attention"
                         for i in range(len(types))] for types in seen):
            return p
    return None


def entry(model_type: str, cls) -> dict | None:
    names = {f.name for f in dataclasses.fields(cls)}
    subs = sub_configs(cls)
    if not names & set(FIELDS) and not subs:
        return None
    out = {"class": cls.__name__, "file": cls.__module__.removeprefix("transformers.")}
    defaults = declared_defaults(cls)
    if defaults:
        out["defaults"] = defaults
    if al := aliases(cls):
        out["aliases"] = al
    if subs:
        out["sub_configs"] = subs
    if rule := layer_types_rule(cls, names):
        out["layer_types"] = rule
    if "use_sliding_window" in names:
        out["sliding_window_when"] = "use_sliding_window"  # None unless config.json turns it on
    return out


def main() -> int:
    import transformers
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING, CONFIG_MAPPING_NAMES

    table = {}
    for model_type in sorted(CONFIG_MAPPING_NAMES):
        try:
            cls = CONFIG_MAPPING[model_type]
        except Exception as exc:  # noqa: BLE001 - a model type whose module does not import here
            print(f"skipped {model_type}: {exc}", file=sys.stderr)
            continue
        row = entry(model_type, cls) if dataclasses.is_dataclass(cls) else None
        if row:
            table[model_type] = row
    write(table, transformers.__version__)
    return 0


def write(table: dict, version: str) -> None:
    out = sys.stdout
    out.write(HEADER.format(version=version))
    out.write(f'transformers: "{version}"\n')
    out.write("model_types:\n")
    for model_type, row in table.items():
        out.write(f"  {json.dumps(model_type)}:\n")
        for key, value in row.items():
            out.write(f"    {key}: {json.dumps(value, sort_keys=key != 'defaults')}\n")


HEADER = """\
# config.json defaults per model type, as transformers {version} fills them: for each model type
# of models/auto/configuration_auto.py CONFIG_MAPPING, the configuration class and its module
# (transformers/<file>.py), the dataclass defaults of the fields model facts read, the
# attribute_map aliases, the sub-configurations a composite model nests, and how the class derives
# layer_types (every: P / from: max_window_layers / all / unknown; tools/gen_config_defaults.py).
# Generated; do not edit: .cache/smoke-server/bin/python tools/gen_config_defaults.py > this file
"""


if __name__ == "__main__":
    sys.exit(main())
