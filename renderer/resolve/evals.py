"""What `servespec eval` will run for a spec: its settings, the pinned release's evaluation
module, and each task's arguments and expectation. Read by the eval rules, the steps and the
command (renderer/operate/evals.py) alike, so all three see the same tasks.

Every argument is an option of the pinned release's own module (`python -m sglang.test.run_eval`
in 0.5.23 and 0.5.10: test/run_eval.py's __main__ parser); renderer/catalog/eval.yaml says which
tasks each release scores and which option reads a task's data from a file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from renderer import catalog

REMOTE_FUNCTION = "eval_endpoint"  # the jobs app's CPU function that runs the module
# Set only for a `servespec eval` run: the jobs app then copies the proxy token into the eval
# function's Secret; a plain deploy stores no token in the app.
REMOTE_FLAG_VAR = "SERVESPEC_EVAL"


class NoEvalModule(Exception):
    """The spec's SGLang version has no evaluation module servespec knows how to run."""


@dataclass(frozen=True)
class Expectation:
    score: float
    tolerance: float
    source: str
    origin: str  # "spec" or "catalog"

    @property
    def floor(self) -> float:
        return self.score - self.tolerance

    def to_json(self) -> dict:
        return {"score": self.score, "tolerance": self.tolerance, "floor": round(self.floor, 6),
                "source": self.source, "from": self.origin}


@dataclass(frozen=True)
class Task:
    name: str
    examples: int
    argv: tuple[str, ...]
    expect: Expectation | None
    data_option: str | None


def settings(spec: dict) -> dict:
    """The spec's eval section over the catalog defaults (tasks replace as a whole)."""
    merged = dict(catalog.evals()["defaults"])
    merged.update({k: v for k, v in (spec.get("eval") or {}).items() if v is not None})
    return merged


def module_of(version: str) -> dict:
    """The catalog entry of `version`'s evaluation module, or NoEvalModule saying why not."""
    modules = catalog.evals()["modules"]
    if version not in modules:
        raise NoEvalModule(
            f"servespec knows no evaluation module of SGLang {version}: it runs "
            f"sglang.test.run_eval of {', '.join(sorted(modules))} (renderer/catalog/eval.yaml); "
            "pin one of those in engine.version or add the release to that table")
    return modules[version]


def task_entries(spec: dict) -> list[dict]:
    """The spec's tasks as objects ({"name": ...}), in order; the catalog's when it names none."""
    return [t if isinstance(t, dict) else {"name": t} for t in settings(spec)["tasks"]]


def catalog_expectation(spec: dict, task: str) -> Expectation | None:
    repo = spec["model"]["repo"]
    for entry in catalog.evals()["expectations"]:
        if entry["task"] == task and repo in entry["repos"]:
            return Expectation(entry["score"], entry["tolerance"], entry["source"], "catalog")
    return None


def expectation(spec: dict, entry: dict) -> Expectation | None:
    own = entry.get("expect")
    if own:
        return Expectation(own["score"], own["tolerance"], own["source"], "spec")
    return catalog_expectation(spec, entry["name"])


def served_model(spec: dict) -> str:
    return spec["model"].get("served_name") or spec["model"]["repo"]


def common_argv(spec: dict) -> list[str]:
    """The options every task of the run shares."""
    conf = settings(spec)
    argv = ["--model", served_model(spec), "--api", conf["api"],
            "--num-threads", str(conf["threads"])]
    if conf.get("max_tokens") is not None:
        argv += ["--max-tokens", str(conf["max_tokens"])]
    if conf.get("temperature") is not None:
        argv += ["--temperature", repr(float(conf["temperature"]))]
    if conf.get("chat_template_kwargs"):
        argv += ["--chat-template-kwargs", json.dumps(conf["chat_template_kwargs"], sort_keys=True)]
    if conf.get("thinking_mode"):
        argv += ["--thinking-mode", conf["thinking_mode"]]
    return argv


def tasks(spec: dict) -> list[Task]:
    """Each task the module knows, with its arguments (tasks it does not know are left out here:
    rule SS250 names them, and `servespec eval` refuses to run them)."""
    module = module_of(spec["engine"]["version"])
    conf = settings(spec)
    out = []
    for entry in task_entries(spec):
        known = module["tasks"].get(entry["name"])
        if known is None:
            continue
        examples = entry.get("examples") or conf["examples"]
        argv = ["--eval-name", entry["name"], "--num-examples", str(examples), *common_argv(spec)]
        if known.get("seed_option") and conf.get("seed") is not None:
            argv += [known["seed_option"], str(conf["seed"])]
        out.append(Task(entry["name"], examples, tuple(argv), expectation(spec, entry),
                        known.get("data_option")))
    return out


def unknown_tasks(spec: dict) -> list[tuple[int, str, str]]:
    """(index, task, why) for each task the pinned module does not score."""
    try:
        module = module_of(spec["engine"]["version"])
    except NoEvalModule:
        return []
    version = spec["engine"]["version"]
    found = []
    for i, entry in enumerate(task_entries(spec)):
        name = entry["name"]
        if name in module["tasks"]:
            continue
        why = (module.get("elsewhere") or {}).get(name) or (
            f"sglang {version}'s run_eval has no task '{name}'")
        found.append((i, name, f"{why}; its tasks: {', '.join(module['tasks'])}"))
    return found


def template_context(spec: dict) -> dict:
    """What the jobs app's eval function needs (the render stage adds it to its context)."""
    from renderer.resolve import edge

    proxy = edge.from_spec(spec)
    return {"timeout": settings(spec)["timeout"], "flag_env": REMOTE_FLAG_VAR,
            "proxy_env": proxy.names if proxy else [], "function": REMOTE_FUNCTION}
