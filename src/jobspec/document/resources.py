"""What a resource graph asks for, counted once, the same way for every backend.

- nodes: the count of the ``node`` vertex when the graph starts with one, else None;
- slots: the product of the counts from the root down to the task's ``slot``;
- cores and gpus per slot: the ``core`` and ``gpu`` vertices under the slot
  (times the counts of any vertices between);
- tasks: ``per_slot`` x slots, or ``total``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from jobspec.document.problems import JobspecError, Problem


@dataclass(frozen=True)
class ResourceCounts:
    nodes: int | None
    slots: int
    cores_per_slot: int
    gpus_per_slot: int
    tasks: int
    exclusive: bool = False

    @property
    def tasks_per_slot(self) -> int:
        """Tasks sharing one slot (at most; with ``total`` the last slots may hold fewer)."""
        return max(1, math.ceil(self.tasks / self.slots))

    @property
    def cores_per_task(self) -> int:
        """A slot's cores divided among the tasks that share it (at least 1)."""
        return max(1, self.cores_per_slot // self.tasks_per_slot)

    @property
    def gpus_per_task(self) -> int:
        return self.gpus_per_slot // self.tasks_per_slot

    @property
    def cores(self) -> int:
        return self.cores_per_slot * self.slots

    @property
    def gpus(self) -> int:
        return self.gpus_per_slot * self.slots

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["cores_per_task"] = self.cores_per_task
        out["gpus_per_task"] = self.gpus_per_task
        return out


def count_resources(
    resources: list[dict[str, Any]],
    slot: str | None = None,
    count: dict[str, Any] | None = None,
) -> ResourceCounts:
    """Count what ``resources`` asks for, for a task in slot ``slot`` with ``count``.

    With no ``slot`` label the graph's first slot is used; with no ``count``, one
    task per slot. Raises `JobspecError` when the graph has no such slot.
    """
    found = _path_to_slot(resources, slot)
    if found is None:
        where = f"labelled '{slot}'" if slot else ""
        raise JobspecError(Problem(f"the resource graph has no slot {where}".strip(), path=("resources",)))
    path = found
    root = path[0]
    nodes = int(root["count"]) if root.get("type") == "node" else None
    slots = math.prod(int(v.get("count", 1)) for v in path)
    slot_vertex = path[-1]
    cores = _count_under(slot_vertex, "core")
    gpus = _count_under(slot_vertex, "gpu")
    count = count or {"per_slot": 1}
    tasks = int(count["total"]) if "total" in count else int(count.get("per_slot", 1)) * slots
    exclusive = any(bool(v.get("exclusive")) for v in path)
    return ResourceCounts(nodes, slots, cores, gpus, tasks, exclusive)


def _path_to_slot(vertices: list[Any], label: str | None) -> list[dict[str, Any]] | None:
    for vertex in vertices:
        if not isinstance(vertex, dict):
            continue
        if vertex.get("type") == "slot" and (label is None or vertex.get("label") == label):
            return [vertex]
        below = _path_to_slot(vertex.get("with") or [], label)
        if below is not None:
            return [vertex, *below]
    return None


def _count_under(vertex: dict[str, Any], kind: str) -> int:
    total = 0
    for child in vertex.get("with") or []:
        count = int(child.get("count", 1))
        if child.get("type") == kind:
            total += count
        else:
            total += count * _count_under(child, kind)
    return total
