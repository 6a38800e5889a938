"""`servespec wake SPEC`: start a replica on purpose before traffic arrives, and wait for it.

A spec that scales to zero pays a cold start of many minutes on the first request, and on the
server surface clients get errors until a replica is up (rule SS141). Waking:

  1. checks the proxy token variables (renderer/resolve/edge.py) before touching anything;
  2. raises the warm floor: `autoscaler.update(min_containers=...)` on the deployed
     modal.Server (modal 1.6.4 modal/_server.py _ServerAutoscalerManager.update) or, on the
     web_server surface, the modal.Function (modal/_functions.py _FunctionAutoscalerManager.update);
  3. polls the health path with the proxy headers, printing progress while the replica loads;
  4. after `hold` seconds, puts the spec's own floor back. The replica then stays up for the
     spec's scaledown_window after its last request, as any replica does. A redeploy also resets
     the floor (the update docstrings say so), so a forgotten hold cannot outlive a deploy.

Everything Modal does goes through ModalAutoscaler, the one class that talks to Modal's servers;
tests replace it with a stand-in for those servers.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from renderer.resolve import edge
from renderer.run.wait import probe

PROGRESS_EVERY_SECONDS = 30.0
POLL_SECONDS = 10.0
REQUEST_TIMEOUT = 30.0
COLD_START_MARGIN = 600  # scheduling and image pull come before startup_timeout


class WakeError(Exception):
    """Waking could not proceed; the message is one sentence, the exit code 1."""


class ModalAutoscaler:
    """The deployed serving entry point of an app, through the real modal client."""

    def __init__(self, app: str, surface: str):
        import modal

        if surface == "server":
            self.handle = modal.Server.from_name(app, "Serve")
        else:
            self.handle = modal.Function.from_name(app, "serve")
        self.surface = surface

    def set_min_containers(self, count: int) -> None:
        self.handle.autoscaler.update(min_containers=count)

    def url(self) -> str | None:
        return self.handle.get_url() if self.surface == "server" else self.handle.get_web_url()


@dataclass
class WakePlan:
    app: str
    surface: str
    health_path: str
    floor: int  # containers to keep up while waking
    spec_floor: int  # the spec's own min_containers, restored afterwards
    timeout: float
    proxy: edge.ProxyAuth | None
    api_key_env: str | None


def plan_of(dep, replicas: int) -> WakePlan:
    """What to do for a resolved Deployment (renderer/resolve/deployment.py)."""
    serving = dep.spec["serving"]
    return WakePlan(dep.app, dep.surface, serving["health_path"],
                    max(replicas, 1) * dep.nodes, dep.containers.min,
                    serving["startup_timeout"] + COLD_START_MARGIN, dep.auth.proxy,
                    dep.auth.api_key_env)


def wait_healthy(url: str, headers: dict[str, str], timeout: float, say: Callable[[str], object],
                 poll: float = POLL_SECONDS) -> float:
    """Poll until 200; return the seconds it took. Prints progress; raises WakeError on timeout."""
    start = last = time.monotonic()
    while True:
        answer = probe(url, REQUEST_TIMEOUT, headers)  # the deploy wait step's own probe
        waited = time.monotonic() - start
        if answer == "200":
            return waited
        if answer == "HTTP 401":
            raise WakeError(f"{url} answered 401: Modal's proxy rejected the proxy token")
        if waited > timeout:
            raise WakeError(f"{url} not healthy within {timeout:.0f} s (last answer: {answer})")
        if time.monotonic() - last >= PROGRESS_EVERY_SECONDS:
            last = time.monotonic()
            say(f"  still loading: {answer} after {waited / 60:.1f} min")
        time.sleep(poll)


def wake(plan: WakePlan, control, *, url: str | None, hold: float, wait: bool,
         say: Callable[[str], object], poll: float = POLL_SECONDS) -> None:
    """Raise the floor, wait for health, hold, restore. `control` is a ModalAutoscaler (or a
    stand-in with the same two methods)."""
    headers = edge.request_headers(plan.proxy, os.environ.get(plan.api_key_env or "") or None)
    say(f"raising the warm floor of {plan.app} to {plan.floor} container(s)")
    control.set_min_containers(plan.floor)
    try:
        if not wait:
            say(f"not waiting; put the floor back with `servespec wake --release` (spec: "
                f"{plan.spec_floor})")
            return
        base = url or control.url()
        if not base:
            raise WakeError(f"Modal gave no URL for {plan.app}; pass --url")
        target = base.rstrip("/") + plan.health_path
        say(f"waiting for {target} (a cold replica reads the weights first)")
        seconds = wait_healthy(target, headers, plan.timeout, say, poll)
        say(f"healthy after {seconds:.0f} s")
        if hold > 0:
            say(f"holding the floor for {hold:.0f} s")
            time.sleep(hold)
    finally:
        if wait:
            control.set_min_containers(plan.spec_floor)
            say(f"warm floor back to the spec's {plan.spec_floor}; the replica stays up for the "
                "scaledown window after its last request")


def wake_main(spec_path: str, *, replicas: int = 1, hold: float = 0.0, url: str | None = None,
              wait: bool = True, release: bool = False, control=None) -> int:
    """The CLI's entry point: 0 awake (or released), 1 failed, 2 bad spec; one sentence on
    failure, never a traceback, never a secret."""
    from renderer.pipeline import read_spec

    def say(text: str) -> None:
        print(text, flush=True)

    checked = read_spec(spec_path)
    if checked.failed() or checked.deployment is None:
        print(f"servespec wake: {spec_path} does not validate; run `servespec validate`",
              file=sys.stderr)
        return 2
    most = checked.spec["scaling"]["max_replicas"]
    if replicas > most:
        # Modal would be asked for a floor above max_containers, GPUs the spec never allowed.
        print(f"servespec wake: --replicas {replicas} is more than the spec's "
              f"scaling.max_replicas {most}", file=sys.stderr)
        return 2
    plan = plan_of(checked.deployment, replicas)
    try:
        if plan.proxy is not None:
            plan.proxy.headers()  # names the missing variable before anything changes
        control = control or ModalAutoscaler(plan.app, plan.surface)
        if release:
            control.set_min_containers(plan.spec_floor)
            say(f"warm floor of {plan.app} back to the spec's {plan.spec_floor}")
            return 0
        wake(plan, control, url=url or os.environ.get("SERVESPEC_ENDPOINT_URL") or None,
             hold=hold, wait=wait, say=say)
        return 0
    except (WakeError, edge.ProxyTokenMissing) as error:
        print(f"servespec wake: {error}", file=sys.stderr)
    except KeyboardInterrupt:
        print("servespec wake: interrupted", file=sys.stderr)
    except Exception as error:  # noqa: BLE001 - Modal's errors (AuthError, NotFoundError, ...)
        first = str(error).strip().split(". ")[0].rstrip(".")
        print(f"servespec wake: Modal refused ({type(error).__name__}): {first}", file=sys.stderr)
    return 1
