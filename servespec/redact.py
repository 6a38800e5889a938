"""Hiding secret values in everything a run prints or records."""

from __future__ import annotations

import re
from dataclasses import dataclass

REDACTED = "***"
SECRET_NAME = re.compile(r"TOKEN|SECRET|KEY|PASSWORD|PASSWD|CREDENTIAL", re.IGNORECASE)
# Shorter values ("1", "on") would turn ordinary output into asterisks without hiding anything.
MIN_SECRET_LENGTH = 4


@dataclass
class Redactor:
    values: list[str]

    @classmethod
    def from_env(cls, env: dict[str, str], extra_names: list[str]) -> Redactor:
        picked = {value for name, value in env.items()
                  if (SECRET_NAME.search(name) or name in extra_names)
                  and len(value) >= MIN_SECRET_LENGTH}
        # Longest first, so a secret that contains another is replaced whole.
        return cls(sorted(picked, key=len, reverse=True))

    def __call__(self, text: str) -> str:
        for value in self.values:
            text = text.replace(value, REDACTED)
        return text

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
