"""`servespec init [DIR]`: the scaffold (renderer/scaffold/write.py), rendered, with where its CI
installs servespec from."""

from __future__ import annotations

import sys

import click


@click.command("init")
@click.argument("directory", required=False, default=".", type=click.Path(file_okay=False))
@click.option("--servespec", "requirement", default=None, metavar="REQUIREMENT",
              help="Where the new repository's CI installs servespec from: a pip requirement "
                   "(servespec @ git+URL@TAG, or a path). Default: how this one was installed, "
                   "if from a VCS URL; else a placeholder that fails loudly until filled in.")
def init_command(directory: str, requirement: str | None) -> None:
    """Scaffold a repository in DIRECTORY (default: here): an example spec with its schema and
    model facts, a Makefile, the CI workflow and .gitignore. Never overwrites a file."""
    from pathlib import Path

    from renderer.scaffold.write import InitRefused, default_requirement, render_example, scaffold

    try:
        written = scaffold(Path(directory), requirement or default_requirement())
    except InitRefused as refused:
        click.echo(f"servespec init: {refused}", err=True)
        sys.exit(1)
    except OSError as exc:  # a folder that cannot be made or written (permissions, /proc, ...)
        click.echo(f"servespec init: cannot write {exc.filename or directory}: "
                   f"{exc.strerror or exc}", err=True)
        sys.exit(1)
    for rel in written:
        click.echo(f"  wrote {Path(directory) / rel}", err=True)
    failed = render_example(Path(directory))
    if failed:
        click.echo(failed, err=True)
        sys.exit(1)
    click.echo(f"  rendered {Path(directory) / 'rendered'}", err=True)
    enter = "" if Path(directory) == Path(".") else f"cd {directory} && "
    click.echo(f"next: {enter}make render  (then commit specs/ and rendered/)", err=True)
