"""Stand-in for the parts of a deploy that need Modal's servers (used by tests/test_run.py only).

There is no Modal token here and Modal's servers are unreachable, so the runner's tests put a
wrapper named `modal` (and one named `servespec`, whose `smoke` would need the live endpoint)
first on PATH that runs this script. It answers like the real modal 1.6.4 CLI for the commands
steps.json uses (output shapes from modal/cli/*.py), records every argv it got, and fails, sleeps
or spawns a grandchild when the test's config says so. Everything else in the tests is real.

    standin_modal.py PROGRAM ARGS...      PROGRAM is "modal" or "servespec"

Environment:
    STANDIN_LOG     append one JSON line per call: {"prog", "argv", "pid", "env_names"}
    STANDIN_CONFIG  JSON file: {"workspace", "secrets": [names], "volumes": [names],
                    "files": {volume: [paths]}, "modal_url": what `servespec url` prints,
                    "rules": [rule, ...]}
    rule = {"match": "substring of the joined args", "prog": "modal" (default any),
            "exit": 0, "lines": [...], "print_env": [NAMES], "sleep": seconds,
            "grandchild_pidfile": path}   first matching rule wins over the defaults.
"""

from __future__ import annotations

import json
import os
import posixpath
import subprocess
import sys
import time
from pathlib import Path


def load_config() -> dict:
    path = os.environ.get("STANDIN_CONFIG")
    if not path or not os.path.exists(path):
        return {}
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def record(prog: str, argv: list[str]) -> None:
    path = os.environ.get("STANDIN_LOG")
    if path:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"prog": prog, "argv": argv, "pid": os.getpid(),
                                 "env_names": sorted(os.environ)}) + "\n")


def find_rule(config: dict, prog: str, argv: list[str]) -> dict | None:
    joined = " ".join(argv)
    for rule in config.get("rules", []):
        if rule.get("prog", prog) == prog and rule["match"] in joined:
            return rule
    return None


def apply_rule(rule: dict) -> int:
    for name in rule.get("print_env", []):
        print(f"{name}={os.environ.get(name, '')}")  # a leak the runner must redact
    for line in rule.get("lines", []):
        print(line)
    sys.stdout.flush()
    if rule.get("grandchild_pidfile"):
        child = subprocess.Popen(["sleep", "60"])
        with open(rule["grandchild_pidfile"], "w") as fh:
            fh.write(str(child.pid))
    if rule.get("sleep"):
        time.sleep(rule["sleep"])
    return int(rule.get("exit", 0))


def table(rows: list[dict]) -> int:
    """`--json` listings: modal.cli.utils.display_table prints a JSON list of objects."""
    print(json.dumps(rows, indent=2))
    return 0


def modal_default(config: dict, argv: list[str]) -> int:
    workspace = config.get("workspace", "testws")
    words = [a for a in argv if not a.startswith("--")]
    if argv[:1] == ["--version"]:
        print("modal client version: 1.6.4")
        return 0
    if words[:2] == ["token", "info"]:
        print(f"Token: ak-standin\nWorkspace: {workspace} (ac-standin)")
        return 0
    if words[:2] == ["secret", "list"]:
        return table([{"name": n, "created_at": "2026-01-01"} for n in config.get("secrets", [])])
    if words[:2] == ["volume", "list"]:
        return table([{"name": n, "created_at": "2026-01-01"} for n in config.get("volumes", [])])
    if words[:2] == ["volume", "ls"]:
        volume, folder = words[2], words[3] if len(words) > 3 else "/"
        if volume not in config.get("volumes", []):
            print(f"Error: Volume '{volume}' not found in environment 'main'.")
            return 1
        files = config.get("files", {}).get(volume, [])
        return table([{"filename": f, "type": "file"} for f in files
                      if posixpath.dirname(f) == folder.strip("/")])
    if words[:1] == ["deploy"]:
        app = argv[argv.index("--name") + 1] if "--name" in argv else "app"
        server = "@app.server(" in Path(argv[-1]).read_text(encoding="utf-8")
        if server:  # a Server's *.modal.direct URL
            url = f"https://{workspace}--{app}-serve.us-east.modal.direct"
        else:  # a web function's *.modal.run URL
            url = f"https://{workspace}--{app}.modal.run"
        print_created(url, server)
        print("✓ App deployed in 1.234s! 🎉")
        return 0
    print("ok")
    return 0


def print_created(url: str, server: bool) -> None:
    """The object tree `modal deploy` prints, drawn by modal 1.6.4's own code
    (modal/_output/status.py FunctionCreationStatus, rich at this process's COLUMNS) from a
    FunctionCreateResponse as Modal's server would send it."""
    import modal
    from modal._output.manager import OutputManager
    from modal._output.status import FunctionCreationStatus
    from modal_proto import api_pb2

    response = api_pb2.FunctionCreateResponse()
    if server:
        response.function.is_server = True
        response.function.flash_service_urls.append(url)
    else:
        response.handle_metadata.web_url = url
        response.function.webhook_config.requires_proxy_auth = True
    with modal.enable_output():  # noqa: SIM117 - the manager exists only inside it
        with OutputManager.get().display_object_tree():
            with FunctionCreationStatus("server" if server else "web function",
                                        "Serve" if server else "serve") as status:
                status.set_response(response)


def main() -> int:
    prog, argv = sys.argv[1], sys.argv[2:]
    record(prog, argv)
    config = load_config()
    rule = find_rule(config, prog, argv)
    if rule is not None:
        return apply_rule(rule)
    if prog == "modal":
        return modal_default(config, argv)
    if argv[:1] == ["url"] and config.get("modal_url"):  # `servespec url`, Modal's answer
        print(config["modal_url"])
        return 0
    print("smoke: ok")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # Ctrl-C reached the group: stop quietly, as modal does
        print("Aborted.")
        sys.exit(130)
