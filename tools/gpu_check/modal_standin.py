"""A stand-in for the `modal` client module, so that a rendered deploy.py runs in a plain process.

The GPU check has no Modal servers (and the GPU machine reaches nothing), so it imports the
rendered deploy.py with this module in place of `modal`: every decorator returns what it wraps
unchanged, so `Serve` stays the plain class whose @modal.enter and @modal.exit methods the
container stand-in (tools/gpu_check/container.py) calls the way Modal does. What the app asks of
Modal's servers is recorded instead: the image's environment variables (Image.env, which the
container gets), each decorator's options (exit_grace_period, startup_timeout), and each
volume's reload and commit (a LocalVolume that only logs: nothing is persisted anywhere).

Anything else deploy.py touches answers permissively (an attribute or call returns another
recorder), so a rendered app that uses more of the client still imports. Standard library only.
"""

from __future__ import annotations

import sys
import types

RECORD: dict = {"env": {}, "servers": [], "functions": [], "volumes": {}, "secrets": []}


class Anything:
    """Any attribute, any call: returns another Anything (Image chains, Secret objects)."""

    def __init__(self, name: str = "modal"):
        self._name = name

    def __getattr__(self, attr: str) -> Anything:
        if attr.startswith("__"):
            raise AttributeError(attr)
        return Anything(f"{self._name}.{attr}")

    def __call__(self, *args, **kwargs) -> Anything:
        return Anything(f"{self._name}()")

    def __repr__(self) -> str:
        return f"<stand-in {self._name}>"


class Image(Anything):
    """Records the variables every .env() call sets: the container's environment."""

    def __getattr__(self, attr: str):
        if attr == "env":
            return self._env
        if attr.startswith("__"):
            raise AttributeError(attr)
        return lambda *args, **kwargs: self

    def _env(self, variables: dict) -> Image:
        RECORD["env"].update(variables)
        return self

    @classmethod
    def from_registry(cls, tag: str, *args, **kwargs) -> Image:
        return cls(f"Image.from_registry({tag!r})")

    @classmethod
    def debian_slim(cls, *args, **kwargs) -> Image:
        return cls("Image.debian_slim()")


class LocalVolume:
    """A volume with nothing behind it: reload and commit are logged, never fail."""

    def __init__(self, name: str):
        self.name = name
        RECORD["volumes"][name] = {"reloads": 0, "commits": 0}

    @classmethod
    def from_name(cls, name: str, *args, **kwargs) -> LocalVolume:
        return cls(name)

    def reload(self) -> None:
        RECORD["volumes"][self.name]["reloads"] += 1

    def commit(self) -> None:
        RECORD["volumes"][self.name]["commits"] += 1

    def with_mount_options(self, *args, **kwargs) -> LocalVolume:
        return self  # a read-only mount: nothing here writes it anyway


class Secret(Anything):
    @classmethod
    def from_name(cls, name: str, *args, **kwargs) -> Secret:
        RECORD["secrets"].append(name)
        return cls(f"Secret.from_name({name!r})")

    @classmethod
    def from_dict(cls, values: dict | None = None, *args, **kwargs) -> Secret:
        return cls("Secret.from_dict()")


def _recording_decorator(kind: str, options: dict):
    def wrap(target):
        RECORD[kind].append({"name": getattr(target, "__name__", repr(target)), **options})
        return target

    return wrap


class App(Anything):
    def __init__(self, name: str = "app", *args, **kwargs):
        super().__init__(f"App({name!r})")
        self.name = name

    def server(self, *args, **options):
        return _recording_decorator("servers", options)

    def cls(self, *args, **options):
        return _recording_decorator("servers", options)

    def function(self, *args, **options):
        return _recording_decorator("functions", options)


def _identity_decorator(*args, **kwargs):
    if len(args) == 1 and callable(args[0]) and not kwargs:
        return args[0]
    return lambda target: target


def _lifecycle(hook: str):
    """@modal.enter() / @modal.exit(): mark the method, so the container stand-in finds it."""

    def decorator(*args, **kwargs):
        def mark(method):
            method.modal_standin_hook = hook
            return method

        if len(args) == 1 and callable(args[0]) and not kwargs:
            return mark(args[0])
        return mark

    return decorator


def install() -> types.ModuleType:
    """Put the stand-in into sys.modules as `modal` and return it."""
    module = types.ModuleType("modal")
    module.__dict__.update(
        App=App, Image=Image, Volume=LocalVolume, Secret=Secret, RECORD=RECORD,
        enter=_lifecycle("enter"), exit=_lifecycle("exit"), method=_identity_decorator,
        concurrent=_identity_decorator, web_server=_identity_decorator,
        asgi_app=_identity_decorator, fastapi_endpoint=_identity_decorator,
        clustered=_identity_decorator,
    )
    def anything(attr: str) -> Anything:
        if attr.startswith("__"):  # __file__, __path__: what inspect and importlib look for
            raise AttributeError(attr)
        return Anything(f"modal.{attr}")

    module.__getattr__ = anything  # type: ignore[attr-defined]
    sys.modules["modal"] = module
    return module
