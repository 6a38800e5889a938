"""Models the repository does not ship, and SGLang flags given through engine.extra_args: every
flag has one owner (catalog/sglang_flags.yaml options.*.owner and extra_args), and the memory
estimate follows SGLang's own handling of vision-language models."""

from __future__ import annotations

from pathlib import Path

import facts_configs as fc
import yaml
from conftest import ROOT

from renderer.cli import estimate as estimate_cli
from renderer.facts import generate as model_facts
from renderer.facts import write as facts_yaml
from renderer.pipeline import read_spec

EXAMPLES = ROOT / "specs" / "examples"


def spec_file(tmp_path: Path, base: str, **sections) -> Path:
    """A spec extending specs/examples/<base> with `sections` merged over it."""
    body = {"extends": str(EXAMPLES / base), **sections}
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(body, sort_keys=False))
    return path


def rules_of(path, severity=None) -> list[tuple[str, str]]:
    report = read_spec(path)
    return [(f.rule, f.path) for f in report.findings
            if severity is None or f.severity.value == severity]


def test_attention_dp_through_extra_args_points_at_its_field(tmp_path):
    """The spec renders no --attn-dp-size (attention_data is 1): still refused, at the field."""
    path = spec_file(tmp_path, "qwen3-235b-a22b-fp8-h100.yaml",
                     engine={"extra_args": {"attn-dp-size": 8}})
    report = read_spec(path)
    [hit] = [f for f in report.findings if f.rule == "SS122"]
    assert hit.path == "engine.extra_args.attn-dp-size" and hit.severity.value == "error"
    assert "parallelism.attention_data" in hit.message
    assert hit.position.line == 4  # engine: / extra_args: / attn-dp-size in the file written


def test_a_flag_the_estimate_cannot_plan_is_refused_with_its_reason(tmp_path):
    path = spec_file(tmp_path, "qwen3-8b-l40s.yaml",
                     engine={"extra_args": {"max-total-tokens": 4096, "enable-cache-report": True}})
    report = read_spec(path)
    hits = [f for f in report.findings if f.rule == "SS220"]
    assert [f.path for f in hits] == ["engine.extra_args.max-total-tokens"]
    assert "mem_fraction_static" in hits[0].message


def test_swa_ratio_in_extra_args_is_what_the_estimate_plans_with(tmp_path):
    """gpt-oss-120b: 18 of 36 layers slide; SGLang's pool cell is full rows + ratio x sliding
    rows (HybridSWAPoolConfigurator), so 0.1 instead of the default 0.8 shrinks a token's KV."""
    base = estimate_cli.estimate_of(read_spec(EXAMPLES / "gpt-oss-120b-h100.yaml"))[0]
    path = spec_file(tmp_path, "gpt-oss-120b-h100.yaml",
                     engine={"extra_args": {"swa-full-tokens-ratio": 0.1}})
    report = read_spec(path)
    assert not report.failed(), [f.format() for f in report.findings]
    est = estimate_cli.estimate_of(report)[0]
    assert est.kv_swa_ratio == 0.1 and base.kv_swa_ratio == 0.8
    row = base.kv_bytes_per_token / (18 + 0.8 * 18)  # one layer's K and V per token
    assert est.kv_bytes_per_token == round(row * (18 + 0.1 * 18))
    assert "SS131" not in {f.rule for f in report.findings}


def test_every_owner_is_a_field_of_the_schema():
    from renderer import catalog

    schema = yaml.safe_load((ROOT / "specs" / "schema.json").read_text())
    for key, option in catalog.sglang_flags()["options"].items():
        if not option.get("owner"):
            continue
        node = schema
        for part in option["owner"].split("."):
            node = node["properties"][part]
            node = schema["$defs"][node["$ref"].split("/")[-1]] if "$ref" in node else node
        assert node is not None, key


def test_gemma3_27b_on_one_h100_at_24k_is_flagged_with_sglangs_vlm_fraction(tmp_path):
    """SGLang lowers its default mem_fraction_static for a model with a vision tower (sglang
    0.5.23 srt/arg_groups/memory_hook.py adjust_mem_fraction_for_vlm): SigLIP's 27 layers of
    1,152 are 1.42x ViT-L/14's 24 x 1,024^2, so the fraction is x 0.95 x (1 - 0.1 x 0.42).
    Without that the 24K context would fit on paper; with it the KV pool is too small."""
    def gemma(tower: bool):
        facts = model_facts.facts_from_config("google/gemma-3-27b-it", None, fc.GEMMA3_27B)
        if not tower:
            facts.pop("vision")
        folder = tmp_path / str(tower)
        folder.mkdir()
        (folder / "gemma.yaml").write_text(facts_yaml.to_yaml(facts))
        path = spec_file(folder, "qwen3-8b-l40s.yaml",
                         model={"repo": "google/gemma-3-27b-it", "facts": str(folder / "gemma.yaml"),
                                "context_length": 24576},
                         engine={"reasoning_parser": None, "tool_call_parser": None},
                         hardware={"gpu": "H100"},
                         storage={"cache": {"volume": "gemma-cache", "mount": "/cache"}})
        report = read_spec(path)
        return report, estimate_cli.estimate_of(report)[0]

    report, est = gemma(True)
    text_only, plain = gemma(False)
    complexity = 27 * 1152 ** 2 / (24 * 1024 ** 2)
    assert plain.mem_fraction_static == 0.83  # round((81,559 - 13,865) / 81,559, 3)
    assert est.mem_fraction_static == 0.83 * 0.95 * (1 - 0.1 * (complexity - 1))
    assert est.sglang_default_mem_fraction == est.mem_fraction_static
    assert est.kv_tokens < 24576 < plain.kv_tokens
    assert not text_only.failed(), [f.format() for f in text_only.findings]
    hits = [f for f in report.findings if f.rule in ("SS130", "SS131")]
    assert hits and all(f.severity.value == "error" for f in hits), \
        [f.format() for f in report.findings]
    # Gemma-3 is GQA: more TP splits its KV heads, so the hint offers more GPUs (not "MLA ...").
    [kv] = [f for f in hits if f.rule == "SS131"]
    assert "parallelism.tensor" in kv.message and "MLA" not in kv.message


# --- rules that depend on the model ------------------------------------------------------------


def test_a_cache_volume_without_an_architecture_validates(tmp_path):
    path = spec_file(tmp_path, "qwen3-8b-l40s.yaml",
                     storage={"cache": {"volume": "my-cache", "mount": "/cache"}})
    assert "SS106" not in {rule for rule, _ in rules_of(path)}
    stale = spec_file(tmp_path, "qwen3-8b-l40s.yaml",
                      storage={"cache": {"volume": "my-cache-sm90", "mount": "/cache"}})
    assert ("SS106", "storage.cache.volume") in rules_of(stale, "warning")


def test_context_past_the_trained_length_points_at_the_cards_yarn(tmp_path):
    """Qwen2.5-72B: 32,768 positions in config.json; the card's YaRN x4 reaches 131,072."""
    import json

    from renderer.facts import source

    inputs = source.Inputs(fc.QWEN25_72B, "Qwen/Qwen2.5-72B-Instruct", None)
    inputs.card_rope_scaling = source.card_rope_scaling(fc.QWEN25_CARD)
    facts = model_facts.facts_from_inputs(inputs)
    (tmp_path / "qwen.yaml").write_text(facts_yaml.to_yaml(facts))
    model = {"repo": "Qwen/Qwen2.5-72B-Instruct", "facts": str(tmp_path / "qwen.yaml"),
             "context_length": 65536}
    path = spec_file(tmp_path, "qwen3-235b-a22b-fp8-h100.yaml", model=model)
    [hit] = [f for f in read_spec(path).findings if f.rule == "SS109"]
    assert "json-model-override-args" in hit.message and "131,072" in hit.message
    override = json.dumps({"rope_scaling": facts["card_rope_scaling"]})
    fixed = spec_file(tmp_path, "qwen3-235b-a22b-fp8-h100.yaml", model=model,
                      engine={"extra_args": {"json-model-override-args": override}})
    assert "SS109" not in {rule for rule, _ in rules_of(fixed)}


# --- commands that start GPUs or act on a deployed app name their spec ---------------------------


def _servespec(cwd, *args):
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "renderer.cli", *args], check=False, cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def test_deploy_without_a_spec_in_a_repository_of_two_exits_2_naming_them(tmp_path):
    import shutil

    (tmp_path / "specs").mkdir()
    for name in ("qwen3-8b-l40s.yaml", "gpt-oss-120b-h100.yaml"):
        shutil.copy(EXAMPLES / name, tmp_path / "specs" / name)
    for command in ("deploy", "wake", "stop", "bench"):
        proc = _servespec(tmp_path, command)
        assert proc.returncode == 2, (command, proc.stderr)
        assert "specs/qwen3-8b-l40s.yaml" in proc.stderr and "specs/gpt-oss-120b-h100.yaml" \
            in proc.stderr and "Traceback" not in proc.stderr
    # One spec: it is the one, and deploy goes on to say what that spec still lacks.
    (tmp_path / "specs" / "gpt-oss-120b-h100.yaml").unlink()
    proc = _servespec(tmp_path, "deploy", "--dry-run")
    assert proc.returncode != 2 or "name the SPEC" not in proc.stderr, proc.stderr
    assert "qwen3-8b-l40s" in proc.stdout + proc.stderr
