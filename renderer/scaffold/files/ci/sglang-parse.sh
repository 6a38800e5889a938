#!/usr/bin/env bash
# Parse every rendered/*/sglang.args with the REAL argument parser of the SGLang version it was
# rendered for (named in the file's header), the way the server parses it at start-up.
# Written by `servespec init`; run by the optional sglang-parser job of the CI workflow.
#
# One venv per version under $SGLANG_ENV_DIR (default .sglang-envs/), built once with pip: sglang
# plus CPU torch, since the parser needs sglang's imports, not a GPU. The parser script ships
# inside the servespec package (renderer/engine/parse.py); PYTHON is the interpreter that has
# servespec installed (default python3). Exit 0 when every file parses, 1 otherwise.
set -euo pipefail
envs="${SGLANG_ENV_DIR:-.sglang-envs}"
python="${PYTHON:-python3}"
parse="$("$python" -c 'import renderer.engine.parse as m; print(m.__file__)')"

shopt -s nullglob
files=(rendered/*/sglang.args)
if (( ${#files[@]} == 0 )); then
    echo "sglang-parse: no rendered/*/sglang.args here; run \`make render\` first" >&2
    exit 1
fi
status=0
for file in "${files[@]}"; do
    if ! grep -q '^# SGLang [^ ]* launch arguments' "$file"; then
        echo "sglang-parse: $file names no SGLang version; re-render it" >&2
        status=1
    fi
done
for version in $(sed -n 's/^# SGLang \([^ ]*\) launch arguments.*/\1/p' "${files[@]}" | sort -u); do
    env="$envs/sglang-$version"
    if [[ ! -x "$env/bin/python" ]]; then
        "$python" -m venv "$env"
        "$env/bin/python" -m pip install --quiet "sglang==$version" \
            --extra-index-url https://download.pytorch.org/whl/cpu
    fi
    mapfile -t mine < <(grep -l "^# SGLang $version launch arguments" "${files[@]}")
    echo "SGLang $version: ${mine[*]}"
    "$env/bin/python" "$parse" "${mine[@]}" || status=1
done
exit "$status"
