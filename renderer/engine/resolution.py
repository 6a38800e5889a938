"""What a pinned SGLang release resolves a rendered argv to, decided by its own code, on CPU.

Runs inside the SGLang venv of tools/sglang-env.sh (plus the overlay of
tools/sglang-resolve-env.sh): the standard library, sglang and a CPU torch, nothing of ours.

    python resolution.py REQUEST.json            # or - for stdin; one JSON answer on stdout

REQUEST is {"cases": [CASE, ...]}; a CASE is
    {"name": str, "argv": [str, ...],                 # the argv of rendered/<name>/sglang.args
     "models": {"<path in argv>": "<config.json>"},  # each model folder the argv names
     "gpu": {"name", "compute_capability": "9.0", "count", "memory_mib", "cuda_version"},
     "env": {VAR: value},                            # the container's environment for SGLang
     "fields": [field, ...],                         # resolved values to report
     "volatile": [field, ...]}                       # values chosen afresh at every start
and its answer is {"name", "ok", "values", "changes", "log", "model"} or {"name", "ok": false,
"error": {"stage", "message", "function", "file"}}: see answer_case.

Entry points, per release (both: argparse -> resolution -> check_server_args -> the workers'
ModelConfig of the target, then of the draft at the target's context length):
  0.5.23  srt/server_args.py prepare_server_args -> ServerArgs.resolve_once
          (srt/arg_groups/pipeline.py run_resolution_pipeline: each step runs through run_hook or
          run_post_process_pass and declares what it decides) -> check_server_args
          (srt/arg_groups/validation_hook.py) -> srt/configs/model_config.py
          ModelConfig.from_server_args (srt/managers/tp_worker.py _init_model_config; the draft's
          context_length is the target's context_len, srt/speculative/eagle_worker_v2.py).
  0.5.10  srt/server_args.py prepare_server_args -> ServerArgs.__post_init__ (the _handle_*
          methods assign the fields) -> ServerArgs.check_server_args -> ModelConfig.from_server_args
          (the draft at server_args.context_length, srt/managers/tp_worker.py).
Each step's decisions are compared with the values before it, so every value SGLang changes names
the function and file that changed it.

The machine looks like the spec's GPU to SGLang, and GPU-only kernel packages are named stubs:
stand_in.py (beside this file; run as a script, this folder is on sys.path) says how.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import json
import logging
import os
import shutil
import sys
import tempfile
import traceback
import warnings

from stand_in import LogCapture, StubFinder, install_gpu, rel, required_stubs, set_gpu


# --- per-release resolution -----------------------------------------------------------------
class Steps:
    """Decisions recorded step by step: (function, file, source, {field: value})."""

    def __init__(self):
        self.entries: list[tuple[str, str, str, dict]] = []
        self.current: tuple[str, str] | None = None

    def where(self, fn) -> tuple[str, str]:
        fn = getattr(fn, "__wrapped__", fn)
        code = getattr(fn, "__code__", None)
        return getattr(fn, "__name__", repr(fn)), rel(code.co_filename) if code else "?"


def resolve_0_5_23(argv: list[str], steps: Steps):
    """prepare_server_args -> resolve_once (every step traced) -> check_server_args."""
    from sglang.srt.arg_groups import pipeline
    from sglang.srt.server_args import prepare_server_args

    run_hook, run_pass = pipeline.run_hook, pipeline.run_post_process_pass

    def traced(original, fn, server_args):
        steps.current = steps.where(fn)
        before = len(getattr(server_args, "_resolved_overrides", ()) or ())
        original(fn, server_args) if original is run_hook else original(server_args, fn)
        for source, fields in server_args._resolved_overrides[before:]:
            steps.entries.append((*steps.current, source, dict(fields)))

    pipeline.run_hook = lambda fn, sa: traced(run_hook, fn, sa)
    pipeline.run_post_process_pass = lambda sa, fn: traced(run_pass, fn, sa)
    try:
        server_args = prepare_server_args(argv)
        steps.current = ("resolve_once", "srt/server_args.py")
        server_args.resolve_once()
        raw = server_args._raw_input
        steps.current = ("check_server_args", "srt/arg_groups/validation_hook.py")
        server_args.check_server_args()
    finally:
        pipeline.run_hook, pipeline.run_post_process_pass = run_hook, run_pass
    return server_args, raw


def resolve_0_5_10(argv: list[str], steps: Steps):
    """prepare_server_args (whose __post_init__ runs the _handle_* methods) -> check_server_args."""
    import dataclasses

    from sglang.srt import server_args as module

    cls = module.ServerArgs
    names = [f.name for f in dataclasses.fields(cls)]
    originals = {n: getattr(cls, n) for n in vars(cls) if n.startswith("_handle_")}
    seen: list[set] = []

    def wrap(name, method):
        def traced(self, *args, **kwargs):
            before = {n: copy.deepcopy(self.__dict__.get(n)) for n in names}
            seen.append(set())
            steps.current = steps.where(method)
            try:
                return method(self, *args, **kwargs)
            finally:
                inner = seen.pop()
                changed = {n: getattr(self, n) for n in names
                           if n not in inner and getattr(self, n) != before[n]}
                if changed:
                    steps.entries.append((*steps.where(method), name, changed))
                for outer in seen:
                    outer.update(changed, inner)
        return traced

    raw_box = {}
    original_init = cls.__post_init__

    def post_init(self):
        raw_box.update({n: copy.deepcopy(self.__dict__.get(n)) for n in names})
        steps.current = ("__post_init__", "srt/server_args.py")
        original_init(self)

    for name, method in originals.items():
        setattr(cls, name, wrap(name, method))
    cls.__post_init__ = post_init
    try:
        server_args = module.prepare_server_args(argv)
        steps.current = ("check_server_args", "srt/server_args.py")
        server_args.check_server_args()
    finally:
        for name, method in originals.items():
            setattr(cls, name, method)
        cls.__post_init__ = original_init
    return server_args, raw_box


def resolved_values(server_args) -> dict:
    """Every field as SGLang finally runs with it, as plain data."""
    if hasattr(server_args, "resolved_dict"):
        return server_args.resolved_dict()
    import dataclasses

    return {f.name: _plain(getattr(server_args, f.name)) for f in dataclasses.fields(server_args)}


def _plain(value):
    if hasattr(value, "__struct_fields__"):
        return {k: _plain(getattr(value, k)) for k in value.__struct_fields__}
    if hasattr(value, "__dataclass_fields__"):
        return {k: _plain(getattr(value, k)) for k in value.__dataclass_fields__}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


# --- the workers' model configs -------------------------------------------------------------
def model_configs(server_args, version: str, steps: Steps) -> dict:
    """The target's ModelConfig, then the draft's at the target's context length (0.5.23)."""
    from sglang.srt.configs.model_config import ModelConfig

    view = server_args
    if hasattr(server_args, "resolved_dict"):
        from sglang.srt.arg_groups.overrides import resolving_view

        view = resolving_view(server_args)
    steps.current = ("ModelConfig.from_server_args (target)", "srt/configs/model_config.py")
    target = ModelConfig.from_server_args(server_args, model_path=view.model_path)
    out = {"target": _describe(target)}
    draft_path = getattr(view, "speculative_draft_model_path", None)
    if view.speculative_algorithm and draft_path:
        kwargs = {"model_path": draft_path, "is_draft_model": True,
                  "model_revision": getattr(view, "speculative_draft_model_revision", None)}
        if version != "0.5.10":
            kwargs["context_length"] = target.context_len  # eagle_worker_v2.py
        steps.current = ("ModelConfig.from_server_args (draft)", "srt/configs/model_config.py")
        out["draft"] = _describe(ModelConfig.from_server_args(server_args, **kwargs))
    return out


def _describe(config) -> dict:
    text = getattr(config, "hf_text_config", None)
    return {"architecture": (config.hf_config.architectures or [None])[0],
            "context_len": config.context_len, "dtype": str(config.dtype).replace("torch.", ""),
            "quantization": config.quantization,
            "attention_arch": getattr(getattr(config, "attention_arch", None), "name", None),
            "num_hidden_layers": getattr(text, "num_hidden_layers", None),
            "max_position_embeddings": getattr(text, "max_position_embeddings", None)}


# --- one case -------------------------------------------------------------------------------
def answer_case(case: dict, version: str, capture: LogCapture) -> dict:
    """Resolve one argv; map the model folders back to the argv's paths in everything said."""
    with tempfile.TemporaryDirectory(prefix="servespec-models-") as folder:
        argv, back = _model_folders(case, folder)
        steps = Steps()
        capture.records = []
        try:
            with _case_environment(case), warnings.catch_warnings():
                warnings.simplefilter("always")
                set_gpu(case["gpu"])
                _fresh_sglang_state()
                resolve = resolve_0_5_10 if version == "0.5.10" else resolve_0_5_23
                server_args, raw = resolve(argv, steps)
                values = resolved_values(server_args)
                model = model_configs(server_args, version, steps)
        except BaseException as exc:  # SystemExit from argparse too: an answer, not a crash
            if isinstance(exc, KeyboardInterrupt):
                raise
            answer = {"name": case["name"], "ok": False, "error": _error(exc, steps),
                      "log": capture.distinct()}
            return _unmap(answer, back)
        answer = {"name": case["name"], "ok": True,
                  "values": {f: values.get(f) for f in case.get("fields", [])},
                  "changes": changes(steps, raw, values, server_args),
                  "log": capture.distinct(), "model": model}
        return _unmap(_volatile(answer, case.get("volatile", [])), back)


def _model_folders(case: dict, folder: str):
    """A folder per model holding its config.json; the argv with their paths put in."""
    paths = {}
    for i, (argv_path, config) in enumerate(sorted(case.get("models", {}).items())):
        target = os.path.join(folder, f"model{i}")
        os.makedirs(target)
        shutil.copyfile(config, os.path.join(target, "config.json"))
        paths[argv_path] = target
    argv = [paths.get(a, a) for a in case["argv"]]
    return argv, {v: k for k, v in paths.items()}


@contextlib.contextmanager
def _case_environment(case: dict):
    """SGLang sees exactly the container's variables for it (SGLANG_*/SGL_* from the case)."""
    saved = dict(os.environ)
    for key in list(os.environ):
        if key.startswith(("SGLANG_", "SGL_")) or key in ("CI", "HF_TOKEN"):
            del os.environ[key]
    os.environ.update({"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", **case.get("env", {})})
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _fresh_sglang_state() -> None:
    """Forget what SGLang learnt about the previous case's machine (cached probes, platform)."""
    for name, module in list(sys.modules.items()):
        if not name.startswith("sglang") or module is None:
            continue
        for value in list(vars(module).values()):
            if isinstance(value, functools._lru_cache_wrapper):
                value.cache_clear()
    platforms = sys.modules.get("sglang.srt.platforms")
    if platforms is not None and hasattr(platforms, "_current_platform"):
        platforms._current_platform = None


def changes(steps: Steps, raw: dict, values: dict, server_args) -> list[dict]:
    """Each field SGLang ended on a value other than the argv's, with every step that set it:
    the pipeline step (function, file) and, where the step declared it through a helper of its
    own (a model override, a post-process pass), that helper and the file defining it."""
    by_field: dict[str, list] = {}
    for function, file, source, fields in steps.entries:
        step = {"function": function, "file": file}
        if source != function:
            step.update(source=source, source_file=_defined_in(source) or file)
        for field, value in fields.items():
            by_field.setdefault(field, []).append({**step, "value": _plain(value)})
    out = []
    for field in sorted(by_field):
        if field not in values or field.startswith("_"):
            continue
        before, after = _plain(raw.get(field)), values[field]
        trail = [s for i, s in enumerate(by_field[field])
                 if s["value"] != (by_field[field][i - 1]["value"] if i else before)]
        if after != before and trail:
            out.append({"field": field, "from": before, "to": after, "steps": trail})
    return out


def _defined_in(name: str) -> str | None:
    """The sglang file that defines a function of this name (a declaration's source names its
    helper, e.g. _deepseek_family_overrides in srt/arg_groups/model_overrides/deepseek_v2.py)."""
    short = name.rsplit(".", 1)[-1]
    for module_name, module in sorted(sys.modules.items()):
        if not module_name.startswith("sglang") or module is None:
            continue
        fn = vars(module).get(short)
        code = getattr(fn, "__code__", None)
        if code is not None and getattr(fn, "__module__", None) == module_name:
            return rel(code.co_filename)
    return None


def _volatile(answer: dict, fields: list[str]) -> dict:
    """Values chosen afresh at each start (a random seed) are named, never recorded."""
    for change in answer["changes"]:
        if change["field"] in fields:
            change["to"] = "<chosen at each start>"
            for step in change["steps"]:
                step["value"] = "<chosen at each start>"
    for field in fields:
        if field in answer["values"]:
            answer["values"][field] = "<chosen at each start>"
    return answer


def _error(exc: BaseException, steps: Steps) -> dict:
    """SGLang's own message and where it was raised (innermost frame inside sglang)."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if os.sep + "sglang" + os.sep in f.filename]
    function, file = steps.current or ("?", "?")
    if frames:
        function, file = frames[-1].name, rel(frames[-1].filename)
    message = str(exc) if not isinstance(exc, SystemExit) else "argparse rejected the argv"
    return {"stage": (steps.current or ("?",))[0], "type": type(exc).__name__,
            "message": message.strip(), "function": function, "file": file}


def _unmap(value, back: dict):
    """Put the argv's model paths back where the temporary folders appear."""
    if isinstance(value, str):
        for tmp, original in back.items():
            value = value.replace(tmp, original)
        return value
    if isinstance(value, list):
        return [_unmap(v, back) for v in value]
    if isinstance(value, dict):
        return {k: _unmap(v, back) for k, v in value.items()}
    return value


# --self-test: a small Llama-shaped model on one H100, which every release can resolve. It proves
# an environment holds what resolution imports (tools/sglang-overlay-env.sh runs it).
SELF_TEST_CONFIG = {
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 1024,
    "intermediate_size": 2816, "num_attention_heads": 16, "num_key_value_heads": 8,
    "num_hidden_layers": 4, "max_position_embeddings": 8192, "vocab_size": 32000,
    "rms_norm_eps": 1e-05, "torch_dtype": "bfloat16"}


def self_test_request(folder: str) -> dict:
    config = os.path.join(folder, "config.json")
    with open(config, "w") as f:
        json.dump(SELF_TEST_CONFIG, f)
    return {"cases": [{
        "name": "self-test", "argv": ["--model-path", "/model", "--tp-size", "1"],
        "models": {"/model": config}, "env": {}, "fields": ["chunked_prefill_size"],
        "gpu": {"name": "NVIDIA H100 80GB HBM3", "compute_capability": "9.0", "count": 1,
                "memory_mib": 81559}}]}


def run(request: dict) -> dict:
    """Answer every case of the request in this process (one import of sglang for all)."""
    with tempfile.TemporaryDirectory(prefix="servespec-gpu-") as tmp:
        install_gpu(tmp)
        finder = StubFinder(required_stubs())
        sys.meta_path.insert(0, finder)
        capture = LogCapture()
        # On the package loggers, not the root: prepare_server_args resets the root's handlers.
        logging.getLogger("sglang").addHandler(capture)
        warnings.showwarning = capture.warning
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # import-time noise (torchvision's image extension)
            import sglang
        version = sglang.__version__
        answers = [answer_case(case, version, capture) for case in request["cases"]]
    return {"sglang": version, "stubs": sorted(finder.used), "cases": answers}


def self_test(out, err) -> int:
    """Resolve SELF_TEST_CONFIG; say on `out` which release resolved it (1 on `err` if none)."""
    with open(os.devnull, "w") as sink, \
            tempfile.TemporaryDirectory(prefix="servespec-self-test-") as folder:
        sys.stdout = sys.stderr = sink  # SGLang's log lines are not the result
        warnings.simplefilter("ignore")
        try:
            answer = run(self_test_request(folder))
        finally:
            sys.stdout, sys.stderr = out, err
    case = answer["cases"][0]
    if not case["ok"] or not isinstance(case["values"]["chunked_prefill_size"], int):
        print(f"resolution self-test failed: {json.dumps(case)[:2000]}", file=err)
        return 1
    print(f"resolution self-test: sglang {answer['sglang']} resolved it "
          f"(stubs: {', '.join(answer['stubs']) or 'none'})", file=out)
    return 0


def main(argv: list[str]) -> int:
    out, err = sys.stdout, sys.stderr
    if argv[1:] == ["--self-test"]:
        return self_test(out, err)
    sys.stdout = sys.stderr  # whatever SGLang prints must not mix with the answer
    if argv[1:] in ([], ["-"]):
        request = json.load(sys.stdin)
    else:
        with open(argv[1]) as f:
            request = json.load(f)
    out.write(json.dumps(run(request)) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
