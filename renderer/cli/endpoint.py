"""The `servespec url` command (renderer/operate/endpoint.py does the work)."""

from __future__ import annotations

import sys

import click


@click.command()
@click.argument("spec", type=click.Path(dir_okay=False))
def url(spec: str) -> None:
    """Print the URL of SPEC's deployed endpoint, as Modal reports it."""
    from renderer.operate.endpoint import url_main

    sys.exit(url_main(spec))
