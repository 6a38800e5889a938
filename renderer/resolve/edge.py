"""Modal proxy auth at the edge: the Modal-Key / Modal-Secret headers, read from environment
variables whose NAMES the spec gives (serving.auth.proxy_token_id_env / proxy_token_secret_env).

Every client of a rendered endpoint uses this module: the deploy runner's wait step, `servespec
smoke`, `servespec wake` and the benchmark. Modal's proxy answers 401 to a request without a valid
Proxy Auth Token before any container starts (https://modal.com/docs/guide/webhook-proxy-auth).
Values are read at the moment of use and never stored, printed or written to a file.
Standard library only, so that importing it costs nothing.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

KEY_HEADER = "Modal-Key"
SECRET_HEADER = "Modal-Secret"
DEFAULT_TOKEN_ID_ENV = "MODAL_PROXY_TOKEN_ID"
DEFAULT_TOKEN_SECRET_ENV = "MODAL_PROXY_TOKEN_SECRET"


class ProxyTokenMissing(Exception):
    """One or both token variables are unset or empty; the message names them (never values)."""

    def __init__(self, names: list[str]):
        self.names = names
        which = " and ".join(names)
        super().__init__(
            f"{which} {'is' if len(names) == 1 else 'are'} not set: the endpoint requires a Modal "
            "Proxy Auth Token, sent as Modal-Key/Modal-Secret (create one at "
            "https://modal.com/settings/proxy-auth-tokens)"
        )


@dataclass(frozen=True)
class ProxyAuth:
    """Where the proxy token lives: two environment variable names."""

    token_id_env: str = DEFAULT_TOKEN_ID_ENV
    token_secret_env: str = DEFAULT_TOKEN_SECRET_ENV

    @property
    def names(self) -> list[str]:
        return [self.token_id_env, self.token_secret_env]

    def missing(self, env: Mapping[str, str] | None = None) -> list[str]:
        env = os.environ if env is None else env
        return [name for name in self.names if not env.get(name, "").strip()]

    def headers(self, env: Mapping[str, str] | None = None) -> dict[str, str]:
        """The two headers; raises ProxyTokenMissing naming each variable that is not set."""
        env = os.environ if env is None else env
        missing = self.missing(env)
        if missing:
            raise ProxyTokenMissing(missing)
        return {KEY_HEADER: env[self.token_id_env].strip(),
                SECRET_HEADER: env[self.token_secret_env].strip()}

    def secret_values(self, env: Mapping[str, str] | None = None) -> list[str]:
        """The values to scrub from any output (only those that are set)."""
        env = os.environ if env is None else env
        return [env[name] for name in self.names if env.get(name)]

    def to_json(self) -> dict:
        return {"token_id_env": self.token_id_env, "token_secret_env": self.token_secret_env}

    def smoke_options(self) -> list[str]:
        """The `servespec smoke` options that name these variables."""
        return ["--proxy-token-id-env", self.token_id_env,
                "--proxy-token-secret-env", self.token_secret_env]


def from_spec(spec: dict) -> ProxyAuth | None:
    """The spec's proxy auth, or None when the spec opts out (serving.auth.public)."""
    auth = spec["serving"].get("auth") or {}
    if auth.get("public"):
        return None
    return ProxyAuth(auth.get("proxy_token_id_env") or DEFAULT_TOKEN_ID_ENV,
                     auth.get("proxy_token_secret_env") or DEFAULT_TOKEN_SECRET_ENV)


def from_steps(steps_doc: dict) -> ProxyAuth | None:
    """The proxy auth recorded in steps.json ("proxy_auth"), or None for a public endpoint."""
    recorded = steps_doc.get("proxy_auth")
    if not recorded:
        return None
    return ProxyAuth(recorded["token_id_env"], recorded["token_secret_env"])


def request_headers(proxy: ProxyAuth | None, api_key: str | None = None,
                    env: Mapping[str, str] | None = None) -> dict[str, str]:
    """Headers for one request to the endpoint: the proxy token (unless public) and SGLang's
    API key as a bearer token (when given)."""
    headers = proxy.headers(env) if proxy is not None else {}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    return headers
