"""`servespec size MODEL`: from a model and a target to the cheapest deployment that fits.

MODEL is a model-facts file, the name of one in specs/models/ (`glm-5.1-fp8`), a local folder
with config.json, or a Hub repository (read through `servespec model-facts`). Exit codes: 0 a
candidate passes, 1 none does or the written spec fails validation, 2 a usage error.
"""

from __future__ import annotations

import shlex
import sys
import tempfile
from pathlib import Path

import click

from renderer.size.candidates import KV_DTYPES, PRECISIONS, Request

TARGET_KEYS = ("p95_ttft_ms", "median_tpot_ms")


class UsageError(Exception):
    pass


def parse_targets(text: str | None) -> dict:
    targets = {}
    for part in filter(None, (text or "").split(",")):
        key, _, value = part.partition("=")
        key = key.strip()
        if key not in TARGET_KEYS:
            raise UsageError(f"--target: unknown metric '{key}' (one of {', '.join(TARGET_KEYS)})")
        try:
            targets[key] = float(value)
        except ValueError:
            raise UsageError(f"--target: {key} needs a number, not '{value}'") from None
    return targets


def facts_path(model: str, workdir: Path, repo: str | None = None) -> Path:
    """The facts file MODEL names, generating one from config.json for a folder or Hub repo."""
    path = Path(model)
    if path.is_file() and path.suffix in (".yaml", ".yml"):
        return path
    named = Path("specs") / "models" / f"{model}.yaml"
    if named.is_file():
        return named
    from renderer.facts.generate import model_facts_main

    out = workdir / facts_name(model, repo)
    if model_facts_main(model, None, str(out), repo=repo, announce=False) != 0:
        raise UsageError(f"cannot read model facts for '{model}' (see above)")
    return out


def facts_name(model: str, repo: str | None) -> str:
    """The facts file's name for a folder, config.json or Hub repository, as the shipped ones
    are named: the model's name (qwen3-8b.yaml for Qwen/Qwen3-8B or .../Qwen3-8B/config.json)."""
    from renderer.size.candidates import slug

    if repo:
        base = repo.rsplit("/", 1)[-1]
    else:
        source = Path(model.rstrip("/") or "/")
        if source.name in ("", ".", ".."):  # `size .` in the checkpoint's folder
            source = source.resolve()
        base = source.parent.name if source.name == "config.json" else source.name
        base = base.removesuffix(".json").removesuffix(".config")
    return (slug(base) or "model") + ".yaml"


@click.command("size")
@click.argument("model")
@click.option("--repo", default=None, metavar="ORG/NAME",
              help="The Hub repository a local folder holds (as for `model-facts`).")
@click.option("--context", type=click.IntRange(min=1), default=None,
              help="Tokens per sequence (default: the model's max_position_embeddings).")
@click.option("--concurrency", type=click.IntRange(min=1), default=1, show_default=True,
              help="Sequences of that context served at once by one replica.")
@click.option("--gpus", default=None, help="GPU types to consider, comma-separated (default: all).")
@click.option("--max-gpus", type=click.IntRange(min=1), default=None, help="At most this many GPUs per replica.")
@click.option("--nodes", type=click.IntRange(1, 2), default=1, show_default=True,
              help="Consider up to this many nodes per replica.")
@click.option("--precision", type=click.Choice(sorted(PRECISIONS)), default="checkpoint", show_default=True,
              help="Weights as the checkpoint stores them, or FP8 quantized at load time.")
@click.option("--kv-cache", type=click.Choice(sorted(KV_DTYPES)), default="bf16", show_default=True)
@click.option("--speculative/--no-speculative", default=False,
              help="Keep the checkpoint's MTP head for EAGLE (its memory is counted).")
@click.option("--target", default=None, metavar="p95_ttft_ms=N,median_tpot_ms=N",
              help="Drop candidates whose floor is above a target.")
@click.option("--max-usd-per-hour", type=float, default=None, help="Drop replicas above this price.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--explain", is_flag=True, help="List every dropped candidate with its reason.")
@click.option("--write", "write_to", type=click.Path(dir_okay=False), default=None,
              help="Write the spec of the chosen row here.")
@click.option("--pick", type=click.IntRange(min=1), default=1, show_default=True, help="The row --write writes.")
@click.option("--extends", type=click.Path(dir_okay=False, exists=True), default=None,
              help="With --write: extend this spec, writing only what sizing decides.")
def size(model: str, repo, context, concurrency, gpus, max_gpus, nodes, precision, kv_cache, speculative,
         target, max_usd_per_hour, fmt, explain, write_to, pick, extends) -> None:
    """Rank deployments of MODEL: every candidate checked by the rules of `validate`, costed
    by the estimate, and measured against the hardware's floors."""
    options = {"context": context, "concurrency": concurrency, "gpus": gpus,
               "max_gpus": max_gpus, "nodes": nodes, "precision": precision,
               "kv_cache": kv_cache, "speculative": speculative, "target": target,
               "max_usd_per_hour": max_usd_per_hour, "repo": repo}
    try:
        sys.exit(size_main(model, options, fmt, explain, write_to, pick, extends))
    except UsageError as exc:
        print(f"servespec size: {exc}", file=sys.stderr)
        sys.exit(2)


def request_of(options: dict, facts: dict) -> Request:
    from renderer import catalog

    names = tuple(g.strip() for g in (options["gpus"] or "").split(",") if g.strip())
    unknown = [g for g in names if g not in catalog.gpus()]
    if unknown:
        raise UsageError(f"--gpus: unknown GPU type {unknown[0]} (one of {', '.join(catalog.gpus())})")
    context = options["context"] or int(facts.get("max_position_embeddings") or 0)
    if not context:
        raise UsageError("--context is needed: the facts give no max_position_embeddings")
    return Request(context=context, concurrency=options["concurrency"], gpus=names,
                   max_gpus=options["max_gpus"], nodes=options["nodes"],
                   precision=options["precision"], kv_cache=options["kv_cache"],
                   speculative=options["speculative"], targets=parse_targets(options["target"]),
                   max_usd_per_hour=options["max_usd_per_hour"])


def size_main(model: str, options: dict, fmt: str, explain: bool, write_to: str | None,
              pick: int, extends: str | None) -> int:
    import json

    from renderer.errors import LoadError
    from renderer.facts.load import facts_file
    from renderer.size import report
    from renderer.size.sweep import sweep

    if extends and not write_to:
        raise UsageError("--extends needs --write")
    with tempfile.TemporaryDirectory() as tmp:
        path = facts_path(model, Path(tmp), options.get("repo"))
        try:
            facts = facts_file(path).data
        except LoadError as exc:
            raise UsageError(exc.findings[0].format() if exc.findings else str(exc)) from None
        target = Path(write_to) if write_to else None
        result = sweep(path, request_of(options, facts), target)
        payload = report.to_json(result) if fmt == "json" else None
        if payload is None:
            print(report.to_text(result, explain), end="")
        code = 1 if not result.ranked else 0
        if result.ranked and target is not None:
            generated = Path(tmp) in path.parents
            code, written = write_and_check(result, pick, target, Path(extends) if extends else None,
                                            generated, text=payload is None)
            if payload is not None:
                payload["written"] = written
        if payload is not None:
            print(json.dumps(payload, indent=2, sort_keys=True))
    return code


def write_and_check(result, pick: int, target: Path, extends: Path | None,
                    generated: bool = False, text: bool = True) -> tuple[int, dict]:
    """Write row `pick`, then run the written file through `validate` as a user would: its
    findings as validate prints them (each rule's hint once, a summary line) or, for --format
    json, in the payload. Facts generated from a folder or the Hub are kept beside it, in models/."""
    from renderer.cli.report import Run
    from renderer.pipeline import read_spec
    from renderer.size.write import write_spec

    if pick > len(result.ranked):
        raise UsageError(f"--pick {pick}: only {len(result.ranked)} candidate(s) pass")
    if generated:
        result.facts_path = keep_facts(result.facts_path, target.parent / "models")
    command = "servespec size " + " ".join(shlex.quote(a) for a in sys.argv[2:]) if len(sys.argv) > 2 \
        else "servespec size"
    cand = write_spec(result, pick, target, command, extends)
    checked = read_spec(target)
    failed = checked.failed() or checked.spec is None
    if text:
        run = Run()
        run.echo(checked)
        run.line(f"wrote {target}: {cand.shape.label}", always=True)
        run.line(run.summary("size", f"wrote {target}" + (" (FAILED)" if failed else "")), always=True)
    return (1 if failed else 0), {"file": str(target), "candidate": cand.shape.label, "ok": not failed,
                                  "findings": [f.to_json() for f in checked.findings]}


def keep_facts(facts: Path, folder: Path) -> Path:
    """The generated facts file, kept in `folder` under its name, or beside a different file of
    that name as name-2.yaml, ...: a facts file already there is the user's, never overwritten.
    Its regenerate command names where it is kept, not the temporary folder it was made in."""
    from renderer.files import write_atomic

    made = facts.read_text(encoding="utf-8")
    kept, n = folder / facts.name, 2
    while kept.is_file() and kept.read_text(encoding="utf-8") != made.replace(str(facts), str(kept)):
        kept, n = folder / f"{facts.stem}-{n}.yaml", n + 1
    if not kept.is_file():
        write_atomic(kept, made.replace(str(facts), str(kept)))
        print(f"wrote {kept}", file=sys.stderr)
    return kept
