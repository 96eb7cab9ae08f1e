"""The next-generation examples in examples/nextgen: planned on every backend, run here for real."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from nextgen_support import run_and_wait
from support import EXAMPLES

from jobspec import load, plan
from jobspec.engine.run import Reporter, execute

NEXTGEN_EXAMPLES = sorted((EXAMPLES / "nextgen").glob("*.yaml"))


@pytest.mark.parametrize("backend", ["local", "slurm", "flux", "kubernetes"])
@pytest.mark.parametrize("example", NEXTGEN_EXAMPLES, ids=lambda p: p.name)
def test_each_example_dry_runs_on_every_backend(example: Path, backend: str) -> None:
    stream = io.StringIO()
    result = execute(plan(load(example), backend), Reporter(stream=stream, color=False), dry_run=True)
    assert result.ok, result.error


def _outputs(stage: Path) -> list[str]:
    return sorted(line for out in stage.glob("*.out") for line in out.read_text().splitlines())


@pytest.mark.slow
def test_the_pipeline_example_runs_here(tmp_path: Path) -> None:
    stage = tmp_path / "stage"
    _result, statuses = run_and_wait((EXAMPLES / "nextgen" / "pipeline.yaml").read_text(), "local", stage)
    assert [s.state for s in statuses] == ["completed"] * 4
    sums = [f"count job {j} task {t}: sum 5050" for j in range(3) for t in range(2)]
    assert _outputs(stage) == sorted(["prepared 100 numbers", *sums])


@pytest.mark.slow
def test_the_group_example_runs_here(tmp_path: Path) -> None:
    stage = tmp_path / "stage"
    _result, statuses = run_and_wait((EXAMPLES / "nextgen" / "group.yaml").read_text(), "local", stage)
    assert [s.state for s in statuses] == ["completed"]
    assert (stage / "service.txt").read_text().split("\n")[:2] == ["service up", "service down"]
    assert (stage / "summary.txt").read_text().split("\n")[:2] == ["simulation 0", "simulation 1"]


@pytest.mark.slow
def test_the_alternatives_example_runs_here(tmp_path: Path) -> None:
    stage = tmp_path / "stage"
    _result, statuses = run_and_wait((EXAMPLES / "nextgen" / "alternatives.yaml").read_text(), "local", stage)
    assert [s.state for s in statuses] == ["completed"]
    assert _outputs(stage) and _outputs(stage)[0].startswith("training on ")


def test_show_gives_each_job_its_own_resources_and_what_it_waits_for() -> None:
    from support import jobspec_cli

    done = jobspec_cli("show", str(EXAMPLES / "nextgen" / "pipeline.yaml"))
    assert done.returncode == 0, done.stderr
    assert "resources (the first job's; each job asks for its own)" in done.stdout
    assert "── prepare: submit `sh -c" in done.stdout and "[step 1, 1 node(s), 1 task(s) x 1 core(s)]" in done.stdout
    # count waits for prepare: it is shown under it, with its own two tasks and its replicas
    assert "    └── count: submit `sh -c" in done.stdout
    assert "[step 2, 2 task(s) x 1 core(s), array 0-2]" in done.stdout
