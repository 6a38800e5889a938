"""Pruning the cache volume: the start-up cache directories of images no longer in use.

The cache volume holds one directory per GPU architecture and image,
<mount>/<arch>/<image key> (renderer/resolve/caches.py); each new image tag adds one and nothing
removes the old ones. prune_caches removes every image-key directory of one architecture except
the current image's; other architectures' directories stay unless they are named.
"""

import os
import shutil

from .supervise import log


def tree_bytes(path: str) -> int:
    """The size of the files under `path` (symlinks counted as themselves, not followed)."""
    total = 0
    for folder, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(folder, name)).st_size
            except OSError:
                pass
    return total


def prune_caches(mount: str, arch: str, current: str, dry_run: bool = False,
                 other_archs: tuple = ()) -> list:
    """Remove the image-key directories under <mount>/<arch> (and each of `other_archs`) other
    than `current` (kept in `arch` only); with dry_run, remove nothing. Returns
    [(path, bytes, removed)], and logs one line per directory and a total."""
    results = []
    for each in (arch, *other_archs):
        base = os.path.join(mount, each)
        if not os.path.isdir(base):
            log(f"cache prune: {base} does not exist; nothing to prune there")
            continue
        for key in sorted(os.listdir(base)):
            path = os.path.join(base, key)
            if (each == arch and key == current) or not os.path.isdir(path) or os.path.islink(path):
                continue
            results.append(_prune_one(path, dry_run))
    _log_total(results, mount, arch, current, dry_run)
    return results


def _prune_one(path: str, dry_run: bool) -> tuple:
    size = tree_bytes(path)
    if dry_run:
        log(f"cache prune: would remove {path} ({size / 1e6:.1f} MB)")
        return (path, size, False)
    try:
        shutil.rmtree(path)
    except OSError as error:
        log(f"cache prune: could not remove {path}: {error}")
        return (path, size, False)
    log(f"cache prune: removed {path} ({size / 1e6:.1f} MB)")
    return (path, size, True)


def _log_total(results: list, mount: str, arch: str, current: str, dry_run: bool) -> None:
    kept = os.path.join(mount, arch, current)
    if dry_run:
        size = sum(r[1] for r in results)
        log(f"cache prune (dry run): would remove {len(results)} director"
            f"{'y' if len(results) == 1 else 'ies'}, {size / 1e6:.1f} MB; keeps {kept}")
        return
    removed = [r for r in results if r[2]]
    size = sum(r[1] for r in removed)
    failed = len(results) - len(removed)
    log(f"cache prune: removed {len(removed)} director{'y' if len(removed) == 1 else 'ies'}, "
        f"{size / 1e6:.1f} MB; kept {kept}" + (f"; {failed} could not be removed" if failed else ""))
