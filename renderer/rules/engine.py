"""Rules from what the pinned SGLang's own resolution does with a deployment (SS210-SS215).

Each repeats one decision of SGLang's resolution code on the spec alone, so `validate` says it
without the SGLang environment; tests/test_engine_resolution.py runs the real code on each rule's
fixtures and checks that SGLang refuses, rewrites or divides exactly where the rule says.
The tables: renderer/catalog/sglang_resolution.yaml (the override variable, the deprecated values
per release) and sglang_defaults.yaml (the chunk sizes SGLang picks by itself).
"""

from __future__ import annotations

from collections.abc import Iterator

from renderer import catalog
from renderer.rules.registry import Hit, RuleContext, rule


def _resolution() -> dict:
    return catalog.sglang_resolution()


def _where(ctx: RuleContext, decision: str) -> str:
    """The file and function of the pinned release that decides it (catalog `where`)."""
    version = ctx.deployment.sglang_version
    table = _resolution()["versions"].get(version) or _resolution()["versions"]["0.5.23"]
    return f"sglang {version} {table['where'][decision]}"


def _draft_context(ctx: RuleContext) -> tuple[int, int] | None:
    """(the draft's own context length, the target's) when the draft's is the shorter."""
    draft = ctx.draft_facts
    if ctx.deployment.draft is None or not draft or not draft.get("max_position_embeddings"):
        return None
    own, wanted = int(draft["max_position_embeddings"]), int(ctx.spec["model"]["context_length"])
    return (own, wanted) if wanted > own else None


def _override_set(ctx: RuleContext) -> bool:
    table = _resolution()["draft_context"]
    value = str(ctx.spec["engine"]["env"].get(table["override_env"], "")).strip().lower()
    return value in table["true_values"]


@rule("SS210")
def draft_shorter_than_context(ctx: RuleContext) -> Iterator[Hit]:
    lengths = _draft_context(ctx)
    if lengths is None or _override_set(ctx):
        return
    own, wanted = lengths
    var = _resolution()["draft_context"]["override_env"]
    yield ("speculative", "draft", "repo"), (
        f"the draft {ctx.deployment.draft.repo} was trained for {own:,} positions "
        f"(max_position_embeddings in its config.json) but model.context_length is {wanted:,}: "
        f"SGLang {ctx.deployment.sglang_version} refuses to start the draft worker "
        "(srt/configs/model_config.py _derive_context_length). Use a draft trained for the "
        f"context, lower model.context_length to {own:,}, or set engine.env {var}: \"1\" and "
        f"accept that fewer of the draft's guesses are accepted past {own:,} tokens")


@rule("SS211")
def draft_runs_past_its_length(ctx: RuleContext) -> Iterator[Hit]:
    lengths = _draft_context(ctx)
    if lengths is None or not _override_set(ctx):
        return
    own, wanted = lengths
    var = _resolution()["draft_context"]["override_env"]
    yield ("speculative", "draft", "repo"), (
        f"{var} lets SGLang run the draft {ctx.deployment.draft.repo} (trained for {own:,} "
        f"positions) at {wanted:,}: past {own:,} tokens of a sequence fewer of its guesses are "
        "accepted while each step still pays the draft pass; measure acceptance at your prompt "
        "lengths before relying on speculation")


@rule("SS212")
def deprecated_value(ctx: RuleContext) -> Iterator[Hit]:
    version = ctx.deployment.sglang_version
    aliases = _resolution()["deprecated_values"].get(version) or {}
    where = _where(ctx, "deprecated_values")
    for dotted, renamed in aliases.items():
        path = tuple(dotted.split("."))
        node = ctx.spec
        for key in path:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, str) and node in renamed:
            yield path, (f"'{node}' is a deprecated name in SGLang {version}, which rewrites it to "
                         f"'{renamed[node]}' with a warning at start ({where}): write "
                         f"{path[-1]}: {renamed[node]}")


def _ranks(ctx: RuleContext) -> int:
    return int(ctx.spec["parallelism"].get("attention_data") or 1)


@rule("SS213")
def rank_chunk_too_small(ctx: RuleContext) -> Iterator[Hit]:
    est, ranks = ctx.estimate, _ranks(ctx)
    if est is None or ranks < 2:
        return
    floor = min(row["chunked_prefill_size"] for row in catalog.sglang_defaults()["gpu_memory_tiers"])
    chunk = est.chunked_prefill_size  # per rank, as SGLang divides it
    if chunk >= floor:
        return
    total = chunk * ranks
    passes = -(-est.context_length // chunk)
    field = ("engine", "chunked_prefill_size") if ctx.spec["engine"].get("chunked_prefill_size") \
        else ("parallelism", "attention_data")
    yield field, (
        f"each of the {ranks} attention-DP ranks prefills {chunk} tokens at a time "
        f"(chunked_prefill_size {total} // {ranks}, {_where(ctx, 'chunked_prefill_per_rank')}), "
        f"below {floor}, the smallest chunk SGLang picks by itself: a "
        f"{est.context_length:,}-token prompt takes {passes} prefill passes on its rank; set "
        f"engine.chunked_prefill_size to {floor * ranks} for {floor} per rank")


@rule("SS214")
def rank_admits_fewer_than_graphs(ctx: RuleContext) -> Iterator[Hit]:
    est, ranks = ctx.estimate, _ranks(ctx)
    if est is None or ranks < 2 or not est.max_running_requests_per_rank:
        return
    per_rank, graphs = est.max_running_requests_per_rank, est.cuda_graph_max_bs
    if per_rank >= graphs:
        return
    field = ("engine", "max_running_requests") if ctx.spec["engine"].get("max_running_requests") \
        else ("parallelism", "attention_data")
    yield field, (
        f"each of the {ranks} attention-DP ranks admits at most {per_rank} running requests "
        f"(max_running_requests {est.max_running_requests} // {ranks}, "
        f"{_where(ctx, 'running_requests_per_rank')}) while decode CUDA graphs "
        f"are captured up to batch {graphs}: no rank decodes more than {per_rank} at once; set "
        f"max_running_requests to {graphs * ranks} for {graphs} per rank, or cuda_graph_max_bs "
        f"to {per_rank}")


@rule("SS215")
def chunk_not_whole_pages(ctx: RuleContext) -> Iterator[Hit]:
    est = ctx.estimate
    if est is None or est.page_size <= 1 or est.chunked_prefill_size % est.page_size == 0:
        return
    ranks = _ranks(ctx)
    per = f" per attention-DP rank ({est.chunked_prefill_size * ranks} // {ranks})" if ranks > 1 else ""
    step = est.page_size * ranks
    field = ("engine", "chunked_prefill_size") if ctx.spec["engine"].get("chunked_prefill_size") \
        else ("parallelism", "attention_data")
    yield field, (
        f"SGLang {ctx.deployment.sglang_version} runs a chunked prefill of "
        f"{est.chunked_prefill_size} tokens{per}, not a multiple of its {est.page_size}-token KV "
        "page, and refuses to start (check_server_args: chunked_prefill_size must be divisible "
        f"by page_size); use a multiple of {step}")
