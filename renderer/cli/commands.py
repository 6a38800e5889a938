"""The command group: commands defined in modules of their own are imported when run."""

from __future__ import annotations

import importlib
from typing import ClassVar

import click


class Commands(click.Group):
    """The commands defined in modules of their own are imported when named (or listed by
    --help), so `validate` and `render` do not import the size sweep and its dependencies."""

    OWN_MODULES: ClassVar[dict[str, str]] = {
        "eval": "renderer.cli.evals:eval_command",
        "init": "renderer.cli.init_command:init_command",
        "prune-cache": "renderer.cli.prune:prune_cache",
        "size": "renderer.cli.size:size",
        "url": "renderer.cli.endpoint:url",
    }

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.OWN_MODULES})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.OWN_MODULES and name not in self.commands:
            module, attribute = self.OWN_MODULES[name].split(":")
            self.add_command(getattr(importlib.import_module(module), attribute), name)
        return super().get_command(ctx, name)
