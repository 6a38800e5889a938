"""Ask SGLang itself how many KV-cache bytes one token costs. Run with a real-SGLang env's python.

    .cache/sglang-0.5.23/bin/python tests/sglang_kv_probe.py '<json request>'

The request is {"config": <config.json fields>, "cases": [{"kv_cache_dtype": "bf16",
"dsa_backend": "trtllm", "tp_size": 8, "eagle_draft_layers": 1}, ...]}; the answer, one JSON
line on stdout, lists SGLang's bytes per token (cell size) for each case.

The number comes from SGLang 0.5.23's DefaultPoolConfigurator, the class its model runner uses
to turn a memory budget into a KV token count (pool_configurator.py: _compute_cell_size with
calculate_mla_kv_cache_dim and the DSA indexer term, plus the EAGLE draft layers). It runs on
CPU the way SGLang's own unit tests drive it (test_dsa_dcp_pool.py): a dummy ServerArgs
published with RuntimeContext.override_server_args, parallel widths forced with
ParallelContext.override, and a KVCacheConfigurator carrying only the fields sizing reads. The
model configuration is transformers' own config class built from the given config.json fields.
"""

from __future__ import annotations

import json
import sys
import warnings
from types import SimpleNamespace

warnings.simplefilter("ignore")  # torchvision's missing image extension, CPU-only torch


def main() -> None:
    import sglang
    import torch
    import transformers
    from sglang.srt.mem_cache.kv_cache_configurator import KVCacheConfigurator
    from sglang.srt.model_executor.pool_configurator import DefaultPoolConfigurator
    from sglang.srt.runtime_context import get_context, get_parallel, get_server_args
    from sglang.srt.speculative.spec_info import SpeculativeAlgorithm

    request = json.loads(sys.argv[1])
    config = dict(request["config"])
    config_class = transformers.AutoConfig.for_model(config.pop("model_type")).__class__
    hf_config = config_class(**config)
    dtypes = {"bf16": torch.bfloat16, "fp8_e4m3": torch.float8_e4m3fn}

    def cell_size(case: dict) -> int:
        tp = case["tp_size"]
        backend = case["dsa_backend"]
        with (
            get_context().override_server_args(
                page_size=64, tp_size=tp, dsa_prefill_backend=backend,
                dsa_decode_backend=backend, enable_dsa_cache_layer_split=False,
            ),
            get_parallel().override(attn_dcp_size=1, attn_dcp_rank=0, attn_tp_size=tp,
                                    attn_dp_size=1, dcp_enabled=False),
        ):
            kvc = object.__new__(KVCacheConfigurator)
            kvc.device = "cuda"
            kvc.model_config = SimpleNamespace(
                hf_config=hf_config,
                hf_text_config=hf_config,
                kv_lora_rank=hf_config.kv_lora_rank,
                qk_rope_head_dim=hf_config.qk_rope_head_dim,
                num_attention_heads=hf_config.num_attention_heads,
                context_len=hf_config.max_position_embeddings,
                is_draft_model=False,
                linear_attn_registry_result=None,
            )
            layers = hf_config.num_hidden_layers
            kvc.layer_info = SimpleNamespace(start_layer=0, end_layer=layers,
                                             num_effective_layers=layers)
            kvc.is_draft_worker = False
            kvc.server_args = get_server_args()
            kvc.kv_cache_dtype = dtypes[case["kv_cache_dtype"]]
            kvc.kv_cache_dtype_str = case["kv_cache_dtype"]
            kvc.use_mla_backend = True
            kvc.page_size = 64
            kvc.pp_size = 1
            kvc.attn_dp_size = 1
            kvc.mambaish_config = None
            kvc.is_hybrid_swa = False
            draft = case.get("eagle_draft_layers") or 0
            kvc.spec_algorithm = SpeculativeAlgorithm.EAGLE if draft else SpeculativeAlgorithm.NONE
            kvc.spec_aux_config = SimpleNamespace(eagle_draft_num_layers=draft or None,
                                                  dflash_draft_num_layers=None)
            return int(DefaultPoolConfigurator(kvc)._cell_size)

    answers = [{**case, "bytes_per_token": cell_size(case)} for case in request["cases"]]
    print(json.dumps({"sglang": sglang.__version__, "transformers": transformers.__version__,
                      "config_class": config_class.__name__, "cases": answers}))


if __name__ == "__main__":
    main()
