"""`servespec render --resolve`: each rendered argv resolved by the pinned SGLang release's own
code, written as rendered/<name>/sglang.resolved.json.

The specs of one release go to one process: the release's env (tools/sglang-env.sh) with its
resolve overlay (tools/sglang-overlay-env.sh resolve VERSION) runs renderer/engine/resolution.py,
which answers for every case at once. renderer/resolve/sglang_resolved.py builds each request and
its digest; this module runs them, turns each answer into the artifact, and turns a resolution
that raises into one sentence naming the spec, the field and SGLang's own message.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path

from renderer import catalog, paths
from renderer.pipeline import SpecReport
from renderer.resolve import sglang_args, sglang_resolved
from renderer.resolve.sglang_resolved import Inputs

HARNESS = paths.ENGINE / "resolution.py"
TIMEOUT_S = 600  # one process per release; all shipped specs take well under a minute


# What the resolution could not know on this machine, said in every artifact
# (renderer/engine/stand_in.py does the standing in).
STAND_INS = {
    "gpu": "torch's device queries and nvidia-smi answer with the figures under inputs.gpu",
    "kernel_packages": [],
    "image_packages": "exactly the distributions the sglang wheel requires; a package it probes "
                      "but does not require (triton_kernels in srt/utils/common.py "
                      "is_triton_kernels_available, mooncake in srt/arg_groups/model_path_hook.py) counts "
                      "as absent",
    "nvidia_driver": "unknown here: SGLang reads version (0,)",
}


class ResolutionError(Exception):
    """SGLang refused a deployment, or could not be asked; the message is one sentence."""


def environment(version: str) -> tuple[str, dict]:
    """The python of the release's env and the environment that puts its resolve overlay first."""
    python, overlay = paths.sglang_python(version), paths.sglang_overlay(version, "resolve")
    if not python.is_file() or not overlay.is_dir():
        raise ResolutionError(
            f"no SGLang {version} resolution environment under {paths.sglang_env_root()}: run "
            f"`bash tools/sglang-overlay-env.sh resolve {version}` (`make envs` builds it)")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(overlay)
    return str(python), env


def ask(version: str, cases: list[dict]) -> dict:
    """One run of the resolution code of `version` for every case; its answer (raises
    ResolutionError when the process itself fails: a broken env, not a refused spec)."""
    python, env = environment(version)
    with tempfile.TemporaryDirectory(prefix="servespec-resolve-") as tmp:
        request = Path(tmp) / "request.json"
        request.write_text(json.dumps({"cases": cases}), encoding="utf-8")
        try:
            proc = subprocess.run([python, "-W", "ignore", str(HARNESS), str(request)], env=env,
                                  capture_output=True, text=True, timeout=TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired:
            raise ResolutionError(f"SGLang {version}'s resolution did not finish in {TIMEOUT_S} s") from None
    if proc.returncode != 0 or not proc.stdout.strip():
        tail = " ".join(proc.stderr.strip().splitlines()[-3:]) or f"exit status {proc.returncode}"
        raise ResolutionError(f"SGLang {version}'s resolution code did not run: {tail}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def resolve_reports(reports: list[SpecReport]) -> dict[str, str | ResolutionError | None]:
    """rendered/<name>/sglang.resolved.json text per spec; a ResolutionError where SGLang refused
    it or could not be asked; None where the spec cannot be resolved (no config.json known)."""
    out: dict[str, str | ResolutionError | None] = {}
    by_version: dict[str, list[tuple[SpecReport, Inputs]]] = {}
    for report in reports:
        wanted = sglang_resolved.inputs(report.doc, report.spec, report.deployment)
        if isinstance(wanted, str):
            out[report.name] = None
            continue
        by_version.setdefault(wanted.version, []).append((report, wanted))
    for version, group in sorted(by_version.items()):
        try:
            answer = ask(version, [wanted.case for _, wanted in group])
        except ResolutionError as error:
            out.update({report.name: error for report, _ in group})
            continue
        for (report, wanted), case in zip(group, answer["cases"]):
            out[report.name] = (artifact(report, wanted, answer, case) if case["ok"]
                                else ResolutionError(refusal(report, case)))
    return out


# --- a refusal, as one sentence --------------------------------------------------------------


def refusal(report: SpecReport, case: dict) -> str:
    """'<file>:<line>:<col>: <field>: SGLang <v> refuses to start: <its message> (<where>)'."""
    error = case["error"]
    field = error_field(report, error)
    where = report.doc.position(field) if field else f"{report.path}"
    name = ".".join(str(k) for k in field) + ": " if field else ""
    message = " ".join(error["message"].split())
    return (f"{where}: {name}SGLang {report.deployment.sglang_version} refuses to start this "
            f"deployment: {message} ({error['file']} {error['function']})")


def error_field(report: SpecReport, error: dict) -> tuple | None:
    """The spec field behind a refusal: the model whose ModelConfig failed, else the first
    rendered option whose flag or field name SGLang's message mentions."""
    stage = error.get("stage") or ""
    if stage.endswith("(draft)"):
        return ("speculative", "draft", "repo")
    if stage.endswith("(target)"):
        return ("model", "repo")
    flags = sglang_args.table(report.spec["engine"]["version"])["flags"]
    for option in report.deployment.options:
        flag = flags.get(option.name, "")
        if flag and (flag in error["message"] or flag.lstrip("-").replace("-", "_") in error["message"]):
            return option.path
    return None


# --- the artifact -----------------------------------------------------------------------------


def artifact(report: SpecReport, wanted: Inputs, answer: dict, case: dict) -> str:
    """The text of rendered/<name>/sglang.resolved.json for one resolved case."""
    from renderer.render.artifacts import source_name

    table = catalog.sglang_resolution()["versions"][wanted.version]
    values = case["values"]
    body = {
        "_generated": (
            f"What SGLang {answer['sglang']}'s own resolution code makes of sglang.args, for "
            f"{source_name(report)}: written by `servespec render --resolve` (`make resolved`), "
            "in the env `make envs` builds. Do not edit; `servespec render --verify` fails when "
            "its inputs (the digest below) no longer match the spec."),
        "sglang": answer["sglang"],
        "inputs": {"digest": wanted.digest, "argv": f"{report.deployment.rendered_dir}/sglang.args",
                   "configs": wanted.configs, "gpu": wanted.case["gpu"],
                   "env": wanted.case["env"]},
        "stand_ins": STAND_INS | {"kernel_packages": answer["stubs"]},
        "resolved": values,
        "per_rank": per_rank(values, table, wanted.version),
        "changed": [_change(c) for c in case["changes"]],
        "log": [_log(entry) for entry in case["log"]],
        "model": case["model"],
    }
    return dumps(body) + "\n"


def per_rank(values: dict, table: dict, version: str) -> dict:
    """What each attention-DP rank works with (catalog/sglang_resolution.yaml per_rank)."""
    dp_spec = table["attention_dp"]
    ranks = int(values.get(dp_spec["size"]) or 1)
    if dp_spec.get("when") and not values.get(dp_spec["when"]):
        ranks = 1
    rule = catalog.sglang_resolution()["per_rank"]["running_requests"]
    running = values.get(rule["divide"])
    graphs = values.get("cuda_graph_config") or {}
    decode_max_bs = (graphs.get("decode") or {}).get("max_bs") if graphs else values.get("cuda_graph_max_bs")
    return {"attention_dp_ranks": ranks,
            "chunked_prefill_size": values.get("chunked_prefill_size"),
            "max_running_requests": max(rule["floor"], running // ranks) if running else None,
            "decode_cuda_graph_max_bs": decode_max_bs,
            "source": f"sglang {version} {table['where']['running_requests_per_rank']}"}


def _change(change: dict) -> dict:
    steps = []
    for step in change["steps"]:
        by = f"{step['file']} {step['function']}"
        helper = step.get("source")
        if helper and helper.lstrip("_") != step["function"].lstrip("_"):
            by += f" ({step.get('source_file', step['file'])} {helper})"
        steps.append({"value": step["value"], "by": by})
    return {"field": change["field"], "argv": change["from"], "resolved": change["to"],
            "steps": steps}


def _log(entry: dict) -> dict:
    where = f"{entry['file']} {entry['function']}" if entry.get("function") else entry["file"]
    return {"level": entry["level"], "message": entry["message"].strip(), "at": where}


def dumps(value, indent: int = 0) -> str:
    """JSON with two-space indents, lists of plain values on one line (graph batch sizes)."""
    pad, inner = "  " * indent, "  " * (indent + 1)
    if isinstance(value, dict) and value:
        items = [f"{inner}{json.dumps(k)}: {dumps(v, indent + 1)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + f"\n{pad}}}"
    if isinstance(value, list) and value and any(isinstance(v, (dict, list)) for v in value):
        return "[\n" + ",\n".join(inner + dumps(v, indent + 1) for v in value) + f"\n{pad}]"
    return json.dumps(value, ensure_ascii=False)


# --- render --verify ----------------------------------------------------------------------------


def verify(report: SpecReport, root: Path | str = paths.RENDERED_DIR) -> str | None:
    """Why rendered/<name>/sglang.resolved.json does not describe this spec's deployment, in one
    sentence; None when it does (or the spec cannot be resolved and has none). Needs no SGLang."""
    found = sglang_resolved.read(report.name, root)
    wanted = sglang_resolved.inputs(report.doc, report.spec, report.deployment)
    why = sglang_resolved.staleness(found, wanted)
    if why is None:
        return None
    target = sglang_resolved.artifact_path(report.name, root).as_posix()
    return (f"{target}: STALE: {why}; run `make resolved` (SGLang's own resolution, in the env "
            "`make envs` builds) and commit the result")
