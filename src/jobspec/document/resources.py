"""What a resource graph asks for, counted once, the same way for every backend.

The graph is Flux's (RFC 14, of which RFC 25's version 1 is a part). Counts:

- nodes: the count of the ``node`` vertex when the graph starts with one, else None.
  A count range ``{min: 2, max: 4, operator: '+', operand: 1}`` on it gives
  ``nodes=2, nodes_max=4``; ``{min: 2}`` alone means "at least 2" and counts as 2.
- slots: the product of the counts from the root down to the task's ``slot``.
- per slot: ``core``, ``gpu``, ``socket`` and ``memory`` vertices under the slot,
  each times the counts of the vertices between (``slot > socket(2) > core(4)`` is
  8 cores and 2 sockets a slot).
- per node, outside the slots: ``gpu`` and ``memory`` vertices under the node that
  are not on the way to the slot (``node > [memory(64 GB), slot > core]``): the node's
  memory, shared by its slots.
- sockets per node: the ``socket`` vertices between the node and the slot (each one
  holding its slots), or the slots' own sockets times the slots a node holds.
- tasks: ``per_slot`` x slots, or ``total`` (which may leave slots idle or put
  several tasks in one slot: the allocation still holds every slot's resources).

Memory is written as a vertex with a ``unit`` (RFC 14), the graph form of Slurm's
``--mem``::

    - type: node
      count: 2
      with:
      - type: memory        # per node, shared by its slots (sbatch --mem=64G)
        count: 64
        unit: GB
      - type: slot
        label: task
        count: 4
        with:
        - type: core
          count: 2
        - type: memory      # per slot: each slot's own (sbatch --mem-per-cpu, or --mem per node)
          count: 4
          unit: GB

Units are binary, as Slurm and flux-sched read them: ``KB``/``KiB``/``K`` = 1024 bytes,
``MB`` = 1024 KB, ``GB``, ``TB``; ``B`` is bytes. A memory vertex with no ``unit`` is in
``GB`` (flux-sched's convention). Memory is counted in MiB, rounded up.

Constraints on which nodes qualify (features, host names) are not vertices: they are
``attributes.system.constraints`` (RFC 31), see `jobspec.document.constraints`.

A vertex with a count range other than the node's (``max`` on a core, a slot...)
is recorded in ``ranges`` with its place: the scheduler would pick a count in the
range, which only Flux can do; the others refuse it, naming the place.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from jobspec.document.problems import DocPath, JobspecError, Problem

MIB = 1024 * 1024
# Memory units, case-insensitive, binary (Slurm's and flux-sched's reading).
MEMORY_UNITS = {
    "b": 1,
    "k": 1024,
    "kb": 1024,
    "kib": 1024,
    "m": MIB,
    "mb": MIB,
    "mib": MIB,
    "g": 1024 * MIB,
    "gb": 1024 * MIB,
    "gib": 1024 * MIB,
    "t": 1024 * 1024 * MIB,
    "tb": 1024 * 1024 * MIB,
    "tib": 1024 * 1024 * MIB,
}
DEFAULT_MEMORY_UNIT = "GB"


@dataclass(frozen=True)
class ResourceCounts:
    nodes: int | None
    slots: int
    cores_per_slot: int
    gpus_per_slot: int
    tasks: int
    exclusive: bool = False
    nodes_max: int | None = None  # a node count range: nodes..nodes_max (None: exactly nodes)
    memory_per_slot: int = 0  # MiB
    memory_per_node: int = 0  # MiB, outside the slots (the node's, shared)
    gpus_per_node_shared: int = 0  # gpus under the node outside the slots
    sockets_per_slot: int = 0
    sockets_per_node: int | None = None
    ranges: tuple[DocPath, ...] = ()  # vertices (not the node) with a count range

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
        """A slot's gpus divided among its tasks, rounded down: see `even_gpus_per_task`."""
        return self.gpus_per_slot // self.tasks_per_slot

    @property
    def even_gpus_per_task(self) -> int | None:
        """The gpus each task gets when every task gets the same whole number and
        together they are all the graph's gpus; else None (ask per slot, node or job)."""
        if self.gpus_per_node_shared or self.tasks_per_slot * self.slots != self.tasks:
            return None
        if self.gpus_per_slot % self.tasks_per_slot:
            return None
        return self.gpus_per_slot // self.tasks_per_slot

    @property
    def slots_per_node(self) -> int | None:
        """Slots on each node, when the graph puts the same number on every node."""
        if not self.nodes or self.slots % self.nodes:
            return None
        return self.slots // self.nodes

    @property
    def cores(self) -> int:
        return self.cores_per_slot * self.slots

    @property
    def gpus(self) -> int:
        """Every gpu the graph names: the slots' and the nodes' own."""
        return self.gpus_per_slot * self.slots + self.gpus_per_node_shared * (self.nodes or 0)

    @property
    def gpus_per_node(self) -> int | None:
        """The gpus each node holds, when every node holds the same; else None."""
        per_node = self.slots_per_node
        if per_node is None:
            return None
        return self.gpus_per_slot * per_node + self.gpus_per_node_shared

    @property
    def memory(self) -> int:
        """All the memory the graph names, in MiB."""
        return self.memory_per_slot * self.slots + self.memory_per_node * (self.nodes or 0)

    @property
    def memory_on_node(self) -> int | None:
        """The memory each node holds (MiB), when every node holds the same; else None."""
        per_node = self.slots_per_node
        if per_node is None:
            return None
        return self.memory_per_slot * per_node + self.memory_per_node

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["ranges"] = [list(p) for p in self.ranges]
        out["cores_per_task"] = self.cores_per_task
        out["gpus_per_task"] = self.gpus_per_task
        out["gpus"] = self.gpus
        out["memory"] = self.memory
        return out


def count_value(count: Any) -> int:
    """A vertex's count: an integer, or a range's ``min`` (what every backend can give)."""
    if isinstance(count, dict):
        return int(count.get("min", 1))
    return int(count if count is not None else 1)


def count_max(count: Any) -> int | None:
    """The upper end of a count range, or None (a fixed count, or ``{min}`` alone)."""
    if isinstance(count, dict) and "max" in count:
        return int(count["max"])
    return None


def memory_mib(vertex: dict[str, Any], path: DocPath) -> int:
    """One memory vertex's size in MiB (its count times its unit), rounded up."""
    unit = str(vertex.get("unit") or DEFAULT_MEMORY_UNIT)
    factor = MEMORY_UNITS.get(unit.lower())
    if factor is None:
        known = ", ".join(sorted({"B", "KB", "MB", "GB", "TB", "KiB", "MiB", "GiB", "TiB"}))
        raise JobspecError(Problem(f"unknown memory unit {unit!r} (one of: {known})", path=(*path, "unit")))
    return math.ceil(count_value(vertex.get("count", 1)) * factor / MIB)


def count_resources(
    resources: list[dict[str, Any]],
    slot: str | None = None,
    count: dict[str, Any] | None = None,
) -> ResourceCounts:
    """Count what ``resources`` asks for, for a task in slot ``slot`` with ``count``.

    With no ``slot`` label the graph's first slot is used; with no ``count``, one
    task per slot. Raises `JobspecError` when the graph has no such slot, or
    memory has a unit no one knows.
    """
    found = _path_to_slot(resources, slot, ("resources",))
    if found is None:
        where = f"labelled '{slot}'" if slot else ""
        raise JobspecError(Problem(f"the resource graph has no slot {where}".strip(), path=("resources",)))
    path = [v for v, _ in found]
    places = [p for _, p in found]
    root = path[0]
    is_node = root.get("type") == "node"
    nodes = count_value(root.get("count")) if is_node else None
    nodes_max = count_max(root.get("count")) if is_node else None
    slots = math.prod(count_value(v.get("count")) for v in path)
    slot_vertex, slot_place = path[-1], places[-1]
    totals = _Totals()
    totals.add_under(slot_vertex, slot_place)
    shared = _Totals()
    ranges = [
        p
        for v, p in zip(path, places, strict=True)
        if count_max(v.get("count")) is not None and not (is_node and v is root)
    ]
    sockets_per_node: int | None = None
    if is_node:
        # what the node holds beside the way to the slot, and sockets on the way
        for i, vertex in enumerate(path[:-1]):
            multiplier = math.prod(count_value(v.get("count")) for v in path[1 : i + 1])
            for j, child in enumerate(vertex.get("with") or []):
                if isinstance(child, dict) and child is not path[i + 1]:
                    shared.add_vertex(child, (*places[i], "with", j), multiplier)
        on_way = [k for k, v in enumerate(path[1:-1], start=1) if v.get("type") == "socket"]
        if on_way:
            sockets_per_node = math.prod(count_value(v.get("count")) for v in path[1 : on_way[-1] + 1])
        elif totals.sockets and slots % (nodes or 1) == 0:
            sockets_per_node = totals.sockets * (slots // (nodes or 1))
    count = count or {"per_slot": 1}
    tasks = int(count["total"]) if "total" in count else int(count.get("per_slot", 1)) * slots
    exclusive = any(bool(v.get("exclusive")) for v in path)
    return ResourceCounts(
        nodes,
        slots,
        totals.cores,
        totals.gpus,
        tasks,
        exclusive,
        nodes_max=nodes_max,
        memory_per_slot=totals.memory,
        memory_per_node=shared.memory,
        gpus_per_node_shared=shared.gpus,
        sockets_per_slot=totals.sockets,
        sockets_per_node=sockets_per_node,
        ranges=tuple(ranges + totals.ranges + shared.ranges),
    )


class _Totals:
    """Cores, gpus, sockets and memory (MiB) found under some vertices."""

    def __init__(self) -> None:
        self.cores = self.gpus = self.sockets = self.memory = 0
        self.ranges: list[DocPath] = []

    def add_under(self, vertex: dict[str, Any], place: DocPath, multiplier: int = 1) -> None:
        for i, child in enumerate(vertex.get("with") or []):
            if isinstance(child, dict):
                self.add_vertex(child, (*place, "with", i), multiplier)

    def add_vertex(self, vertex: dict[str, Any], place: DocPath, multiplier: int) -> None:
        raw = vertex.get("count", 1)
        if count_max(raw) is not None:
            self.ranges.append(place)
        kind = vertex.get("type")
        count = count_value(raw)
        if kind == "memory":
            self.memory += multiplier * memory_mib(vertex, place)
            return
        if kind == "core":
            self.cores += multiplier * count
        elif kind == "gpu":
            self.gpus += multiplier * count
        elif kind == "socket":
            self.sockets += multiplier * count
        self.add_under(vertex, place, multiplier * count)


def _path_to_slot(
    vertices: list[Any], label: str | None, place: DocPath
) -> list[tuple[dict[str, Any], DocPath]] | None:
    for i, vertex in enumerate(vertices):
        if not isinstance(vertex, dict):
            continue
        here = (*place, i)
        if vertex.get("type") == "slot" and (label is None or vertex.get("label") == label):
            return [(vertex, here)]
        below = _path_to_slot(vertex.get("with") or [], label, (*here, "with"))
        if below is not None:
            return [(vertex, here), *below]
    return None
