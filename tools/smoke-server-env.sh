#!/usr/bin/env bash
# Build the venv that runs a real OpenAI-compatible server (`transformers serve`, CPU torch) for
# tests/test_smoke.py. The project's own venv never gets torch or transformers.
#
#   bash tools/smoke-server-env.sh            # builds .cache/smoke-server/ once, then no-op
#
# Idempotent: a done-marker inside the env records a hash of the pinned requirements and the
# Python version, and a matching marker means there is nothing to do. The env is built in a
# temporary folder next to its destination and moved into place with one rename, so an
# interrupted build never leaves a half-made env where the tests look for it. A lock serialises
# concurrent builds.
#
# Environment:
#   SERVESPEC_SMOKE_SERVER_ENV  where the env goes (default: <repo>/.cache/smoke-server)
#   PYTHON                      interpreter to build it from (default: python3)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
req="$root/tools/smoke-server-requirements.txt"
dest="${SERVESPEC_SMOKE_SERVER_ENV:-$root/.cache/smoke-server}"
python="${PYTHON:-python3}"
marker_name=".servespec-smoke-server-done"

pyver="$("$python" -c 'import sys; print(sys.version.split()[0])')"
stamp="$( { cat "$req"; echo "python $pyver"; } | sha256sum | cut -d' ' -f1)"

is_done() { [[ -f "$dest/$marker_name" && "$(cat "$dest/$marker_name")" == "$stamp" ]]; }

if is_done; then
    echo "smoke-server env is up to date: $dest"
    exit 0
fi

parent="$(dirname "$dest")"
# shellcheck source=tools/venv-build.sh
source "$root/tools/venv-build.sh"
take_build_lock "$dest" "smoke-server env"

start=$SECONDS
name="$(basename "$dest")"
open_build_dir "$dest"

echo "smoke-server env: building in $tmp (python $pyver)"
chmod 755 "$tmp"
"$python" -m venv "$tmp"
# The torch pin matches the CPU wheel on this machine's disk; pip never pulls a CUDA build here.
"$tmp/bin/python" -m pip install --quiet --disable-pip-version-check --no-input -r "$req"
"$tmp/bin/python" -m pip check
"$tmp/bin/python" - <<'EOF'
import torch, transformers, fastapi, uvicorn, openai, tokenizers  # noqa: F401
from transformers.utils.import_utils import is_serve_available
assert is_serve_available(), "transformers serve dependencies are missing"
assert torch.version.cuda is None, f"a CUDA build of torch was installed: {torch.__version__}"
print(f"smoke-server env: torch {torch.__version__}, transformers {transformers.__version__}")
EOF

publish_env "$tmp" "$dest" "$marker_name" "$stamp" "$parent/.$name.old.$$" "smoke-server env" "$start"
