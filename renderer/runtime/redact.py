"""Redaction: which names look secret and how a secret value is hidden.

The one place that knows it: the deploy runner (environment variables), the smoke test (the API
key), the supervision code in the container (the API key on SGLang's command line) and rule
SS123 (engine.env keys) all use it. Standard library only and no `from __future__` import: it
is part of the runtime file every container imports (renderer/runtime/__init__.py).
"""

import re
from collections.abc import Iterable, Mapping, Sequence

REDACTED = "***"
# Parts of a name that mark its value as a secret (matched anywhere, any case): HF_TOKEN,
# MODAL_TOKEN_SECRET, SGLANG_API_KEY, AWS_SECRET_ACCESS_KEY, DB_PASSWORD, GOOGLE_CREDENTIALS.
SECRET_NAME_PARTS = ("TOKEN", "SECRET", "KEY", "PASSWORD", "PASSWD", "CREDENTIAL")
SECRET_NAME = re.compile("|".join(SECRET_NAME_PARTS), re.IGNORECASE)
# A value picked by its name alone is hidden only from this length on: "1" or "on" under a
# secret-looking name would turn ordinary output into asterisks without hiding anything.
MIN_SECRET_LENGTH = 4
# SGLang's option for its API key: the value after it on a command line is a secret.
API_KEY_FLAG = "--api-key"


def looks_secret(name: str) -> bool:
    """True when a variable or key name says its value is a secret."""
    return SECRET_NAME.search(name) is not None


class Redactor:
    """Replaces every occurrence of any of the given secret values with "***", in one pass."""

    def __init__(self, secrets: Iterable[str | None] = ()):
        # Longest first, so a secret that contains a shorter one is hidden whole. Empty values
        # are skipped: they would "match" between every two characters.
        self.values = sorted({s for s in secrets if s}, key=len, reverse=True)
        self._pattern = (re.compile("|".join(re.escape(s) for s in self.values))
                         if self.values else None)

    @classmethod
    def from_env(cls, env: Mapping[str, str], extra_names: Iterable[str] = ()) -> "Redactor":
        """Hide the values of secret-looking variables and of the variables named in
        `extra_names` (such as the spec's API key variable, whatever its name)."""
        extra = set(extra_names)
        return cls(value for name, value in env.items()
                   if (looks_secret(name) or name in extra) and len(value) >= MIN_SECRET_LENGTH)

    def __call__(self, text: str) -> str:
        return self._pattern.sub(REDACTED, text) if self._pattern else text

    def deep(self, obj):
        """Redact every string inside a JSON-ready structure (before serializing, so a secret
        that contains a quote cannot survive as its escaped form)."""
        if isinstance(obj, str):
            return self(obj)
        if isinstance(obj, list):
            return [self.deep(v) for v in obj]
        if isinstance(obj, dict):
            return {k: self.deep(v) for k, v in obj.items()}
        return obj


def secrets_in_argv(argv: Sequence[str]) -> list[str]:
    """Return the API key values on a command line (`--api-key V` or `--api-key=V`)."""
    found = []
    for position, arg in enumerate(argv):
        if arg == API_KEY_FLAG and position + 1 < len(argv):
            found.append(argv[position + 1])
        elif arg.startswith(API_KEY_FLAG + "="):
            found.append(arg[len(API_KEY_FLAG) + 1 :])
    return found


def redact_argv(argv: Sequence[str], secrets: Iterable[str | None]) -> list[str]:
    """Return a copy of `argv` that is safe to log."""
    redact = Redactor([*secrets, *secrets_in_argv(argv)])
    return [redact(arg) for arg in argv]
