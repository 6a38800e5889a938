"""Exit codes and the two exceptions every part of the runner shares."""

from __future__ import annotations

EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130
TIMEOUT_EXIT_CODE = 124  # what timeout(1) reports, for a step the runner had to stop
DONE = ("ok", "skipped")
STOPPED = ("failed", "timeout", "interrupted")


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM reached the runner."""


class UsageProblem(Exception):
    """A bad option or a missing input: reported as one sentence, never a traceback."""

    def __init__(self, message: str, code: int = EXIT_FAILED):
        super().__init__(message)
        self.code = code
