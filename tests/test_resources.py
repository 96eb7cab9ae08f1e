"""Resource counting: one function, the same answer for every backend (BRIEF section 2)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from jobspec import JobspecError, count_resources, load


def node(count: int, *children: dict[str, Any]) -> dict[str, Any]:
    return {"type": "node", "count": count, "with": list(children)}


def slot(count: int, *children: dict[str, Any], label: str = "task") -> dict[str, Any]:
    return {"type": "slot", "count": count, "label": label, "with": list(children)}


def core(count: int) -> dict[str, Any]:
    return {"type": "core", "count": count}


def gpu(count: int) -> dict[str, Any]:
    return {"type": "gpu", "count": count}


@pytest.mark.parametrize(
    ("resources", "count", "expected"),
    [
        # the original hello world: 4 nodes, one slot of 4 cores each -> 4 tasks (jobspec 0.0.12 said 4 cores = 4 tasks)
        ([node(4, slot(1, core(4)))], {"per_slot": 1}, (4, 4, 4, 0, 4)),
        ([node(2, slot(3, core(2), gpu(1)))], {"per_slot": 1}, (2, 6, 2, 1, 6)),
        ([slot(5, core(1))], {"per_slot": 1}, (None, 5, 1, 0, 5)),
        ([slot(2, core(8))], {"per_slot": 4}, (None, 2, 8, 0, 8)),
        ([node(4, slot(2, core(3)))], {"total": 5}, (4, 8, 3, 0, 5)),
        ([node(1, slot(1, core(16)))], None, (1, 1, 16, 0, 1)),
    ],
)
def test_counts(resources: list[dict[str, Any]], count: dict[str, int] | None, expected: tuple[Any, ...]) -> None:
    c = count_resources(resources, "task", count)
    assert (c.nodes, c.slots, c.cores_per_slot, c.gpus_per_slot, c.tasks) == expected


def test_cores_are_shared_by_the_tasks_of_a_slot() -> None:
    c = count_resources([slot(2, core(8), gpu(4))], "task", {"per_slot": 4})
    assert (c.tasks_per_slot, c.cores_per_task, c.gpus_per_task) == (4, 2, 1)
    c = count_resources([node(2, slot(1, core(4)))], "task", {"total": 3})
    assert (c.tasks_per_slot, c.cores_per_task) == (2, 2)


def test_slot_is_found_by_label() -> None:
    graph = [node(1, slot(1, core(2), label="a"))]
    assert count_resources(graph, "a").cores_per_slot == 2
    with pytest.raises(JobspecError, match="no slot labelled 'b'"):
        count_resources(graph, "b")


def test_exclusive_anywhere_on_the_path() -> None:
    graph = [{**node(2, slot(1, core(1))), "exclusive": True}]
    assert count_resources(graph, "task").exclusive


def memory(count: Any, unit: str | None = "GB") -> dict[str, Any]:
    return {"type": "memory", "count": count, **({"unit": unit} if unit else {})}


def socket(count: int, *children: dict[str, Any]) -> dict[str, Any]:
    return {"type": "socket", "count": count, "with": list(children)}


def test_a_gpu_shared_by_two_tasks_is_still_asked_for() -> None:
    c = count_resources([node(2, slot(2, core(2), gpu(1)))], "task", {"per_slot": 2})
    assert (c.gpus_per_slot, c.gpus, c.gpus_per_node, c.tasks) == (1, 4, 2, 8)
    assert c.even_gpus_per_task is None  # half a gpu a task: ask per slot, node or job instead
    c = count_resources([slot(4, core(1), gpu(1))], "task", {"total": 3})
    assert (c.gpus, c.even_gpus_per_task) == (4, None)
    c = count_resources([slot(2, core(2), gpu(4))], "task", {"per_slot": 2})
    assert c.even_gpus_per_task == 2


def test_a_total_keeps_every_slots_cores() -> None:
    c = count_resources([node(2, slot(2, core(2)))], "task", {"total": 5})
    assert (c.cores, c.tasks, c.slots, c.cores_per_slot) == (8, 5, 4, 2)


def test_memory_per_slot_and_per_node_in_mib() -> None:
    graph = [node(2, memory(1, "GiB"), slot(4, core(2), memory(512, "MB")))]
    c = count_resources(graph, "task")
    assert (c.memory_per_slot, c.memory_per_node) == (512, 1024)
    assert c.memory_on_node == 4 * 512 + 1024
    assert c.memory == 2 * (4 * 512 + 1024)
    assert count_resources([slot(1, core(1), memory(2))], "task").memory_per_slot == 2048  # no unit: GB
    assert count_resources([slot(1, core(1), memory(1000, "KB"))], "task").memory_per_slot == 1  # rounded up


def test_an_unknown_memory_unit_is_refused_with_its_place() -> None:
    with pytest.raises(JobspecError, match="unknown memory unit 'parsecs'") as e:
        count_resources([slot(1, core(1), memory(1, "parsecs"))], "task")
    assert e.value.problems[0].path == ("resources", 0, "with", 1, "unit")


def test_sockets_on_the_way_and_inside_the_slot() -> None:
    c = count_resources([node(1, socket(2, slot(1, core(4))))], "task")
    assert (c.sockets_per_node, c.slots, c.cores) == (2, 2, 8)
    c = count_resources([node(2, slot(2, socket(1, core(4))))], "task")
    assert (c.sockets_per_node, c.cores_per_slot, c.sockets_per_slot) == (2, 4, 1)


def test_count_ranges() -> None:
    ranged = {"min": 2, "max": 4, "operator": "+", "operand": 1}
    c = count_resources([{**node(1, slot(1, core(1))), "count": ranged}], "task")
    assert (c.nodes, c.nodes_max, c.ranges) == (2, 4, ())
    c = count_resources([slot(2, core(ranged))], "task")
    assert (c.cores_per_slot, c.ranges) == (2, (("resources", 0, "with", 0),))  # the min, and its place
    c = count_resources([slot(1, core(1), memory({"min": 4}))], "task")  # at least: counts as min, no range
    assert (c.memory_per_slot, c.ranges) == (4096, ())


def test_rfc14_use_case_with_memory_at_least(shared: Path) -> None:
    """RFC 14 use case 2.5: 10 slots of a core and at least 2 GB each, read as our version 1 document."""
    doc = yaml.safe_load((shared / "flux-rfc" / "spec_14" / "use_case_2.5.yaml").read_text())
    doc["version"] = 1
    jobspec = load(doc)
    counts = jobspec.counts
    assert (counts.slots, counts.cores_per_slot, counts.memory_per_slot, counts.ranges) == (10, 1, 2048, ())
