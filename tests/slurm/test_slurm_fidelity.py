"""Fidelity on the real cluster: what Slurm records for a jobspec holds at least what
`count_resources` says, and exactly that where Slurm can say it exactly.

Two kinds of proof. Shapes that used to lose resources (a gpu shared by the tasks
of a slot, ``total`` over slots of several cores, memory, sockets, a node range)
run for real through ``jobspec run -t slurm``, and ``scontrol -d show job`` is read
after they end: the allocation (NumNodes, NumCPUs, TRES mem, JOB_GRES). A sweep of
random graphs (hypothesis) submits each allocation held (``sbatch --hold``: nothing
runs) and reads back what Slurm accepted to allocate, then cancels it.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from slurm_support import SUBMIT_AND_WAIT, TASK, jobspec_doc, run_slurm, write_doc
from support import jobspec_cli

from jobspec import count_resources
from jobspec.document.resources import ResourceCounts
from jobspec.transformers.slurm.parse import parse_scontrol
from jobspec.transformers.slurm.request import layout_options

# What the test cluster has (scripts/slurm-cluster): 4 nodes of 16 cores, 4 gpus, 8192 MB.
NODES, CORES, GPUS, MEMORY = 4, 16, 4, 8192
UNITS = {"K": 1 / 1024, "M": 1, "G": 1024, "T": 1024 * 1024}


def mib(text: str) -> int:
    """Slurm's ``2G``, ``3006M`` as MiB."""
    number, unit = re.fullmatch(r"([\d.]+)([KMGT]?)", text).groups()  # type: ignore[union-attr]
    return round(float(number) * UNITS.get(unit or "M", 1))


def readback(job_id: str) -> dict[str, Any]:
    """What Slurm recorded for a job: nodes (min, max), cpus, tasks, gpus, memory (MiB), features."""
    done = subprocess.run(
        ["scontrol", "-d", "-o", "show", "job", job_id], capture_output=True, text=True, check=True, timeout=30
    )
    rec = parse_scontrol(done.stdout)
    low, _, high = rec["NumNodes"].partition("-")
    nodes = (int(low), int(high or low))
    tres = dict(part.split("=", 1) for part in rec["TRES"].split(",") if "=" in part)
    gpus = 0
    if "gpu:" in rec.get("JOB_GRES", ""):  # allocated (a job that ran)
        gpus = int(rec["JOB_GRES"].rpartition(":")[2])
    else:  # requested (a held job)
        for key, times in (("TresPerTask", int(rec["NumTasks"])), ("TresPerNode", nodes[0]), ("TresPerJob", 1)):
            found = re.search(r"gres:gpu:(\d+)", rec.get(key, ""))
            if found:
                gpus = int(found.group(1)) * times
    return {
        "nodes": nodes,
        "cpus": int(rec["NumCPUs"]),
        "tasks": int(rec["NumTasks"]) if rec["NumTasks"].isdigit() else None,
        "gpus": gpus,
        "memory": mib(tres["mem"]) if "mem" in tres else 0,
        "sockets": rec.get("Socks/Node"),
        "features": rec.get("Features"),
    }


def held(counts: ResourceCounts) -> str:
    """Submit the allocation jobspec asks for, held (it never runs); its job id."""
    argv = [
        "sbatch",
        "--parsable",
        "--hold",
        "--job-name=fidelity",
        "--output=/dev/null",
        *layout_options(counts),
        "--wrap",
        "true",
    ]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, (argv, done.stderr)
    return done.stdout.strip().split(";")[0]


def cancel(job_id: str) -> None:
    subprocess.run(["scancel", job_id], capture_output=True, timeout=30)


def assert_holds(got: dict[str, Any], counts: ResourceCounts, *, ran: bool) -> None:
    """Slurm's record holds every core, gpu and byte the graph names; exactly, where it can."""
    assert got["cpus"] == counts.cores, (got, counts)  # a slot's cores are one Slurm task's: exact
    assert got["gpus"] == counts.gpus, (got, counts)
    if counts.nodes:
        assert got["nodes"][0] == counts.nodes
        assert got["nodes"][1] == (counts.nodes_max or counts.nodes) or ran
    if counts.memory and counts.nodes:
        assert got["memory"] == counts.memory, (got, counts)  # --mem a node: exact
    elif counts.memory:
        assert got["memory"] >= counts.memory, (got, counts)  # --mem-per-cpu, rounded up
    if not ran:
        assert got["tasks"] == counts.slots


def graph(nodes: int, slots: int, cores: int, gpus: int = 0, memory_mb: int = 0) -> list[dict[str, Any]]:
    below: list[dict[str, Any]] = [{"type": "core", "count": cores}]
    if gpus:
        below.append({"type": "gpu", "count": gpus})
    if memory_mb:
        below.append({"type": "memory", "count": memory_mb, "unit": "MB"})
    slot = {"type": "slot", "label": "s", "count": slots, "with": below}
    return [{"type": "node", "count": nodes, "with": [slot]}] if nodes else [slot]


# ---------------------------------------------------------------- shapes, run for real

SHAPES: dict[str, tuple[list[dict[str, Any]], dict[str, int] | None]] = {
    "a gpu shared by the 2 tasks of each slot": (graph(2, 1, 2, gpus=1), {"per_slot": 2}),
    "a gpu a slot, 3 tasks over 4 slots": (graph(0, 4, 1, gpus=1), {"total": 3}),
    "total 5 over 4 slots of 2 cores": (graph(2, 2, 2), {"total": 5}),
    "memory a slot, on nodes": (graph(2, 2, 1, memory_mb=700), None),
    "memory a slot, no node": (graph(0, 3, 2, memory_mb=1000), None),
    "sockets on the way to the slot": (
        [{"type": "node", "count": 1, "with": [{"type": "socket", "count": 2, "with": graph(0, 1, 4)}]}],
        None,
    ),
    "a node count range": (
        [{**graph(1, 1, 1)[0], "count": {"min": 1, "max": 3, "operator": "+", "operand": 1}}],
        None,
    ),
}


@pytest.mark.slurm
@pytest.mark.parametrize("shape", list(SHAPES))
def test_shapes_run_with_every_resource_they_name(tmp_path: Path, interface: str, shape: str) -> None:
    resources, count = SHAPES[shape]
    counts = count_resources(resources, "s", count)
    result, _ = run_slurm(write_doc(tmp_path, jobspec_doc(resources, SUBMIT_AND_WAIT, {"task.sh": TASK}, count)))
    assert result.ok, result.error
    job_id = result.steps[-1].job_id
    assert job_id
    got = readback(job_id)
    assert_holds(got, counts, ran=True)
    if counts.sockets_per_node:
        assert got["sockets"] == str(counts.sockets_per_node)


@pytest.mark.slurm
def test_the_tasks_of_a_total_run_in_every_slots_cores(tmp_path: Path, slurm: dict[str, str]) -> None:
    resources, count = SHAPES["total 5 over 4 slots of 2 cores"]
    result, _ = run_slurm(write_doc(tmp_path, jobspec_doc(resources, SUBMIT_AND_WAIT, {"task.sh": TASK}, count)))
    assert result.ok, result.error
    out = Path(result.steps[-1].details["stdout"]).read_text()
    ranks = sorted(line.split("rank=")[1].split()[0] for line in out.splitlines())
    assert ranks == [f"{r}/5" for r in range(5)]
    assert readback(str(result.steps[-1].job_id))["cpus"] == 8


# ---------------------------------------------------------------- random graphs, held


@st.composite
def graphs(draw: st.DrawFn) -> tuple[list[dict[str, Any]], dict[str, int]]:
    nodes = draw(st.integers(0, NODES))
    slots = draw(st.integers(1, 3))
    cores = draw(st.integers(1, CORES // slots if nodes else 4))
    gpus = draw(st.integers(0, GPUS // slots if nodes else 1))
    memory = draw(st.sampled_from([0, 256, 1000, 2048 // slots]))
    per_slot = draw(st.booleans())
    total_slots = slots * (nodes or 1)
    count = {"per_slot": draw(st.integers(1, 3))} if per_slot else {"total": draw(st.integers(1, 2 * total_slots))}
    return graph(nodes, slots, cores, gpus, memory), count


@pytest.mark.slurm
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=graphs())
def test_random_graphs_are_allocated_whole(
    slurm: dict[str, str], case: tuple[list[dict[str, Any]], dict[str, int]]
) -> None:
    resources, count = case
    counts = count_resources(resources, "s", count)
    job_id = held(counts)
    try:
        assert_holds(readback(job_id), counts, ran=False)
    finally:
        cancel(job_id)


# ---------------------------------------------------------------- constraints


@pytest.mark.slurm
def test_constraints_keep_the_job_on_the_nodes_they_allow(tmp_path: Path, interface: str) -> None:
    # the cluster: n1, n2 have intel,ib; n3, n4 amd,ib
    system = {
        "constraints": {
            "properties": ["ib"],
            "or": [{"properties": ["intel"]}, {"properties": ["amd"]}],
            "not": [{"hostlist": ["n1", "n3"]}],
        }
    }
    doc = jobspec_doc(graph(2, 1, 1), SUBMIT_AND_WAIT, {"task.sh": TASK}, None, system)
    result, _ = run_slurm(write_doc(tmp_path, doc))
    assert result.ok, result.error
    got = readback(str(result.steps[-1].job_id))
    assert got["features"] in ("(ib&intel)|(ib&amd)", "(intel&ib)|(amd&ib)")  # (as the file orders the keys)
    rec = parse_scontrol(
        subprocess.run(
            ["scontrol", "-o", "show", "job", str(result.steps[-1].job_id)], capture_output=True, text=True
        ).stdout
    )
    assert (rec["NodeList"], rec["ExcNodeList"]) == ("n[2,4]", "n[1,3]")


@pytest.mark.slurm
def test_a_constraint_no_node_meets_is_slurms_to_refuse(tmp_path: Path, slurm: dict[str, str]) -> None:
    system = {"constraints": {"properties": ["intel", "amd"]}}  # no node has both
    path = write_doc(tmp_path, jobspec_doc(graph(1, 1, 1), SUBMIT_AND_WAIT, {"task.sh": TASK}, None, system))
    done = jobspec_cli("run", "-t", "slurm", str(path))
    assert done.returncode == 1, done.stderr
    # (Slurm's words: a feature no node has at all is "Invalid feature specification")
    assert "Slurm refused the job: Batch job submission failed: Requested node configuration is not available" in (
        done.stderr
    )
    assert "Traceback" not in done.stderr


@pytest.mark.slurm
def test_a_plain_jobspec_runs_on_slurm_in_its_queue_and_bank(tmp_path: Path, slurm: dict[str, str]) -> None:
    doc = {
        "version": 1,
        "resources": graph(2, 1, 1),
        "tasks": [{"command": ["hostname"], "slot": "s", "count": {"per_slot": 1}}],
        "attributes": {"system": {"duration": 60, "queue": "small", "bank": "physics"}},
    }
    result, _ = run_slurm(write_doc(tmp_path, doc))
    assert result.ok, result.error
    [job_id] = result.job_ids
    rec = parse_scontrol(
        subprocess.run(["scontrol", "-o", "show", "job", job_id], capture_output=True, text=True).stdout
    )
    assert (rec["Partition"], rec["Account"], rec["NumNodes"].split("-")[0]) == ("small", "physics", "2")
