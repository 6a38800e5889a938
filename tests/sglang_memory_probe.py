"""Ask SGLang itself which memory defaults it picks. Run with a real-SGLang env's python:

    .cache/sglang-0.5.23/bin/python tests/sglang_memory_probe.py '<json request>'

The request is {"cases": [{"config": <config.json fields>, "gpu_mib": 81559, "server_args":
{"tp_size": 4, ...}}, ...]}; the answer, one JSON line on stdout, gives for each case the
mem_fraction_static, chunked_prefill_size and decode CUDA-graph max batch size SGLang 0.5.23
resolves (or the error it raises).

Each case builds SGLang's own ServerArgs for a model folder holding the config.json and runs its
whole resolution pipeline (ServerArgs.resolve_once, srt/arg_groups/pipeline.py), which is where
handle_gpu_memory_settings derives those defaults. Two stand-ins make a CPU look like the GPU
in question, and only these: the GPU memory nvidia-smi would report
(memory_hook.get_device_memory_capacity), the GPU's compute capability
(torch.cuda.get_device_capability) and the CUDA-only default of breakable prefill graphs
(cuda_graph_config.default_prefill_backend, which answers "breakable" when is_cuda()). A
"draft_config" is written to a folder of its own and passed as --speculative-draft-model-path.
"""

from __future__ import annotations

import json
import logging
import sys
import tempfile
import warnings
from pathlib import Path

warnings.simplefilter("ignore")  # torchvision's missing image extension, CPU-only torch
logging.disable(logging.WARNING)  # SGLang logs each default it picks


def main() -> None:
    import sglang
    import torch
    from sglang.srt.arg_groups import memory_hook
    from sglang.srt.model_executor import cuda_graph_config

    cuda_graph_config.default_prefill_backend = lambda: cuda_graph_config.Backend.BREAKABLE
    answers = []
    for case in json.loads(sys.argv[1])["cases"]:
        gpu_mib = float(case["gpu_mib"])
        memory_hook.get_device_memory_capacity = lambda device=None, mib=gpu_mib: mib
        major, minor = (int(x) for x in case.get("compute_capability", "9.0").split("."))
        torch.cuda.get_device_capability = lambda device=None, cc=(major, minor): cc
        answers.append({**case, **resolve(case)})
    print(json.dumps({"sglang": sglang.__version__, "cases": answers}))


def resolve(case: dict) -> dict:
    from sglang.srt.server_args import ServerArgs

    with tempfile.TemporaryDirectory() as folder, tempfile.TemporaryDirectory() as draft:
        (Path(folder) / "config.json").write_text(json.dumps(case["config"]))
        extra = dict(case.get("server_args", {}))
        if case.get("draft_config"):
            (Path(draft) / "config.json").write_text(json.dumps(case["draft_config"]))
            extra["speculative_draft_model_path"] = draft
        args = ServerArgs(model_path=folder, device="cuda", **extra)
        try:
            args.resolve_once()
        except Exception as exc:  # noqa: BLE001  (the answer says which, the test decides)
            return {"error": f"{type(exc).__name__}: {str(exc)[:300]}"}
        resolved = args.resolved_dict()
    decode = (resolved.get("cuda_graph_config") or {}).get("decode") or {}
    return {"mem_fraction_static": resolved.get("mem_fraction_static"),
            "chunked_prefill_size": resolved.get("chunked_prefill_size"),
            "cuda_graph_max_bs": decode.get("max_bs")}


if __name__ == "__main__":
    main()
