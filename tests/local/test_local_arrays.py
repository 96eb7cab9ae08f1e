"""Job arrays (a job step's ``array`` field): one job per index, each with its index."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from support import HELLO, after_held, after_many_jobspec, jobspec_cli


def array_jobspec(tmp_path: Path, array: str, body: str, **step: object) -> Path:
    document = yaml.safe_load(HELLO)
    document["task"]["transform"] = [
        {"step": "write", "filename": "job.sh"},
        {"step": "submit", "filename": "job.sh", "array": array, **step},
    ]
    document["task"]["scripts"] = [{"name": "job.sh", "content": f"#!/bin/sh\n{body}\n"}]
    document["resources"][0]["count"] = 1  # one task per job
    path = tmp_path / "array.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def test_each_index_runs_as_a_job_with_its_index(tmp_path: Path) -> None:
    path = array_jobspec(tmp_path, "1-3,7", 'echo "index $JOBSPEC_ARRAY_INDEX"', wait=True)
    done = jobspec_cli("run", "-t", "local", "--json", str(path))
    assert done.returncode == 0, done.stderr
    step = json.loads(done.stdout)["steps"][-1]
    assert step["summary"].startswith("4 jobs: local-")
    jobs = step["details"]["array"]
    assert list(jobs) == ["1", "2", "3", "7"] and len(set(jobs.values())) == 4
    stage = Path(json.loads(done.stdout)["stage"])
    for index, job_id in jobs.items():
        assert (stage / f"{job_id}.out").read_text() == f"index {index}\n"


def test_a_failing_element_fails_the_step_and_says_which(tmp_path: Path) -> None:
    path = array_jobspec(tmp_path, "0-2", 'exit "$JOBSPEC_ARRAY_INDEX"', wait=True)
    done = jobspec_cli("run", "-t", "local", str(path))
    assert done.returncode == 1
    assert "2 of 3 jobs did not complete" in done.stderr
    assert "failed with exit code 1" in done.stderr and "failed with exit code 2" in done.stderr


def test_a_bad_array_is_refused_at_plan_time(tmp_path: Path) -> None:
    done = jobspec_cli("validate", "-t", "local", str(array_jobspec(tmp_path, "3-1", "true")))
    assert done.returncode == 2 and "task.transform[1].array: array '3-1'" in done.stderr


def test_after_an_array_and_a_list_waits_for_every_job(tmp_path: Path) -> None:
    """The last job starts only once every element of the array and the other job have ended."""
    path = after_many_jobspec(tmp_path)
    dry = jobspec_cli("run", "-t", "local", "--dry-run", str(path))
    assert "after the job of step 'many' and 'one' completes" in dry.stderr
    done = jobspec_cli("run", "-t", "local", "--json", str(path))
    assert done.returncode == 0, done.stderr
    assert after_held(Path(json.loads(done.stdout)["stage"]))


def test_after_names_each_step_it_waits_for_at_its_place(tmp_path: Path) -> None:
    path = array_jobspec(tmp_path, "0-1", "true", name="many")
    document = yaml.safe_load(path.read_text())
    document["task"]["transform"].append({"step": "submit", "filename": "job.sh", "after": ["many", "mnay", 3]})
    path.write_text(yaml.safe_dump(document))
    done = jobspec_cli("validate", "-t", "local", str(path))
    assert done.returncode == 2
    assert "task.transform[2].after[1]: names no earlier step; did you mean 'many'?" in done.stderr
    assert "task.transform[2].after[2]: must be the name of an earlier step, not 3" in done.stderr


def test_a_dry_run_says_how_many_jobs_an_array_makes(tmp_path: Path) -> None:
    path = array_jobspec(tmp_path, "1-3,7", "true")
    for transformer in ("local", "kubernetes"):
        done = jobspec_cli("run", "-t", transformer, "--dry-run", str(path))
        assert done.returncode == 0, done.stderr
        assert "as 4 jobs, one per index of 1-3,7 (JOBSPEC_ARRAY_INDEX)" in done.stdout + done.stderr
