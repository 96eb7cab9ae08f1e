"""Fidelity on a real Flux: what Flux allocates for a jobspec (``flux job info ID R``) and
the tasks it starts (``flux job taskmap ID``) hold what `count_resources` says, exactly
where Flux can say it exactly (the instance: 4 brokers x 8 cores, 2 GPUs each, faked).

Two kinds of proof, as on Slurm (tests/slurm/test_slurm_fidelity.py). The shapes that
used to lose resources elsewhere (a gpu shared by the tasks of a slot, ``total`` over
slots of several cores, an exclusive node, constraints) run for real through
``jobspec run -t flux``; a sweep of random version 1 graphs (hypothesis) submits the
Flux jobspec a submit step makes, runs it (``true``) and reads back what Flux allocated.
What flux-core cannot honour (memory, sockets, count ranges) is refused at plan time:
one end-to-end refusal each, with the place, line and column.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from flux_install import NOT_FOUND
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import jobspec_cli

from jobspec import count_resources, load
from jobspec.document.resources import ResourceCounts
from jobspec.transformers.flux import client as flux_client
from jobspec.transformers.flux.jobspec_v1 import submit_job, to_jobspec

FLUX = shutil.which("flux")
pytestmark = [pytest.mark.flux, pytest.mark.slow, pytest.mark.skipif(FLUX is None, reason=NOT_FOUND)]

# What the test instance has (tests/flux_install.py start_instance): 4 brokers x 8 cores, 2 gpus.
NODES, CORES, GPUS = 4, 8, 2
TASK = '#!/bin/sh\necho "rank=$JOBSPEC_TASK_RANK/$JOBSPEC_TASK_COUNT"\n'


def idset(ids: str) -> list[int]:
    """The ids an RFC 22 idset names (``0-2,5`` is [0, 1, 2, 5])."""
    out: list[int] = []
    for part in str(ids).split(","):
        if part:
            first, _, last = part.partition("-")
            out += range(int(first), int(last or first) + 1)
    return out


def readback(job_id: str) -> dict[str, Any]:
    """What Flux allocated and started: the cores and gpus of each rank (its R), and the tasks
    (its taskmap, RFC 34: blocks of [first node, nodes, tasks a node, repeat])."""
    assert FLUX is not None
    done = subprocess.run([FLUX, "job", "info", job_id, "R"], capture_output=True, text=True, check=True)
    r = json.loads(done.stdout)
    ranks: dict[int, tuple[int, int]] = {}
    for entry in r["execution"]["R_lite"]:
        for rank in idset(entry["rank"]):
            ranks[rank] = (len(idset(entry["children"].get("core", ""))), len(idset(entry["children"].get("gpu", ""))))
    done = subprocess.run([FLUX, "job", "taskmap", job_id], capture_output=True, text=True, check=True)
    taskmap = json.loads(done.stdout)
    return {
        "ranks": ranks,
        "nodes": len(ranks),
        "cores": sum(c for c, _ in ranks.values()),
        "gpus": sum(g for _, g in ranks.values()),
        "tasks": sum(nodes * ppn * repeat for _, nodes, ppn, repeat in taskmap),
    }


def assert_holds(got: dict[str, Any], counts: ResourceCounts) -> None:
    """Flux's allocation holds every core and gpu the graph names; exactly, short of an
    exclusive node (then the whole node); the tasks are the count's."""
    assert got["tasks"] == counts.tasks, (got, counts)
    if counts.nodes:
        assert got["nodes"] == counts.nodes, (got, counts)
    else:
        assert 1 <= got["nodes"] <= counts.slots, (got, counts)  # Flux places the slots
    if counts.exclusive and counts.nodes:
        assert all(rank == (CORES, GPUS) for rank in got["ranks"].values()), (got, counts)
        return
    assert (got["cores"], got["gpus"]) == (counts.cores, counts.gpus), (got, counts)
    per_node = counts.slots_per_node
    if per_node is not None:  # each node holds its own slots, no more, no less
        each = (per_node * counts.cores_per_slot, counts.gpus_per_node or 0)
        assert all(rank == each for rank in got["ranks"].values()), (got, counts)


def graph(nodes: int, slots: int, cores: int, gpus: int = 0, **node_extra: Any) -> list[dict[str, Any]]:
    below: list[dict[str, Any]] = [{"type": "core", "count": cores}]
    if gpus:
        below.append({"type": "gpu", "count": gpus})
    slot = {"type": "slot", "label": "s", "count": slots, "with": below}
    return [{"type": "node", "count": nodes, **node_extra, "with": [slot]}] if nodes else [slot]


def write_doc(
    tmp_path: Path,
    resources: list[dict[str, Any]],
    count: dict[str, int] | None = None,
    system: dict[str, Any] | None = None,
) -> Path:
    """A jobspec that writes TASK and submits it, waiting for it to end."""
    doc: dict[str, Any] = {
        "version": 1,
        "resources": resources,
        "task": {
            "slot": "s",
            "count": count or {"per_slot": 1},
            "transform": [
                {"step": "write", "filename": "task.sh", "executable": True},
                {"step": "submit", "filename": "task.sh", "wait": True},
            ],
            "scripts": [{"name": "task.sh", "content": TASK}],
        },
    }
    if system is not None:
        doc["attributes"] = {"system": system}
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def run_flux(path: Path) -> tuple[str, str]:
    """``jobspec run -t flux --json PATH``: the job's id and its output."""
    done = jobspec_cli("run", "-t", "flux", "--json", str(path), timeout=120)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    [job_id] = result["job_ids"]
    step = next(s for s in result["steps"] if s.get("job_id") == job_id)
    return job_id, Path(step["details"]["stdout"]).read_text()


# ---------------------------------------------------------------- shapes, run for real

SHAPES: dict[str, tuple[list[dict[str, Any]], dict[str, int] | None]] = {
    "a gpu shared by the 2 tasks of each slot": (graph(2, 1, 2, gpus=1), {"per_slot": 2}),
    "a gpu a slot, 3 tasks over 4 slots": (graph(0, 4, 1, gpus=1), {"total": 3}),
    "2 gpus a node, shared by the 3 tasks of its slot": (graph(2, 1, 3, gpus=2), {"per_slot": 3}),
    "total 5 over 4 slots of 2 cores": (graph(2, 2, 2), {"total": 5}),
    "total 5 over 4 slots of 2 cores, no node": (graph(0, 4, 2), {"total": 5}),
    "an exclusive node": (graph(1, 1, 2, exclusive=True), None),
    "two exclusive nodes, tasks sharing a gpu": (graph(2, 1, 1, gpus=1, exclusive=True), {"per_slot": 2}),
}


@pytest.mark.parametrize("shape", list(SHAPES))
def test_shapes_run_with_every_resource_they_name(tmp_path: Path, instance: dict[str, Any], shape: str) -> None:
    resources, count = SHAPES[shape]
    counts = count_resources(resources, "s", count)
    job_id, out = run_flux(write_doc(tmp_path, resources, count))
    assert_holds(readback(job_id), counts)
    # every task ran, each told its rank and the task count
    ranks = sorted(line for line in out.splitlines() if line.startswith("rank="))
    assert ranks == sorted(f"rank={r}/{counts.tasks}" for r in range(counts.tasks)), out


# ---------------------------------------------------------------- random graphs, run


@st.composite
def graphs(draw: st.DrawFn) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Random version 1 graphs the instance can hold: node > slot > core/gpu, or slot > core/gpu."""
    nodes = draw(st.integers(0, NODES))
    slots = draw(st.integers(1, 2 if nodes else 4))
    cores = draw(st.integers(1, CORES // slots if nodes else 4))
    gpus = draw(st.integers(0, GPUS // slots if nodes else 1))
    total_slots = slots * (nodes or 1)
    if draw(st.booleans()):
        count = {"per_slot": draw(st.integers(1, 3))}
    else:  # a task on each node at least (fewer are refused, see REFUSED); Flux chooses the nodes of bare slots
        count = {"total": draw(st.integers(nodes or total_slots, 2 * total_slots))}
    return graph(nodes, slots, cores, gpus), count


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=graphs())
def test_random_graphs_are_allocated_whole(
    tmp_path: Path, instance: dict[str, Any], case: tuple[list[dict[str, Any]], dict[str, int]]
) -> None:
    resources, count = case
    doc = {"version": 1, "resources": resources, "task": {"command": ["true"], "slot": "s", "count": count}}
    jobspec = load(doc)
    counts = count_resources(resources, "s", count)
    assert jobspec.counts == counts  # the document counts with the one function
    job = submit_job(jobspec, ["true"], stage=str(tmp_path))
    client = flux_client.connect("auto")
    job_id = client.submit(to_jobspec(job, os.environ))
    status = client.wait(job_id, 60)
    assert (status.state, status.exit_code) == ("completed", 0), status
    assert_holds(readback(job_id), counts)


# ---------------------------------------------------------------- constraints (RFC 31, sched-simple honours them)


CONSTRAINTS: dict[str, tuple[dict[str, Any], list[int]]] = {
    "ranks": ({"ranks": ["1,3"]}, [1, 3]),
    "not": ({"not": [{"ranks": ["0-1"]}]}, [2, 3]),
    # two operators in one mapping, both hold (flux-core's scheduler reads one: see jobspec_v1)
    "ranks and not": ({"ranks": ["1-3"], "not": [{"ranks": ["2"]}]}, [1, 3]),
    "or of ands": ({"or": [{"ranks": ["0-1"], "not": [{"ranks": ["0"]}]}, {"ranks": ["3"]}]}, [1, 3]),
}


@pytest.mark.parametrize("name", list(CONSTRAINTS))
def test_constraints_keep_the_job_on_the_ranks_they_allow(tmp_path: Path, instance: dict[str, Any], name: str) -> None:
    constraint, ranks = CONSTRAINTS[name]
    job_id, _ = run_flux(write_doc(tmp_path, graph(2, 1, 1), system={"constraints": constraint}))
    assert sorted(readback(job_id)["ranks"]) == ranks


def test_a_constraint_no_node_meets_is_fluxs_to_refuse(tmp_path: Path, instance: dict[str, Any]) -> None:
    path = write_doc(tmp_path, graph(1, 1, 1), system={"constraints": {"properties": ["no-such-property"]}})
    done = jobspec_cli("run", "-t", "flux", str(path), timeout=120)
    assert done.returncode == 1, (done.stdout, done.stderr)
    # (accepted at submit, refused by the scheduler: the job's exception is Flux's word)
    assert "failed (alloc: unsatisfiable request: need 1 node(s) with 1 cores each, only 0 eligible)" in done.stderr
    assert "Traceback" not in done.stderr


# ---------------------------------------------------------------- what flux-core cannot honour: refused at plan time

MEMORY = {"type": "memory", "count": 2, "unit": "GB"}
REFUSED: dict[str, tuple[list[dict[str, Any]], dict[str, int] | None, str, str]] = {
    "memory": (
        [{"type": "node", "count": 1, "with": [{**graph(0, 1, 1)[0], "with": [{"type": "core", "count": 1}, MEMORY]}]}],
        None,
        ":12:13: resources[0].with[0].with[1].type: flux-core's own scheduler (sched-simple) takes a memory vertex",
        "set flux.fluxion: true",
    ),
    "sockets": (
        [{"type": "node", "count": 1, "with": [{"type": "socket", "count": 2, "with": graph(0, 1, 2)}]}],
        None,
        ":6:11: resources[0].with[0].type: flux-core's own scheduler (sched-simple) takes a socket vertex",
        "set flux.fluxion: true",
    ),
    "a count range": (
        [{**graph(1, 1, 1)[0], "count": {"min": 1, "max": 3, "operator": "+", "operand": 1}}],
        None,
        ":5:5: resources[0].count: flux-core validates jobspec version 1, whose counts are whole numbers",
        "give a count",
    ),
    "fewer tasks than nodes": (
        graph(3, 1, 1),
        {"total": 2},
        ":15:12: task.count.total: flux-core's job shell runs at least one task on each node of a job",
        "ask for at least 3 tasks, or 2 node(s)",
    ),
}


@pytest.mark.parametrize("what", list(REFUSED))
def test_what_flux_core_cannot_honour_is_refused_with_its_place(
    tmp_path: Path, instance: dict[str, Any], what: str
) -> None:
    resources, count, place, instead = REFUSED[what]
    path = write_doc(tmp_path, resources, count)
    done = jobspec_cli("run", "-t", "flux", str(path))
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert f"{path}{place}" in done.stderr, done.stderr
    assert instead in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "task.sh").exists() and "submitted" not in done.stderr + done.stdout  # nothing done
