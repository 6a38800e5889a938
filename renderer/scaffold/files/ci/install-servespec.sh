#!/usr/bin/env bash
# Install servespec from the requirement in ci/servespec-requirement.txt (make install and CI run
# this). Stops with an error until that file names a real source.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
requirement="$(grep -v '^[[:space:]]*#' "$here/servespec-requirement.txt" | grep -v '^[[:space:]]*$' | head -n 1 || true)"
case "$requirement" in
  ""|FILL-IN*)
    echo "error: ci/servespec-requirement.txt does not say where servespec comes from; write one pip" >&2
    echo "  requirement there, e.g. servespec @ git+https://github.com/ORG/servespec@vX.Y.Z" >&2
    echo "  (a tag or commit), or the path to a checkout of servespec" >&2
    exit 1 ;;
esac
"${PYTHON:-python3}" -m pip install --quiet --disable-pip-version-check "$requirement"
