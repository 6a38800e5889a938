#!/usr/bin/env bash
# Build a venv holding the REAL argument parser of one SGLang release, on a CPU-only machine, so
# that rendered launch arguments can be checked against it (renderer/engine/parse.py,
# tests/test_sglang_parser.py, tools/gen_sglang_flags.py).
#
#   bash tools/sglang-env.sh 0.5.23            # builds .cache/sglang-0.5.23/ once, then a no-op
#   bash tools/sglang-env.sh 0.5.23 0.5.10     # several versions, one after the other
#   .cache/sglang-0.5.23/bin/python renderer/engine/parse.py rendered/<app>/sglang.args
#
# What goes in is tools/sglang-requirements/<VERSION>.txt, installed with --no-deps: sglang itself
# (its metadata pins a CUDA torch and dozens of GPU packages the parser never touches), the CPU
# torch wheel that lies on this machine's disk, and exactly the modules that importing
# sglang.srt.server_args needs, each pinned. With --no-deps nothing outside that file can be
# pulled in, so no step can fetch a CUDA torch; the build checks that afterwards anyway.
# Supporting another release means writing its requirements file (see the comments in one).
#
# Idempotent: a done-marker inside the env holds a hash of the requirements file, this recipe's
# revision and the Python version; a matching marker means there is nothing to do (well under a
# second). The env is built in a temporary folder next to its destination and moved into place
# with one rename, so an interrupted build never leaves a half-made env where the tests look for
# it; leftovers of a killed build are removed by the next run. A lock serialises concurrent builds
# of the same version.
#
# Environment:
#   SERVESPEC_SGLANG_ENV_ROOT  folder that holds the envs (default: <repo>/.cache)
#   PYTHON                     interpreter to build from (default: python3; must be 3.11, because
#                              the pinned wheels, the CPU torch on disk among them, are cp311)
set -euo pipefail

# Bump when the install steps below change in a way the requirements files do not show.
recipe=1

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${PYTHON:-python3}"

if [[ $# -eq 0 || "$1" == "-h" || "$1" == "--help" ]]; then
    known=()
    for f in "$root"/tools/sglang-requirements/*.txt; do known+=("$(basename "$f" .txt)"); done
    echo "usage: $0 VERSION [VERSION ...]" >&2
    echo "versions with a requirements file: ${known[*]}" >&2
    exit 2
fi
if [[ $# -gt 1 ]]; then
    for v in "$@"; do bash "${BASH_SOURCE[0]}" "$v"; done
    exit 0
fi

version="$1"
if [[ ! "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+((\.post|rc)[0-9]+)?$ ]]; then
    echo "sglang env: '$version' is not a release number like 0.5.23" >&2
    exit 2
fi
req="$root/tools/sglang-requirements/$version.txt"
if [[ ! -f "$req" ]]; then
    echo "sglang env: no requirements file for $version ($req)." >&2
    echo "  Each release imports a different set of modules; write that file first (copy the" >&2
    echo "  nearest one, then import sglang.srt.server_args in a --no-deps env and add what is missing)." >&2
    exit 2
fi

env_root="${SERVESPEC_SGLANG_ENV_ROOT:-$root/.cache}"
dest="$env_root/sglang-$version"
marker_name=".servespec-sglang-env-done"

pyver="$("$python" -c 'import sys; print(sys.version.split()[0])')"
if [[ "$pyver" != 3.11.* ]]; then
    echo "sglang env: $python is Python $pyver; the pinned wheels need 3.11 (set PYTHON=...)" >&2
    exit 2
fi
stamp="$( { cat "$req"; echo "recipe $recipe"; echo "python $pyver"; } | sha256sum | cut -d' ' -f1)"

is_done() { [[ -f "$dest/$marker_name" && "$(cat "$dest/$marker_name")" == "$stamp" ]]; }

if is_done; then
    echo "sglang env $version is up to date: $dest"
    exit 0
fi

# shellcheck source=tools/venv-build.sh
source "$root/tools/venv-build.sh"
take_build_lock "$dest" "sglang env $version"

start=$SECONDS
open_build_dir "$dest"
# A signal ends the build at once and the EXIT trap removes the half-made env. Bash runs a trap
# only after the foreground command returns, so the long steps run in the background under
# `wait`, which a signal interrupts; the trap then stops that step too.
child=""
run() {
    "$@" &
    child=$!
    wait "$child"
    child=""
}
on_signal() {
    if [[ -n "$child" ]]; then kill "$child" 2>/dev/null || true; fi
    exit "$1"
}
trap 'on_signal 130' INT
trap 'on_signal 143' TERM

echo "sglang env $version: building in $tmp (python $pyver)"
chmod 755 "$tmp"
run "$python" -m venv "$tmp"
# --only-binary: every pin has a wheel; an sdist build here would only mean a typo in a pin.
# The machine's pip config adds find-links /opt/wheels, where torch 2.13.0+cpu lies, and two
# local indexes that pip warns about once per package they lack: that noise is filtered out.
run "$tmp/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
    --no-deps --only-binary :all: -r "$req" \
    2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)

# Prove what we built: the right sglang, a CPU torch, no CUDA packages, and a parser that builds.
"$tmp/bin/python" - "$version" <<'EOF'
import argparse
import importlib.metadata as md
import sys
import warnings

want = sys.argv[1]
cuda = sorted(d.metadata["Name"] for d in md.distributions()
              if d.metadata["Name"].lower().startswith(("nvidia-", "cuda-")))
assert not cuda, f"CUDA packages were installed: {cuda}"
import torch

assert torch.version.cuda is None, f"a CUDA build of torch was installed: {torch.__version__}"
warnings.simplefilter("ignore")  # 0.5.10's torchvision warns that its image extension is missing
import sglang
from sglang.srt.server_args import ServerArgs

assert sglang.__version__ == want, f"installed sglang {sglang.__version__}, wanted {want}"
parser = argparse.ArgumentParser()
ServerArgs.add_cli_args(parser)
print(f"sglang env {want}: parser builds, {len(parser._actions)} arguments; "
      f"torch {torch.__version__}")
EOF

publish_env "$tmp" "$dest" "$marker_name" "$stamp" "$env_root/.sglang-$version.old.$$" "sglang env $version" "$start"
