"""Running: files in the stage, step lines, results, failures, dry runs."""

from __future__ import annotations

import io
import stat
from pathlib import Path

import pytest
from support import HELLO, make_jobspec

from jobspec import run
from jobspec.engine.run import Reporter
from test_plan import steps_yaml


def quiet() -> Reporter:
    return Reporter(stream=io.StringIO(), output=io.StringIO(), color=False)


def test_write_sets_mode_and_content(tmp_path: Path) -> None:
    stage = tmp_path / "stage"
    scripts = '  - name: job.sh\n    content: "#!/bin/sh\\necho hi\\n"\n  - name: sub/data.txt\n    content: data\n'
    text = steps_yaml(
        f"  - step: set\n    key: stage\n    value: {stage}\n",
        "  - step: write\n    filename: job.sh\n    executable: true\n",
        "  - step: write\n    filename: sub/data.txt\n",
        scripts=scripts,
    )
    result = run(make_jobspec(tmp_path, text), "local", reporter=quiet())
    assert result.ok, result.error
    assert (stage / "job.sh").read_text() == "#!/bin/sh\necho hi\n"
    assert stat.S_IMODE((stage / "job.sh").stat().st_mode) == 0o755
    assert stat.S_IMODE((stage / "sub" / "data.txt").stat().st_mode) == 0o644
    assert result.stage == str(stage)


def test_copy_files_and_folders(tmp_path: Path) -> None:
    (tmp_path / "inputs").mkdir()
    (tmp_path / "inputs" / "a.txt").write_text("a")
    (tmp_path / "single.txt").write_text("s")
    stage = tmp_path / "stage"
    text = steps_yaml(
        f"  - step: set\n    key: stage\n    value: {stage}\n",
        "  - step: copy\n    source: inputs\n",
        "  - step: copy\n    source: single.txt\n    destination: data/renamed.txt\n",
    )
    assert run(make_jobspec(tmp_path, text), "local", reporter=quiet()).ok
    assert (stage / "inputs" / "a.txt").read_text() == "a"
    assert (stage / "data" / "renamed.txt").read_text() == "s"


def test_copy_of_a_missing_source_is_bad_input(tmp_path: Path) -> None:
    from jobspec import JobspecError

    with pytest.raises(JobspecError, match=r"transform\[0\]\.source: no such file or directory"):
        run(make_jobspec(tmp_path, steps_yaml("  - step: copy\n    source: missing.txt\n")), "local", reporter=quiet())


def test_one_line_per_step_as_jobspec_0_0_12_printed_them(tmp_path: Path) -> None:
    out = io.StringIO()
    result = run(make_jobspec(tmp_path), "local", reporter=Reporter(stream=out, output=io.StringIO(), color=False))
    lines = out.getvalue().splitlines()
    # the step waits: its job is shown the moment it exists, with its output files
    stage = result.stage
    job = result.job_ids[0]
    assert lines == [
        "=> step write job.sh OK",
        f"   job {job} submitted; output {stage}/{job}.out, errors {stage}/{job}.err",
        f"=> step submit {job} OK",
    ]


def test_a_failing_step_stops_the_run_and_says_what_completed(tmp_path: Path) -> None:
    text = HELLO.replace('echo "task $JOBSPEC_TASK_RANK of $JOBSPEC_TASK_COUNT"', "exit 3")
    text = text.replace("    wait: true\n", "    wait: true\n  - step: write\n    filename: job.sh\n")
    result = run(make_jobspec(tmp_path, text), "local", reporter=quiet())
    assert not result.ok
    assert [s.status for s in result.steps] == ["ok", "failed", "not run"]
    assert "failed with exit code 3" in (result.steps[1].error or "")
    assert result.job_ids and result.to_dict()["job_ids"] == result.job_ids


def test_dry_run_changes_nothing(tmp_path: Path) -> None:
    stage = tmp_path / "stage"
    text = HELLO.replace("  transform:\n", f"  transform:\n  - step: set\n    key: stage\n    value: {stage}\n")
    out = io.StringIO()
    result = run(make_jobspec(tmp_path, text), "local", dry_run=True, reporter=Reporter(stream=out, color=False))
    assert result.ok and not stage.exists() and result.job_ids == []
    text = out.getvalue()
    assert f"would write {stage}/job.sh (executable)" in text
    # the file as it would be written is the step's artifact (the command prints it on stdout)
    assert result.steps[1].artifact == '#!/bin/bash\necho "task $JOBSPEC_TASK_RANK of $JOBSPEC_TASK_COUNT"\n'
    assert f"would start 2 tasks of `/bin/bash {stage}/job.sh`" in text


def test_run_many_returns_results_in_order_and_bad_input_as_results(tmp_path: Path) -> None:
    from jobspec.transformers.local.transformer import LocalTransformer

    good = make_jobspec(tmp_path, HELLO, "good.yaml")
    bad = make_jobspec(tmp_path, HELLO.replace("step: submit", "step: sumbit"), "bad.yaml")
    results = LocalTransformer().run_many([good, bad, good], workers=2)
    assert [r.ok for r in results] == [True, False, True]
    assert "unknown step 'sumbit'" in (results[1].error or "")
    assert len({r.job_ids[0] for r in (results[0], results[2])}) == 2


def test_resume_adopts_the_job_an_interrupted_attempt_submitted(tmp_path: Path, state_dir: Path) -> None:
    """Killed between the scheduler taking the job and the journal recording it: the resumed
    run finds the job by its key instead of submitting it again; a fresh run asks nothing."""
    from jobspec.engine.journal import Journal
    from jobspec.engine.plan import plan
    from jobspec.engine.run import execute
    from jobspec.transformers.local.transformer import LocalTransformer

    lookups: list[str] = []

    class Spy(LocalTransformer):
        def find_job(self, key: str) -> str | None:
            lookups.append(key)
            return super().find_job(key)

    path = make_jobspec(tmp_path)
    first = execute(plan(path, Spy()), quiet(), journal=Journal(tmp_path / "j.jsonl", "run-1"))
    assert first.ok and lookups == []  # a fresh run has nothing to look up
    lines = (tmp_path / "j.jsonl").read_text().splitlines()
    assert len(lines) == 2  # the stage, then the one job step (write steps are not journaled)
    (tmp_path / "j.jsonl").write_text(lines[0] + "\n")  # as if killed before recording the submit
    second = execute(plan(path, Spy()), quiet(), journal=Journal(tmp_path / "j.jsonl", "run-1"))
    assert second.ok and lookups == ["run-1.1"]
    assert second.job_ids == first.job_ids and second.steps[1].details.get("adopted")
    assert len(list((state_dir / "local").glob("local-*/job.json"))) == 1
    third = execute(plan(path, Spy()), quiet(), journal=Journal(tmp_path / "j.jsonl", "run-1"))
    assert third.steps[1].resumed and lookups == ["run-1.1"]  # recorded now: not looked up again
