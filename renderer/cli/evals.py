"""`servespec eval`: the command line of renderer/operate/evals.py (kept apart from main.py,
which registers it, so that each module stays one screen of options)."""

from __future__ import annotations

import sys

import click


@click.command("eval")
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option("--local-url", metavar="URL", default=None,
              help="Run the evaluation on this machine against URL (any OpenAI-compatible server) "
                   "instead of in the jobs app's Modal CPU function.")
@click.option("--data", metavar="TASK=FILE", multiple=True,
              help="With --local-url: the task's data from FILE, through the module's own option "
                   "(gsm8k: --gsm8k-data-path); repeatable.")
@click.option("--url", default=None, help="Endpoint URL for the Modal run (default: recorded by deploy).")
@click.option("--proxy-auth/--no-proxy-auth", default=True, show_default=True,
              help="Send the spec's Modal proxy-auth headers (off for a local server without Modal's edge).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def eval_command(spec: str, local_url: str | None, data: tuple[str, ...], url: str | None,
                 proxy_auth: bool, fmt: str) -> None:
    """Run the pinned SGLang's own evaluation module (sglang.test.run_eval) against SPEC's endpoint;
    write runs/<name>/eval-*.json, print each score with its interval; exit 1 naming each task
    below its expectation."""
    from renderer.operate.evals import eval_main

    sys.exit(eval_main(spec, local_url=local_url, url=url, data=data, proxy_auth=proxy_auth,
                       fmt=fmt))
