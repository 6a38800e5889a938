"""`servespec url SPEC`: the serving app's endpoint URL as Modal itself reports it.

After `modal deploy`, the deploy runner asks this command first and reads `modal deploy`'s
printed tree only when it fails: the tree is drawn by rich at the terminal's width (80 columns
on a pipe, modal/_output/rich.py _make_console), so a URL longer than the width is wrapped and
no longer matches a pattern.

What Modal answers (modal 1.6.4): a Server's URL from Server.from_name(app, name).get_url()
(modal/_server.py, the first of its flash service URLs); a web function's from
Function.from_name(app, name).get_web_url() (modal/_functions.py). Both are lazy handles that
hydrate on the call; MODAL_ENVIRONMENT and the token come from modal's own configuration.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from renderer import paths


class EndpointProblem(Exception):
    """The URL could not be had from Modal; one sentence."""


def steps_endpoint(spec_path: str) -> dict:
    """steps.json's "endpoint" of the spec (renderer/render/steps.py _endpoint)."""
    steps_path = Path(paths.rendered_dir(Path(spec_path).stem)) / "steps.json"
    try:
        return json.loads(steps_path.read_text(encoding="utf-8"))["endpoint"]
    except (OSError, ValueError, KeyError):
        raise EndpointProblem(f"no endpoint in {steps_path}; run `make render` first") from None


def modal_url(kind: str, app: str, name: str) -> str:
    """The URL Modal reports for the deployed object `name` of app `app`."""
    import modal

    try:
        if kind == "server":
            url = modal.Server.from_name(app, name).get_url()
        else:
            url = modal.Function.from_name(app, name).get_web_url()
    except Exception as error:  # noqa: BLE001 - any failure of the lookup is one sentence
        text = " ".join(str(error).split()) or type(error).__name__
        raise EndpointProblem(f"Modal did not give the URL of {name} in app {app}: {text}") from None
    if not url:
        raise EndpointProblem(f"{name} in app {app} has no URL (is the app deployed?)")
    return url


def url_main(spec_path: str) -> int:
    try:
        endpoint = steps_endpoint(spec_path)
        print(modal_url(endpoint["kind"], endpoint["app"], endpoint["object"]))
    except EndpointProblem as problem:
        print(f"servespec url: {problem}", file=sys.stderr)
        return 1
    return 0
