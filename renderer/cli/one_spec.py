"""SPEC for the commands that start GPUs or act on a deployed app (deploy, bench, wake, stop):
given, or the repository's only spec; never one picked from several."""

from __future__ import annotations

import click

from renderer.pipeline import spec_paths


def the_spec(ctx: click.Context, param: click.Parameter, value: str | None) -> str:
    """SPEC, or the repository's only spec. Commands that start GPUs or act on a deployed app
    never pick one of several: that would deploy (or stop) something nobody named."""
    if value:
        return value
    paths = spec_paths(())
    if len(paths) == 1:
        return str(paths[0])
    if not paths:
        raise click.UsageError("no SPEC given and no specs/*.yaml found", ctx)
    raise click.UsageError(f"name the SPEC: this repository holds {len(paths)} specs: "
                           + ", ".join(str(p) for p in paths), ctx)


ONE_SPEC = click.argument("spec", required=False, callback=the_spec, type=click.Path(dir_okay=False))
