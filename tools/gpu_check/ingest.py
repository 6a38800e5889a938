"""After a GPU-check run: its measured cold-start phases into renderer/catalog/coldstart.yaml and
its benchmark picture into docs/ (tools/gpu-check --ingest REPORT_DIR).

    .venv/bin/python tools/gpu_check/ingest.py REPORT_DIR

REPORT_DIR holds what the run returned: report.json and bench.png. The measured entries go
under `measured:` in the catalog, one per cache state (miss: the first start on a fresh
machine; hit: the second start, with what the first left in the image's cache paths), keyed by
GPU, model and SGLang version, beside the assumed phases, which they never replace. An entry of
the same key and cache state is replaced; the rest of the file is kept as it is (the block is
appended, or rewritten in place, as text, so the comments stay).
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
CATALOG = ROOT / "renderer" / "catalog" / "coldstart.yaml"
PICTURE = ROOT / "docs" / "bench-h200-sglang-0.5.16.png"
SPEC = ROOT / "specs" / "examples" / "tiny-qwen3-h200.yaml"
MARK = "\nmeasured:\n"
HEADER = """
# Measured by the GPU check (tools/gpu-check, docs/gpu-check.md) on a real SGLang: the tiny
# model of specs/examples/tiny-qwen3-h200.yaml on one H200. Phases from SGLang's own log lines
# (tools/gpu_check/phases.py). The estimate uses an entry only for a spec of the same GPU, model
# and SGLang version, and says which figures are measured; big models keep the assumptions above.
"""


def entries(report: dict) -> list[dict]:
    spec = yaml.safe_load(SPEC.read_text(encoding="utf-8"))
    machine = report["machine"]
    out = []
    for result in report["results"]:
        if not result["name"].startswith("start (") or result["status"] != "pass":
            continue
        figures = result["figures"]
        out.append({
            "gpu": spec["hardware"]["gpu"], "model": spec["model"]["repo"],
            "sglang": report["sglang"],
            "caches": "miss" if "miss" in result["name"] else "hit",
            "date": machine["date"].split()[0],
            "machine": f"{machine['gpu']}; kernel {machine['kernel']}; torch {machine['torch']}",
            "source": f"tools/gpu-check report of {machine['date']} (docs/gpu-check.md)",
            "start_to_healthy": figures["start_to_healthy"],
            "phases": {p["name"]: p["seconds"] for p in figures["phases"]},
        })
    return out


def merge(old: list[dict], new: list[dict]) -> list[dict]:
    def key(e: dict) -> tuple:
        return e["gpu"], e["model"], e["sglang"], e["caches"]

    fresh = {key(e) for e in new}
    return [e for e in old if key(e) not in fresh] + new


def write_catalog(new: list[dict]) -> None:
    text = CATALOG.read_text(encoding="utf-8")
    head, _, _ = text.partition(HEADER)
    head = head.partition(MARK)[0].rstrip("\n") + "\n"
    old = yaml.safe_load(text).get("measured") or []
    block = yaml.safe_dump({"measured": merge(old, new)}, sort_keys=False, width=100)
    CATALOG.write_text(head + HEADER + block, encoding="utf-8")


def _shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def main(folder: Path) -> int:
    report = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    new = entries(report)
    if not new:
        print("gpu-check ingest: the report has no passing start to take phases from",
              file=sys.stderr)
        return 1
    write_catalog(new)
    print(f"wrote {len(new)} measured entries into {_shown(CATALOG)}")
    if (folder / "bench.png").is_file():
        shutil.copy(folder / "bench.png", PICTURE)
        print(f"wrote {_shown(PICTURE)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
