"""Rules about who can reach the endpoint and which Modal surface serves it (SS140-SS142).

Facts from modal 1.6.4: @app.server requires proxy auth unless unauthenticated=True and answers
429 above max_concurrency (modal/app.py App.server); @modal.web_server is public unless
requires_proxy_auth=True (modal/_partial_function.py web_server); Web Functions cap a request at
150 s and then answer 303 (https://modal.com/docs/guide/webhook-timeouts); clustered Web Functions
are not supported (modal/_partial_function.py clustered).
"""

from __future__ import annotations

from collections.abc import Iterator

from renderer.rules.registry import Hit, RuleContext, rule

WEB_FUNCTION_REQUEST_CAP_S = 150


def _hourly(ctx: RuleContext) -> tuple[float, float]:
    """USD per hour for one replica and for max_replicas (catalog/gpus.yaml prices)."""
    per_replica = ctx.gpu["usd_per_second"] * ctx.total_gpus * 3600
    return per_replica, per_replica * ctx.spec["scaling"]["max_replicas"]


def _surface_path(ctx: RuleContext) -> tuple:
    return ("serving", "surface") if ("serving", "surface") in ctx.doc.value_pos else ("serving",)


@rule("SS140")
def edge_auth_opt_out(ctx: RuleContext) -> Iterator[Hit]:
    if not ctx.spec["serving"].get("auth", {}).get("public"):
        return
    one, most = _hourly(ctx)
    hw = ctx.spec["hardware"]
    yield ("serving", "auth", "public"), (
        f"the endpoint is public at Modal's edge: any request, /health included, can start "
        f"{ctx.total_gpus}x {hw['gpu']} at ${one:,.2f}/h per replica (${most:,.2f}/h at "
        f"{ctx.spec['scaling']['max_replicas']} replicas); SGLang's API key does not cover /health"
    )


@rule("SS141")
def surface_trade_off(ctx: RuleContext) -> Iterator[Hit]:
    serving, scaling = ctx.spec["serving"], ctx.spec["scaling"]
    if serving["surface"] == "web_server":
        yield _surface_path(ctx), (
            f"web_server: Modal cuts each request at {WEB_FUNCTION_REQUEST_CAP_S} s and answers 303 "
            "with a result URL, which the OpenAI SDK does not follow on POST: a longer non-streamed "
            "answer fails (stream, or use surface: server)"
        )
    elif scaling["min_replicas"] == 0:
        yield _surface_path(ctx), (
            "server with min_replicas 0: while no replica is up, clients get HTTP 503 instead of "
            "waiting in a queue, for a whole cold start; run `servespec wake` before traffic, or "
            "keep min_replicas >= 1"
        )


@rule("SS142")
def clustered_needs_server(ctx: RuleContext) -> Iterator[Hit]:
    if ctx.spec["hardware"]["nodes"] > 1 and ctx.spec["serving"]["surface"] == "web_server":
        yield _surface_path(ctx), (
            f"a {ctx.spec['hardware']['nodes']}-node replica cannot be a web_server: Modal does not "
            "cluster Web Functions; use surface: server"
        )
