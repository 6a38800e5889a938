"""What `servespec bench` runs: the workloads (spec `bench.workloads`, else
servespec/catalog/bench.yaml) as one SGLang benchmark run ("cell") per workload and concurrency,
each an argument list for `python -m sglang.benchmark.serving` (sglang 0.5.23
benchmark/serving.py). Pure; shared by servespec/bench.py and the bench rules (rules_bench.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from . import catalog

BACKENDS = {"chat": "sglang-oai-chat", "completions": "sglang-oai"}


@dataclass
class Cell:
    workload: str
    dataset: str
    concurrency: int
    argv: list[str]

    @property
    def key(self) -> str:
        return f"{self.workload}@{self.concurrency}"


def settings(spec: dict) -> dict:
    """The spec's bench section over the catalog defaults (workloads replace as a whole)."""
    merged = dict(catalog.bench())
    merged.update({k: v for k, v in (spec.get("bench") or {}).items() if v is not None})
    return merged


def served_model(spec: dict) -> str:
    return spec["model"].get("served_name") or spec["model"]["repo"]


def cells(spec: dict) -> list[Cell]:
    conf = settings(spec)
    common = ["--backend", BACKENDS[conf["api"]], "--model", served_model(spec),
              "--warmup-requests", str(conf["warmup_requests"]), "--disable-tqdm", "--seed", "1"]
    out = []
    for workload in conf["workloads"]:
        for concurrency in workload["concurrencies"]:
            args = [*common, "--dataset-name", workload["dataset"],
                    "--max-concurrency", str(concurrency),
                    "--tag", f"{workload['name']}@{concurrency}"]
            args += dataset_args(workload, concurrency)
            out.append(Cell(workload["name"], workload["dataset"], concurrency, args))
    return out


def prompt_count(workload: dict, concurrency: int) -> int:
    if workload["dataset"] == "generated-shared-prefix":
        return workload["groups"] * workload["prompts_per_group"]
    return max(workload["min_prompts"], workload["prompts_per_concurrency"] * concurrency)


def dataset_args(workload: dict, concurrency: int) -> list[str]:
    if workload["dataset"] == "random-ids":
        # --random-range-ratio defaults to 0.0 (lengths uniform in 1..N); 1.0 fixes them.
        return ["--random-input-len", str(workload["input_len"]),
                "--random-output-len", str(workload["output_len"]),
                "--random-range-ratio", "1.0",
                "--num-prompts", str(prompt_count(workload, concurrency))]
    return ["--gsp-num-groups", str(workload["groups"]),
            "--gsp-prompts-per-group", str(workload["prompts_per_group"]),
            "--gsp-system-prompt-len", str(workload["system_prompt_len"]),
            "--gsp-question-len", str(workload["question_len"]),
            "--gsp-output-len", str(workload["output_len"]),
            "--num-prompts", str(prompt_count(workload, concurrency))]
