"""Many specs at once (renderer/render/batch.py): rendering over several processes prints and
writes exactly what one process does, spec for spec and in the same order, bad specs included."""

from __future__ import annotations

from pathlib import Path

from conftest import run_cli

from renderer.render import batch


def variants(spec_dir: Path, count: int) -> list[Path]:
    """`count` specs made from the default one, with a few broken ones among them."""
    base = (spec_dir / "specs" / "glm51-fp8-b200.yaml").read_text()
    paths = []
    for i in range(count):
        text = base.replace("app: glm51-fp8-b200", f"app: many-{i}")
        text = text.replace("max_replicas: 3", f"max_replicas: {1 + i % 5}")
        if i % 17 == 5:
            text = text.replace("max_replicas:", "max_replica:")  # a schema error
        if i % 17 == 9:
            text += "scaling: [\n"  # a YAML error
        path = spec_dir / "specs" / f"many-{i:02d}.yaml"
        path.write_text(text)
        paths.append(path)
    return paths


def summary_of(outcome: batch.Outcome) -> tuple:
    report = outcome.report
    return (str(report.path), report.failed(), [f.format() for f in report.findings],
            outcome.files, outcome.error, outcome.description)


def test_workers_give_what_one_process_gives_in_order(spec_dir, monkeypatch):
    monkeypatch.chdir(spec_dir)
    paths = variants(spec_dir, batch.PARALLEL_FROM + 2)
    job = batch.Job(describe=_describe)
    one = [summary_of(o) for o in batch.outcomes(paths, job, workers=1)]
    several = [summary_of(o) for o in batch.outcomes(paths, job, workers=3)]
    automatic = [summary_of(o) for o in batch.outcomes(paths, job)]  # PARALLEL_FROM specs or more
    assert [o[0] for o in several] == [str(p) for p in paths]
    assert sum(1 for o in one if o[1]) == 6  # the broken ones failed, and only those
    assert all(o[3] for o in one if not o[1]) and one[0][5] == f"many-00: {len(one[0][2])}"
    assert several == one and automatic == one


def _describe(report) -> str:  # module level: a worker receives it by name
    return f"{report.name}: {len(report.findings)}"


def test_render_over_processes_writes_and_prints_what_one_process_does(spec_dir):
    variants(spec_dir, 20)
    runs = {}
    for jobs in ("1", "2"):
        proc = run_cli("render", "--out", f"out{jobs}", "--jobs", jobs, cwd=spec_dir, timeout=180)
        assert proc.returncode == 1, proc.stderr  # the broken specs fail the run
        assert "Traceback" not in proc.stderr
        files = {p.relative_to(spec_dir / f"out{jobs}").as_posix(): p.read_bytes()
                 for p in sorted((spec_dir / f"out{jobs}").rglob("*")) if p.is_file()}
        runs[jobs] = (proc.stdout, proc.stderr.replace(f"out{jobs}/", "OUT/"), files)
    assert runs["1"] == runs["2"]
    stderr, files = runs["2"][1], runs["2"][2]
    assert "many-05.yaml: FAILED" in stderr and "many-09.yaml: FAILED" in stderr
    assert "OUT/many-04: wrote" in stderr
    assert "many-05/deploy.py" not in files and "many-04/deploy.py" in files


def _pid(report) -> str:
    import os

    return str(os.getpid())


def test_several_workers_do_the_work(spec_dir, monkeypatch):
    import os

    monkeypatch.chdir(spec_dir)
    paths = variants(spec_dir, 40)
    pids = {o.description for o in batch.outcomes(paths, batch.Job(describe=_pid), workers=2)
            if o.files}
    assert str(os.getpid()) in pids and len(pids) >= 2  # this process warms up; workers do the rest
