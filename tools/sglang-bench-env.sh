#!/usr/bin/env bash
# Build the overlay that lets SGLang's own serving benchmark, `python -m sglang.benchmark.serving`
# of a pinned release, run on this CPU-only machine: `servespec bench SPEC --local-url URL` and
# tests/test_bench.py drive it against a local OpenAI-compatible server.
#
#   bash tools/sglang-bench-env.sh 0.5.23     # builds .cache/sglang-0.5.23-bench-overlay/ once
#   PYTHONPATH=.cache/sglang-0.5.23-bench-overlay .cache/sglang-0.5.23/bin/python \
#       -m sglang.benchmark.serving --help
#
# The overlay is a folder of packages (pip --target), not a venv: it sits on PYTHONPATH in front
# of the parser env of tools/sglang-env.sh, which holds sglang itself and the CPU torch (built
# first if missing), so the 2 GB of that env are shared rather than copied. What goes in is
# tools/sglang-bench-requirements/<VERSION>.txt, installed with --no-deps: nothing outside that
# file (and the file it includes) can be pulled in.
#
# Idempotent like the other env scripts: a done-marker holds a hash of the requirements (with
# the included file), this recipe's revision and the Python version; the overlay is built in a
# temporary folder and renamed into place; a lock serialises concurrent builds.
#
# Environment:
#   SERVESPEC_SGLANG_ENV_ROOT  folder that holds the envs (default: <repo>/.cache)
set -euo pipefail

recipe=1
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

if [[ $# -ne 1 || "$1" == "-h" || "$1" == "--help" ]]; then
    echo "usage: $0 VERSION    (versions: $(cd "$root/tools/sglang-bench-requirements" && ls | sed 's/\.txt$//' | tr '\n' ' '))" >&2
    exit 2
fi
version="$1"
req="$root/tools/sglang-bench-requirements/$version.txt"
if [[ ! -f "$req" ]]; then
    echo "sglang bench env: no requirements file for $version ($req)." >&2
    exit 2
fi

env_root="${SERVESPEC_SGLANG_ENV_ROOT:-$root/.cache}"
base="$env_root/sglang-$version"
dest="$env_root/sglang-$version-bench-overlay"
marker_name=".servespec-bench-overlay-done"

bash "$root/tools/sglang-env.sh" "$version" >/dev/null
python="$base/bin/python"
pyver="$("$python" -c 'import sys; print(sys.version.split()[0])')"
# The included requirements file counts too: a change there must rebuild the overlay.
included="$(sed -n 's/^-r  *//p' "$req")"
stamp="$( { cat "$req"; for f in $included; do cat "$(dirname "$req")/$f"; done
            echo "recipe $recipe"; echo "python $pyver"; } | sha256sum | cut -d' ' -f1)"

is_done() { [[ -f "$dest/$marker_name" && "$(cat "$dest/$marker_name")" == "$stamp" ]]; }

if is_done; then
    echo "sglang bench env $version is up to date: $dest"
    exit 0
fi

# shellcheck source=tools/venv-build.sh
source "$root/tools/venv-build.sh"
take_build_lock "$dest" "sglang bench env $version"
name="$(basename "$dest")"
start=$SECONDS
open_build_dir "$dest"

echo "sglang bench env $version: building in $tmp"
chmod 755 "$tmp"
"$python" -m pip install --quiet --disable-pip-version-check --no-input --no-deps \
    --only-binary :all: --target "$tmp" -r "$req" \
    2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)

# Prove it: the benchmark module of the pinned release imports and its parser answers --help.
PYTHONPATH="$tmp" "$python" -W ignore -m sglang.benchmark.serving --help >/dev/null
PYTHONPATH="$tmp" "$python" -W ignore -c "import sglang; assert sglang.__version__ == '$version', sglang.__version__"

publish_env "$tmp" "$dest" "$marker_name" "$stamp" "$env_root/.$name.old.$$" "sglang bench env $version" "$start"
