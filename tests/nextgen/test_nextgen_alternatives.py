"""Alternatives (resources: a|b): the first resource set the chosen system can give, said."""

from __future__ import annotations

import io
import os

import pytest

from jobspec import JobspecError, load, plan
from jobspec.engine.run import Reporter, execute
from jobspec.transformers.slurm.transformer import shortfall

HUGE_CORES = (os.cpu_count() or 1) + 1


def _doc(first_cores: int, second_cores: int = 1) -> dict:
    return {
        "version": 1,
        "resources": {
            "big": {"type": "node", "count": 1, "with": [{"type": "core", "count": first_cores}]},
            "small": {"type": "node", "count": 1, "with": [{"type": "core", "count": second_cores}]},
        },
        "tasks": [{"name": "t", "resources": "big|small", "command": ["true"]}],
    }


def _dry_run(doc: dict, backend: str) -> str:
    stream = io.StringIO()
    result = execute(plan(load(doc), backend), Reporter(stream=stream, color=False), dry_run=True)
    assert result.ok
    return stream.getvalue()


def test_local_takes_the_first_set_this_machine_can_give_and_says_why() -> None:
    text = _dry_run(_doc(HUGE_CORES), "local")
    assert "resources: 'small', of big | small the first local does not rule out" in text
    assert f"big: a slot of {HUGE_CORES} cores, and this machine has {os.cpu_count()}" in text


def test_the_first_set_when_it_fits() -> None:
    assert "resources: 'big', of big | small" in _dry_run(_doc(1, 1), "local")


def test_no_set_that_fits_is_refused_before_anything_runs() -> None:
    with pytest.raises(JobspecError) as caught:
        plan(load(_doc(HUGE_CORES, HUGE_CORES)), "local")
    assert "local can give none of the resources big | small" in str(caught.value)


@pytest.mark.parametrize(
    ("shape", "reason"),
    [
        ((2, 1, 4, 0), None),  # 2 nodes of 4 cores: fits 4 nodes of 16
        ((5, 1, 1, 0), "5 node(s) of 1 cores and 0 GPUs each, and 4 node(s) here have that"),
        ((1, 1, 17, 0), "1 node(s) of 17 cores and 0 GPUs each, and 0 node(s) here have that"),
        ((1, 1, 1, 1), "1 node(s) of 1 cores and 1 GPUs each, and 0 node(s) here have that"),
        ((0, 65, 1, 0), "65 cores and 0 GPUs in all, more than the cluster has"),
    ],
)
def test_slurm_says_when_its_nodes_cannot_hold_a_job(shape: tuple[int, int, int, int], reason: str | None) -> None:
    from jobspec.document.resources import ResourceCounts

    nodes, slots, cores, gpus = shape
    counts = ResourceCounts(nodes or None, slots * (nodes or 1), cores, gpus, slots * (nodes or 1))
    assert shortfall(counts, [(16, 0)] * 4) == reason


@pytest.mark.slurm
def test_slurm_asks_the_cluster(slurm: dict[str, str]) -> None:
    doc = _doc(1)
    doc["resources"]["big"]["count"] = 100  # more nodes than the test cluster has
    text = _dry_run(doc, "slurm")
    assert "resources: 'small', of big | small the first slurm does not rule out" in text
    assert "--nodes=1 " in text


def test_slurm_asks_sinfo_once_however_many_jobs_weigh_alternatives(monkeypatch: pytest.MonkeyPatch) -> None:
    from jobspec.transformers.slurm import client
    from jobspec.transformers.slurm.transformer import SlurmTransformer

    asked: list[int] = []

    def node_shapes() -> dict[str, tuple[int, int]]:
        asked.append(1)
        return {"n1": (4, 0)}

    monkeypatch.setattr(client, "node_shapes", node_shapes)
    doc = _doc(8, 2)
    doc["tasks"] += [{"name": f"t{i}", "resources": "big|small", "command": ["true"]} for i in range(3)]
    slurm = SlurmTransformer()
    the_plan = plan(load(doc), slurm)
    assert [p.step.chosen[0] for p in the_plan.steps if p.step.name == "submit"] == ["small"] * 4
    assert asked == [1]
