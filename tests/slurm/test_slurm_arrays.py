"""Job arrays on the real cluster: one Slurm job per index, each with JOBSPEC_ARRAY_INDEX."""

from __future__ import annotations

from pathlib import Path

import pytest
from slurm_support import graph, jobspec_doc, run_slurm, show, write_doc

pytestmark = [pytest.mark.slurm, pytest.mark.usefixtures("slurm")]


@pytest.mark.parametrize("kind", ["submit", "batch"])
def test_each_index_is_a_slurm_job_with_its_index(tmp_path: Path, kind: str) -> None:
    script = '#!/bin/sh\necho "index $JOBSPEC_ARRAY_INDEX"\n'
    transform = [
        {"step": "write", "filename": "a.sh"},
        {"step": kind, "filename": "a.sh", "array": "0-2", "wait": True},
    ]
    result, _ = run_slurm(write_doc(tmp_path, jobspec_doc(graph(0, 1, 1), transform, {"a.sh": script})))
    assert result.ok, result.error
    jobs = result.steps[-1].details["array"]
    assert list(jobs) == ["0", "1", "2"] and len(set(jobs.values())) == 3
    for index, job_id in jobs.items():
        fields = show(job_id)
        assert fields["JobState"] == "COMPLETED"
        assert Path(fields["StdOut"]).read_text() == f"index {index}\n"
