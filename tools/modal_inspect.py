"""Import a rendered deploy.py with the real `modal` client and print what it would deploy, as JSON.

Importing a Modal app only runs its decorators: no token and no network are needed, and modal
1.6.x already raises on removed parameters (keep_warm, concurrency_limit, ...) at this point.
Every warning is turned into an error, so a deprecation cannot slip through.

Usage: python tools/modal_inspect.py rendered/<name>/deploy.py
Reads private modal internals (autoscaler settings, web_server port, image layers) where the
public Function.info() does not show them; modal is pinned to 1.6.4 for that reason.
"""

from __future__ import annotations

import importlib.util
import json
import shlex
import sys
import warnings


def _cells(fn) -> dict:
    closure = fn.__closure__ or ()
    return dict(zip(fn.__code__.co_freevars, (c.cell_contents for c in closure)))


def image_layers(image) -> list[str]:
    """Dockerfile commands of an image and its bases, base first. A file attached at container
    start (Image.add_local_file, copy=False: a mount layer, modal/_image.py
    _add_mount_layer_or_copy) shows as `MOUNT local -> remote`."""
    cells = _cells(image._load)
    if "mount" in cells and "base_image" in cells:
        entries = cells["mount"]._entries or ()
        return image_layers(cells["base_image"]) + [
            f"MOUNT {entry.local_file} -> {entry.remote_path}" for entry in entries]
    commands = []
    for base in cells.get("base_images", {}).values():
        commands += image_layers(base)
    build = cells.get("dockerfile_function")
    if build is not None:
        commands += [c for c in build("2025.06").commands if c != "FROM base"]
    return commands


def image_env(layers: list[str]) -> dict[str, str]:
    """The variables an image sets: modal writes one `ENV KEY=value` layer per variable, the value
    shell-quoted (modal/_image.py _Image.env, modal 1.6.4)."""
    env = {}
    for line in layers:
        if line.startswith("ENV "):
            key, _, value = line[4:].partition("=")
            env[key] = (shlex.split(value) or [""])[0]
    return env


# Volume name -> the version its Volume.from_name asks for (None: Modal's default, v1), read from
# the module's Volume objects (the public VolumeMountInfo does not carry it).
VOLUME_VERSIONS: dict[str, int | None] = {}


def volume_versions(module, modal) -> dict:
    from modal._utils.async_utils import synchronizer

    out = {}
    for value in vars(module).values():
        if isinstance(value, modal.Volume):
            cells = _cells(synchronizer._translate_in(value)._load)
            if "name" in cells:
                out[cells["name"]] = cells.get("version")
    return out


def describe(tag: str, fn, info) -> dict:
    cells = _cells(fn._load)
    autoscaler = cells.get("autoscaler_settings")
    http = cells.get("http_config")
    webhook = fn._webhook_config
    out = {
        "gpus": [list(g) for g in info.gpus],
        "timeout": getattr(info, "timeout", None),
        "startup_timeout": info.startup_timeout,
        "volumes": {path: mount.name for path, mount in sorted(info.volumes.items())},
        # with_mount_options(read_only=True) (modal/volume.py _VolumeMountOptions), and the
        # version Volume.from_name asks for (None: Modal's default, v1)
        "read_only": sorted(path for path, mount in info.volumes.items() if mount.read_only),
        "volume_versions": {path: VOLUME_VERSIONS.get(mount.name)
                            for path, mount in sorted(info.volumes.items())},
        "secrets": sorted(info.secrets),
        "autoscaler": {f.name: v for f, v in autoscaler.ListFields()} if autoscaler else {},
        "web_server_port": webhook.web_server_port if webhook and webhook.web_server_port else None,
        "web_label": webhook.requested_suffix if webhook else None,
        "web_server_startup_timeout": (webhook.web_server_startup_timeout
                                       if webhook and webhook.web_server_port else None),
        "http_port": http.port if http is not None and http.port else None,
        "cluster_size": cells.get("cluster_size"),
        "rdma": cells.get("rdma"),
        "is_server": bool(cells.get("is_server")),
        # FunctionInfo.regions; a Server's ServerInfo.compute_regions
        "regions": list(getattr(info, "regions", None) or getattr(info, "compute_regions", None)
                        or []),
        "image": image_layers(cells["image"]) if cells.get("image") is not None else [],
    }
    # Where each start-up cache goes (renderer/resolve/caches.py): the test checks it is a mounted volume.
    out["env"] = image_env(out["image"])
    concurrency = getattr(info, "concurrency_info", None)
    if concurrency is not None:
        out["concurrency"] = {"max_inputs": concurrency.max_inputs,
                              "target_inputs": concurrency.target_inputs}
    # Who can reach it, from the PUBLIC info objects (no private reads): a Server's
    # ServerInfo.unauthenticated, a web function's FunctionInfo.web_info.unauthenticated.
    web_info = getattr(info, "web_info", None)
    if hasattr(info, "unauthenticated"):
        out["public"] = bool(info.unauthenticated)
        out["routing_region"] = info.routing_region
        out["exit_grace_period"] = info.exit_grace_period
    elif web_info is not None:
        out["public"] = bool(web_info.unauthenticated)
    else:
        out["public"] = None  # not an HTTP entry point
    target = cells.get("target_concurrent_inputs_int") or None
    if out["is_server"]:
        out["max_concurrency"] = cells.get("max_concurrent_inputs")
        out["unauthenticated"] = bool(http.unauthenticated) if http is not None else None
    elif target:
        out["target_inputs"] = target
    return {tag: out}


def main(path: str) -> int:
    warnings.simplefilter("error")  # any deprecation or other warning fails the import
    import modal
    from modal._utils.async_utils import synchronizer

    spec = importlib.util.spec_from_file_location("rendered_deploy", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    VOLUME_VERSIONS.update(volume_versions(module, modal))
    apps = [v for v in vars(module).values() if isinstance(v, modal.App)]
    assert len(apps) == 1, f"expected one modal.App, found {len(apps)}"
    app = apps[0]
    infos = {name: obj.info() for name, obj in vars(module).items()
             if isinstance(obj, (modal.Function, modal.Server))}
    local = synchronizer._translate_in(app)._local_state
    functions = {}
    for tag, fn in local.functions.items():
        info = infos.get(tag) or next(i for n, i in infos.items() if n.lower() == tag.lower())
        functions.update(describe(tag, fn, info))
    # What `modal run FILE::f` and `modal deploy FILE` create and publish: every function and
    # class of the app's local state (modal/runner.py _create_all_objects, modal 1.6.4).
    creates = sorted([*local.functions, *local.classes])
    print(json.dumps({"app": app.name, "modal": modal.__version__, "functions": functions,
                      "creates": creates}, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
