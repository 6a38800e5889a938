#!/usr/bin/env bash
# The GPU check's one command on the GPU machine (tools/gpu-check stages this file beside what it
# needs and prints how to run it; docs/gpu-check.md):
#   bash <stage>/run.sh          with <stage> carried; the report lands in $OUT/report.json
# The stage holds site312.tar.xz (SGLang 0.5.16 and what the image lacks), model/ (the tiny
# model) and src.tar.gz (this repository's files as they were staged): the check runs that copy
# of servespec, whichever checkout the machine was sent.
set -uo pipefail
stage="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
OUT="${OUT:-/tmp/gpu-check-out}"
mkdir -p "$OUT"
work=/tmp/gpu-check
site=$work/site
src=$work/src
t0=$SECONDS
stamp="$(sha256sum "$stage/site312.tar.xz" | cut -c1-16)"
if [[ "$(cat "$site/.stamp" 2>/dev/null)" != "$stamp" ]]; then
    rm -rf "$site" && mkdir -p "$site"
    python3 -c "import sys, tarfile; tarfile.open(sys.argv[1], 'r:xz').extractall(sys.argv[2])" \
        "$stage/site312.tar.xz" "$site" || exit 1
    echo "$stamp" > "$site/.stamp"
fi
rm -rf "$src" && mkdir -p "$src" && tar -xzf "$stage/src.tar.gz" -C "$src" || exit 1
# pip --target wrote console scripts for the Python that built the tree; this one is for ours.
mkdir -p "$site/bin"
# The __main__ guard matters: SGLang spawns its scheduler processes, which import __main__ again.
printf '#!/usr/bin/env python3\nimport sys\nfrom sglang.cli.main import main\nif __name__ == "__main__":\n    sys.exit(main())\n' \
    > "$site/bin/sglang"
chmod +x "$site/bin/sglang"
echo "gpu-check: unpacked in $((SECONDS - t0)) s"
export PATH="$site/bin:$PATH" PYTHONPATH="$site:$src" PYTHONUNBUFFERED=1
cd "$src" && python3 tools/gpu_check/device.py "$OUT" "$stage/model" 2>&1 | tee "$OUT/check.log"
