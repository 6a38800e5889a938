#!/usr/bin/env bash
# Build what the GPU check carries to the GPU machine, on this machine (which reaches the package
# index; the GPU machine reaches nothing):
#   $CACHE/site312.tar.xz   SGLang 0.5.16 and the modules the device image lacks
#                           (tools/gpu_check/requirements.txt), installed for CPython 3.12 and
#                           stripped of what a triton-attention server never loads
#   $CACHE/model/           the tests' tiny Qwen3-style chat model, made from scratch
#                           (tests/smoke_server/build_tiny_chat_model.py, variant "reasoner")
# Each is rebuilt only when its inputs change (a stamp file beside it). Called by tools/gpu-check.
#
# Environment:
#   GPU_CHECK_CACHE   where it all goes (default: <repo>/.cache/gpu-check)
#   MODEL_PYTHON      a Python with torch, tokenizers and transformers for the model builder
#                     (default: the smoke-server env of tools/smoke-server-env.sh, built if missing)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
here="$root/tools/gpu_check"
cache="${GPU_CHECK_CACHE:-$root/.cache/gpu-check}"
mkdir -p "$cache/dl"

# The device runs CPython 3.12 on x86-64 (KINDS.md); pip matches manylinux tags exactly.
plat=(--only-binary=:all: --python-version 3.12 --implementation cp
      --platform manylinux_2_34_x86_64 --platform manylinux_2_28_x86_64
      --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64
      --platform manylinux2014_x86_64 --platform manylinux1_x86_64)

# What a server with --attention-backend triton --sampling-backend pytorch never loads, and
# without which the wheels fit the carry (75 MB of wheels as they are; the carry holds 64 MiB):
#   sglang-kernel 0.4.5: FA3 (flash_ops, 1.1 GB unpacked), the sm100 build, infllm and flashmla ops
#   xgrammar 0.2.1: the static library (only the bindings' shared object is loaded)
#   flashinfer 0.6.14: bundled CUTLASS and CCCL headers (only its JIT kernels read them)
strip_paths=(sgl_kernel/flash_ops.abi3.so sgl_kernel/sm100 sgl_kernel/flashmla_ops.abi3.so
             xgrammar/lib/libxgrammar.a flashinfer/data/cutlass flashinfer/data/cccl)

stamp_of() { { cat "$@"; echo "${strip_paths[*]}"; } | sha256sum | cut -d' ' -f1; }

site_stamp="$(stamp_of "$here/requirements.txt" "${BASH_SOURCE[0]}")"
if [[ "$(cat "$cache/site312.stamp" 2>/dev/null)" != "$site_stamp" ]]; then
    echo "gpu-check: downloading $(grep -c '==' "$here/requirements.txt") wheels"
    python3 -m pip download -q --no-deps "${plat[@]}" -d "$cache/dl" -r "$here/requirements.txt" \
        2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
    rm -rf "$cache/site312"
    python3 -m pip install -q --no-deps --no-compile --no-index "${plat[@]}" \
        --target "$cache/site312" -r "$here/requirements.txt" --find-links "$cache/dl" \
        2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
    for p in "${strip_paths[@]}"; do rm -rf "${cache:?}/site312/$p"; done
    rm -f "$cache"/site312/sgl_kernel/infllm_ops*.so
    echo "gpu-check: packing $(du -sh "$cache/site312" | cut -f1) of site-packages"
    tar -C "$cache/site312" -cf - . | xz -9e -T0 > "$cache/site312.tar.xz.tmp"
    mv "$cache/site312.tar.xz.tmp" "$cache/site312.tar.xz"
    echo "$site_stamp" > "$cache/site312.stamp"
fi

builder="$root/tests/smoke_server/build_tiny_chat_model.py"
model_stamp="$(stamp_of "$builder")"
if [[ "$(cat "$cache/model.stamp" 2>/dev/null)" != "$model_stamp" ]]; then
    python="${MODEL_PYTHON:-}"
    if [[ -z "$python" ]]; then
        bash "$root/tools/smoke-server-env.sh" >&2
        python="$root/.cache/smoke-server/bin/python"
    fi
    rm -rf "$cache/model"
    "$python" "$builder" "reasoner=$cache/model"
    echo "$model_stamp" > "$cache/model.stamp"
fi
ls -la "$cache/site312.tar.xz"
du -sh "$cache/model"
