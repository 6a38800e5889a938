"""The deploy steps: the ordered steps `servespec deploy` runs, derived from a checked spec.

`build_steps` is pure and deterministic (no clock, no environment, no network), so the render
stage can write it as rendered/<name>/steps.json and CI can diff it like any other artifact.
renderer/run/ executes it.

steps.json format (version STEPS_FORMAT):

    {"format": 1, "app": ..., "jobs_app": ..., "spec": ..., "spec_name": ..., "modal_version": "1.6.4",
     "secrets": [names only], "api_key_env": "SGLANG_API_KEY" | null,
     "proxy_auth": {"token_id_env", "token_secret_env"} | null   # variable NAMES, renderer/resolve/edge.py
     "endpoint": {how the URL is learned, see _endpoint},
     "omitted": {"compile": "why"}          # steps the spec switches off, if any
     "steps": [step, ...]}

    step = {"name", "kind", "description", "timeout", "timeout_source", "app"?, ...}
      "app": the Modal app a step's commands run or deploy (the jobs app for one-off steps)
      kind "commands":           "commands": [{"argv": [...], "skip_if": check | null}, ...]
      kind "internal:preflight": "checks": [{"name", "description", "argv"?, ...}, ...]
      kind "internal:wait_healthy": "path", "poll_interval"
      "on_failure": what the runner adds when the step fails (steps after deploy: the new
        version is live, so it says how to roll back)
    check = {"argv": [...], "description", "json_has": {"field", "equals" | "basename"}}
      The command is skipped when the check's argv exits 0 and its stdout is a JSON list holding
      an object whose `field` equals `equals` (or whose last path component is `basename`).
      Any other outcome (non-zero exit, no match, unparsable output) means "run the command".

Every argv is a real modal 1.6.4 CLI command (modal/cli/*.py; see the comments at each use).
The literal "{url}" in an argv stands for the endpoint URL, which only exists after deploy; the
runner substitutes it. Secrets appear by name only, never by value.
"""

from __future__ import annotations

import posixpath

from renderer import paths
from renderer.resolve import evals
from renderer.resolve.deployment import Deployment, Download, Volume, volume_relative

STEPS_FORMAT = 1
# deploy.py is written against this client; preflight compares it with `modal --version`.
MODAL_VERSION = "1.6.4"
URL_PLACEHOLDER = "{url}"

# Local wall-clock budgets on top of the remote function timeouts in the spec: `modal run`
# builds or pulls the image and waits for a container before the function's own timeout starts.
IMAGE_AND_SCHEDULING_MARGIN = 1800
# A cold replica is first scheduled and its image pulled, then startup_timeout applies.
COLD_START_MARGIN = 600
# Fixed budgets for steps the spec has no field for.
PREFLIGHT_TIMEOUT = 300  # `modal token info` alone takes ~60 s to give up on an unreachable server
VOLUMES_TIMEOUT = 300
DEPLOY_TIMEOUT = 2400  # `modal deploy` builds the multi-gigabyte SGLang image on first use
SMOKE_TIMEOUT = 900  # five checks, each request bounded by smoke's own 120 s timeout
BENCH_MARGIN = 900  # `modal run` builds or pulls the image and schedules the CPU container
EVAL_MARGIN = 900  # the same for the eval function of the jobs app
HEALTH_POLL_INTERVAL = 10


def build_steps(dep: Deployment, spec_path: str) -> dict:
    """The ordered deploy steps for one resolved deployment. The one-off steps run functions of
    the jobs app (jobs.py); only the deploy step touches the serving app (deploy.py)."""
    deploy_py, jobs_py = paths.serving_file(dep.name), paths.jobs_file(dep.name)
    steps = [_preflight(dep), _volumes(dep), _download(dep, jobs_py)]
    omitted = {}
    if dep.deepgemm is None and dep.deepgemm_runs:
        # SS188 rejects this with compile enabled, so here it was switched off.
        omitted["compile"] = ("compile.enabled is false in the spec, and no storage.cache keeps "
                              "DeepGEMM's kernels: they are JIT-compiled at every cold start")
    elif dep.deepgemm is None:
        omitted["compile"] = (f"DeepGEMM does not apply on {dep.gpu} ({dep.arch}) to"
                              f" {dep.weights_format or 'these'} weights")
    elif dep.deepgemm.compile:
        steps.append(_compile(dep, jobs_py))
    else:
        omitted["compile"] = "compile.enabled is false in the spec"
    steps += [_deploy(dep, deploy_py), _wait(dep.spec), _smoke(dep)]
    if (dep.spec.get("bench") or {}).get("after_deploy"):
        steps.append(_bench(dep, spec_path))
    if (dep.spec.get("eval") or {}).get("after_deploy"):
        steps.append(_eval(dep, spec_path))
    doc = {
        "format": STEPS_FORMAT,
        "app": dep.app,
        "jobs_app": dep.jobs_app,
        "spec": spec_path,
        "spec_name": dep.name,
        "modal_version": MODAL_VERSION,
        "secrets": list(dep.auth.secrets),
        "api_key_env": dep.auth.api_key_env,
        "proxy_auth": dep.auth.proxy.to_json() if dep.auth.proxy else None,
        "endpoint": _endpoint(dep.spec, spec_path),
        "steps": steps,
    }
    if omitted:
        doc["omitted"] = omitted
    return doc


# --- what the spec names ---------------------------------------------------------------------


def _endpoint(spec: dict, spec_path: str) -> dict:
    """How the runner learns the endpoint URL, which steps.json cannot know (it has no workspace).

    First it asks Modal, once `modal deploy` is done: "lookup" runs `servespec url SPEC`
    (renderer/operate/endpoint.py), which reads `object` of `app` with modal 1.6.4's own
    Server.from_name(...).get_url() or Function.from_name(...).get_web_url(). Should that fail,
    the URL `modal deploy` printed (modal/_output/status.py FunctionCreationStatus) is matched
    with `deploy_output_pattern`; the runner runs every command with a wide COLUMNS, as rich
    wraps that tree at the terminal width (80 on a pipe) and a wrapped URL would not match.
    web_server surface: @modal.web_server(label=<app>) serves at
    https://<workspace>--<label>.modal.run (modal/_partial_function.py, `label`), so the last
    resort is the template filled with the workspace `modal token info` prints (modal/cli/token.py,
    "Workspace:"); outside the default Modal environment the host gains a suffix the template
    lacks. The server surface is an @app.server class, whose *.modal.direct URL carries a region
    and the class name (https://modal.com/docs/guide/servers): no template. SERVESPEC_ENDPOINT_URL
    overrides all of it.
    """
    label = spec["app"]
    health = spec["serving"]["health_path"]
    lookup = {"argv": ["servespec", "url", spec_path],
              "description": "the endpoint URL as Modal reports it"}
    if spec["serving"]["surface"] == "server":
        return {
            "kind": "server",
            "app": label,
            "object": "Serve",  # the class in deploy.py (templates/parts/server.py.j2)
            "lookup": lookup,
            "url_template": None,
            "deploy_output_pattern": r"https://[A-Za-z0-9.-]+\.modal\.direct",
            "health_path": health,
            "override_env": "SERVESPEC_ENDPOINT_URL",
        }
    return {
        "kind": "web_server",
        "app": label,
        "object": "serve",  # the function in deploy.py (templates/parts/web_server.py.j2)
        "lookup": lookup,
        "label": label,
        "url_template": f"https://{{workspace}}--{label}.modal.run",
        "deploy_output_pattern": rf"https://[A-Za-z0-9-]+--{label}\.modal\.run",
        "workspace_from": ["modal", "token", "info"],
        "health_path": health,
        "override_env": "SERVESPEC_ENDPOINT_URL",
    }


# --- steps -----------------------------------------------------------------------------------


def _step(name: str, kind: str, description: str, timeout: int, timeout_source: str,
          **rest) -> dict:
    return {"name": name, "kind": kind, "description": description, "timeout": timeout,
            "timeout_source": timeout_source, **rest}


def _command(argv: list[str], skip_if: dict | None = None) -> dict:
    return {"argv": argv, "skip_if": skip_if}


def _preflight(dep: Deployment) -> dict:
    checks = [
        {"name": "steps-fresh",
         "description": "rendered files match a fresh render of the spec (else: make render)"},
        {"name": "runtime-fresh",
         "description": "the runtime file the apps attach (rendered/_runtime/) is the one the "
                        "installed servespec renders"},
        # `modal --version` prints "modal client version: X" (modal/cli/entry_point.py:64-68).
        {"name": "modal-installed", "argv": ["modal", "--version"],
         "description": f"the modal CLI is installed and is version {MODAL_VERSION}"},
    ]
    if dep.auth.api_key_env:
        checks.append({"name": "api-key-env", "env": dep.auth.api_key_env,
                       "description": "the smoke step's API key is set locally (only its name "
                                      "is ever shown)"})
    if dep.auth.proxy:
        checks.append({"name": "proxy-token-env", "env": dep.auth.proxy.names,
                       "description": "the Modal proxy token that wait and smoke send is set "
                                      "locally (names only, values never shown)"})
    # `modal token info` makes an authenticated RPC: no token -> "Token missing" and exit 1
    # (modal/cli/token.py:23-29, modal/client.py:408, modal/__main__.py:32-45).
    checks.append({"name": "authenticated", "argv": ["modal", "token", "info"],
                   "description": "Modal accepts the configured token; prints the workspace"})
    if dep.auth.secrets:
        # Lists names only, never values (modal/cli/secret.py:27-73; JSON key "name").
        checks.append({"name": "secrets", "argv": ["modal", "secret", "list", "--json"],
                       "names": list(dep.auth.secrets),
                       "description": "every Modal Secret the spec names exists"})
    return _step("preflight", "internal:preflight",
                 "Check, before anything changes, that steps.json is fresh and Modal is usable.",
                 PREFLIGHT_TIMEOUT, "fixed", checks=checks)


def _volumes(dep: Deployment) -> dict:
    commands = []
    for volume in dep.volumes:
        # `modal volume create` fails when the volume exists (Volume.objects.create defaults to
        # allow_existing=False, modal/volume.py:278-316; the CLI has no such option,
        # modal/cli/volume.py:48-56), so an existing volume is detected and the create skipped.
        exists = {"argv": ["modal", "volume", "list", "--json"],
                  "json_has": {"field": "name", "equals": volume.name},
                  "description": f"volume {volume.name} exists"}
        # `--version` (modal/cli/volume.py create) only where the spec sets one: the cache.
        version = ["--version", str(volume.version)] if volume.version else []
        commands.append(_command(["modal", "volume", "create", *version, volume.name], exists))
    what = " and ".join(v.role for v in dep.volumes)
    return _step("volumes", "commands",
                 f"Create the {what} volume{'s' if len(dep.volumes) > 1 else ''} if missing.",
                 VOLUMES_TIMEOUT, "fixed", commands=commands)


def _marker_check(volume: Volume, marker: str, what: str) -> dict:
    """`modal volume ls --json VOLUME DIR` lists DIR (modal/cli/volume.py:140-185, JSON key
    "filename"); the marker counts as present when an entry of DIR has its name. Listing the
    parent rather than the file keeps the check independent of how the server answers for a
    missing path: an error or an empty list both mean "not done"."""
    relative = volume_relative(volume, marker)
    return {"argv": ["modal", "volume", "ls", "--json", volume.name, posixpath.dirname(relative)],
            "json_has": {"field": "filename", "basename": posixpath.basename(relative)},
            "description": f"{what} marker {relative} exists in volume {volume.name}"}


def _download(dep: Deployment, jobs_py: str) -> dict:
    """One `modal run` per snapshot, each skipped when its marker is there. The function
    downloads every snapshot that lacks its marker, so a second run is a cheap no-op."""
    weights = dep.volumes[0]
    commands = [
        # `modal run FILE::FUNC` runs one function of the app and waits for it (modal/cli/run.py);
        # it creates every function of that app (modal/runner.py _create_all_objects), which is
        # why the one-off functions live in the jobs app, apart from the server.
        _command(["modal", "run", f"{jobs_py}::download_weights"],
                 _marker_check(weights, d.marker, f"download of {d.repo}@{d.revision}"))
        for d in dep.downloads
    ]
    return _step("download", "commands",
                 f"Snapshot {_snapshots(dep.downloads)} into the weights volume (CPU).",
                 dep.spec["download"]["timeout"] + IMAGE_AND_SCHEDULING_MARGIN,
                 f"download.timeout + {IMAGE_AND_SCHEDULING_MARGIN} s for image build and "
                 "scheduling",
                 app=dep.jobs_app, commands=commands)


def _snapshots(downloads: tuple[Download, ...]) -> str:
    return " and ".join(f"{d.repo}@{d.revision}" + (" (draft)" if d.role == "draft" else "")
                        for d in downloads)


def _compile(dep: Deployment, jobs_py: str) -> dict:
    dg = dep.deepgemm
    check = _marker_check(dg.volume, dg.marker, f"DeepGEMM cache {dg.key}")
    return _step("compile", "commands",
                 "Precompile DeepGEMM kernels on the serving GPUs (key: SGLang version, GPU "
                 "architecture, model revision, parallelism).",
                 dg.compile_timeout + IMAGE_AND_SCHEDULING_MARGIN,
                 f"compile.timeout + {IMAGE_AND_SCHEDULING_MARGIN} s for image build and "
                 "scheduling",
                 deepgemm_key=dg.key, app=dep.jobs_app,
                 commands=[_command(["modal", "run", f"{jobs_py}::compile_deepgemm"], check)])


def _deploy(dep: Deployment, deploy_py: str) -> dict:
    # `modal deploy [--name NAME] APP_REF` (modal/cli/run.py:641-724); --name repeats the App's
    # own name so the deployment cannot land under another one.
    return _step("deploy", "commands", f"Deploy app {dep.app} (rolling update if it exists).",
                 DEPLOY_TIMEOUT, "fixed", app=dep.app,
                 commands=[_command(["modal", "deploy", "--name", dep.app, deploy_py])])


def _wait(spec: dict) -> dict:
    serving = spec["serving"]
    return _step("wait", "internal:wait_healthy",
                 f"Poll the endpoint's {serving['health_path']} until it answers 200 (a cold "
                 "replica loads the weights first).",
                 serving["startup_timeout"] + COLD_START_MARGIN,
                 f"serving.startup_timeout + {COLD_START_MARGIN} s for scheduling and image pull",
                 path=serving["health_path"], poll_interval=HEALTH_POLL_INTERVAL)


def _smoke(dep: Deployment) -> dict:
    spec = dep.spec
    engine = spec["engine"]
    argv = ["servespec", "smoke", URL_PLACEHOLDER]
    if dep.auth.api_key_env:
        argv += ["--api-key-env", dep.auth.api_key_env]
    argv += dep.auth.proxy.smoke_options() if dep.auth.proxy else ["--no-proxy-auth"]
    argv += ["--model", spec["model"].get("served_name") or spec["model"]["repo"]]
    # The options of `servespec smoke` (renderer/cli/main.py, smoke).
    argv.append("--reasoning" if engine.get("reasoning_parser") else "--no-reasoning")
    argv.append("--tools" if engine.get("tool_call_parser") else "--no-tools")
    return _step("smoke", "commands",
                 "Health, model list, streamed chat, tool call and reasoning against the live "
                 "endpoint.", SMOKE_TIMEOUT, "fixed", commands=[_command(argv)])


def _bench(dep: Deployment, spec_path: str) -> dict:
    # The options of `servespec bench` (renderer/cli/main.py, bench): it runs jobs.py's
    # bench_endpoint with `modal run` and exits 1 naming each target missed.
    timeout = dep.spec["bench"]["timeout"]
    return _step("bench", "commands",
                 "SGLang's serving benchmark from a CPU function next to the endpoint; fails "
                 "when a target in the spec is missed.",
                 timeout + BENCH_MARGIN,
                 f"bench.timeout + {BENCH_MARGIN} s for image build and scheduling",
                 app=dep.jobs_app, commands=[_command(["servespec", "bench", spec_path, "--url", URL_PLACEHOLDER])])


def _eval(dep: Deployment, spec_path: str) -> dict:
    # The options of `servespec eval` (renderer/cli/evals.py, eval_command): it runs jobs.py's
    # eval_endpoint with `modal run` and exits 1 naming each task below its expectation.
    timeout = evals.settings(dep.spec)["timeout"]
    return _step("eval", "commands",
                 "SGLang's own evaluation module (sglang.test.run_eval) from a CPU function next to "
                 "the endpoint; fails when a task scores below its expectation.",
                 timeout + EVAL_MARGIN,
                 f"eval.timeout + {EVAL_MARGIN} s for image build and scheduling",
                 app=dep.jobs_app,
                 commands=[_command(["servespec", "eval", spec_path, "--url", URL_PLACEHOLDER])],
                 on_failure=(f"the new version of {dep.app} is live and answers below its "
                             f"expectation: roll back with `servespec rollback {spec_path}` "
                             f"(the previous version); the scores are in runs/{dep.name}/eval-*.json"))
