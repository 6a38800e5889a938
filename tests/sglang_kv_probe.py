"""Ask SGLang itself how many KV-cache bytes one token costs and how many tokens a budget holds.
Run with a real-SGLang env's python:

    .cache/sglang-0.5.23/bin/python tests/sglang_kv_probe.py '<json request>'

The request is {"config": <config.json fields>, "cases": [{"kv_cache_dtype": "bf16",
"tp_size": 8, "attn_dp_size": 1, "dsa_backend": "trtllm", "eagle_draft_layers": 1,
"available_bytes": 123}, ...]}, or {"models": [such requests]} to size several models in one
process (loading SGLang takes most of the time); the answer, one JSON line on stdout, gives for each case
SGLang's bytes per token (the configurator's cell size) and, when available_bytes is given, the
token counts SGLang sizes its pools to from that budget.

The numbers come from SGLang 0.5.23's own pool sizing, the code its model runner uses to turn a
memory budget into a KV token count: create_memory_pool_configurator picks the configurator
(DefaultPoolConfigurator for MHA/GQA, MLA and DSA models, HybridSWAPoolConfigurator for
sliding-window hybrids such as gpt-oss), which computes the cell size and calculate_pool_sizes.
The model configuration is SGLang's own ModelConfig, built from a config.json written to a
temporary folder (it reads it through transformers' AutoConfig, as a server does). It runs on
CPU the way SGLang's own unit tests drive the configurators (test_dsa_dcp_pool.py): a dummy
ServerArgs published with RuntimeContext.override_server_args, parallel widths forced with
ParallelContext.override, and a KVCacheConfigurator carrying only the fields sizing reads.
"""

from __future__ import annotations

import json
import sys
import tempfile
import warnings
from pathlib import Path
from types import SimpleNamespace

warnings.simplefilter("ignore")  # torchvision's missing image extension, CPU-only torch


def main() -> None:
    import sglang
    import transformers

    request = json.loads(sys.argv[1])
    models = request.get("models", [request])
    answers = [model_answer(model) for model in models]
    head = {"sglang": sglang.__version__, "transformers": transformers.__version__}
    print(json.dumps({**head, **answers[0]} if "models" not in request
                     else {**head, "models": answers}))


def model_answer(model: dict) -> dict:
    from sglang.srt.configs.model_config import AttentionArch, ModelConfig

    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "config.json").write_text(json.dumps(model["config"]))
        model_config = ModelConfig(model_path=folder)
        mla = model_config.attention_arch == AttentionArch.MLA
        cases = [{**case, **size(model_config, mla, case)} for case in model["cases"]]
    return {"config_class": type(model_config.hf_config).__name__,
            "hybrid_swa": bool(model_config.is_hybrid_swa), "cases": cases}


def size(model_config, mla: bool, case: dict) -> dict:
    import torch
    from sglang.srt.mem_cache.kv_cache_configurator import KVCacheConfigurator
    from sglang.srt.model_executor.pool_configurator import create_memory_pool_configurator
    from sglang.srt.runtime_context import get_context, get_parallel, get_server_args
    from sglang.srt.speculative.spec_info import SpeculativeAlgorithm

    dtypes = {"bf16": torch.bfloat16, "fp8_e4m3": torch.float8_e4m3fn}
    tp, dp = case["tp_size"], case.get("attn_dp_size") or 1
    backend = case.get("dsa_backend") or "flashmla_sparse"
    page = case.get("page_size") or 1
    with (
        get_context().override_server_args(
            page_size=page, tp_size=tp, dsa_prefill_backend=backend,
            dsa_decode_backend=backend, enable_dsa_cache_layer_split=False,
        ),
        get_parallel().override(attn_dcp_size=1, attn_dcp_rank=0, attn_tp_size=tp // dp,
                                attn_dp_size=dp, dcp_enabled=False),
    ):
        kvc = object.__new__(KVCacheConfigurator)
        kvc.device = "cuda"
        kvc.model_config = model_config
        layers = model_config.num_hidden_layers
        kvc.layer_info = SimpleNamespace(
            start_layer=0, end_layer=layers, num_effective_layers=layers,
            full_attention_layer_ids=model_config.full_attention_layer_ids,
            swa_attention_layer_ids=model_config.swa_attention_layer_ids)
        kvc.is_draft_worker = False
        kvc.server_args = get_server_args()
        kvc.kv_cache_dtype = dtypes[case["kv_cache_dtype"]]
        kvc.kv_cache_dtype_str = case["kv_cache_dtype"]
        kvc.use_mla_backend = mla
        kvc.page_size = page
        kvc.pp_size = 1
        kvc.attn_dp_size = dp
        kvc.mambaish_config = None
        kvc.is_hybrid_swa = model_config.is_hybrid_swa
        kvc.sliding_window_size = model_config.sliding_window_size
        draft = case.get("eagle_draft_layers") or 0
        kvc.spec_algorithm = SpeculativeAlgorithm.EAGLE if draft else SpeculativeAlgorithm.NONE
        kvc.spec_aux_config = SimpleNamespace(eagle_draft_num_layers=draft or None,
                                              eagle_draft_swa_num_layers=None,
                                              dflash_draft_num_layers=None)
        configurator = create_memory_pool_configurator(kvc)
        out = {"configurator": type(configurator).__name__,
               "bytes_per_token": float(configurator._cell_size)}
        if case.get("available_bytes"):
            pools = configurator.calculate_pool_sizes(int(case["available_bytes"]), page)
            out["tokens"] = int(pools.max_total_num_tokens)
            out["swa_tokens"] = int(getattr(pools, "swa_max_total_num_tokens", 0) or 0)
        return out


if __name__ == "__main__":
    main()
