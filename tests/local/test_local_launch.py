"""$JOBSPEC_LAUNCH in local batch jobs: the launch lines a script shares with Slurm and Flux."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from support import HELLO, jobspec_cli


def batch(tmp_path: Path, body: str) -> tuple[int, str, str]:
    document = yaml.safe_load(HELLO)  # 2 nodes x 1 slot of 2 cores: 2 tasks
    document["task"]["transform"] = [
        {"step": "write", "filename": "batch.sh"},
        {"step": "batch", "filename": "batch.sh", "wait": True},
    ]
    document["task"]["scripts"] = [{"name": "batch.sh", "content": f"#!/bin/sh\n{body}\n"}]
    path = tmp_path / "batch.yaml"
    path.write_text(yaml.safe_dump(document))
    done = jobspec_cli("run", "-t", "local", "--json", str(path))
    result = json.loads(done.stdout)
    output = Path(result["steps"][-1]["details"]["stdout"]).read_text()
    return done.returncode, output, done.stderr


def test_launch_starts_the_tasks_with_their_ranks(tmp_path: Path) -> None:
    code, output, _ = batch(
        tmp_path, "$JOBSPEC_LAUNCH -n 3 -c 1 sh -c 'echo rank $JOBSPEC_TASK_RANK of $JOBSPEC_TASK_COUNT'"
    )
    assert code == 0
    assert sorted(output.splitlines()) == ["rank 0 of 3", "rank 1 of 3", "rank 2 of 3"]


def test_launch_without_n_starts_the_allocations_tasks_as_srun_does(tmp_path: Path) -> None:
    code, output, _ = batch(tmp_path, "$JOBSPEC_LAUNCH -N 2 sh -c 'echo rank $JOBSPEC_TASK_RANK'")
    assert code == 0
    assert sorted(output.splitlines()) == ["rank 0", "rank 1"]


def test_a_failing_task_fails_the_batch_job_with_its_exit_code(tmp_path: Path) -> None:
    code, _, stderr = batch(tmp_path, "$JOBSPEC_LAUNCH -n 2 sh -c 'exit $((JOBSPEC_TASK_RANK + 6))'\nexit $?")
    assert code == 1
    assert "failed with exit code 6" in stderr
