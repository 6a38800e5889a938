"""`servespec size`: every candidate through the pipeline's own rules and estimate, ranked by the
floors; what it writes passes `servespec validate --strict` apart from the pinning warnings."""

from __future__ import annotations

import json
import re

import pytest
from conftest import ROOT, run_cli

from renderer.errors import Severity
from renderer.facts.load import facts_file
from renderer.pipeline import read_spec
from renderer.size import report
from renderer.size.candidates import Request
from renderer.size.sweep import sweep
from renderer.size.write import write_spec

MODELS = ROOT / "specs" / "models"
PINNING = {"SS112", "SS113"}  # image digest and revision hash: a new spec cannot know them


def labels(cands) -> list[str]:
    return [c.shape.label for c in cands]


def dropped(sw, label: str):
    return next(c for c in sw.dropped if c.shape.label == label)


@pytest.fixture(scope="module")
def glm():
    return sweep(MODELS / "glm-5.1-fp8.yaml", Request(context=131072, concurrency=32))


def test_glm51_ranks_b200_and_h200_and_drops_h100_for_its_weights(glm):
    ranked = labels(glm.ranked)
    assert "8x B200 TP8" in ranked and "8x H200 TP8" in ranked
    assert ranked.index("8x B200 TP8") < ranked.index("8x H200 TP8")  # cheaper per token at the floor
    h100 = dropped(glm, "8x H100 TP8")
    assert h100.rule == "SS130" and "weights need" in h100.dropped
    text = report.to_text(glm)
    assert re.search(r"8x H100 TP8: \[SS130\] weights need [\d.]+ GiB", text)
    # MLA's latent is not split by TP: attention DP is what holds 32 sequences of 128K
    best = glm.ranked[0]
    assert best.shape.attention_data == 8 and best.estimate.full_context_sequences >= 32


def test_glm51_two_nodes_show_h100_tp16():
    sw = sweep(MODELS / "glm-5.1-fp8.yaml", Request(context=131072, concurrency=32, nodes=2,
                                                     gpus=("H100",)))
    assert "8x H100 x 2 nodes TP16" in labels(sw.ranked)
    one = sweep(MODELS / "glm-5.1-fp8.yaml", Request(context=131072, concurrency=32, gpus=("H100",)))
    assert not one.ranked


def test_qwen3_235b_drops_tp8_without_ep_on_h100_naming_ss187():
    sw = sweep(MODELS / "qwen3-235b-a22b-fp8.yaml", Request(context=32768, concurrency=32,
                                                            gpus=("H100",)))
    refused = dropped(sw, "8x H100 TP8")
    assert refused.rule == "SS187" and "1536 / 8 = 192" in refused.dropped
    assert "8x H100 TP8 EP8" in labels(sw.ranked)  # expert parallelism restores the 128 block


def test_llama_8b_takes_one_gpu_and_says_why_two_are_not_cheaper():
    sw = sweep(MODELS / "llama-3.1-8b-instruct.yaml", Request(context=8192, concurrency=8))
    best = sw.ranked[0]
    assert best.shape.total_gpus == 1
    two = next(c for c in sw.ranked if c.shape.gpu == best.shape.gpu and c.shape.total_gpus == 2)
    assert two.usd_per_m >= best.usd_per_m * 0.999
    # twice the GPUs read half the weights each: twice the tokens/s for twice the price
    assert two.floors.tokens_per_s_floor == pytest.approx(2 * best.floors.tokens_per_s_floor, rel=0.05)
    text = report.to_text(sw)
    assert f"2x {best.shape.gpu} TP2 is not cheaper than #1: 2.0x the $/h" in text


def _contexts(facts: dict) -> tuple[int, int]:
    longest = min(int(facts["max_position_embeddings"]), 131072)
    return min(8192, longest // 4), longest


@pytest.mark.parametrize("model", sorted(p.stem for p in MODELS.glob("*.yaml")
                                         if p.stem != "config-sources"))
def test_the_top_three_rows_write_specs_that_validate(model, tmp_path):
    path = MODELS / f"{model}.yaml"
    for context in _contexts(facts_file(path).data):
        target = tmp_path / f"{model}-{context}.yaml"
        sw = sweep(path, Request(context=context, concurrency=4), target)
        assert len(sw.ranked) >= 3, (model, context, report.to_text(sw, explain=True))
        for rank in (1, 2, 3):
            cand = write_spec(sw, rank, target, "servespec size")
            checked = read_spec(target)
            left = [f.format() for f in checked.findings if f.rule not in PINNING]
            assert checked.spec is not None and not left, (model, context, rank, left)
            assert checked.spec["hardware"]["gpu"] == cand.shape.gpu
            assert checked.spec["parallelism"]["tensor"] == cand.shape.tensor
            # the written spec's own estimate is the one the row was ranked by
            assert checked.estimate.kv_tokens == cand.estimate.kv_tokens


def test_extends_writes_only_what_sizing_decides(tmp_path):
    base = tmp_path / "base.yaml"
    base.write_text((ROOT / "specs" / "glm51-fp8-b200.yaml").read_text().replace(
        "facts: models/glm-5.1-fp8.yaml", f"facts: {MODELS / 'glm-5.1-fp8.yaml'}"))
    target = tmp_path / "sized.yaml"
    proc = run_cli("size", "glm-5.1-fp8", "--context", "65536", "--concurrency", "8",
                   "--gpus", "H200", "--write", str(target), "--extends", str(base))
    assert proc.returncode == 0, proc.stderr
    text = target.read_text()
    assert text.count("\nextends: ") == 1 and "download:" not in text
    checked = read_spec(target)
    assert checked.spec["hardware"]["gpu"] == "H200"
    assert checked.spec["download"]["hf_token_secret"] == "huggingface-secret"  # from the base
    errors = [f for f in checked.findings if f.severity is Severity.ERROR]
    assert not errors, [f.format() for f in errors]


def test_write_reports_the_written_spec_as_validate_does(tmp_path):
    """The written spec's findings as validate prints them (each hint once, one summary line);
    with --format json they are in the payload, under `written`."""
    args = ("size", "llama-3.1-8b-instruct", "--context", "8192", "--gpus", "H100")
    proc = run_cli(*args, "--write", str(tmp_path / "a" / "llama.yaml"))
    assert proc.returncode == 0, proc.stderr
    warnings = [line for line in proc.stderr.splitlines() if ": warning: " in line]
    assert warnings and all(line.startswith(str(tmp_path / "a" / "llama.yaml")) for line in warnings)
    rules = {line.rsplit("[", 1)[1] for line in warnings}
    hints = [line for line in proc.stderr.splitlines() if line.lstrip().startswith("hint [")]
    assert len(hints) == len(rules)
    assert proc.stderr.splitlines()[-1] == (f"size: 1 spec, 0 errors, {len(warnings)} warning"
                                            f"{'s' if len(warnings) != 1 else ''}; wrote "
                                            f"{tmp_path / 'a' / 'llama.yaml'}")
    proc = run_cli(*args, "--write", str(tmp_path / "b" / "llama.yaml"), "--format", "json")
    assert proc.returncode == 0, proc.stderr
    written = json.loads(proc.stdout)["written"]
    assert written["ok"] and written["file"] == str(tmp_path / "b" / "llama.yaml")
    assert sorted(f"{f['rule']}]" for f in written["findings"]) == sorted(rules)
    assert ": warning: " not in proc.stderr


def test_the_specs_already_in_the_folder_do_not_change_the_answer(tmp_path):
    """A spec of the folder holding the app name a candidate would take (as the last --write
    left it) gives that candidate a free name, instead of SS128 dropping its hardware."""
    args = ("size", "llama-3.1-8b-instruct", "--context", "8192", "--gpus", "H100,H200")
    first = run_cli(*args, "--write", str(tmp_path / "specs" / "first.yaml"))
    assert first.returncode == 0, first.stderr
    app = read_spec(tmp_path / "specs" / "first.yaml").spec["app"]
    again = run_cli(*args, "--write", str(tmp_path / "specs" / "again.yaml"))
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines()[:8] == first.stdout.splitlines()[:8]
    second = read_spec(tmp_path / "specs" / "again.yaml")
    assert second.spec["app"] == f"{app}-2"
    assert second.spec["hardware"] == read_spec(tmp_path / "specs" / "first.yaml").spec["hardware"]
    assert not [f for f in second.findings if f.severity is Severity.ERROR]


def test_json_is_the_documented_shape():
    proc = run_cli("size", "llama-3.1-8b-instruct", "--context", "8192", "--concurrency", "4",
                   "--format", "json")
    assert proc.returncode == 0, proc.stderr
    payload = json.loads(proc.stdout)
    assert payload["shape"] == report.SHAPE
    doc = (ROOT / "docs" / "size.md").read_text()
    keys = set(payload) | set(payload["request"]) | set(payload["ranked"][0])
    keys |= set(payload["ranked"][0]["floors"]) | set(payload["ranked"][0]["parallelism"])
    keys |= set(payload["dropped"][0]["dropped"])
    missing = sorted(k for k in keys if f"`{k}`" not in doc)
    assert not missing, f"docs/size.md does not document {missing}"
    assert payload["ranked"][0]["floors"]["label"].startswith("floor")
    assert payload["candidates"] == len(payload["ranked"]) + len(payload["dropped"])


@pytest.mark.parametrize("args, message", [
    (("--target", "p99_ttft_ms=10"), "unknown metric 'p99_ttft_ms'"),
    (("--target", "median_tpot_ms=fast"), "needs a number"),
    (("--gpus", "H900"), "unknown GPU type H900"),
    (("--extends", "specs/glm51-fp8-b200.yaml"), "--extends needs --write"),
])
def test_bad_options_get_one_line_and_exit_2(args, message):
    proc = run_cli("size", "llama-3.1-8b-instruct", "--context", "8192", *args)
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr


def test_targets_and_budget_drop_by_their_floor():
    loose = sweep(MODELS / "llama-3.1-8b-instruct.yaml", Request(context=8192, concurrency=8))
    tight = sweep(MODELS / "llama-3.1-8b-instruct.yaml", Request(
        context=8192, concurrency=8, targets={"median_tpot_ms": 2.0}, max_usd_per_hour=30))
    assert len(tight.ranked) < len(loose.ranked)
    assert all(c.floors.tpot_floor_c_ms <= 2.0 and c.estimate.usd_per_hour_replica <= 30
               for c in tight.ranked)
    assert {c.rule for c in tight.dropped} >= {"target", "budget"}


def test_nothing_is_written_when_nothing_passes(tmp_path):
    target = tmp_path / "none.yaml"
    proc = run_cli("size", "glm-5.1-fp8", "--context", "131072", "--gpus", "L4",
                   "--write", str(target))
    assert proc.returncode == 1 and not target.exists()
    assert "no candidate passes" in proc.stdout


def test_a_folder_with_config_json_is_read_through_model_facts(tmp_path):
    folder = tmp_path / "ckpt"
    folder.mkdir()
    (folder / "config.json").write_text((MODELS / "qwen3-8b.config.json").read_text())
    target = tmp_path / "specs" / "qwen.yaml"
    proc = run_cli("size", str(folder), "--repo", "Qwen/Qwen3-8B", "--context", "8192",
                   "--write", str(target))
    assert proc.returncode == 0, proc.stderr
    kept = target.parent / "models" / "qwen3-8b.yaml"  # named for the model, as shipped ones are
    assert read_spec(target).facts["num_hidden_layers"] == 36
    assert read_spec(target).spec["model"]["facts"] == "models/qwen3-8b.yaml"
    assert f"-o {kept}" in kept.read_text()  # the regenerate command, not the temporary folder
    wrote = [line.split()[1].rstrip(":") for line in proc.stderr.splitlines() if line.startswith("wrote ")]
    assert wrote == [str(kept), str(target)]
    again = run_cli("size", str(folder), "--repo", "Qwen/Qwen3-8B", "--context", "8192",
                    "--write", str(target.parent / "again.yaml"))
    assert again.returncode == 0, again.stderr
    assert sorted(p.name for p in kept.parent.iterdir()) == ["qwen3-8b.yaml"]  # the same facts, reused


def test_a_facts_file_of_the_same_name_is_never_overwritten(tmp_path):
    folder = tmp_path / "Qwen3-8B"
    folder.mkdir()
    (folder / "config.json").write_text((MODELS / "qwen3-8b.config.json").read_text())
    mine = tmp_path / "specs" / "models" / "qwen3-8b.yaml"
    mine.parent.mkdir(parents=True)
    mine.write_text("# my own facts\n")
    proc = run_cli("size", str(folder / "config.json"), "--repo", "Qwen/Qwen3-8B", "--context",
                   "8192", "--write", str(tmp_path / "specs" / "qwen.yaml"))
    assert proc.returncode == 0, proc.stderr
    assert mine.read_text() == "# my own facts\n"
    assert read_spec(tmp_path / "specs" / "qwen.yaml").spec["model"]["facts"] == "models/qwen3-8b-2.yaml"



def test_the_readme_table_is_what_size_prints_now(glm):
    readme = (ROOT / "README.md").read_text()
    block = readme.split("$ servespec size glm-5.1-fp8 --context 131072 --concurrency 32\n")[1]
    block = block.split("```")[0].strip().splitlines()
    printed = report.to_text(glm).splitlines()
    assert block == printed[2:2 + len(block)], "README's table is stale: paste the new output"
