"""The command client and the Flux steps against a stand-in ``flux`` command.

The stand-in (fake_flux.py) runs tasks as local processes: these tests check
jobspec's own process handling (argv, the jobspec sent on stdin, ids, exit codes,
streamed output, Flux's error messages, the staging commands), not Flux. Real Flux
is in test_flux_integration.py, which runs wherever a flux command is on PATH.
"""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest
from flux_support import ORIGINAL_EXAMPLES, PROJECT_EXAMPLES, FakeFlux, errors, spec25_flux
from support import jobspec_cli, make_jobspec

from jobspec import run
from jobspec.engine.run import Reporter
from jobspec.transformers.flux import client as flux_client
from jobspec.transformers.flux import jobids
from jobspec.transformers.flux.transformer import FluxTransformer

SUBMIT = """\
version: 1
resources:
- type: node
  count: {nodes}
  with:
  - type: slot
    label: default
    count: 1
    with:
    - type: core
      count: 1
task:
  slot: default
  count:
    per_slot: 1
  transform:
  - step: write
    filename: job.sh
  - step: submit
    filename: job.sh
    {how}
  scripts:
  - name: job.sh
    content: |
      #!/bin/sh
{body}
"""


def jobspec_text(body: str, how: str = "wait: true", nodes: int = 2) -> str:
    return SUBMIT.format(nodes=nodes, how=how, body="".join(f"      {line}\n" for line in body.splitlines()))


def quiet_run(path: Path | str) -> tuple[object, str]:
    out = io.StringIO()
    result = run(path, FluxTransformer(), reporter=Reporter(stream=io.StringIO(), output=out, color=False))
    return result, out.getvalue()


@pytest.mark.usefixtures("shared")  # its original examples
def test_fake_flux_original_and_project_examples_run_through_the_command_client(fake_flux: FakeFlux) -> None:
    for path in [*ORIGINAL_EXAMPLES, *PROJECT_EXAMPLES]:
        if path.name == "hello-world-batch.yaml":
            continue  # its script runs `flux submit` inside the batch job: the stand-in has none
        result, _ = quiet_run(path)
        assert result.ok, (path.name, result.error)  # type: ignore[attr-defined]
        for job_id in result.job_ids:  # type: ignore[attr-defined]
            assert jobids.is_f58(job_id) and job_id.startswith("ƒ")
    submitted = [c for c in fake_flux.calls() if c[:2] == ["job", "submit"]]
    assert submitted and all(c == ["job", "submit"] for c in submitted)
    for spec_file in (fake_flux.state / "jobs").glob("*/jobspec.json"):
        assert errors(spec25_flux(), json.loads(spec_file.read_text())) == []


def test_fake_flux_watch_streams_output_and_ranks(fake_flux: FakeFlux, tmp_path: Path) -> None:
    body = 'echo "out $JOBSPEC_TASK_RANK of $JOBSPEC_TASK_COUNT"\necho "err $FLUX_TASK_RANK" >&2'
    result, out = quiet_run(make_jobspec(tmp_path, jobspec_text(body, "watch: true")))
    assert result.ok  # type: ignore[attr-defined]
    assert sorted(out.splitlines()) == ["err 0", "err 1", "out 0 of 2", "out 1 of 2"]
    assert ["job", "attach", "--read-only", str(jobids.decode(result.job_ids[0]))] in fake_flux.calls()  # type: ignore[attr-defined]


def test_fake_flux_failing_job_fails_the_step_with_its_exit_code(fake_flux: FakeFlux, tmp_path: Path) -> None:
    result, _ = quiet_run(make_jobspec(tmp_path, jobspec_text('[ "$JOBSPEC_TASK_RANK" = 1 ] && exit 7\nexit 0')))
    assert not result.ok  # type: ignore[attr-defined]
    assert "failed with exit code 7" in result.error  # type: ignore[attr-defined]
    job_id = result.job_ids[0]  # type: ignore[attr-defined]  (the id stays in the result)
    status = FluxTransformer().status(job_id)
    assert (status.state, status.exit_code) == ("failed", 7)


def test_fake_flux_output_files_land_in_the_stage(fake_flux: FakeFlux, tmp_path: Path) -> None:
    result, _ = quiet_run(make_jobspec(tmp_path, jobspec_text("echo to-the-file")))
    record = result.steps[-1]  # type: ignore[attr-defined]
    assert record.details["stdout"] == f"{result.stage}/flux-{jobids.decode(record.job_id)}.out"  # type: ignore[attr-defined]
    assert Path(record.details["stdout"]).read_text() == "to-the-file\nto-the-file\n"


def test_fake_flux_waited_job_records_fluxs_result(fake_flux: FakeFlux, tmp_path: Path) -> None:
    """The contract records state and exit code; Flux adds its own word for the outcome."""
    result, _ = quiet_run(make_jobspec(tmp_path, jobspec_text("exit 0")))
    assert result.ok, result.error  # type: ignore[attr-defined]
    record = result.steps[-1]  # type: ignore[attr-defined]
    assert (record.details["state"], record.details["exit_code"], record.details["result"]) == (
        "completed",
        0,
        "COMPLETED",
    )
    assert record.details["interface"] == "command" and record.details["tasks"] == 2


TWO_JOBS = (
    jobspec_text("true")
    .replace(
        "  - step: submit\n    filename: job.sh\n    wait: true\n",
        "  - step: submit\n    filename: job.sh\n    wait: true\n  - step: write\n    filename: big.sh\n"
        "  - step: submit\n    filename: big.sh\n",
    )
    .replace("  scripts:\n", "  scripts:\n  - name: big.sh\n    content: 'true'\n")
)


def test_fake_flux_rejected_job_fails_the_step_with_fluxs_message(
    fake_flux: FakeFlux, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_FLUX_REFUSE_NAME", "big.sh")
    result, _ = quiet_run(make_jobspec(tmp_path, TWO_JOBS))
    assert not result.ok  # type: ignore[attr-defined]
    assert result.error.endswith("failed: Flux refused the job: flux-job: Unsatisfiable request")  # type: ignore[attr-defined]
    assert len(result.job_ids) == 1  # type: ignore[attr-defined]  (the first job, submitted before)


def test_fake_flux_rejected_job_on_the_command_line(fake_flux: FakeFlux, tmp_path: Path) -> None:
    env = dict(fake_flux.env, FAKE_FLUX_REFUSE_NAME="big.sh")
    done = jobspec_cli("run", "-t", "flux", str(make_jobspec(tmp_path, TWO_JOBS)), env=env)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Flux refused the job: flux-job: Unsatisfiable request" in done.stdout
    first = json.loads((fake_flux.state / "counter").read_text())
    assert f"jobs submitted: {jobids.encode(first)}" in done.stderr


def test_fake_flux_dependency_carries_the_parent_id(fake_flux: FakeFlux, tmp_path: Path) -> None:
    text = jobspec_text("true", "name: first\n  - step: submit\n    filename: job.sh\n    after: first\n    wait: true")
    result, _ = quiet_run(make_jobspec(tmp_path, text))
    assert result.ok, result.error  # type: ignore[attr-defined]
    first, second = result.job_ids  # type: ignore[attr-defined]
    spec = json.loads((fake_flux.state / "jobs" / str(jobids.decode(second)) / "jobspec.json").read_text())
    assert spec["attributes"]["system"]["dependencies"] == [{"scheme": "afterok", "value": first}]


def test_fake_flux_dependency_on_a_failed_job_is_reported(fake_flux: FakeFlux, tmp_path: Path) -> None:
    text = jobspec_text(
        "exit 3", "name: first\n  - step: submit\n    filename: job.sh\n    after: first\n    wait: true"
    )
    result, _ = quiet_run(make_jobspec(tmp_path, text))
    assert not result.ok  # type: ignore[attr-defined]
    assert "dependency" in result.error and len(result.job_ids) == 2  # type: ignore[attr-defined]


STAGE_JOBSPEC = """\
version: 1
resources:
- type: slot
  label: default
  count: 1
  with:
  - type: core
    count: 1
task:
  slot: default
  count: {{per_slot: 1}}
  transform:
  - {{step: set, key: stage, value: "{stage}"}}
  - {{step: set, key: sharedfs, value: false}}
  - {{step: write, filename: job.sh}}
  - {{step: copy, source: data}}
  - {{step: stage}}
  - {{step: submit, filename: job.sh, wait: true}}
  scripts:
  - name: job.sh
    content: "cat data/words.txt"
"""


def test_fake_flux_stage_reaches_nodes_with_their_own_file_system(
    fake_flux: FakeFlux, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stage = tmp_path / "stage"
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "words.txt").write_text("one two three\n")
    monkeypatch.setenv("FAKE_FLUX_SEPARATE_NODES", "1")
    monkeypatch.setenv("FAKE_FLUX_STAGE_ROOT", str(stage))
    result, _ = quiet_run(make_jobspec(tmp_path, STAGE_JOBSPEC.format(stage=stage)))
    assert result.ok, result.error  # type: ignore[attr-defined]
    staged = next(s for s in result.steps if s.step == "stage")  # type: ignore[attr-defined]
    assert staged.details["tool"] == "archive" and staged.details["ranks"] == 4
    for rank in (1, 2, 3):  # each "node" got the stage, the files with it
        copy = Path(f"{fake_flux.state}/rank{rank}{stage}")
        assert (copy / "data" / "words.txt").read_text() == "one two three\n"
        assert (copy / "job.sh").exists()
        assert not list(copy.glob(".jobspec-stage-*"))  # the marker never travels
    assert not list(stage.glob(".jobspec-stage-*"))
    assert not (fake_flux.state / "archives" / staged.details["archive"]).exists()  # removed again


def test_fake_flux_stage_on_a_shared_file_system_copies_nothing(
    fake_flux: FakeFlux, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stage = tmp_path / "stage"
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "words.txt").write_text("x\n")
    result, _ = quiet_run(make_jobspec(tmp_path, STAGE_JOBSPEC.format(stage=stage)))
    assert result.ok, result.error  # type: ignore[attr-defined]
    extracts = [c for c in fake_flux.calls() if c[:2] == ["archive", "extract"]]
    assert extracts == []  # every rank saw the marker: same file system, nothing extracted
    assert any(c[0] == "exec" for c in fake_flux.calls())


def test_fake_flux_life_cycle_from_python(fake_flux: FakeFlux, tmp_path: Path) -> None:
    result, _ = quiet_run(make_jobspec(tmp_path, jobspec_text("exit 0", "")))
    job_id = result.job_ids[0]  # type: ignore[attr-defined]
    flux = FluxTransformer()
    assert flux.wait(job_id, timeout=5).state == "completed"
    assert flux.status("f" + job_id[1:]).job_id == job_id  # the ASCII form is read, the ƒ form given back
    assert flux.cancel(job_id).state == "completed"  # already done: cancel changes nothing
    from jobspec.plugin import JobLookupError

    for unknown in ("ƒ9999", "12345678", "not-an-id"):
        with pytest.raises(JobLookupError):
            flux.status(unknown)


def test_fake_flux_life_cycle_from_the_command_line(fake_flux: FakeFlux, tmp_path: Path) -> None:
    done = jobspec_cli(
        "run", "--json", "-t", "flux", str(make_jobspec(tmp_path, jobspec_text("exit 0", ""))), env=fake_flux.env
    )
    assert done.returncode == 0, done.stderr
    job_id = json.loads(done.stdout)["job_ids"][0]
    for command in ("status", "wait", "cancel"):
        shown = jobspec_cli(command, "-t", "flux", job_id, env=fake_flux.env)
        assert shown.returncode == 0, shown.stderr
        assert shown.stdout.startswith(f"{job_id}  completed  exit code 0")
    missing = jobspec_cli("status", "-t", "flux", "ƒ9999", env=fake_flux.env)
    assert missing.returncode == 2 and "no Flux job" in missing.stderr


def test_fake_flux_find_job_by_submit_key(fake_flux: FakeFlux, tmp_path: Path) -> None:
    from flux_support import document, slot

    from jobspec.transformers.flux.jobspec_v1 import submit_job, to_jobspec

    client = flux_client.connect("command")
    job = submit_job(document([slot(1, 1)]), ["/bin/true"], stage=str(tmp_path), key="run-7.2")
    job_id = client.submit(to_jobspec(job, {"PATH": "/usr/bin:/bin"}))
    client.submit(to_jobspec(submit_job(document([slot(1, 1)]), ["/bin/true"], stage=str(tmp_path)), {}))
    flux = FluxTransformer()
    assert flux.find_job("run-7.2") == job_id
    assert flux.find_job("run-7.3") is None


def test_fake_flux_interface_setting_is_checked(fake_flux: FakeFlux, tmp_path: Path) -> None:
    from jobspec.document.problems import JobspecError
    from jobspec.engine.plan import plan

    text = jobspec_text("true").replace(
        "  - step: write\n", "  - step: set\n    key: flux.interface\n    value: carrier-pigeon\n  - step: write\n"
    )
    with pytest.raises(JobspecError) as caught:
        plan(make_jobspec(tmp_path, text), FluxTransformer())
    assert "flux.interface is one of auto, bindings, command, not 'carrier-pigeon'" in str(caught.value)


def test_fake_flux_missing_flux_command_with_interface_command(
    fake_flux: FakeFlux, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from jobspec.engine.plan import plan
    from jobspec.engine.run import Reporter, execute
    from jobspec.plugin import TransformerUnavailable

    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setattr(flux_client, "bindings_present", lambda: True)  # "available" through the bindings
    import jobspec.transformers.flux.transformer as t

    monkeypatch.setattr(t, "bindings_present", lambda: True)
    text = jobspec_text("true").replace(
        "  - step: write\n", "  - step: set\n    key: flux.interface\n    value: command\n  - step: write\n"
    )
    path = make_jobspec(tmp_path, text)
    with pytest.raises(TransformerUnavailable, match=r"interface is command, but there is no flux command on PATH"):
        execute(plan(path, FluxTransformer()), reporter=Reporter(stream=io.StringIO()))  # before the first step
    assert shutil.which("flux") is None
