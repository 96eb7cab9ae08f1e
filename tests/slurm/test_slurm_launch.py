"""$JOBSPEC_LAUNCH in Slurm batch jobs: srun, with the options srun and flux run share."""

from __future__ import annotations

from pathlib import Path

import pytest
from slurm_support import graph, job_output, jobspec_doc, run_slurm, write_doc

pytestmark = [pytest.mark.slurm, pytest.mark.usefixtures("slurm")]


def test_a_batch_script_launches_its_tasks_with_srun(tmp_path: Path) -> None:
    script = "#!/bin/sh\n$JOBSPEC_LAUNCH -n 4 -N 2 -c 2 sh -c 'echo \"$SLURMD_NODENAME rank=$SLURM_PROCID\"'\n"
    transform = [{"step": "write", "filename": "b.sh"}, {"step": "batch", "filename": "b.sh", "wait": True}]
    path = write_doc(tmp_path, jobspec_doc(graph(2, 2, 2), transform, {"b.sh": script}))
    result, _ = run_slurm(path)
    assert result.ok, result.error
    lines = job_output(result, result.job_ids[0]).splitlines()
    assert sorted(line.split()[1] for line in lines) == [f"rank={r}" for r in range(4)]
    assert len({line.split()[0] for line in lines}) == 2  # two nodes
