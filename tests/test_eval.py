"""`servespec eval` runs the REAL `python -m sglang.test.run_eval` of the pinned 0.5.23 wheel
against a real local server, on a dataset the test makes.

What is real: run_eval's own parser, sampler and GSM8K scorer from the wheel (the parser env of
tools/sglang-env.sh with the bench and eval overlays of tools/sglang-overlay-env.sh, on CPU), the
data file handed to it through its own --gsm8k-data-path, the OpenAI-compatible server the smoke
tests use (`transformers serve` on a tiny model built from scratch, tests/test_smoke.py), and
servespec's CLI and records.

The tiny "plain" model always answers "Hello! How can I help you today?": no number in it, so
run_eval's scorer extracts its INVALID value (-9999999, test/simple_eval_mixed_prefix_gsm8k.py
get_answer_value) and compares it with the reference answer. The test writes K of the N
questions with the reference answer "#### -9999999", which that scorer counts as answered, and
the rest with ordinary numbers, so the score the module reports must be exactly K/N: a score
that differed would mean the data never reached the module or the module scored something
else. Expectations just under and well above K/N then give exit 0 and exit 1.

What stands in: Modal's edge (tests/edge_relay.py: 401 unless the proxy-auth headers arrive; it
drops SGLang's `return_meta_info` field, which `transformers serve` rejects). The Modal function
is not run (Modal's servers are unreachable).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from edge_relay import EdgeRelay
from test_bench import server  # noqa: F401  (pytest fixture: `transformers serve plain`)
from test_smoke import model_dirs  # noqa: F401  (pytest fixture)

from renderer.operate import eval_report
from renderer.resolve import evals

ROOT = Path(__file__).resolve().parents[1]
ENV_ROOT = Path(os.environ.get("SERVESPEC_SGLANG_ENV_ROOT", ROOT / ".cache"))
VERSION = "0.5.23"
TOKEN_ID, TOKEN_SECRET, API_KEY = "wk-planted-e1a5", "ws-planted-0d3f", "sk-planted-5e7b"
HEADERS = {"Modal-Key": TOKEN_ID, "Modal-Secret": TOKEN_SECRET}
SHOTS, QUESTIONS, MATCHING = 5, 10, 4  # score = MATCHING / QUESTIONS = 0.4

TINY = """\
extends: {base}
app: tiny-eval
model:
  served_name: plain
eval:
  threads: 2
  max_tokens: 16
  tasks:
    - name: gsm8k
      examples: {examples}
      expect:
        score: {score}
        tolerance: {tolerance}
        source: test-made data, {matching} of {questions} reference answers are run_eval's INVALID
"""


def gsm8k_file(folder: Path) -> Path:
    """SHOTS few-shot lines (run_eval skips them), then QUESTIONS questions, MATCHING of them with
    the answer the tiny model's number-free reply is scored as."""
    lines = [{"question": f"Shot {i}: what is {i} + 1?", "answer": f"{i} + 1 = {i + 1}\n#### {i + 1}"}
             for i in range(SHOTS)]
    for i in range(QUESTIONS):
        answer = "-9999999" if i < MATCHING else str(100 + i)
        lines.append({"question": f"Question {i}: how many apples are left?",
                      "answer": f"Some working.\n#### {answer}"})
    path = folder / "gsm8k-test.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def write_spec(folder: Path, score: float, tolerance: float, examples: int = QUESTIONS) -> Path:
    path = folder / "tiny-eval.yaml"
    path.write_text(TINY.format(base=ROOT / "specs" / "glm51-fp8-b200.yaml", score=score,
                                tolerance=tolerance, examples=examples, matching=MATCHING,
                                questions=QUESTIONS))
    return path


def run_eval_cli(spec: Path, *extra: str, env_extra: dict | None = None):
    env = {**os.environ, "HOME": str(spec.parent), "SERVESPEC_SGLANG_ENV_ROOT": str(ENV_ROOT),
           "MODAL_PROXY_TOKEN_ID": TOKEN_ID, "MODAL_PROXY_TOKEN_SECRET": TOKEN_SECRET,
           "SGLANG_API_KEY": API_KEY, "HF_HUB_OFFLINE": "1", **(env_extra or {})}
    argv = [sys.executable, "-m", "renderer.cli.main", "eval", str(spec), *extra]
    return subprocess.run(argv, cwd=spec.parent, env=env, capture_output=True, text=True,
                          timeout=600, check=False)


def only(folder: Path, pattern: str) -> Path:
    found = sorted(folder.glob(pattern))
    assert len(found) == 1, found
    return found[0]


@pytest.fixture(scope="module")
def eval_env() -> None:
    proc = subprocess.run(["bash", str(ROOT / "tools" / "sglang-overlay-env.sh"), "eval", VERSION],
                          cwd=ROOT, capture_output=True, text=True, timeout=1800, check=False,
                          env={**os.environ, "SERVESPEC_SGLANG_ENV_ROOT": str(ENV_ROOT)})
    assert proc.returncode == 0, f"tools/sglang-overlay-env.sh eval failed:\n{proc.stdout}\n{proc.stderr}"


def test_real_run_eval_scores_the_test_data_and_names_the_task_below(server, eval_env,  # noqa: F811
                                                                      tmp_path):
    data = gsm8k_file(tmp_path)
    spec = write_spec(tmp_path, score=0.9, tolerance=0.05)
    with EdgeRelay(server.url, HEADERS) as edge:
        proc = run_eval_cli(spec, "--local-url", edge.url, "--data", f"gsm8k={data}")
        accepted, bearers = edge.accepted, edge.bearers
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    assert "task gsm8k scored 0.400 over 10 examples" in proc.stderr
    assert "below the expected 0.900 - 0.050 = 0.850" in proc.stderr
    # Every question went through the edge with the proxy token and the API key.
    assert accepted >= QUESTIONS and bearers == {f"Bearer {API_KEY}"}

    folder = tmp_path / "runs" / "tiny-eval"
    doc = json.loads(only(folder, "eval-*.json").read_text())
    (row,) = doc["tasks"]
    assert doc["module"] == "sglang.test.run_eval" and doc["sglang_version"] == VERSION
    assert row["score"] == pytest.approx(MATCHING / QUESTIONS)
    assert row["examples"] == QUESTIONS and row["verdict"] == "below"
    # The module's own figures are kept whole: it measured latency and output throughput, which
    # it computes only from answers that came back.
    assert row["metrics"]["score"] == row["score"] and row["metrics"]["latency"] > 0
    assert row["metrics"]["output_throughput"] > 0
    assert row["interval"]["low"] < 0.4 < row["interval"]["high"]
    # The module's own per-example report: every question it asked and the answer it scored.
    report = Path(row["report"])
    assert report.is_file() and report.parent.parent == folder
    assert "Question 9: how many apples are left?" in report.read_text()
    assert "Hello! How can I help you today?" in report.read_text()
    # The module got the data file through its own option.
    assert row["argv"][-2:] == ["--gsm8k-data-path", str(data.resolve())]
    records = (tmp_path / "runs" / "tiny-eval.jsonl").read_text()
    assert '"action": "eval"' in records and '"status": "failed"' in records
    for text in (records, only(folder, "eval-*.log").read_text(), proc.stdout, proc.stderr,
                 only(folder, "eval-*.json").read_text()):
        for secret in (TOKEN_ID, TOKEN_SECRET, API_KEY):
            assert secret not in text
    history = subprocess.run([sys.executable, "-m", "renderer.cli.main", "history", str(spec)],
                             cwd=tmp_path, capture_output=True, text=True, check=False)
    assert history.returncode == 0 and "eval" in history.stdout and "gsm8k" in history.stdout


def test_real_run_eval_above_the_expectation_exits_zero(server, eval_env, tmp_path):  # noqa: F811
    data = gsm8k_file(tmp_path)
    spec = write_spec(tmp_path, score=0.45, tolerance=0.1)
    with EdgeRelay(server.url, HEADERS) as edge:
        proc = run_eval_cli(spec, "--local-url", edge.url, "--data", f"gsm8k={data}",
                            "--format", "json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["ok"] and out["failures"] == []
    assert out["tasks"][0]["verdict"] == "met" and out["tasks"][0]["score"] == pytest.approx(0.4)


# --- no environment needed ----------------------------------------------------------------------


def test_wilson_interval_matches_published_values():
    # Newcombe, Statistics in Medicine 17:857 (1998), Table I, method 3 (Wilson score interval).
    for k, n, low, high in ((81, 263, 0.2553, 0.3662), (15, 148, 0.0624, 0.1605),
                            (0, 20, 0.0, 0.1611), (1, 29, 0.0061, 0.1718)):
        got = eval_report.wilson(k / n, n, 0.95)
        assert (round(got[0], 4), round(got[1], 4)) == (low, high), (k, n, got)


def test_a_small_run_below_the_floor_says_chance_could_explain_it():
    task = evals.Task("gsm8k", 20, (), evals.Expectation(0.96, 0.03, "src", "spec"), None)
    row = eval_report.task_row(task, {"task": "gsm8k", "metrics": {"score": 0.9},
                                      "examples": 20, "error": None}, 0.95)
    assert row["verdict"] == "below"
    assert "chance alone could explain it" in eval_report.failure_sentence(row)
    task = evals.Task("gsm8k", 1000, (), evals.Expectation(0.96, 0.03, "src", "spec"), None)
    row = eval_report.task_row(task, {"task": "gsm8k", "metrics": {"score": 0.8},
                                      "examples": 1000, "error": None}, 0.95)
    assert "chance" not in eval_report.failure_sentence(row)


def test_unknown_task_is_refused_with_the_module_tasks(tmp_path):
    spec = tmp_path / "tiny-eval.yaml"
    spec.write_text(f"extends: {ROOT / 'specs' / 'glm51-fp8-b200.yaml'}\napp: tiny-eval\n"
                    "eval:\n  tasks: [gsm8k, mmlu]\n")
    proc = run_eval_cli(spec, "--local-url", "http://127.0.0.1:9")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "task 'mmlu': scored only by sgl-eval in 0.5.23" in proc.stderr
    assert "gsm8k, mixed_prefix_gsm8k" in proc.stderr


def test_data_for_a_task_without_a_data_option_is_refused(tmp_path):
    spec = tmp_path / "tiny-eval.yaml"
    spec.write_text(f"extends: {ROOT / 'specs' / 'glm51-fp8-b200.yaml'}\napp: tiny-eval\n"
                    "eval:\n  tasks: [mgsm_en]\n")
    data = tmp_path / "x.tsv"
    data.write_text("q\ta\n")
    proc = run_eval_cli(spec, "--local-url", "http://127.0.0.1:9", "--data", f"mgsm_en={data}")
    assert proc.returncode == 2 and "has no option for a data file" in proc.stderr
    proc = run_eval_cli(spec, "--data", f"mgsm_en={data}", "--url", "https://x.modal.run")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr


def test_eval_step_comes_after_smoke_and_bench_with_options_eval_accepts():
    from renderer.cli.evals import eval_command
    from renderer.pipeline import read_spec
    from renderer.render.steps import build_steps
    from renderer.resolve.deployment import resolve

    checked = read_spec(ROOT / "specs" / "glm51-fp8-b200.yaml")
    spec = checked.spec
    spec["bench"]["after_deploy"] = True
    spec["eval"]["after_deploy"] = True
    doc = build_steps(resolve(spec, checked.facts, checked.name), "specs/glm51-fp8-b200.yaml")
    assert [s["name"] for s in doc["steps"]][-3:] == ["smoke", "bench", "eval"]
    step = doc["steps"][-1]
    argv = step["commands"][0]["argv"]
    params = eval_command.make_context("eval", argv[2:]).params
    assert params["spec"] == "specs/glm51-fp8-b200.yaml" and params["url"] == "{url}"
    assert step["timeout"] == 3600 + 900  # the catalog's eval timeout + the scheduling margin
    assert "servespec rollback specs/glm51-fp8-b200.yaml" in step["on_failure"]
    spec["eval"]["after_deploy"] = False
    doc = build_steps(resolve(spec, checked.facts, checked.name), "specs/glm51-fp8-b200.yaml")
    assert "eval" not in [s["name"] for s in doc["steps"]]


def test_glm51_specs_carry_a_cited_gsm8k_expectation():
    from renderer.pipeline import read_spec

    for name in ("glm51-fp8-b200", "glm51-fp8-b200-web", "glm51-fp8-h200", "glm51-fp8-h100x2"):
        spec = read_spec(ROOT / "specs" / f"{name}.yaml").spec
        (task,) = evals.tasks(spec)
        assert task.name == "gsm8k" and task.expect.origin == "spec"
        assert task.expect.source.startswith("https://github.com/sgl-project/sglang/pull/30812")
        assert task.expect.floor == pytest.approx(0.93)
        # Thinking off, as the cited figure was measured.
        assert '{"enable_thinking": false}' in task.argv


def test_a_version_without_a_known_module_is_refused_in_one_sentence():
    with pytest.raises(evals.NoEvalModule, match="knows no evaluation module of SGLang 0.5.16"):
        evals.module_of("0.5.16")


def test_modal_mode_runs_the_jobs_function_with_credentials_by_name_only(tmp_path):
    """The stand-in `modal` of the deploy tests (tests/standin_modal.py) answers `modal run` with
    the result line jobs.py's eval_endpoint prints, and echoes environment values, as a leak
    would. Checked: the real modal CLI call, that the proxy token and the API key travel in the
    environment by name (never in argv or the request), and that nothing printed or recorded
    holds them."""
    from renderer.runtime import eval_driver

    spec = write_spec(tmp_path, score=0.9, tolerance=0.05, examples=3)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "modal").write_text(f'#!/bin/sh\nexec "{sys.executable}" '
                                   f'"{ROOT / "tests" / "standin_modal.py"}" modal "$@"\n')
    (bin_dir / "modal").chmod(0o755)
    outcome = {"task": "gsm8k", "metrics": {"score": 1.0, "latency": 2.0}, "examples": 3,
               "error": None}
    line = eval_driver.EVAL_RESULT_MARKER + json.dumps(outcome)
    (tmp_path / "standin.json").write_text(json.dumps({"rules": [
        {"match": "run rendered/tiny-eval/jobs.py::eval_endpoint", "lines": [line],
         "print_env": ["SERVESPEC_EVAL", "MODAL_PROXY_TOKEN_SECRET", "SGLANG_API_KEY"]}]}))
    proc = run_eval_cli(spec, "--url", "https://ws--tiny-eval.modal.run", env_extra={
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "STANDIN_LOG": str(tmp_path / "standin.log"),
        "STANDIN_CONFIG": str(tmp_path / "standin.json")})
    assert proc.returncode == 0, proc.stderr
    argv = json.loads((tmp_path / "standin.log").read_text().splitlines()[0])["argv"]
    assert argv[:3] == ["run", "rendered/tiny-eval/jobs.py::eval_endpoint", "--request"]
    request = json.loads(argv[3])
    assert request["base_url"] == "https://ws--tiny-eval.modal.run"
    assert request["module"] == "sglang.test.run_eval"
    assert request["header_env"] == {"Modal-Key": "MODAL_PROXY_TOKEN_ID",
                                     "Modal-Secret": "MODAL_PROXY_TOKEN_SECRET"}
    assert request["api_key_env"] == "SGLANG_API_KEY"
    (task,) = request["tasks"]
    assert task["argv"][:4] == ["--eval-name", "gsm8k", "--num-examples", "3"]
    assert "--gsm8k-data-path" not in task["argv"]  # on Modal the module downloads its data
    log = only(tmp_path / "runs" / "tiny-eval", "eval-*.log").read_text()
    assert "SERVESPEC_EVAL=1" in log and "MODAL_PROXY_TOKEN_SECRET=***" in log
    for text in (log, proc.stdout, proc.stderr, " ".join(argv),
                 only(tmp_path / "runs" / "tiny-eval", "eval-*.json").read_text()):
        for secret in (TOKEN_ID, TOKEN_SECRET, API_KEY):
            assert secret not in text


def test_the_real_modal_cli_knows_the_eval_function_and_its_option(tmp_path):
    """`modal run jobs.py::eval_endpoint --help` imports the rendered jobs app with the real
    modal 1.6.4 CLI (no token needed for --help) and lists the option servespec passes."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODAL_")}
    proc = subprocess.run([str(Path(sys.executable).with_name("modal")), "run",
                           f"rendered/glm51-fp8-b200/jobs.py::{evals.REMOTE_FUNCTION}", "--help"],
                          cwd=ROOT, env={**env, "HOME": str(tmp_path)}, capture_output=True,
                          text=True, timeout=180, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "--request TEXT" in proc.stdout and "[required]" in proc.stdout


def test_driver_and_runner_agree_on_the_result_marker():
    from renderer.operate import evals as operate_evals
    from renderer.runtime import eval_driver

    assert eval_driver.EVAL_RESULT_MARKER == operate_evals.MARKER


@pytest.mark.parametrize("spec_file,floor", [("examples/llama-3.1-8b-eagle3-h100.yaml", 0.80),
                                             ("examples/qwen3-8b-l40s.yaml", 0.76)])
def test_a_spec_without_expectations_takes_the_catalog_one_for_its_model(spec_file, floor):
    """SGLang's own nightly run_eval thresholds (renderer/catalog/eval.yaml cites the files)."""
    from renderer.pipeline import read_spec

    spec = read_spec(ROOT / "specs" / spec_file).spec
    (task,) = evals.tasks(spec)
    assert task.expect.origin == "catalog" and task.expect.floor == pytest.approx(floor)
    assert "github.com/sgl-project/sglang/blob/" in task.expect.source
    # A model the catalog does not know gets no expectation: the score is only recorded.
    spec["model"]["repo"] = "example-org/unknown-model"
    assert evals.tasks(spec)[0].expect is None
