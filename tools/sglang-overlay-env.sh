#!/usr/bin/env bash
# Build an overlay that lets one of SGLang's own client-side modules of a pinned release run on
# this CPU-only machine against a local OpenAI-compatible server:
#   bench    `python -m sglang.benchmark.serving`  (`servespec bench --local-url`, tests/test_bench.py)
#   eval     `python -m sglang.test.run_eval`      (`servespec eval --local-url`, tests/test_eval.py)
#   resolve  SGLang's own argument resolution       (`servespec render --resolve`,
#            renderer/engine/resolution.py, tests/test_engine_resolution.py)
#
#   bash tools/sglang-overlay-env.sh bench 0.5.23   # builds .cache/sglang-0.5.23-bench-overlay/ once
#   bash tools/sglang-overlay-env.sh eval 0.5.23    # builds the bench overlay, then ...-eval-overlay/
#   PYTHONPATH=.cache/sglang-0.5.23-eval-overlay:.cache/sglang-0.5.23-bench-overlay \
#       .cache/sglang-0.5.23/bin/python -m sglang.test.run_eval --help
# (tools/sglang-bench-env.sh and tools/sglang-eval-env.sh are the same command, one kind each.)
#
# An overlay is a folder of packages (pip --target), not a venv: it sits on PYTHONPATH in front
# of the parser env of tools/sglang-env.sh, which holds sglang itself and the CPU torch (built
# first if missing), so the 2 GB of that env are shared rather than copied. The eval overlay
# holds only what run_eval needs beyond the bench overlay, and goes in front of it. What goes in
# is tools/sglang-<KIND>-requirements/<VERSION>.txt, installed with --no-deps: nothing outside
# that file (and the file it includes) can be pulled in.
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

if [[ $# -ne 2 || "$1" == "-h" || "$1" == "--help" ]]; then
    echo "usage: $0 bench|eval|resolve VERSION" >&2
    exit 2
fi
kind="$1"
version="$2"
case "$kind" in
    bench) below=() ;;
    eval) below=(bench) ;;
    resolve) below=() ;;
    *) echo "sglang overlay: unknown kind '$kind' (bench, eval or resolve)" >&2; exit 2 ;;
esac
req="$root/tools/sglang-$kind-requirements/$version.txt"
if [[ ! -f "$req" ]]; then
    echo "sglang $kind env: no requirements file for $version ($req); versions: $(cd "$root/tools/sglang-$kind-requirements" && ls | sed 's/\.txt$//' | tr '\n' ' ')" >&2
    exit 2
fi

env_root="${SERVESPEC_SGLANG_ENV_ROOT:-$root/.cache}"
base="$env_root/sglang-$version"
dest="$env_root/sglang-$version-$kind-overlay"
marker_name=".servespec-$kind-overlay-done"

bash "$root/tools/sglang-env.sh" "$version" >/dev/null
lower=""
for k in "${below[@]}"; do
    bash "$0" "$k" "$version" >/dev/null
    lower="${lower:+$lower:}$env_root/sglang-$version-$k-overlay"
done
python="$base/bin/python"
pyver="$("$python" -c 'import sys; print(sys.version.split()[0])')"
# The included requirements file counts too: a change there must rebuild the overlay.
included="$(sed -n 's/^-r  *//p' "$req")"
stamp="$( { cat "$req"; for f in $included; do cat "$(dirname "$req")/$f"; done
            echo "recipe $recipe"; echo "python $pyver"; } | sha256sum | cut -d' ' -f1)"

is_done() { [[ -f "$dest/$marker_name" && "$(cat "$dest/$marker_name")" == "$stamp" ]]; }

if is_done; then
    echo "sglang $kind env $version is up to date: $dest"
    exit 0
fi

# shellcheck source=tools/venv-build.sh
source "$root/tools/venv-build.sh"
take_build_lock "$dest" "sglang $kind env $version"
name="$(basename "$dest")"
start=$SECONDS
open_build_dir "$dest"

echo "sglang $kind env $version: building in $tmp"
chmod 755 "$tmp"
"$python" -m pip install --quiet --disable-pip-version-check --no-input --no-deps \
    --only-binary :all: --target "$tmp" -r "$req" \
    2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)

# Prove it: the module of the pinned release imports and its parser answers --help.
path="$tmp${lower:+:$lower}"
case "$kind" in
    bench) PYTHONPATH="$path" "$python" -W ignore -m sglang.benchmark.serving --help >/dev/null ;;
    # run_eval imports sglang.test.test_utils only when it runs: import that too.
    eval) PYTHONPATH="$path" "$python" -W ignore -m sglang.test.run_eval --help >/dev/null
          PYTHONPATH="$path" "$python" -W ignore -c "import sglang.test.test_utils" ;;
    # the resolution of a small model on a stand-in H100, as `render --resolve` runs it
    resolve) PYTHONPATH="$path" "$python" -W ignore "$root/renderer/engine/resolution.py" --self-test >/dev/null ;;
esac
PYTHONPATH="$path" "$python" -W ignore -c "import sglang; assert sglang.__version__ == '$version', sglang.__version__"

publish_env "$tmp" "$dest" "$marker_name" "$stamp" "$env_root/.$name.old.$$" "sglang $kind env $version" "$start"
