"""The machine SGLang's resolution code asks about, answered for the spec's GPU, on CPU.

Imported by resolution.py (same folder, run as a script inside the SGLang venv): standard library,
plus torch, which only the patched device queries touch.

  * GPU: torch's device queries (is_available, device_count, get_device_capability,
    get_device_properties, mem_get_info, torch.version.cuda) and an `nvidia-smi` on PATH that
    prints memory.total, name and compute_cap the way the real one does
    (sglang srt/utils/common.py get_nvgpu_memory_capacity reads memory.total).
  * Kernel packages: GPU-only packages SGLang imports that cannot load on CPU are stubs, each
    named in STUBS, provided only when the release's own metadata requires the distribution (so
    the image holds it): importlib.util.find_spec answers for them as it would in the image.
  * Logs: SGLang's log records and the warnings its own code raises, minus what importing a
    module prints (that comes once per process, not once per case).
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.metadata
import logging
import os
import re
import stat
import sys
import types

# Import name -> the distribution SGLang's metadata must require for the image to hold it.
STUBS = {
    "sgl_kernel": "sglang-kernel",  # SGLang's own CUDA kernels
    "flashinfer": "flashinfer-python",  # attention/sampling kernels (has_flashinfer probes it)
    "deep_gemm": "sgl-deep-gemm",
    "flash_mla": "sgl-flash-mla",
    "deep_ep": "sgl-deep-ep",
}


# --- the GPU --------------------------------------------------------------------------------
class GPU:
    """The GPU the current case runs on; torch's patched device queries read it."""

    name, major, minor, count, memory_mib = "NVIDIA H100 80GB HBM3", 9, 0, 1, 81559.0


def install_gpu(tmp: str) -> None:
    """Answer torch's device queries and nvidia-smi for GPU (before sglang is imported)."""
    import torch

    def props(device=None):
        return types.SimpleNamespace(
            name=GPU.name, major=GPU.major, minor=GPU.minor,
            total_memory=int(GPU.memory_mib * 2**20), multi_processor_count=132,
            L2_cache_size=50 * 2**20, uuid="GPU-00000000-0000-0000-0000-000000000000")

    cuda = torch.cuda
    cuda.is_available = lambda: True
    cuda.device_count = lambda: GPU.count
    cuda.current_device = lambda: 0
    cuda.set_device = lambda device: None
    cuda.is_initialized = lambda: False
    cuda.get_device_capability = lambda device=None: (GPU.major, GPU.minor)
    cuda.get_device_name = lambda device=None: GPU.name
    cuda.get_device_properties = props
    cuda.mem_get_info = lambda device=None: (int(GPU.memory_mib * 2**20),) * 2
    smi = os.path.join(tmp, "bin", "nvidia-smi")
    os.makedirs(os.path.dirname(smi))
    with open(smi, "w") as f:
        f.write(NVIDIA_SMI)
    os.chmod(smi, stat.S_IRWXU)
    os.environ["PATH"] = os.path.dirname(smi) + os.pathsep + os.environ.get("PATH", "")


# nvidia-smi --query-gpu=X --format=csv,noheader[,nounits]: one line per GPU. The driver version
# is not known here, so that query fails the way it does without a driver (SGLang reads (0,)).
NVIDIA_SMI = """#!/bin/sh
case "$*" in
  *memory.total*) v="$SERVESPEC_GPU_MIB" ;;
  *compute_cap*) v="$SERVESPEC_GPU_CC" ;;
  *--query-gpu=name*) v="$SERVESPEC_GPU_NAME" ;;
  *) echo "nvidia-smi: query not answered on this machine" >&2; exit 9 ;;
esac
i=0; while [ "$i" -lt "$SERVESPEC_GPU_COUNT" ]; do echo "$v"; i=$((i+1)); done
"""


def set_gpu(gpu: dict) -> None:
    major, minor = (int(x) for x in str(gpu["compute_capability"]).split("."))
    GPU.name, GPU.major, GPU.minor = gpu["name"], major, minor
    GPU.count, GPU.memory_mib = int(gpu["count"]), float(gpu["memory_mib"])
    import torch

    torch.version.cuda = str(gpu.get("cuda_version") or "12.9")
    os.environ.update(SERVESPEC_GPU_MIB=str(gpu["memory_mib"]), SERVESPEC_GPU_NAME=gpu["name"],
                      SERVESPEC_GPU_CC=f"{major}.{minor}", SERVESPEC_GPU_COUNT=str(GPU.count))


# --- kernel-package stubs -------------------------------------------------------------------
class _Stub:
    """Any attribute of a stubbed kernel package: callable, subclassable, never a kernel."""

    def __init__(self, name: str):
        self._name = name

    def __call__(self, *args, **kwargs):
        return _Stub(self._name + "()")

    def __getattr__(self, attr: str):
        if attr.startswith("__"):
            raise AttributeError(attr)
        return _Stub(f"{self._name}.{attr}")

    def __mro_entries__(self, bases):
        return (object,)


class _StubModule(types.ModuleType):
    def __getattr__(self, attr: str):
        if attr.startswith("__"):
            raise AttributeError(attr)
        return _Stub(f"{self.__name__}.{attr}")


class StubFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Serves the named top-level packages (and any submodule) as stubs; records what was used."""

    def __init__(self, names):
        self.names, self.used = set(names), set()

    def find_spec(self, fullname, path=None, target=None):
        if fullname.split(".")[0] in self.names:
            return importlib.machinery.ModuleSpec(fullname, self, is_package=True)
        return None

    def create_module(self, spec):
        module = _StubModule(spec.name)
        module.__path__ = []
        return module

    def exec_module(self, module):
        self.used.add(module.__name__.split(".")[0])


def required_stubs() -> list[str]:
    """The STUBS whose distribution sglang's own metadata requires (so its image holds it)."""
    required = set()
    for req in importlib.metadata.requires("sglang") or []:
        if "extra ==" in req:
            continue
        dist = re.match(r"[A-Za-z0-9_.\-]+", req).group(0).lower().replace("_", "-")
        required.add(dist)
    return sorted(name for name, dist in STUBS.items() if dist in required)


# --- what SGLang logs -----------------------------------------------------------------------
class LogCapture(logging.Handler):
    """SGLang's log records (INFO and up) and the Python warnings sglang's own code raises."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.records: list[dict] = []

    def emit(self, record):
        if not record.name.startswith("sglang") or _importing_sglang():
            return
        self.records.append({"level": record.levelname, "message": record.getMessage(),
                             "function": record.funcName, "file": rel(record.pathname)})

    def distinct(self) -> list[dict]:
        """Each message once, in the order SGLang first printed it."""
        seen, out = set(), []
        for record in self.records:
            key = (record["level"], record["message"], record["file"])
            if key not in seen:
                seen.add(key)
                out.append(record)
        return out


    def warning(self, message, category, filename, lineno, file=None, line=None):
        if os.sep + "sglang" + os.sep in filename and not _importing_sglang():
            self.records.append({"level": category.__name__, "message": str(message),
                                 "function": None, "file": rel(filename)})


def _importing_sglang() -> bool:
    """Whether a sglang module is being imported: what its import prints says nothing about the
    case, and comes only in whichever case first imports it (so never in the answer)."""
    frame = sys._getframe(1)
    while frame is not None:
        code = frame.f_code
        if code.co_name == "<module>" and os.sep + "sglang" + os.sep in code.co_filename:
            return True
        frame = frame.f_back
    return False


def rel(path: str) -> str:
    """A path inside the sglang package as SGLang's own tree names it (srt/...)."""
    marker = os.sep + "sglang" + os.sep
    return path.rsplit(marker, 1)[1] if marker in path else os.path.basename(path)
