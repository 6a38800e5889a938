"""Rules about where and how Modal runs and stops the deployment's containers (SS240-SS249).

Facts from modal 1.6.4: a Server's exit_grace_period may not exceed 3600 s
(modal/_server.py validate_http_server_config); App.function, and so a @modal.web_server
function, takes no exit_grace_period at all (modal/app.py App.function), so a web_server
container's drain is bounded by Modal, not by the spec.
"""

from __future__ import annotations

from collections.abc import Iterator

from renderer.resolve import deployment as d
from renderer.resolve import regions
from renderer.rules.registry import Hit, RuleContext, rule

DRAIN = ("serving", "drain_seconds")


def _drain_path(ctx: RuleContext) -> tuple:
    return DRAIN if DRAIN in ctx.doc.value_pos else ("serving",)


@rule("SS240")
def drain_fits_modal_exit_grace(ctx: RuleContext) -> Iterator[Hit]:
    serving = ctx.spec["serving"]
    if serving["surface"] != "server":
        return
    needed = d.exit_grace_needed(serving)
    if needed > d.MODAL_SERVER_EXIT_GRACE_LIMIT:
        room = (d.MODAL_SERVER_EXIT_GRACE_LIMIT - needed + serving["drain_seconds"])
        yield _drain_path(ctx), (
            f"drain_seconds {serving['drain_seconds']} needs exit_grace_period {needed} s "
            f"(drain + {d.SGLANG_EXIT_SECONDS} s SGLang exit + {d.KILL_WAIT_SECONDS} s kill wait "
            f"+ {d.COMMIT_MARGIN_SECONDS} s commits), over Modal's {d.MODAL_SERVER_EXIT_GRACE_LIMIT} s "
            f"limit for a Server: at most {room} s leaves room for the cache commit at exit"
        )


@rule("SS241")
def drain_on_web_server(ctx: RuleContext) -> Iterator[Hit]:
    if ctx.spec["serving"]["surface"] != "web_server" or DRAIN not in ctx.doc.value_pos:
        return
    yield DRAIN, (
        "a web_server function takes no exit_grace_period, so Modal, not drain_seconds, bounds "
        "how long its in-flight requests may finish at shutdown (and cuts each request at 150 s "
        "anyway); only surface: server honours drain_seconds"
    )


REGION = ("hardware", "region")


@rule("SS244")
def cache_volume_v1(ctx: RuleContext) -> Iterator[Hit]:
    cache = ctx.spec["storage"].get("cache")
    if cache and cache["version"] == 1:
        path = ("storage", "cache", "version")
        yield (path if path in ctx.doc.value_pos else ("storage", "cache")), (
            f"cache volume {cache['volume']} is a v1 Volume: at most 500k inodes, and each commit "
            "slows with the file count while every replica commits kernels to it; v1 cannot be "
            "converted: name a new volume (version 2, the default) and its caches build once"
        )


@rule("SS242")
def known_compute_region(ctx: RuleContext) -> Iterator[Hit]:
    unknown = [r for r in regions.compute_regions(ctx.spec) if not regions.known(r)]
    if unknown:
        yield REGION, (
            f"{', '.join(unknown)}: not a region name servespec knows (renderer/catalog/regions.yaml); "
            "Modal rejects a name it does not know at deploy time: check "
            "https://modal.com/docs/guide/region-selection"
        )


@rule("SS243")
def routing_near_compute(ctx: RuleContext) -> Iterator[Hit]:
    serving = ctx.spec["serving"]
    if serving["surface"] != "server":
        return
    routing = serving["routing_region"]
    want = regions.routing_area(routing)
    far = [r for r in regions.compute_regions(ctx.spec)
           if regions.area(r) is not None and regions.area(r) != want]
    if far:
        path = ("serving", "routing_region") if ("serving", "routing_region") in ctx.doc.value_pos \
            else REGION
        yield path, (
            f"requests enter Modal's proxy in {routing} ({want}) but the GPUs run in "
            f"{', '.join(far)} ({regions.area(far[0])}): every request and every streamed token "
            "crosses between the two; set serving.routing_region to the proxy region nearest "
            "hardware.region"
        )
