"""`servespec plan`, the memory rules and `servespec model-facts`.

The figures are checked three ways: against a hand calculation from the model's configuration
(huggingface/transformers src/transformers/models/glm_moe_dsa/configuration_glm_moe_dsa.py,
defaults documented for zai-org/GLM-5) and SGLang 0.5.23's MLA layout
(srt/mem_cache/kv_cache_configurator.py calculate_mla_kv_cache_dim), against SGLang 0.5.23's own KV sizing code run on
CPU, and through the rules that reject a spec whose model does not fit.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from conftest import DEFAULT_SPEC, ROOT

from renderer.cli import estimate as estimate_cli
from renderer.estimate import core as estimate_mod
from renderer.facts import generate as model_facts
from renderer.facts import write as facts_yaml
from renderer.pipeline import read_spec
from renderer.spec.load import load_file

SPECS = ROOT / "specs"
RULE_FIXTURES = Path(__file__).parent / "fixtures" / "rules"
KIB = 1024

# That hand calculation for GLM-5.1-FP8 at TP8.
HAND_WEIGHTS_PER_GPU = 756e9 / 8  # "~756 GB" checkpoint over 8 GPUs: 94.5 GB (88 GiB)
HAND_KV_BF16 = 99.1 * KIB  # "BF16 total: ~99.1 KiB per token" (78 layers + 1 MTP, indexer)
HAND_KV_FP8_TRTLLM = 54.6 * KIB  # "FP8 on trtllm: ~54.6 KiB"

# A config.json with GLM-5.1's fields (transformers' GlmMoeDsaConfig defaults,
# configuration_glm_moe_dsa.py) and the FP8 checkpoint's quantization block.
GLM_CONFIG = {
    "architectures": ["GlmMoeDsaForCausalLM"], "model_type": "glm_moe_dsa",
    "vocab_size": 154880, "hidden_size": 6144, "intermediate_size": 12288,
    "moe_intermediate_size": 2048, "num_hidden_layers": 78, "num_attention_heads": 64,
    "num_key_value_heads": 64, "n_shared_experts": 1, "n_routed_experts": 256,
    "kv_lora_rank": 512, "q_lora_rank": 2048, "qk_rope_head_dim": 64, "v_head_dim": 256,
    "qk_nope_head_dim": 192, "num_experts_per_tok": 8, "max_position_embeddings": 202752,
    "index_topk": 2048, "index_head_dim": 128, "index_n_heads": 32, "first_k_dense_replace": 3,
    "num_nextn_predict_layers": 1, "tie_word_embeddings": False, "torch_dtype": "bfloat16",
    "quantization_config": {"quant_method": "fp8", "fmt": "e4m3", "weight_block_size": [128, 128]},
}
GLM_INDEX = {"metadata": {"total_size": 756_000_000_000},
             "weight_map": {"model.embed_tokens.weight": "model-00001-of-00141.safetensors"}}


def plan_json(*specs: str, capsys) -> tuple[int, dict]:
    code = estimate_cli.estimate_main(list(specs), "json")
    out = capsys.readouterr()
    assert "Traceback" not in out.err, out.err
    return code, json.loads(out.out)


def estimate_of(path: Path) -> estimate_mod.Estimate:
    result = read_spec(path)
    assert result.spec is not None, [f.format() for f in result.findings]
    est, why = estimate_cli.estimate_of(result)
    assert est is not None, why
    return est


def marked_line(path: Path, rule_id: str) -> int:
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if f"expect: {rule_id}" in line:
            return number
    raise AssertionError(f"{path.name} marks no line for {rule_id}")


# --- the default spec against the hand calculation -------------------------------------------


def test_default_spec_matches_the_hand_calculation(capsys):
    code, payload = plan_json(str(DEFAULT_SPEC), capsys=capsys)
    assert code == 0
    (spec,) = payload["specs"]
    figures = spec["estimate"]
    weights = figures["weights"]["per_gpu_bytes"]
    kv = figures["kv_cache"]
    assert abs(weights / HAND_WEIGHTS_PER_GPU - 1) < 0.10, weights
    assert kv["dtype"] == "bf16"
    assert abs(kv["bytes_per_token"] / HAND_KV_BF16 - 1) < 0.10, kv
    assert abs(kv["bytes_per_token_by_dtype"]["fp8_e4m3"] / HAND_KV_FP8_TRTLLM - 1) < 0.10, kv
    # SGLang's layout, byte for byte: (576 x 2 + 132) x 79 and (576 + 132) x 79.
    assert kv["bytes_per_token"] == 101_436
    assert kv["bytes_per_token_by_dtype"]["fp8_e4m3"] == 55_932
    assert kv["layers"] == 79


def test_default_spec_kv_tokens_sequences_and_cost(capsys):
    _, payload = plan_json(str(DEFAULT_SPEC), capsys=capsys)
    figures = payload["specs"][0]["estimate"]
    kv, cost = figures["kv_cache"], figures["cost"]
    # The hand calculation: "about 0.6M on B200 at 0.85".
    assert 500_000 < kv["tokens"] < 750_000
    assert kv["tokens"] % 64 == 0  # whole DSA pages
    assert kv["full_context_sequences"] == kv["tokens"] // 131072
    # 8 x $0.001736/s: "about $50 an hour" per replica, three replicas at most.
    assert cost["usd_per_hour_per_replica"] == pytest.approx(8 * 0.001736 * 3600, abs=0.01)
    assert cost["usd_per_hour_at_max_replicas"] == pytest.approx(3 * 8 * 0.001736 * 3600, abs=0.01)
    assert cost["usd_per_hour_idle"] == 0
    start = figures["cold_start"]
    assert start["weights_read_s"] == round(756e9 / 2.5e9)
    burst = 8 * 0.001736 * (start["estimate_s"] + 900)
    assert cost["scale_up_burst_min_usd"] == pytest.approx(burst, abs=0.05)


def test_plan_json_structure(capsys):
    code, payload = plan_json(*(str(p) for p in sorted(SPECS.glob("*.yaml"))), capsys=capsys)
    assert code == 0
    names = [Path(s["file"]).name for s in payload["specs"]]
    assert names == sorted(p.name for p in SPECS.glob("*.yaml"))  # every spec, in order
    assert {"glm51-fp8-b200.yaml", "glm51-fp8-h100x2.yaml", "glm51-fp8-h200.yaml"} <= set(names)
    for spec in payload["specs"]:
        assert spec["ok"] is True
        assert set(spec) >= {"file", "ok", "findings", "estimate", "summary"}
        figures = spec["estimate"]
        assert set(figures) == {"spec", "hardware", "parallelism", "weights", "kv_cache",
                                "headroom", "cost", "cold_start", "notes"}
        assert set(figures["weights"]) >= {"per_gpu_bytes", "per_gpu_gib", "fits"}
        assert set(figures["kv_cache"]) >= {"bytes_per_token", "tokens", "full_context_sequences",
                                            "mem_fraction_static"}
        assert set(figures["cost"]) >= {"usd_per_hour_per_replica", "usd_per_hour_at_max_replicas",
                                        "scale_up_burst_min_usd", "price_date", "price_source"}
        assert figures["weights"]["fits"] is True
        assert figures["kv_cache"]["full_context_sequences"] >= 1


def test_plan_text_and_summary_line(capsys):
    assert estimate_cli.estimate_main([str(DEFAULT_SPEC)], "text") == 0
    text = capsys.readouterr().out
    for label in ("weights per GPU", "KV per token per GPU", "KV cache", "full-context sequences",
                  "headroom", "cost", "cold start", "scale-up burst"):
        assert label in text
    (line,) = estimate_cli.summary_lines([str(DEFAULT_SPEC)])
    assert line.startswith("glm51-fp8-b200: 8x B200, TP8 |")
    assert "99.1 KiB/token" in line and "$50.00/h per replica" in line
    assert "\n" not in line


# --- the two other specs ----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["glm51-fp8-h200.yaml", "glm51-fp8-h100x2.yaml"])
def test_other_specs_validate_and_fit(name):
    result = read_spec(SPECS / name)
    errors = [f.format() for f in result.findings if f.severity.value == "error"]
    assert not errors, errors
    assert not [f for f in result.findings if f.rule in estimate_cli.MEMORY_RULES]
    est = estimate_of(SPECS / name)
    assert est.weights_fit and est.kv_fits_one_sequence


def test_h100x2_is_two_clustered_nodes_of_tp16():
    est = estimate_of(SPECS / "glm51-fp8-h100x2.yaml")
    default = estimate_of(DEFAULT_SPEC)
    assert (est.gpus_per_node, est.nodes, est.tensor) == (8, 2, 16)
    # Half the weights per GPU (plus the layers TP keeps whole), the same KV per token: TP does
    # not split MLA KV.
    assert est.weights_per_gpu_bytes == pytest.approx(default.weights_per_gpu_bytes / 2, rel=0.03)
    assert est.kv_bytes_per_token == default.kv_bytes_per_token
    assert est.usd_per_hour_replica == pytest.approx(16 * 0.001097 * 3600)


def test_hopper_fp8_kv_uses_the_scaled_layout():
    """On sm90 SGLang's FP8 DSA backend (flashmla_kv) stores scales and a BF16 rope part."""
    est = estimate_of(SPECS / "glm51-fp8-h200.yaml")
    assert est.kv_bytes_per_token_fp8 == (512 + 4 * 4 + 64 * 2 + 132) * 79


# --- the memory rules -------------------------------------------------------------------------


def test_default_spec_moved_to_8x_h100_is_rejected_at_the_gpu_line(spec_dir):
    """A literal copy of the default spec with only the GPU changed."""
    text = (spec_dir / "specs" / "glm51-fp8-b200.yaml").read_text()
    assert text.count("gpu: B200") == 1
    moved = spec_dir / "specs" / "glm51-fp8-h100.yaml"
    moved.write_text(text.replace("gpu: B200", "gpu: H100"))
    line = next(n for n, row in enumerate(moved.read_text().splitlines(), 1) if "gpu: H100" in row)
    result = read_spec(moved)
    hits = [f for f in result.findings if f.rule == "SS130"]
    assert [(f.position.line, f.path, f.severity.value) for f in hits] == \
        [(line, "hardware.gpu", "error")]
    assert "per GPU" in hits[0].message and "H100" in hits[0].message
    assert result.failed()


def test_h100_fixture_rejected_by_plan_too(capsys):
    fixture = RULE_FIXTURES / "SS130-trip.yaml"
    code, payload = plan_json(str(fixture), capsys=capsys)
    assert code == 1
    (spec,) = payload["specs"]
    assert spec["ok"] is False
    assert spec["estimate"]["weights"]["fits"] is False
    # ~94 GB per GPU (the issue's figure), more than an H100's 80 GB.
    assert 90e9 < spec["estimate"]["weights"]["per_gpu_bytes"] < 100e9
    (hit,) = [f for f in spec["findings"] if f["rule"] == "SS130"]
    assert (hit["line"], hit["path"]) == (marked_line(fixture, "SS130"), "hardware.gpu")


@pytest.mark.parametrize("rule_id,path", [("SS130", "hardware.gpu"),
                                           ("SS131", "engine.mem_fraction_static"),
                                           ("SS132", "engine.mem_fraction_static")])
def test_memory_rule_fixtures(rule_id, path):
    trip = RULE_FIXTURES / f"{rule_id}-trip.yaml"
    hits = [f for f in read_spec(trip).findings if f.rule == rule_id]
    assert [(f.position.line, f.path) for f in hits] == [(marked_line(trip, rule_id), path)]
    passing = read_spec(RULE_FIXTURES / f"{rule_id}-pass.yaml")
    assert not [f for f in passing.findings if f.rule == rule_id]


def test_kv_below_one_sequence_points_at_context_length(tmp_path):
    """When no sensible memory fraction makes room, the context length is the field to change."""
    facts = (SPECS / "models" / "glm-5.1-fp8.yaml").read_text()
    (tmp_path / "long.yaml").write_text(
        facts.replace("max_position_embeddings: 202752", "max_position_embeddings: 1048576"))
    spec = tmp_path / "long-context.yaml"
    spec.write_text(f"extends: {DEFAULT_SPEC}\n"
                    "model:\n"
                    "  facts: long.yaml\n"
                    "  context_length: 1048576  # the model's whole window\n")
    hits = [f for f in read_spec(spec).findings if f.rule == "SS131"]
    assert [(f.position.line, f.path) for f in hits] == [(4, "model.context_length")]
    assert "lower context_length" in hits[0].message


def test_thin_headroom_is_a_warning_not_an_error():
    result = read_spec(RULE_FIXTURES / "SS132-trip.yaml")
    (hit,) = [f for f in result.findings if f.rule == "SS132"]
    assert hit.severity.value == "warning"
    assert not result.failed()


def test_plan_without_facts_says_why(capsys):
    code = estimate_cli.estimate_main([str(RULE_FIXTURES / "SS126-trip.yaml")], "text")
    out = capsys.readouterr()
    assert code == 1
    assert "cannot estimate: no usable model facts" in out.out
    assert "Traceback" not in out.err


def test_validate_path_stays_light():
    """validate and render must not pay for huggingface_hub, torch or SGLang."""
    code = ("import sys; from renderer.pipeline import read_spec; "
            f"read_spec({str(DEFAULT_SPEC)!r}); "
            "heavy = [m for m in ('huggingface_hub', 'torch', 'sglang', 'transformers') "
            "if m in sys.modules]; print(heavy)")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False,
                          timeout=60)
    assert proc.stdout.strip() == "[]", proc.stderr


# --- model-facts ------------------------------------------------------------------------------


def write_repo(folder: Path, config: dict = GLM_CONFIG, index: dict = GLM_INDEX) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / model_facts.CONFIG).write_text(json.dumps(config))
    (folder / model_facts.INDEX).write_text(json.dumps(index))
    return folder


def write_hub_cache(cache: Path, repo: str, commit: str, ref: str = "main") -> None:
    """The layout huggingface_hub itself keeps: refs/<branch> -> snapshots/<commit>/<file>."""
    storage = cache / ("models--" + repo.replace("/", "--"))
    write_repo(storage / "snapshots" / commit)
    (storage / "refs").mkdir(parents=True)
    (storage / "refs" / ref).write_text(commit)


def test_facts_from_a_local_folder_through_huggingface_hub(tmp_path):
    repo_dir = write_repo(tmp_path / "GLM-5.1-FP8")
    facts = model_facts.facts_from_repo("zai-org/GLM-5.1-FP8", local_dir=repo_dir, offline=True)
    assert facts["checkpoint_bytes"] == 756_000_000_000
    assert facts["weights_dtype"] == "fp8_e4m3"
    assert facts["attention"]["kind"] == "mla_dsa"  # MLA with the DSA indexer
    assert facts["indexer"] == {"head_dim": 128, "num_heads": 32, "topk": 2048, "shared_layers": 0}
    # Counted from config.json: 743.9B + 9.95B MTP, the hand calculation's figure.
    assert facts["parameters"] == pytest.approx(753.9e9, rel=1e-3)


def test_written_facts_match_the_committed_file_and_plan_the_same(tmp_path):
    facts = model_facts.facts_from_repo("zai-org/GLM-5.1-FP8",
                                        local_dir=write_repo(tmp_path / "repo"), offline=True)
    out = tmp_path / "glm.yaml"
    out.write_text(facts_yaml.to_yaml(facts))
    written = load_file(out).data
    committed = load_file(SPECS / "models" / "glm-5.1-fp8.yaml").data
    assert list(written) == list(committed)  # same layout, same order
    for key in committed:
        if key == "parameters":  # the committed file rounds to 753.9B
            assert written[key] == pytest.approx(committed[key], rel=1e-3)
        else:
            assert written[key] == committed[key], key
    spec = read_spec(DEFAULT_SPEC).spec
    assert estimate_mod.estimate(spec, written) == estimate_mod.estimate(spec, committed)


def test_model_facts_command_reads_the_hub_cache_offline(tmp_path):
    commit = "0123456789abcdef0123456789abcdef01234567"
    write_hub_cache(tmp_path / "hub", "zai-org/GLM-5.1-FP8", commit)
    out = tmp_path / "facts" / "glm.yaml"
    out.parent.mkdir()
    proc = run_model_facts(tmp_path, "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    facts = load_file(out).data
    assert facts["revision"] == commit  # resolved from refs/main, as the Hub would
    assert facts["checkpoint_bytes"] == 756_000_000_000
    assert oct(out.stat().st_mode & 0o777) != oct(0o600)  # a file meant to be committed
    assert not [p for p in out.parent.iterdir() if p.name != "glm.yaml"]  # no temp file left


def test_model_facts_without_the_hub_is_one_sentence(tmp_path):
    proc = run_model_facts(tmp_path)  # empty cache, offline
    assert proc.returncode == 1
    assert proc.stderr.startswith("servespec model-facts: cannot reach the Hugging Face Hub")
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_model_facts_rejects_a_bad_repo_id(tmp_path):
    proc = run_model_facts(tmp_path, repo="not a repo")
    assert proc.returncode == 2
    assert "no such file or folder, nor a Hub repository id" in proc.stderr
    assert "Traceback" not in proc.stderr


def run_model_facts(tmp_path: Path, *args: str, repo: str = "zai-org/GLM-5.1-FP8"):
    output = None
    if args and args[0] == "-o":
        output = args[1]
    code = ("import sys; from renderer.facts.generate import model_facts_main; "
            f"sys.exit(model_facts_main({repo!r}, None, {output!r}))")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(tmp_path / "hub"),
           "HF_HOME": str(tmp_path / "hf-home")}
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                          text=True, check=False, timeout=120)


# --- SGLang's own computation -----------------------------------------------------------------

SGLANG_VERSION = "0.5.23"
# Resolved: every worktree links .cache to the same envs, and the overlay stamp hashes this path.
ENV_ROOT = Path(os.environ.get("SERVESPEC_SGLANG_ENV_ROOT", ROOT / ".cache")).resolve()
OVERLAY_REQUIREMENTS = Path(__file__).with_name("sglang_kv_overlay.txt")
PROBE = Path(__file__).with_name("sglang_kv_probe.py")


@pytest.fixture(scope="session")
def sglang_python() -> tuple[str, dict]:
    """The real SGLang env's python, with the overlay its KV sizing code needs on PYTHONPATH.

    Fails, never skips, without the env: the cross-check is part of what the plan promises.
    """
    python = ENV_ROOT / f"sglang-{SGLANG_VERSION}" / "bin" / "python"
    if not python.is_file():
        pytest.fail(f"no SGLang {SGLANG_VERSION} env at {python.parent.parent}: "
                    f"run `bash tools/sglang-env.sh {SGLANG_VERSION}` first")
    overlay = ENV_ROOT / f"sglang-{SGLANG_VERSION}-kv-overlay"
    _build_overlay(str(python), overlay)
    return str(python), {**os.environ, "PYTHONPATH": str(overlay)}


def _build_overlay(python: str, overlay: Path) -> None:
    """Install tests/sglang_kv_overlay.txt once (a stamp holds its hash); atomic, locked."""
    stamp = hashlib.sha256(OVERLAY_REQUIREMENTS.read_bytes() + python.encode()).hexdigest()
    marker = overlay / ".servespec-overlay-done"
    if marker.is_file() and marker.read_text() == stamp:
        return
    with open(f"{overlay}.build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if marker.is_file() and marker.read_text() == stamp:
            return
        tmp = Path(tempfile.mkdtemp(prefix=f".{overlay.name}.tmp.", dir=overlay.parent))
        tmp.chmod(0o755)  # mkdtemp makes it private; the env beside it is not
        try:
            proc = subprocess.run(
                [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                 "--no-input", "--no-deps", "--only-binary", ":all:", "--target", str(tmp),
                 "-r", str(OVERLAY_REQUIREMENTS)],
                capture_output=True, text=True, check=False, timeout=900)
            if proc.returncode != 0:
                pytest.fail(f"cannot install {OVERLAY_REQUIREMENTS.name}: {proc.stderr[-2000:]}")
            (tmp / marker.name).write_text(stamp)
            if overlay.exists():
                shutil.rmtree(overlay)
            tmp.rename(overlay)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def sglang_bytes_per_token(sglang_python, config: dict, cases: list[dict]) -> list[int]:
    python, env = sglang_python
    request = {"config": {k: v for k, v in config.items() if k != "quantization_config"},
               "cases": cases}
    proc = subprocess.run([python, str(PROBE), json.dumps(request)], cwd=ROOT, env=env,
                          capture_output=True, text=True, check=False, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    answer = json.loads(proc.stdout.strip().splitlines()[-1])
    assert answer["sglang"] == SGLANG_VERSION and answer["config_class"] == "GlmMoeDsaConfig"
    return [case["bytes_per_token"] for case in answer["cases"]]


def planned_bytes_per_token(config: dict, *, gpu: str, kv: str, tp: int, eagle: bool) -> int:
    facts = model_facts.facts_from_config("zai-org/GLM-5.1-FP8", None, config, GLM_INDEX)
    spec = read_spec(DEFAULT_SPEC).spec
    spec["hardware"]["gpu"] = gpu
    spec["parallelism"]["tensor"] = tp
    spec["precision"]["kv_cache"] = kv
    spec["speculative"]["algorithm"] = "EAGLE" if eagle else "none"
    return estimate_mod.estimate(spec, facts).kv_bytes_per_token


# (GPU, KV dtype, the DSA backend SGLang 0.5.23 resolves there, TP, EAGLE)
CROSS_CHECK_CASES = [
    ("B200", "bf16", "trtllm", 8, True),  # the default spec
    ("B200", "fp8_e4m3", "trtllm", 8, True),
    ("H200", "bf16", "flashmla_sparse", 8, True),
    ("H200", "fp8_e4m3", "flashmla_kv", 8, True),  # Hopper's scaled FP8 rows
    ("H100", "bf16", "flashmla_sparse", 16, True),  # TP16 does not split MLA KV
    ("B200", "bf16", "trtllm", 8, False),  # no MTP draft layer
]


@pytest.mark.parametrize("config", [GLM_CONFIG, {**GLM_CONFIG, "index_topk_freq": 2}],
                         ids=["glm-5.1", "every-other-layer-shares-top-k"])
def test_kv_bytes_per_token_equal_sglangs_own(sglang_python, config):
    cases = [{"kv_cache_dtype": kv, "dsa_backend": backend, "tp_size": tp,
              "eagle_draft_layers": config["num_nextn_predict_layers"] if eagle else 0}
             for _, kv, backend, tp, eagle in CROSS_CHECK_CASES]
    theirs = sglang_bytes_per_token(sglang_python, config, cases)
    ours = [planned_bytes_per_token(config, gpu=gpu, kv=kv, tp=tp, eagle=eagle)
            for gpu, kv, _, tp, eagle in CROSS_CHECK_CASES]
    differences = {f"{gpu} {kv} {backend} TP{tp} EAGLE={eagle}": o - t
                   for (gpu, kv, backend, tp, eagle), o, t in zip(CROSS_CHECK_CASES, ours, theirs)}
    assert ours == theirs, f"ours - SGLang's, bytes per token: {differences}"


def test_estimate_cli_prints_findings_like_validate(spec_dir):
    # Through the real command: each finding as `file:line:col: error: field: msg [ID]`, a rule's
    # hint once per run however many specs have it, and one summary line counting every finding.
    from conftest import run_cli

    text = (spec_dir / "specs" / "glm51-fp8-b200.yaml").read_text()
    assert "gpu: B200" in text
    small = text.replace("gpu: B200", "gpu: L4", 1)
    for name in ("a", "b"):  # an app of its own each (SS128)
        (spec_dir / "specs" / f"{name}.yaml").write_text(small.replace("\napp: ", f"\napp: {name}-", 1))
    proc = run_cli("estimate", "specs/a.yaml", "specs/b.yaml", cwd=spec_dir)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.splitlines()
    errors = [ln for ln in lines if ": error: hardware.gpu: " in ln]
    assert [ln.split(":")[0] for ln in errors] == ["specs/a.yaml", "specs/b.yaml"], proc.stderr
    assert all(ln.endswith("[SS130]") for ln in errors)
    assert sum(ln.startswith("    hint [SS130]: ") for ln in lines) == 1, proc.stderr
    assert lines[-1].startswith("estimate: 2 specs, 2 errors, "), proc.stderr
    assert "SS113" not in proc.stderr  # warnings that are not the estimate's subject: counted only
    assert "weights per GPU" in proc.stdout
