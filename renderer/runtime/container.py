"""What the functions of a rendered app run inside the container around supervision: a rank
of a multi-node replica, reading and committing volumes, the download of the checkpoint
snapshots and the DeepGEMM precompile.

Modal's objects arrive as arguments (volumes, huggingface_hub's snapshot_download), so this
module needs nothing but the standard library, like the rest of the runtime file.
"""

import os
import subprocess
from collections.abc import Sequence

from .supervise import SupervisedServer, log, supervise

# A reload fails while files are open (modal 1.6.4 volume.py reload), and Volume.commit() reloads
# right after a commit that worked (volume.py commit: `if not resp.skip_reload`), so this text in
# a commit's error means the commit itself may well have gone through.
OPEN_FILES_ERROR = "open files"


def reload_volumes(volumes) -> None:
    """Volumes are mounted as committed when the container starts; a reload picks up a commit
    made since (a download or compile that finished while this container was scheduled)."""
    for volume in volumes:
        volume.reload()


def commit_volumes(volumes: dict, moment: str) -> list[str]:
    """Commit each volume ({name: volume}) and log what is known about each; return the names
    whose commit was not confirmed. Best effort: a cache that did not persist costs the next cold
    start time, never this replica."""
    unconfirmed = []
    for name, volume in volumes.items():
        try:
            volume.commit()
        except Exception as error:  # noqa: BLE001 - serving matters more than the cache
            unconfirmed.append(name)
            log(_commit_failure(name, moment, error))
        else:
            log(f"volume {name} committed {moment}")
    return unconfirmed


def _commit_failure(name: str, moment: str, error: Exception) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    if OPEN_FILES_ERROR in text:
        return (f"volume {name}: commit {moment} not confirmed: the reload that follows a "
                f"commit failed while files are open ({text}); the commit may have persisted, "
                "and the exit commit tries again")
    return f"volume {name} not committed {moment}: {text}"


def missing_snapshots(downloads) -> list[str]:
    """repo@revision of every snapshot whose download marker is not in the weights volume."""
    return [f"{repo}@{revision}" for repo, revision, _, done in downloads
            if not os.path.exists(done)]


def download_snapshots(downloads, ignore_patterns, snapshot_download, commit) -> None:
    """Snapshot each (repo, revision, directory, marker) once; the marker goes last, so a
    download cut short leaves no marker and is resumed next time."""
    for repo, revision, directory, done in downloads:
        if os.path.exists(done):
            print(f"skipped: {repo}@{revision} is already in {directory}", flush=True)
            continue
        snapshot_download(repo_id=repo, revision=revision, local_dir=directory,
                          ignore_patterns=list(ignore_patterns) or None)
        with open(done, "w") as marker:
            marker.write(f"{repo}@{revision}\n")
        commit()
        print(f"downloaded {repo}@{revision} into {directory}", flush=True)


def precompile_deepgemm(argv, marker: str, downloads, commit, writes_marker: bool = True) -> None:
    """Run sglang.compile_deep_gemm (argv) once per key: skipped when `marker` exists, refused
    while a snapshot is missing. `writes_marker` is False on the ranks of a cluster other than
    0: rank 0 alone writes the marker and commits."""
    if os.path.exists(marker):
        print(f"skipped: DeepGEMM kernels for this key are compiled ({marker})", flush=True)
        return
    missing = missing_snapshots(downloads)
    if missing:
        raise RuntimeError(f"not in the weights volume: {', '.join(missing)}: "
                           "run download_weights first")
    os.makedirs(os.path.dirname(marker), exist_ok=True)
    subprocess.run(list(argv), check=True)
    if not writes_marker:
        return
    with open(marker, "w") as done:
        done.write("compiled\n")
    commit()


def supervise_rank(
    argv: Sequence[str],
    health_url: str,
    *,
    rank: int,
    ips: Sequence[str],
    dist_init_port: int,
    notice_port: int,
    **options,
) -> SupervisedServer:
    """One rank of a multi-node replica (modal.clustered): every rank starts SGLang with its
    node rank and rank 0's address; rank 0 serves HTTP, waits for health and on shutdown tells
    the others first; the other ranks serve no HTTP and cannot drain on their own, so they wait
    for rank 0's notice and its shutdown broadcast (sglang 0.5.23 srt/entrypoints/engine.py)."""
    argv = [*argv, *cluster_args(rank, ips[0], dist_init_port)]
    if rank == 0:
        return supervise(argv, health_url, followers=[(ip, notice_port) for ip in ips[1:]],
                         **options)
    options.pop("health_timeout", None)
    return supervise(argv, None, leader_notice_port=notice_port, **options)


def cluster_args(rank: int, leader_ip: str, port: int) -> list[str]:
    """--node-rank and --dist-init-addr: known only inside the cluster, at start-up."""
    return ["--node-rank", str(rank), "--dist-init-addr", f"{leader_ip}:{port}"]
