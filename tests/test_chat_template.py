"""The chat template fact and rule SS222: `servespec model-facts` reads the templates beside
config.json (tokenizer_config.json chat_template, string or list; chat_template.json;
chat_template.jinja) and writes chat_template_reasoning; a reasoning parser on a model whose
template is known to be plain warns at engine.reasoning_parser.

The templates below are one-line stand-ins written in the form of each family's marker-bearing
lines (the Hub files they follow are named in renderer/catalog/chat_templates.yaml).
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import facts_configs as fc
import pytest
from conftest import ROOT, findings_of, run_cli

from renderer import catalog
from renderer.facts import generate as model_facts
from renderer.facts import template as chat_template
from renderer.spec.load import load_file

OFFLINE = {"HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1"}
REPO = "Qwen/Qwen2.5-72B-Instruct"
FIXTURES = ROOT / "tests" / "fixtures" / "rules"
FACTS_FIXTURE = FIXTURES / "models" / "qwen2.5-72b-instruct.yaml"

CHATML = ("{%- for message in messages %}{{- '<|im_start|>' + message.role + '\\n' + "
          "message.content + '<|im_end|>\\n' }}{%- endfor %}"
          "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}")
QWEN3 = CHATML + ("{%- if enable_thinking is defined and enable_thinking is false %}"
                  "{{- '<think>\\n\\n</think>\\n\\n' }}{%- endif %}")
R1_FIRST = "{% if '</think>' in content %}{% set content = content.split('</think>')[-1] %}{% endif %}"
HARMONY = ("{{- '<|start|>assistant<|channel|>analysis<|message|>' + message.thinking + '<|end|>' }}"
           "{{- '<|start|>assistant<|channel|>final<|message|>' + message.content + '<|end|>' }}")
GLM = "<|assistant|>{{- '\\n<think></think>' if (enable_thinking is defined and not enable_thinking) else '' -}}"
HARMONY_SYSTEM = "{{- 'Reasoning: ' + reasoning_effort + '\\n\\n' }}"
LLAMA = ("{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + "
         "message['content'] | trim + '<|eot_id|>' }}")


def checkpoint(tmp_path: Path, **files) -> Path:
    """A folder with config.json and the given files: a dict is written as JSON, a str as is."""
    folder = tmp_path / "checkpoint"
    folder.mkdir(exist_ok=True)
    (folder / "config.json").write_text(json.dumps(fc.QWEN25_72B))
    for name, content in files.items():
        text = json.dumps(content) if isinstance(content, dict) else content
        (folder / name.replace("__", ".")).write_text(text)
    return folder


def model_facts_of(tmp_path: Path, source: Path) -> tuple[dict, str]:
    out = tmp_path / "facts.yaml"
    proc = run_cli("model-facts", str(source), "--repo", REPO, "-o", str(out), env=OFFLINE)
    assert proc.returncode == 0, proc.stderr
    return load_file(out).data, out.read_text()


def comment_of(text: str) -> str:
    [line] = [ln for ln in text.splitlines() if ln.startswith("chat_template_reasoning:")]
    return line.split("#", 1)[1].strip()


# --- the fact ----------------------------------------------------------------------------------


def test_a_thinking_template_in_tokenizer_config_is_a_reasoning_template(tmp_path):
    facts, text = model_facts_of(tmp_path, checkpoint(
        tmp_path, tokenizer_config__json={"chat_template": QWEN3, "eos_token": "<|im_end|>"}))
    assert facts["chat_template_reasoning"] is True
    comment = comment_of(text)
    assert comment.startswith("<think>, </think>, thinking in tokenizer_config.json chat_template")
    assert "catalog/chat_templates.yaml" in comment


def test_a_plain_template_is_not(tmp_path):
    facts, text = model_facts_of(tmp_path, checkpoint(
        tmp_path, tokenizer_config__json={"chat_template": CHATML}))
    assert facts["chat_template_reasoning"] is False
    assert comment_of(text) == ("no reasoning marker of catalog/chat_templates.yaml in"
                                " tokenizer_config.json chat_template")


@pytest.mark.parametrize("files", [{}, {"tokenizer_config__json": {"eos_token": "<|im_end|>"}},
                                   {"tokenizer_config__json": {"chat_template": "  "}}],
                         ids=["no-file", "no-key", "blank"])
def test_no_template_leaves_the_fact_out(files, tmp_path):
    facts, text = model_facts_of(tmp_path, checkpoint(tmp_path, **files))
    assert "chat_template_reasoning" not in facts and "chat_template_reasoning" not in text
    assert facts["repo"] == REPO  # the rest of the facts are written as before


def test_every_template_of_a_list_is_read(tmp_path):
    """A list of {name, template}: a plain default with a thinking variant still reasons."""
    plain = [{"name": "default", "template": CHATML}, {"name": "tool_use", "template": LLAMA}]
    facts, text = model_facts_of(tmp_path, checkpoint(
        tmp_path, tokenizer_config__json={"chat_template": plain}))
    assert facts["chat_template_reasoning"] is False
    assert "chat_template 'default', tokenizer_config.json chat_template 'tool_use'" in text
    mixed = [plain[0], {"name": "thinking", "template": GLM}]
    facts, text = model_facts_of(tmp_path, checkpoint(
        tmp_path, tokenizer_config__json={"chat_template": mixed}))
    assert facts["chat_template_reasoning"] is True
    assert comment_of(text).startswith("<think>, </think>, thinking in tokenizer_config.json"
                                       " chat_template 'thinking' (")


def test_the_chat_template_jinja_file(tmp_path):
    """gpt-oss keeps its template in chat_template.jinja: the harmony analysis channel."""
    facts, text = model_facts_of(tmp_path, checkpoint(tmp_path, chat_template__jinja=HARMONY))
    assert facts["chat_template_reasoning"] is True
    assert comment_of(text).startswith("thinking, <|channel|>analysis in chat_template.jinja")
    (tmp_path / "checkpoint" / "chat_template.jinja").write_text(LLAMA)
    facts, _ = model_facts_of(tmp_path, tmp_path / "checkpoint")
    assert facts["chat_template_reasoning"] is False


def test_chat_template_json_and_a_plain_tokenizer_config_together(tmp_path):
    """Every file is read: a plain tokenizer_config.json template beside a reasoning
    chat_template.json (as processors save it) is a reasoning model."""
    facts, text = model_facts_of(tmp_path, checkpoint(
        tmp_path, tokenizer_config__json={"chat_template": CHATML},
        chat_template__json={"chat_template": HARMONY_SYSTEM}))
    assert facts["chat_template_reasoning"] is True
    assert "reasoning_effort in chat_template.json chat_template" in text


def test_a_config_json_file_reads_no_template_beside_it(tmp_path):
    """A bare config.json file (how specs/models/*.config.json are read) is config.json alone:
    the shipped facts regenerate from it unchanged."""
    folder = checkpoint(tmp_path, tokenizer_config__json={"chat_template": QWEN3})
    named = folder / "qwen.config.json"
    named.write_text((folder / "config.json").read_text())
    facts, _ = model_facts_of(tmp_path, named)
    assert "chat_template_reasoning" not in facts


def test_an_unreadable_tokenizer_config_is_one_sentence(tmp_path):
    proc = run_cli("model-facts", str(checkpoint(tmp_path, tokenizer_config__json="{not json")),
                   "--repo", REPO, env=OFFLINE)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "tokenizer_config.json is not readable JSON" in proc.stderr


def test_the_hub_path_reads_the_templates_it_finds_and_skips_the_absent(tmp_path):
    """Through huggingface_hub (offline, a local_dir): tokenizer_config.json there,
    chat_template.json and chat_template.jinja absent, and nothing fails."""
    folder = checkpoint(tmp_path, tokenizer_config__json={"chat_template": R1_FIRST})
    facts = model_facts.facts_from_repo(REPO, local_dir=folder, offline=True)
    assert facts["chat_template_reasoning"] is True
    (folder / "tokenizer_config.json").unlink()
    facts = model_facts.facts_from_repo(REPO, local_dir=folder, offline=True)
    assert "chat_template_reasoning" not in facts


@pytest.mark.parametrize("text,reasons", [
    (QWEN3, True), (R1_FIRST, True), (GLM, True), (HARMONY, True), (HARMONY_SYSTEM, True),
    (CHATML, False), (LLAMA, False), ("<THINK>", True)],
    ids=["qwen3", "deepseek-r1", "glm-4.5", "gpt-oss", "gpt-oss-system", "chatml", "llama-3.1",
         "case"])
def test_markers_on_each_family(text, reasons):
    assert chat_template.reasoning([("t", text)])[0] is reasons


def test_the_marker_table_names_its_sources():
    table = catalog.chat_templates()
    rows = table["reasoning_markers"]
    assert {"<think>", "thinking", "reasoning_content", "<|channel|>analysis"} <= \
        {row["marker"] for row in rows}
    for row in rows:
        assert row["why"] and row["seen_in"], row["marker"]
        assert all(s.startswith("https://huggingface.co/") for s in row["seen_in"]), row["marker"]
    assert all(s.startswith("https://huggingface.co/") for s in table["plain_templates"])


def test_the_rule_fixture_facts_are_what_model_facts_writes(tmp_path):
    """tests/fixtures/rules/models/qwen2.5-72b-instruct.yaml is its header's command, run again."""
    header = next(ln for ln in FACTS_FIXTURE.read_text().splitlines()
                  if ln.startswith("# Regenerate rather than edit: "))
    argv = shlex.split(header.removeprefix("# Regenerate rather than edit: "))
    out = tmp_path / "again.yaml"
    argv[argv.index("-o") + 1] = str(out)
    proc = run_cli(*argv[1:], env=OFFLINE)
    assert proc.returncode == 0, proc.stderr
    written = out.read_text().replace(str(out), str(FACTS_FIXTURE.relative_to(ROOT)))
    assert written == FACTS_FIXTURE.read_text()
    assert json.loads((FACTS_FIXTURE.with_suffix("") / "config.json").read_text()) == fc.QWEN25_72B


# --- rule SS222 --------------------------------------------------------------------------------


def test_a_plain_template_with_a_reasoning_parser_warns_at_the_field():
    spec = FIXTURES / "SS222-trip.yaml"
    proc = run_cli("validate", str(spec.relative_to(ROOT)))
    assert proc.returncode == 0, proc.stderr  # a warning, not an error
    [line] = [ln for ln in proc.stderr.splitlines() if ln.endswith("[SS222]")]
    number, text = next((i, ln) for i, ln in enumerate(spec.read_text().splitlines(), 1)
                        if ln.lstrip().startswith("reasoning_parser:"))
    column = text.index("qwen3") + 1
    assert line.startswith(f"tests/fixtures/rules/SS222-trip.yaml:{number}:{column}: warning:"
                           " engine.reasoning_parser: reasoning_parser qwen3 is set")
    assert "chat_template_reasoning: false in tests/fixtures/rules/models/qwen2.5-72b-instruct.yaml" \
        in line
    assert "`servespec smoke --reasoning`" in line and "reasoning_content" in line
    assert "hint [SS222]: " in proc.stderr and "Drop engine.reasoning_parser" in proc.stderr


@pytest.mark.parametrize("fact", ["chat_template_reasoning: true", None], ids=["true", "unknown"])
def test_a_reasoning_or_unknown_template_does_not_warn(fact, tmp_path):
    lines = FACTS_FIXTURE.read_text().splitlines()
    kept = [(fact if ln.startswith("chat_template_reasoning:") else ln) for ln in lines]
    (tmp_path / "facts.yaml").write_text("\n".join(ln for ln in kept if ln is not None) + "\n")
    spec = tmp_path / "spec.yaml"
    spec.write_text(f"extends: {FIXTURES / 'SS222-trip.yaml'}\nmodel:\n  facts: facts.yaml\n")
    code, findings = findings_of(str(spec))
    assert code == 0, findings
    assert findings and not [f for f in findings if f["rule"] == "SS222"]
    # the same spec with the fact false warns: the rule reads this facts file
    (tmp_path / "facts.yaml").write_text(FACTS_FIXTURE.read_text())
    assert [f["rule"] for f in findings_of(str(spec))[1]].count("SS222") == 1
