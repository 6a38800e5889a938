"""What catalog/model_support.yaml says about one model on one GPU, as resolve and the stages
after it ask: the checkpoint's weight format, the compute capability a format needs, whether
--quantization is rendered, whether DeepGEMM applies, how a speculative algorithm gets its draft,
and the KV dtype SGLang picks for 'auto'. Each decision is made here and nowhere else.
"""

from __future__ import annotations

import re

from renderer import catalog


def capability(arch: str) -> int:
    """"sm90" -> 90, "sm100" -> 100: compute capability x 10, as SGLang compares it."""
    match = re.fullmatch(r"sm(\d+)[a-z]?", arch)
    return int(match.group(1)) if match else 0


def support() -> dict:
    return catalog.model_support()


def checkpoint_format(facts: dict | None) -> str | None:
    """The weight format the checkpoint declares, as precision.weights names it: the
    quant_method that renderer/estimate/weights.py reads from the facts (quantization_config, or the
    legacy weights_dtype), mapped through catalog/model_support.yaml; for an unquantized
    checkpoint its torch_dtype. None without facts; "unsupported:<method>" for a method no format
    lists."""
    if not facts:
        return None
    from renderer.facts.params import WeightsError
    from renderer.facts.params import checkpoint_format as stored_format

    try:
        stored, _ = stored_format(facts)
    except WeightsError:
        stored = str((facts.get("quantization_config") or {}).get("quant_method"))
    for name, info in support()["weight_formats"].items():
        if stored in info["quant_methods"] or stored in (info.get("torch_dtype") or []):
            return name
    return f"unsupported:{stored}"


def min_capability(fmt: str | None, on_the_fly: bool) -> int:
    """The compute capability (x10) SGLang needs for weights in `fmt`: the quant config's
    get_min_capability(), as catalog/quantization.yaml records it per quant_method."""
    info = support()["weight_formats"].get(fmt or "")
    if info is None:
        return 0
    table = catalog.quantization()
    entry = (table.get("on_the_fly", {}).get(fmt) if on_the_fly
             else table["formats"].get((info["quant_methods"] or [fmt])[0]))
    return int((entry or {}).get("min_capability") or 0)


def quantization_flag(spec: dict, checkpoint: str | None) -> str | None:
    """--quantization only for on-the-fly quantization: the spec asks for a format the
    checkpoint does not already have, and SGLang can produce it at load time. Without facts the
    spec's word is all there is (SGLang treats a value equal to the checkpoint's as a no-op,
    srt/configs/model_config.py)."""
    wanted = spec["precision"].get("weights")
    if not wanted or wanted == checkpoint:
        return None
    if checkpoint is not None and support()["weight_formats"].get(checkpoint, {}).get("quant_methods"):
        return None  # a quantized checkpoint is never requantized here; SS186 reports a mismatch
    return support()["weight_formats"].get(wanted, {}).get("on_the_fly")


def deepgemm_applies(facts: dict | None, spec: dict, cap: int) -> bool:
    """SGLang's own conditions (catalog model_support.yaml deepgemm): sm90+ and block-quantized
    FP8 weights. Without facts, a spec that says fp8_e4m3 is taken to mean a block-FP8 checkpoint,
    as servespec assumed before model facts existed."""
    dg = support()["deepgemm"]
    if cap < dg["min_capability"]:
        return False
    if not facts:
        return spec["precision"].get("weights") == "fp8_e4m3"
    qc = facts.get("quantization_config") or {}
    if qc.get("quant_method") not in dg["quant_methods"]:
        return False
    return bool(qc.get("weight_block_size")) or not dg["needs_weight_block_size"]


def speculative_mode(spec: dict) -> dict:
    """How the spec's algorithm gets its draft (self, required, none) and whether it drafts a
    tree, as catalog/model_support.yaml `speculative.algorithms` says; no speculation: none."""
    algorithm = spec["speculative"]["algorithm"]
    return support()["speculative"]["algorithms"].get(algorithm, {"draft": "none", "tree": False})


def kv_auto_is_fp8(facts: dict | None, cap: int) -> bool:
    """Does SGLang turn --kv-cache-dtype auto into fp8_e4m3 here? For the DeepSeek-family DSA
    architectures (those with an indexer) on capability >= the floor, as catalog/model_support.yaml
    `model_rules.dsa_kv_auto_fp8` records _dsa_kv_cache_dtype_default."""
    row = support()["model_rules"]["dsa_kv_auto_fp8"]
    return (bool(facts) and facts.get("architecture") in row["architectures"]
            and bool(facts.get("indexer")) and cap >= row["min_capability"])


def kv_cache_dtype(spec: dict, facts: dict | None, cap: int) -> str:
    """The KV dtype SGLang runs with: the spec's, or for 'auto' FP8 where kv_auto_is_fp8 says
    so and the model's BF16 otherwise."""
    value = spec["precision"]["kv_cache"]
    if value != "auto":
        return value
    return "fp8_e4m3" if kv_auto_is_fp8(facts, cap) else "bf16"
