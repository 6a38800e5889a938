"""The `servespec` command line. Thin: parses options, calls a stage, prints, picks the exit code.

Exit codes: 0 clean, 1 findings at error level (or a failed step), 2 usage error.
Heavy libraries (modal, openai, huggingface_hub) are imported only inside the commands that
need them, so `validate` and `render` start fast.
"""

from __future__ import annotations

import json
import sys

import click

from renderer import paths
from renderer.cli import report
from renderer.cli.commands import Commands
from renderer.cli.one_spec import ONE_SPEC
from renderer.pipeline import SpecReport, read_spec, spec_paths

FORMATS = click.Choice(["text", "json"])


@click.group(cls=Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="servespec", prog_name="servespec")
def main() -> None:
    """Validate, estimate, render and deploy SGLang-on-Modal specs."""


def _paths_or_fail(specs: tuple[str, ...]):
    paths = spec_paths(specs)
    if not paths:
        raise click.UsageError("no spec given and no specs/*.yaml found")
    return paths


def print_findings(results: list[SpecReport], strict: bool, fmt: str, extra: dict | None = None,
                   quiet: bool = False) -> None:
    if fmt == "json":
        click.echo(report.json_payload(results, strict, extra))
        return
    run = report.Run(quiet=quiet)
    for r in results:
        run.echo(r)
        if not quiet:
            click.echo(report.spec_status(r, strict), err=True)
    click.echo(run.summary("validate"), err=True)


def estimate_summary(result: SpecReport) -> str:
    """The memory and cost summary `make render` prints on each spec's line."""
    from renderer.cli.estimate import estimate_of
    from renderer.estimate.text import summary_line

    estimate, why = estimate_of(result)
    return summary_line(result.name, estimate).split(": ", 1)[1] if estimate is not None \
        else f"estimate: {why}"


@main.command()
@click.argument("specs", nargs=-1, type=click.Path(dir_okay=False))
@click.option("--strict", is_flag=True, help="Treat warnings (unpinned image or revision) as errors.")
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True)
@click.option("--quiet", "-q", is_flag=True, help="Print errors and the summary line only.")
def validate(specs: tuple[str, ...], strict: bool, fmt: str, quiet: bool) -> None:
    """Check SPECS (default: every specs/*.yaml) against the schema and the rule catalog."""
    results = [read_spec(p) for p in _paths_or_fail(specs)]
    print_findings(results, strict, fmt, quiet=quiet)
    sys.exit(1 if any(r.failed(strict) for r in results) else 0)


@main.command()
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True)
def rules(fmt: str) -> None:
    """List the rule catalog: id, severity, title, why, and where the fact comes from."""
    from renderer import catalog

    table = catalog.rules()
    if fmt == "json":
        click.echo(json.dumps(table, indent=2, sort_keys=True))
        return
    for rule_id, info in table.items():
        click.echo(f"{rule_id}  {info['severity']:<7}  {info['title']}")
        click.echo(f"         why: {info['reason']}")
        if info.get("upstream"):
            click.echo(f"         source: {info['upstream']}")


@main.command()
@click.argument("specs", nargs=-1, type=click.Path(dir_okay=False))
@click.option("--out", "out_dir", default="rendered", show_default=True, type=click.Path(file_okay=False),
              help="Directory that holds one folder of artifacts per spec.")
@click.option("--verify", "verify_only", is_flag=True,
              help="Write nothing; fail with a unified diff when the artifacts on disk are stale.")
@click.option("--check", "check_alias", is_flag=True, hidden=True,
              help="Old name of --verify, kept for one release.")
@click.option("--strict", is_flag=True, help="Treat warnings as errors.")
@click.option("--resolve", "resolve_engine", is_flag=True,
              help="Also resolve each argv with the pinned SGLang's own code (its env from "
                   "`make envs`) into OUT/<spec-name>/sglang.resolved.json.")
@click.option("--quiet", "-q", is_flag=True, help="Print errors and the summary line only.")
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True,
              help="json: every spec's findings and what was rendered, on stdout.")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=None,
              help="Processes that check and render (default: one per core from 48 specs on).")
def render(specs: tuple[str, ...], out_dir: str, verify_only: bool, check_alias: bool,
           strict: bool, resolve_engine: bool, quiet: bool, fmt: str, jobs: int | None) -> None:
    """Render SPECS (default: every specs/*.yaml) into OUT/<spec-name>/: one line per spec and a
    summary; errors in full, warnings counted (`servespec validate` lists them)."""
    from pathlib import Path

    if check_alias:
        click.echo("render --check is deprecated: use `servespec render --verify`", err=True)
        verify_only = True

    from functools import partial

    from renderer.render import artifacts as stage
    from renderer.render import batch

    root = Path(out_dir)
    seen: dict[str, Path] = {}  # rendered/<name> -> the spec that wrote it in this run
    run = report.Run(quiet=quiet or fmt == "json")
    note_resolution = not resolve_engine or verify_only
    job = batch.Job(strict, describe=estimate_summary,
                    stale=partial(_stale_resolution, root=root) if note_resolution else None)
    # --resolve hands the full reports to SGLang's resolution: those stay in this process.
    outcomes = batch.outcomes(_paths_or_fail(specs), job, 1 if resolve_engine else jobs)
    failed, results, rendered = _render_each(outcomes, stage, root, verify_only, strict, fmt,
                                             run, seen)
    failed = _render_runtime(stage, root, verify_only, run) or failed
    if resolve_engine and not verify_only:
        failed = _resolve(rendered, root) or failed
    if verify_only and not specs and root.is_dir():
        failed = _report_orphans(root, seen) or failed
    if fmt == "json":
        click.echo(report.json_payload(results, strict, run.states))
    else:
        click.echo(run.summary("render", run.render_tail(verify_only), listed=True), err=True)
    sys.exit(1 if failed else 0)


def _render_each(outcomes, stage, root, verify_only: bool, strict: bool, fmt: str,
                 run: report.Run, seen: dict) -> tuple[bool, list, list]:
    """Print and write (or verify) each spec's outcome in order: (any failed, every report,
    the reports rendered)."""
    failed, results, rendered = False, [], []
    for outcome in outcomes:
        result = outcome.report
        results.append(result)
        run.echo(result, warnings=False) if fmt == "text" else run.count(result)
        refusal = _not_rendered(result, result.path, root, seen, strict)
        if refusal:
            run.line(refusal, always=True)
            failed = True
            continue
        ok = _write_or_verify(stage, outcome, root, verify_only, run)
        failed = not ok or failed
        if ok and not verify_only:
            rendered.append(result)
    return failed, results, rendered


def _not_rendered(result: SpecReport, path, root, seen: dict, strict: bool) -> str:
    """Why a spec is not rendered, or "" when it may be."""
    from pathlib import Path

    if result.failed(strict):
        return report.spec_status(result, strict) + " (not rendered; earlier artifacts kept)"
    if result.name == paths.RUNTIME_FOLDER:
        return (f"{path}: not rendered: {root / result.name} holds the runtime every app "
                "imports; rename the spec")
    # specs/x.yaml and specs/examples/x.yaml both render to rendered/x/: refuse the second.
    if seen.setdefault(result.name, Path(path).resolve()) != Path(path).resolve():
        return (f"{path}: not rendered: {root / result.name} is also rendered from "
                f"{seen[result.name]}; rename one of the two files")
    return ""


def _write_or_verify(stage, outcome, root, verify_only: bool, run: report.Run) -> bool:
    """Write one rendered spec into OUT/<name>/ (or diff it there); False on a failure."""
    result = outcome.report
    if outcome.files is None:
        run.line(f"{outcome.error} (not rendered; earlier artifacts kept)", always=True)
        return False
    target = root / result.name
    if verify_only:
        stale = _report_stale(stage.diff_files(target, outcome.files), target, str(result.path))
        _echo_stale_resolution(outcome)
        return not (outcome.stale or stale)
    changed = stage.write_files(target, outcome.files)
    run.rendered(result, changed)
    state = f"wrote {', '.join(changed)}" if changed else "unchanged"
    run.line(f"{target}: {state}{report.warning_count(result)} | {outcome.description}")
    _echo_stale_resolution(outcome)  # a note, not a failure: `make resolved` needs the SGLang env
    return True


def _echo_stale_resolution(outcome) -> None:
    if outcome.stale:
        click.echo(outcome.stale, err=True)


def _stale_resolution(result: SpecReport, root) -> str | None:
    """Why OUT/<name>/sglang.resolved.json no longer describes the spec; None when it does."""
    from renderer.render import sglang_resolution

    return sglang_resolution.verify(result, root)


def _resolve(reports: list[SpecReport], root) -> bool:
    """Write OUT/<name>/sglang.resolved.json for each spec; True when any could not be."""
    from renderer.files import write_atomic
    from renderer.render import sglang_resolution
    from renderer.resolve.sglang_resolved import ARTIFACT

    failed = False
    for name, text in sglang_resolution.resolve_reports(reports).items():
        target = root / name / ARTIFACT
        if text is None:
            click.echo(f"{target}: not resolved: no config.json is known for its models "
                       "(specs/models/<facts>.config.json beside the facts)", err=True)
        elif isinstance(text, Exception):
            click.echo(f"{text} (not resolved; {target} kept as it was)", err=True)
            failed = True
        elif target.is_file() and target.read_text(encoding="utf-8") == text:
            click.echo(f"{target}: unchanged", err=True)
        else:
            write_atomic(target, text)
            click.echo(f"{target}: written", err=True)
    return failed


def _render_runtime(stage, root, verify_only: bool, run: report.Run) -> bool:
    """The runtime file every app of the tree imports (OUT/_runtime/); True on a failure. Said
    only when it changed: it is no spec's line."""
    target = root / paths.RUNTIME_FOLDER
    try:
        files = stage.runtime_files()
    except stage.RenderError as error:
        click.echo(str(error), err=True)
        return True
    if verify_only:
        return _report_stale(stage.diff_files(target, files), target, "renderer/runtime/")
    changed = stage.write_files(target, files)
    if changed:
        run.line(f"{target}: wrote {', '.join(changed)}")
    return False


def _report_stale(diffs: list[str], target, path: str) -> bool:
    """Print the unified diffs of one spec's artifacts; True when any file is stale."""
    for diff in diffs:
        click.echo(diff, nl=False)
    if diffs:
        click.echo(f"{target}: STALE: {len(diffs)} file(s) differ from {path}; "
                   "run `make render` and commit the result", err=True)
    else:
        click.echo(f"{target}: up to date", err=True)
    return bool(diffs)


def _report_orphans(root, seen) -> bool:
    """rendered/<name>/ folders that no spec renders; True when there is one."""
    from pathlib import Path

    found = False
    for orphan in sorted(p for p in root.iterdir()
                         if p.is_dir() and p.name not in seen and p.name != paths.RUNTIME_FOLDER):
        if not Path("specs", orphan.name + ".yaml").exists():
            click.echo(f"{orphan}: STALE: no specs/{orphan.name}.yaml renders it; delete it", err=True)
            found = True
    return found


@main.command()
@click.argument("url")
@click.option("--api-key-env", default="SERVESPEC_API_KEY", show_default=True,
              help="Environment variable holding the API key (its value is never printed).")
@click.option("--model", default=None, help="Model name that /v1/models must list (default: the first).")
@click.option("--reasoning/--no-reasoning", "expect_reasoning", default=False,
              help="Require reasoning_content (set when the spec has a reasoning parser).")
@click.option("--tools/--no-tools", "expect_tools", default=True, help="Require a tool call.")
@click.option("--tool-choice", type=click.Choice(["named", "auto"]), default="named",
              show_default=True,
              help="named: force the smoke tool (SGLang needs a grammar backend for that); "
                   "auto: the model decides.")
@click.option("--timeout", default=120.0, show_default=True, help="Seconds per request.")
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True)
@click.option("--proxy-auth/--no-proxy-auth", default=True, show_default=True,
              help="Send the Modal Proxy Auth Token as Modal-Key/Modal-Secret (off only for a "
                   "spec with serving.auth.public).")
@click.option("--proxy-token-id-env", default="MODAL_PROXY_TOKEN_ID", show_default=True,
              help="Environment variable holding the proxy token id (wk-...).")
@click.option("--proxy-token-secret-env", default="MODAL_PROXY_TOKEN_SECRET", show_default=True,
              help="Environment variable holding the proxy token secret (ws-...; never printed).")
def smoke(url: str, api_key_env: str, model: str | None, expect_reasoning: bool,
          expect_tools: bool, tool_choice: str, timeout: float, fmt: str, proxy_auth: bool,
          proxy_token_id_env: str, proxy_token_secret_env: str) -> None:
    """Check a live OpenAI-compatible endpoint: health, models, streamed chat, tools, reasoning."""
    from renderer.operate.smoke import main as smoke_main
    from renderer.resolve.edge import ProxyAuth

    proxy = ProxyAuth(proxy_token_id_env, proxy_token_secret_env) if proxy_auth else None
    sys.exit(smoke_main(url, api_key_env, model, expect_reasoning, expect_tools,
                        "json" if fmt == "json" else "table", timeout=timeout, proxy=proxy,
                        tool_choice=tool_choice))


@main.command()
@ONE_SPEC
@click.option("--replicas", default=1, show_default=True, type=click.IntRange(min=1),
              help="Replicas to start (at most the spec's scaling.max_replicas).")
@click.option("--hold", default=0.0, show_default=True, type=click.FloatRange(min=0),
              help="Seconds to keep the raised floor after the replica is healthy.")
@click.option("--url", default=None, help="Endpoint URL (default: $SERVESPEC_ENDPOINT_URL, "
                                          "else asked from Modal).")
@click.option("--wait/--no-wait", default=True, show_default=True,
              help="Wait for /health; --no-wait leaves the floor raised until --release.")
@click.option("--release", is_flag=True, help="Only put the spec's own warm floor back.")
def wake(spec: str, replicas: int, hold: float, url: str | None, wait: bool,
         release: bool) -> None:
    """Start a replica of SPEC's deployed app before traffic: raise the warm floor, wait for
    health (progress shown), then restore the spec's floor."""
    from renderer.operate.wake import wake_main

    sys.exit(wake_main(spec, replicas=replicas, hold=hold, url=url, wait=wait, release=release))


@main.command()
@ONE_SPEC
@click.option("--dry-run", is_flag=True, help="Print every command exactly as it would run; run nothing.")
@click.option("--from", "from_step", metavar="STEP", help="Start at STEP (after preflight).")
@click.option("--only", "only_step", metavar="STEP", help="Run preflight and STEP only.")
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True)
def deploy(spec: str, dry_run: bool, from_step: str | None, only_step: str | None, fmt: str) -> None:
    """Run rendered/<name>/steps.json for SPEC step by step: preflight, volumes, download,
    compile, deploy, wait, smoke. A failed run says how to resume; records go to runs/."""
    from renderer.run import deploy_main

    if from_step and only_step:
        raise click.UsageError("--from and --only exclude each other")
    sys.exit(deploy_main(spec, dry_run=dry_run, from_step=from_step, only_step=only_step, fmt=fmt))


@main.command()
@click.argument("specs", nargs=-1, type=click.Path(dir_okay=False))
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True)
def estimate(specs: tuple[str, ...], fmt: str) -> None:
    """Memory fit, KV-cache capacity, cost and cold start for SPECS (default: every spec)."""
    from renderer.cli.estimate import estimate_main

    sys.exit(estimate_main(list(specs), fmt))


@main.command("plan", hidden=True)
@click.argument("specs", nargs=-1, type=click.Path(dir_okay=False))
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True)
@click.pass_context
def plan_alias(ctx: click.Context, specs: tuple[str, ...], fmt: str) -> None:
    """Old name of `servespec estimate`, kept for one release."""
    click.echo("servespec plan is deprecated: use `servespec estimate`", err=True)
    ctx.invoke(estimate, specs=specs, fmt=fmt)



@main.command("model-facts")
@click.argument("source")
@click.option("--repo", default=None, metavar="ORG/NAME",
              help="The Hub repository the facts describe (the spec's model.repo); needed when "
                   "SOURCE is a local folder or file outside the Hub cache.")
@click.option("--revision", default=None, help="Commit, branch or tag (default: main).")
@click.option("--index", default=None, type=click.Path(dir_okay=False),
              help="model.safetensors.index.json to read the checkpoint's size from (default: "
                   "the one beside config.json).")
@click.option("--checkpoint-bytes", default=None, type=click.IntRange(min=1),
              help="The checkpoint's tensor bytes, when neither an index nor the weights are at "
                   "hand (e.g. from the model card).")
@click.option("--note", default=None, help="Where the inputs came from, for the file's header.")
@click.option("--output", "-o", default=None, type=click.Path(dir_okay=False),
              help="Write the facts file here (atomically) instead of to stdout.")
def model_facts(source: str, repo: str | None, revision: str | None, index: str | None,
                checkpoint_bytes: int | None, note: str | None, output: str | None) -> None:
    """Write a model-facts file from SOURCE's config.json: a local folder (config.json, with
    model.safetensors.index.json or the *.safetensors files when there), a config.json file, or
    a Hugging Face Hub repository (needs the `facts` extra). Local sources need no network."""
    from renderer.facts.generate import model_facts_main

    sys.exit(model_facts_main(source, revision, output, repo=repo, index=index,
                              checkpoint_bytes=checkpoint_bytes, note=note))


# --- bench and the deployed app's lifecycle (renderer/operate/bench.py, renderer/operate/lifecycle.py) -------

SPEC_ARG = click.argument("spec", type=click.Path(dir_okay=False))


@main.command()
@ONE_SPEC
@click.option("--local-url", metavar="URL", default=None,
              help="Run the benchmark on this machine against URL (any OpenAI-compatible server) "
                   "instead of in the app's Modal CPU function.")
@click.option("--tokenizer", default=None,
              help="With --local-url: tokenizer path or Hub id (default: the spec's model.repo).")
@click.option("--url", default=None, help="Endpoint URL for the Modal run (default: recorded by deploy).")
@click.option("--proxy-auth/--no-proxy-auth", default=True, show_default=True,
              help="Send the spec's Modal proxy-auth headers (off for a local server without Modal's edge).")
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True)
def bench(spec: str, local_url: str | None, tokenizer: str | None, url: str | None,
          proxy_auth: bool, fmt: str) -> None:
    """Run SGLang's serving benchmark against SPEC's endpoint; write runs/<name>/bench-*.json and
    .png, print a table; exit 1 naming each target missed."""
    from renderer.operate.bench import bench_main

    sys.exit(bench_main(spec, local_url=local_url, tokenizer=tokenizer, url=url,
                        proxy_auth=proxy_auth, fmt=fmt))




@main.command()
@SPEC_ARG
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True)
def status(spec: str, fmt: str) -> None:
    """Is SPEC's app deployed, which version, how many containers, is the endpoint healthy, and
    is the deployed version the one rendered/ holds now."""
    from renderer.operate.lifecycle import status_main

    sys.exit(status_main(spec, fmt))


@main.command()
@SPEC_ARG
@click.option("-f", "--follow", is_flag=True, help="Keep streaming until Ctrl-C.")
@click.option("--since", default=None, help="Start of the range: ISO 8601 or relative (1h, 30m).")
@click.option("-n", "--tail", type=int, default=None, help="Only the last N entries.")
def logs(spec: str, follow: bool, since: str | None, tail: int | None) -> None:
    """SPEC's app logs (modal app logs)."""
    from renderer.operate.lifecycle import logs_main

    sys.exit(logs_main(spec, follow, since, tail))


@main.command()
@SPEC_ARG
@click.argument("version", required=False)
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True)
def rollback(spec: str, version: str | None, fmt: str) -> None:
    """Redeploy VERSION (e.g. v3; default: the previous one) of SPEC's app. Volumes and caches
    are not versioned and stay as they are; rendered/ is not changed."""
    from renderer.operate.lifecycle import rollback_main

    sys.exit(rollback_main(spec, version, fmt))


@main.command()
@ONE_SPEC
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True)
def stop(spec: str, yes: bool, fmt: str) -> None:
    """Stop SPEC's app: containers end, the URL stops answering; volumes and secrets stay."""
    from renderer.operate.lifecycle import stop_main

    sys.exit(stop_main(spec, yes, fmt, lambda question: click.confirm(question, default=False)))


@main.command()
@SPEC_ARG
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True)
def history(spec: str, fmt: str) -> None:
    """What deploy, bench, rollback and stop did for SPEC (runs/<name>.jsonl), as a table."""
    from renderer.operate.lifecycle import history_main

    sys.exit(history_main(spec, fmt))



if __name__ == "__main__":  # pragma: no cover
    main()
