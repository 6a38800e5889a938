"""The `servespec prune-cache` command (renderer/operate/prune.py does the work)."""

from __future__ import annotations

import sys

import click


@click.command("prune-cache")
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option("--dry-run", is_flag=True, help="List the directories it would remove, with sizes; remove nothing.")
def prune_cache(spec: str, dry_run: bool) -> None:
    """Remove the start-up cache directories of SPEC's older images from the cache volume (the
    current image's and other GPU architectures' stay), in the jobs app's CPU function."""
    from renderer.operate.prune import prune_main

    sys.exit(prune_main(spec, dry_run))
