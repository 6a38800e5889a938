"""Human output of a deploy run: plain text, or a rich spinner on terminals; always redacted."""

from __future__ import annotations

import contextlib
import sys

from renderer.runtime.redact import Redactor


class Display:
    """Human output: stdout for text runs, stderr when stdout carries the JSON summary.
    A rich spinner with the elapsed time shows while a step runs on a terminal."""

    def __init__(self, fmt: str, redact: Redactor):
        self.redact = redact
        self.stream = sys.stderr if fmt == "json" else sys.stdout
        self.console = None
        self.progress = None
        try:
            from rich.console import Console
        except ImportError:  # the `deploy` extra is optional; plain text works everywhere
            return
        self.console = Console(file=self.stream, highlight=False, soft_wrap=True)

    def print(self, text: str, style: str | None = None) -> None:
        text = self.redact(text)
        target = self.progress.console if self.progress else self.console
        if target is None:
            print(text, file=self.stream, flush=True)
        else:
            target.print(text, style=style, markup=False, emoji=False)

    def error(self, text: str) -> None:
        print(self.redact(text), file=sys.stderr, flush=True)

    @contextlib.contextmanager
    def running(self, label: str):
        """A live spinner on terminals; a no-op in logs and pipes. Yields a status setter."""
        if self.console is None or not self.console.is_terminal:
            yield lambda text: None
            return
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                      console=self.console, transient=True) as progress:
            task = progress.add_task(self.redact(label))
            self.progress = progress
            try:
                yield lambda text: progress.update(
                    task, description=self.redact(f"{label}: {text}"))
            finally:
                self.progress = None
