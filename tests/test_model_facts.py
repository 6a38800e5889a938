"""`servespec model-facts` from what a user has at hand: a folder holding config.json (and maybe
the safetensors index, the weights, the model card), or a config.json file, offline.

The facts are checked three ways: against the numbers each model's config.json and
transformers' configuration class give (written next to each assertion), against transformers'
own configuration objects (tests/transformers_config_probe.py, run in the smoke server's env,
which has transformers), and through a refusal for every field nothing determines.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import facts_configs as fc
import pytest
from conftest import ROOT, run_cli

from renderer.facts import config as facts_config
from renderer.facts import generate as model_facts
from renderer.spec.load import load_file

PROBE = ROOT / "tests" / "transformers_config_probe.py"
TOOL = ROOT / "tools" / "gen_config_defaults.py"
TABLE = ROOT / "renderer" / "catalog" / "config_defaults.yaml"
OFFLINE = {"HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1"}


def folder_of(tmp_path: Path, config: dict, *, index: int | None = None,
              card: str | None = None) -> Path:
    folder = tmp_path / "checkpoint"
    folder.mkdir(exist_ok=True)
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    if index is not None:
        (folder / model_facts.INDEX).write_text(json.dumps(
            {"metadata": {"total_size": index}, "weight_map": {}}))
    if card is not None:
        (folder / "README.md").write_text(card)
    return folder


def facts_via_cli(tmp_path: Path, source: Path, repo: str, *extra: str) -> dict:
    out = tmp_path / "facts.yaml"
    proc = run_cli("model-facts", str(source), "--repo", repo, "-o", str(out), *extra,
                   env=OFFLINE)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    return load_file(out).data


@pytest.mark.parametrize("name,repo,config", fc.MODELS, ids=[m[0] for m in fc.MODELS])
def test_a_folder_with_only_config_json_gives_facts(name, repo, config, tmp_path):
    """Every model of tests/facts_configs.py: facts from its config.json alone, offline, with no
    null where a number belongs and the checkpoint size computed (and said to be)."""
    facts = facts_via_cli(tmp_path, folder_of(tmp_path, config), repo)
    for key in ("max_position_embeddings", "num_hidden_layers", "hidden_size", "vocab_size",
                "parameters", "checkpoint_bytes", "torch_dtype", "architecture"):
        assert facts[key] is not None, key
    assert all(v is not None for k, v in facts["attention"].items() if k != "q_lora_rank")
    text = (tmp_path / "facts.yaml").read_text()
    assert "computed from config.json's tensor shapes" in text
    assert f"servespec model-facts {tmp_path / 'checkpoint'} --repo {repo}" in text


def test_gemma3_27b_takes_transformers_defaults_and_keeps_its_vision_tower(tmp_path):
    """gemma-3-27b-it's text_config has no vocab_size, max_position_embeddings,
    tie_word_embeddings or layer pattern: Gemma3TextConfig's defaults (262,208; 131,072; true;
    one full layer in six) fill them, and the SigLIP tower is recorded with its weights."""
    facts = facts_via_cli(tmp_path, folder_of(tmp_path, fc.GEMMA3_27B), "google/gemma-3-27b-it")
    assert facts["vocab_size"] == 262208 and facts["max_position_embeddings"] == 131072
    assert facts["tie_word_embeddings"] is True and facts["model_type"] == "gemma3"
    att = facts["attention"]
    assert (att["kind"], att["num_key_value_heads"], att["head_dim"]) == ("gqa", 16, 128)
    assert att["sliding_window"] == 1024
    assert att["layer_types"] == ["full_attention" if (i + 1) % 6 == 0 else "sliding_attention"
                                  for i in range(62)]
    assert facts["rope_scaling"] == {"rope_type": "linear", "factor": 8.0}
    vision = facts["vision"]
    assert (vision["model_type"], vision["num_hidden_layers"], vision["hidden_size"]) == \
        ("siglip_vision_model", 27, 1152)
    # SigLIP-so400m at 896 px, patch 14: 27 x (4 x 1152^2 + 2 x 1152 x 4304 + biases and norms)
    # + patch embedding (3 x 14^2 x 1152) + 64^2 positions x 1152 = 416.9M.
    assert vision["parameters"] == pytest.approx(416.9e6, rel=1e-3)
    # Language model: 62 x (attention 2 x 5376 x (32 + 16) x 128 + MLP 3 x 5376 x 21504)
    # + one tied 262,208 x 5376 embedding = 27.008B, plus the tower.
    assert facts["parameters"] == pytest.approx(27.008e9 + 416.9e6, rel=1e-3)


def test_gemma3_text_only_and_its_window_pattern(tmp_path):
    facts = facts_via_cli(tmp_path, folder_of(tmp_path, fc.GEMMA3_1B), "google/gemma-3-1b-it")
    att = facts["attention"]
    assert (att["kind"], att["num_key_value_heads"], att["head_dim"]) == ("gqa", 1, 256)
    assert att["sliding_window"] == 512 and att["layer_types"].count("full_attention") == 4
    assert "vision" not in facts and facts["tie_word_embeddings"] is True  # class default


def test_the_index_gives_the_size_and_the_vision_tower_is_what_is_left(tmp_path):
    """With the safetensors index, checkpoint_bytes is its total_size and the tower's
    parameters are what the checkpoint holds beyond the language model (projector included)."""
    lm_bytes = 2 * 27_007_991_808
    tower = 423_000_000  # a tower + projector 6M parameters larger than the ViT count
    folder = folder_of(tmp_path, fc.GEMMA3_27B, index=lm_bytes + 2 * tower)
    facts = facts_via_cli(tmp_path, folder, "google/gemma-3-27b-it")
    assert facts["checkpoint_bytes"] == lm_bytes + 2 * tower
    assert facts["vision"]["parameters"] == pytest.approx(tower, rel=1e-3)
    assert "model.safetensors.index.json metadata.total_size" in (tmp_path / "facts.yaml").read_text()


def test_qwen25_card_documents_yarn(tmp_path):
    """Qwen2.5's config.json says 32,768 positions and no scaling; its model card shows the
    YaRN block to add for longer contexts: the facts keep both apart."""
    folder = folder_of(tmp_path, fc.QWEN25_72B, card=fc.QWEN25_CARD)
    facts = facts_via_cli(tmp_path, folder, "Qwen/Qwen2.5-72B-Instruct")
    assert facts["max_position_embeddings"] == 32768 and facts["rope_scaling"] is None
    assert facts["card_rope_scaling"] == {"rope_type": "yarn", "factor": 4.0,
                                          "original_max_position_embeddings": 32768}
    # use_sliding_window is false: Qwen2Config drops the 131,072-token window.
    assert "sliding_window" not in facts["attention"]


def test_moe_and_mla_families(tmp_path):
    v3 = model_facts.facts_from_config("deepseek-ai/DeepSeek-V3", None, fc.DEEPSEEK_V3)
    assert v3["attention"]["kind"] == "mla" and v3["indexer"] is None
    assert v3["num_nextn_predict_layers"] == 1 and v3["weights_dtype"] == "fp8_e4m3"
    # 671B + 14B MTP, DeepSeek's own figure for the checkpoint (685B).
    assert v3["parameters"] == pytest.approx(685e9, rel=0.01)
    glm = model_facts.facts_from_config("zai-org/GLM-4.5", None, fc.GLM_45)
    assert glm["attention"]["kind"] == "gqa" and glm["attention"]["bias"] is True
    assert glm["moe"] == {"n_routed_experts": 160, "n_shared_experts": 1,
                          "num_experts_per_tok": 8, "moe_intermediate_size": 1536,
                          "first_k_dense_replace": 3}
    # zai-org's card: 355B total parameters.
    assert glm["parameters"] == pytest.approx(355e9, rel=0.02)
    qwen = model_facts.facts_from_config("Qwen/Qwen3-30B-A3B", None, fc.QWEN3_30B_A3B)
    assert qwen["moe"]["n_routed_experts"] == 128 and qwen["moe"]["n_shared_experts"] == 0
    assert qwen["parameters"] == pytest.approx(30.5e9, rel=0.01)  # Qwen's card: 30.5B
    oss = model_facts.facts_from_config("openai/gpt-oss-20b", None, fc.GPT_OSS_20B)
    assert oss["moe"]["n_routed_experts"] == 32 and oss["weights_dtype"] == "mxfp4"
    assert oss["attention"]["layer_types"].count("sliding_attention") == 12
    assert oss["parameters"] == pytest.approx(20.9e9, rel=0.01)  # OpenAI's card: 20.9B


def test_a_field_nothing_determines_is_refused_by_name(tmp_path):
    """A model type transformers does not know gets no defaults: every missing field is named,
    nothing is written."""
    config = {"architectures": ["MyLMForCausalLM"], "model_type": "my_lm", "hidden_size": 4096,
              "num_attention_heads": 32, "torch_dtype": "bfloat16"}
    out = tmp_path / "facts.yaml"
    proc = run_cli("model-facts", str(folder_of(tmp_path, config)), "--repo", "me/my-lm",
                   "-o", str(out), env=OFFLINE)
    assert proc.returncode == 1 and not out.exists()
    err = proc.stderr.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    for field in ("max_position_embeddings", "num_hidden_layers", "vocab_size",
                  "intermediate_size"):
        assert field in err
    assert "my_lm" in err and "transformers 5.24.0" in err


def test_a_known_model_type_fills_only_what_config_json_left_out():
    """A Qwen3 config.json without num_hidden_layers is Qwen3Config's 32 layers; one that sets
    it keeps its own."""
    config = {k: v for k, v in fc.QWEN3_30B_A3B.items() if k != "vocab_size"}
    facts = model_facts.facts_from_config("x/y", None, config)
    assert facts["vocab_size"] == 151936  # Qwen3MoeConfig's default
    assert facts["num_hidden_layers"] == 48


def test_sliding_window_layer_types_unknown_is_refused():
    """A class whose layer pattern the table could not learn (qwen2_moe derives it from three
    fields) with sliding windows on and no layer_types: refused, naming layer_types."""
    config = {"architectures": ["Qwen2MoeForCausalLM"], "model_type": "qwen2_moe",
              "use_sliding_window": True, "sliding_window": 4096, "torch_dtype": "bfloat16"}
    with pytest.raises(model_facts.FactsError, match="attention.layer_types"):
        model_facts.facts_from_config("x/y", None, config)


def test_a_config_json_file_and_an_explicit_index(tmp_path):
    (tmp_path / "llama.config.json").write_text(json.dumps(fc.LLAMA_33_70B))
    (tmp_path / "llama.index.json").write_text(json.dumps({"metadata": {"total_size": 141107412992}}))
    facts = facts_via_cli(tmp_path, tmp_path / "llama.config.json",
                          "meta-llama/Llama-3.3-70B-Instruct", "--index",
                          str(tmp_path / "llama.index.json"))
    assert facts["checkpoint_bytes"] == 141107412992
    # 80 x (2 x 8192 x (64 + 8) x 128 + 3 x 8192 x 28672) + 2 x 128256 x 8192 = 70.55B
    assert facts["parameters"] == pytest.approx(70.55e9, rel=1e-3)


def test_checkpoint_bytes_given_must_agree_with_the_index(tmp_path):
    folder = folder_of(tmp_path, fc.LLAMA_33_70B, index=1000)
    proc = run_cli("model-facts", str(folder), "--repo", "a/b", "--checkpoint-bytes", "999",
                   env=OFFLINE)
    assert proc.returncode == 2 and "contradicts" in proc.stderr


def test_a_local_folder_needs_the_repository_it_describes(tmp_path):
    proc = run_cli("model-facts", str(folder_of(tmp_path, fc.LLAMA_33_70B)), env=OFFLINE)
    assert proc.returncode == 2 and "--repo" in proc.stderr and "Traceback" not in proc.stderr


def test_the_hub_cache_folder_names_its_repository_and_commit(tmp_path):
    commit = "0123456789abcdef0123456789abcdef01234567"
    snapshot = tmp_path / "models--google--gemma-3-1b-it" / "snapshots" / commit
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text(json.dumps(fc.GEMMA3_1B))
    out = tmp_path / "facts.yaml"
    proc = run_cli("model-facts", str(snapshot), "-o", str(out), env=OFFLINE)
    assert proc.returncode == 0, proc.stderr
    facts = load_file(out).data
    assert (facts["repo"], facts["revision"]) == ("google/gemma-3-1b-it", commit)


def test_a_path_that_is_neither_file_nor_repository(tmp_path):
    proc = run_cli("model-facts", str(tmp_path / "nowhere"), env=OFFLINE)
    assert proc.returncode == 2 and "no such file or folder" in proc.stderr


def test_local_sources_import_no_hub_client(tmp_path):
    """A local folder is read with the standard library: huggingface_hub is never imported."""
    folder = folder_of(tmp_path, fc.GEMMA3_1B)
    code = ("import sys; from renderer.facts.generate import model_facts_main; "
            f"rc = model_facts_main({str(folder)!r}, None, {str(tmp_path / 'f.yaml')!r},"
            " repo='google/gemma-3-1b-it'); "
            "print(rc, 'huggingface_hub' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          check=False, timeout=60, env={**os.environ, **OFFLINE})
    assert proc.stdout.split() == ["0", "False"], proc.stderr


def test_the_safetensors_headers_give_the_size(tmp_path, server_python):
    """A folder with the weights and no index (a single-file checkpoint): the size is the sum
    of the tensors' byte ranges in the headers safetensors itself wrote; no weight is read."""
    folder = folder_of(tmp_path, fc.GEMMA3_1B)
    code = ("import sys, torch; from safetensors.torch import save_file; "
            "save_file({'a': torch.zeros(4, 8, dtype=torch.bfloat16), "
            "'b': torch.zeros(3, dtype=torch.float32)}, sys.argv[1])")
    proc = subprocess.run([str(server_python), "-c", code, str(folder / "model.safetensors")],
                          capture_output=True, text=True, check=False, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    facts = facts_via_cli(tmp_path, folder, "google/gemma-3-1b-it")
    assert facts["checkpoint_bytes"] == 4 * 8 * 2 + 3 * 4
    assert "the headers of 1 safetensors file(s)" in (tmp_path / "facts.yaml").read_text()


# --- against transformers itself --------------------------------------------------------------


@pytest.fixture(scope="module")
def transformers_view(server_python: Path) -> list[dict]:
    configs = [config for _, _, config in fc.MODELS]
    proc = subprocess.run([str(server_python), str(PROBE)], input=json.dumps(configs), cwd=ROOT,
                          capture_output=True, text=True, check=False, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


@pytest.mark.parametrize("i", range(len(fc.MODELS)), ids=[m[0] for m in fc.MODELS])
def test_facts_agree_with_transformers_configuration_objects(i, transformers_view):
    """What transformers' own AutoConfig makes of each config.json is what the facts say."""
    _, repo, config = fc.MODELS[i]
    seen = transformers_view[i]
    assert seen["transformers"] == facts_config.transformers_version()  # the table's version
    facts = model_facts.facts_from_config(repo, None, config)
    text, att = seen["text"], facts["attention"]
    for key in ("vocab_size", "max_position_embeddings", "num_hidden_layers", "hidden_size"):
        assert facts[key] == text[key], key
    assert facts["tie_word_embeddings"] == seen["tie_word_embeddings"]
    assert att["num_attention_heads"] == text["num_attention_heads"]
    if att["kind"] in ("gqa", "mha"):
        assert att["num_key_value_heads"] == text["num_key_value_heads"]
        assert att["head_dim"] == (text["head_dim"] or text["hidden_size"]
                                   // text["num_attention_heads"])
    else:
        assert att["kv_lora_rank"] == text["kv_lora_rank"]
        assert att["q_lora_rank"] == text["q_lora_rank"]
    sliding = text["sliding_window"] and "sliding_attention" in (text["layer_types"] or [])
    assert att.get("layer_types") == (text["layer_types"] if sliding else None)
    assert att.get("sliding_window") == (text["sliding_window"] if sliding else None)
    if facts["moe"]:
        assert facts["moe"]["n_routed_experts"] == seen["experts"]
        assert facts["moe"]["num_experts_per_tok"] == text["num_experts_per_tok"]
    assert facts["num_nextn_predict_layers"] == (text["num_nextn_predict_layers"] or 0)
    vision = facts.get("vision")
    assert (vision is None) == (seen["vision"] is None)
    if vision:
        for key, value in seen["vision"].items():
            assert vision[key] == value, key


def test_the_defaults_table_is_what_the_tool_writes(server_python):
    """catalog/config_defaults.yaml is tools/gen_config_defaults.py run on the installed
    transformers, byte for byte."""
    proc = subprocess.run([str(server_python), str(TOOL)], cwd=ROOT, capture_output=True,
                          text=True, check=False, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout == TABLE.read_text()
