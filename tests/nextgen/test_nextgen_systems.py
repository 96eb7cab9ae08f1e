"""The next-generation form run for real on the Slurm test cluster and on Flux: the same
proof document as on local, the same observations."""

from __future__ import annotations

from pathlib import Path

import pytest
from nextgen_support import PROOF, run_and_wait, stamp

from jobspec.engine.result import RunResult


def _check_the_proof(stage: Path, result: RunResult, states: list[str]) -> None:
    assert states == ["completed"] * len(states)
    assert stamp(stage, "second.start") >= stamp(stage, "first.end")
    copies = next(s for s in result.steps if s.name == "copies")
    assert len(set(copies.details["array"].values())) == 3  # three jobs of their own
    assert sorted(p.name for p in stage.glob("copy-*.txt")) == ["copy-0.txt", "copy-1.txt", "copy-2.txt"]
    assert (stage / "group.log").read_text().split() == ["local-start", "inner-job", "job-0", "local-end"]


@pytest.mark.slurm
@pytest.mark.slow
def test_the_proof_document_runs_in_order_on_slurm(slurm: dict[str, str], tmp_path: Path) -> None:
    stage = tmp_path / "stage"
    result, statuses = run_and_wait(PROOF, "slurm", stage)
    _check_the_proof(stage, result, [s.state for s in statuses])
    # depends_on is Slurm's own dependency (afterok), not a wait in jobspec
    second = next(s for s in result.steps if s.name == "second")
    first = next(s for s in result.steps if s.name == "first")
    assert "--dependency=afterok:<job of step first>" in _dry_run_line(PROOF, "slurm", "second")
    assert int(str(second.job_id)) > int(str(first.job_id))


def _dry_run_line(text: str, backend: str, step_name: str) -> str:
    import io

    import yaml

    from jobspec import load, plan
    from jobspec.engine.run import Reporter, execute

    jobspec = load(yaml.safe_load(text))
    stream = io.StringIO()
    execute(plan(jobspec, backend), Reporter(stream=stream, color=False), dry_run=True)
    lines = stream.getvalue().split("=> step ")
    return next(line for line in lines if f"job {step_name}:" in line)


@pytest.mark.flux
@pytest.mark.slow
def test_the_proof_document_runs_in_order_on_flux(
    flux_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLUX_URI", flux_uri)
    stage = tmp_path / "stage"
    result, statuses = run_and_wait(PROOF, "flux", stage)
    _check_the_proof(stage, result, [s.state for s in statuses])


def _check_the_examples(backend: str, tmp_path: Path) -> None:
    from support import EXAMPLES

    stage = tmp_path / "pipeline"
    _result, statuses = run_and_wait((EXAMPLES / "nextgen" / "pipeline.yaml").read_text(), backend, stage)
    assert [s.state for s in statuses] == ["completed"] * 4
    lines = sorted(line for out in stage.glob("*.out") for line in out.read_text().splitlines())
    sums = [f"count job {j} task {t}: sum 5050" for j in range(3) for t in range(2)]
    assert lines == sorted(["prepared 100 numbers", *sums])

    stage = tmp_path / "group"
    _result, statuses = run_and_wait((EXAMPLES / "nextgen" / "group.yaml").read_text(), backend, stage)
    assert [s.state for s in statuses] == ["completed"]
    assert (stage / "service.txt").read_text().split("\n")[:2] == ["service up", "service down"]
    assert (stage / "summary.txt").read_text().split("\n")[:2] == ["simulation 0", "simulation 1"]


@pytest.mark.slurm
@pytest.mark.slow
def test_the_pipeline_and_group_examples_run_on_slurm(slurm: dict[str, str], tmp_path: Path) -> None:
    _check_the_examples("slurm", tmp_path)


@pytest.mark.flux
@pytest.mark.slow
def test_the_pipeline_and_group_examples_run_on_flux(
    flux_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLUX_URI", flux_uri)
    _check_the_examples("flux", tmp_path)
