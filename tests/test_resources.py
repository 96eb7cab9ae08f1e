"""Resource counting: one function, the same answer for every backend (BRIEF section 2)."""

from __future__ import annotations

from typing import Any

import pytest

from jobspec import JobspecError, count_resources


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
