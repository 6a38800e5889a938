"""SGLang 0.5.23's own memory defaults against servespec's copy of them (sglang_memory.py and
catalog/sglang_defaults.yaml): SGLang's ServerArgs resolution pipeline runs on CPU from the
pinned wheel (tests/sglang_memory_probe.py), for each example model on its GPU and for a grid
of Modal GPUs and TP sizes, and must pick the same mem_fraction_static, chunked prefill size
and decode CUDA-graph batch size as the estimate assumes when a spec leaves them unset."""

from __future__ import annotations

import copy
import json
import subprocess

import model_configs as mc
import pytest
from conftest import DEFAULT_SPEC, ROOT
from test_estimate import SGLANG_VERSION, sglang_python  # noqa: F401  (the fixture)

from renderer import catalog
from renderer.estimate import sglang_memory
from renderer.estimate.kv import kind
from renderer.pipeline import read_spec

PROBE = ROOT / "tests" / "sglang_memory_probe.py"

# (id, config, draft config, GPU, TP, attention DP, expert, speculative algorithm, engine fields)
CASES = [
    ("qwen3-8b-l40s", mc.QWEN3_8B, None, "L40S", 1, 1, 1, None, {}),
    ("llama-eagle3-h100", mc.LLAMA_31_8B, mc.EAGLE3_LLAMA_31_8B, "H100", 1, 1, 1, "EAGLE3", {}),
    ("qwen3-235b-h100-tp4", mc.QWEN3_235B_FP8, None, "H100", 4, 1, 1, None, {}),
    ("gpt-oss-h100-chunked-4096", mc.GPT_OSS_120B, None, "H100", 1, 1, 1, None,
     {"chunked_prefill_size": 4096}),
    ("deepseek-v32-h200-dp8-ep8", mc.DEEPSEEK_V32, None, "H200", 8, 8, 8, None, {}),
    ("deepseek-v32-b200-tp8", mc.DEEPSEEK_V32, None, "B200", 8, 1, 1, None, {}),
    ("qwen3-8b-t4", mc.QWEN3_8B, None, "T4", 1, 1, 1, None, {}),
    ("qwen3-8b-a10-tp4", mc.QWEN3_8B, None, "A10", 4, 1, 1, None, {}),
    ("qwen3-8b-l4-tp2", mc.QWEN3_8B, None, "L4", 2, 1, 1, None, {}),
    ("qwen3-8b-a100-40gb-tp4", mc.QWEN3_8B, None, "A100-40GB", 4, 1, 1, None, {}),
    ("llama-a100-80gb-capped", mc.LLAMA_31_8B, None, "A100-80GB", 1, 1, 1, None,
     {"max_running_requests": 64}),
    ("llama-rtx-pro-6000", mc.LLAMA_31_8B, None, "RTX-PRO-6000", 1, 1, 1, None, {}),
    ("qwen3-235b-h200-tp8-ep8", mc.QWEN3_235B_FP8, None, "H200", 8, 1, 8, None, {}),
    ("gpt-oss-b200-tp2", mc.GPT_OSS_120B, None, "B200", 2, 1, 1, None, {}),
]


def probe_case(case) -> dict:
    _, config, draft, gpu, tp, dp, ep, algorithm, engine = case
    info = catalog.gpus()[gpu]
    server_args = {"tp_size": tp, **engine}
    if dp > 1:
        server_args["attn_dp_size"] = dp
    if ep > 1:
        server_args["ep_size"] = ep
    if algorithm:
        server_args["speculative_algorithm"] = algorithm
    out = {"config": {k: v for k, v in config.items() if k != "quantization_config"},
           "gpu_mib": info["hbm_mib"], "compute_capability": info["compute_capability"],
           "server_args": server_args}
    if draft:
        out["draft_config"] = draft
    return out


def ours(case) -> sglang_memory.MemoryDefaults:
    _, config, _, gpu, tp, dp, ep, algorithm, engine = case
    spec = copy.deepcopy(read_spec(DEFAULT_SPEC).spec)
    spec["parallelism"].update(tensor=tp, pipeline=1, data=1, attention_data=dp, expert=ep)
    spec["speculative"]["algorithm"] = algorithm or "none"
    for field in ("mem_fraction_static", "chunked_prefill_size", "cuda_graph_max_bs",
                  "max_running_requests"):
        spec["engine"].pop(field, None)
    spec["engine"].update(engine)
    facts = mc.facts_of(config, "example/model", 1)
    return sglang_memory.memory_defaults(spec, catalog.gpus()[gpu]["hbm_mib"],
                                         kind(facts).startswith("mla"))


@pytest.fixture(scope="module")
def sglang_defaults(sglang_python):  # noqa: F811  (the fixture imported above)
    python, env = sglang_python
    request = {"cases": [probe_case(c) for c in CASES]}
    proc = subprocess.run([python, str(PROBE), json.dumps(request)], cwd=ROOT, env=env,
                          capture_output=True, text=True, check=False, timeout=1200)
    assert proc.returncode == 0, proc.stderr[-3000:]
    answer = json.loads(proc.stdout.strip().splitlines()[-1])
    assert answer["sglang"] == SGLANG_VERSION
    return dict(zip((c[0] for c in CASES), answer["cases"]))


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_memory_defaults_are_sglangs_own(sglang_defaults, case):
    theirs = sglang_defaults[case[0]]
    assert "error" not in theirs, theirs["error"]
    mine = ours(case)
    assert (mine.mem_fraction_static, mine.chunked_prefill_size, mine.cuda_graph_max_bs) == \
        (theirs["mem_fraction_static"], theirs["chunked_prefill_size"], theirs["cuda_graph_max_bs"])
