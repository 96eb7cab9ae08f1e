"""The contract extension the next-generation form is lowered into, usable from a v1
document too: a submit or batch step with a job of its own (resources, slot, count,
command, attributes) is read by every backend in place of the document's."""

from __future__ import annotations

import io

import pytest

from jobspec import JobspecError, load, plan
from jobspec.engine.run import Reporter, execute

DOC = {
    "version": 1,
    "resources": [{"type": "slot", "label": "s", "count": 1, "with": [{"type": "core", "count": 1}]}],
    "task": {
        "slot": "s",
        "count": {"per_slot": 1},
        "command": ["hostname"],
        "transform": [
            {"step": "submit", "name": "small"},
            {
                "step": "submit",
                "name": "big",
                "resources": [
                    {
                        "type": "node",
                        "count": 2,
                        "with": [{"type": "slot", "label": "b", "count": 3, "with": [{"type": "core", "count": 2}]}],
                    }
                ],
                "slot": "b",
                "command": ["echo", "big"],
                "attributes": {"system": {"duration": 90, "environment": {"WHO": "big"}}},
            },
        ],
    },
}


def _dry_run(backend: str) -> str:
    stream = io.StringIO()
    result = execute(plan(load(DOC), backend), Reporter(stream=stream, color=False), dry_run=True)
    assert result.ok, result.error
    return stream.getvalue()


def test_slurm_asks_each_job_for_its_own_resources() -> None:
    small, big = _dry_run("slurm").split("=> step submit")[1:]
    assert "--ntasks=1 " in small and "--nodes" not in small and "--time" not in small
    assert "--nodes=2 --ntasks=6 --ntasks-per-node=3 --cpus-per-task=2 --time=2" in big
    assert "job big: 2 nodes, 6 tasks, each 2 cores" in big


def test_local_starts_each_jobs_own_task_count_and_command() -> None:
    small, big = _dry_run("local").split("=> step submit")[1:]
    assert "would start 1 task of `hostname`" in small
    assert "would start 6 tasks of `echo big`" in big and "time limit 90 s" in big


def test_a_steps_own_graph_is_checked_at_its_place() -> None:
    bad = {**DOC, "task": {**DOC["task"], "transform": [{**DOC["task"]["transform"][1], "slot": "nope"}]}}
    with pytest.raises(JobspecError) as caught:
        plan(load(bad), "local")
    assert any(
        p.path == ("task", "transform", 0, "slot") and "names no slot" in p.message for p in caught.value.problems
    ), caught.value
